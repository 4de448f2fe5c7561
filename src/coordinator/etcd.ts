// Coordinator on etcd (npm etcd3 over gRPC): settings, the map and the controller key live under "atoll/";
// node registrations and the controller key hang off each node's lease, so a dead node's entries vanish.
import { Etcd3 } from 'etcd3';
import { AtollError } from '../errors.js';
import { ClusterMetaSchema, ClusterNodeSchema, parseMap, type ClusterMeta, type ClusterNode, type PartitionMap } from '../cluster/map.js';
import { LEASE_DRIFT_MARGIN, sameClusterSettings, type Coordinator, type CoordinatorSnapshot, type Registration } from './coordinator.js';

const PREFIX = 'atoll/';
const KEY = Object.freeze({ meta: `${PREFIX}meta`, map: `${PREFIX}map`, controller: `${PREFIX}controller`, nodes: `${PREFIX}nodes/`, docs: `${PREFIX}docs/` });

/** Bound on every etcd round trip; past it the operation fails with COORDINATOR_UNAVAILABLE. */
export const ETCD_OP_TIMEOUT_MS = 5_000;

export class EtcdCoordinator implements Coordinator {
  private readonly client: Etcd3;
  /** Node ids of this process standing for controller. */
  private readonly candidates = new Set<string>();
  private readonly watchers = new Set<() => void>();
  private watcherStarted: Promise<void> | undefined;
  private cancelWatch: (() => Promise<void>) | undefined;
  private notifyScheduled = false;

  constructor(
    readonly url: string,
    hosts: readonly string[],
    private readonly opTimeoutMs = ETCD_OP_TIMEOUT_MS,
  ) {
    this.client = new Etcd3({ hosts: hosts.map((h) => `http://${h}`), dialTimeout: opTimeoutMs });
  }

  /** Fails fast with a clear error when etcd is not there, instead of retrying forever. */
  async connect(): Promise<void> {
    await this.bounded(this.client.get(KEY.meta).string(), 'connect');
  }

  async createCluster(meta: ClusterMeta): Promise<ClusterMeta> {
    const res = await this.bounded(this.client.if(KEY.meta, 'Create', '==', 0).then(this.client.put(KEY.meta).value(JSON.stringify(meta))).commit(), 'create cluster');
    if (res.succeeded) return meta;
    const existing = (await this.snapshot()).meta;
    if (existing === undefined || !sameClusterSettings(existing, meta)) {
      throw new AtollError('CLUSTER_EXISTS', `etcd already holds cluster ${existing?.clusterId ?? '?'} (${existing?.partitions ?? '?'} partitions, ${existing?.replicas ?? '?'} replicas)`);
    }
    return existing;
  }

  async snapshot(): Promise<CoordinatorSnapshot> {
    const all = await this.bounded(this.client.getAll().prefix(PREFIX).strings(), 'read cluster state');
    const metaText = all[KEY.meta];
    const mapText = all[KEY.map];
    const nodes: ClusterNode[] = [];
    for (const [k, v] of Object.entries(all)) if (k.startsWith(KEY.nodes)) nodes.push(parseJson(ClusterNodeSchema, v, k));
    return {
      meta: metaText === undefined ? undefined : parseJson(ClusterMetaSchema, metaText, KEY.meta),
      nodes: nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      map: mapText === undefined ? undefined : parseMap(JSON.parse(mapText)),
      controller: all[KEY.controller],
    };
  }

