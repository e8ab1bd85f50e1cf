// Flat ESLint config. The layer rules of ../shared/DESIGN.md are enforced here, per folder, so that
// "core never imports electron" is checked by CI rather than remembered.
import js from '@eslint/js';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const electron = { name: 'electron', message: 'Only src-main/app and src-preload may import electron.' };
const adapterOnly =
  'Only the adapters (electron-adapter.ts, preferences.ts) load Electron modules; take a port.';
const noElectron = { paths: [electron], patterns: [{ group: ['electron/*'], message: electron.message }] };
/** The Electron shell and the CLI are two fronts side by side: the shell never imports the CLI. */
const noCli = {
  group: ['**/cli/**'],
  message:
    'The Electron shell may not import the CLI (DESIGN.md layout); share code through core or src-relay.',
};
/** No electron, and no import of a front (the CLI, the Electron shell). */
const noElectronNorFront = (message) => ({
  'no-restricted-imports': [
    'error',
    { ...noElectron, patterns: [...noElectron.patterns, { group: ['**/cli/**', '**/app/**'], message }] },
  ],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: [
            '*.js',
            'scripts/*.mjs',
            'bin/*.js',
            'e2e/support/*.mjs',
            'e2e/support/*.cjs',
          ],
        },
      },
    },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    // Keep disableTypeChecked's parserOptions (no project service): these files are not in a tsconfig.
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['scripts/**', 'bin/**', 'src-main/cli/**', 'e2e/**', 'bench/**', '**/*.test.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // Only the Electron shell and its preload import electron; later blocks add each folder's own limits.
    files: ['**/*.ts', '**/*.tsx'],
    ignores: ['src-main/app/**', 'src-preload/**'],
    rules: { 'no-restricted-imports': ['error', noElectron] },
  },
  {
    files: ['src-main/control/**'],
    ignores: ['**/*.test.ts'], // tests compose a whole gateway, the CLI's local endpoint included
    rules: noElectronNorFront(
      'The control API knows no transport or front: the fronts import it, not the reverse.',
    ),
  },
  {
    // Inside the shell, only the adapters load Electron-bound modules at run time; the rest takes ports
    // (electron-ports.ts) so that Vitest can drive it with fakes. Type imports are fine everywhere here.
    files: ['src-main/app/**'],
    ignores: ['src-main/app/electron-adapter.ts', 'src-main/app/preferences.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'electron', allowTypeImports: true, message: adapterOnly },
            { name: 'electron-store', message: adapterOnly },
            { name: 'electron-log/main', message: adapterOnly },
          ],
          patterns: [noCli],
        },
      ],
    },
  },
  {
    // The adapters may load Electron modules, but like the rest of the shell never reach into the CLI.
    files: ['src-main/app/electron-adapter.ts', 'src-main/app/preferences.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noCli] }] },
  },
  {
    files: ['src-main/core/**'],
    rules: noElectronNorFront('core is the bottom floor: it never imports a front.'),
  },
  {
    files: ['src-relay/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          ...noElectron,
          patterns: [
            ...noElectron.patterns,
            {
              group: ['**/src-main/**'],
              message:
                'The relay stands alone (DESIGN.md layout): type what it needs from the gateway structurally.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src-shared/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(?!zod$|\\.)', message: 'src-shared holds pure contracts: zod only.' }] },
      ],
    },
  },
  {
    files: ['src-renderer/**'],
    ignores: ['src-renderer/vite.config.ts'], // runs in Node, at build time
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [electron],
          patterns: [
            { regex: '^node:', message: 'The renderer runs in a sandboxed browser page.' },
            { group: ['electron/*'], message: electron.message },
            {
              group: ['**/src-main/**', '**/src-relay/**', '**/src-preload/**'],
              message: 'The renderer reaches the gateway only through the control contract (src-shared).',
            },
          ],
        },
      ],
    },
  },
);
