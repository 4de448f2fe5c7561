// A cluster node: a RESP server in cluster mode whose routing follows the coordinator's partition map, which
// registers under a lease, stands for controller, and (when elected) writes map changes with an epoch CAS.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseSettings, type RebalanceSettings } from '../cluster/plans.js';
import { switchedEntry } from '../cluster/rebalance.js';
import { CONTROLLER_LOOP_LIMITS, ControllerLoop, readSettingsDoc } from './controller-loop.js';
import { inSync, parseMap, type ClusterMeta, type ClusterNode, type PartitionMap } from '../cluster/map.js';
import { ReplicationManager } from '../replication/replicator.js';
import { dropKeys, handOff, loadEntries, partitionKeys, type HandoffContext } from './handoff.js';
import { partitionBytes } from '../storage/wire.js';
import type { Coordinator, Registration } from '../coordinator/coordinator.js';
import { LEASE_TTL_MS_DEFAULT } from '../coordinator/coordinator.js';
import { AtollError } from '../errors.js';
import { keySlot } from '../partitioning/hash.js';
import type { Clock, StorageEngine } from '../storage/engine.js';
import { ClusterRouting, servePeerRequest, type RoutingMode, type RunLocal } from './cluster.js';
import type { PeerClient } from '../transport/peer.js';
import type { LiveConfig } from './dispatch.js';
import { startNodeServer, type NodeServer } from './server.js';
import type { TlsSettings } from './tls.js';
import type { PeerTls } from '../transport/peer-tls.js';
import { followClusterAcl } from './acl-sync.js';
import { COMMAND_NAMES } from './dispatch.js';
import { createVerifier } from './verify.js';
import { VERIFY_LIMITS } from '../replication/verify.js';
import { LimitedLog } from '../monitoring/log-limit.js';

export interface ClusterNodeOptions {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly adminPort: number;
  readonly zone: string;
  readonly weight: number;
  readonly coordinator: Coordinator;
  /** Makes the engine once the cluster's partition count is known (LMDB keeps one namespace per partition). */
  readonly engine: (meta: ClusterMeta) => StorageEngine;
  readonly clock: Clock;
  readonly mode: RoutingMode;
  /** Refuse to join unless the cluster has this id. */
  readonly clusterId?: string;
  /** Data directory to stamp with the cluster and node id, so it is never opened by another cluster. */
  readonly dataDir?: string;
  readonly leaseTtlMs?: number;
  readonly config?: Partial<LiveConfig>;
  readonly log?: Logger;
  /** The cluster's peer key (from its cluster secret, or its requirepass): peers prove they hold it. */
  readonly peerKey?: Buffer;
  /** A TLS port for clients (src/server/tls.ts). */
  readonly tls?: TlsSettings | undefined;
  /** tls-cluster: node-to-node connections are mutual TLS with the cluster CA (src/transport/peer-tls.ts). */
  readonly peerTls?: PeerTls | undefined;
  /** The address the cluster records for this node when it differs from the bound one (Redis's cluster-announce-*). */
  readonly announce?: { readonly host?: string | undefined; readonly port?: number | undefined; readonly tlsPort?: number | undefined };
  /** Runs after the server listens and before the node registers (e.g. starts the admin API); returns the admin port. */
  readonly beforeRegister?: (server: NodeServer, routing: ClusterRouting, meta: ClusterMeta) => Promise<number>;
}

export const CLUSTER_NODE_LIMITS = Object.freeze({
  /** Re-read the coordinator this often even without a watch event (a missed event cannot strand a node). */
  pollEveryMs: 2_000,
  /** A restarted node waits this long past its old lease for the id to free up before giving up. */
  idWaitSlackMs: 2_000,
  idRetryEveryMs: 250,
  /** Keys scanned per CLUSTER COUNTKEYSINSLOT step. */
  scanBatch: 1_000,
  /** A manual failover waits this long for the new leader to hold every entry (writes are held meanwhile). */
  transferWaitMs: 1_000,
  transferPollMs: 2,
  transferCasAttemptsMax: 50,
  /** How long a hand-over keeps trying its map CAS while clients are held (bounds the write pause). */
  transferCasWindowMs: 60,
  /** Upper bound of the random pause between two attempts at the hand-over's map CAS. */
  transferCasJitterMs: 10,
});

