// Set commands, differentially against Debian's redis-server: the same commands on redis-server, an Atoll node
// on the memory engine and one on LMDB give the same replies (set-valued replies compared as sorted lists,
// random picks by their shape and membership), errors included; a random sequence of commands against both,
// and the sets survive an LMDB restart.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);

describe('set commands against redis-server', () => {
  it('reply exactly as redis-server, errors included', async () => {
    const script: string[][] = [
      ['FLUSHALL'],
      ['SADD', 's1', 'a', 'b', 'c', 'a'],
      ['SADD', 's1', 'd'],
      ['SADD', 's2', 'c', 'd', 'e'],
      ['SADD', 's3', 'x'],
      ['SET', 'str', 'v'],
      ['SCARD', 's1'], ['SCARD', 'nope'], ['SCARD', 'str'],
      ['SISMEMBER', 's1', 'a'], ['SISMEMBER', 's1', 'z'], ['SISMEMBER', 'nope', 'a'], ['SISMEMBER', 'str', 'a'],
      ['SMISMEMBER', 's1', 'a', 'z', 'b'], ['SMISMEMBER', 'nope', 'a'], ['SMISMEMBER', 's1'],
      ['SMEMBERS', 's1'], ['SMEMBERS', 'nope'], ['SMEMBERS', 'str'],
      ['SINTER', 's1', 's2'], ['SINTER', 's1', 'nope'], ['SINTER', 'nope', 'str'], ['SINTER', 's1'],
      ['SUNION', 's1', 's2', 's3'], ['SUNION', 'nope'], ['SUNION', 's1', 'str'],
      ['SDIFF', 's1', 's2'], ['SDIFF', 'nope', 's1'], ['SDIFF', 's1', 'nope'],
      ['SINTERSTORE', 'd1', 's1', 's2'], ['SMEMBERS', 'd1'], ['TYPE', 'd1'],
      ['SUNIONSTORE', 'str2', 's1', 's3'], ['SCARD', 'str2'],
      ['SET', 'victim', 'x'], ['SDIFFSTORE', 'victim', 's1', 's2'], ['TYPE', 'victim'], ['SMEMBERS', 'victim'],
      ['SINTERSTORE', 'd1', 's1', 'nope'], ['EXISTS', 'd1'],
      ['SINTERCARD', '2', 's1', 's2'], ['SINTERCARD', '2', 's1', 's2', 'LIMIT', '1'], ['SINTERCARD', '1', 's1', 'LIMIT', '0'],
      ['SINTERCARD', '0', 's1'], ['SINTERCARD', '3', 's1', 's2'], ['SINTERCARD', '1', 's1', 'LIMIT', '-1'], ['SINTERCARD', '1', 's1', 'FOO'], ['SINTERCARD', 'x', 's1'],
      ['SMOVE', 's1', 's2', 'a'], ['SMOVE', 's1', 's2', 'zz'], ['SMOVE', 's1', 's1', 'b'], ['SMOVE', 's1', 'str', 'b'], ['SMOVE', 'nope', 's2', 'a'],
      ['SMEMBERS', 's1'], ['SMEMBERS', 's2'],
      ['SREM', 's1', 'b', 'zz'], ['SREM', 's1', 'c', 'd'], ['EXISTS', 's1'], ['SREM', 'nope', 'a'], ['SREM', 'str', 'a'],
      ['SADD', 'str', 'a'], ['SADD', 's4'],
      ['SPOP', 'nope'], ['SPOP', 'nope', '3'], ['SPOP', 's3', '-1'], ['SPOP', 's3', 'x'], ['SPOP', 's3', '1', '2'], ['SPOP', 's3', '0'],
      ['SPOP', 's3'], ['EXISTS', 's3'], ['SPOP', 'str'],
      ['SRANDMEMBER', 'nope'], ['SRANDMEMBER', 'nope', '5'], ['SRANDMEMBER', 's2', '0'], ['SRANDMEMBER', 's2', 'x'], ['SRANDMEMBER', 'str'],
      ['SSCAN', 's2', 'x'], ['SSCAN', 'str', '0'],
    ];
    for (const args of script) await same(args);
  });

  it('random picks have the right shape: SPOP count, SRANDMEMBER with positive and negative counts', async () => {
    await all(['DEL', 'r']);
    await all(['SADD', 'r', ...Array.from({ length: 20 }, (_, i) => `m${i}`)]);
    for (const name of ['memory', 'lmdb']) {
      const c = trio().clients.get(name)!;
      const members = new Set(Array.from({ length: 20 }, (_, i) => `m${i}`));
      const some = (await c.send(['SRANDMEMBER', 'r', '5'])) as Buffer[];
      expect(new Set(some.map(String)).size).toBe(5);
      expect(some.every((m) => members.has(String(m)))).toBe(true);
      expect(((await c.send(['SRANDMEMBER', 'r', '50'])) as Buffer[]).length).toBe(20);
      const repeats = (await c.send(['SRANDMEMBER', 'r', '-50'])) as Buffer[];
      expect(repeats.length).toBe(50);
      expect(repeats.every((m) => members.has(String(m)))).toBe(true);
      const popped = ((await c.send(['SPOP', 'r', '7'])) as Buffer[]).map(String);
      expect(new Set(popped).size).toBe(7);
      expect(await c.send(['SCARD', 'r'])).toBe(13);
      for (const m of popped) expect(await c.send(['SISMEMBER', 'r', m])).toBe(0);
      const rest = ((await c.send(['SPOP', 'r', '100'])) as Buffer[]).length;
      expect(rest).toBe(13);
      expect(await c.send(['EXISTS', 'r'])).toBe(0);
    }
  });

  it('a random sequence of deterministic set commands gives redis-server\'s replies', async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'str');
    const mem = fc.constantFrom('x', 'y', 'z', 'w', '', 'long member');
    const cmd = fc.oneof(
      fc.tuple(key, fc.array(mem, { minLength: 1, maxLength: 4 })).map(([k, ms]) => ['SADD', k, ...ms]),
      fc.tuple(key, fc.array(mem, { minLength: 1, maxLength: 3 })).map(([k, ms]) => ['SREM', k, ...ms]),
      fc.tuple(fc.constantFrom('SINTER', 'SUNION', 'SDIFF'), fc.array(key, { minLength: 1, maxLength: 3 })).map(([c, ks]) => [c, ...ks]),
      fc.tuple(fc.constantFrom('SINTERSTORE', 'SUNIONSTORE', 'SDIFFSTORE'), key, fc.array(key, { minLength: 1, maxLength: 3 })).map(([c, d, ks]) => [c, d, ...ks]),
      fc.tuple(key, key, mem).map(([a, b, m]) => ['SMOVE', a, b, m]),
      fc.tuple(key, mem).map(([k, m]) => ['SISMEMBER', k, m]),
      key.map((k) => ['SCARD', k]),
      key.map((k) => ['SMEMBERS', k]),
      fc.array(key, { minLength: 1, maxLength: 3 }).map((ks) => ['SINTERCARD', String(ks.length), ...ks]),
      key.map((k) => ['SET', k, 'v']),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 30 }), async (cmds) => {
        await all(['FLUSHALL']);
        for (const args of cmds) await same(args);
        for (const k of ['a', 'b', 'c', 'str']) await same(['TYPE', k]);
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 40) },
    );
  }, 60_000);

  it('sets survive an LMDB restart', async () => {
    await all(['FLUSHALL']);
    await all(['SADD', 'kept', 'one', 'two', '', 'three\u0000bytes']);
    await trio().restartLmdb();
    await same(['SMEMBERS', 'kept']);
    await same(['TYPE', 'kept']);
  }, 30_000);
});
