// LMDB engine in-process: values, hashes edited in place, TTLs (lazy and active, across reopen), SCAN.
import { Deque } from '../../src/storage/deque.js';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbEngine } from '../../src/storage/lmdb.js';
import type { StoredValue } from '../../src/storage/engine.js';
import { startNode } from '../helpers-process.js';
import { respOnce } from '../../src/client/resp-client.js';

const str = (s: string): StoredValue => ({ type: 'string', value: Buffer.from(s) });
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'atoll-lmdb-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function clockAt(start: number): { nowMs: () => number; advance: (ms: number) => void } {
  let now = start;
  return { nowMs: () => now, advance: (ms) => (now += ms) };
}

describe('LMDB data directories', () => {
  // A dot in the directory's name (data.v2, mkdtemp names) made lmdb-js open the path as a database file.
  it('opens any directory name, new or existing and empty, and keeps the data across reopen', async () => {
    const base = tempDir();
    const existing = join(base, 'mounted.volume');
    mkdirSync(existing);
    for (const path of [join(base, 'data.v2'), existing, join(base, 'nested.a', 'b.c'), join(base, 'plain')]) {
      const clock = clockAt(1_000);
      const e = new LmdbEngine({ path, clock });
      e.put('k', str(path), 0);
      await e.close();
      expect(statSync(path).isDirectory()).toBe(true);
      expect(existsSync(join(path, 'data.mdb'))).toBe(true);
      const again = new LmdbEngine({ path, clock });
      expect(again.get('k')).toEqual(str(path));
      await again.close();
    }
  });

  it('atoll start --engine lmdb --data-dir <dir with a dot> serves and keeps writes across a restart', async () => {
    const dir = join(tempDir(), 'data.v2');
    for (const expected of [null, 'v']) {
      const n = await startNode(['--engine', 'lmdb', '--data-dir', dir, '--no-admin']);
      try {
        const got = await respOnce('127.0.0.1', n.port, ['GET', 'k']);
        expect(got === null ? null : String(got)).toBe(expected);
        expect(String(await respOnce('127.0.0.1', n.port, ['SET', 'k', 'v']))).toBe('OK');
      } finally {
        await n.stop();
      }
    }
  }, 30_000);
});

