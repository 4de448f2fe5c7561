// Consistent hash ring: determinism, balance, minimal movement, zone-aware replicas, state round trips.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { expectCode, names, strays } from '../helpers.js';
import {
  ConsistentHashRing,
  loadStats,
  movedFraction,
  owners,
  sampleKeys,
} from '../../src/partitioning/index.js';

const keys = sampleKeys(20_000);

describe('ConsistentHashRing', () => {
  it('is deterministic: the same nodes give the same owners', () => {
    const a = new ConsistentHashRing(names(7));
    const b = new ConsistentHashRing(names(7));
    expect(owners((k) => a.nodeFor(k), keys)).toEqual(owners((k) => b.nodeFor(k), keys));
    expect(a.toState()).toEqual(b.toState());
  });

  it('balances ownership within 2% for balanced tokens at any size', () => {
    for (const n of [1, 2, 3, 10, 37, 100]) {
      const ring = new ConsistentHashRing(names(n), { vnodes: 64 });
      expect(loadStats(ring.ownership().values()).maxOverMean).toBeLessThan(1.02);
    }
  });

  it('random tokens are worse balanced than deliberate ones (the reason for the allocator)', () => {
    const random = new ConsistentHashRing(names(100), { tokenAllocation: 'random' });
    const balanced = new ConsistentHashRing(names(100));
    expect(loadStats(random.ownership().values()).maxOverMean).toBeGreaterThan(1.1);
    expect(loadStats(balanced.ownership().values()).maxOverMean).toBeLessThan(1.01);
  });

  it('adding a node moves keys only to it, about 1/(n+1) of them, and keeps balance', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.constantFrom<'balanced' | 'random'>('balanced', 'random'), (n, alloc) => {
        const ring = new ConsistentHashRing(names(n), { vnodes: 64, tokenAllocation: alloc });
        const before = owners((k) => ring.nodeFor(k), keys);
        ring.addNode('newcomer');
        const after = owners((k) => ring.nodeFor(k), keys);
        expect(strays(before, after, 'newcomer')).toEqual([]);
        if (alloc === 'balanced') {
          const ideal = 1 / (n + 1);
          expect(Math.abs(movedFraction(before, after) - ideal)).toBeLessThan(0.02 + ideal * 0.1);
          expect(loadStats(ring.ownership().values()).maxOverMean).toBeLessThan(1.05);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('removing a node moves only its keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 30 }), fc.nat(), fc.constantFrom<'balanced' | 'random'>('balanced', 'random'), (n, pick, alloc) => {
        const ring = new ConsistentHashRing(names(n), { vnodes: 32, tokenAllocation: alloc });
        const gone = `n${pick % n}`;
        const before = owners((k) => ring.nodeFor(k), keys);
        ring.removeNode(gone);
        const after = owners((k) => ring.nodeFor(k), keys);
        expect(strays(after, before, gone)).toEqual([]);
        expect(after.includes(gone)).toBe(false);
        if (alloc === 'balanced') expect(loadStats(ring.ownership().values()).maxOverMean).toBeLessThan(1.06);
      }),
      { numRuns: 40 },
    );
  });

  it('honours weights and moves keys only to or from a re-weighted node', () => {
    const ring = new ConsistentHashRing([{ id: 'a', weight: 1 }, { id: 'b', weight: 2 }, { id: 'c', weight: 1 }]);
    const own = ring.ownership();
    expect(own.get('b')!).toBeCloseTo(0.5, 2);
    const before = owners((k) => ring.nodeFor(k), keys);
    ring.setWeight('a', 3);
    const after = owners((k) => ring.nodeFor(k), keys);
    expect(strays(before, after, 'a')).toEqual([]);
    expect(ring.ownership().get('a')!).toBeGreaterThan(0.45);
    ring.setWeight('a', 0.5);
    const later = owners((k) => ring.nodeFor(k), keys);
    expect(strays(later, after, 'a')).toEqual([]);
  });

  it('replicasFor returns n distinct nodes, starting with the owner, spread over zones', () => {
    const nodes = names(12).map((id, i) => ({ id, zone: `z${i % 3}` }));
    const ring = new ConsistentHashRing(nodes, { vnodes: 32 });
    const zoneOf = new Map(nodes.map((n) => [n.id, n.zone]));
    for (const key of keys.slice(0, 2000)) {
      const r = ring.replicasFor(key, 5);
      expect(r[0]).toBe(ring.nodeFor(key));
      expect(new Set(r).size).toBe(5);
      expect(new Set(r.slice(0, 3).map((id) => zoneOf.get(id))).size).toBe(3);
    }
    expect(new ConsistentHashRing(['x', 'y']).replicasFor('k', 5)).toHaveLength(2);
  });

  it('random tokens stay unique on large rings (hash collisions are rehashed)', () => {
    // 1000 x 256 tokens in a 2^32 space: several collisions are expected and must be resolved.
    const ring = new ConsistentHashRing(names(1000), { tokenAllocation: 'random' });
    expect(ring.tokenCount).toBe(256_000);
    ring.addNode('late');
    expect(ring.tokenCount).toBe(256_256);
  });

  it('round-trips through its state', () => {
    const ring = new ConsistentHashRing(names(9));
    ring.addNode({ id: 'extra', weight: 2, zone: 'z9' });
    ring.removeNode('n3');
    const copy = ConsistentHashRing.fromState(JSON.parse(JSON.stringify(ring.toState())));
    expect(owners((k) => copy.nodeFor(k), keys)).toEqual(owners((k) => ring.nodeFor(k), keys));
  });

  it('lookups agree with a linear scan of the arcs', () => {
    const ring = new ConsistentHashRing(names(5), { vnodes: 8 });
    const arcs = ring.arcs();
    for (const key of keys.slice(0, 3000)) {
      const h = ring.hashKey(key);
      const arc = arcs.find((a) => (a.start < a.end ? h > a.start && h <= a.end : h > a.start || h <= a.end));
      expect(arc?.node).toBe(ring.nodeFor(key));
    }
  });

  it('rejects bad input with typed errors', () => {
    expectCode(() => new ConsistentHashRing([]), 'EMPTY_NODES');
    expectCode(() => new ConsistentHashRing(['a', 'a']), 'DUPLICATE_NODE');
    expectCode(() => new ConsistentHashRing([{ id: 'a', weight: 0 }]), 'BAD_WEIGHT');
    expectCode(() => new ConsistentHashRing([{ id: 'a', weight: -1 }]), 'BAD_WEIGHT');
    expectCode(() => new ConsistentHashRing([{ id: 'a', weight: Number.NaN }]), 'BAD_WEIGHT');
    expectCode(() => new ConsistentHashRing(['a'], { vnodes: 0 }), 'BAD_ARGUMENT');
    expectCode(() => new ConsistentHashRing(['a'], { vnodes: Number.NaN }), 'BAD_ARGUMENT');
    expectCode(() => new ConsistentHashRing([''], {}), 'BAD_ARGUMENT');
    const ring = new ConsistentHashRing(['a']);
    expectCode(() => ring.removeNode('a'), 'EMPTY_NODES');
    expectCode(() => ring.removeNode('zz'), 'UNKNOWN_NODE');
    expectCode(() => ring.addNode('a'), 'DUPLICATE_NODE');
    expectCode(() => ring.setWeight('a', Infinity), 'BAD_WEIGHT');
    expectCode(() => ring.replicasFor('k', 0), 'BAD_ARGUMENT');
    expectCode(() => ConsistentHashRing.fromState({ ...ring.toState(), tokens: [[1, 1]] }), 'BAD_ARGUMENT');
  });
});
