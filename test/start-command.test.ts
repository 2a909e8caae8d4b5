import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startNodeArgs } from '../scripts/start-command.js';

describe('startNodeArgs', () => {
  it('reads the flags and the entry point after the build step', () => {
    const { flags, entry } = startNodeArgs('npm run build:server --silent && node --max-semi-space-size=8 --expose-gc dist/server/src/index.js');
    expect(flags).toEqual(['--max-semi-space-size=8', '--expose-gc']);
    expect(entry).toMatch(/\/dist\/server\/src\/index\.js$/);
    expect(startNodeArgs('node dist/server/src/index.js').flags).toEqual([]);
  });

  it('refuses a start script it cannot follow, rather than starting something else', () => {
    expect(() => startNodeArgs('tsx src/index.ts')).toThrow(/does not end in/);
    expect(() => startNodeArgs('node dist/server/src/index.js --port 3000')).toThrow(/does not end in/);
  });

  it("matches package.json's start script: the compiled server entry point", () => {
    const { entry } = startNodeArgs();
    expect(entry.endsWith('dist/server/src/index.js')).toBe(true);
    expect(fs.existsSync(entry.replace(/dist\/server\/(.*)\.js$/, '$1.ts'))).toBe(true);
  });
});