describe('LmdbEngine', () => {
  it('stores strings and hashes durably across reopen, with TTLs', async () => {
    const path = tempDir();
    const clock = clockAt(1_000_000);
    const e = new LmdbEngine({ path, clock });
    e.put('a', str('1'), 0);
    e.put('t', str('x'), clock.nowMs() + 500);
    e.batch(() => {
      e.put('h', { type: 'hash', value: new Map([['f', Buffer.from('v')]]) }, 0);
      const h = e.get('h');
      if (h?.type !== 'hash') throw new Error('expected a hash');
      h.value.set('g', Buffer.from('w'));
      e.touched('h');
    });
    await e.close();
    const again = new LmdbEngine({ path, clock });
    expect(again.get('a')).toEqual(str('1'));
    const h = again.get('h');
    expect(h?.type === 'hash' ? [...h.value.keys()] : []).toEqual(['f', 'g']);
    expect(again.expiresAt('t')).toBe(1_000_500);
    clock.advance(500);
    expect(again.get('t')).toBeUndefined();
    expect(again.stats().volatileKeys).toBe(1);
    expect(again.activeExpire()).toBe(1);
    expect(again.stats()).toMatchObject({ volatileKeys: 0, expiredKeys: 1, keys: 2 });
    expect(again.stats().usedBytes).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) again.put(`big${i}`, str('x'.repeat(1000)), 0);
    expect(again.stats().usedBytes).toBeGreaterThan(200 * 1000);
    await again.close();
  });

  it('idle times: since the last read or write, and since the open for keys not touched since', async () => {
    const dir = tempDir();
    const clock = clockAt(10_000);
    const e = new LmdbEngine({ path: dir, clock });
    e.put('a', { type: 'string', value: Buffer.from('1') }, 0);
    e.put('b', { type: 'string', value: Buffer.from('2') }, 0);
    clock.advance(4_000);
    e.activeExpire(); // the node's 100 ms expiry cycle refreshes the clock reads are stamped with
    e.get('b');
    expect(e.idleMs('a')).toBe(4_000);
    expect(e.idleMs('b')).toBe(0);
    expect(e.peek('a')).toEqual({ type: 'string', value: Buffer.from('1') }); // a look, not an access
    expect(e.idleMs('a')).toBe(4_000);
    expect(e.idleMs('missing')).toBeUndefined();
    await e.close();
    clock.advance(1_000);
    const again = new LmdbEngine({ path: dir, clock });
    clock.advance(2_500);
    expect(again.idleMs('a')).toBe(2_500); // at least since the engine opened (access times are not stored)
    await again.close();
  });

  it('decoded collections stay in memory between batches, and a rolled-back batch leaves the database’s value', async () => {
    const dir = tempDir();
    const e = new LmdbEngine({ path: dir, clock: clockAt(1_000) });
    e.put('l', { type: 'list', value: new Deque(['a', 'b']) }, 0);
    const first = e.get('l')!;
    expect(e.get('l')!.value).toBe(first.value); // the same decoded object: no decode per read
    expect(() =>
      e.batch(() => {
        const l = e.get('l')!.value as Deque<string>;
        l.pushBack('c');
        e.touched('l');
        throw new Error('the batch fails');
      }),
    ).toThrow('the batch fails');
    expect([...(e.get('l')!.value as Deque<string>)]).toEqual(['a', 'b']);
    e.batch(() => {
      (e.get('l')!.value as Deque<string>).pushFront('z');
      e.touched('l');
    });
    await e.close();
    const again = new LmdbEngine({ path: dir, clock: clockAt(2_000) });
    expect([...(again.get('l')!.value as Deque<string>)]).toEqual(['z', 'a', 'b']);
    again.delete('l');
    expect(again.get('l')).toBeUndefined();
    await again.close();
  });

  it('round-trips any binary string or hash value and expiry', async () => {
    const e = new LmdbEngine({ path: tempDir(), clock: clockAt(1) });
    const latin1 = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1'));
    const value = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b): StoredValue => ({ type: 'string', value: Buffer.from(b) })),
      fc.array(fc.tuple(latin1, fc.uint8Array({ maxLength: 50 })), { maxLength: 8 }).map(
        (pairs): StoredValue => ({ type: 'hash', value: new Map(pairs.map(([f, v]) => [f, Buffer.from(v)])) }),
      ),
    );
    fc.assert(
      fc.property(latin1, value, fc.oneof(fc.constant(0), fc.integer({ min: 2, max: 2 ** 48 })), (key, v, at) => {
        e.put(key, v, at);
        // Hashes come back as journaled maps (src/storage/journal.ts): compared by content.
        const got = e.get(key)!;
        expect(got.type === 'hash' ? { type: 'hash', value: new Map(got.value) } : got).toEqual(v);
        expect(e.expiresAt(key)).toBe(at);
      }),
      { numRuns: 300 },
    );
    await e.close();
  });

  it('replacing or persisting a key keeps the TTL index exact', async () => {
    const clock = clockAt(5_000);
    const e = new LmdbEngine({ path: tempDir(), clock });
    e.put('k', str('v'), 6_000);
    e.put('k', str('w'), 7_000);
    expect(e.stats().volatileKeys).toBe(1);
    expect(e.setExpiry('k', 0)).toBe(true);
    expect(e.stats().volatileKeys).toBe(0);
    expect(e.delete('k')).toBe(true);
    expect(e.delete('k')).toBe(false);
    await e.close();
  });

  it('SCAN returns every key present throughout, across partitions', async () => {
    const e = new LmdbEngine({ path: tempDir(), clock: clockAt(0), partitions: 8 });
    for (let i = 0; i < 500; i++) e.put(`k${i}`, str('v'), 0);
    const seen = new Set<string>();
    let cursor = 0;
    let round = 0;
    do {
      const r = e.scan(cursor, 37);
      r.keys.forEach((k) => seen.add(k));
      cursor = r.cursor;
      // Churn between calls: new keys and deletions of keys already returned.
      e.put(`new${round}`, str('v'), 0);
      round++;
    } while (cursor !== 0 && round < 1000);
    for (let i = 0; i < 500; i++) expect(seen.has(`k${i}`)).toBe(true);
    expect(e.size()).toBe(500 + round);
    e.clear();
    expect(e.size()).toBe(0);
    await e.close();
  });
});
