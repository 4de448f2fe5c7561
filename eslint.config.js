// Lint rules. Beyond the recommended sets, the pure core (partitioning, replication state, cluster
// planning) may not read the wall clock, draw unseeded randomness or start timers: those are injected.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const coreBans = {
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'Inject a Clock; the core must be deterministic.' },
    { object: 'Math', property: 'random', message: 'Inject a seeded Random; the core must be deterministic.' },
    { object: 'performance', property: 'now', message: 'Inject a Clock; the core must be deterministic.' },
  ],
  'no-restricted-globals': [
    'error',
    { name: 'setTimeout', message: 'Timers live at the edges (src/server, src/cli); the core takes ticks.' },
    { name: 'setInterval', message: 'Timers live at the edges (src/server, src/cli); the core takes ticks.' },
    { name: 'setImmediate', message: 'Timers live at the edges (src/server, src/cli); the core takes ticks.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'test/artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/partitioning/**/*.ts', 'src/replication/**/*.ts', 'src/cluster/**/*.ts'],
    rules: coreBans,
  },
);