export interface ClusterNodeHandle {
  readonly id: string;
  readonly server: NodeServer;
  readonly routing: ClusterRouting;
  readonly meta: ClusterMeta;
  readonly node: ClusterNode;
  /** Resolves once the node has a map that covers every slot. */
  ready(): Promise<void>;
  close(): Promise<void>;
  /**
   * Stops serving as a crashed process would: connections drop and nothing is deregistered. The caller lets
   * the lease lapse (MemoryCoordinator.paused), as a dead process's would. For the in-process demo and tests.
   */
  halt(): Promise<void>;
}

/** Checks (and on first use writes) the data directory's cluster stamp. */
function stampDataDir(dir: string, clusterId: string, nodeId: string): void {
  const file = join(dir, 'atoll-cluster.json');
  if (existsSync(file)) {
    const stamp = JSON.parse(readFileSync(file, 'utf8')) as { clusterId?: string; nodeId?: string };
    if (stamp.clusterId !== clusterId) throw new AtollError('WRONG_CLUSTER', `data directory ${dir} belongs to cluster ${stamp.clusterId}, not ${clusterId}`);
    if (stamp.nodeId !== nodeId) throw new AtollError('WRONG_CLUSTER', `data directory ${dir} belongs to node ${stamp.nodeId}, not ${nodeId}`);
    return;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${JSON.stringify({ clusterId, nodeId })}\n`);
}

export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNodeHandle> {
  const coordinator = o.coordinator;
  const first = await coordinator.snapshot();
  const meta = first.meta;
  if (meta === undefined) throw new AtollError('NO_CLUSTER', `the coordinator at ${coordinator.url} holds no cluster; run "atoll cluster create --coordinator ${coordinator.url}" first`);
  if (o.clusterId !== undefined && o.clusterId !== meta.clusterId) throw new AtollError('WRONG_CLUSTER', `the coordinator holds cluster ${meta.clusterId}, not ${o.clusterId}`);
  if (o.dataDir !== undefined) stampDataDir(o.dataDir, meta.clusterId, o.id);
  const partitionCount = meta.partitions;
  const clusterMeta: ClusterMeta = meta;

  const engine = o.engine(meta);
  const limited = new LimitedLog(o.log, () => o.clock.nowMs());
  // The routing hooks need the server, and the server needs the hooks: the hooks reach it through this cell.
  const cell: { server?: NodeServer } = {};
  const runLocal: RunLocal = (commands, version, own) => cell.server!.runForPeer(commands, version, own);
  let refreshing: Promise<void> | undefined;
  const refresh = (): Promise<void> => (refreshing ??= sync().finally(() => (refreshing = undefined)));
  /** Live nodes as last read from the coordinator (a hand-off target may not be in the map yet). */
  let knownNodes: readonly ClusterNode[] = first.nodes;
  /** Peer operations beyond forwarded commands: map pushes and partition hand-off. */
  function peerOp(op: string, body: Record<string, unknown>): unknown {
    switch (op) {
      case 'map':
        routing.setMap(parseMap(body.map));
        return { ok: true, epoch: routing.map?.epoch };
      case 'load':
        return { loaded: loadEntries(engine, body.entries) };
      case 'drop': {
        const partition = Number(body.partition);
        // Only drop a partition this node does not lead: the copy of an aborted hand-off.
        if (routing.routingTable?.leaders[partition] === o.id) return { dropped: 0 };
        const keys = partitionKeys(engine, partitionCount, partition);
        dropKeys(engine, keys);
        return { dropped: keys.length };
      }
      case 'handoff':
        return handOff(handoffContext, Number(body.partition), String(body.to));
      case 'repl':
        return replication.handleRepl(body);
      case 'publish': {
        // Messages PUBLISHed on another node, for this node's subscribers (never broadcast again).
        const items = Array.isArray(body.items) ? (body.items as unknown[]) : [];
        const hub = cell.server?.state.pubsub;
        let delivered = 0;
        for (const it of items) if (Array.isArray(it) && Buffer.isBuffer(it[0]) && Buffer.isBuffer(it[1]) && hub !== undefined) delivered += hub.publish(it[0], it[1]);
        return { delivered };
      }
      case 'node-report':
        // The dashboard's cluster view, gathered over the (authenticated, maybe TLS) peer connections.
        return cell.server?.state.monitor?.report() ?? null;
      case 'partition-stats': {
        // Bytes per partition this node holds (keys and values), for rebalance plans.
        const asked = Array.isArray(body.partitions) ? (body.partitions as unknown[]).map(Number) : [];
        if (asked.length === 0 || asked.some((x) => !Number.isInteger(x) || x < 0 || x >= partitionCount)) throw new AtollError('BAD_ARGUMENT', `partition-stats needs partitions 0-${partitionCount - 1}`);
        return partitionBytes(engine, partitionCount, asked).then((bytes) => ({ bytes }));
      }
      case 'verify': {
        if (!Array.isArray(body.partitions) || body.partitions.length > VERIFY_LIMITS.partitionsPerRequestMax) throw new AtollError('BAD_ARGUMENT', `verify needs 1-${VERIFY_LIMITS.partitionsPerRequestMax} partitions`);
        return verifier.verify((body.partitions as unknown[]).map(Number), body.repair !== false);
      }
      case 'digest':
        return verifier.digest(body);
      case 'repair':
        return verifier.repair(body);
      case 'transfer':
        return transferLeadership(Number(body.partition), body.to === undefined ? undefined : String(body.to), Array.isArray(body.replicas) ? (body.replicas as unknown[]).map(String) : undefined);
      case 'fence': {
        const epoch = Number(body.epoch);
        if (!Array.isArray(body.partitions) || !Number.isInteger(epoch)) throw new AtollError('BAD_ARGUMENT', 'fence needs partitions and epoch');
        return { positions: (body.partitions as unknown[]).map((p) => replication.fence(Number(p), epoch).pos) };
      }
      default:
        throw new AtollError('BAD_ARGUMENT', `unknown peer op ${op}`);
    }
  }
  /** Applies `change` to the coordinator's current map with an epoch CAS; returns the map written, if any. */
  async function updateMap(change: (map: PartitionMap) => PartitionMap | undefined): Promise<PartitionMap | undefined> {
    const snap = await coordinator.snapshot();
    if (snap.map === undefined) return undefined;
    const planned = change(snap.map);
    const next = planned === undefined ? undefined : await coordinator.casMap(snap.map, planned);
    if (next !== undefined) routing.setMap(next);
    return next;
  }

  // Set once registered: leaders serve only while their lease can be trusted.
  let registration: Registration | undefined;
  /** Rebalance settings as last read from the coordinator (copy rate, moves per node, auto mode). */
  let settings: RebalanceSettings = parseSettings(undefined);
  const replication: ReplicationManager = new ReplicationManager({
    selfId: o.id,
    engine,
    partitions: partitionCount,
    ackMode: () => clusterMeta.ack,
    nowMs: () => o.clock.nowMs(),
    newTerm: () => randomBytes(8).toString('hex'),
    schedule: (delayMs, fn) => {
      if (delayMs === 0) setImmediate(fn);
      else setTimeout(fn, delayMs).unref();
    },
    every: (everyMs, fn) => {
      const t = setInterval(fn, everyMs);
      t.unref();
      return () => clearInterval(t);
    },
    peer: (id): PeerClient | undefined => {
      const n: ClusterNode | undefined = routing.map?.nodes[id] ?? knownNodes.find((x) => x.id === id);
      return n === undefined ? undefined : routing.peer(n);
    },
    updateMap: (change) => updateMap(change).then((m) => m !== undefined),
    refresh: () => onChange(),
    leaseValid: () => registration !== undefined && registration.validUntilMs() > Date.now(),
    dropPartition: (p) => dropKeys(engine, partitionKeys(engine, partitionCount, p)),
    // The cluster-wide copy rate, shared equally by the live nodes (so the sum never exceeds it).
    copyRateBytesPerSec: () => (settings.rateBytesPerSec === 0 ? 0 : settings.rateBytesPerSec / Math.max(1, knownNodes.length)),
    log: o.log,
  });
  const routing: ClusterRouting = new ClusterRouting({
    mode: o.mode,
    peerKey: o.peerKey,
    peerTls: o.peerTls,
    selfId: o.id,
    runLocal,
    refresh,
    keysInSlot: (slot, count) => keysInSlot(engine, slot, count),
    replication,
    failover: async (leader) => {
      // Take over, one by one, the partitions `leader` leads in which this node is in sync.
      const map = routing.map;
      if (map === undefined) throw new AtollError('NO_CLUSTER', 'no partition map yet');
      const leaderNode = map.nodes[leader];
      if (leaderNode === undefined) throw new AtollError('UNKNOWN_NODE', `node ${leader} is not in the map`);
      const mine = map.partitions.map((e, p) => ({ e, p })).filter(({ e }) => e.replicas[0] === leader && inSync(e).includes(o.id));
      if (mine.length === 0) throw new AtollError('BAD_ARGUMENT', `this node is not an in-sync replica of any partition ${leader} leads`);
      for (const { p } of mine) await routing.peer(leaderNode).request({ op: 'transfer', partition: p, to: o.id }, CLUSTER_NODE_LIMITS.transferWaitMs * 2);
    },
  });
  const server = await startNodeServer({
    engine,
    clock: o.clock,
    host: o.host,
    port: o.port,
    config: o.config,
    cluster: routing,
    onPeerRequest: (body) => servePeerRequest(body, runLocal, peerOp),
    peerKey: o.peerKey,
    peerTls: o.peerTls,
    tls: o.tls,
    log: o.log,
  });
  cell.server = server;
  const verifier = createVerifier({
    selfId: o.id,
    engine,
    partitions: partitionCount,
    replication,
    currentMap: () => routing.map,
    isLive: (id) => routing.isLive(id),
    hold: (p) => routing.hold(p),
    peer: (n) => routing.peer(n),
    nowMs: () => o.clock.nowMs(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
  const handoffContext: HandoffContext = {
    selfId: o.id,
    engine,
    coordinator,
    currentMap: () => routing.map,
    adoptMap: (m) => void routing.setMap(m),
    hold: (p) => routing.hold(p),
    peerOf: (id) => {
      const n = routing.map?.nodes[id] ?? knownNodes.find((x) => x.id === id);
      if (n === undefined) throw new AtollError('UNKNOWN_NODE', `node ${id} is not known`);
      return routing.peer(n);
    },
    nowMs: () => o.clock.nowMs(),
  };
  let adminPort = o.adminPort;
  try {
    if (o.beforeRegister !== undefined) adminPort = await o.beforeRegister(server, routing, meta);
  } catch (e) {
    await server.close();
    throw e;
  }
  const tlsPort = o.announce?.tlsPort ?? server.tlsPort;
  const node: ClusterNode = { id: o.id, host: o.announce?.host ?? o.host, port: o.announce?.port ?? server.port, adminPort, ...(tlsPort === undefined ? {} : { tlsPort }), zone: o.zone, weight: o.weight };
  const leaseTtlMs = o.leaseTtlMs ?? LEASE_TTL_MS_DEFAULT;

  let registered: Registration;
  try {
    registered = await registerWithRetry(coordinator, node, leaseTtlMs);
    registration = registered;
  } catch (e) {
    await server.close();
    throw e;
  }
  // A lost lease (a long pause, the coordinator unreachable) means the cluster may have failed this node
  // over; it re-registers as soon as it can and rejoins as whatever the map now says it is.
  const rejoin = (reason: string): void => {
    o.log?.error({ reason }, 'coordinator lease lost; re-registering');
    void (async () => {
      while (!closed) {
        try {
          const r = await coordinator.register(node, leaseTtlMs);
          if (closed) return void (await r.close().catch(() => undefined));
          registered = r;
          registration = r;
          r.onLost(rejoin);
          coordinator.campaign(r);
          o.log?.warn('re-registered with the coordinator');
          onChange();
          return;
        } catch {
          await new Promise((res) => setTimeout(res, CLUSTER_NODE_LIMITS.idRetryEveryMs));
        }
      }
    })();
  };
  registered.onLost(rejoin);

  let readyResolve: () => void = () => undefined;
  const readyPromise = new Promise<void>((resolve) => (readyResolve = resolve));
  let closed = false;

  /** Controller duties (map, failover, plans, auto mode) run here while this node is the elected controller. */
  const controller = new ControllerLoop({
    selfId: o.id,
    coordinator,
    meta: clusterMeta,
    request: (n, body, timeoutMs) => routing.peer(n).request(body, timeoutMs),
    nowMs: () => o.clock.nowMs(),
    newId: () => randomBytes(3).toString('hex'),
    adopt: (m) => void routing.setMap(m),
    log: o.log,
  });
  async function sync(): Promise<void> {
    if (closed) return;
    const snap = await coordinator.snapshot();
    routing.setLive(snap.nodes);
    knownNodes = snap.nodes;
    routing.controller = snap.controller;
    const read = await readSettingsDoc(coordinator, o.log);
    if (read !== undefined) settings = read;
    controller.setSettings(settings);
    if (snap.map !== undefined && routing.setMap(snap.map)) o.log?.info({ epoch: snap.map.epoch }, 'adopted partition map');
    if (snap.controller === o.id) await controller.observe(snap);
    else controller.reset();
    if (routing.map !== undefined) readyResolve();
    // A map change (a target caught up, a hand-over done) lets a running plan take its next step at once.
    if (snap.controller === o.id) void controller.tick();
  }

  /**
   * Manual failover of one partition this node leads: hold its commands, wait until the target holds every
   * entry and everything is committed, switch the map (one epoch CAS, the target first; given a rebalance
   * move's final replica set, the replicas it drops leave in the same write), push the map to the target, release: held commands get -MOVED to the new leader. No acknowledged write can be lost.
   */
  async function transferLeadership(p: number, to: string | undefined, final?: readonly string[]): Promise<{ partition: number; from: string; to: string; pauseMs: number; epoch: number }> {
    const map = routing.map;
    const entry = map?.partitions[p];
    if (map === undefined || entry === undefined) throw new AtollError('UNKNOWN_PARTITION', `partition ${p} does not exist`);
    if (entry.replicas[0] !== o.id) throw new AtollError('STALE_EPOCH', `node ${o.id} does not lead partition ${p} (${entry.replicas[0]} does)`);
    const log = replication.logOf(p);
    if (log === undefined || entry.replicas.length < 2) throw new AtollError('BAD_ARGUMENT', `partition ${p} has no follower to hand over to`);
    const candidates = inSync(entry).slice(1).filter((id) => routing.isLive(id));
    const target = to ?? candidates.sort((a, b) => (log.followers.get(b)?.ackSeq ?? 0) - (log.followers.get(a)?.ackSeq ?? 0))[0];
    if (target === undefined || !candidates.includes(target)) throw new AtollError('BAD_ARGUMENT', `${to ?? 'no node'} is not a live in-sync replica of partition ${p} (in sync: ${inSync(entry).join(', ')})`);
    // First, without holding anyone, until the target is close behind (writes keep flowing meanwhile).
    const inLog = (): boolean => log.followers.get(target)?.mode === 'log';
    const caughtUp = (): boolean => inLog() && (log.followers.get(target)?.ackSeq ?? 0) >= log.lastSeq;
    const preDeadline = o.clock.nowMs() + CLUSTER_NODE_LIMITS.transferWaitMs;
    while (!caughtUp() && o.clock.nowMs() < preDeadline) await new Promise((r) => setTimeout(r, CLUSTER_NODE_LIMITS.transferPollMs));
    const started = o.clock.nowMs();
    const release = routing.hold(p);
    try {
      await new Promise((r) => setImmediate(r));
      const deadline = started + CLUSTER_NODE_LIMITS.transferWaitMs;
      while (!inLog() || (log.followers.get(target)?.ackSeq ?? 0) < log.lastSeq || log.commitSeq < log.lastSeq) {
        if (o.clock.nowMs() > deadline) throw new AtollError('PEER_TIMEOUT', `${target} did not catch up with partition ${p} within ${CLUSTER_NODE_LIMITS.transferWaitMs} ms; nothing was switched`);
        await new Promise((r) => setTimeout(r, CLUSTER_NODE_LIMITS.transferPollMs));
      }
      // The switch is this partition's own write, guarded by its epoch: writers of other partitions (ISR
      // changes, other hand-overs, the controller's plan steps) cannot make it fail, so it goes straight to
      // the coordinator instead of queueing at the controller; a conflict on this partition is retried briefly.
      let next: PartitionMap | undefined;
      let gone = false;
      const casDeadline = o.clock.nowMs() + CLUSTER_NODE_LIMITS.transferCasWindowMs;
      for (let attempt = 0; attempt < CLUSTER_NODE_LIMITS.transferCasAttemptsMax && next === undefined && !gone && o.clock.nowMs() < casDeadline; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, 1 + Math.random() * CLUSTER_NODE_LIMITS.transferCasJitterMs));
        next = await updateMap((m) => {
          const e = m.partitions[p]!;
          if (e.replicas[0] !== o.id || !e.replicas.includes(target)) {
            gone = true;
            return undefined;
          }
          const epoch = m.epoch + 1;
          const next = { ...switchedEntry(e, target, final), epoch };
          const partitions = m.partitions.map((x, i) => (i === p ? next : x));
          // A replica the switch dropped leaves the node table only if no other partition names it (early exit).
          const unnamed = e.replicas.filter((id) => !next.replicas.includes(id) && !partitions.some((x) => x.replicas.includes(id)));
          const nodes = unnamed.length === 0 ? m.nodes : Object.fromEntries(Object.entries(m.nodes).filter(([id]) => !unnamed.includes(id)));
          return { ...m, epoch, partitions, nodes };
        });
      }
      if (next === undefined) throw new AtollError('STALE_EPOCH', `the map kept changing during the failover of partition ${p}, or this node no longer leads it; nothing was switched`);
      // The new leader routes by the new map before clients are sent to it: the map is pushed to it (asking it
      // to wait for its own watch instead was cheaper in CPU but added up to 500 ms to this hold, and held
      // clients then timed out at 2 s in the defaults test).
      await routing.peer(next.nodes[target]!).request({ op: 'map', map: next }).catch(() => undefined);
      return { partition: p, from: o.id, to: target, pauseMs: o.clock.nowMs() - started, epoch: next.epoch };
    } finally {
      release();
    }
  }

  const acl = followClusterAcl(coordinator, server.state, COMMAND_NAMES);
  const onChange = (): void => {
    refresh().catch((e: unknown) => limited.warn('sync', { err: (e as Error).message }, 'coordinator step failed; will retry'));
    acl.refresh().catch((e: unknown) => limited.warn('acl', { err: (e as Error).message }, 'ACL users not loaded; will retry'));
  };
  const unwatch = coordinator.watch(onChange);
  const poll = setInterval(onChange, CLUSTER_NODE_LIMITS.pollEveryMs);
  poll.unref();
  const rebalanceTimer = setInterval(() => {
    if (routing.controller === o.id && !closed) void controller.tick();
  }, CONTROLLER_LOOP_LIMITS.planEveryMs);
  rebalanceTimer.unref();
  coordinator.campaign(registered);
  onChange();

  return {
    id: o.id,
    server,
    routing,
    meta,
    node,
    ready: () => readyPromise,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(poll);
      clearInterval(rebalanceTimer);
      unwatch();
      replication.close();
      await registered.close().catch(() => undefined);
      routing.close();
      await server.close();
    },
    async halt() {
      if (closed) return;
      closed = true;
      clearInterval(poll);
      clearInterval(rebalanceTimer);
      unwatch();
      replication.close();
      routing.close();
      await server.close();
    },
  };
}

async function registerWithRetry(coordinator: Coordinator, node: ClusterNode, leaseTtlMs: number): Promise<Registration> {
  const deadline = Date.now() + leaseTtlMs + CLUSTER_NODE_LIMITS.idWaitSlackMs;
  for (;;) {
    try {
      return await coordinator.register(node, leaseTtlMs);
    } catch (e) {
      // A node restarted after kill -9 finds its old registration until that lease runs out.
      if (!(e instanceof AtollError) || e.code !== 'NODE_ID_TAKEN' || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, CLUSTER_NODE_LIMITS.idRetryEveryMs));
    }
  }
}

/** Keys of one slot, by a full scan of the engine: O(keys), meant for tools and tests, not the hot path. */
function keysInSlot(engine: StorageEngine, slot: number, count: number): { keys: string[]; total: number } {
  const keys: string[] = [];
  let total = 0;
  let cursor = 0;
  do {
    const page = engine.scan(cursor, CLUSTER_NODE_LIMITS.scanBatch);
    cursor = page.cursor;
    for (const k of page.keys) {
      // Engine keys are the client's bytes held as latin1 strings.
      if (keySlot(Buffer.from(k, 'latin1')) !== slot) continue;
      total++;
      if (keys.length < count) keys.push(k);
    }
  } while (cursor !== 0);
  return { keys, total };
}
