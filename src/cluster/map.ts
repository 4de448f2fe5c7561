// The partition map: which nodes hold each partition (leader first) and under which epoch. Pure data plus
// the functions that derive, change and index it; the coordinator stores it and every node routes by it.
import { z } from 'zod';
import { AtollError, assert } from '../errors.js';
import { planPlacement } from '../partitioning/placement.js';
import { SlotPartitioner } from '../partitioning/slots.js';
import { REDIS_SLOT_COUNT } from '../partitioning/hash.js';

/**
 * Default partition count. 2048 partitions of 8 slots each keep the busiest node within 5% of the mean at
 * every cluster size from 3 to 100 nodes (checked by test/cluster/map.test.ts), while a partition stays big
 * enough (1/2048 of the data) to be worth moving as a unit.
 */
export const DEFAULT_PARTITIONS = 2048;

export const CLUSTER_LIMITS = Object.freeze({ partitionsMax: REDIS_SLOT_COUNT, replicasMax: 7, nodesMax: 1000, idLengthMax: 64 });

/** A node as registered in the coordinator: how clients and peers reach it. */
export const ClusterNodeSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'node ids are 1-64 letters, digits, _ . or -'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    adminPort: z.number().int().min(0).max(65535),
    /** The TLS client port, when the node serves one: told to clients connected over TLS. */
    tlsPort: z.number().int().min(1).max(65535).optional(),
    zone: z.string().min(1).max(64),
    weight: z.number().positive().finite(),
  })
  .strict();
export type ClusterNode = z.infer<typeof ClusterNodeSchema>;

/** Cluster-wide settings fixed at creation. */
export const ClusterMetaSchema = z
  .object({
    clusterId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    partitions: z.number().int().min(1).max(CLUSTER_LIMITS.partitionsMax),
    replicas: z.number().int().min(1).max(CLUSTER_LIMITS.replicasMax),
    /** Nodes that must be registered before the controller places partitions for the first time. */
    initialNodes: z.number().int().min(1).max(CLUSTER_LIMITS.nodesMax),
    createdMs: z.number().int().nonnegative(),
    /**
     * When a write is acknowledged: async (the leader's local commit), quorum (a majority of replicas),
     * sync (every in-sync replica). See docs/replication.md.
     */
    ack: z.enum(['async', 'quorum', 'sync']).default('quorum'),
    /** Promote an out-of-sync replica when no safe one is left (may lose acknowledged writes). */
    uncleanPromotion: z.boolean().default(false),
    /** A node gone this long has its replicas rebuilt on other nodes (0: never). */
    replaceAfterMs: z.number().int().nonnegative().default(300_000),
  })
  .strict();
export type ClusterMeta = z.infer<typeof ClusterMetaSchema>;

export const PartitionEntrySchema = z.object({
  /** Replica node ids, leader first. */
  replicas: z.array(z.string()).min(1),
  /** The map epoch at which this partition last changed; replication messages carry it as their fence. */
  epoch: z.number().int().nonnegative(),
  /** In-sync replicas (leader included), when it differs from `replicas` (Kafka's ISR). */
  isr: z.array(z.string()).optional(),
});
export type PartitionEntry = z.infer<typeof PartitionEntrySchema>;

export const PartitionMapSchema = z
  .object({
    clusterId: z.string(),
    epoch: z.number().int().positive(),
    partitions: z.array(PartitionEntrySchema).min(1),
    /** Every node named by a partition, with its address at the time the map was written. */
    nodes: z.record(z.string(), ClusterNodeSchema),
  })
  .strict();
export type PartitionMap = z.infer<typeof PartitionMapSchema>;

/** Checks a map read from outside (coordinator, peer) and its internal references. */
export function parseMap(value: unknown): PartitionMap {
  const parsed = PartitionMapSchema.safeParse(value);
  if (!parsed.success) throw new AtollError('BAD_MAP', `partition map is malformed: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
  const map = parsed.data;
  for (const [p, entry] of map.partitions.entries()) {
    for (const id of entry.replicas) if (map.nodes[id] === undefined) throw new AtollError('BAD_MAP', `partition ${p} names node ${id}, which the map does not describe`);
    if (new Set(entry.replicas).size !== entry.replicas.length) throw new AtollError('BAD_MAP', `partition ${p} names a node twice`);
    if (entry.epoch > map.epoch) throw new AtollError('BAD_MAP', `partition ${p} has epoch ${entry.epoch} above the map's ${map.epoch}`);
    if (entry.isr !== undefined && (entry.isr[0] !== entry.replicas[0] || entry.isr.some((id) => !entry.replicas.includes(id)))) {
      throw new AtollError('BAD_MAP', `partition ${p} has an in-sync set that is not its leader plus some of its replicas`);
    }
  }
  return map;
}

