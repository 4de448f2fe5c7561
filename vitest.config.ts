// Test runner configuration: unit, property and process-level tests all live under test/.
// Most files run side by side. The files in ALONE measure the cluster's own quietness and timing at the
// defaults (no request slower than a 2 s client timeout, no alert); beside other process-level test files on a
// 2-core machine every process was measured starved for up to 1.3 s at a time, so they run after the others,
// one at a time.
import { defineConfig } from 'vitest/config';

const ALONE = ['test/cluster/defaults.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ALONE, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'alone', include: ALONE, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
