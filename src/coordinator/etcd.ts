// Coordinator on etcd (npm etcd3 over gRPC), in the key layout of layout.ts. One full read at start, then a
// watch from the next revision keeps a local cache current: a change arrives as the keys it wrote, with no
// read per event; the process's own writes reach its cache through the watch too, in revision order. After a disconnect the watch resumes from the last revision it applied; only a compacted
// revision (or a broken watch) makes it read everything again. Map changes write the changed partitions
// only. Leases are kept alive by a worker thread (lease-keeper.ts).
import { etcd3Options, type EtcdAccess } from './etcd-access.js';
import { Etcd3 } from 'etcd3';
import { AtollError } from '../errors.js';
import type { ClusterMeta, ClusterNode, PartitionMap } from '../cluster/map.js';
import { LEASE_DRIFT_MARGIN, sameClusterSettings, type Coordinator, type CoordinatorChange, type CoordinatorSnapshot, type Registration } from './coordinator.js';
import { chunkDelta, diffMap, headerText, KEYS, PREFIX, StateCache } from './layout.js';
import { LeaseKeeper } from './lease-keeper.js';
import { Backoff } from './backoff.js';

/** Bound on every etcd round trip; past it the operation fails with COORDINATOR_UNAVAILABLE. */
export const ETCD_OP_TIMEOUT_MS = 5_000;

export const ETCD_LIMITS = Object.freeze({
  /** A broken watch is re-established after a back-off from this, doubling up to the max, with jitter. */
  rewatchBaseMs: 100,
  rewatchMaxMs: 5_000,
  /**
   * Revisions kept behind the newest when Atoll compacts (compact()): enough for a watch that was cut off
   * for a while to resume without a full read.
   */
  compactKeepRevisions: 10_000,
});

export class EtcdCoordinator implements Coordinator {
  private readonly client: Etcd3;
  private readonly cache = new StateCache();
  /** Node ids of this process standing for controller, with their lease ids. */
  private readonly candidates = new Map<string, string>();
  private readonly watchers = new Set<(change: CoordinatorChange) => void>();
  private started: Promise<void> | undefined;
  private watcher: { cancel(): Promise<void> } | undefined;
  private closed = false;
  private readonly rewatch = new Backoff(ETCD_LIMITS.rewatchBaseMs, ETCD_LIMITS.rewatchMaxMs);
  private campaigning = false;
  /** The lease id behind each registration this process made (the controller key takes it). */
  private readonly leaseOf = new WeakMap<Registration, string>();
  /** Writers waiting for the watch to deliver their own write (see awaitRevision). */
  private revisionWaiters: { revision: number; resolve: () => void }[] = [];

  constructor(
    readonly url: string,
    private readonly hosts: readonly string[],
    private readonly access: EtcdAccess = { tls: false },
    private readonly opTimeoutMs = ETCD_OP_TIMEOUT_MS,
  ) {
    this.client = new Etcd3(etcd3Options(hosts, access, opTimeoutMs));
  }

  /** Fails fast with a clear error when etcd is not there, then loads the cache and starts the watch. */
  async connect(): Promise<void> {
    await this.start();
  }

  private start(): Promise<void> {
    this.started ??= this.reload().catch((e: unknown) => {
      this.started = undefined;
      throw e;
    });
    return this.started;
  }

  /** One full read at a revision, then a watch from the revision after it. */
  private async reload(): Promise<void> {
    const res = await this.bounded(this.client.getAll().prefix(PREFIX).exec(), 'read cluster state');
    const kvs = res.kvs.map((kv): [string, string, number] => [kv.key.toString(), kv.value.toString(), Number(kv.mod_revision)]);
    this.cache.load(kvs, Number(res.header.revision));
    this.notify();
    this.releaseWaiters();
    await this.watchFrom(Number(res.header.revision) + 1);
  }

  private async watchFrom(revision: number): Promise<void> {
    if (this.closed) return;
    const w = await this.client.watch().prefix(PREFIX).startRevision(String(revision)).create();
    this.watcher = w;
    w.on('data', (res) => {
      this.rewatch.reset();
      for (const ev of res.events) {
        const key = ev.kv.key.toString();
        const rev = Number(ev.kv.mod_revision);
        this.cache.apply(key, ev.type === 'Delete' ? undefined : ev.kv.value.toString(), rev);
      }
      this.cache.advance(Number(res.header.revision));
      this.notify();
      this.releaseWaiters();
      if (this.candidates.size > 0 && this.cache.snapshot().controller === undefined) void this.tryTakeController();
    });
    // The library would resume on its own, but from a revision it may have moved past events not yet
    // delivered; resuming from the last revision applied here cannot skip any.
    w.on('disconnected', () => this.restartWatch(w, false));
    // A watch cancelled by etcd (its start revision was compacted) must re-list.
    w.on('error', () => this.restartWatch(w, true));
  }

