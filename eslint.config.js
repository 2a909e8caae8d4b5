// @ts-check
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'packages/*/dist/', '.palisade/', 'db/migrations/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A forgotten await inside withTenant would run a statement outside the request's transaction.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Import cycles. The rule follows value imports only: `import type` is erased at compile time,
    // so a type-only loop cannot leave a binding undefined at load (keep those out by hand).
    // Specifiers are written as `.js` and resolve to the `.ts`/`.tsx` beside them, as under NodeNext;
    // node_modules is not walked (a package cannot import back into this repo).
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.mjs'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs'],
      'import-x/resolver-next': [
        createNodeResolver({ extensions: ['.ts', '.tsx', '.js', '.mjs', '.json'], extensionAlias: { '.js': ['.ts', '.tsx', '.js'] } }),
      ],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // The layers (docs/architecture.md): data flows transport → access → modules → db, and no
      // transport imports another. http/ is the host both transports mount on, not a transport.
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './db', from: ['./src', './scripts'], message: 'db/ imports nothing from src/ or scripts/.' },
            { target: './src/modules', from: ['./src/access', './src/http', './src/rest', './src/trpc', './src/app.ts', './src/deps.ts'], message: 'Modules are called by transports, never the reverse.' },
            { target: './src/platform', from: ['./src/modules', './src/access', './src/http', './src/rest', './src/trpc'], message: 'Infrastructure knows no domain or transport.' },
            { target: './src/lib', from: ['./src/modules', './src/platform', './src/access', './src/http', './src/rest', './src/trpc'], message: 'lib/ is the bottom layer.' },
            { target: './src/access', from: ['./src/http', './src/rest', './src/trpc'], message: 'The access layer serves every transport and imports none.' },
            { target: './src/trpc', from: ['./src/rest'], message: 'No transport imports another.' },
            { target: './src/rest', from: ['./src/trpc'], message: 'No transport imports another.' },
            { target: './scripts/cli', from: ['./src/trpc', './src/rest', './src/http'], message: 'The CLI is a transport: it uses access/ and modules/, not the server transports.' },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  { files: ['eslint.config.js', 'scripts/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['scripts/*.mjs'], languageOptions: { globals: { process: 'readonly' } } },
);
