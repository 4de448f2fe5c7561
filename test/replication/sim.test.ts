// The replication core under a seeded simulated network: three nodes run the real ReplicationManager on
// memory engines; clients write and read through leaders (sometimes with a stale idea of who leads) while
// a nemesis isolates leaders long enough for failover, or briefly. Histories are checked for
// linearizability under quorum and sync, replicas must converge, and a failing run prints its seed.
import { describe, expect, it } from 'vitest';
import type { PartitionMap } from '../../src/cluster/map.js';
import { seededRandom } from '../../src/partitioning/prng.js';
import { SlotPartitioner } from '../../src/partitioning/slots.js';
import { failoverMap, fenceRequests } from '../../src/replication/failover.js';
import type { AckMode, Position } from '../../src/replication/log.js';
import { ReplicationManager } from '../../src/replication/replicator.js';
import { MemoryEngine } from '../../src/storage/memory.js';
import { partitionKeys } from '../../src/storage/wire.js';
import { checkHistory, HistoryRecorder } from '../../src/testing/linearizability.js';
import { SimNetwork, SimScheduler } from '../../src/testing/sim.js';

const P = 4;
/** Deliberate faults in the system under test, to show the checks can fail. */
type Broken = 'none' | 'no-read-gate';
const NODES = ['a', 'b', 'c'];
const LEASE_MS = 2_000;

interface World {
  sim: SimScheduler;
  net: SimNetwork;
  engines: Map<string, MemoryEngine>;
  managers: Map<string, ReplicationManager>;
  views: Map<string, PartitionMap>;
  coordinator: { map: PartitionMap };
  /** Nodes cut off from the coordinator, with when they last reached it. */
  lastContact: Map<string, number>;
  isolated: Set<string>;
}

function initialMap(): PartitionMap {
  const node = (id: string, port: number) => ({ id, host: '127.0.0.1', port, adminPort: 0, zone: 'z', weight: 1 });
  return {
    clusterId: 'sim',
    epoch: 1,
    partitions: [
      { replicas: ['a', 'b', 'c'], epoch: 1 },
      { replicas: ['a', 'c', 'b'], epoch: 1 },
      { replicas: ['b', 'c', 'a'], epoch: 1 },
      { replicas: ['c', 'a', 'b'], epoch: 1 },
    ],
    nodes: { a: node('a', 1), b: node('b', 2), c: node('c', 3) },
  };
}

function makeWorld(seed: number, mode: AckMode, broken: Broken): World {
  const sim = new SimScheduler();
  const net = new SimNetwork(sim, seed);
  net.faults = { dropRate: 0.01, delayMinMs: 1, delayMaxMs: 8 };
  const termRandom = seededRandom(seed ^ 0x5eed);
  const w: World = { sim, net, engines: new Map(), managers: new Map(), views: new Map(), coordinator: { map: initialMap() }, lastContact: new Map(), isolated: new Set() };
  const adopt = (id: string, map: PartitionMap): void => {
    const cur = w.views.get(id);
    if (cur !== undefined && cur.epoch >= map.epoch) return;
    w.views.set(id, map);
    w.managers.get(id)!.adoptMap(map);
  };
  for (const id of NODES) {
    const engine = new MemoryEngine({ clock: { nowMs: () => sim.nowMs } });
    w.engines.set(id, engine);
    w.lastContact.set(id, 0);
    const m = new ReplicationManager({
      selfId: id,
      engine,
      partitions: P,
      ackMode: () => mode,
      nowMs: () => sim.nowMs,
      newTerm: () => termRandom.nextU32().toString(16),
      peer: (to) => net.link(id, to),
      schedule: (d, fn) => sim.schedule(d, fn),
      every: (d, fn) => sim.every(d, fn),
      updateMap: async (change) => {
        if (w.isolated.has(id)) return false;
        const next = change(w.coordinator.map);
        if (next === undefined) return false;
        w.coordinator.map = next;
        adopt(id, next);
        for (const other of NODES) if (other !== id && !w.isolated.has(other)) sim.schedule(5, () => adopt(other, next));
        return true;
      },
      refresh: () => {
        if (!w.isolated.has(id)) sim.schedule(5, () => adopt(id, w.coordinator.map));
      },
      leaseValid: () => sim.nowMs < w.lastContact.get(id)! + LEASE_MS * 0.8,
    });
    if (broken === 'no-read-gate') {
      // Reads no longer wait for uncommitted writes to their keys (nor for anything else).
      const admit = m.admit.bind(m);
      m.admit = (p, keys, write) => (write ? admit(p, keys, write) : undefined);
    }
    w.managers.set(id, m);
    net.serve(id, (body) => {
      const b = body as { op: string; partitions?: number[]; epoch?: number };
      if (b.op === 'repl') return m.handleRepl(b as unknown as { parts: unknown });
      if (b.op === 'fence') return { positions: b.partitions!.map((p) => m.fence(p, b.epoch!).pos) };
      throw new Error(`unknown op ${b.op}`);
    });
  }
  // Keep-alives and watches: reachable nodes renew their lease and follow the coordinator's map.
  sim.every(100, () => {
    for (const id of NODES) {
      if (w.isolated.has(id)) continue;
      w.lastContact.set(id, sim.nowMs);
      adopt(id, w.coordinator.map);
    }
  });
  for (const id of NODES) adopt(id, w.coordinator.map);
  return w;
}

