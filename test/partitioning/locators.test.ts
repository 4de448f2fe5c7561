// Jump, rendezvous, Maglev, modulo and bounded-load locators: exactness, balance, movement, errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { expectCode, names, strays } from '../helpers.js';
import {
  BoundedLoadLocator,
  JumpLocator,
  MaglevLocator,
  ModuloLocator,
  RendezvousLocator,
  distribution,
  jumpHash,
  loadStats,
  movedFraction,
  owners,
  sampleKeys,
} from '../../src/partitioning/index.js';

const keys = sampleKeys(20_000);

/** The paper's jump hash with BigInt: the reference ours must equal bit for bit. */
function jumpReference(key: bigint, buckets: number): number {
  let k = key;
  let b = -1n;
  let j = 0n;
  while (j < BigInt(buckets)) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & 0xffffffffffffffffn;
    j = BigInt(Math.floor(Number(b + 1n) * (2 ** 31 / Number((k >> 33n) + 1n))));
  }
  return Number(b);
}

describe('jumpHash', () => {
  it('equals the reference algorithm on 64-bit keys', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: 1, max: 100_000 }), (key, n) => {
        const hi = Number(key >> 32n);
        const lo = Number(key & 0xffffffffn);
        expect(jumpHash(hi, lo, n)).toBe(jumpReference(key, n));
      }),
      { numRuns: 3000 },
    );
  });

  it('matches published values', () => {
    // From the Guava/Go implementations' tests: key 0 always bucket 0; key 1 for 10 buckets.
    expect(jumpHash(0, 0, 1)).toBe(0);
    expect(jumpHash(0, 0, 100)).toBe(0);
    expect(jumpHash(0, 1, 10)).toBe(jumpReference(1n, 10));
    expect(jumpHash(0xffffffff, 0xffffffff, 1000)).toBe(jumpReference(2n ** 64n - 1n, 1000));
  });
});

describe('JumpLocator', () => {
  it('adding a node moves only keys to it, close to 1/(n+1)', () => {
    for (const n of [1, 5, 17, 64]) {
      const loc = new JumpLocator(names(n));
      const before = owners((k) => loc.nodeFor(k), keys);
      loc.addNode('new');
      const after = owners((k) => loc.nodeFor(k), keys);
      expect(strays(before, after, 'new')).toEqual([]);
      expect(Math.abs(movedFraction(before, after) - 1 / (n + 1))).toBeLessThan(0.02);
    }
  });

  it('removing a middle node moves its keys and the last node’s keys only', () => {
    const loc = new JumpLocator(names(10));
    const before = owners((k) => loc.nodeFor(k), keys);
    loc.removeNode('n3');
    const after = owners((k) => loc.nodeFor(k), keys);
    for (let i = 0; i < keys.length; i++) if (before[i] !== after[i]) expect(['n3', 'n9']).toContain(before[i]);
    expect(after.includes('n3')).toBe(false);
  });

  it('is balanced and gives distinct replicas', () => {
    const loc = new JumpLocator(names(10));
    expect(loadStats(distribution((k) => loc.nodeFor(k), keys, loc.nodeIds()).values()).maxOverMean).toBeLessThan(1.08);
    const r = loc.replicasFor('x', 4);
    expect(new Set(r).size).toBe(4);
    expect(r[0]).toBe(loc.nodeFor('x'));
  });
});

describe('RendezvousLocator', () => {
  it('moves only the keys it must on add and remove', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 20 }), fc.nat(), (n, pick) => {
        const loc = new RendezvousLocator(names(n));
        const ks = keys.slice(0, 4000);
        const before = owners((k) => loc.nodeFor(k), ks);
        loc.addNode('new');
        const mid = owners((k) => loc.nodeFor(k), ks);
        expect(strays(before, mid, 'new')).toEqual([]);
        const gone = `n${pick % n}`;
        loc.removeNode(gone);
        const after = owners((k) => loc.nodeFor(k), ks);
        expect(strays(after, mid, gone)).toEqual([]);
      }),
      { numRuns: 30 },
    );
  });

  it('gives shares proportional to weight', () => {
    const loc = new RendezvousLocator([{ id: 'a', weight: 1 }, { id: 'b', weight: 3 }]);
    const d = distribution((k) => loc.nodeFor(k), keys);
    expect(d.get('b')! / keys.length).toBeCloseTo(0.75, 1);
    loc.setWeight('a', 3);
    const e = distribution((k) => loc.nodeFor(k), keys);
    expect(e.get('a')! / keys.length).toBeCloseTo(0.5, 1);
  });

  it('replicas are the top scores, distinct', () => {
    const loc = new RendezvousLocator(names(6));
    for (const k of keys.slice(0, 200)) {
      const r = loc.replicasFor(k, 3);
      expect(new Set(r).size).toBe(3);
      expect(r[0]).toBe(loc.nodeFor(k));
    }
  });
});

