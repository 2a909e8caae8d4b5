/**
 * @palisade/client as a project outside this repository gets it: built (packages/client/build.ts),
 * packed with `npm pack`, installed from the tarball into a throwaway project under the system temp
 * directory, type-checked there with strict settings and without skipLibCheck (so the package's own
 * declarations are checked, with nothing of ours beside them), and called over real HTTP.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPackageRoot } from '../db/package-root.js';
import { buildClient, type BuildResult } from '../packages/client/build.js';
import { makeTenantWithOrders, useServer } from './harness.js';

const run = promisify(execFile);
const PACKAGE_DIR = fromPackageRoot('packages', 'client');
const TSC = fromPackageRoot('node_modules', 'typescript', 'bin', 'tsc');
const SETUP_TIMEOUT_MS = 240_000;

const { owner, server } = useServer();

let temp: string;
let consumer: string;
let build: BuildResult;
let packed: { filename: string; files: { path: string }[] };
const timings: Record<string, number> = {};

async function timed<T>(step: string, work: () => Promise<T> | T): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    timings[step] = Math.round(performance.now() - started);
  }
}

/**
 * The consumer's settings: a strict frontend project, checking every declaration file. Disposable
 * is for @trpc/server's own declarations (`using`), which any tRPC 11 client checking its
 * libraries needs; ours need nothing beyond ES2023 and DOM.
 */
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2023', 'DOM', 'ESNext.Disposable'],
    types: [],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    skipLibCheck: false,
    noEmit: true,
  },
};

const GOOD = `import { createPalisadeClient, reasonOf, type Reason, type RouterInputs, type RouterOutputs } from '@palisade/client/client';
import type { AppRouter } from '@palisade/client';

const client = createPalisadeClient({ url: 'http://localhost:3000', token: 'pk_acme_example' });

function advice(reason: Reason | undefined): string {
  switch (reason) {
    case 'KEY_REVOKED':
    case 'KEY_EXPIRED':
      return 'sign in again';
    case 'TOO_MANY_REQUESTS':
      return 'slow down';
    case 'UNKNOWN_DATASET':
      return 'no such dataset';
    case undefined:
      return 'no answer from the server';
    default:
      return reason;
  }
}

export async function main(): Promise<string> {
  const datasets: RouterOutputs['datasets']['list'] = await client.datasets.list.query();
  const names: string[] = datasets.map((d) => d.name);
  const input: RouterInputs['query'] = {
    dataset: 'orders',
    metrics: ['revenue'],
    filters: [{ or: [{ dimension: 'region', op: 'eq', value: 'north' }, { not: { and: [{ dimension: 'status', op: 'in', values: ['cancelled'] }] } }] }],
  };
  const result = await client.query.query(input);
  const first = await client.query.query({ dataset: 'orders', metrics: ['revenue'] });
  const order = await client.orders.get.query({ id: '00000000-0000-0000-0000-000000000000' });
  const createdAt: string = order.createdAt;
  const amount: string = order.amount;
  try {
    await client.apiKeys.create.mutate({ name: 'ci', role: 'viewer' });
  } catch (error) {
    return advice(reasonOf(error));
  }
  const router: AppRouter | undefined = undefined;
  return [names.join(','), result.rowCount, first.truncated, createdAt, amount, String(router)].join(' ');
}
`;

/** Each line after a directive must be an error: the directive would be unused otherwise. */
const BAD = `import { createPalisadeClient, type Reason } from '@palisade/client/client';

const client = createPalisadeClient({ url: 'http://localhost:3000', token: 'pk_acme_example' });

export async function main(): Promise<void> {
  // @ts-expect-error no procedure of that name
  await client.nope.query();
  // @ts-expect-error not an input field of query
  await client.query.query({ dataset: 'orders', metricz: [] });
  // @ts-expect-error orders.get takes { id }
  await client.orders.get.query({ orderId: 'x' });
  // @ts-expect-error a mutation is not a query
  await client.apiKeys.create.query({ name: 'ci', role: 'viewer' });
  // @ts-expect-error an amount arrives as a decimal string
  const amount: number = (await client.orders.get.query({ id: 'x' })).amount;
  // @ts-expect-error the server sends no such reason
  const reason: Reason = 'NOT_A_REASON';
  // @ts-expect-error the token is required
  createPalisadeClient({ url: 'http://localhost:3000' });
  void amount;
  void reason;
}
`;

/** BAD with each directive made a blank line: the line numbers stay, and the errors move onto the lines after. */
const UNDIRECTED = BAD.split('\n').map((line) => (line.includes('@ts-expect-error') ? '' : line)).join('\n');

/**
 * One `tsc -p` over the consumer's three files (one program loads tRPC's declarations once): its
 * errors by file, as `line` numbers. Started by the first test that needs it.
 */