/** The first map of a cluster: every partition placed by the planner over the given nodes (epoch 1). */
export function initialMap(meta: ClusterMeta, nodes: readonly ClusterNode[]): PartitionMap {
  if (nodes.length === 0) throw new AtollError('EMPTY_NODES', 'cannot place partitions on zero nodes');
  const plan = planPlacement({
    partitions: meta.partitions,
    replicas: meta.replicas,
    nodes: nodes.map((n) => ({ id: n.id, weight: n.weight, zone: n.zone })),
  });
  return {
    clusterId: meta.clusterId,
    epoch: 1,
    partitions: plan.assignment.map((replicas) => ({ replicas: [...replicas], epoch: 1 })),
    nodes: Object.fromEntries(nodes.map((n) => [n.id, n])),
  };
}

/**
 * A new map in which `partition` is held by `replicas` (leader first), at the next epoch. Nodes are taken
 * from `known` so a newly joined node can receive partitions; nodes no partition names any more are dropped.
 */
export function reassign(map: PartitionMap, partition: number, replicas: readonly string[], known: readonly ClusterNode[]): PartitionMap {
  if (!Number.isInteger(partition) || partition < 0 || partition >= map.partitions.length) {
    throw new AtollError('UNKNOWN_PARTITION', `partition ${partition} does not exist (the map has ${map.partitions.length})`);
  }
  if (replicas.length === 0) throw new AtollError('EMPTY_NODES', 'a partition needs at least one replica');
  if (new Set(replicas).size !== replicas.length) throw new AtollError('DUPLICATE_NODE', `replica list names a node twice: ${replicas.join(',')}`);
  const byId = new Map<string, ClusterNode>(Object.entries(map.nodes));
  for (const n of known) byId.set(n.id, n);
  for (const id of replicas) if (!byId.has(id)) throw new AtollError('UNKNOWN_NODE', `node ${id} is not registered in the cluster`);
  const epoch = map.epoch + 1;
  const partitions = map.partitions.map((e, p) => (p === partition ? { replicas: [...replicas], epoch } : e));
  const named = new Set(partitions.flatMap((e) => e.replicas));
  return { clusterId: map.clusterId, epoch, partitions, nodes: Object.fromEntries([...byId].filter(([id]) => named.has(id))) };
}

/** In-sync replicas of a partition, leader first. */
export function inSync(entry: PartitionEntry): readonly string[] {
  return entry.isr ?? entry.replicas;
}

/** A new map (next epoch) in which one partition's entry is replaced; used for ISR changes and failover. */
export function withEntry(map: PartitionMap, partition: number, entry: { replicas: readonly string[]; isr?: readonly string[] }): PartitionMap {
  const epoch = map.epoch + 1;
  const isr = entry.isr === undefined || sameList(entry.isr, entry.replicas) ? undefined : [...entry.isr];
  const next: PartitionEntry = { replicas: [...entry.replicas], epoch, ...(isr === undefined ? {} : { isr }) };
  return { ...map, epoch, partitions: map.partitions.map((e, p) => (p === partition ? next : e)) };
}

/** The same map with node addresses refreshed from the registry (a node restarted on a new port). */
export function withAddresses(map: PartitionMap, live: readonly ClusterNode[]): PartitionMap | undefined {
  let changed = false;
  const nodes = { ...map.nodes };
  for (const n of live) {
    const old = nodes[n.id];
    if (old !== undefined && (old.host !== n.host || old.port !== n.port || old.adminPort !== n.adminPort)) {
      nodes[n.id] = n;
      changed = true;
    }
  }
  return changed ? { ...map, epoch: map.epoch + 1, nodes } : undefined;
}

/**
 * A map indexed for the hot path: slot -> partition -> leader in two array reads, plus the slot ranges that
 * CLUSTER SLOTS/SHARDS/NODES print. Built once per map epoch.
 */
