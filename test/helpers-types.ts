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
  // Large collections under a few tags: kept in chunks by the LMDB engine (src/storage/lmdb-chunks.ts) and
  // replicated as deltas, then edited one element at a time (a chunk rewritten, a delta applied by followers).
  for (const tag of TAGS.slice(0, 3)) {
    const k = (type: string): string => `${prefix}:{${tag}}:big${type}`;
    const els = Array.from({ length: BIG_ELEMENTS }, (_, i) => `${tag}-${i}`);
    await c.rpush(k('list'), ...els);
    await c.sadd(k('set'), ...els);
    await c.zadd(k('zset'), ...els.flatMap((e, i) => [String(i), e]));
    await c.hset(k('hash'), ...els.flatMap((e) => [e, tag]));
    const p = c.pipeline();
    for (let i = 0; i < BIG_ELEMENTS; i++) p.xadd(k('stream'), `${i + 1}-1`, 'f', els[i]!);
    await p.exec();
    for (let i = 0; i < 5; i++) {
      await c.lpush(k('list'), `front${i}`);
      await c.rpop(k('list'));
      await c.lset(k('list'), 150, `set${i}`);
      await c.srem(k('set'), els[i * 7]!);
      await c.sadd(k('set'), `new${i}`);
      await c.zincrby(k('zset'), 0.5, els[i * 11]!);
      await c.hdel(k('hash'), els[i * 13]!);
      await c.hset(k('hash'), `new${i}`, 'v');
      await c.xadd(k('stream'), 'MAXLEN', String(BIG_ELEMENTS - 50), `${BIG_ELEMENTS + i + 1}-1`, 'f', `more${i}`);
      await c.xdel(k('stream'), `${100 + i}-1`);
    }
  }
}

/** Elements of each large collection: past the LMDB engine's one-record limit (128). */
const BIG_ELEMENTS = 400;

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
  for (const tag of TAGS.slice(0, 3)) {
    const k = (type: string): string => `${prefix}:{${tag}}:big${type}`;
    out[`big ${tag}`] = {
      list: await c.lrange(k('list'), 0, -1),
      set: (await c.smembers(k('set'))).sort(),
      zset: await c.zrange(k('zset'), '0', '-1', 'WITHSCORES'),
      hash: await c.hgetall(k('hash')),
      stream: await c.xrange(k('stream'), '-', '+'),
    };
  }
  return out;
}
