// A whole cluster in the seeded simulator: three nodes run the real ReplicationManager on memory engines and
// the real controller loop (src/server/controller-loop.ts) against the real in-memory coordinator, with leases,
// watches and controller election on virtual time; the network drops, delays, duplicates and reorders. Clients
// write and read through leaders (sometimes with a stale idea of who leads) while a nemesis cuts leaders off
// from everything past their lease (the controller fences and fails them over), briefly, or for good.
// `npm run sim -- --seed S` replays one run; test/replication/sim.test.ts runs many.
import type { ClusterMeta, ClusterNode, PartitionMap } from '../cluster/map.js';
import { ClusterMetaSchema } from '../cluster/map.js';
import type { Coordinator, Registration } from '../coordinator/coordinator.js';
import { MemoryCoordinator } from '../coordinator/memory.js';
import { AtollError } from '../errors.js';
import { seededRandom } from '../partitioning/prng.js';
import { SlotPartitioner } from '../partitioning/slots.js';
import type { AckMode } from '../replication/log.js';
import { ReplicationManager } from '../replication/replicator.js';
import { ControllerLoop } from '../server/controller-loop.js';
import { MemoryEngine } from '../storage/memory.js';
import { partitionKeys } from '../storage/wire.js';
import { checkHistory, HistoryRecorder, type KvOperation } from './linearizability.js';
import { SimNetwork, SimScheduler, type NetworkFaults } from './sim.js';

/** Deliberate faults in the system under test, to show the checks can fail. */
export type SimBroken = 'none' | 'no-read-gate';

export interface SimRunOptions {
  readonly seed: number;
  readonly mode: AckMode;
  readonly broken?: SimBroken;
  readonly faults?: Partial<NetworkFaults>;
}

export interface SimRunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly acked: number;
  readonly operations: readonly KvOperation[];
  readonly converged: boolean;
  /** Acknowledged writes missing from the final state (0 is the promise of quorum and sync). */
  readonly lostAcked: number;
  /** Writes acknowledged by a leader cut off from its followers (what async may lose at a failover). */
  readonly ackedWhileIsolated: number;
  /** Partitions whose leader the controller changed. */
  readonly failovers: number;
  /** Controllers elected over the run (the first included). */
  readonly controllers: number;
  readonly network: { delivered: number; dropped: number; duplicated: number; reordered: number };
}

export const SIM_CLUSTER = Object.freeze({ partitions: 4, nodes: ['a', 'b', 'c'] as readonly string[], leaseMs: 2_000, coordinatorDelayMs: 2, pollEveryMs: 100 });
const DEFAULT_FAULTS: NetworkFaults = { dropRate: 0.01, delayMinMs: 1, delayMaxMs: 8, duplicateRate: 0.01, reorderRate: 0.01 };

interface SimNode {
  readonly id: string;
  readonly engine: MemoryEngine;
  readonly manager: ReplicationManager;
  readonly coord: Coordinator;
  readonly loop: ControllerLoop;
  view?: PartitionMap;
  registration?: Registration;
  syncing: boolean;
}

interface World {
  readonly sim: SimScheduler;
  readonly net: SimNetwork;
  readonly coordinator: MemoryCoordinator;
  readonly nodes: Map<string, SimNode>;
  /** Nodes cut off from the other nodes and the coordinator. */
  readonly isolated: Set<string>;
  failovers: number;
  controllers: number;
}

