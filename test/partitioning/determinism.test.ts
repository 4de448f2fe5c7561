// Every partitioner gives the same answers in another process: nothing depends on object identity,
// insertion-order accidents or per-process hash seeds.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { digest } from '../fixtures/digest.js';

describe('determinism', () => {
  it('a child process computes the same owners for every partitioner', () => {
    const script = join(import.meta.dirname, '../fixtures/digest.ts');
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const here = digest();
    expect(here.length).toBeGreaterThan(10_000);
    expect(child.stdout).toBe(here);
  });
});
