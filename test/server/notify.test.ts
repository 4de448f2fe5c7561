// Keyspace notifications differentially against redis-server: CONFIG SET/GET notify-keyspace-events (flag
// letters and the error), and the exact messages a pattern subscriber receives for writes of every type,
// multi-key commands (RENAME, LMOVE, SMOVE), a DEL of a missing key (nothing) and an expiry.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeCommand } from '../../src/client/resp-client.js';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('keyspace notifications against redis-server', () => {
  it('CONFIG SET/GET notify-keyspace-events as redis-server', async () => {
    for (const v of ['Q', 'KEA', 'Exg', 'AKEm', 'K$lshzxet', '']) {
      await same(['CONFIG', 'SET', 'notify-keyspace-events', v]);
      await same(['CONFIG', 'GET', 'notify-keyspace-events']);
    }
  });

  it('a subscriber receives the same events, in order, for the same writes', async () => {
    await all(['FLUSHALL']);
    await all(['CONFIG', 'SET', 'notify-keyspace-events', 'KEA']);
    const got: Record<string, string> = {};
    try {
      for (const [name, c] of trio().clients) {
        const sub = net.connect(c.port, '127.0.0.1');
        let out = '';
        sub.on('data', (d: Buffer) => (out += d.toString('latin1')));
        sub.write(encodeCommand(['PSUBSCRIBE', '__key*__:*']));
        await sleep(50);
        const cmds: string[][] = [
          ['SET', 's', 'v'], ['INCR', 'n'], ['APPEND', 's', 'x'], ['DEL', 's', 'missing'], ['LPUSH', 'l', 'a', 'b', 'c'], ['RPOP', 'l'], ['HSET', 'h', 'f', 'v'], ['HDEL', 'h', 'nope'],
          ['SADD', 'st', 'a', 'b'], ['SMOVE', 'st', 'st2', 'a'], ['ZADD', 'z', '1', 'a'], ['ZINCRBY', 'z', '1', 'a'], ['RENAME', 'n', 'n2'], ['LMOVE', 'l', 'l2', 'LEFT', 'RIGHT'],
          ['XADD', 'x', '1-1', 'f', 'v'], ['SETBIT', 'b', '3', '1'], ['PFADD', 'p', 'a'], ['EXPIRE', 'z', '100'], ['PERSIST', 'z'], ['PEXPIRE', 'h', '30'],
          // Redis's extra events: expire after SET with a TTL; del after emptying a collection, for an empty
          // STORE result (only when the destination existed) and for an EXPIRE in the past; GETEX's own.
          ['SET', 't', 'v', 'EX', '100'], ['SETEX', 't2', '100', 'v'], ['PSETEX', 't3', '100000', 'v'], ['SET', 't4', 'v', 'KEEPTTL'], ['GETEX', 't', 'PERSIST'], ['GETEX', 't', 'EX', '50'], ['GETEX', 't'],
          ['LPUSH', 'e', 'a'], ['LPOP', 'e'], ['SADD', 'se', 'a'], ['SREM', 'se', 'a'], ['HSET', 'he', 'f', 'v'], ['HDEL', 'he', 'f'], ['ZADD', 'ze', '1', 'a'], ['ZPOPMIN', 'ze'],
          ['RPUSH', 'lt', 'a'], ['LTRIM', 'lt', '1', '0'], ['SADD', 's1', 'a'], ['SINTERSTORE', 'dst', 's1', 'nokey'], ['SADD', 'dst2', 'x'], ['SINTERSTORE', 'dst2', 's1', 'nokey'],
          ['SADD', 'mv', 'a'], ['SMOVE', 'mv', 'mv2', 'a'], ['SET', 'gone', 'v'], ['EXPIRE', 'gone', '-1'], ['RPUSH', 'q', 'a'], ['LMOVE', 'q', 'q2', 'LEFT', 'LEFT'],
          ['ZADD', 'zs', '1', 'a'], ['ZUNIONSTORE', 'zd', '1', 'zs'], ['ZINTERSTORE', 'zd', '2', 'zs', 'nokey'],
        ];
        for (const cmd of cmds) await c.send(cmd);
        await sleep(300); // h expires (active or lazy expiry)
        await c.send(['EXISTS', 'h']);
        await sleep(50);
        sub.destroy();
        got[name] = out;
      }
    } finally {
      await all(['CONFIG', 'SET', 'notify-keyspace-events', '']);
    }
    expect(got.memory).toBe(got.redis);
    expect(got.lmdb).toBe(got.redis);
  }, 20_000);
});
