// MULTI/EXEC/DISCARD/WATCH/UNWATCH differentially against redis-server (memory and LMDB engines): queueing,
// EXECABORT after a queueing error, runtime errors inside EXEC, nesting and misuse errors; WATCH invalidated
// by another client's write, by expiry, by FLUSHALL and kept by a write before WATCH; RESP3 replies.
import { describe, expect, it } from 'vitest';
import { RespClient } from '../../src/client/resp-client.js';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);

/** A second connection to each of the three servers (the first one holds the transaction). */
async function others(): Promise<Map<string, RespClient>> {
  const out = new Map<string, RespClient>();
  for (const [name, c] of trio().clients) out.set(name, await RespClient.connect('127.0.0.1', c.port));
  return out;
}

describe('transactions against redis-server', () => {
  it('reply exactly as redis-server: queueing, EXECABORT, errors inside EXEC, misuse', async () => {
    const script: string[][] = [
      ['FLUSHALL'],
      ['MULTI'], ['SET', 'a', '1'], ['INCR', 'a'], ['LPUSH', 'a', 'x'], ['GET', 'a'], ['EXEC'],
      ['MULTI'], ['MULTI'], ['SET', 'b', '1'], ['EXEC'], ['GET', 'b'],
      ['MULTI'], ['WATCH', 'a'], ['INCR', 'a'], ['EXEC'],
      ['EXEC'], ['DISCARD'],
      ['MULTI'], ['NOSUCH'], ['SET', 'c', '1'], ['EXEC'], ['EXISTS', 'c'],
      ['MULTI'], ['GET'], ['EXEC'],
      ['MULTI'], ['SET', 'd', '1'], ['DISCARD'], ['EXISTS', 'd'],
      ['MULTI'], ['EXEC'],
      ['MULTI'], ['PING'], ['ECHO', 'x'], ['ZADD', 'z', '1', 'm'], ['ZSCORE', 'z', 'm'], ['EXEC'],
      ['WATCH'], ['UNWATCH'], ['MULTI'], ['UNWATCH'], ['EXEC'],
      ['WATCH', 'a'], ['SET', 'a', 'mine'], ['MULTI'], ['GET', 'a'], ['EXEC'],
    ];
    for (const args of script) await same(args);
  });

  it('RESP3: EXEC replies carry each command\'s RESP3 type; a failed WATCH is a null', async () => {
    await all(['HELLO', '3']);
    try {
      for (const args of [['FLUSHALL'], ['MULTI'], ['ZADD', 'z', '1.5', 'm'], ['ZSCORE', 'z', 'm'], ['HGETALL', 'nope'], ['EXEC']]) await same(args);
      const side = await others();
      await all(['WATCH', 'w']);
      for (const c of side.values()) await c.send(['SET', 'w', 'other']);
      await same(['MULTI']);
      await same(['SET', 'w', 'mine']);
      await same(['EXEC']);
      for (const c of side.values()) c.close();
    } finally {
      await all(['HELLO', '2']);
    }
  });

  it('WATCH: another client\'s write, a delete and FLUSHALL of the key make EXEC answer null; nothing of it runs', async () => {
    const side = await others();
    const runWatched = async (between: (c: RespClient) => Promise<unknown>, key: string): Promise<void> => {
      await all(['WATCH', key]);
      for (const c of side.values()) await between(c);
      await same(['MULTI']);
      await same(['SET', key, 'from-tx']);
      await same(['EXEC']);
      await same(['GET', key]);
    };
    await all(['FLUSHALL']);
    await runWatched((c) => c.send(['SET', 'k1', 'other']), 'k1');
    await runWatched((c) => c.send(['DEL', 'k1']), 'k1');
    await runWatched(async () => undefined, 'k2'); // untouched: EXEC runs
    await all(['SET', 'k3', 'x', 'PX', '30']);
    await runWatched(() => new Promise((r) => setTimeout(r, 80)).then(() => undefined), 'k3');
    await runWatched((c) => c.send(['FLUSHALL']), 'k4'); // k4 does not exist: FLUSHALL leaves the watch alone
    await all(['SET', 'k4', 'x']);
    await runWatched((c) => c.send(['FLUSHALL']), 'k4');
    // A write by the same client after WATCH also invalidates it.
    await all(['WATCH', 'k5']);
    await same(['SET', 'k5', 'self']);
    await same(['MULTI']);
    await same(['SET', 'k5', 'tx']);
    await same(['EXEC']);
    for (const c of side.values()) c.close();
    // The memory and LMDB nodes agree with Redis on every step above; spell out the expiry case for the reader.
    expect((await all(['GET', 'k3'])).memory).toEqual((await all(['GET', 'k3'])).redis);
  });
});
