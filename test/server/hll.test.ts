// HyperLogLog differentially against redis-server: PFADD, PFCOUNT (one and many keys), PFMERGE give the same
// replies (the same hash, registers and estimator), up to 100,000 elements; an HLL value copied from Redis
// (its sparse and its dense encoding, through GET and SET) counts the same here; errors included.
import { describe, expect, it } from 'vitest';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);

describe('HyperLogLog against redis-server', () => {
  it('PFADD, PFCOUNT and PFMERGE reply exactly as redis-server', async () => {
    const script: string[][] = [
      ['FLUSHALL'], ['SET', 'str', 'x'], ['PFADD', 'h1'], ['PFADD', 'h1'], ['PFCOUNT', 'h1'], ['PFADD', 'h1', 'a', 'b', 'c', 'a'], ['PFADD', 'h1', 'a'],
      ['PFCOUNT', 'h1'], ['PFCOUNT', 'nokey'], ['PFCOUNT', 'str'], ['PFADD', 'str', 'a'], ['HSET', 'h', 'f', 'v'], ['PFADD', 'h', 'a'], ['PFCOUNT', 'h1', 'h'],
      ['PFADD', 'h2', 'c', 'd', 'e', ''], ['PFCOUNT', 'h1', 'h2'], ['PFCOUNT', 'h1', 'nokey'], ['PFMERGE', 'm', 'h1', 'h2'], ['PFCOUNT', 'm'], ['PFMERGE', 'm2'],
      ['PFCOUNT', 'm2'], ['PFMERGE', 'str', 'h1'], ['PFMERGE', 'm', 'str'], ['TYPE', 'm'],
    ];
    for (const args of script) await same(args);
    for (let i = 0; i < 100_000; i += 2_000) await all(['PFADD', 'big', ...Array.from({ length: 2_000 }, (_, j) => `element:${i + j}`)]);
    await same(['PFCOUNT', 'big']);
    await same(['PFCOUNT', 'big', 'h1']);
    await same(['PFADD', 'big', 'element:5']);
  }, 60_000);

  it('an HLL made by Redis (sparse, then dense) counts the same when copied here', async () => {
    const redis = trio().clients.get('redis')!;
    await redis.send(['DEL', 'copied']);
    for (const n of [10, 5_000]) {
      await redis.send(['PFADD', 'copied', ...Array.from({ length: n }, (_, i) => `c${i}`)]);
      const bytes = (await redis.send(['GET', 'copied'])) as Buffer;
      const want = await redis.send(['PFCOUNT', 'copied']);
      for (const name of ['memory', 'lmdb']) {
        const c = trio().clients.get(name)!;
        await c.send(['SET', 'copied', bytes]);
        expect(await c.send(['PFCOUNT', 'copied'])).toBe(want);
      }
    }
  });
});