let checked: Promise<Map<string, number[]>> | undefined;
function typecheck(): Promise<Map<string, number[]>> {
  checked ??= timed('typecheck', async () => {
    await Promise.all([
      writeFile(join(consumer, 'good.ts'), GOOD),
      writeFile(join(consumer, 'bad.ts'), BAD),
      writeFile(join(consumer, 'undirected.ts'), UNDIRECTED),
      writeFile(join(consumer, 'tsconfig.json'), JSON.stringify({ ...TSCONFIG, files: ['good.ts', 'bad.ts', 'undirected.ts'] })),
    ]);
    let output: string;
    try {
      output = (await run(process.execPath, [TSC, '-p', consumer, '--pretty', 'false'], { cwd: consumer })).stdout;
    } catch (error) {
      const { stdout, stderr } = error as { stdout: string; stderr: string };
      output = `${stdout}${stderr}`;
    }
    const errors = new Map<string, number[]>();
    // Indented lines go on the message above them.
    for (const line of output.split('\n').filter((l) => l.trim() && !/^\s/.test(l))) {
      const match = /^(.+?)\((\d+),\d+\): error TS\d+/.exec(line);
      // Anything that is not an error at a place (a bad option, a crash) fails every test through its own key.
      const [file, at] = match ? [match[1]!, Number(match[2])] : [`tsc: ${line}`, 0];
      errors.set(file, [...(errors.get(file) ?? []), at]);
    }
    return errors;
  });
  return checked;
}

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'palisade-client-'));
  consumer = join(temp, 'consumer');
  build = await timed('build', () => buildClient());
  const { stdout } = await timed('pack', () =>
    // The build just ran; --ignore-scripts keeps prepack from running it again (and its output out of the JSON).
    run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', temp], { cwd: PACKAGE_DIR }),
  );
  packed = (JSON.parse(stdout) as (typeof packed)[])[0]!;
  await mkdir(consumer);
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'palisade-client-consumer', private: true, type: 'module' }));
  await timed('install', () =>
    run('npm', ['install', join(temp, packed.filename), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error'], { cwd: consumer }),
  );
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  if (temp) await rm(temp, { recursive: true, force: true });
  console.log(`client package: ${JSON.stringify(timings)} ms`);
});

describe('the packed tarball', () => {
  it('holds the built client and nothing of our source', () => {
    const paths = packed.files.map((f) => f.path).sort();
    expect(paths).toEqual(['dist/index.d.ts', 'dist/index.js', 'dist/server-types.d.ts', 'package.json']);
    expect(build.files).toEqual(['index.d.ts', 'index.js', 'server-types.d.ts']);
  });

  it('has declarations that import only tRPC and its own files', async () => {
    const installed = join(consumer, 'node_modules', '@palisade', 'client', 'dist');
    for (const file of ['index.d.ts', 'server-types.d.ts']) {
      const text = await readFile(join(installed, file), 'utf8');
      expect(text).not.toMatch(/import\(\s*["'][^"']*\/src\//);
      const specifiers = [...text.matchAll(/(?:from\s+|import\(\s*)["']([^"']+)["']/g)].map((m) => m[1]);
      expect(new Set(specifiers)).toEqual(new Set(file === 'index.d.ts' ? ['@trpc/client', '@trpc/server', './server-types.js'] : ['@trpc/server']));
    }
    const manifest = JSON.parse(await readFile(join(consumer, 'node_modules', '@palisade', 'client', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['@trpc/client', '@trpc/server']);
  });
});

describe('a project outside this repository', () => {
  it('type-checks a file that uses the client correctly, and nothing but our wrong lines fails', async () => {
    const errors = await typecheck();
    expect(errors.get('good.ts')).toBeUndefined();
    // Errors in no file of the consumer's own: in the package's declarations, or tsc itself.
    expect([...errors.keys()].filter((file) => file !== 'undirected.ts')).toEqual([]);
  }, 60_000);

  it('gets an error on each wrong line: with the directives it passes, without them exactly those lines fail', async () => {
    const errors = await typecheck();
    // An unused directive is an error too: bad.ts passing means every directed line is an error.
    expect(errors.get('bad.ts')).toBeUndefined();
    const expected = BAD.split('\n').flatMap((line, i) => (line.includes('@ts-expect-error') ? [i + 2] : []));
    expect(expected).toHaveLength(7);
    expect(new Set(errors.get('undirected.ts'))).toEqual(new Set(expected));
  }, 60_000);

  it('calls a real server with the installed package (ESM, through its exports) and reads reasons', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 3);
    await writeFile(
      join(consumer, 'live.mjs'),
      `import { createPalisadeClient, reasonOf } from '@palisade/client/client';
const [url, token] = process.argv.slice(2);
// The token is the credential: an authorization header given beside it is dropped.
const client = createPalisadeClient({ url: url + '/', token, headers: { Authorization: 'Bearer not-a-key' } });
const datasets = (await client.datasets.list.query()).map((d) => d.name);
const answer = await client.query.query({ dataset: 'orders', metrics: ['order_count'] });
const reasons = [];
for (const call of [
  () => client.query.query({ dataset: 'no_such_dataset', metrics: ['order_count'] }),
  () => createPalisadeClient({ url, token: 'not-a-key' }).datasets.list.query(),
  () => createPalisadeClient({ url: 'http://127.0.0.1:1', token }).datasets.list.query(),
]) {
  try {
    await call();
    reasons.push('succeeded');
  } catch (error) {
    reasons.push(reasonOf(error) ?? null);
  }
}
console.log(JSON.stringify({ datasets, rows: answer.rows, reasons }));
`,
    );
    const { stdout } = await run(process.execPath, ['live.mjs', server.url, tenant.apiKey], { cwd: consumer });
    const result = JSON.parse(stdout) as { datasets: string[]; rows: Record<string, unknown>[]; reasons: (string | null)[] };
    expect(result.datasets).toContain('orders');
    expect(result.rows).toEqual([{ order_count: 3 }]);
    expect(result.reasons).toEqual(['UNKNOWN_DATASET', 'KEY_MALFORMED', null]);
  }, 30_000);
});