/** What `node` sees of the coordinator: each call takes a little virtual time and fails while it is cut off. */
function reachVia(w: World, node: string): Coordinator {
  const c = w.coordinator;
  return new Proxy(c, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'watch' || prop === 'campaign' || prop === 'close') return typeof v === 'function' ? v.bind(target) : v;
      return async (...args: unknown[]) => {
        await new Promise<void>((r) => w.sim.schedule(SIM_CLUSTER.coordinatorDelayMs, r));
        if (w.isolated.has(node)) throw new AtollError('COORDINATOR_UNAVAILABLE', `${node} cannot reach the coordinator`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function adopt(n: SimNode, map: PartitionMap | undefined): void {
  if (map === undefined || (n.view !== undefined && n.view.epoch >= map.epoch)) return;
  n.view = map;
  n.manager.adoptMap(map);
}

/** The node's coordinator step, as cluster-node runs it: adopt the map, and run the controller when elected. */
async function sync(w: World, n: SimNode): Promise<void> {
  if (n.syncing || w.isolated.has(n.id)) return;
  n.syncing = true;
  try {
    const snap = await n.coord.snapshot();
    adopt(n, snap.map);
    if (snap.controller === n.id) {
      await n.loop.observe(snap);
      void n.loop.tick();
    } else n.loop.reset();
  } catch {
    // Cut off from the coordinator: the next poll tries again.
  } finally {
    n.syncing = false;
  }
}

/** Registers (and again after a lost lease, once reachable) and stands for controller. */
async function register(w: World, n: SimNode): Promise<void> {
  const node: ClusterNode = { id: n.id, host: '127.0.0.1', port: 1, adminPort: 0, zone: 'z', weight: 1 };
  for (;;) {
    try {
      const r = await n.coord.register(node, SIM_CLUSTER.leaseMs);
      n.registration = r;
      r.onLost(() => {
        n.registration = undefined;
        w.sim.schedule(250, () => void register(w, n));
      });
      w.coordinator.campaign(r);
      return;
    } catch {
      await new Promise<void>((r) => w.sim.schedule(250, r));
    }
  }
}

function makeNode(w: World, id: string, meta: ClusterMeta, mode: AckMode, broken: SimBroken, seed: number): SimNode {
  const { sim, net } = w;
  const termRandom = seededRandom(seed ^ (0x5eed + id.charCodeAt(0)));
  const engine = new MemoryEngine({ clock: { nowMs: () => sim.nowMs } });
  const coord = reachVia(w, id);
  const cell: { node?: SimNode } = {};
  const manager = new ReplicationManager({
    selfId: id,
    engine,
    partitions: meta.partitions,
    ackMode: () => mode,
    nowMs: () => sim.nowMs,
    newTerm: () => termRandom.nextU32().toString(16),
    peer: (to) => net.link(id, to),
    schedule: (d, fn) => sim.schedule(d, fn),
    every: (d, fn) => sim.every(d, fn),
    updateMap: async (change) => {
      try {
        const snap = await coord.snapshot();
        const planned = snap.map === undefined ? undefined : change(snap.map);
        const next = planned === undefined ? undefined : await coord.casMap(snap.map, planned);
        if (next !== undefined) adopt(cell.node!, next);
        return next !== undefined;
      } catch {
        return false;
      }
    },
    refresh: () => sim.schedule(SIM_CLUSTER.coordinatorDelayMs, () => void sync(w, cell.node!)),
    leaseValid: () => cell.node?.registration !== undefined && cell.node.registration.validUntilMs() > sim.nowMs,
  });
  if (broken === 'no-read-gate') {
    // Reads no longer wait for uncommitted writes to their keys (nor for anything else).
    const admit = manager.admit.bind(manager);
    manager.admit = (p, keys, write) => (write ? admit(p, keys, write) : undefined);
  }
  const loop = new ControllerLoop({
    selfId: id,
    coordinator: coord,
    meta,
    request: (n, body, timeoutMs) => net.link(id, n.id).request(body, timeoutMs),
    nowMs: () => sim.nowMs,
    newId: () => termRandom.nextU32().toString(16),
    adopt: (m) => adopt(cell.node!, m),
    compactEveryMs: 0,
  });
  const n: SimNode = { id, engine, manager, coord, loop, syncing: false };
  cell.node = n;
  net.serve(id, (body) => {
    const b = body as { op: string; partitions?: number[]; epoch?: number };
    if (b.op === 'repl') return manager.handleRepl(b as unknown as { parts: unknown });
    if (b.op === 'fence') return { positions: b.partitions!.map((p) => manager.fence(p, b.epoch!).pos) };
    throw new Error(`unknown op ${b.op}`);
  });
  return n;
}

async function makeWorld(o: SimRunOptions): Promise<World> {
  const sim = new SimScheduler();
  const net = new SimNetwork(sim, o.seed);
  net.faults = { ...DEFAULT_FAULTS, ...o.faults };
  const coordinator = new MemoryCoordinator({ nowMs: () => sim.nowMs }, (everyMs, fn) => sim.every(everyMs, fn));
  const w: World = { sim, net, coordinator, nodes: new Map(), isolated: new Set(), failovers: 0, controllers: 0 };
  const meta = ClusterMetaSchema.parse({ clusterId: 'sim', partitions: SIM_CLUSTER.partitions, replicas: SIM_CLUSTER.nodes.length, initialNodes: SIM_CLUSTER.nodes.length, createdMs: 0, ack: o.mode });
  await coordinator.createCluster(meta);
  for (const id of SIM_CLUSTER.nodes) w.nodes.set(id, makeNode(w, id, meta, o.mode, o.broken ?? 'none', o.seed));
  // Watches: every reachable node hears of a change a moment later; polls cover what a cut-off node missed.
  let last: { leaders: string[]; controller: string | undefined } = { leaders: [], controller: undefined };
  coordinator.watch(() => {
    void coordinator.snapshot().then((snap) => {
      const leaders = snap.map?.partitions.map((e) => e.replicas[0]!) ?? [];
      if (last.leaders.length > 0) w.failovers += leaders.filter((l, p) => l !== last.leaders[p]).length;
      if (snap.controller !== undefined && snap.controller !== last.controller) w.controllers++;
      last = { leaders, controller: snap.controller };
    });
    for (const n of w.nodes.values()) sim.schedule(SIM_CLUSTER.coordinatorDelayMs, () => void sync(w, n));
  });
  sim.every(SIM_CLUSTER.pollEveryMs, () => {
    for (const n of w.nodes.values()) void sync(w, n);
  });
  for (const n of w.nodes.values()) void register(w, n);
  return w;
}

/** Keys (a few per partition) that hash into each partition. */
function keysByPartition(): string[][] {
  const slots = new SlotPartitioner({ partitions: SIM_CLUSTER.partitions });
  const out: string[][] = Array.from({ length: SIM_CLUSTER.partitions }, () => []);
  for (let i = 0; out.some((l) => l.length < 3); i++) {
    const p = slots.partitionFor(`k${i}`);
    if (out[p]!.length < 3) out[p]!.push(`k${i}`);
  }
  return out;
}

const leaderOf = (w: World, p: number): string => w.coordinator.mapNow()!.partitions[p]!.replicas[0]!;

interface Clients {
  readonly history: HistoryRecorder;
  /** Nodes clients cannot reach either (a crash); merely isolated nodes still take their clients' requests. */
  readonly crashed: Set<string>;
  readonly lastAcked: Map<string, number>;
  acked: number;
  ackedWhileIsolated: number;
  stop: boolean;
}

/**
 * One client per partition and role; each picks a leader from the coordinator's map, or with some chance from
 * an older idea (the node it used before), as real clients with cached slot maps do.
 */
function startClients(w: World, seed: number, keys: string[][]): Clients {
  const random = seededRandom(seed * 7 + 1);
  const slots = new SlotPartitioner({ partitions: SIM_CLUSTER.partitions });
  const c: Clients = { history: new HistoryRecorder(() => w.sim.nowMs), crashed: new Set(), lastAcked: new Map(), acked: 0, ackedWhileIsolated: 0, stop: false };
  let counter = 0;
  const client = (id: number, p: number, writer: boolean): void => {
    let cached = leaderOf(w, p);
    const step = (): void => {
      if (c.stop) return;
      const key = keys[p]![random.nextInt(keys[p]!.length)]!;
      const node = random.next() < 0.8 ? leaderOf(w, p) : cached;
      cached = node;
      const again = (): void => w.sim.schedule(5 + random.nextInt(20), step);
      if (c.crashed.has(node)) {
        // The client cannot reach it: a write sent there has an unknown fate; reads are simply lost.
        if (writer) c.history.invoke(id, key, { kind: 'put', value: `v${++counter}` }).unknown();
        return void w.sim.schedule(300, step);
      }
      const n = w.nodes.get(node)!;
      if (n.view?.partitions[p]!.replicas[0] !== node) return again(); // -MOVED: nothing ran
      const kb = Buffer.from(key, 'latin1');
      const attempt = (tries: number): void => {
        const admitted = n.manager.admit(slots.partitionFor(key), [kb], writer);
        if (typeof admitted === 'string') return again(); // -TRYAGAIN: nothing ran
        if (admitted instanceof Promise) {
          if (tries > 20) return again();
          return void admitted.then(() => w.sim.schedule(0, () => attempt(tries + 1)));
        }
        if (!writer) {
          const op = c.history.invoke(id, key, { kind: 'get' });
          const v = n.engine.get(key);
          const value = v === undefined ? null : v.type === 'string' ? v.value.toString() : '?';
          w.sim.schedule(1, () => op.ok({ value }));
          return again();
        }
        write(n, key, kb, `v${++counter}`, c.history.invoke(id, key, { kind: 'put', value: `v${counter}` }), again);
      };
      attempt(0);
    };
    w.sim.schedule(random.nextInt(50), step);
  };
  const write = (n: SimNode, key: string, kb: Buffer, value: string, op: ReturnType<HistoryRecorder['invoke']>, again: () => void): void => {
    n.engine.put(key, { type: 'string', value: Buffer.from(value) }, 0);
    const committed = n.manager.stage([kb]);
    let done = false;
    const settle = (ok: boolean): void => {
      if (done) return;
      done = true;
      if (ok) {
        c.acked++;
        c.lastAcked.set(key, Number(value.slice(1)));
        if (w.isolated.has(n.id)) c.ackedWhileIsolated++;
        w.sim.schedule(1, () => op.ok({}));
      } else op.unknown();
      again();
    };
    w.sim.schedule(3_000, () => settle(false));
    (committed ?? Promise.resolve()).then(
      () => settle(true),
      () => settle(false),
    );
  };
  let clientId = 0;
  for (let p = 0; p < SIM_CLUSTER.partitions; p++) {
    client(clientId++, p, true);
    client(clientId++, p, false);
  }
  return c;
}

/** Final reads from each partition's leader (into the history) and the count of acknowledged writes missing. */
function finalReads(w: World, c: Clients, keys: string[][]): number {
  let lost = 0;
  for (let p = 0; p < SIM_CLUSTER.partitions; p++) {
    const leader = w.nodes.get(leaderOf(w, p))!;
    for (const key of keys[p]!) {
      const v = leader.engine.get(key);
      const value = v === undefined ? null : (v as { value: Buffer }).value.toString();
      const op = c.history.invoke(999, key, { kind: 'get' });
      w.sim.nowMs += 1;
      op.ok({ value });
      const last = c.lastAcked.get(key);
      if (last !== undefined && (value === null || Number(value.slice(1)) < last)) lost++;
    }
  }
  return lost;
}

/** Whether every replica of every partition holds what its leader holds. */
function converged(w: World): boolean {
  const map = w.coordinator.mapNow()!;
  return map.partitions.every((e, p) => {
    const dump = (id: string): string => {
      const engine = w.nodes.get(id)!.engine;
      return partitionKeys(engine, SIM_CLUSTER.partitions, p)
        .sort()
        .map((k) => `${k}=${(engine.get(k) as { value: Buffer }).value.toString()}`)
        .join(',');
    };
    const first = dump(e.replicas[0]!);
    return e.replicas.slice(1).every((id) => dump(id) === first);
  });
}

/**
 * The scenario: cut the leader of partition 0 off from everything (its clients still reach it) past the lease,
 * so the controller fails it over while it still takes writes; heal. Then a short cut of another leader (no
 * failover). Then a crash (clients cannot reach it either) of a third, past the lease; heal; settle.
 */
export async function runSimCluster(o: SimRunOptions): Promise<SimRunResult> {
  const w = await makeWorld(o);
  await w.sim.runUntil(1_000);
  if (w.coordinator.mapNow() === undefined) throw new AtollError('NO_CLUSTER', `seed ${o.seed}: the controller placed no map within 1 s`);
  const random = seededRandom(o.seed * 13 + 5);
  const keys = keysByPartition();
  const c = startClients(w, o.seed, keys);
  const isolate = (id: string): void => {
    w.isolated.add(id);
    w.net.isolate(id);
    w.coordinator.paused.add(id);
  };
  const heal = (): void => {
    for (const id of w.isolated) w.coordinator.paused.delete(id);
    w.isolated.clear();
    c.crashed.clear();
    w.net.heal();
  };
  await w.sim.runUntil(w.sim.nowMs + 1_500 + random.nextInt(1_000));
  isolate(leaderOf(w, 0));
  await w.sim.runUntil(w.sim.nowMs + SIM_CLUSTER.leaseMs + 2_000);
  heal();
  await w.sim.runUntil(w.sim.nowMs + 1_500);
  isolate(leaderOf(w, 2));
  await w.sim.runUntil(w.sim.nowMs + 500);
  heal();
  await w.sim.runUntil(w.sim.nowMs + 1_500);
  const crashed = leaderOf(w, 3);
  isolate(crashed);
  c.crashed.add(crashed);
  await w.sim.runUntil(w.sim.nowMs + SIM_CLUSTER.leaseMs + 2_000);
  heal();
  await w.sim.runUntil(w.sim.nowMs + 1_000);
  c.stop = true;
  w.net.faults = { dropRate: 0, delayMinMs: 1, delayMaxMs: 2 };
  // Quiet time for every replica to catch up: longer than a request timeout plus retries.
  await w.sim.runUntil(w.sim.nowMs + 6_000);
  const lostAcked = finalReads(w, c, keys);
  const same = converged(w);
  for (const n of w.nodes.values()) n.manager.close();
  await w.coordinator.close();
  const { delivered, dropped, duplicated, reordered } = w.net;
  const operations = c.history.operations;
  return { seed: o.seed, ok: checkHistory(operations).ok, acked: c.acked, operations, converged: same, lostAcked, ackedWhileIsolated: c.ackedWhileIsolated, failovers: w.failovers, controllers: w.controllers, network: { delivered, dropped, duplicated, reordered } };
}
