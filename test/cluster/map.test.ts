// The partition map and the controller's decisions: default partition count balance, parsing, epochs,
// routing table agreement with the slot partitioner.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { expectCode } from '../helpers.js';
import { DEFAULT_PARTITIONS, RoutingTable, initialMap, parseMap, reassign, withAddresses, type ClusterMeta, type ClusterNode } from '../../src/cluster/map.js';
import { nextMap } from '../../src/cluster/controller.js';
import { planPlacement } from '../../src/partitioning/placement.js';
import { keySlot } from '../../src/partitioning/hash.js';
import { SlotPartitioner } from '../../src/partitioning/slots.js';

const meta = (partitions: number, replicas = 1, initialNodes = 3): ClusterMeta => ({ clusterId: 'c1', partitions, replicas, initialNodes, createdMs: 0, ack: 'quorum', uncleanPromotion: false, replaceAfterMs: 0 });
const node = (id: string, port = 7000, zone = 'z'): ClusterNode => ({ id, host: '127.0.0.1', port, adminPort: 0, zone, weight: 1 });
const nodes = (n: number): ClusterNode[] => Array.from({ length: n }, (_, i) => node(`n${i}`, 7000 + i));

describe('default partition count', () => {
  it('keeps every cluster of 3 to 100 nodes within 5% of the mean, for leaders and replicas', () => {
    for (let n = 3; n <= 100; n++) {
      for (const replicas of [1, 3]) {
        const plan = planPlacement({ partitions: DEFAULT_PARTITIONS, replicas, nodes: Array.from({ length: n }, (_, i) => `n${i}`) });
        expect(plan.stats.replicaMaxOverMean, `${n} nodes, R=${replicas}`).toBeLessThanOrEqual(1.05);
        expect(plan.stats.leaderMaxOverMean, `${n} nodes, R=${replicas} leaders`).toBeLessThanOrEqual(1.05);
      }
    }
  });
});

describe('partition map', () => {
  it('initial map: epoch 1, every partition placed on known nodes, parse round-trips', () => {
    const m = initialMap(meta(64), nodes(3));
    expect(m.epoch).toBe(1);
    expect(m.partitions).toHaveLength(64);
    for (const e of m.partitions) expect(Object.keys(m.nodes)).toContain(e.replicas[0]);
    expect(parseMap(JSON.parse(JSON.stringify(m)))).toEqual(m);
  });

  it('reassign bumps the epoch of the map and the partition, and checks its input', () => {
    const m = initialMap(meta(16), nodes(3));
    const joined = node('n9', 7009);
    const next = reassign(m, 5, ['n9'], [...nodes(3), joined]);
    expect(next.epoch).toBe(2);
    expect(next.partitions[5]).toEqual({ replicas: ['n9'], epoch: 2 });
    expect(next.partitions[4]).toEqual(m.partitions[4]);
    expect(next.nodes.n9).toEqual(joined);
    expectCode(() => reassign(m, 16, ['n0'], []), 'UNKNOWN_PARTITION');
    expectCode(() => reassign(m, 1, ['zz'], []), 'UNKNOWN_NODE');
    expectCode(() => reassign(m, 1, ['n0', 'n0'], []), 'DUPLICATE_NODE');
    expectCode(() => reassign(m, 1, [], []), 'EMPTY_NODES');
  });

  it('parseMap rejects malformed maps with BAD_MAP', () => {
    const m = initialMap(meta(4), nodes(2));
    expectCode(() => parseMap({ ...m, epoch: 0 }), 'BAD_MAP');
    expectCode(() => parseMap({ ...m, nodes: {} }), 'BAD_MAP');
    expectCode(() => parseMap({ ...m, partitions: [{ replicas: ['n0', 'n0'], epoch: 1 }] }), 'BAD_MAP');
    expectCode(() => parseMap({ ...m, partitions: [{ replicas: ['n0'], epoch: 5 }] }), 'BAD_MAP');
    expectCode(() => parseMap('nonsense'), 'BAD_MAP');
  });

  it('withAddresses bumps the epoch only when a node moved', () => {
    const m = initialMap(meta(8), nodes(2));
    expect(withAddresses(m, nodes(2))).toBeUndefined();
    const moved = withAddresses(m, [node('n0', 9999)]);
    expect(moved?.epoch).toBe(2);
    expect(moved?.nodes.n0?.port).toBe(9999);
  });
});

