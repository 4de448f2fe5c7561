// Blocking pops (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP): replies and errors as
// redis-server's when data is there, on timeouts and inside MULTI; a blocked client is woken by another
// client's push, in the order clients blocked; a client that disconnects while blocked takes nothing.
import { describe, expect, it } from 'vitest';
import { RespClient } from '../../src/client/resp-client.js';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('blocking commands against redis-server', () => {
  it('with data, on timeout, with bad arguments and inside MULTI: the same replies', async () => {
    const script: string[][] = [
      ['FLUSHALL'], ['RPUSH', 'l', 'a', 'b', 'c'], ['ZADD', 'z', '1', 'm1', '2.5', 'm2', '3', 'm3'], ['SET', 's', 'x'],
      ['BLPOP', 'nk', 'l', '0'], ['BRPOP', 'nk', 'l', '0'], ['BLPOP', 'nk', '0.05'], ['BLPOP', 'nk', 'x'], ['BLPOP', 'nk', '-1'], ['BLPOP', 'nk', 'inf'],
      ['BLPOP', 's', '0'], ['BLPOP', 'nk', 's', 'l', '0'],
      ['BLMOVE', 'l', 'l2', 'LEFT', 'RIGHT', '0'], ['BLMOVE', 'nk', 'l2', 'LEFT', 'RIGHT', '0.05'], ['BLMOVE', 'l', 'l2', 'UP', 'RIGHT', '0'], ['BRPOPLPUSH', 'l2', 'l', '0'], ['BRPOPLPUSH', 'nk', 'l', '0.05'],
      ['RPUSH', 'l', 'd', 'e'], ['BLMPOP', '0', '2', 'nk', 'l', 'RIGHT', 'COUNT', '2'], ['BLMPOP', '0.05', '1', 'nk', 'LEFT'], ['BLMPOP', '0', '0', 'l', 'LEFT'], ['BLMPOP', 'x', '1', 'l', 'LEFT'],
      ['BZPOPMIN', 'nk', 'z', '0'], ['BZPOPMAX', 'z', '0'], ['BZPOPMIN', 'nk', '0.05'], ['BZPOPMIN', 's', '0'],
      ['ZADD', 'z', '4', 'm4', '5', 'm5'], ['BZMPOP', '0', '1', 'z', 'MAX', 'COUNT', '2'], ['BZMPOP', '0.05', '1', 'nk', 'MIN'], ['BZMPOP', '0', '1', 'z', 'MID'],
      ['MULTI'], ['BLPOP', 'nk', '0'], ['BZPOPMIN', 'nk', '0'], ['LPUSH', 'm', 'x'], ['BLPOP', 'm', '0'], ['EXEC'],
    ];
    for (const args of script) await same(args);
    await all(['HELLO', '3']);
    try {
      for (const args of [['ZADD', 'z3', '1.5', 'q'], ['BZPOPMIN', 'z3', '0'], ['BLPOP', 'nk', '0.02'], ['BLMOVE', 'nk', 'x', 'LEFT', 'LEFT', '0.02']]) await same(args);
    } finally {
      await all(['HELLO', '2']);
    }
  });

  it('a blocked client is woken by a push from another client, first blocked first served', async () => {
    for (const name of ['memory', 'lmdb']) {
      const port = trio().clients.get(name)!.port;
      const [a, b, pusher] = await Promise.all([RespClient.connect('127.0.0.1', port), RespClient.connect('127.0.0.1', port), RespClient.connect('127.0.0.1', port)]);
      await pusher.send(['DEL', 'q', 'zq', 'dst']);
      const first = a.send(['BLPOP', 'q', '5']);
      await sleep(30);
      const second = b.send(['BRPOPLPUSH', 'q', 'dst', '5']);
      await sleep(30);
      const started = Date.now();
      await pusher.send(['RPUSH', 'q', 'x1']);
      expect((await first as Buffer[]).map(String)).toEqual(['q', 'x1']);
      expect(Date.now() - started).toBeLessThan(1_000);
      await pusher.send(['RPUSH', 'q', 'x2']);
      expect(String(await second)).toBe('x2');
      expect((await pusher.send(['LRANGE', 'dst', '0', '-1']) as Buffer[]).map(String)).toEqual(['x2']);
      // A sorted set wakes BZPOPMIN; a timeout answers null after about its time.
      const z = a.send(['BZPOPMIN', 'zq', '5']);
      await sleep(30);
      await pusher.send(['ZADD', 'zq', '7', 'seven']);
      expect((await z as Buffer[]).map(String)).toEqual(['zq', 'seven', '7']);
      const t0 = Date.now();
      expect(await a.send(['BLPOP', 'never', '0.3'])).toBeNull();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
      // A client that leaves while blocked takes nothing with it.
      void b.send(['BLPOP', 'gone', '0']).catch(() => undefined);
      await sleep(30);
      b.close();
      await sleep(30);
      await pusher.send(['RPUSH', 'gone', 'kept']);
      await sleep(50);
      expect((await pusher.send(['LRANGE', 'gone', '0', '-1']) as Buffer[]).map(String)).toEqual(['kept']);
      for (const c of [a, pusher]) c.close();
    }
  }, 30_000);
});