/** Whether two maps name the same node ids (addresses may differ: the table holds ids only). */
function sameNodes(a: PartitionMap, b: PartitionMap): boolean {
  if (a.nodes === b.nodes) return true;
  const ka = Object.keys(a.nodes);
  const kb = Object.keys(b.nodes);
  return ka.length === kb.length && ka.every((id) => b.nodes[id] !== undefined);
}

export class RoutingTable {
  readonly map: PartitionMap;
  readonly slots: SlotPartitioner;
  /** Leader node id of each partition. */
  readonly leaders: readonly string[];
  /** Ordinal of each slot's leader in `nodeIds`. */
  private readonly slotLeader: Uint16Array;
  readonly nodeIds: readonly string[];

  /** Each node id's ordinal in `nodeIds`. */
  private readonly ordinal: ReadonlyMap<string, number>;

  /**
   * The table for `map`. Given the table of an earlier map with the same partition count and nodes, only the
   * partitions whose entries changed are redone (maps from the coordinator's cache share unchanged entries);
   * a map change during a rebalance then costs its changes, not a rebuild of 16,384 slots and every partition.
   */
  constructor(map: PartitionMap, prev?: RoutingTable) {
    this.map = map;
    const reuse = prev !== undefined && prev.map.partitions.length === map.partitions.length && sameNodes(prev.map, map);
    this.slots = reuse ? prev.slots : new SlotPartitioner({ partitions: map.partitions.length });
    this.nodeIds = reuse ? prev.nodeIds : Object.keys(map.nodes).sort();
    this.ordinal = reuse ? prev.ordinal : new Map(this.nodeIds.map((id, i) => [id, i]));
    if (reuse) {
      const leaders = [...prev.leaders];
      this.slotLeader = prev.slotLeader.slice();
      for (let p = 0; p < map.partitions.length; p++) {
        const e = map.partitions[p]!;
        if (e === prev.map.partitions[p] || e.replicas[0] === leaders[p]) continue;
        leaders[p] = e.replicas[0]!;
        this.fillSlots(p, leaders[p]!);
      }
      this.leaders = leaders;
      return;
    }
    this.leaders = map.partitions.map((e) => e.replicas[0]!);
    this.slotLeader = new Uint16Array(REDIS_SLOT_COUNT);
    for (let p = 0; p < map.partitions.length; p++) this.fillSlots(p, this.leaders[p]!);
  }

  private fillSlots(p: number, leader: string): void {
    const { first, last } = this.slots.slotRange(p);
    const o = this.ordinal.get(leader);
    assert(o !== undefined, `partition ${p} leader is not in the node table`);
    this.slotLeader.fill(o, first, last + 1);
  }

  get epoch(): number {
    return this.map.epoch;
  }

  partitionOfSlot(slot: number): number {
    return this.slots.partitionForSlot(slot);
  }

  leaderOfSlot(slot: number): ClusterNode {
    return this.map.nodes[this.nodeIds[this.slotLeader[slot]!]!]!;
  }

  leaderIdOfSlot(slot: number): string {
    return this.nodeIds[this.slotLeader[slot]!]!;
  }

  /** Maximal runs of consecutive slots with the same replica list, in slot order (for CLUSTER SLOTS). */
  slotRuns(): { first: number; last: number; replicas: readonly string[] }[] {
    const runs: { first: number; last: number; replicas: readonly string[] }[] = [];
    for (let p = 0; p < this.map.partitions.length; p++) {
      const { first, last } = this.slots.slotRange(p);
      const replicas = this.map.partitions[p]!.replicas;
      const prev = runs[runs.length - 1];
      if (prev !== undefined && prev.last + 1 === first && sameList(prev.replicas, replicas)) prev.last = last;
      else runs.push({ first, last, replicas });
    }
    return runs;
  }

  /** Slot ranges each node leads, for CLUSTER NODES / SHARDS. */
  rangesLedBy(id: string): { first: number; last: number }[] {
    return this.slotRuns()
      .filter((r) => r.replicas[0] === id)
      .reduce<{ first: number; last: number }[]>((acc, r) => {
        const prev = acc[acc.length - 1];
        if (prev !== undefined && prev.last + 1 === r.first) prev.last = r.last;
        else acc.push({ first: r.first, last: r.last });
        return acc;
      }, []);
  }

  partitionsOf(id: string): { led: number; followed: number } {
    let led = 0;
    let followed = 0;
    for (const e of this.map.partitions) {
      if (e.replicas[0] === id) led++;
      else if (e.replicas.includes(id)) followed++;
    }
    return { led, followed };
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
