// Slots, range, time, composite, hybrid and multi-dimensional partitioners.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { expectCode } from '../helpers.js';
import {
  CompositePartitioner,
  GridPartitioner,
  HybridPartitioner,
  RangePartitioner,
  SlotPartitioner,
  TimePartitioner,
  ZOrderPartitioner,
  compareNumbers,
  compareUtf8,
  compositeKeyRange,
  decodeCompositeKey,
  encodeCompositeKey,
  keySlot,
  sampleKeys,
} from '../../src/partitioning/index.js';

describe('SlotPartitioner', () => {
  it('groups the 16384 Redis slots into contiguous partitions of near-equal size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16384 }), (P) => {
        const sp = new SlotPartitioner({ partitions: P });
        let prevLast = -1;
        const sizes: number[] = [];
        const gaps: number[] = [];
        for (let p = 0; p < P; p++) {
          const { first, last } = sp.slotRange(p);
          if (first !== prevLast + 1) gaps.push(p);
          prevLast = last;
          sizes.push(last - first + 1);
        }
        expect(gaps).toEqual([]);
        expect(prevLast).toBe(16383);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        expect(sp.partitionForSlot(sp.slotRange(P - 1).last)).toBe(P - 1);
      }),
      { numRuns: 60 },
    );
  });

  it('maps a key through its Redis slot', () => {
    const sp = new SlotPartitioner({ partitions: 128 });
    for (const k of sampleKeys(500)) {
      expect(sp.slotFor(k)).toBe(keySlot(k));
      const { first, last } = sp.slotRange(sp.partitionFor(k));
      expect(keySlot(k) >= first && keySlot(k) <= last).toBe(true);
    }
    expect(new SlotPartitioner({ slotCount: 1024 }).slotFor('foo')).toBe(keySlot('foo') % 1024);
  });

  it('rejects bad counts', () => {
    expectCode(() => new SlotPartitioner({ slotCount: 1000 }), 'BAD_ARGUMENT');
    expectCode(() => new SlotPartitioner({ slotCount: 32768 }), 'BAD_ARGUMENT');
    expectCode(() => new SlotPartitioner({ partitions: 0 }), 'BAD_ARGUMENT');
    expectCode(() => new SlotPartitioner({ partitions: 20000 }), 'BAD_ARGUMENT');
    expectCode(() => new SlotPartitioner().partitionForSlot(16384), 'BAD_ARGUMENT');
  });
});

describe('RangePartitioner', () => {
  const sortedUnique = (xs: string[]) => [...new Set(xs)].sort(compareUtf8);

  it('every key falls in the partition whose range contains it', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 20 }), fc.array(fc.string(), { maxLength: 50 }), (bs, ks) => {
        const rp = new RangePartitioner({ boundaries: sortedUnique(bs) });
        for (const k of ks) {
          const { start, end } = rp.rangeOf(rp.partitionFor(k));
          expect(start === undefined || compareUtf8(start, k) <= 0).toBe(true);
          expect(end === undefined || compareUtf8(k, end) < 0).toBe(true);
        }
      }),
    );
  });

  it('split and merge keep every key with a consistent owner', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 6 }), { minLength: 4, maxLength: 200 }), fc.array(fc.nat(), { maxLength: 30 }), (ks, ops) => {
        const rp = new RangePartitioner<string>();
        for (const op of ops) {
          const ids = rp.partitionIds();
          const id = ids[op % ids.length]!;
          if (op % 3 !== 0) {
            const before = new Map(ks.map((k) => [k, rp.partitionFor(k)]));
            try {
              const fresh = rp.splitAtMedian(id, ks);
              // Keys of other partitions keep their owner; keys of the split one go to it or the new one.
              for (const k of ks) {
                const was = before.get(k)!;
                const now = rp.partitionFor(k);
                if (was !== id) expect(now).toBe(was);
                else expect([id, fresh]).toContain(now);
              }
            } catch (e) {
              expect((e as { code?: string }).code).toBe('BAD_ARGUMENT');
            }
          } else if (ids.length > 1) {
            const i = op % (ids.length - 1);
            const left = ids[i]!;
            const right = ids[i + 1]!;
            const before = new Map(ks.map((k) => [k, rp.partitionFor(k)]));
            rp.merge(left, right);
            for (const k of ks) {
              const was = before.get(k)!;
              expect(rp.partitionFor(k)).toBe(was === right ? left : was);
            }
          }
        }
        const state = rp.toState();
        const copy = RangePartitioner.fromState(JSON.parse(JSON.stringify(state)) as typeof state);
        for (const k of ks) expect(copy.partitionFor(k)).toBe(rp.partitionFor(k));
      }),
      { numRuns: 150 },
    );
  });

  it('range queries return exactly the partitions holding keys in the range', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { maxLength: 15 }),
        fc.integer({ min: -5, max: 1005 }),
        fc.integer({ min: -5, max: 1005 }),
        (bs, a, b) => {
          const rp = new RangePartitioner<number>({ boundaries: [...bs].sort(compareNumbers), compare: compareNumbers });
          const got = rp.partitionsForRange(a, b);
          const expected = new Set<number>();
          for (let k = a; k < b; k++) expected.add(rp.partitionFor(k));
          expect(got).toEqual([...expected]);
          const open = rp.partitionsForRange(a);
          expect(open[0]).toBe(rp.partitionFor(a));
          expect(open[open.length - 1]).toBe(rp.partitionIds()[rp.partitionCount - 1]);
        },
      ),
    );
  });

  it('rejects bad boundaries and operations', () => {
    expectCode(() => new RangePartitioner({ boundaries: ['b', 'a'] }), 'BAD_BOUNDARY');
    expectCode(() => new RangePartitioner({ boundaries: ['a', 'a'] }), 'BAD_BOUNDARY');
    expectCode(() => new RangePartitioner<number>({ boundaries: [Number.NaN], compare: compareNumbers }), 'BAD_BOUNDARY');
    const rp = new RangePartitioner({ boundaries: ['m'] });
    expectCode(() => rp.split(0, 'z'), 'BAD_BOUNDARY');
    expectCode(() => rp.split(1, 'm'), 'BAD_BOUNDARY');
    expectCode(() => rp.split(7, 'a'), 'UNKNOWN_PARTITION');
    const c = rp.split(1, 't');
    expectCode(() => rp.merge(0, c), 'NOT_NEIGHBOURS');
    expectCode(() => rp.splitAtMedian(0, ['a', 'a', 'a']), 'BAD_ARGUMENT');
    const np = new RangePartitioner<number>({ compare: compareNumbers });
    expectCode(() => np.partitionFor(Number.NaN), 'BAD_ARGUMENT');
  });
});

