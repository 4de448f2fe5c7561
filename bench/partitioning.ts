// Partitioning benchmark: Atoll's locators side by side with npm hashring and consistent-hashing and with
// bare JS references, on 10, 100 and 1000 nodes: ns per lookup, balance, and keys moved by adding a node.
// Then the placement planner's balance and movement. `npm run bench -- partitioning [--quick]`.
import HashRing from 'hashring';
import ConsistentHashing from 'consistent-hashing';
import clusterKeySlot from 'cluster-key-slot';
import {
  BoundedLoadLocator,
  ConsistentHashRing,
  JumpLocator,
  MaglevLocator,
  ModuloLocator,
  REDIS_SLOT_COUNT,
  RendezvousLocator,
  SlotPartitioner,
  fmix32,
  jumpHash,
  loadStats,
  murmur3String,
  planPlacement,
  type Assignment,
} from '../src/partitioning/index.js';
import { formatTable, nsPerOp, progress, writeResults } from './lib.js';

interface Contender {
  name: string;
  /** Builds the locator over `nodes`; returns lookup and add-a-node. */
  build(nodes: string[]): { lookup: (key: string) => string; add: (id: string) => void };
  /** Lookup keys to use, when the library is too slow for the full set. */
  keysMax?: number;
  /** Largest node count it can be built for in reasonable time (consistent-hashing sorts on every add). */
  nodesMax?: number;
  /** Stateful locators (bounded loads) need a fresh instance per timed pass. */
  freshPerPass?: boolean;
}

interface Row {
  nodes: number;
  contender: string;
  keys: number;
  nsPerLookup: number;
  maxOverMean: number;
  cv: number;
  movedFraction: number;
  idealMoved: number;
}

const VNODES = 256;

/** The plainest sorted-typed-array ring: random tokens, binary search, same hash. */
function bareRing(nodes: string[]): { lookup: (key: string) => string; add: (id: string) => void } {
  let tokens = new Uint32Array(0);
  let owners = new Uint32Array(0);
  const members: string[] = [];
  const rebuild = (): void => {
    const pairs: [number, number][] = [];
    members.forEach((id, i) => {
      for (let v = 0; v < VNODES; v++) pairs.push([murmur3String(`${id}#${v}`), i]);
    });
    pairs.sort((a, b) => a[0] - b[0]);
    tokens = Uint32Array.from(pairs, (p) => p[0]);
    owners = Uint32Array.from(pairs, (p) => p[1]);
  };
  members.push(...nodes);
  rebuild();
  return {
    lookup: (key) => {
      const h = murmur3String(key);
      let lo = 0;
      let hi = tokens.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (tokens[mid]! < h) lo = mid + 1;
        else hi = mid;
      }
      return members[owners[lo === tokens.length ? 0 : lo]!]!;
    },
    add: (id) => {
      members.push(id);
      rebuild();
    },
  };
}

/** Bare jump: hash, then the loop inline over a plain array. */
function bareJump(nodes: string[]): { lookup: (key: string) => string; add: (id: string) => void } {
  const members = [...nodes];
  return {
    lookup: (key) => {
      const h = murmur3String(key);
      return members[jumpHash(fmix32(h ^ 0x9e3779b9), h, members.length)]!;
    },
    add: (id) => void members.push(id),
  };
}

/** Bare Maglev: the same table copied into a plain typed array, read with one modulo. */
function bareMaglev(nodes: string[]): { lookup: (key: string) => string; add: (id: string) => void } {
  let members: string[] = [];
  let table = new Uint32Array(0);
  const load = (ids: string[]): void => {
    const loc = new MaglevLocator(ids);
    members = loc.nodeIds();
    table = Uint32Array.from(loc.lookupTable());
  };
  load(nodes);
  return {
    lookup: (key) => members[table[murmur3String(key) % table.length]!]!,
    add: (id) => load([...members, id]),
  };
}

