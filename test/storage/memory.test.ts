// Memory engine: lazy and active expiry, eviction policies under a memory limit, SCAN's guarantee.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MemoryEngine, estimateBytes } from '../../src/storage/memory.js';
import { keySlot } from '../../src/partitioning/hash.js';
import { SlotPartitioner } from '../../src/partitioning/slots.js';
import { OutOfMemoryError, type StoredValue } from '../../src/storage/engine.js';
import { RespWriter } from '../../src/server/resp-writer.js';

const str = (s: string): StoredValue => ({ type: 'string', value: Buffer.from(s) });

function fakeClock(start = 1_000_000): { nowMs: () => number; advance: (ms: number) => void } {
  let now = start;
  return { nowMs: () => now, advance: (ms) => (now += ms) };
}

describe('MemoryEngine', () => {
  it('refuses writes past its heap ceiling with -OOM (no crash), unless a lower maxmemory evicts first', () => {
    expect(new MemoryEngine({ clock: fakeClock() }).heapCeilingBytes).toBeGreaterThan(100 * 1024 * 1024);
    const e = new MemoryEngine({ clock: fakeClock(), heapCeilingBytes: 10_000 });
    let written = 0;
    let refused: unknown;
    try {
      for (; written < 1000; written++) e.put(`k${written}`, str('x'.repeat(100)), 0);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(OutOfMemoryError);
    expect((refused as Error).message).toMatch(/^OOM .*heap ceiling \(10000 bytes/);
    expect(e.stats().usedBytes).toBeLessThanOrEqual(10_000);
    expect(e.size()).toBe(written);
    e.delete('k0');
    e.put('again', str('y'), 0); // room again after a delete
    const evicting = new MemoryEngine({ clock: fakeClock(), heapCeilingBytes: 10_000, maxmemoryBytes: 5_000, policy: 'allkeys-random' });
    for (let i = 0; i < 1000; i++) evicting.put(`k${i}`, str('x'.repeat(100)), 0);
    expect(evicting.stats().usedBytes).toBeLessThanOrEqual(5_000);
    expect(evicting.stats().evictedKeys).toBeGreaterThan(900);
  });

  it('keeps any bytes of a string value exactly, as its own copy, through get, getLatin1 and a GET reply', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const e = new MemoryEngine({ clock: fakeClock() });
        const given = Buffer.from(bytes);
        e.put('k', { type: 'string', value: given }, 0);
        given.fill(0x7f); // the caller's buffer (a view into a request) is reused afterwards
        const got = e.get('k');
        expect(got?.type === 'string' && got.value.equals(Buffer.from(bytes))).toBe(true);
        const raw = e.getLatin1('k');
        expect(typeof raw).toBe('string');
        const viaString = new RespWriter();
        viaString.bulkLatin1(raw as string);
        const viaBuffer = new RespWriter();
        viaBuffer.bulk(Buffer.from(bytes));
        expect(viaString.take().equals(viaBuffer.take())).toBe(true);
        expect(e.stats().usedBytes).toBe(estimateBytes('k', { type: 'string', value: Buffer.from(bytes) }));
      }),
      { numRuns: 200 },
    );
  });

  it('expires keys lazily on access and counts them', () => {
    const clock = fakeClock();
    const e = new MemoryEngine({ clock });
    e.put('a', str('1'), clock.nowMs() + 100);
    e.put('b', str('2'), 0);
    expect(e.get('a')).toBeDefined();
    clock.advance(100);
    expect(e.get('a')).toBeUndefined();
    expect(e.get('b')).toBeDefined();
    expect(e.stats()).toMatchObject({ keys: 1, volatileKeys: 0, expiredKeys: 1, hits: 2, misses: 1 });
  });

  it('active expiry removes expired keys in bounded rounds', () => {
    const clock = fakeClock();
    const e = new MemoryEngine({ clock });
    for (let i = 0; i < 1000; i++) e.put(`k${i}`, str('v'), i < 900 ? clock.nowMs() + 10 : 0);
    clock.advance(10);
    let rounds = 0;
    while (e.stats().volatileKeys > 0 && rounds < 1000) {
      const removed = e.activeExpire();
      expect(removed).toBeLessThanOrEqual(20 * 16);
      rounds++;
    }
    expect(e.size()).toBe(100);
    expect(rounds).toBeGreaterThan(1);
  });

  it('noeviction refuses writes past maxmemory with OOM; others evict by policy', () => {
    const clock = fakeClock();
    const per = estimateBytes('k00', str('x'.repeat(100)));
    const e = new MemoryEngine({ clock, maxmemoryBytes: per * 10 });
    for (let i = 0; i < 10; i++) e.put(`k${String(i).padStart(2, '0')}`, str('x'.repeat(100)), 0);
    expect(() => e.put('k10', str('x'.repeat(100)), 0)).toThrow(OutOfMemoryError);

    const lru = new MemoryEngine({ clock, maxmemoryBytes: per * 10, policy: 'allkeys-lru' });
    for (let i = 0; i < 10; i++) lru.put(`k${String(i).padStart(2, '0')}`, str('x'.repeat(100)), 0);
    lru.get('k00'); // k00 becomes most recent; k01 is now least recent
    lru.put('k10', str('x'.repeat(100)), 0);
    expect(lru.get('k01')).toBeUndefined();
    expect(lru.get('k00')).toBeDefined();
    expect(lru.stats().evictedKeys).toBe(1);

    const vlru = new MemoryEngine({ clock, maxmemoryBytes: per * 10, policy: 'volatile-lru' });
    for (let i = 0; i < 10; i++) vlru.put(`k${String(i).padStart(2, '0')}`, str('x'.repeat(100)), i === 7 ? clock.nowMs() + 1e6 : 0);
    vlru.put('k10', str('x'.repeat(100)), 0);
    expect(vlru.get('k07')).toBeUndefined();
    expect(() => vlru.put('k11', str('x'.repeat(100)), 0)).toThrow(OutOfMemoryError);

    const vttl = new MemoryEngine({ clock, maxmemoryBytes: per * 10, policy: 'volatile-ttl' });
    for (let i = 0; i < 10; i++) vttl.put(`k${String(i).padStart(2, '0')}`, str('x'.repeat(100)), clock.nowMs() + 1000 * (i + 1));
    vttl.put('k10', str('x'.repeat(100)), 0);
    expect(vttl.size()).toBe(10);

    const rnd = new MemoryEngine({ clock, maxmemoryBytes: per * 10, policy: 'allkeys-random' });
    for (let i = 0; i < 50; i++) rnd.put(`k${String(i).padStart(2, '0')}`, str('x'.repeat(100)), 0);
    expect(rnd.size()).toBe(10);
    expect(rnd.stats().usedBytes).toBeLessThanOrEqual(per * 10);
  });

  it('SCAN returns every key present for the whole scan, despite deletes and inserts between calls', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(fc.nat(), { maxLength: 100 }), fc.integer({ min: 1, max: 40 }), (n, ops, count) => {
        const e = new MemoryEngine({ clock: fakeClock() });
        for (let i = 0; i < n; i++) e.put(`k${i}`, str('v'), 0);
        const stable = new Set(Array.from({ length: n }, (_, i) => `k${i}`));
        const seen = new Set<string>();
        let cursor = 0;
        let step = 0;
        do {
          const r = e.scan(cursor, count);
          r.keys.forEach((k) => seen.add(k));
          cursor = r.cursor;
          const op = ops[step++ % Math.max(1, ops.length)];
          if (op !== undefined && n > 0) {
            const victim = `k${op % n}`;
            if (e.delete(victim)) stable.delete(victim);
            e.put(`new${step}`, str('v'), 0);
          }
        } while (cursor !== 0 && step < 10_000);
        for (const k of stable) expect(seen.has(k)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps its byte accounting and indexes consistent under random operations', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 50 })), { maxLength: 300 }), (ops) => {
        for (const limits of [{ maxmemoryBytes: 3000, policy: 'allkeys-lru' as const }, { maxmemoryBytes: 0 }]) {
        const clock = fakeClock();
        const e = new MemoryEngine({ clock, ...limits });
        for (const [op, k, n] of ops) {
          const key = `k${k}`;
          if (op === 0) e.put(key, str('x'.repeat(n)), n % 3 === 0 ? clock.nowMs() + n : 0);
          else if (op === 1) e.delete(key);
          else if (op === 2) e.setExpiry(key, n % 2 === 0 ? 0 : clock.nowMs() + n);
          else if (op === 3) clock.advance(n);
          else e.activeExpire();
        }
        let bytes = 0;
        const all = e.scan(0, 10_000);
        for (const key of all.keys) bytes += estimateBytes(key, e.get(key)!);
        expect(e.stats().usedBytes).toBeGreaterThanOrEqual(bytes);
        if (limits.maxmemoryBytes > 0) expect(e.stats().usedBytes).toBeLessThanOrEqual(3000);
        // Every key the scan saw is readable, and the volatile count matches keys with an expiry.
        const volatile = all.keys.filter((key) => (e.expiresAt(key) ?? 0) > 0).length;
        expect(e.stats().volatileKeys).toBeGreaterThanOrEqual(volatile);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('MemoryEngine partition index', () => {
  it('lists exactly the live keys of each slot partition after any mix of writes, deletes, expiry and eviction', () => {
    const partitions = 8;
    const slots = new SlotPartitioner({ partitions });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('put', 'del', 'ttl', 'index', 'clear'), fc.integer({ min: 0, max: 40 })), { maxLength: 200 }),
        fc.constantFrom('noeviction', 'allkeys-lru'),
        (ops, policy) => {
          let now = 1_000;
          const e = new MemoryEngine({ clock: { nowMs: () => now }, maxmemoryBytes: policy === 'noeviction' ? 0 : 2_000, policy });
          const check = (): void => {
            const all = new Set<string>();
            let cursor = 0;
            do {
              const page = e.scan(cursor, 100);
              cursor = page.cursor;
              for (const k of page.keys) all.add(k);
            } while (cursor !== 0);
            for (let p = 0; p < partitions; p++) {
              const expected = [...all].filter((k) => slots.partitionForSlot(keySlot(Buffer.from(k, 'latin1'))) === p).sort();
              expect(e.keysOfPartition(p, partitions)!.sort()).toEqual(expected);
            }
          };
          for (const [op, n] of ops) {
            const key = `key:${n}`;
            if (op === 'put') e.put(key, { type: 'string', value: Buffer.alloc(n * 3) }, 0);
            else if (op === 'del') e.delete(key);
            else if (op === 'ttl') e.put(key, { type: 'string', value: Buffer.from('t') }, now + n);
            else if (op === 'clear') e.clear();
            else check();
            now += 3;
          }
          check();
        },
      ),
      { numRuns: 150 },
    );
  });
});
