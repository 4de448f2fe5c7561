// Keys of every Redis type, spread over many slots, written through a cluster client and read back as one
// comparable picture: for the tests that move, fail over, snapshot or restart partitions and must keep every
// acknowledged collection whole (not only strings).
import type { Cluster } from 'ioredis';

/** Hash tags chosen to land in different slots (so in different partitions at any partition count). */
const TAGS = Array.from({ length: 12 }, (_, i) => `t${i * 37}`);

/** Writes each type under each tag; every write is acknowledged before this resolves. */
export async function writeTypedKeys(c: Cluster, prefix: string): Promise<void> {
  for (const tag of TAGS) {
    const k = (type: string): string => `${prefix}:{${tag}}:${type}`;
    await c.rpush(k('list'), 'a', 'b', 'c', tag);
    await c.lpush(k('list'), 'z');
    await c.sadd(k('set'), 'x', 'y', tag);
    await c.zadd(k('zset'), 1, 'one', 2.5, 'two', -3, tag);
    await c.zincrby(k('zset'), 10, 'one');
    await c.hset(k('hash'), 'f1', 'v1', 'f2', tag);
    await c.xadd(k('stream'), '1-1', 'f', 'v1');
    await c.xadd(k('stream'), '2-1', 'f', tag);
    await c.xgroup('CREATE', k('stream'), 'g', '0');
    await c.xreadgroup('GROUP', 'g', 'consumer', 'COUNT', '1', 'STREAMS', k('stream'), '>');
    await c.pfadd(k('hll'), 'a', 'b', 'c', tag);
    await c.setbit(k('bits'), 7, 1);
    await c.setbit(k('bits'), 100, 1);
    await c.set(k('ttl'), tag, 'EX', 3_600);
  }
}

/** Everything `writeTypedKeys` wrote, read back as a plain object (compare it with toEqual). */
export async function readTypedKeys(c: Cluster, prefix: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const tag of TAGS) {
    const k = (type: string): string => `${prefix}:{${tag}}:${type}`;
    out[tag] = {
      list: await c.lrange(k('list'), 0, -1),
      set: (await c.smembers(k('set'))).sort(),
      zset: await c.zrange(k('zset'), '0', '-1', 'WITHSCORES'),
      hash: await c.hgetall(k('hash')),
      stream: await c.xrange(k('stream'), '-', '+'),
      pending: await c.xpending(k('stream'), 'g'),
      hll: await c.pfcount(k('hll')),
      bits: await c.bitcount(k('bits')),
      string: await c.get(k('ttl')),
      ttlSet: (await c.ttl(k('ttl'))) > 0,
      types: await Promise.all(['list', 'set', 'zset', 'hash', 'stream'].map((t) => c.type(k(t)))),
    };
  }
  return out;
}