/** Bare slots: CRC16 via cluster-key-slot, then one typed-array read to the owning node. */
function bareSlots(nodes: string[], partitions: number): { lookup: (key: string) => string; add: (id: string) => void } {
  const sp = new SlotPartitioner({ partitions });
  let members = [...nodes];
  let assignment: Assignment = planPlacement({ partitions, replicas: 1, nodes: members }).assignment;
  let slotOwner = new Uint32Array(REDIS_SLOT_COUNT);
  const fill = (): void => {
    const index = new Map(members.map((id, i) => [id, i]));
    slotOwner = Uint32Array.from({ length: REDIS_SLOT_COUNT }, (_, s) => index.get(assignment[sp.partitionForSlot(s)]![0]!)!);
  };
  fill();
  return {
    lookup: (key) => members[slotOwner[clusterKeySlot(key)]!]!,
    add: (id) => {
      members = [...members, id];
      assignment = planPlacement({ partitions, replicas: 1, nodes: members, current: assignment }).assignment;
      fill();
    },
  };
}

/** Atoll's slot routing as the server does it: SlotPartitioner, then the partition's leader. */
function atollSlots(nodes: string[], partitions: number): { lookup: (key: string) => string; add: (id: string) => void } {
  const sp = new SlotPartitioner({ partitions });
  let members = [...nodes];
  let leaders: string[] = planPlacement({ partitions, replicas: 1, nodes: members }).assignment.map((l) => l[0]!);
  let assignment: Assignment = leaders.map((l) => [l]);
  return {
    lookup: (key) => leaders[sp.partitionFor(key)]!,
    add: (id) => {
      members = [...members, id];
      assignment = planPlacement({ partitions, replicas: 1, nodes: members, current: assignment }).assignment;
      leaders = assignment.map((l) => l[0]!);
    },
  };
}

function slotPartitionsFor(n: number): number {
  return n >= 100 ? REDIS_SLOT_COUNT : 1024;
}

const CONTENDERS: Contender[] = [
  { name: 'atoll ring (balanced, 256 vn)', build: (n) => fromLocator(new ConsistentHashRing(n, { vnodes: VNODES })) },
  { name: 'atoll ring (random, 256 vn)', build: (n) => fromLocator(new ConsistentHashRing(n, { vnodes: VNODES, tokenAllocation: 'random' })) },
  { name: 'bare JS ring (reference)', build: bareRing },
  { name: 'npm hashring 3.2 (md5)', build: (n) => { const r = new HashRing(n); return { lookup: (k) => r.get(k), add: (id) => void r.add(id) }; } },
  {
    name: 'npm consistent-hashing 0.3',
    keysMax: 20_000,
    nodesMax: 100,
    build: (n) => { const r = new ConsistentHashing(n); return { lookup: (k) => r.getNode(k), add: (id) => r.addNode(id) }; },
  },
  { name: 'atoll jump', build: (n) => fromLocator(new JumpLocator(n)) },
  { name: 'bare JS jump (reference)', build: bareJump },
  { name: 'atoll rendezvous', build: (n) => fromLocator(new RendezvousLocator(n)) },
  { name: 'atoll maglev', build: (n) => fromLocator(new MaglevLocator(n)) },
  { name: 'bare JS maglev (reference)', build: bareMaglev },
  { name: 'atoll bounded-load (c=1.25)', freshPerPass: true, build: (n) => { const b = new BoundedLoadLocator(n, { vnodes: VNODES }); return { lookup: (k) => b.assign(k), add: () => undefined }; } },
  { name: 'atoll modulo (balance noise floor)', build: (n) => fromLocator(new ModuloLocator(n)) },
  { name: 'atoll slots', build: (n) => atollSlots(n, slotPartitionsFor(n.length)) },
  { name: 'bare JS slots (reference)', build: (n) => bareSlots(n, slotPartitionsFor(n.length)) },
];

interface AddableLocator {
  nodeFor(key: string): string;
  addNode(id: string): void;
}

function fromLocator(loc: AddableLocator): { lookup: (key: string) => string; add: (id: string) => void } {
  return { lookup: (k) => loc.nodeFor(k), add: (id) => loc.addNode(id) };
}

