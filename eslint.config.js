// Type-aware linting, plus the import zones of STYLE.md enforced as rules (not reminders):
// activities -> src; playbooks -> src (+ `import type` from activities); nothing imports workers/ or cli/.
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = [
  'assert',
  'buffer',
  'child_process',
  'crypto',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'http',
  'https',
  'net',
  'os',
  'path',
  'process',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'worker_threads',
  'zlib',
];
const VENDOR_SDKS = [
  'nodemailer',
  'axios',
  '@slack/*',
  'onnxruntime-node',
  'better-sqlite3',
  'fastify',
  'smtp-server',
  'mailparser',
  'prom-client',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
  '@temporalio/testing',
];
const ENTRY_POINTS = {
  group: ['**/workers/**', '**/cli/**'],
  message: 'workers/ and cli/ are entry points: nothing imports them.',
};
const TESTS = { group: ['**/test/**'], message: 'production code does not import test helpers.' };

const zone = (files, patterns, paths = []) => ({
  files,
  ignores: ['**/*.test.ts'],
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns, paths }] },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'coverage/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/only-throw-error': 'error',
    },
  },
  zone(
    ['src/**/*.ts'],
    [
      {
        group: ['**/playbooks/**', '**/activities/**', '**/intake/**'],
        message: 'src/ holds the contracts and imports nothing else of ours.',
      },
      ENTRY_POINTS,
      TESTS,
    ],
  ),
  zone(
    ['activities/**/*.ts'],
    [
      { group: ['**/playbooks/**', '**/intake/**'], message: 'activities import only src/.' },
      ENTRY_POINTS,
      TESTS,
    ],
  ),
  zone(
    ['intake/**/*.ts'],
    [
      { group: ['**/playbooks/**', '**/activities/**'], message: 'the intake imports only src/.' },
      ENTRY_POINTS,
      TESTS,
    ],
  ),
  zone(
    ['playbooks/**/*.ts'],
    [
      {
        group: ['**/activities/**'],
        allowTypeImports: true,
        message: 'playbooks import only activity *types* (proxyActivities<T>).',
      },
      { group: ['**/intake/**'], message: 'playbooks import only src/ and activity types.' },
      { group: ['node:*'], message: 'workflow code is deterministic: no Node built-ins.' },
      { group: VENDOR_SDKS, message: 'workflow code never imports vendor SDKs: call an activity.' },
      {
        group: ['zod', '**/*-schemas.js'],
        allowTypeImports: true,
        message:
          'every incident evaluates the workflow bundle again: no validation library or schemas in it (types only).',
      },
      ENTRY_POINTS,
      TESTS,
    ],
    NODE_BUILTINS.map((name) => ({ name, message: 'workflow code is deterministic: no Node built-ins.' })),
  ),
  zone(
    ['workers/**/*.ts'],
    [{ group: ['**/cli/**'], message: 'workers/ and cli/ are separate entry points.' }, TESTS],
  ),
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
);
