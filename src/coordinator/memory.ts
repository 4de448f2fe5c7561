// In-process coordinator with the same semantics as the etcd one (leases that expire, epoch CAS, one
// controller), for `atoll demo` and fast tests. Lease expiry runs off the injected clock, swept by a timer.
import { AtollError } from '../errors.js';
import type { ClusterMeta, ClusterNode, PartitionMap } from '../cluster/map.js';
import type { Clock } from '../storage/engine.js';
import { LEASE_DRIFT_MARGIN, sameClusterSettings, type Coordinator, type CoordinatorChange, type CoordinatorSnapshot, type Registration } from './coordinator.js';
import { diffMap } from './layout.js';

interface Lease {
  readonly node: ClusterNode;
  readonly ttlMs: number;
  expiresMs: number;
  lost: ((reason: string) => void)[];
  closed: boolean;
}

/** How often leases are checked and kept alive. */
export const MEMORY_COORDINATOR_TICK_MS = 200;

export class MemoryCoordinator implements Coordinator {
  readonly url = 'memory';
  private meta: ClusterMeta | undefined;
  private map: PartitionMap | undefined;
  private readonly leases = new Map<string, Lease>();
  private controllerId: string | undefined;
  private readonly candidates = new Set<Lease>();
  private readonly watchers = new Set<(change: CoordinatorChange) => void>();
  private notifyScheduled = false;
  /** Bumped by every change, as etcd's revision is. */
  private revision = 0;
  private pending: { partitions: Set<number> | 'all'; nodes: boolean; controller: boolean; docs: boolean; meta: boolean } = noChange();
  private readonly stopTimer: () => void;
  private readonly docs = new Map<string, string>();
  /** Nodes whose keep-alive is withheld (a simulated pause): their leases run out. */
  readonly paused = new Set<string>();

  /** `every` runs the lease sweep (real timers by default; the seeded simulator passes virtual ones). */
  constructor(
    private readonly clock: Clock,
    every: (everyMs: number, fn: () => void) => () => void = realEvery,
  ) {
    this.stopTimer = every(MEMORY_COORDINATOR_TICK_MS, () => this.tick());
  }

  /** Keeps live leases alive, expires the rest, and hands a free controller role to a candidate. */
  tick(): void {
    const now = this.clock.nowMs();
    for (const [id, lease] of this.leases) {
      if (!this.paused.has(id)) lease.expiresMs = now + lease.ttlMs;
      else if (lease.expiresMs <= now) this.expire(lease, 'lease expired');
    }
  }

  async createCluster(meta: ClusterMeta): Promise<ClusterMeta> {
    if (this.meta === undefined) {
      this.meta = meta;
      this.changed({ meta: true });
      return meta;
    }
    if (!sameClusterSettings(this.meta, meta)) {
      throw new AtollError('CLUSTER_EXISTS', `the coordinator already holds cluster ${this.meta.clusterId} (${this.meta.partitions} partitions, ${this.meta.replicas} replicas)`);
    }
    return this.meta;
  }

  async snapshot(): Promise<CoordinatorSnapshot> {
    return { meta: this.meta, nodes: [...this.leases.values()].map((l) => l.node), map: this.map, controller: this.controllerId, revision: this.revision };
  }

  /** The map as it stands now, read synchronously (for the simulator's clients and checks). */
  mapNow(): PartitionMap | undefined {
    return this.map;
  }

  async register(node: ClusterNode, leaseTtlMs: number): Promise<Registration> {
    if (this.leases.has(node.id)) throw new AtollError('NODE_ID_TAKEN', `a live node is already registered as ${node.id}`);
    const lease: Lease = { node, ttlMs: leaseTtlMs, expiresMs: this.clock.nowMs() + leaseTtlMs, lost: [], closed: false };
    this.leases.set(node.id, lease);
    this.changed({ nodes: true });
    return {
      node,
      onLost: (h) => void lease.lost.push(h),
      // The sweep renews live leases every tick, so a lease is good until its expiry less the margin.
      validUntilMs: () => (lease.closed || !this.leases.has(node.id) ? 0 : lease.expiresMs - lease.ttlMs * LEASE_DRIFT_MARGIN),
      close: async () => {
        if (lease.closed) return;
        lease.closed = true;
        this.drop(lease);
      },
    };
  }