describe('TimePartitioner', () => {
  const HOUR = 3_600_000;

  it('buckets timestamps and answers time-range queries', () => {
    const tp = new TimePartitioner({ intervalMs: 'hour' });
    expect(tp.partitionFor(0)).toBe(0);
    expect(tp.partitionFor(HOUR - 1)).toBe(0);
    expect(tp.partitionFor(HOUR)).toBe(1);
    expect(tp.partitionFor(-1)).toBe(-1);
    expect(tp.partitionsForRange(HOUR / 2, 3 * HOUR)).toEqual([0, 1, 2]);
    expect(tp.partitionsForRange(HOUR, 3 * HOUR + 1)).toEqual([1, 2, 3]);
    expect(tp.partitionsForRange(5, 5)).toEqual([]);
    expect(tp.bucketRange(2)).toEqual({ startMs: 2 * HOUR, endMs: 3 * HOUR });
  });

  it('retention drops only buckets wholly before the horizon', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 * HOUR }), { minLength: 1, maxLength: 100 }),
        fc.integer({ min: 0, max: 1000 * HOUR }),
        fc.integer({ min: 0, max: 200 * HOUR }),
        (stamps, now, retentionMs) => {
          const tp = new TimePartitioner({ intervalMs: HOUR, retentionMs });
          for (const t of stamps) tp.record(t);
          const before = tp.partitionIds();
          const dropped = tp.applyRetention(now);
          for (const id of dropped) expect(tp.bucketRange(id).endMs).toBeLessThanOrEqual(now - retentionMs);
          for (const id of tp.partitionIds()) expect(tp.bucketRange(id).endMs).toBeGreaterThan(now - retentionMs);
          expect([...dropped, ...tp.partitionIds()].sort((a, b) => a - b)).toEqual(before);
        },
      ),
    );
  });

  it('rejects bad input', () => {
    expectCode(() => new TimePartitioner({ intervalMs: 0 }), 'BAD_ARGUMENT');
    expectCode(() => new TimePartitioner({ intervalMs: 'fortnight' as 'day' }), 'BAD_ARGUMENT');
    expectCode(() => new TimePartitioner({ intervalMs: 10 }).partitionFor(Number.NaN), 'BAD_ARGUMENT');
    const tp = new TimePartitioner({ intervalMs: 10, bucketsMax: 2 });
    tp.record(1);
    tp.record(11);
    expectCode(() => tp.record(21), 'CAPACITY_EXCEEDED');
  });
});

