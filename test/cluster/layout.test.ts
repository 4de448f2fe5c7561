// The coordinator's key layout, without etcd: a map written as per-partition deltas (chunked within etcd's
// limits) and read back through the watch cache is the map that was written, for any sequence of changes;
// unchanged entries keep their identity; a first map is invisible until its header lands.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialMap, type ClusterMeta, type ClusterNode, type PartitionMap } from '../../src/cluster/map.js';
import { chunkDelta, diffMap, headerText, KEYS, LAYOUT_LIMITS, StateCache } from '../../src/coordinator/layout.js';

const node = (id: string): ClusterNode => ({ id, host: '127.0.0.1', port: 7000, adminPort: 0, zone: 'z', weight: 1 });
const meta = (partitions: number): ClusterMeta => ({ clusterId: 'c', partitions, replicas: 2, initialNodes: 3, createdMs: 0, ack: 'sync', uncleanPromotion: false, replaceAfterMs: 0 });

/** Writes `next` over `base` into the cache as etcd would: each chunk one revision, the header last on a first map. */
function write(cache: StateCache, base: PartitionMap | undefined, next: PartitionMap, rev: { n: number }): void {
  const chunks = chunkDelta(diffMap(base, next));
  chunks.forEach((chunk, i) => {
    rev.n++;
    expect(chunk.puts.length + chunk.deletes.length).toBeLessThanOrEqual(LAYOUT_LIMITS.txnPutsMax);
    for (const [k, v] of chunk.puts) cache.apply(k, v, rev.n);
    for (const k of chunk.deletes) cache.apply(k, undefined, rev.n);
    if (base === undefined && i === chunks.length - 1) cache.apply(KEYS.mapHeader, headerText(next), rev.n);
    cache.advance(rev.n);
  });
}

describe('coordinator key layout', () => {
  it('reads back every map written as deltas, with each changed partition at a new epoch', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.tuple(fc.nat(), fc.constantFrom('swap', 'n4', 'isr')), { maxLength: 40 }), (partitions, changes) => {
        const cache = new StateCache();
        const rev = { n: 0 };
        write(cache, undefined, initialMap(meta(partitions), ['n1', 'n2', 'n3'].map(node)), rev);
        let map = cache.snapshot().map!;
        expect(map.partitions).toHaveLength(partitions);
        for (const [x, kind] of changes) {
          const p = x % partitions;
          const e = map.partitions[p]!;
          const replicas = kind === 'swap' ? [e.replicas[1]!, e.replicas[0]!] : kind === 'n4' ? [e.replicas[0]!, 'n4'] : e.replicas;
          const entry = kind === 'isr' ? { replicas, epoch: map.epoch + 1, isr: [e.replicas[0]!] } : { replicas, epoch: map.epoch + 1 };
          const named = new Set([...map.partitions.flatMap((y, i) => (i === p ? replicas : y.replicas))]);
          const next: PartitionMap = { ...map, partitions: map.partitions.map((y, i) => (i === p ? entry : y)), nodes: Object.fromEntries([...named].sort().map((id) => [id, node(id)])) };
          write(cache, map, next, rev);
          const read = cache.snapshot().map!;
          expect(read.partitions[p]!.replicas).toEqual(replicas);
          expect(read.partitions[p]!.epoch).toBe(rev.n);
          expect(read.epoch).toBe(rev.n);
          expect(Object.keys(read.nodes)).toEqual([...named].sort());
          // Partitions the change did not touch are the same objects as before.
          read.partitions.forEach((y, i) => i !== p && expect(y).toBe(map.partitions[i]));
          map = read;
        }
      }),
      { numRuns: 60 },
    );
  });

  it('splits a large first map into transactions and shows no map until the header lands', () => {
    const planned = initialMap(meta(2048), ['n1', 'n2', 'n3'].map(node));
    const chunks = chunkDelta(diffMap(undefined, planned));
    expect(chunks.length).toBe(Math.ceil((2048 + 3) / LAYOUT_LIMITS.txnPutsMax));
    const cache = new StateCache();
    chunks.forEach((chunk, i) => {
      for (const [k, v] of chunk.puts) cache.apply(k, v, i + 1);
      expect(cache.snapshot().map).toBeUndefined();
    });
    cache.apply(KEYS.mapHeader, headerText(planned), chunks.length + 1);
    expect(cache.snapshot().map!.partitions.map((e) => e.replicas)).toEqual(planned.partitions.map((e) => e.replicas));
  });

  it('ignores a watch event not newer than what a key holds, and reports what changed', () => {
    const cache = new StateCache();
    cache.apply(`${KEYS.docs}a`, 'two', 5);
    expect(cache.apply(`${KEYS.docs}a`, 'one', 4)).toBe(false);
    expect(cache.getDoc('a')).toBe('two');
    expect(cache.takeChange()).toMatchObject({ docs: true, nodes: false, partitions: [] });
    expect(cache.takeChange()).toBeUndefined();
    expect(() => cache.apply(`${KEYS.mapPartition}x`, '{"replicas":["a"]}', 6)).toThrow(/names no partition/);
    expect(() => cache.apply(`${KEYS.mapPartition}1`, '{"replicas":', 7)).toThrow(/does not hold JSON/);
  });
});