function measureContender(c: Contender, nodeCount: number, allKeys: readonly string[], runs: number): Row {
  const nodes = Array.from({ length: nodeCount }, (_, i) => `node-${i}`);
  const keys = c.keysMax !== undefined ? allKeys.slice(0, Math.max(1000, Math.floor(c.keysMax * (10 / nodeCount) ** 0.5))) : allKeys;
  let loc = c.build(nodes);
  let ns: number;
  if (c.freshPerPass) {
    const times: number[] = [];
    for (let r = 0; r < runs + 1; r++) {
      const fresh = c.build(nodes);
      const t = nsPerOp(keys, fresh.lookup, 1, 0).median;
      if (r > 0) times.push(t);
    }
    ns = times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
    loc = c.build(nodes);
  } else {
    ns = nsPerOp(keys, loc.lookup, runs, 1).median;
  }
  const counts = new Map(nodes.map((id) => [id, 0]));
  const before = keys.map((k) => {
    const o = loc.lookup(k);
    counts.set(o, (counts.get(o) ?? 0) + 1);
    return o;
  });
  const stats = loadStats(counts.values());
  let moved = Number.NaN;
  if (!c.freshPerPass) {
    loc.add(`node-${nodeCount}`);
    let m = 0;
    for (let i = 0; i < keys.length; i++) if (loc.lookup(keys[i]!) !== before[i]) m++;
    moved = m / keys.length;
  }
  return { nodes: nodeCount, contender: c.name, keys: keys.length, nsPerLookup: ns, maxOverMean: stats.maxOverMean, cv: stats.cv, movedFraction: moved, idealMoved: 1 / (nodeCount + 1) };
}

interface PlannerRow {
  nodes: number;
  zones: number;
  partitions: number;
  replicas: number;
  planMs: number;
  freshMaxOverMean: number;
  afterAddMaxOverMean: number;
  afterAddLeaderMaxOverMean: number;
  replicasMoved: number;
  replicasMovedIdeal: number;
  movedOverIdeal: number;
}