  async casMap(base: PartitionMap | undefined, next: PartitionMap): Promise<PartitionMap | undefined> {
    // As on etcd: each changed partition is guarded by the epoch it had, and takes the new revision as its epoch.
    const first = this.map === undefined;
    if (first !== (base === undefined)) return undefined;
    const delta = diffMap(base, next);
    for (const [p, { baseEpoch }] of delta.partitions) if (baseEpoch !== undefined && this.map?.partitions[p]?.epoch !== baseEpoch) return undefined;
    const epoch = this.revision + 1;
    const partitions = first ? next.partitions.map((e) => ({ ...e, epoch })) : [...this.map!.partitions];
    if (!first) for (const [p, { entry }] of delta.partitions) partitions[p] = { ...entry, epoch };
    const named = new Set(partitions.flatMap((e) => e.replicas));
    const nodes = Object.fromEntries(Object.entries({ ...this.map?.nodes, ...next.nodes }).filter(([id]) => named.has(id) && (next.nodes[id] !== undefined || !delta.nodesDropped.includes(id))));
    this.map = { clusterId: next.clusterId, epoch, partitions, nodes };
    this.changed({ partitions: first ? 'all' : [...delta.partitions.keys()], all: delta.nodesPut.length + delta.nodesDropped.length > 0 });
    return this.map;
  }

  campaign(registration: Registration): void {
    const lease = this.leases.get(registration.node.id);
    if (lease === undefined) return;
    this.candidates.add(lease);
    this.elect();
  }

  async getDoc(name: string): Promise<string | undefined> {
    return this.docs.get(name);
  }

  async casDoc(name: string, expected: string | undefined, next: string): Promise<boolean> {
    if (this.docs.get(name) !== expected) return false;
    this.docs.set(name, next);
    this.changed({ docs: true });
    return true;
  }

  async deleteDoc(name: string, expected: string): Promise<boolean> {
    if (this.docs.get(name) !== expected) return false;
    this.docs.delete(name);
    this.changed({ docs: true });
    return true;
  }

  async listDocs(prefix: string): Promise<Map<string, string>> {
    return new Map([...this.docs].filter(([k]) => k.startsWith(prefix)));
  }

  watch(onChange: (change: CoordinatorChange) => void): () => void {
    this.watchers.add(onChange);
    return () => this.watchers.delete(onChange);
  }

  /** The memory coordinator keeps no history. */
  async compact(): Promise<number | undefined> {
    return undefined;
  }

  async close(): Promise<void> {
    this.stopTimer();
    this.watchers.clear();
  }

  private expire(lease: Lease, reason: string): void {
    this.drop(lease);
    for (const h of lease.lost) h(reason);
  }

  private drop(lease: Lease): void {
    if (this.leases.get(lease.node.id) !== lease) return;
    this.leases.delete(lease.node.id);
    this.candidates.delete(lease);
    if (this.controllerId === lease.node.id) this.controllerId = undefined;
    this.elect();
    this.changed({ nodes: true, controller: true });
  }

  private elect(): void {
    if (this.controllerId !== undefined) return;
    // First come, first served, as etcd's create-if-absent race is in practice.
    const next = this.candidates.values().next();
    if (next.done === true) return;
    this.controllerId = next.value.node.id;
    this.changed({ controller: true });
  }

  private changed(what: { partitions?: readonly number[] | 'all'; all?: boolean; nodes?: boolean; controller?: boolean; docs?: boolean; meta?: boolean }): void {
    this.revision++;
    const p = this.pending;
    if (what.all === true || what.partitions === 'all') p.partitions = 'all';
    else if (what.partitions !== undefined && p.partitions !== 'all') for (const x of what.partitions) p.partitions.add(x);
    p.nodes ||= what.nodes === true || what.all === true;
    p.controller ||= what.controller === true || what.all === true;
    p.docs ||= what.docs === true || what.all === true;
    p.meta ||= what.meta === true || what.all === true;
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    queueMicrotask(() => {
      this.notifyScheduled = false;
      const c = this.pending;
      this.pending = noChange();
      const change: CoordinatorChange = { ...c, partitions: c.partitions === 'all' ? 'all' : [...c.partitions].sort((a, b) => a - b) };
      for (const w of [...this.watchers]) w(change);
    });
  }
}

function realEvery(everyMs: number, fn: () => void): () => void {
  const t = setInterval(fn, everyMs);
  t.unref();
  return () => clearInterval(t);
}

function noChange(): { partitions: Set<number> | 'all'; nodes: boolean; controller: boolean; docs: boolean; meta: boolean } {
  return { partitions: new Set(), nodes: false, controller: false, docs: false, meta: false };
}