/** The controller's failover, as cluster-node runs it: fence live replicas, choose, CAS. */
async function failover(w: World, mode: AckMode, controller: string): Promise<void> {
  const map = w.coordinator.map;
  const live = new Set(NODES.filter((id) => !w.isolated.has(id)));
  const { asks } = fenceRequests(map, live);
  const answers = new Map<number, Map<string, Position>>();
  await Promise.all(
    [...asks].map(async ([id, partitions]) => {
      try {
        const r = (await w.net.link(controller, id).request({ op: 'fence', partitions, epoch: map.epoch + 1 }, 1_000)) as { positions: Position[] };
        partitions.forEach((p, i) => (answers.get(p) ?? answers.set(p, new Map()).get(p)!).set(id, r.positions[i]!));
      } catch {
        // Unanswered: that replica is not a candidate this round.
      }
    }),
  );
  const plan = failoverMap(map, live, answers, mode, false);
  if (plan.next !== undefined && w.coordinator.map === map) w.coordinator.map = plan.next;
}

/** Keys (a few per partition) that hash into each partition. */
function keysByPartition(): string[][] {
  const slots = new SlotPartitioner({ partitions: P });
  const out: string[][] = Array.from({ length: P }, () => []);
  for (let i = 0; out.some((l) => l.length < 3); i++) {
    const p = slots.partitionFor(`k${i}`);
    if (out[p]!.length < 3) out[p]!.push(`k${i}`);
  }
  return out;
}