describe('composite and hybrid keys', () => {
  it('composite keys share their partition key’s slot and sort by sort key', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }).filter((s) => !/[{}]/.test(s)), fc.string(), fc.string(), (pk, a, b) => {
        const ka = encodeCompositeKey(pk, a);
        expect(keySlot(ka)).toBe(keySlot(pk));
        expect(decodeCompositeKey(ka)).toEqual({ partitionKey: pk, sortKey: a });
        expect(Math.sign(compareUtf8(ka, encodeCompositeKey(pk, b)))).toBe(Math.sign(compareUtf8(a, b)));
        const { start, end } = compositeKeyRange(pk);
        expect(compareUtf8(start, ka) <= 0 && compareUtf8(ka, end) < 0).toBe(true);
      }),
    );
    const cp = new CompositePartitioner(new SlotPartitioner({ partitions: 64 }));
    const key = { partitionKey: 'user:7', sortKey: '2026-11-01' };
    expect(cp.partitionsForRange(key, { partitionKey: 'user:7', sortKey: '2026-12-01' })).toEqual([cp.partitionFor(key)]);
    expectCode(() => cp.partitionsForRange(key, { partitionKey: 'user:8', sortKey: 'x' }), 'BAD_ARGUMENT');
    expectCode(() => encodeCompositeKey('a}b', 'x'), 'BAD_ARGUMENT');
    expectCode(() => encodeCompositeKey('', 'x'), 'BAD_ARGUMENT');
  });

  it('hybrid: a range query covers every hash partition of the covering ranges, nothing else', () => {
    const hp = new HybridPartitioner<number>({ boundaries: [100, 200], compare: compareNumbers, hashPartitions: 4 });
    expect(hp.partitionIds()).toHaveLength(12);
    const id = hp.partitionFor({ rangeKey: 150, hashKey: 'user:1' });
    expect(hp.decompose(id).rangeId).toBe(1);
    expect(hp.partitionsForRange({ rangeKey: 120, hashKey: '' }, { rangeKey: 180, hashKey: '' })).toEqual([4, 5, 6, 7]);
    expect(hp.partitionsForHashKey('user:1')).toContain(id);
    expect(hp.partitionsForHashKey('user:1')).toHaveLength(3);
    expectCode(() => new HybridPartitioner({ hashPartitions: 0 }), 'BAD_ARGUMENT');
  });
});

describe('multi-dimensional', () => {
  it('grid box queries return exactly the overlapped cells', () => {
    const g = new GridPartitioner([
      { min: 0, max: 100, cells: 10 },
      { min: -50, max: 50, cells: 5 },
    ]);
    expect(g.partitionFor([0, -50])).toBe(0);
    expect(g.partitionFor([100, 50])).toBe(49);
    expect(g.partitionsForBox([5, -50], [25, -31])).toEqual([0, 5, 10]);
    expect(g.partitionsForBox([5, -50], [25, -29])).toEqual([0, 1, 5, 6, 10, 11]);
    expect(g.partitionsForBox([50, 0], [40, 0])).toEqual([]);
    expectCode(() => g.partitionFor([101, 0]), 'BAD_ARGUMENT');
    expectCode(() => g.partitionFor([1]), 'BAD_ARGUMENT');
    expectCode(() => new GridPartitioner([{ min: 1, max: 1, cells: 2 }]), 'BAD_ARGUMENT');
  });

  it('Z-order box queries are exact against brute force', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 })),
        fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 })),
        (P, a, b) => {
          const z = new ZOrderPartitioner({ dims: [{ min: 0, max: 64 }, { min: 0, max: 64 }], bitsPerDim: 6, partitions: P });
          const lo = [Math.min(a[0], b[0]), Math.min(a[1], b[1])];
          const hi = [Math.max(a[0], b[0]), Math.max(a[1], b[1])];
          const expected = new Set<number>();
          for (let x = lo[0]!; x <= hi[0]!; x++) for (let y = lo[1]!; y <= hi[1]!; y++) expected.add(z.partitionFor([x + 0.5, y + 0.5]));
          expect(z.partitionsForBox(lo, hi.map((v) => v + 0.5))).toEqual([...expected].sort((p, q) => p - q));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('geo: nearby points share a Z-order partition more often than not', () => {
    const geo = new ZOrderPartitioner({ dims: [{ name: 'lat', min: -90, max: 90 }, { name: 'lon', min: -180, max: 180 }], partitions: 256 });
    let same = 0;
    for (let i = 0; i < 1000; i++) {
      const lat = -80 + (i * 0.16) % 160;
      const lon = -170 + (i * 0.34) % 340;
      if (geo.partitionFor([lat, lon]) === geo.partitionFor([lat + 0.01, lon + 0.01])) same++;
    }
    expect(same).toBeGreaterThan(900);
  });
});