  async register(node: ClusterNode, leaseTtlMs: number): Promise<Registration> {
    const lease = this.client.lease(Math.max(1, Math.ceil(leaseTtlMs / 1000)));
    const lostHandlers: ((reason: string) => void)[] = [];
    let closed = false;
    const trustedMs = leaseTtlMs * (1 - LEASE_DRIFT_MARGIN);
    let validUntil = 0;
    let firedAt = Date.now();
    lease.on('lost', (err) => {
      validUntil = 0;
      if (!closed) for (const h of lostHandlers) h(`etcd lease lost: ${err.message}`);
    });
    // A keep-alive confirms the lease from the moment it was sent (etcd restarts the TTL on receipt).
    lease.on('keepaliveFired', () => (firedAt = Date.now()));
    lease.on('keepaliveSucceeded', (res) => {
      if (Number(res.TTL) > 0) validUntil = firedAt + trustedMs;
    });
    try {
      const grantedFrom = Date.now();
      const leaseId = await this.bounded(lease.grant(), 'grant lease');
      validUntil = grantedFrom + trustedMs;
      const key = KEY.nodes + node.id;
      const res = await this.bounded(this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(JSON.stringify(node)).lease(leaseId)).commit(), 'register node');
      if (!res.succeeded) throw new AtollError('NODE_ID_TAKEN', `a live node is already registered as ${node.id}`);
    } catch (e) {
      closed = true;
      await lease.revoke().catch(() => undefined);
      throw e;
    }
    return {
      node,
      onLost: (h) => void lostHandlers.push(h),
      validUntilMs: () => validUntil,
      close: async () => {
        if (closed) return;
        closed = true;
        validUntil = 0;
        this.candidates.delete(node.id);
        await this.bounded(lease.revoke(), 'revoke lease').catch(() => undefined);
      },
    };
  }

  async casMap(expectedEpoch: number, next: PartitionMap): Promise<boolean> {
    const current = await this.bounded(this.client.get(KEY.map).exec(), 'read map');
    const kv = current.kvs[0];
    const epoch = kv === undefined ? 0 : parseMap(JSON.parse(kv.value.toString())).epoch;
    if (epoch !== expectedEpoch) return false;
    const guard = kv === undefined ? this.client.if(KEY.map, 'Create', '==', 0) : this.client.if(KEY.map, 'Mod', '==', kv.mod_revision);
    const res = await this.bounded(guard.then(this.client.put(KEY.map).value(JSON.stringify(next))).commit(), 'write map');
    return res.succeeded;
  }

  async getDoc(name: string): Promise<string | undefined> {
    return (await this.bounded(this.client.get(KEY.docs + name).string(), 'read document')) ?? undefined;
  }

  async casDoc(name: string, expected: string | undefined, next: string): Promise<boolean> {
    const key = KEY.docs + name;
    const guard = expected === undefined ? this.client.if(key, 'Create', '==', 0) : this.client.if(key, 'Value', '==', expected);
    return (await this.bounded(guard.then(this.client.put(key).value(next)).commit(), 'write document')).succeeded;
  }

  async deleteDoc(name: string, expected: string): Promise<boolean> {
    const key = KEY.docs + name;
    return (await this.bounded(this.client.if(key, 'Value', '==', expected).then(this.client.delete().key(key)).commit(), 'delete document')).succeeded;
  }

  async listDocs(prefix: string): Promise<Map<string, string>> {
    const all = await this.bounded(this.client.getAll().prefix(KEY.docs + prefix).strings(), 'list documents');
    return new Map(Object.entries(all).map(([k, v]) => [k.slice(KEY.docs.length), v]));
  }

  campaign(registration: Registration): void {
    void this.ensureWatch();
    this.candidates.add(registration.node.id);
    void this.tryTakeController();
  }

  private async tryTakeController(): Promise<void> {
    for (const id of this.candidates) {
      // The controller key takes the lease of the candidate's registration, found through its node key.
      try {
        const nodeKv = (await this.bounded(this.client.get(KEY.nodes + id).exec(), 'read registration')).kvs[0];
        if (nodeKv === undefined) continue;
        await this.bounded(this.client.if(KEY.controller, 'Create', '==', 0).then(this.client.put(KEY.controller).value(id).lease(nodeKv.lease)).commit(), 'campaign');
      } catch {
        // etcd unreachable: the next change or reconnect triggers another attempt.
      }
    }
  }

  watch(onChange: () => void): () => void {
    this.watchers.add(onChange);
    void this.ensureWatch();
    return () => this.watchers.delete(onChange);
  }

  private ensureWatch(): Promise<void> {
    this.watcherStarted ??= (async () => {
      const watcher = await this.client.watch().prefix(PREFIX).create();
      const changed = (): void => this.changed();
      watcher.on('put', changed);
      watcher.on('delete', changed);
      watcher.on('connected', changed);
      watcher.on('error', () => undefined);
      this.cancelWatch = () => watcher.cancel();
    })();
    return this.watcherStarted;
  }

  private changed(): void {
    if (this.candidates.size > 0) void this.tryTakeController();
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    queueMicrotask(() => {
      this.notifyScheduled = false;
      for (const w of [...this.watchers]) w();
    });
  }

  async close(): Promise<void> {
    this.watchers.clear();
    this.candidates.clear();
    await this.cancelWatch?.().catch(() => undefined);
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

function parseJson<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } } }, text: string, key: string): T {
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
