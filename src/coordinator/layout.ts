// The coordinator's key layout (design G) and the map deltas written into it, pure: which keys a map change
// touches, split into transactions within etcd's limits, and the local cache that watch events update.
// The map is stored per partition, so a change writes only the partitions it changes. A partition's epoch is
// the etcd revision that last wrote its key (CockroachDB keeps a descriptor per range, Kafka a leader epoch
// per partition): writers guard each key they change on the revision they read, so writers of different
// partitions (leaders changing their in-sync sets, the controller failing a node over) never conflict.
//
//   atoll/meta                   cluster settings (JSON), fixed at creation
//   atoll/nodes/<id>             live registrations, each under its node's lease
//   atoll/controller             the controller's node id, under its lease
//   atoll/map/header             {clusterId, partitions}, written once after a first map's partitions
//   atoll/map/p/<partition>      one partition's {replicas, isr?} (JSON); its epoch is its mod revision
//   atoll/map/nodes/<id>         address of a node the map names (JSON), kept after the node dies
//   atoll/docs/<name>            small documents: rebalance plans and settings
// The map's epoch is the highest revision among the map's keys. Room left for what comes next, each under
// its own prefix so a watch can take it alone or with the rest: atoll/keyspaces/<name>, atoll/acl/<user>,
// atoll/txn/<id>.
import { z } from 'zod';
import { AtollError } from '../errors.js';
import { ClusterMetaSchema, ClusterNodeSchema, PartitionEntrySchema, type ClusterMeta, type ClusterNode, type PartitionEntry, type PartitionMap } from '../cluster/map.js';
import type { CoordinatorChange, CoordinatorSnapshot } from './coordinator.js';

export const PREFIX = 'atoll/';
export const KEYS = Object.freeze({
  meta: `${PREFIX}meta`,
  controller: `${PREFIX}controller`,
  nodes: `${PREFIX}nodes/`,
  mapHeader: `${PREFIX}map/header`,
  mapPartition: `${PREFIX}map/p/`,
  mapNode: `${PREFIX}map/nodes/`,
  docs: `${PREFIX}docs/`,
});

export const LAYOUT_LIMITS = Object.freeze({
  /**
   * Keys written per etcd transaction. etcd refuses a transaction with more than --max-txn-ops (128 by
   * default) compares or operations; a few are kept spare.
   */
  txnPutsMax: 120,
  /** Bytes of values per transaction, well under etcd's 1.5 MiB request limit. */
  txnBytesMax: 512 * 1024,
});

const MapHeaderSchema = z.object({ clusterId: z.string(), partitions: z.number().int().positive() }).strict();
type MapHeader = z.infer<typeof MapHeaderSchema>;
/** A partition as stored: its epoch is not in the value but is the key's revision. */
const StoredEntrySchema = PartitionEntrySchema.omit({ epoch: true }).strict();

export function headerText(map: { clusterId: string; partitions: readonly unknown[] }): string {
  return JSON.stringify({ clusterId: map.clusterId, partitions: map.partitions.length });
}

/** The stored text of a partition's entry (without its epoch). */
export function entryText(e: PartitionEntry): string {
  return JSON.stringify(e.isr === undefined ? { replicas: e.replicas } : { replicas: e.replicas, isr: e.isr });
}

/** The keys and values one map change writes: changed partitions (with the epoch each had), node records. */
export interface MapDelta {
  readonly partitions: ReadonlyMap<number, { entry: PartitionEntry; baseEpoch: number | undefined }>;
  readonly nodesPut: readonly ClusterNode[];
  readonly nodesDropped: readonly string[];
}

/** What changed from `base` (undefined: nothing stored yet) to `next`. Entries are compared by value. */
export function diffMap(base: PartitionMap | undefined, next: PartitionMap): MapDelta {
  const partitions = new Map<number, { entry: PartitionEntry; baseEpoch: number | undefined }>();
  next.partitions.forEach((e, p) => {
    const old = base?.partitions[p];
    if (old === e) return;
    if (old === undefined || !sameEntry(old, e)) partitions.set(p, { entry: e, baseEpoch: old?.epoch });
  });
  const nodesPut = Object.values(next.nodes).filter((n) => {
    const old = base?.nodes[n.id];
    return old === undefined || JSON.stringify(old) !== JSON.stringify(n);
  });
  const nodesDropped = base === undefined ? [] : Object.keys(base.nodes).filter((id) => next.nodes[id] === undefined);
  return { partitions, nodesPut, nodesDropped };
}