describe('MaglevLocator', () => {
  it('fills the table evenly and is independent of node order', () => {
    const a = new MaglevLocator(names(13));
    const b = new MaglevLocator([...names(13)].reverse());
    expect(owners((k) => a.nodeFor(k), keys)).toEqual(owners((k) => b.nodeFor(k), keys));
    expect(loadStats(distribution((k) => a.nodeFor(k), keys, a.nodeIds()).values()).maxOverMean).toBeLessThan(1.1);
    expect(a.tableSize).toBe(65537);
  });

  it('moves little more than the minimum on add', () => {
    const loc = new MaglevLocator(names(20));
    const before = owners((k) => loc.nodeFor(k), keys);
    loc.addNode('new');
    const after = owners((k) => loc.nodeFor(k), keys);
    expect(movedFraction(before, after)).toBeLessThan((1 / 21) * 1.6);
  });

  it('keeps its table size across small changes, so a join at 1000 nodes moves few keys', () => {
    const loc = new MaglevLocator(names(1000));
    const size = loc.tableSize;
    const before = owners((k) => loc.nodeFor(k), keys);
    loc.addNode('new');
    expect(loc.tableSize).toBe(size);
    expect(movedFraction(before, owners((k) => loc.nodeFor(k), keys))).toBeLessThan(0.01);
  });

  it('honours weights', () => {
    const loc = new MaglevLocator([{ id: 'a', weight: 1 }, { id: 'b', weight: 2 }, { id: 'c', weight: 1 }]);
    const d = distribution((k) => loc.nodeFor(k), keys);
    expect(d.get('b')! / keys.length).toBeCloseTo(0.5, 1);
  });

  it('rejects a non-prime table size', () => {
    expectCode(() => new MaglevLocator(['a'], { tableSize: 100 }), 'BAD_ARGUMENT');
    expectCode(() => new MaglevLocator(['a', 'b', 'c', 'd'], { tableSize: 3 }), 'BAD_ARGUMENT');
  });
});

describe('ModuloLocator', () => {
  it('moves most keys when a node is added: why it is not used', () => {
    const loc = new ModuloLocator(names(10));
    const before = owners((k) => loc.nodeFor(k), keys);
    loc.addNode('new');
    expect(movedFraction(before, owners((k) => loc.nodeFor(k), keys))).toBeGreaterThan(0.85);
  });
});

describe('BoundedLoadLocator', () => {
  it('never lets a node exceed ceil(c * fair share)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.double({ min: 1.05, max: 2, noNaN: true }), (n, c) => {
        const loc = new BoundedLoadLocator(names(n), { balanceFactor: c, vnodes: 16 });
        const ks = keys.slice(0, 3000);
        for (const k of ks) loc.assign(k);
        const max = Math.max(...loc.loadByNode().values());
        expect(max).toBeLessThanOrEqual(Math.ceil((c * ks.length) / n));
        expect(loc.size).toBe(ks.length);
      }),
      { numRuns: 25 },
    );
  });

  it('is idempotent per key and releases', () => {
    const loc = new BoundedLoadLocator(names(3), { keysMax: 2 });
    const a = loc.assign('a');
    expect(loc.assign('a')).toBe(a);
    expect(loc.nodeFor('a')).toBe(a);
    loc.assign('b');
    expectCode(() => loc.assign('c'), 'CAPACITY_EXCEEDED');
    expect(loc.release('a')).toBe(true);
    expect(loc.release('a')).toBe(false);
    loc.assign('c');
    expectCode(() => new BoundedLoadLocator(names(3), { balanceFactor: 1 }), 'BAD_ARGUMENT');
  });
});

describe('shared errors', () => {
  it('every locator rejects empty, duplicate and bad-weight node lists', () => {
    for (const make of [
      (n: string[] | { id: string; weight: number }[]) => new JumpLocator(n),
      (n: string[] | { id: string; weight: number }[]) => new RendezvousLocator(n),
      (n: string[] | { id: string; weight: number }[]) => new MaglevLocator(n),
      (n: string[] | { id: string; weight: number }[]) => new ModuloLocator(n),
      (n: string[] | { id: string; weight: number }[]) => new BoundedLoadLocator(n),
    ]) {
      expectCode(() => make([]), 'EMPTY_NODES');
      expectCode(() => make(['a', 'b', 'a']), 'DUPLICATE_NODE');
      expectCode(() => make([{ id: 'a', weight: 0 }]), 'BAD_WEIGHT');
    }
    const loc = new JumpLocator(['a']);
    expectCode(() => loc.removeNode('a'), 'EMPTY_NODES');
    expectCode(() => loc.removeNode('q'), 'UNKNOWN_NODE');
  });
});
