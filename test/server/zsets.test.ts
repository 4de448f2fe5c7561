// Sorted set commands, differentially against Debian's redis-server: the same commands on redis-server, an Atoll
// node on the memory engine and one on LMDB give the same replies byte for byte (scores as Redis 7.0 prints
// them, RESP2 and RESP3), errors included; random command sequences against both; random picks by their shape;
// sorted sets survive an LMDB restart.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);

const SETUP: string[][] = [
  ['FLUSHALL'],
  ['ZADD', 'z', '1', 'a', '2', 'b', '3', 'c', '1.5', 'ab', '-inf', 'ninf', '+inf', 'pinf'],
  ['ZADD', 'lex', '0', 'a', '0', 'b', '0', 'c', '0', 'd', '0', 'e', '0', '', '0', 'aa'],
  ['ZADD', 'w', '10', 'a', '20', 'x', '0.1', 'c'],
  ['SADD', 'plain', 'a', 'x', 'q'],
  ['SET', 'str', 'v'],
];

const SCRIPT: string[][] = [
  // ZADD and its flags
  ['ZADD', 'z', '5', 'a'], ['ZADD', 'z', 'NX', '9', 'a', '9', 'new1'], ['ZADD', 'z', 'XX', '9', 'b', '9', 'new2'],
  ['ZADD', 'z', 'XX', 'CH', '8', 'b', '8', 'new2'], ['ZADD', 'z', 'GT', 'CH', '1', 'b', '10', 'c'], ['ZADD', 'z', 'LT', 'CH', '100', 'b', '0', 'c'],
  ['ZADD', 'z', 'INCR', '2.5', 'a'], ['ZADD', 'z', 'INCR', 'NX', '1', 'a'], ['ZADD', 'z', 'INCR', 'XX', '1', 'nosuch'], ['ZADD', 'z', 'GT', 'INCR', '-1', 'a'],
  ['ZADD', 'z', 'NX', 'XX', '1', 'a'], ['ZADD', 'z', 'GT', 'LT', '1', 'a'], ['ZADD', 'z', 'NX', 'GT', '1', 'a'], ['ZADD', 'z', 'INCR', '1', 'a', '2', 'b'],
  ['ZADD', 'z', '1', 'a', '2'], ['ZADD', 'z', 'x', 'a'], ['ZADD', 'z', 'nan', 'a'], ['ZADD', 'z', '1e400', 'big'], ['ZADD', 'z', '0x10', 'hex'], ['ZADD', 'z', ' 1', 'a'],
  ['ZADD', 'str', '1', 'a'], ['ZADD', 'fresh', 'XX', '1', 'a'], ['EXISTS', 'fresh'], ['ZADD', 'z', '-0', 'negzero'], ['ZSCORE', 'z', 'negzero'],
  ['ZADD', 'z', '1.1', 'f1', '0.1', 'f2', '1e-5', 'f3', '123456789012345678', 'f4', '1e30', 'f5', '-2.5e-7', 'f6', '3.0', 'f7'],
  ['ZRANGE', 'z', '0', '-1', 'WITHSCORES'],
  ['ZINCRBY', 'z', '1', 'a'], ['ZINCRBY', 'z', 'x', 'a'], ['ZINCRBY', 'z', '+inf', 'pinf'], ['ZINCRBY', 'z', '-inf', 'pinf'], ['ZINCRBY', 'str', '1', 'a'], ['ZINCRBY', 'z2', '4', 'm'],
  // reads
  ['ZSCORE', 'z', 'a'], ['ZSCORE', 'z', 'nope'], ['ZSCORE', 'nokey', 'a'], ['ZSCORE', 'str', 'a'],
  ['ZMSCORE', 'z', 'a', 'nope', 'b'], ['ZMSCORE', 'nokey', 'a'], ['ZCARD', 'z'], ['ZCARD', 'nokey'], ['ZCARD', 'str'],
  ['ZCOUNT', 'z', '-inf', '+inf'], ['ZCOUNT', 'z', '(1', '3'], ['ZCOUNT', 'z', '1', '(1'], ['ZCOUNT', 'z', 'x', '1'], ['ZCOUNT', 'z', '5', '1'], ['ZCOUNT', 'nokey', '0', '1'],
  ['ZLEXCOUNT', 'lex', '-', '+'], ['ZLEXCOUNT', 'lex', '[a', '(c'], ['ZLEXCOUNT', 'lex', 'a', 'c'], ['ZLEXCOUNT', 'lex', '+', '-'], ['ZLEXCOUNT', 'lex', '[', '[b'],
  ['ZRANK', 'z', 'b'], ['ZREVRANK', 'z', 'b'], ['ZRANK', 'z', 'nope'], ['ZRANK', 'nokey', 'a'], ['ZRANK', 'str', 'a'], ['ZRANK', 'z', 'a', 'WITHSCORE'],
  // ranges
  ['ZRANGE', 'z', '0', '2'], ['ZRANGE', 'z', '-3', '-1', 'WITHSCORES'], ['ZRANGE', 'z', '5', '1'], ['ZRANGE', 'z', '0', '100'], ['ZRANGE', 'z', 'x', '1'],
  ['ZRANGE', 'z', '0', '-1', 'REV'], ['ZRANGE', 'z', '(1', '3', 'BYSCORE'], ['ZRANGE', 'z', '3', '(1', 'BYSCORE', 'REV', 'WITHSCORES'],
  ['ZRANGE', 'z', '-inf', '+inf', 'BYSCORE', 'LIMIT', '1', '2'], ['ZRANGE', 'z', '-inf', '+inf', 'BYSCORE', 'LIMIT', '-1', '2'], ['ZRANGE', 'z', '-inf', '+inf', 'BYSCORE', 'LIMIT', '2', '-5'],
  ['ZRANGE', 'z', '-inf', '+inf', 'BYSCORE', 'LIMIT', '100', '2'], ['ZRANGE', 'z', '0', '1', 'LIMIT', '0', '1'], ['ZRANGE', 'lex', '-', '+', 'BYLEX', 'WITHSCORES'],
  ['ZRANGE', 'lex', '[b', '(e', 'BYLEX'], ['ZRANGE', 'lex', '(e', '[b', 'BYLEX', 'REV'], ['ZRANGE', 'lex', '-', '+', 'BYLEX', 'LIMIT', '1', '3'], ['ZRANGE', 'lex', 'b', 'e', 'BYLEX'],
  ['ZRANGE', 'z', '0', '1', 'FOO'], ['ZRANGE', 'z', '0', '1', 'LIMIT', '1'], ['ZRANGE', 'nokey', '0', '-1'], ['ZRANGE', 'str', '0', '-1'], ['ZRANGE', 'z', 'a', 'b', 'BYSCORE'],
  ['ZREVRANGE', 'z', '0', '2', 'WITHSCORES'], ['ZREVRANGE', 'z', '0', '2', 'REV'], ['ZRANGEBYSCORE', 'z', '1', '3', 'WITHSCORES', 'LIMIT', '0', '2'], ['ZRANGEBYSCORE', 'z', '1', '3', 'BYLEX'],
  ['ZREVRANGEBYSCORE', 'z', '3', '1'], ['ZREVRANGEBYSCORE', 'z', '1', '3'], ['ZRANGEBYLEX', 'lex', '[aa', '+'], ['ZREVRANGEBYLEX', 'lex', '+', '[c', 'LIMIT', '0', '2'], ['ZRANGEBYLEX', 'lex', '-', '+', 'WITHSCORES'],
  ['ZRANGESTORE', 'dst', 'z', '0', '2'], ['ZRANGE', 'dst', '0', '-1', 'WITHSCORES'], ['ZRANGESTORE', 'dst', 'z', '5', '1'], ['EXISTS', 'dst'],
  ['ZRANGESTORE', 'dst', 'lex', '[b', '+', 'BYLEX', 'REV'], ['ZRANGESTORE', 'dst', 'z', '0', '-1', 'WITHSCORES'], ['ZRANGESTORE', 'str', 'z', '0', '1'], ['TYPE', 'str'], ['SET', 'str', 'v'],
  // removal
  ['ZREM', 'z', 'a', 'nope'], ['ZREM', 'nokey', 'a'], ['ZREM', 'str', 'a'],
  ['ZREMRANGEBYRANK', 'z', '0', '0'], ['ZREMRANGEBYRANK', 'z', '-1', '-1'], ['ZREMRANGEBYRANK', 'z', '5', '1'], ['ZREMRANGEBYRANK', 'z', 'x', '1'], ['ZREMRANGEBYRANK', 'nokey', 'x', '1'],
  ['ZREMRANGEBYSCORE', 'z', '(1', '2'], ['ZREMRANGEBYSCORE', 'z', 'x', '2'], ['ZREMRANGEBYSCORE', 'nokey', '0', '1'], ['ZREMRANGEBYSCORE', 'str', '0', '1'],
  ['ZREMRANGEBYLEX', 'lex', '[b', '[c'], ['ZREMRANGEBYLEX', 'lex', 'b', '[c'], ['ZRANGE', 'lex', '0', '-1'], ['ZRANGE', 'z', '0', '-1', 'WITHSCORES'],
  // pops
  ['ZPOPMIN', 'z'], ['ZPOPMAX', 'z'], ['ZPOPMIN', 'z', '2'], ['ZPOPMAX', 'z', '0'], ['ZPOPMIN', 'z', '-1'], ['ZPOPMIN', 'z', 'x'], ['ZPOPMIN', 'z', '1', '2'],
  ['ZPOPMIN', 'nokey'], ['ZPOPMIN', 'nokey', '3'], ['ZPOPMIN', 'str'], ['ZPOPMAX', 'lex', '100'], ['EXISTS', 'lex'],
  ['ZMPOP', '2', 'nokey', 'z', 'MIN'], ['ZMPOP', '2', 'nokey', 'z', 'MAX', 'COUNT', '2'], ['ZMPOP', '1', 'nokey', 'MIN'], ['ZMPOP', '0', 'z', 'MIN'], ['ZMPOP', '1', 'z', 'MID'],
  ['ZMPOP', '1', 'z', 'MIN', 'COUNT', '0'], ['ZMPOP', '1', 'z', 'MIN', 'COUNT'], ['ZMPOP', '3', 'z', 'MIN'], ['ZMPOP', '1', 'str', 'MIN'],
  // algebra
  ['ZADD', 'u1', '1', 'a', '2', 'b', '3', 'c'], ['ZADD', 'u2', '10', 'b', '20', 'c', '30', 'd'],
  ['ZUNION', '2', 'u1', 'u2'], ['ZUNION', '2', 'u1', 'u2', 'WITHSCORES'], ['ZUNION', '3', 'u1', 'u2', 'plain', 'WEIGHTS', '2', '0.5', '4', 'WITHSCORES'],
  ['ZUNION', '2', 'u1', 'u2', 'AGGREGATE', 'MAX', 'WITHSCORES'], ['ZINTER', '2', 'u1', 'u2', 'AGGREGATE', 'MIN', 'WITHSCORES'], ['ZINTER', '2', 'u1', 'nokey'],
  ['ZDIFF', '2', 'u1', 'u2', 'WITHSCORES'], ['ZDIFF', '2', 'u1', 'u2', 'WEIGHTS', '1', '2'], ['ZUNION', '2', 'u1', 'u2', 'AGGREGATE', 'AVG'], ['ZUNION', '2', 'u1', 'u2', 'WEIGHTS', '1', 'x'],
  ['ZUNION', '0', 'u1'], ['ZUNION', '3', 'u1'], ['ZUNION', 'x', 'u1'], ['ZUNION', '2', 'u1', 'str'], ['ZUNION', '2', 'u1', 'str', 'BAD'], ['ZUNION', '1', 'u1', 'WEIGHTS', '1', '2'],
  ['ZUNIONSTORE', 'out', '2', 'u1', 'u2'], ['ZRANGE', 'out', '0', '-1', 'WITHSCORES'], ['ZINTERSTORE', 'out', '2', 'u1', 'u2', 'WEIGHTS', '1', '-1'], ['ZRANGE', 'out', '0', '-1', 'WITHSCORES'],
  ['ZDIFFSTORE', 'out', '2', 'u1', 'u1'], ['EXISTS', 'out'], ['ZUNIONSTORE', 'out', '2', 'u1', 'u2', 'WITHSCORES'], ['ZUNIONSTORE', 'out', '0', 'u1'],
  ['ZINTERCARD', '2', 'u1', 'u2'], ['ZINTERCARD', '2', 'u1', 'u2', 'LIMIT', '1'], ['ZINTERCARD', '0', 'u1'], ['ZINTERCARD', 'x', 'u1'], ['ZINTERCARD', '2', 'u1'],
  ['ZINTERCARD', '1', 'u1', 'LIMIT', '-1'], ['ZINTERCARD', '1', 'u1', 'WITHSCORES'],
  ['ZUNION', '2', 'u1', 'u2', 'WEIGHTS', 'inf', '-inf', 'WITHSCORES'],
  // scan, types
  ['ZSCAN', 'u1', '0'], ['ZSCAN', 'u1', '0', 'MATCH', 'b*'], ['ZSCAN', 'nokey', '0'], ['ZSCAN', 'str', '0'], ['ZSCAN', 'u1', 'x'],
  ['TYPE', 'u1'], ['ZRANDMEMBER', 'nokey'], ['ZRANDMEMBER', 'nokey', '3'], ['ZRANDMEMBER', 'u1', '0'], ['ZRANDMEMBER', 'str'], ['ZRANDMEMBER', 'u1', '1', 'FOO'],
  ['ZRANDMEMBER', 'u1', 'x'],
];