async function run(seed: number, mode: AckMode, broken: Broken = 'none'): Promise<{ ok: boolean; acked: number; ops: number; converged: boolean; lostAcked: number; ackedWhileIsolated: number }> {
  const w = makeWorld(seed, mode, broken);
  const random = seededRandom(seed * 7 + 1);
  const history = new HistoryRecorder(() => w.sim.nowMs);
  const keys = keysByPartition();
  const slots = new SlotPartitioner({ partitions: P });
  let stop = false;
  let counter = 0;
  /** Nodes clients cannot reach either (a crash); merely isolated nodes still take their clients' requests. */
  const crashed = new Set<string>();
  let acked = 0;
  /** Last acknowledged value per key, and every acknowledged write, for the loss counts. */
  const lastAcked = new Map<string, number>();
  /** Writes acknowledged by a leader cut off from the others: in a failover these are the ones lost. */
  let ackedWhileIsolated = 0;

  // One client per partition and role; each picks a leader from the coordinator's map, or with some
  // chance from an older idea (the node it used before), as real clients with cached slot maps do.
  const client = (id: number, p: number, writer: boolean): void => {
    let cached = w.coordinator.map.partitions[p]!.replicas[0]!;
    const step = (): void => {
      if (stop) return;
      const key = keys[p]![random.nextInt(keys[p]!.length)]!;
      const node = random.next() < 0.8 ? w.coordinator.map.partitions[p]!.replicas[0]! : cached;
      cached = node;
      const again = (): void => w.sim.schedule(5 + random.nextInt(20), step);
      if (crashed.has(node)) {
        // The client cannot reach it: a write sent there has an unknown fate; reads are simply lost.
        if (writer) history.invoke(id, key, { kind: 'put', value: `v${++counter}` }).unknown();
        return void w.sim.schedule(300, step);
      }
      const m = w.managers.get(node)!;
      const view = w.views.get(node)!;
      if (view.partitions[p]!.replicas[0] !== node) return again(); // -MOVED: nothing ran
      const kb = Buffer.from(key, 'latin1');
      const attempt = (tries: number): void => {
        const admitted = m.admit(slots.partitionFor(key), [kb], writer);
        if (typeof admitted === 'string') return again(); // -TRYAGAIN: nothing ran
        if (admitted instanceof Promise) {
          if (tries > 20) return again();
          return void admitted.then(() => w.sim.schedule(0, () => attempt(tries + 1)));
        }
        if (!writer) {
          const op = history.invoke(id, key, { kind: 'get' });
          const v = w.engines.get(node)!.get(key);
          const value = v === undefined ? null : v.type === 'string' ? v.value.toString() : '?';
          w.sim.schedule(1, () => op.ok({ value }));
          return again();
        }
        const value = `v${++counter}`;
        const op = history.invoke(id, key, { kind: 'put', value });
        w.engines.get(node)!.put(key, { type: 'string', value: Buffer.from(value) }, 0);
        const committed = m.stage([kb]);
        let done = false;
        w.sim.schedule(3_000, () => {
          if (!done) {
            done = true;
            op.unknown();
            again();
          }
        });
        (committed ?? Promise.resolve()).then(
          () => {
            if (done) return;
            done = true;
            acked++;
            lastAcked.set(key, Number(value.slice(1)));
            if (w.isolated.has(node)) ackedWhileIsolated++;
            w.sim.schedule(1, () => op.ok({}));
            again();
          },
          () => {
            if (done) return;
            done = true;
            op.unknown();
            again();
          },
        );
      };
      attempt(0);
    };
    w.sim.schedule(random.nextInt(50), step);
  };
  let clientId = 0;
  for (let p = 0; p < P; p++) {
    client(clientId++, p, true);
    client(clientId++, p, false);
  }

  // Nemesis: cut the leader of partition 0 off from the other nodes and the coordinator (its clients still
  // reach it) past the lease, so it fails over while the old leader still takes writes; heal. Then a short
  // cut of another leader (no failover). Then a crash (clients cannot reach it either) of a third.
  const isolate = (id: string): void => {
    w.isolated.add(id);
    w.net.isolate(id);
  };
  const heal = (): void => {
    w.isolated.clear();
    crashed.clear();
    w.net.heal();
  };
  await w.sim.runUntil(1_500 + random.nextInt(1_000));
  const victim = w.coordinator.map.partitions[0]!.replicas[0]!;
  isolate(victim);
  await w.sim.runUntil(w.sim.nowMs + LEASE_MS + 100);
  // The failover's messages travel in simulated time: start it, run the world, then collect it.
  const first = failover(w, mode, NODES.find((id) => !w.isolated.has(id))!);
  await w.sim.runUntil(w.sim.nowMs + 2_000);
  await first;
  heal();
  await w.sim.runUntil(w.sim.nowMs + 1_500);
  const brief = w.coordinator.map.partitions[2]!.replicas[0]!;
  isolate(brief);
  await w.sim.runUntil(w.sim.nowMs + 500);
  heal();
  await w.sim.runUntil(w.sim.nowMs + 1_500);
  const second = w.coordinator.map.partitions[3]!.replicas[0]!;
  isolate(second);
  crashed.add(second);
  await w.sim.runUntil(w.sim.nowMs + LEASE_MS + 100);
  const again = failover(w, mode, NODES.find((id) => !w.isolated.has(id))!);
  await w.sim.runUntil(w.sim.nowMs + 2_000);
  await again;
  heal();
  await w.sim.runUntil(w.sim.nowMs + 1_000);
  stop = true;
  w.net.faults = { dropRate: 0, delayMinMs: 1, delayMaxMs: 2 };
  // Quiet time for every replica to catch up: longer than a request timeout plus retries.
  await w.sim.runUntil(w.sim.nowMs + 6_000);

  // Final reads from each partition's leader, then compare replicas.
  let lostAcked = 0;
  for (let p = 0; p < P; p++) {
    const leader = w.coordinator.map.partitions[p]!.replicas[0]!;
    for (const key of keys[p]!) {
      const v = w.engines.get(leader)!.get(key);
      const value = v === undefined ? null : (v as { value: Buffer }).value.toString();
      const op = history.invoke(999, key, { kind: 'get' });
      w.sim.nowMs += 1;
      op.ok({ value });
      const last = lastAcked.get(key);
      if (last !== undefined && (value === null || Number(value.slice(1)) < last)) lostAcked++;
    }
  }
  let converged = true;
  for (let p = 0; p < P; p++) {
    const replicas = w.coordinator.map.partitions[p]!.replicas;
    const dump = (id: string): string =>
      partitionKeys(w.engines.get(id)!, P, p)
        .sort()
        .map((k) => `${k}=${(w.engines.get(id)!.get(k) as { value: Buffer }).value.toString()}`)
        .join(',');
    const first = dump(replicas[0]!);
    for (const id of replicas.slice(1)) {
      if (dump(id) !== first) {
        converged = false;
        if (process.env.SIM_DEBUG) {
          const lead = w.managers.get(replicas[0]!)!.logOf(p)!;
          const fl = w.managers.get(id)!.logOf(p)!;
          process.stdout.write(`p${p} leader ${replicas[0]} ${lead.role} e${lead.epoch} last ${lead.lastSeq} commit ${lead.commitSeq} termStart ${lead.termStartSeq} prog ${JSON.stringify([...lead.followers])}\n  follower ${id} ${fl.role} e${fl.epoch} last ${fl.lastSeq} pos ${JSON.stringify(fl.position)} map ${JSON.stringify(w.coordinator.map.partitions[p])}\n  ${first}\n  ${dump(id)}\n`);
        }
      }
    }
  }
  for (const m of w.managers.values()) m.close();
  const result = checkHistory(history.operations);
  return { ok: result.ok, acked, ops: history.operations.length, converged, lostAcked, ackedWhileIsolated };
}

