// The coordinator interface: cluster settings, node registry with leases, the partition map with
// compare-and-set on its epoch, and controller election. Only implementations of this talk to etcd.
import { AtollError } from '../errors.js';
import type { ClusterMeta, ClusterNode, PartitionMap } from '../cluster/map.js';

/** A node's live registration: held by a lease that the implementation keeps alive until close(). */
export interface Registration {
  readonly node: ClusterNode;
  /** Called once if the lease is lost (expired while the process was paused, coordinator unreachable). */
  onLost(handler: (reason: string) => void): void;
  /**
   * Local wall-clock ms until which this node may take its registration as alive: the start of its last
   * confirmed keep-alive plus the TTL less LEASE_DRIFT_MARGIN. The coordinator cannot have declared the node
   * gone before then (within the bounded clock drift), so a leader may serve reads alone until then.
   */
  validUntilMs(): number;
  /** Revokes the lease: the node leaves the registry and gives up the controller role if it held it. */
  close(): Promise<void>;
}

/** How often the controller compacts the coordinator's history (the Kubernetes API server does every 5 minutes). */
export const COMPACT_EVERY_MS = 60_000;

/** Everything a node or router needs to route and decide, read at one point in time. */
export interface CoordinatorSnapshot {
  readonly meta: ClusterMeta | undefined;
  readonly nodes: readonly ClusterNode[];
  readonly map: PartitionMap | undefined;
  readonly controller: string | undefined;
  /** The coordinator revision this snapshot reflects in full. */
  readonly revision: number;
}

/** What a watch notification says changed; `partitions` lists the changed partitions or says 'all'. */
export interface CoordinatorChange {
  readonly partitions: readonly number[] | 'all';
  readonly nodes: boolean;
  readonly controller: boolean;
  readonly docs: boolean;
  readonly meta: boolean;
}

export interface Coordinator {
  /** "memory" or the etcd URL, as given. */
  readonly url: string;
  /** Creates the cluster, or returns the existing one if its settings match (CLUSTER_EXISTS otherwise). */
  createCluster(meta: ClusterMeta): Promise<ClusterMeta>;
  /**
   * Everything at one revision. Served from a local cache that the watch keeps current (no read of the
   * coordinator per call); it may trail the coordinator by the watch's delay, which the CAS guards absorb.
   */
  snapshot(): Promise<CoordinatorSnapshot>;
  /** Registers a node under a lease of `leaseTtlMs`; NODE_ID_TAKEN if a live node holds the id. */
  register(node: ClusterNode, leaseTtlMs: number): Promise<Registration>;
  /**
   * Writes the partitions and node records in which `next` differs from `base`, only if the stored map is
   * still at `base.epoch` (undefined: no map yet). Returns the map as stored afterwards, or undefined if the
   * guard failed. A change larger than one etcd transaction goes out as several, each one epoch further and
   * each guarded; if a later one loses its guard, the earlier ones stay and undefined is returned (every
   * partition's change is valid on its own; the caller decides again from the new map).
   */
  casMap(base: PartitionMap | undefined, next: PartitionMap): Promise<PartitionMap | undefined>;
  /**
   * Stands for controller with the registration's lease: takes the role if it is free now, and again
   * whenever it falls free while the registration lives. The holder is visible in snapshot().controller.
   */
  campaign(registration: Registration): void;
  /** A small named document (e.g. a rebalance plan, as JSON), or undefined. */
  getDoc(name: string): Promise<string | undefined>;
  /** Writes `next` only if the document is now `expected` (undefined: absent). False if it was not. */
  casDoc(name: string, expected: string | undefined, next: string): Promise<boolean>;
  /** Deletes the document only if it is now `expected`. False if it was not. */
  deleteDoc(name: string, expected: string): Promise<boolean>;
  /** Names and values of the documents whose names start with `prefix`. */
  listDocs(prefix: string): Promise<Map<string, string>>;
  /** Calls `onChange` (coalesced, with what changed) after any change to settings, registry, map, controller or documents. */
  watch(onChange: (change: CoordinatorChange) => void): () => void;
  /**
   * Drops the history older than the last `keepRevisions` revisions (etcd keeps every old value until
   * compacted, and refuses writes once its quota fills). Returns the revision compacted to, if any.
   */
  compact(keepRevisions?: number): Promise<number | undefined>;
  close(): Promise<void>;
}

/** Share of a lease's TTL a node does not count on (clock drift between node and coordinator, scheduling). */
export const LEASE_DRIFT_MARGIN = 0.2;

/** Lease time-to-live for node registrations: a node silent this long is declared gone. */
export const LEASE_TTL_MS_DEFAULT = 2_000;

/** Parses a --coordinator value: "memory" or "etcd://host:port[,host:port...]". */
export function parseCoordinatorUrl(url: string): { kind: 'memory' } | { kind: 'etcd'; hosts: string[]; tls: boolean } {
  if (url === 'memory') return { kind: 'memory' };
  const m = /^etcd(s?):\/\/([^/]+)\/?$/.exec(url);
  if (m) {
    const hosts = m[2]!.split(',');
    if (hosts.every((h) => /^[A-Za-z0-9.-]+:\d{1,5}$/.test(h) && Number(h.split(':')[1]) <= 65535)) return { kind: 'etcd', hosts, tls: m[1] === 's' };
  }
  throw new AtollError('BAD_COORDINATOR_URL', `coordinator URL must be "memory", "etcd://host:port[,host:port...]" or "etcds://..." (TLS), got "${url}"`);
}

/** Settings that must agree for an existing cluster to be joined by `createCluster` again. */
export function sameClusterSettings(a: ClusterMeta, b: ClusterMeta): boolean {
  return a.clusterId === b.clusterId && a.partitions === b.partitions && a.replicas === b.replicas && a.ack === b.ack;
}

/** Opens the coordinator a URL names; etcd is checked for reachability first so a bad address fails fast. */
export async function openCoordinator(url: string, memory?: () => Coordinator): Promise<Coordinator> {
  const parsed = parseCoordinatorUrl(url);
  if (parsed.kind === 'memory') {
    if (memory === undefined) throw new AtollError('BAD_COORDINATOR_URL', 'the memory coordinator lives inside one process (atoll demo); separate processes need etcd://');
    return memory();
  }
  const { EtcdCoordinator } = await import('./etcd.js');
  const { etcdAccessFromEnv } = await import('./etcd-access.js');
  const c = new EtcdCoordinator(url, parsed.hosts, etcdAccessFromEnv(parsed.tls));
  try {
    await c.connect();
  } catch (e) {
    await c.close();
    throw e;
  }
  return c;
}
