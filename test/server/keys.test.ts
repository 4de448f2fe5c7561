// TOUCH, EXPIRETIME, PEXPIRETIME and COPY, differentially against Debian's redis-server (test/helpers-redis.ts):
// replies and errors, a copy of every type sharing nothing with its source, the expiry copied along.
import { describe, it } from 'vitest';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();

describe('key commands against redis-server', () => {
  it('reply exactly as redis-server, errors included', async () => {
    const script: string[][] = [
      ['FLUSHALL'],
      ['SET', 's', 'v'], ['HSET', 'h', 'f', '1', 'g', '2'], ['SADD', 'z', 'a', 'b'], ['RPUSH', 'l', 'x', 'y'],
      ['TOUCH', 's', 'h', 'nope', 'z'], ['TOUCH', 'nope'], ['TOUCH'],
      ['EXPIRETIME', 's'], ['PEXPIRETIME', 'nope'], ['EXPIREAT', 's', '4102444800'], ['EXPIRETIME', 's'], ['PEXPIRETIME', 's'],
      ['PEXPIREAT', 'h', '4102444800123'], ['EXPIRETIME', 'h'], ['PEXPIRETIME', 'h'],
      ['COPY', 's', 's2'], ['GET', 's2'], ['PEXPIRETIME', 's2'], ['COPY', 's', 's2'], ['COPY', 'h', 's2'], ['COPY', 'h', 's2', 'REPLACE'], ['TYPE', 's2'], ['PEXPIRETIME', 's2'],
      ['COPY', 'z', 'z2'], ['SADD', 'z2', 'c'], ['SMEMBERS', 'z'], ['SMEMBERS', 'z2'],
      ['COPY', 'l', 'l2'], ['RPUSH', 'l2', 'q'], ['LRANGE', 'l', '0', '-1'], ['LRANGE', 'l2', '0', '-1'],
      ['HSET', 's2', 'f', 'changed'], ['HGETALL', 'h'], ['HGETALL', 's2'],
      ['COPY', 'nope', 'x'], ['EXISTS', 'x'], ['COPY', 's', 's'], ['COPY', 's', 'x', 'DB', '0'], ['COPY', 's', 'y', 'DB', 'x'], ['COPY', 's', 'y', 'FOO'], ['COPY', 's'],
    ];
    for (const args of script) await trio().same(args);
  });
});