const SEEDS = Array.from({ length: Number(process.env.SIM_SEEDS ?? 12) }, (_, i) => Number(process.env.SIM_SEED0 ?? 1000) + i);

describe('replication under a simulated faulty network', () => {
  for (const mode of ['quorum', 'sync'] as const) {
    it(`${mode}: linearizable histories, no lost acknowledged write, replicas converge (seeds ${SEEDS[0]}-${SEEDS[SEEDS.length - 1]})`, async () => {
      for (const seed of SEEDS) {
        const r = await run(seed, mode);
        expect({ seed, mode, linearizable: r.ok, converged: r.converged, lost: r.lostAcked, }).toEqual({ seed, mode, linearizable: true, converged: true, lost: 0 });
        expect(r.acked, `seed ${seed}: too little progress`).toBeGreaterThan(200);
      }
    }, 120_000);
  }

  it('async: the same faults are measured (acknowledged writes may be lost; replicas still converge)', async () => {
    let lost = 0;
    let acked = 0;
    let violations = 0;
    for (const seed of SEEDS) {
      const r = await run(seed, 'async');
      expect({ seed, converged: r.converged }).toEqual({ seed, converged: true });
      lost += r.ackedWhileIsolated;
      acked += r.acked;
      if (!r.ok) violations++;
    }
    expect(acked).toBeGreaterThan(1_000);
    // Reported, not bounded: docs/replication.md records the figure (two failovers per run).
    process.stdout.write(`async replication under the simulated nemesis: ${lost} of ${acked} acknowledged writes were acknowledged by a leader cut off from its followers (lost at failover); ${violations} of ${SEEDS.length} histories not linearizable\n`);
  }, 120_000);
});

describe('the simulation can fail', () => {
  it('reads that do not wait for uncommitted writes see writes a failover then loses: the checker catches it', async () => {
    let violations = 0;
    for (const seed of SEEDS) if (!(await run(seed, 'quorum', 'no-read-gate')).ok) violations++;
    expect(violations).toBeGreaterThan(0);
  }, 120_000);
});
