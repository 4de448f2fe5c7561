// Stream commands differentially against redis-server (explicit IDs, so replies can match byte for byte):
// XADD with partial IDs, NOMKSTREAM, MAXLEN/MINID trims (= and ~ with LIMIT), XLEN, XRANGE/XREVRANGE with
// exclusive bounds and COUNT, XDEL, XTRIM, XREAD with '$' and COUNT, errors; auto IDs by shape; XREAD BLOCK
// woken by XADD; streams survive an LMDB restart.
import { describe, expect, it } from 'vitest';
import { RespClient } from '../../src/client/resp-client.js';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);

const many = (key: string, from: number, n: number): string[][] => Array.from({ length: n }, (_, i) => ['XADD', key, `${from + i}-1`, 'f', String(i)]);

describe('stream commands against redis-server', () => {
  it('reply exactly as redis-server, errors included', async () => {
    const script: string[][] = [
      ['FLUSHALL'], ['SET', 'str', 'x'],
      ['XADD', 's', '1-1', 'a', '1'], ['XADD', 's', '1-1', 'a', '1'], ['XADD', 's', '0-0', 'a', '1'], ['XADD', 's', '1-*', 'b', '2'], ['XADD', 's', '2-*', 'b', '2'],
      ['XADD', 's', '5', 'c', '3', 'd', '4'], ['XADD', 's', '3-0', 'x', 'y'], ['XADD', 's', 'x', 'f', '1'], ['XADD', 's', '6-1', 'f'], ['XADD', 's', '6-1', 'f', 'v', 'g'],
      ['XADD', 'str', '7-1', 'a', '1'], ['XADD', 'n', 'NOMKSTREAM', '1-1', 'a', '1'], ['EXISTS', 'n'], ['XADD', 's', '18446744073709551615-0', 'a', '1'],
      ['XADD', 's', '18446744073709551616-0', 'a', '1'], ['XADD', 's', '-1-0', 'a', '1'],
      ['XLEN', 's'], ['XLEN', 'nokey'], ['XLEN', 'str'],
      ['XRANGE', 's', '-', '+'], ['XRANGE', 's', '-', '+', 'COUNT', '2'], ['XRANGE', 's', '(1-1', '+'], ['XRANGE', 's', '2', '5'], ['XRANGE', 's', '-', '(5-0'],
      ['XRANGE', 's', '(-', '+'], ['XRANGE', 's', '5', '1'], ['XRANGE', 's', 'x', '+'], ['XRANGE', 's', '-', '+', 'COUNT', '-1'], ['XRANGE', 's', '-', '+', 'LIMIT', '1'], ['XRANGE', 'nokey', '-', '+'],
      ['XRANGE', 'str', '-', '+'], ['XREVRANGE', 's', '+', '-'], ['XREVRANGE', 's', '+', '-', 'COUNT', '1'], ['XREVRANGE', 's', '(5-0', '-'],
      ['XDEL', 's', '2-0', '9-9'], ['XDEL', 's', 'x'], ['XDEL', 'nokey', '1-1'], ['XRANGE', 's', '-', '+'],
      ['XREAD', 'STREAMS', 's', '0'], ['XREAD', 'COUNT', '1', 'STREAMS', 's', 'nokey', '1-1', '0'], ['XREAD', 'STREAMS', 's', '$'], ['XREAD', 'STREAMS', 's'],
      ['XREAD', 'STREAMS', 'nokey', '0'], ['XREAD', 'FOO', 'STREAMS', 's', '0'], ['XREAD', 'BLOCK', 'x', 'STREAMS', 's', '0'], ['XREAD', 'BLOCK', '-1', 'STREAMS', 's', '0'],
      ['XREAD', 'BLOCK', '10', 'STREAMS', 's', '$'], ['XREAD', 'STREAMS', 'str', '0'],
      ['XTRIM', 's', 'MAXLEN', '2'], ['XRANGE', 's', '-', '+'], ['XTRIM', 's', 'MAXLEN', '0'], ['XLEN', 's'], ['EXISTS', 's'], ['XTRIM', 'nokey', 'MAXLEN', '0'],
      ['XTRIM', 's', 'FOO', '1'], ['XTRIM', 's', 'MAXLEN', '-1'], ['XTRIM', 's', 'MAXLEN', '1', 'LIMIT', '2'], ['XTRIM', 's', 'MAXLEN', '=', '1', 'MINID', '1'],
      ['XTRIM', 's', 'LIMIT', '2'], ['XADD', 's', '1-1', 'a', '1'], ['XADD', 's', 'MAXLEN', '1', '99-1', 'a', '1'],
      ...many('big', 1, 250),
      ['XTRIM', 'big', 'MAXLEN', '~', '120'], ['XLEN', 'big'], ['XTRIM', 'big', 'MAXLEN', '~', '10', 'LIMIT', '100'], ['XLEN', 'big'],
      ['XTRIM', 'big', 'MINID', '~', '240'], ['XLEN', 'big'], ['XTRIM', 'big', 'MINID', '245'], ['XRANGE', 'big', '-', '+'],
      ['XADD', 'big', 'MAXLEN', '~', '3', '300-1', 'a', '1'], ['XLEN', 'big'], ['TYPE', 'big'],
    ];
    for (const args of script) await same(args);
    await all(['HELLO', '3']);
    try {
      for (const args of [['XREAD', 'STREAMS', 'big', 'nokey', '0', '0'], ['XREAD', 'STREAMS', 'nokey', '0'], ['XRANGE', 'big', '-', '+', 'COUNT', '1']]) await same(args);
    } finally {
      await all(['HELLO', '2']);
    }
  }, 60_000);

  it('auto IDs grow from the clock; XREAD BLOCK wakes on XADD from another client', async () => {
    for (const name of ['memory', 'lmdb']) {
      const port = trio().clients.get(name)!.port;
      const [reader, writer] = await Promise.all([RespClient.connect('127.0.0.1', port), RespClient.connect('127.0.0.1', port)]);
      await writer.send(['DEL', 'live']);
      const id1 = String(await writer.send(['XADD', 'live', '*', 'n', '1']));
      const id2 = String(await writer.send(['XADD', 'live', '*', 'n', '2']));
      expect(id1).toMatch(/^\d{13}-\d+$/);
      expect(Math.abs(Number(id1.split('-')[0]) - Date.now())).toBeLessThan(5_000);
      expect(id2 > id1 || id2.length > id1.length).toBe(true);
      const blocked = reader.send(['XREAD', 'BLOCK', '5000', 'STREAMS', 'live', '$']);
      await new Promise((r) => setTimeout(r, 50));
      const id3 = String(await writer.send(['XADD', 'live', '*', 'n', '3']));
      const got = (await blocked) as [Buffer, [Buffer, Buffer[]][]][];
      expect(String(got[0]![0])).toBe('live');
      expect(got[0]![1].map(([id, f]) => [String(id), f.map(String)])).toEqual([[id3, ['n', '3']]]);
      const t0 = Date.now();
      expect(await reader.send(['XREAD', 'BLOCK', '200', 'STREAMS', 'live', '$'])).toBeNull();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(180);
      reader.close();
      writer.close();
    }
  });

  it('streams survive an LMDB restart with their last ID', async () => {
    await all(['DEL', 'kept']);
    for (const args of [['XADD', 'kept', '5-1', 'a', '1'], ['XADD', 'kept', '6-1', 'b', '\u0000bin'], ['XDEL', 'kept', '6-1']]) await all(args);
    await trio().restartLmdb();
    await same(['XRANGE', 'kept', '-', '+']);
    await same(['XADD', 'kept', '6-1', 'c', '1']); // still refused: the last ID survived
    await same(['XADD', 'kept', '6-*', 'c', '1']);
  }, 30_000);
});