function measurePlanner(nodeCount: number, zones: number, partitions: number, replicas: number): PlannerRow {
  const nodes = Array.from({ length: nodeCount }, (_, i) => ({ id: `node-${i}`, zone: `z${i % zones}` }));
  const t0 = performance.now();
  const fresh = planPlacement({ partitions, replicas, nodes });
  const planMs = performance.now() - t0;
  // A newcomer per zone keeps the zones even, so "where the counts allow" holds and balance is comparable.
  const added = Array.from({ length: zones }, (_, z) => ({ id: `new-${z}`, zone: `z${z}` }));
  const next = planPlacement({ partitions, replicas, nodes: [...nodes, ...added], current: fresh.assignment });
  return {
    nodes: nodeCount,
    zones,
    partitions,
    replicas,
    planMs,
    freshMaxOverMean: fresh.stats.replicaMaxOverMean,
    afterAddMaxOverMean: next.stats.replicaMaxOverMean,
    afterAddLeaderMaxOverMean: next.stats.leaderMaxOverMean,
    replicasMoved: next.stats.replicasAdded,
    replicasMovedIdeal: next.stats.replicasAddedIdeal,
    movedOverIdeal: next.stats.replicasAdded / next.stats.replicasAddedIdeal,
  };
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const keyCount = quick ? 200_000 : 1_000_000;
  const runs = quick ? 3 : 5;
  const sizes = [10, 100, 1000];
  const keys = Array.from({ length: keyCount }, (_, i) => `user:${i}:${(i * 2654435761) % 1000003}`);
  const rows: Row[] = [];
  for (const n of sizes) {
    for (const c of CONTENDERS) {
      if (c.nodesMax !== undefined && n > c.nodesMax) {
        progress(`${n} nodes: ${c.name}: skipped (building it for ${n} nodes takes minutes)`);
        continue;
      }
      const t0 = performance.now();
      rows.push(measureContender(c, n, keys, runs));
      progress(`${n} nodes: ${c.name} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }
  const table = formatTable(
    ['nodes / contender', 'keys', 'ns/lookup', 'max/mean', 'CV', 'moved', 'ideal'],
    rows.map((r) => [`${r.nodes} ${r.contender}`, r.keys, r.nsPerLookup, r.maxOverMean, r.cv, Number.isNaN(r.movedFraction) ? 'n/a' : r.movedFraction.toFixed(4), r.idealMoved.toFixed(4)]),
  );
  const planner: PlannerRow[] = [];
  for (const [n, z, p] of [[10, 1, 4096], [100, 1, 4096], [1000, 1, 16384], [12, 3, 4096], [99, 3, 4096]] as const) {
    progress(`planner ${n} nodes, ${z} zones, ${p} partitions`);
    planner.push(measurePlanner(n, z, p, 3));
  }
  const plannerTable = formatTable(
    ['nodes/zones/partitions (R=3)', 'plan ms', 'fresh max/mean', 'after add', 'leaders', 'moved', 'ideal', 'moved/ideal'],
    planner.map((r) => [`${r.nodes}/${r.zones}/${r.partitions}`, r.planMs, r.freshMaxOverMean, r.afterAddMaxOverMean, r.afterAddLeaderMaxOverMean, r.replicasMoved, r.replicasMovedIdeal, r.movedOverIdeal]),
  );
  const goals = evaluateGoals(rows, planner);
  process.stdout.write(`\nLookups, balance and movement (${keyCount} keys, median of ${runs} runs)\n${table}\n\nPlacement planner\n${plannerTable}\n\nGoals\n${goals.map((g) => `${g.met ? 'MET ' : 'MISS'}  ${g.goal}: ${g.measured}`).join('\n')}\n`);
  const file = writeResults('partitioning', { keys: keyCount, runs, lookups: rows, planner, goals });
  process.stdout.write(`\nwrote ${file}\n`);
}

interface Goal {
  goal: string;
  measured: string;
  met: boolean;
}

function evaluateGoals(rows: Row[], planner: PlannerRow[]): Goal[] {
  const at = (n: number, name: string) => rows.find((r) => r.nodes === n && r.contender.startsWith(name))!;
  const goals: Goal[] = [];
  const ring100 = at(100, 'atoll ring (balanced');
  const hashring100 = at(100, 'npm hashring');
  const speedup = hashring100.nsPerLookup / ring100.nsPerLookup;
  goals.push({ goal: 'ring lookup >= 10x faster than hashring at 100 nodes', measured: `${speedup.toFixed(1)}x (${ring100.nsPerLookup.toFixed(0)} vs ${hashring100.nsPerLookup.toFixed(0)} ns)`, met: speedup >= 10 });
  goals.push({ goal: 'ring max/mean <= 1.10 at 100 nodes, 256 vnodes', measured: ring100.maxOverMean.toFixed(3), met: ring100.maxOverMean <= 1.1 });
  for (const n of [10, 100, 1000]) {
    for (const [ours, bare] of [['atoll jump', 'bare JS jump'], ['atoll maglev', 'bare JS maglev'], ['atoll slots', 'bare JS slots']] as const) {
      const ratio = at(n, ours).nsPerLookup / at(n, bare).nsPerLookup;
      goals.push({ goal: `${ours} within 1.5x of bare JS at ${n} nodes`, measured: `${ratio.toFixed(2)}x`, met: ratio <= 1.5 });
    }
  }
  for (const p of planner) {
    if (p.zones === 1) {
      goals.push({ goal: `planner max/mean <= 1.05 at ${p.nodes} nodes`, measured: p.afterAddMaxOverMean.toFixed(3), met: p.afterAddMaxOverMean <= 1.05 && p.freshMaxOverMean <= 1.05 });
    }
    goals.push({ goal: `planner movement <= 1.1x ideal at ${p.nodes} nodes / ${p.zones} zones`, measured: `${p.movedOverIdeal.toFixed(3)}x`, met: p.movedOverIdeal <= 1.1 });
  }
  return goals;
}