  /** Drops a broken watch (once, whichever event reports it first) and schedules the next one. */
  private restartWatch(w: { cancel(): Promise<void> }, full: boolean): void {
    if (this.watcher !== w || this.closed) return;
    this.watcher = undefined;
    void w.cancel().catch(() => undefined);
    this.scheduleRewatch(full);
  }

  /** Re-creates the watch after a back-off with jitter; a failed attempt (etcd down) tries again, re-reading all. */
  private scheduleRewatch(full: boolean): void {
    setTimeout(() => {
      if (this.closed) return;
      const again = full ? this.reload() : this.watchFrom(this.cache.revision + 1);
      again.catch(() => this.scheduleRewatch(true));
    }, this.rewatch.nextMs()).unref();
  }

  /**
   * Waits (bounded) until the watch has delivered everything up to `revision`. A process's own writes reach
   * its cache this way, in revision order with everyone else's, never ahead of them: a map assembled from a
   * cache is then complete up to its epoch, so two maps with the same epoch are the same map.
   */
  private awaitRevision(revision: number): Promise<void> {
    if (this.cache.revision >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { revision, resolve };
      this.revisionWaiters.push(waiter);
      setTimeout(() => {
        this.revisionWaiters = this.revisionWaiters.filter((w) => w !== waiter);
        resolve();
      }, this.opTimeoutMs).unref();
    });
  }

  private releaseWaiters(): void {
    if (this.revisionWaiters.length === 0) return;
    const ready = this.revisionWaiters.filter((w) => w.revision <= this.cache.revision);
    this.revisionWaiters = this.revisionWaiters.filter((w) => w.revision > this.cache.revision);
    for (const w of ready) w.resolve();
  }

  private notify(): void {
    const change = this.cache.takeChange();
    if (change === undefined) return;
    for (const w of [...this.watchers]) w(change);
  }

  async createCluster(meta: ClusterMeta): Promise<ClusterMeta> {
    const res = await this.bounded(this.client.if(KEYS.meta, 'Create', '==', 0).then(this.client.put(KEYS.meta).value(JSON.stringify(meta))).commit(), 'create cluster');
    if (res.succeeded) {
      await this.awaitRevision(Number(res.header.revision));
      return meta;
    }
    const existing = (await this.readFresh()).meta;
    if (existing === undefined || !sameClusterSettings(existing, meta)) {
      throw new AtollError('CLUSTER_EXISTS', `etcd already holds cluster ${existing?.clusterId ?? '?'} (${existing?.partitions ?? '?'} partitions, ${existing?.replicas ?? '?'} replicas)`);
    }
    return existing;
  }

  async snapshot(): Promise<CoordinatorSnapshot> {
    await this.start();
    return this.cache.snapshot();
  }

  /** A snapshot that includes every write committed before the call (waits for the watch to get there). */
  private async readFresh(): Promise<CoordinatorSnapshot> {
    await this.start();
    const res = await this.bounded(this.client.get(KEYS.meta).exec(), 'read revision');
    const target = Number(res.header.revision);
    const deadline = Date.now() + this.opTimeoutMs;
    while (this.cache.revision < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return this.cache.snapshot();
  }

  async register(node: ClusterNode, leaseTtlMs: number): Promise<Registration> {
    await this.start();
    const keeper = new LeaseKeeper({ hosts: this.hosts, access: this.access, ttlMs: leaseTtlMs, trustedShare: 1 - LEASE_DRIFT_MARGIN });
    let closed = false;
    try {
      const leaseId = await keeper.leaseId;
      const key = KEYS.nodes + node.id;
      const res = await this.bounded(
        this.client
          .if(key, 'Create', '==', 0)
          .then(this.client.put(key).value(JSON.stringify(node)).lease(leaseId))
          .commit(),
        'register node',
      );
      if (!res.succeeded) throw new AtollError('NODE_ID_TAKEN', `a live node is already registered as ${node.id}`);
      await this.awaitRevision(Number(res.header.revision));
      keeper.onLost(() => this.candidates.delete(node.id));
      const registration: Registration = {
        node,
        onLost: (h) => keeper.onLost(h),
        validUntilMs: () => keeper.validUntilMs(),
        close: async () => {
          if (closed) return;
          closed = true;
          this.candidates.delete(node.id);
          await keeper.revoke();
        },
      };
      this.leaseOf.set(registration, leaseId);
      return registration;
    } catch (e) {
      closed = true;
      await keeper.revoke();
      throw e;
    }
  }

  async casMap(base: PartitionMap | undefined, next: PartitionMap): Promise<PartitionMap | undefined> {
    await this.start();
    const chunks = chunkDelta(diffMap(base, next));
    for (const [i, chunk] of chunks.entries()) {
      // A first map goes out in chunks with its header last: readers see no map until the header lands.
      const first = base === undefined;
      const header = first && i === chunks.length - 1 ? [this.client.put(KEYS.mapHeader).value(headerText(next))] : [];
      let txn = first ? this.client.if(KEYS.mapHeader, 'Create', '==', 0) : undefined;
      for (const [key, rev] of chunk.guards) txn = txn === undefined ? this.client.if(key, 'Mod', '==', rev) : txn.and(key, 'Mod', '==', rev);
      const ops = [...chunk.puts.map(([k, v]) => this.client.put(k).value(v)), ...chunk.deletes.map((k) => this.client.delete().key(k)), ...header];
      const res = await this.bounded((txn ?? this.client.if(KEYS.meta, 'Create', '>', 0)).then(...ops).commit(), 'write map');
      if (!res.succeeded) return undefined;
      await this.awaitRevision(Number(res.header.revision));
    }
    return this.cache.snapshot().map;
  }

  async getDoc(name: string): Promise<string | undefined> {
    await this.start();
    return this.cache.getDoc(name);
  }

  async casDoc(name: string, expected: string | undefined, next: string): Promise<boolean> {
    const key = KEYS.docs + name;
    const guard = expected === undefined ? this.client.if(key, 'Create', '==', 0) : this.client.if(key, 'Value', '==', expected);
    const res = await this.bounded(guard.then(this.client.put(key).value(next)).commit(), 'write document');
    if (res.succeeded) await this.awaitRevision(Number(res.header.revision));
    return res.succeeded;
  }

  async deleteDoc(name: string, expected: string): Promise<boolean> {
    const key = KEYS.docs + name;
    const res = await this.bounded(this.client.if(key, 'Value', '==', expected).then(this.client.delete().key(key)).commit(), 'delete document');
    if (res.succeeded) await this.awaitRevision(Number(res.header.revision));
    return res.succeeded;
  }

  async listDocs(prefix: string): Promise<Map<string, string>> {
    await this.start();
    return this.cache.listDocs(prefix);
  }

  campaign(registration: Registration): void {
    const leaseId = this.leaseOf.get(registration);
    if (leaseId === undefined) return;
    this.candidates.set(registration.node.id, leaseId);
    void this.tryTakeController();
  }

  /** The controller key takes the candidate's lease, so it vanishes with the candidate. */
  private async tryTakeController(): Promise<void> {
    if (this.campaigning) return;
    this.campaigning = true;
    try {
      for (const [id, leaseId] of this.candidates) {
        const res = await this.bounded(this.client.if(KEYS.controller, 'Create', '==', 0).then(this.client.put(KEYS.controller).value(id).lease(leaseId)).commit(), 'campaign');
        if (res.succeeded) return;
      }
    } catch {
      // etcd unreachable: the next change (the watch resumes on reconnect) triggers another attempt.
    } finally {
      this.campaigning = false;
    }
  }

  watch(onChange: (change: CoordinatorChange) => void): () => void {
    this.watchers.add(onChange);
    void this.start().catch(() => undefined);
    return () => this.watchers.delete(onChange);
  }

  /**
   * Compacts etcd's history up to `keepRevisions` behind the newest revision, so the database stays bounded
   * however often the map changes. The controller calls this periodically; a watch that was behind the
   * compacted revision re-reads everything once.
   */
  async compact(keepRevisions = ETCD_LIMITS.compactKeepRevisions): Promise<number | undefined> {
    const res = await this.bounded(this.client.get(KEYS.meta).exec(), 'read revision');
    const target = Number(res.header.revision) - keepRevisions;
    if (target <= 0) return undefined;
    try {
      await this.bounded(this.client.kv.compact({ revision: String(target), physical: false }), 'compact');
    } catch (e) {
      // Compacting to a revision already compacted is not a failure worth reporting.
      if (!/compacted/.test((e as Error).message)) throw e;
    }
    return target;
  }

  /** etcd's database size in bytes, as its status reports it. */
  async dbSizeBytes(): Promise<number> {
    const status = await this.bounded(this.client.maintenance.status(), 'status');
    return Number(status.dbSize);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
    this.candidates.clear();
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }

  private async bounded<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AtollError('COORDINATOR_UNAVAILABLE', `etcd at ${this.url} did not answer "${what}" within ${this.opTimeoutMs} ms`)), this.opTimeoutMs);
    });
    try {
      return await Promise.race([work, timeout]);
    } catch (e) {
      if (e instanceof AtollError) throw e;
      throw new AtollError('COORDINATOR_UNAVAILABLE', `etcd at ${this.url} failed "${what}": ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