describe('sorted set commands against redis-server', () => {
  it('reply exactly as redis-server, errors included (RESP2)', async () => {
    for (const args of [...SETUP, ...SCRIPT]) await same(args);
  }, 60_000);

  it('reply exactly as redis-server in RESP3 (doubles, score pairs, null arrays)', async () => {
    await all(['HELLO', '3']);
    try {
      for (const args of [...SETUP, ...SCRIPT]) await same(args);
    } finally {
      await all(['HELLO', '2']);
    }
  }, 60_000);

  it('random picks have the right shape: ZRANDMEMBER with counts and scores', async () => {
    await all(['DEL', 'r']);
    await all(['ZADD', 'r', ...Array.from({ length: 20 }, (_, i) => [String(i), `m${i}`]).flat()]);
    for (const name of ['memory', 'lmdb']) {
      const c = trio().clients.get(name)!;
      const some = ((await c.send(['ZRANDMEMBER', 'r', '5'])) as Buffer[]).map(String);
      expect(new Set(some).size).toBe(5);
      expect(some.every((m) => /^m\d+$/.test(m))).toBe(true);
      expect(((await c.send(['ZRANDMEMBER', 'r', '50'])) as Buffer[]).length).toBe(20);
      const withScores = ((await c.send(['ZRANDMEMBER', 'r', '-30', 'WITHSCORES'])) as Buffer[]).map(String);
      expect(withScores.length).toBe(60);
      for (let i = 0; i < 60; i += 2) expect(withScores[i]).toBe(`m${withScores[i + 1]}`);
    }
  });

  it('a random sequence of sorted set commands gives redis-server\'s replies', async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'str');
    const mem = fc.constantFrom('x', 'y', 'z', 'w', '', 'long member');
    const sc = fc.constantFrom('0', '1', '-1', '2.5', '+inf', '-inf', '3');
    const bound = fc.constantFrom('-inf', '+inf', '0', '(0', '1', '(2.5', '3');
    const lex = fc.constantFrom('-', '+', '[x', '(x', '[y', '(z', '[');
    const cmd = fc.oneof(
      fc.tuple(key, fc.subarray(['NX', 'XX', 'GT', 'LT', 'CH']), fc.array(fc.tuple(sc, mem), { minLength: 1, maxLength: 3 })).map(([k, f, ps]) => ['ZADD', k, ...f, ...ps.flat()]),
      fc.tuple(key, sc, mem).map(([k, s, m]) => ['ZINCRBY', k, s, m]),
      fc.tuple(key, fc.array(mem, { minLength: 1, maxLength: 3 })).map(([k, ms]) => ['ZREM', k, ...ms]),
      fc.tuple(key, fc.integer({ min: -4, max: 4 }), fc.integer({ min: -4, max: 4 }), fc.boolean()).map(([k, a, b, ws]) => ['ZRANGE', k, String(a), String(b), ...(ws ? ['WITHSCORES'] : [])]),
      fc.tuple(key, bound, bound, fc.boolean(), fc.integer({ min: -1, max: 3 })).map(([k, a, b, rev, off]) => ['ZRANGE', k, a, b, 'BYSCORE', ...(rev ? ['REV'] : []), 'LIMIT', String(off), '2', 'WITHSCORES']),
      fc.tuple(key, lex, lex).map(([k, a, b]) => ['ZRANGEBYLEX', k, a, b]),
      fc.tuple(key, bound, bound).map(([k, a, b]) => ['ZCOUNT', k, a, b]),
      fc.tuple(key, bound, bound).map(([k, a, b]) => ['ZREMRANGEBYSCORE', k, a, b]),
      fc.tuple(key, fc.integer({ min: -3, max: 3 }), fc.integer({ min: -3, max: 3 })).map(([k, a, b]) => ['ZREMRANGEBYRANK', k, String(a), String(b)]),
      fc.tuple(key, mem).map(([k, m]) => ['ZRANK', k, m]),
      fc.tuple(fc.constantFrom('ZPOPMIN', 'ZPOPMAX'), key, fc.integer({ min: 0, max: 3 })).map(([c, k, n]) => [c, k, String(n)]),
      fc.tuple(fc.constantFrom('ZUNIONSTORE', 'ZINTERSTORE', 'ZDIFFSTORE'), key, fc.array(key, { minLength: 1, maxLength: 3 })).map(([c, d, ks]) => [c, d, String(ks.length), ...ks]),
      key.map((k) => ['ZCARD', k]),
      key.map((k) => ['SET', k, 'v']),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 30 }), async (cmds) => {
        await all(['FLUSHALL']);
        for (const args of cmds) await same(args);
        for (const k of ['a', 'b', 'c']) await same(['ZRANGE', k, '0', '-1', 'WITHSCORES']);
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 40) },
    );
  }, 120_000);

  it('sorted sets survive an LMDB restart with exact scores', async () => {
    await all(['FLUSHALL']);
    await all(['ZADD', 'kept', '1.1', 'one', '-inf', 'low', '1e-300', 'tiny', '0', '', '2', 'two\u0000bytes']);
    await trio().restartLmdb();
    await same(['ZRANGE', 'kept', '0', '-1', 'WITHSCORES']);
    await same(['TYPE', 'kept']);
  }, 30_000);
});