function sameEntry(a: PartitionEntry, b: PartitionEntry): boolean {
  return a.epoch === b.epoch && sameList(a.replicas, b.replicas) && sameList(a.isr ?? [], b.isr ?? []);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** One transaction: keys that must still be at a revision (0: absent), keys to put, keys to delete. */
export interface TxnWrites {
  readonly guards: [string, number][];
  readonly puts: [string, string][];
  readonly deletes: string[];
}

/**
 * The delta as transactions within LAYOUT_LIMITS. Node records go out in the first, before any partition
 * names them; drops in the last, after none does. Each partition put is guarded by the epoch it had.
 */
export function chunkDelta(delta: MapDelta): TxnWrites[] {
  const chunks: TxnWrites[] = [];
  let cur: TxnWrites = { guards: [], puts: delta.nodesPut.map((n) => [KEYS.mapNode + n.id, JSON.stringify(n)]), deletes: [] };
  let bytes = cur.puts.reduce((a, [k, v]) => a + k.length + v.length, 0);
  for (const [p, { entry, baseEpoch }] of [...delta.partitions].sort((a, b) => a[0] - b[0])) {
    if (cur.puts.length >= LAYOUT_LIMITS.txnPutsMax || bytes > LAYOUT_LIMITS.txnBytesMax) {
      chunks.push(cur);
      cur = { guards: [], puts: [], deletes: [] };
      bytes = 0;
    }
    const key = KEYS.mapPartition + p;
    const value = entryText(entry);
    cur.puts.push([key, value]);
    if (baseEpoch !== undefined) cur.guards.push([key, baseEpoch]);
    bytes += key.length + value.length;
  }
  const deletes = delta.nodesDropped.map((id) => KEYS.mapNode + id);
  if (cur.puts.length + deletes.length > LAYOUT_LIMITS.txnPutsMax) {
    chunks.push(cur);
    cur = { guards: [], puts: [], deletes: [] };
  }
  cur.deletes.push(...deletes);
  if (cur.puts.length + cur.deletes.length > 0 || chunks.length === 0) chunks.push(cur);
  return chunks;
}

/**
 * The coordinator's state as watch events left it: every key under PREFIX with the revision it was last
 * written at, and the snapshot derived from it. Events are applied in revision order (a full read, then the
 * watch), so the cache always holds every change up to `revision`: a map it assembles is complete up to its
 * epoch. Events not newer than what a key holds are ignored (a watch resumed from an earlier revision).
 */
export class StateCache {
  private meta: ClusterMeta | undefined;
  private readonly live = new Map<string, ClusterNode>();
  private controller: string | undefined;
  private header: MapHeader | undefined;
  /** Highest revision among the map's keys: the map's epoch. */
  private mapRevision = 0;
  private partitions: (PartitionEntry | undefined)[] = [];
  /** Partitions present, and how many of them name each node: kept per event so a snapshot costs O(P) copying, not O(P x R). */
  private present = 0;
  private readonly named = new Map<string, number>();
  private readonly mapNodes = new Map<string, ClusterNode>();
  private readonly docs = new Map<string, string>();
  /** Revision each key was last put or deleted at (deleted keys keep theirs; bounded by the keys ever seen). */
  private readonly keyRevision = new Map<string, number>();
  /** Highest revision this cache reflects in full (from a read or the watch). */
  revision = 0;
  private view: CoordinatorSnapshot | undefined;
  private pending: { partitions: Set<number>; nodes: boolean; controller: boolean; docs: boolean; meta: boolean; all: boolean } = emptyPending();

  /** Replaces everything with a full read taken at `revision`. */
  load(kvs: Iterable<[string, string, number]>, revision: number): void {
    this.meta = undefined;
    this.live.clear();
    this.controller = undefined;
    this.header = undefined;
    this.mapRevision = 0;
    this.partitions = [];
    this.present = 0;
    this.named.clear();
    this.mapNodes.clear();
    this.docs.clear();
    this.keyRevision.clear();
    for (const [k, v, rev] of kvs) this.apply(k, v, rev);
    this.revision = revision;
    this.pending = { ...emptyPending(), all: true };
    this.view = undefined;
  }

  /** Applies one put (value) or delete (undefined) at `rev`; returns false if the cache already had newer. */
  apply(key: string, value: string | undefined, rev: number): boolean {
    if ((this.keyRevision.get(key) ?? 0) >= rev) return false;
    this.keyRevision.set(key, rev);
    this.view = undefined;
    if (key === KEYS.meta) {
      this.meta = value === undefined ? undefined : parseJson(ClusterMetaSchema, value, key);
      this.pending.meta = true;
    } else if (key === KEYS.controller) {
      this.controller = value;
      this.pending.controller = true;
    } else if (key === KEYS.mapHeader) {
      this.header = value === undefined ? undefined : parseJson(MapHeaderSchema, value, key);
      this.mapRevision = Math.max(this.mapRevision, rev);
      this.pending.all = true;
    } else if (key.startsWith(KEYS.mapPartition)) {
      const p = Number(key.slice(KEYS.mapPartition.length));
      if (!Number.isInteger(p) || p < 0 || p >= 65_536) throw new AtollError('BAD_MAP', `etcd key ${key} names no partition`);
      this.setPartition(p, value === undefined ? undefined : { ...parseJson(StoredEntrySchema, value, key), epoch: rev });
      this.mapRevision = Math.max(this.mapRevision, rev);
      this.pending.partitions.add(p);
    } else if (key.startsWith(KEYS.mapNode)) {
      const id = key.slice(KEYS.mapNode.length);
      if (value === undefined) this.mapNodes.delete(id);
      else this.mapNodes.set(id, parseJson(ClusterNodeSchema, value, key));
      this.mapRevision = Math.max(this.mapRevision, rev);
      this.pending.all = true;
    } else if (key.startsWith(KEYS.nodes)) {
      const id = key.slice(KEYS.nodes.length);
      if (value === undefined) this.live.delete(id);
      else this.live.set(id, parseJson(ClusterNodeSchema, value, key));
      this.pending.nodes = true;
    } else if (key.startsWith(KEYS.docs)) {
      const name = key.slice(KEYS.docs.length);
      if (value === undefined) this.docs.delete(name);
      else this.docs.set(name, value);
      this.pending.docs = true;
    }
    return true;
  }

  /** Marks the cache as holding everything up to `revision` (a watch response or progress notice). */
  advance(revision: number): void {
    if (revision > this.revision) this.revision = revision;
  }

  /** What changed since the last call, for the watchers. */
  takeChange(): CoordinatorChange | undefined {
    const p = this.pending;
    this.pending = emptyPending();
    if (!p.all && !p.meta && !p.nodes && !p.controller && !p.docs && p.partitions.size === 0) return undefined;
    return { partitions: p.all ? 'all' : [...p.partitions].sort((a, b) => a - b), nodes: p.all || p.nodes, controller: p.all || p.controller, docs: p.all || p.docs, meta: p.all || p.meta };
  }

  snapshot(): CoordinatorSnapshot {
    this.view ??= { meta: this.meta, nodes: [...this.live.values()].sort(byId), map: this.assembleMap(), controller: this.controller, revision: this.revision };
    return this.view;
  }

  getDoc(name: string): string | undefined {
    return this.docs.get(name);
  }

  listDocs(prefix: string): Map<string, string> {
    return new Map([...this.docs].filter(([k]) => k.startsWith(prefix)));
  }

  private setPartition(p: number, e: PartitionEntry | undefined): void {
    const old = this.partitions[p];
    if (old !== undefined) {
      this.present--;
      for (const id of old.replicas) {
        const n = this.named.get(id)! - 1;
        if (n === 0) this.named.delete(id);
        else this.named.set(id, n);
      }
    }
    this.partitions[p] = e;
    if (e === undefined) return;
    this.present++;
    for (const id of e.replicas) this.named.set(id, (this.named.get(id) ?? 0) + 1);
  }

  /** The map, once its header and every partition are present (a first map is written in chunks). */
  private assembleMap(): PartitionMap | undefined {
    const header = this.header;
    if (header === undefined || this.partitions.length !== header.partitions || this.present !== header.partitions) return undefined;
    const nodes: Record<string, ClusterNode> = {};
    for (const id of [...this.named.keys()].sort()) {
      const n = this.mapNodes.get(id);
      if (n === undefined) throw new AtollError('BAD_MAP', `the stored map names node ${id} but holds no address for it`);
      nodes[id] = n;
    }
    return { clusterId: header.clusterId, epoch: this.mapRevision, partitions: this.partitions.slice() as PartitionEntry[], nodes };
  }
}

function emptyPending(): { partitions: Set<number>; nodes: boolean; controller: boolean; docs: boolean; meta: boolean; all: boolean } {
  return { partitions: new Set(), nodes: false, controller: false, docs: false, meta: false, all: false };
}

function byId(a: ClusterNode, b: ClusterNode): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function parseJson<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } } }, text: string, key: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AtollError('BAD_MAP', `etcd key ${key} does not hold JSON`);
  }
  const r = schema.safeParse(value);
  if (!r.success) throw new AtollError('BAD_MAP', `etcd key ${key} is malformed: ${r.error.issues[0]!.message}`);
  return r.data;
}
