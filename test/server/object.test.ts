// OBJECT ENCODING/REFCOUNT/FREQ, DUMP/RESTORE and SORT/SORT_RO differentially against redis-server where the
// replies can match (DUMP payloads are Atoll's own, so a DUMP is restored on the server that made it); a
// corrupt or foreign payload is refused; every type round-trips through DUMP/RESTORE with its TTL.
import { describe, expect, it } from 'vitest';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);

describe('OBJECT, DUMP/RESTORE and SORT against redis-server', () => {
  it('OBJECT and SORT reply exactly as redis-server', async () => {
    const script: string[][] = [
      ['FLUSHALL'], ['SET', 'i', '123'], ['SET', 'e', 'abc'], ['SET', 'big', 'x'.repeat(50)], ['RPUSH', 'l', '3', '1', '2', '10'], ['SADD', 'si', '1', '2'], ['SADD', 'ss', 'a', 'b'],
      ['HSET', 'h', 'f', 'v'], ['ZADD', 'z', '1', 'a', '3', 'c', '2', 'b'], ['XADD', 'st', '1-1', 'a', '1'],
      ...['i', 'e', 'big', 'l', 'si', 'ss', 'h', 'z', 'st', 'nokey'].map((key) => ['OBJECT', 'ENCODING', key]),
      ['OBJECT', 'REFCOUNT', 'i'], ['OBJECT', 'REFCOUNT', 'e'], ['OBJECT', 'FREQ', 'i'], ['OBJECT', 'FOO', 'i'], ['OBJECT', 'ENCODING'],
      ['SORT', 'l'], ['SORT', 'l', 'DESC'], ['SORT', 'l', 'ALPHA'], ['SORT', 'l', 'LIMIT', '1', '2'], ['SORT', 'l', 'LIMIT', '-5', '2'], ['SORT', 'l', 'LIMIT', '2', '-1'],
      ['SORT', 'si'], ['SORT', 'z', 'BY', 'nosort'], ['SORT', 'z', 'BY', 'nosort', 'DESC'], ['SORT', 'l', 'BY', 'nosort', 'DESC', 'LIMIT', '0', '2'], ['SORT', 'ss'], ['SORT', 'ss', 'ALPHA', 'DESC'],
      ['SORT', 'nokey'], ['SORT', 'e'], ['SORT', 'l', 'FOO'], ['SORT', 'l', 'LIMIT', 'x', '1'],
      ['SET', 'w_1', '30'], ['SET', 'w_2', '20'], ['SET', 'w_3', '10'], ['HSET', 'o_1', 'name', 'one'], ['HSET', 'o_2', 'name', 'two'],
      ['SORT', 'l', 'BY', 'w_*'], ['SORT', 'l', 'BY', 'w_*', 'GET', '#', 'GET', 'o_*->name', 'GET', 'w_*'], ['SORT', 'l', 'BY', 'o_*->name', 'ALPHA'],
      ['SORT', 'l', 'STORE', 'dst'], ['LRANGE', 'dst', '0', '-1'], ['SORT', 'ss', 'BY', 'nosort', 'STORE', 'dst2'], ['LRANGE', 'dst2', '0', '-1'], ['SORT', 'nokey', 'STORE', 'dst'], ['EXISTS', 'dst'],
      ['SORT_RO', 'l', 'DESC'], ['SORT_RO', 'l', 'STORE', 'x'], ['RPUSH', 'bad', 'a', '1'], ['SORT', 'bad'], ['SORT', 'bad', 'ALPHA'],
      ['RESTORE', 'e', '0', 'xx'], ['RESTORE', 'new', '0', 'xx'], ['RESTORE', 'new', '-1', 'xx'], ['RESTORE', 'new', '0', 'xx', 'FOO'], ['RESTORE', 'new', '0', 'xx', 'FREQ', '300'],
      ['DUMP', 'nokey'],
    ];
    for (const args of script) await same(args);
  });

  it('OBJECT IDLETIME counts seconds since the last read or write, as redis-server (both engines)', async () => {
    const ask = async (args: string[]): Promise<{ redis: unknown; memory: unknown; lmdb: unknown }> => (await all(args)) as { redis: unknown; memory: unknown; lmdb: unknown };
    await all(['FLUSHALL']);
    // Not small integers: Redis shares those objects (and their access times) between keys.
    await all(['SET', 'idle:a', 'va']);
    await all(['RPUSH', 'idle:b', 'x']);
    await all(['SET', 'idle:c', 'vc']);
    await new Promise((r) => setTimeout(r, 2_100));
    await all(['GET', 'idle:a']); // a read
    await all(['RPUSH', 'idle:b', 'y']); // a write in place
    for (const [key, want] of [['idle:a', 0], ['idle:b', 0], ['idle:c', 2]] as const) {
      const r = await ask(['OBJECT', 'IDLETIME', key]);
      // Redis's clock ticks in whole seconds, so its figure can be one more than the time passed.
      expect(r.memory, key).toBe(want);
      expect(r.lmdb, key).toBe(want);
      expect([want, want + 1], key).toContain(r.redis);
    }
    // OBJECT IDLETIME itself is not an access; a missing key is nil.
    const again = await ask(['OBJECT', 'IDLETIME', 'idle:c']);
    expect([again.memory, again.lmdb]).toEqual([2, 2]);
    for (const name of ['memory', 'lmdb']) expect(await trio().clients.get(name)!.send(['GET', 'idle:c'])).toEqual(Buffer.from('vc'));
    const read = await ask(['OBJECT', 'IDLETIME', 'idle:c']);
    expect([read.memory, read.lmdb]).toEqual([0, 0]);
    const missing = await ask(['OBJECT', 'IDLETIME', 'nokey']);
    expect([missing.memory, missing.lmdb]).toEqual([missing.redis, missing.redis]);
  });

  it('DUMP then RESTORE round-trips every type with its TTL; a corrupt payload is refused', async () => {
    for (const name of ['memory', 'lmdb']) {
      const c = trio().clients.get(name)!;
      await c.send(['FLUSHALL']);
      for (const cmd of [['SET', 's', 'v\u0000bin', 'PX', '100000'], ['HSET', 'h', 'a', '1'], ['SADD', 'st', 'x', 'y'], ['RPUSH', 'l', 'a', 'b'], ['ZADD', 'z', '1.5', 'm'], ['XADD', 'x', '5-1', 'f', 'v']]) await c.send(cmd);
      for (const key of ['s', 'h', 'st', 'l', 'z', 'x']) {
        const payload = (await c.send(['DUMP', key])) as Buffer;
        expect(await c.send(['RESTORE', key, '0', payload])).toMatchObject({ message: 'BUSYKEY Target key name already exists.' });
        expect(await c.send(['RESTORE', `${key}2`, '50000', payload])).toBe('OK');
        expect(await c.send(['TYPE', `${key}2`])).toBe(await c.send(['TYPE', key]));
        expect(Number(await c.send(['PTTL', `${key}2`]))).toBeGreaterThan(40_000);
        const corrupt = Buffer.from(payload);
        corrupt[0] = corrupt[0]! ^ 0xff;
        expect(await c.send(['RESTORE', `${key}3`, '0', corrupt])).toMatchObject({ message: 'ERR DUMP payload version or checksum are wrong' });
      }
      expect((await c.send(['LRANGE', 'l2', '0', '-1']) as Buffer[]).map(String)).toEqual(['a', 'b']);
      expect(String(await c.send(['GET', 's2']))).toBe('v\u0000bin');
      expect(String(await c.send(['ZSCORE', 'z2', 'm']))).toBe('1.5');
      expect(await c.send(['RESTORE', 'h', '0', (await c.send(['DUMP', 's'])) as Buffer, 'REPLACE'])).toBe('OK');
      expect(await c.send(['TYPE', 'h'])).toBe('string');
      // A payload from redis-server is not Atoll's: refused, not misread.
      const foreign = (await trio().clients.get('redis')!.send(['DUMP', 'e'])) as Buffer | null;
      if (foreign !== null) expect(await c.send(['RESTORE', 'f', '0', foreign])).toMatchObject({ message: 'ERR DUMP payload version or checksum are wrong' });
    }
    await all(['FLUSHALL']);
  });
});
