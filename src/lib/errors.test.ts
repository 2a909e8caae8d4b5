/**
 * One reason, one status: the REASONS table decides the code of every AppError, each code has the
 * status tRPC gives it, and nothing in the source names a reason outside the table or pairs one
 * with another code or status. The two transports' answers: src/trpc/errors.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { describe, expect, it } from 'vitest';
import { AppError, HTTP_STATUS, isReason, REASONS, type ErrorCode, type Reason } from './errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const reasons = Object.keys(REASONS) as Reason[];

describe('the REASONS table', () => {
  it('gives every reason one code, with a status, and AppError takes its code from it', () => {
    expect(reasons.length).toBeGreaterThan(30);
    for (const reason of reasons) {
      const error = new AppError(reason, 'x');
      expect({ reason, code: error.code }).toEqual({ reason, code: REASONS[reason] });
      expect(error.reason).toBe(reason);
      expect(HTTP_STATUS[error.code], reason).toBeTypeOf('number');
    }
    expect(Object.keys(HTTP_STATUS).sort()).toEqual([...new Set(Object.values(REASONS))].sort());
  });

  it('answers each code with the status tRPC gives it', () => {
    for (const [code, status] of Object.entries(HTTP_STATUS)) {
      expect({ code, status: getHTTPStatusCodeFromError(new TRPCError({ code: code as ErrorCode })) }).toEqual({ code, status });
    }
  });
});

interface Source {
  file: string;
  text: string;
}

/** The .ts/.tsx/.mjs files under `dir` (relative to the repository), with or without tests. */
function sources(dir: string, { tests }: { tests: boolean }): Source[] {
  return (fs.readdirSync(path.join(ROOT, dir), { recursive: true }) as string[])
    .filter((f) => /\.(ts|tsx|mjs)$/.test(f) && (tests || !/\.test\.ts$/.test(f)) && !f.split(path.sep).includes('node_modules'))
    .map((f) => path.join(dir, f).split(path.sep).join('/'))
    .map((file) => ({ file, text: fs.readFileSync(path.join(ROOT, file), 'utf8') }));
}

/** Every match of `pattern` in the files, with its groups (undefined when a group did not take part). */
function found(files: Source[], pattern: RegExp): { at: string; groups: (string | undefined)[] }[] {
  return files.flatMap(({ file, text }) => [...text.matchAll(pattern)].map((m) => ({ at: `${file}: ${m[0]}`, groups: m.slice(1) })));
}

/**
 * Reasons the dashboard gives failures that never reached the server (src/web/api.ts
 * ClientReason); not in REASONS because the server never sends them.
 */
const CLIENT_REASONS = new Set(['NETWORK', 'CLIENT']);

describe('the source tree', () => {
  const code = [...sources('src', { tests: false }), ...sources('scripts', { tests: false })];

  it('is read', () => {
    expect(code.map((f) => f.file)).toEqual(expect.arrayContaining(['src/lib/errors.ts', 'src/trpc/init.ts', 'src/web/api.ts', 'scripts/cli/errors.ts']));
  });

  it('makes tRPC errors only from AppErrors (trpc/errors.ts), so each carries a reason of the table', () => {
    // trpc/invoke.ts repeats tRPC's caller, with its "no result from middlewares" bug report (a 500: INTERNAL).
    const allowed = new Set(['src/trpc/errors.ts', 'src/trpc/invoke.ts']);
    expect(found(code.filter((f) => !allowed.has(f.file)), /new TRPCError\(/g).map((hit) => hit.at)).toEqual([]);
  });

  it('names no reason outside the table', () => {
    const named = found(code, /\breason\??\s*(?::|[!=]==?)\s*'([A-Z][A-Z0-9_]*)'|new AppError\(\s*'([A-Z][A-Z0-9_]*)'/g);
    expect(named.length).toBeGreaterThan(40);
    const unknown = named.filter(({ groups }) => {
      const reason = groups.find((g) => g !== undefined);
      return !isReason(reason) && !CLIENT_REASONS.has(reason!);
    });
    expect(unknown.map((hit) => hit.at)).toEqual([]);
  });

  it('pairs no reason with another code or status, tests included', () => {
    const all = [...code, ...sources('src', { tests: true }).filter((f) => f.file.endsWith('.test.ts')), ...sources('test', { tests: true })];
    const pairs = found(all, /\b(?:code: '([A-Z_]+)',\s*)?(?:httpStatus: (\d{3}),\s*)?reason: '([A-Z][A-Z0-9_]*)'/g);
    expect(pairs.filter(({ groups: [c, status] }) => c ?? status).length).toBeGreaterThan(20);
    const wrong = pairs.filter(({ groups: [c, status, reason] }) => {
      if (!isReason(reason)) return false;
      return (c !== undefined && c !== REASONS[reason]) || (status !== undefined && Number(status) !== HTTP_STATUS[REASONS[reason]]);
    });
    expect(wrong.map((hit) => hit.at)).toEqual([]);
  });
});