describe('routing table', () => {
  it('agrees with the slot partitioner and the map for random keys, and its runs tile 0..16383', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 512 }), fc.array(fc.string(), { maxLength: 50 }), (n, partitions, keys) => {
        const m = initialMap(meta(partitions), nodes(n));
        const t = new RoutingTable(m);
        const slots = new SlotPartitioner({ partitions });
        for (const k of keys) {
          const slot = keySlot(k);
          expect(t.leaderIdOfSlot(slot)).toBe(m.partitions[slots.partitionFor(k)]!.replicas[0]);
          expect(t.leaderOfSlot(slot)).toEqual(m.nodes[t.leaderIdOfSlot(slot)]);
        }
        let next = 0;
        for (const r of t.slotRuns()) {
          expect(r.first).toBe(next);
          next = r.last + 1;
        }
        expect(next).toBe(16384);
        const led = t.nodeIds.reduce((sum, id) => sum + t.rangesLedBy(id).reduce((s, r) => s + r.last - r.first + 1, 0), 0);
        expect(led).toBe(16384);
      }),
      { numRuns: 60 },
    );
  });
});

describe('routing table, derived from the previous one', () => {
  it('equals a table built from scratch after any sequence of leader changes and node joins', () => {
    const change = fc.oneof(
      fc.record({ kind: fc.constant('lead' as const), partition: fc.nat(63), node: fc.nat(5) }),
      fc.record({ kind: fc.constant('join' as const), partition: fc.nat(63), node: fc.nat(5) }),
    );
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), (changes) => {
        let map = initialMap(meta(64, 2, 3), nodes(3));
        let table = new RoutingTable(map);
        for (const c of changes) {
          const ids = Object.keys(map.nodes);
          const epoch = map.epoch + 1;
          const e = map.partitions[c.partition]!;
          // A leader change among the map's nodes, or a new node taking the lead (the node table grows).
          const leader = c.kind === 'lead' ? ids[c.node % ids.length]! : `x${c.node}`;
          const replicas = [leader, ...e.replicas.filter((id) => id !== leader)];
          const extra = map.nodes[leader] === undefined ? { [leader]: node(leader) } : {};
          map = { ...map, epoch, partitions: map.partitions.map((x, i) => (i === c.partition ? { replicas, epoch } : x)), nodes: { ...map.nodes, ...extra } };
          table = new RoutingTable(map, table);
          const fresh = new RoutingTable(map);
          expect(table.leaders).toEqual(fresh.leaders);
          expect(table.nodeIds).toEqual(fresh.nodeIds);
          for (let slot = 0; slot < 16384; slot += 61) expect(table.leaderIdOfSlot(slot)).toBe(fresh.leaderIdOfSlot(slot));
          expect(table.slotRuns()).toEqual(fresh.slotRuns());
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('controller decisions', () => {
  it('waits for the initial node count, then places; later only refreshes addresses', () => {
    expect(nextMap({ meta: undefined, nodes: nodes(3), map: undefined })).toBeUndefined();
    expect(nextMap({ meta: meta(32, 1, 3), nodes: nodes(2), map: undefined })).toBeUndefined();
    const first = nextMap({ meta: meta(32, 1, 3), nodes: nodes(3), map: undefined })!;
    expect(first.epoch).toBe(1);
    // Registration order must not matter: every controller computes the same first map.
    expect(nextMap({ meta: meta(32, 1, 3), nodes: [...nodes(3)].reverse(), map: undefined })).toEqual(first);
    expect(nextMap({ meta: meta(32, 1, 3), nodes: nodes(3), map: first })).toBeUndefined();
    expect(nextMap({ meta: meta(32, 1, 3), nodes: nodes(2), map: first })).toBeUndefined();
    expect(nextMap({ meta: meta(32, 1, 3), nodes: [node('n1', 8001)], map: first })?.nodes.n1?.port).toBe(8001);
  });
});
