// Stream consumer groups differentially against redis-server: XGROUP subcommands and their errors, XREADGROUP
// (new entries, a consumer's pending history, NOACK, COUNT, deleted entries), XACK, XPENDING (summary and
// extended, idle times compared by shape), XCLAIM and XAUTOCLAIM; XREADGROUP BLOCK woken by XADD; groups and
// their pending entries survive an LMDB restart.
import { describe, expect, it } from 'vitest';
import { RespClient } from '../../src/client/resp-client.js';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);

/** XPENDING's extended form with the idle column (timing) replaced by whether it is a number. */
async function samePending(args: string[]): Promise<void> {
  const r = await all(args);
  const shape = (v: unknown): unknown => (Array.isArray(v) ? v.map((row) => (Array.isArray(row) ? [row[0], row[1], typeof row[2], row[3]] : row)) : v);
  expect({ memory: shape(r.memory), lmdb: shape(r.lmdb) }).toEqual({ memory: shape(r.redis), lmdb: shape(r.redis) });
}

describe('stream consumer groups against redis-server', () => {
  it('XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM and XAUTOCLAIM reply as redis-server', async () => {
    const script: string[][] = [
      ['FLUSHALL'], ['SET', 'str', 'x'],
      ['XGROUP', 'CREATE', 'nokey', 'g', '$'], ['XGROUP', 'CREATE', 's', 'g', '$', 'MKSTREAM'], ['XGROUP', 'CREATE', 's', 'g', '0'], ['XGROUP', 'CREATE', 'str', 'g', '0'],
      ['XADD', 's', '1-1', 'a', '1'], ['XADD', 's', '2-1', 'b', '2'], ['XADD', 's', '3-1', 'c', '3'],
      ['XGROUP', 'CREATE', 's', 'g2', '0'], ['XGROUP', 'CREATE', 's', 'g3', 'x'], ['XGROUP', 'FOO', 's', 'g'], ['XGROUP', 'CREATECONSUMER', 's', 'g', 'alice'],
      ['XGROUP', 'CREATECONSUMER', 's', 'g', 'alice'], ['XGROUP', 'CREATECONSUMER', 's', 'nog', 'alice'],
      ['XREADGROUP', 'GROUP', 'g2', 'alice', 'COUNT', '2', 'STREAMS', 's', '>'], ['XREADGROUP', 'GROUP', 'g2', 'bob', 'STREAMS', 's', '>'], ['XREADGROUP', 'GROUP', 'g2', 'bob', 'STREAMS', 's', '>'],
      ['XREADGROUP', 'GROUP', 'g2', 'alice', 'STREAMS', 's', '0'], ['XREADGROUP', 'GROUP', 'g2', 'alice', 'STREAMS', 's', '1-1'], ['XREADGROUP', 'GROUP', 'g2', 'alice', 'STREAMS', 's', '$'],
      ['XREADGROUP', 'GROUP', 'nog', 'alice', 'STREAMS', 's', '>'], ['XREADGROUP', 'GROUP', 'g2', 'alice', 'STREAMS', 'nokey', '>'], ['XREAD', 'STREAMS', 's', '>'],
      ['XPENDING', 's', 'g2'], ['XPENDING', 's', 'g'], ['XPENDING', 's', 'nog'],
      ['XACK', 's', 'g2', '1-1', '9-9'], ['XACK', 's', 'g2', 'x'], ['XACK', 's', 'nog', '1-1'], ['XPENDING', 's', 'g2'],
      ['XDEL', 's', '2-1'], ['XREADGROUP', 'GROUP', 'g2', 'alice', 'STREAMS', 's', '0'],
      ['XREADGROUP', 'GROUP', 'g', 'carol', 'NOACK', 'STREAMS', 's', '>'], ['XPENDING', 's', 'g'],
      ['XGROUP', 'SETID', 's', 'g', '0'], ['XREADGROUP', 'GROUP', 'g', 'carol', 'COUNT', '1', 'STREAMS', 's', '>'],
      ['XCLAIM', 's', 'g2', 'dave', '0', '3-1', 'JUSTID'], ['XCLAIM', 's', 'g2', 'dave', '0', '3-1'], ['XCLAIM', 's', 'g2', 'dave', '100000', '3-1'],
      ['XCLAIM', 's', 'g2', 'dave', '0', '2-1'], ['XCLAIM', 's', 'g2', 'dave', 'x', '3-1'], ['XCLAIM', 's', 'g2', 'dave', '0', '3-1', 'FOO'],
      ['XAUTOCLAIM', 's', 'g', 'erin', '0', '0-0'], ['XAUTOCLAIM', 's', 'g', 'erin', '0', '0-0', 'JUSTID'], ['XAUTOCLAIM', 's', 'g', 'erin', '0', '0-0', 'COUNT', '0'],
      ['XGROUP', 'DELCONSUMER', 's', 'g2', 'dave'], ['XGROUP', 'DELCONSUMER', 's', 'g2', 'nobody'], ['XPENDING', 's', 'g2'],
      ['XGROUP', 'DESTROY', 's', 'g3'], ['XGROUP', 'DESTROY', 's', 'g'], ['XGROUP', 'DESTROY', 'nokey', 'g'],
    ];
    for (const args of script) await same(args);
    for (const args of [['XPENDING', 's', 'g2', '-', '+', '10'], ['XPENDING', 's', 'g2', 'IDLE', '0', '-', '+', '10', 'bob'], ['XPENDING', 's', 'g2', '-', '+', '1']]) await samePending(args);
  });

  it('XINFO STREAM (and FULL), GROUPS, CONSUMERS and HELP reply as redis-server (entries-read and lag by Redis’s rules)', async () => {
    /** Timings (ms timestamps, idle times) become their kind; Redis's radix-tree sizes are internal (approximated). */
    const shape = (v: unknown): unknown => {
      if (!Array.isArray(v)) return typeof v === 'number' && v > 1e12 ? 'timestamp' : v;
      return v.map((x, i) => (i > 0 && ['idle', 'radix-tree-keys', 'radix-tree-nodes'].includes(String(v[i - 1])) ? typeof x : shape(x)));
    };
    const sameInfo = async (args: string[]): Promise<void> => {
      const r = await all(args);
      expect({ memory: shape(r.memory), lmdb: shape(r.lmdb) }, args.join(' ')).toEqual({ memory: shape(r.redis), lmdb: shape(r.redis) });
    };
    const info = [['XINFO', 'STREAM', 'x'], ['XINFO', 'STREAM', 'x', 'FULL'], ['XINFO', 'GROUPS', 'x'], ['XINFO', 'CONSUMERS', 'x', 'g'], ['XINFO', 'CONSUMERS', 'x', 'h'], ['XINFO', 'STREAM', 'x', 'FULL', 'COUNT', '1']];
    const steps: string[][] = [
      ['FLUSHALL'], ['XINFO', 'HELP'], ['XINFO'], ['XINFO', 'FOO'], ['XINFO', 'FOO', 'x'], ['XINFO', 'GROUPS'], ['XINFO', 'HELP', 'x'], ['XINFO', 'STREAM', 'nokey'], ['SET', 'str', 'v'], ['XINFO', 'STREAM', 'str'],
      ['XGROUP', 'CREATE', 'x', 'g', '$', 'MKSTREAM'], ['XGROUP', 'CREATE', 'x', 'h', '0', 'ENTRIESREAD', '-2'], ['XGROUP', 'CREATE', 'x', 'h', '0', 'BOGUS'], ['XGROUP', 'SETID', 'x', 'g', '0', 'MKSTREAM'],
      ['XADD', 'x', '1-1', 'a', '1'], ['XADD', 'x', '2-1', 'b', '2'], ['XADD', 'x', '3-1', 'c', '3'], ['XADD', 'x', '4-1', 'd', '4'],
      ['XGROUP', 'CREATE', 'x', 'h', '0'], ['XGROUP', 'CREATECONSUMER', 'x', 'g', 'zed'],
      ['XREADGROUP', 'GROUP', 'g', 'bob', 'COUNT', '2', 'STREAMS', 'x', '>'], ['XREADGROUP', 'GROUP', 'h', 'alice', 'COUNT', '1', 'STREAMS', 'x', '>'],
      ['XDEL', 'x', '3-1'], ['XREADGROUP', 'GROUP', 'g', 'alice', 'STREAMS', 'x', '>'],
      ['XADD', 'x', '5-1', 'e', '5'], ['XTRIM', 'x', 'MAXLEN', '3'], ['XREADGROUP', 'GROUP', 'h', 'bob', 'STREAMS', 'x', '>'],
      ['XGROUP', 'SETID', 'x', 'h', '2-1', 'ENTRIESREAD', '2'], ['XGROUP', 'CREATE', 'x', 'i', '$'], ['XGROUP', 'SETID', 'x', 'g', '$'],
      ['XDEL', 'x', '1-1', '2-1', '4-1', '5-1'], ['XADD', 'x', '6-1', 'f', '6'],
    ];
    for (const args of steps) {
      await sameInfo(args);
      if (args[0] !== 'XINFO' && args[0] !== 'FLUSHALL' && args[0] !== 'SET') for (const q of info) await sameInfo(q);
    }
  });

  it('XREADGROUP BLOCK wakes on an XADD; groups and pending entries survive an LMDB restart', async () => {
    for (const name of ['memory', 'lmdb']) {
      const port = trio().clients.get(name)!.port;
      const [reader, writer] = await Promise.all([RespClient.connect('127.0.0.1', port), RespClient.connect('127.0.0.1', port)]);
      await writer.send(['DEL', 'q']);
      await writer.send(['XGROUP', 'CREATE', 'q', 'workers', '$', 'MKSTREAM']);
      const blocked = reader.send(['XREADGROUP', 'GROUP', 'workers', 'w1', 'BLOCK', '5000', 'STREAMS', 'q', '>']);
      await new Promise((r) => setTimeout(r, 50));
      await writer.send(['XADD', 'q', '7-1', 'job', '1']);
      const got = (await blocked) as [Buffer, [Buffer, Buffer[]][]][];
      expect(String(got[0]![1][0]![0])).toBe('7-1');
      reader.close();
      writer.close();
    }
    await trio().restartLmdb();
    const c = trio().clients.get('lmdb')!;
    expect(((await c.send(['XPENDING', 'q', 'workers'])) as unknown[])[0]).toBe(1);
    expect(((await c.send(['XREADGROUP', 'GROUP', 'workers', 'w1', 'STREAMS', 'q', '0'])) as [Buffer, [Buffer, Buffer[]][]][])[0]![1].map(([id]) => String(id))).toEqual(['7-1']);
  }, 30_000);
});
