// Placement planner: puts R replicas of P fixed partitions on weighted nodes in zones, and given a change of
// membership or weights, computes the smallest set of replica moves that restores balance. Pure and
// deterministic: the same input gives the same plan in every process.
import { PartitioningError, assert } from '../errors.js';
import { murmur3String } from './hash.js';
import { checkInt, normaliseNodes, type Node, type NodeId, type NodeSpec, type PartitionId } from './types.js';

/** partition id -> replica node ids, leader first. */
export type Assignment = NodeId[][];

export interface PlacementInput {
  readonly partitions: number;
  readonly replicas: number;
  readonly nodes: readonly (NodeSpec | NodeId)[];
  /** Where replicas are now; nodes not in `nodes` are leaving. Omit for a fresh placement. */
  readonly current?: Assignment;
}

/** A replica move: `from` null adds a replica, `to` null drops one. */
export interface ReplicaMove {
  readonly partition: PartitionId;
  readonly from: NodeId | null;
  readonly to: NodeId | null;
}

export interface LeaderChange {
  readonly partition: PartitionId;
  readonly from: NodeId | null;
  readonly to: NodeId;
}

export interface PlacementStats {
  /** Replicas each partition gets: the replication factor, or the node count when that is smaller. */
  readonly replicasPerPartition: number;
  /** Replicas per node: max over nodes of count / (weight share of all replicas). 1 is perfect. */
  readonly replicaMaxOverMean: number;
  /**
   * The same against the best any placement can do under the constraints (a node holds one replica of a
   * partition; a zone at most ceil(R / zones)): differs from replicaMaxOverMean when zones are uneven.
   */
  readonly replicaMaxOverFair: number;
  readonly leaderMaxOverMean: number;
  /** Replicas copied to a new home by this plan. */
  readonly replicasAdded: number;
  /**
   * Copies needed if every surviving replica could stay: a lower bound. It ignores zone limits, so where
   * zones bind (e.g. a zone that must hold one replica of every partition) the true minimum is higher.
   */
  readonly replicasAddedIdeal: number;
  /** Partitions with two replicas in one zone although a zone without any was available. */
  readonly zoneViolations: number;
}

export interface PlacementPlan {
  readonly assignment: Assignment;
  readonly moves: ReplicaMove[];
  readonly leaderChanges: LeaderChange[];
  readonly targets: Map<NodeId, number>;
  readonly replicaCounts: Map<NodeId, number>;
  readonly leaderCounts: Map<NodeId, number>;
  readonly stats: PlacementStats;
}

export const PLACEMENT_LIMITS = Object.freeze({ partitionsMax: 1 << 20, nodesMax: 10_000, replicasMax: 16, repairPassesMax: 8, leaderPassesMax: 32, leaderChainRoundsMax: 4096 });

/** Plans a placement (fresh, or from `current` to balanced for the given nodes). */
export function planPlacement(input: PlacementInput): PlacementPlan {
  const P = checkInt(input.partitions, 'partitions', 1, PLACEMENT_LIMITS.partitionsMax);
  const nodes = normaliseNodes(input.nodes);
  if (nodes.length > PLACEMENT_LIMITS.nodesMax) throw new PartitioningError('BAD_ARGUMENT', `more than ${PLACEMENT_LIMITS.nodesMax} nodes`);
  // With fewer nodes than the replication factor every partition gets one replica per node and the plan
  // says so (stats.replicasPerPartition < replicas): the cluster is under-replicated, not broken.
  const R = Math.min(checkInt(input.replicas, 'replicas', 1, PLACEMENT_LIMITS.replicasMax), nodes.length);
  const current = checkCurrent(input.current, P);
  const state = new PlacementState(P, R, nodes, current);
  state.trimExtra();
  state.fillHoles();
  state.moveSurplus();
  state.fillHoles();
  state.repairZones();
  state.chooseLeaders(current);
  return state.result(current);
}

function checkCurrent(current: Assignment | undefined, P: number): Assignment {
  if (current === undefined) return Array.from({ length: P }, () => []);
  if (!Array.isArray(current) || current.length !== P) {
    throw new PartitioningError('BAD_ARGUMENT', `current assignment must list ${P} partitions`);
  }
  return current.map((list, p) => {
    if (!Array.isArray(list) || list.some((id) => typeof id !== 'string')) {
      throw new PartitioningError('BAD_ARGUMENT', `partition ${p}: replicas must be node ids`);
    }
    if (new Set(list).size !== list.length) throw new PartitioningError('BAD_ARGUMENT', `partition ${p} lists a node twice`);
    return [...list];
  });
}

/** Largest-remainder rounding of real shares to integers summing to `total`, each <= cap[i]. */
function roundShares(shares: readonly number[], caps: readonly number[], total: number): number[] {
  const out = shares.map((s, i) => Math.min(caps[i]!, Math.floor(s)));
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = shares.map((s, i) => ({ i, r: s - Math.floor(s) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let pass = 0; left > 0 && pass < 2; pass++) {
    for (const { i } of order) {
      if (left === 0) break;
      if (out[i]! < caps[i]!) {
        out[i]!++;
        left--;
      }
    }
  }
  assert(left === 0, 'roundShares could not place every replica under the caps');
  return out;
}

/**
 * Real-valued fair shares with caps (a node holds at most one replica of each partition; a zone at most
 * ceil(R / zones) of each partition), by water-filling: capped members keep their cap and the rest is
 * shared by weight among the others.
 */
function fairShares(nodes: readonly Node[], total: number, nodeCap: number, zoneCap: number): number[] {
  const share = new Array<number>(nodes.length).fill(0);
  const fixed = new Array<boolean>(nodes.length).fill(false);
  const zones = [...new Set(nodes.map((n) => n.zone))];
  for (let round = 0; round <= nodes.length + zones.length; round++) {
    const freeWeight = nodes.reduce((s, n, i) => s + (fixed[i] ? 0 : n.weight), 0);
    const fixedTotal = share.reduce((s, v, i) => s + (fixed[i] ? v : 0), 0);
    if (freeWeight === 0) break;
    nodes.forEach((n, i) => {
      if (!fixed[i]) share[i] = ((total - fixedTotal) * n.weight) / freeWeight;
    });
    let changed = false;
    nodes.forEach((_, i) => {
      if (!fixed[i] && share[i]! > nodeCap) {
        share[i] = nodeCap;
        fixed[i] = true;
        changed = true;
      }
    });
    for (const z of zones) {
      const members = nodes.map((n, i) => i).filter((i) => nodes[i]!.zone === z);
      const sum = members.reduce((s, i) => s + share[i]!, 0);
      if (sum > zoneCap + 1e-9) {
        // The zone gets exactly its cap, shared by weight among its nodes (each still capped).
        const inner = waterFill(members.map((i) => nodes[i]!.weight), zoneCap, nodeCap);
        members.forEach((i, k) => {
          share[i] = inner[k]!;
          fixed[i] = true;
        });
        changed = true;
      }
    }
    if (!changed) break;
  }
  return share;
}

/** Shares `total` by weight, no share above `cap` (what a capped member cannot take goes to the others). */
function waterFill(weights: readonly number[], total: number, cap: number): number[] {
  const share = weights.map(() => 0);
  const open = new Set(weights.map((_, i) => i));
  let left = total;
  for (let round = 0; round <= weights.length && open.size > 0 && left > 1e-9; round++) {
    const w = [...open].reduce((sum, i) => sum + weights[i]!, 0);
    let capped = false;
    for (const i of [...open]) {
      if ((left * weights[i]!) / w >= cap) {
        share[i] = cap;
        open.delete(i);
        capped = true;
      }
    }
    if (capped) {
      left = total - share.reduce((a, b) => a + b, 0);
      continue;
    }
    for (const i of open) share[i] = (left * weights[i]!) / w;
    break;
  }
  return share;
}

class PlacementState {
  readonly assignment: NodeId[][];
  readonly byId: Map<NodeId, Node>;
  readonly counts = new Map<NodeId, number>();
  readonly targets = new Map<NodeId, number>();
  /** Real-valued best shares under the caps, for reporting. */
  readonly fair = new Map<NodeId, number>();
  readonly perZoneCap: number;
  private readonly zoneCount: number;

  constructor(
    readonly P: number,
    readonly R: number,
    readonly nodes: Node[],
    current: Assignment,
  ) {
    this.byId = new Map(nodes.map((n) => [n.id, n]));
    this.zoneCount = new Set(nodes.map((n) => n.zone)).size;
    this.perZoneCap = Math.ceil(R / this.zoneCount);
    // Keep only replicas on live nodes; at most R per partition (extra ones are dropped later by surplus).
    this.assignment = current.map((list) => list.filter((id) => this.byId.has(id)));
    for (const n of nodes) this.counts.set(n.id, 0);
    for (const list of this.assignment) for (const id of list) this.counts.set(id, this.counts.get(id)! + 1);
    const total = P * R;
    const shares = fairShares(nodes, total, P, P * this.perZoneCap);
    nodes.forEach((n, i) => this.fair.set(n.id, shares[i]!));
    // Round zone totals first, then nodes within each zone, so rounding never pushes a zone over its cap.
    const zones = [...new Set(nodes.map((n) => n.zone))];
    const members = zones.map((z) => nodes.map((_, i) => i).filter((i) => nodes[i]!.zone === z));
    const zoneShares = members.map((idx) => idx.reduce((sum, i) => sum + shares[i]!, 0));
    const zoneCaps = members.map((idx) => Math.min(P * this.perZoneCap, idx.length * P));
    const zoneInts = roundShares(zoneShares, zoneCaps, total);
    members.forEach((idx, z) => {
      const ints = roundShares(idx.map((i) => shares[i]!), idx.map(() => P), zoneInts[z]!);
      idx.forEach((i, k) => this.targets.set(nodes[i]!.id, ints[k]!));
    });
  }

  private zoneUse(p: PartitionId, zone: string): number {
    let n = 0;
    for (const id of this.assignment[p]!) if (this.byId.get(id)!.zone === zone) n++;
    return n;
  }

  private deficit(id: NodeId): number {
    return this.targets.get(id)! - this.counts.get(id)!;
  }

  private remove(p: PartitionId, id: NodeId): void {
    this.assignment[p] = this.assignment[p]!.filter((x) => x !== id);
    this.counts.set(id, this.counts.get(id)! - 1);
  }

  private add(p: PartitionId, id: NodeId): void {
    assert(!this.assignment[p]!.includes(id), () => `node ${id} already holds partition ${p}`);
    this.assignment[p]!.push(id);
    this.counts.set(id, this.counts.get(id)! + 1);
  }

  /** Trims partitions that hold more than R replicas (the replication factor went down). */
  trimExtra(): void {
    for (let p = 0; p < this.P; p++) {
      while (this.assignment[p]!.length > this.R) {
        const list = this.assignment[p]!;
        const worst = [...list].sort((a, b) => this.deficit(a) - this.deficit(b) || cmp(b, a))[0]!;
        this.remove(p, worst);
      }
    }
  }

  /**
   * Moves surplus replicas straight from nodes above target to nodes below it, choosing for each move a
   * partition the receiver lacks and whose zone spread stays valid, so no later repair (and no extra copy)
   * is needed. A surplus that has no valid receiver is dropped and left as a hole for fillHoles.
   */
  moveSurplus(): void {
    for (const giver of this.nodes) {
      let surplus = -this.deficit(giver.id);
      if (surplus <= 0) continue;
      const held: PartitionId[] = [];
      for (let p = 0; p < this.P; p++) if (this.assignment[p]!.includes(giver.id)) held.push(p);
      // Prefer giving up replicas that share a zone with another replica, then followers, then a spread.
      const rank = (p: PartitionId): number =>
        (this.zoneUse(p, giver.zone) > this.perZoneCap ? 0 : 2) + (this.assignment[p]![0] === giver.id ? 1 : 0);
      held.sort((a, b) => rank(a) - rank(b) || spread(giver.id, a) - spread(giver.id, b));
      for (; surplus > 0; surplus--) {
        const move = this.findMove(giver, held, true) ?? this.findMove(giver, held, false);
        const p = move?.p ?? held[0]!;
        this.remove(p, giver.id);
        if (move !== undefined) this.add(p, move.to);
        held.splice(held.indexOf(p), 1);
      }
    }
  }

  private findMove(giver: Node, held: readonly PartitionId[], zoneStrict: boolean): { p: PartitionId; to: NodeId } | undefined {
    const takers = this.nodes
      .filter((n) => this.deficit(n.id) > 0)
      .sort((a, b) => this.deficit(b.id) / this.targets.get(b.id)! - this.deficit(a.id) / this.targets.get(a.id)! || cmp(a.id, b.id));
    for (const taker of takers) {
      for (const p of held) {
        if (this.assignment[p]!.includes(taker.id)) continue;
        if (zoneStrict) {
          const use = this.zoneUse(p, taker.zone) - (taker.zone === giver.zone ? 1 : 0);
          if (use >= this.perZoneCap) continue;
        }
        return { p, to: taker.id };
      }
    }
    return undefined;
  }

  /** Fills every missing replica from the node with the largest deficit that may take it. */
  fillHoles(): void {
    const order = this.nodes.map((n) => n.id);
    for (let p = 0; p < this.P; p++) {
      while (this.assignment[p]!.length < this.R) {
        const pick = this.bestTaker(p, order, true) ?? this.bestTaker(p, order, false);
        if (pick !== undefined) this.add(p, pick);
        else this.fillBySwap(p);
      }
    }
  }

  private bestTaker(p: PartitionId, order: readonly NodeId[], zoneStrict: boolean): NodeId | undefined {
    let best: NodeId | undefined;
    let bestScore = -Infinity;
    for (const id of order) {
      const d = this.deficit(id);
      if (d <= 0 || this.assignment[p]!.includes(id)) continue;
      const use = this.zoneUse(p, this.byId.get(id)!.zone);
      if (zoneStrict ? use >= this.perZoneCap : false) continue;
      // Largest relative deficit first; an unused zone breaks ties towards spreading.
      const score = d / this.targets.get(id)! - use * 1e-6 - spread(id, p) * 1e-12;
      if (score > bestScore) {
        bestScore = score;
        best = id;
      }
    }
    return best;
  }

  /**
   * Every node with room already holds p. Give p to a node `b` holding some partition q that a node `a` with
   * room lacks, and hand b's replica of q to a: one extra copy, counts stay on target.
   */
  private fillBySwap(p: PartitionId): void {
    const needy = this.nodes.filter((n) => this.deficit(n.id) > 0);
    assert(needy.length > 0, () => `partition ${p} has a hole but no node is below target`);
    for (const a of needy) {
      for (let q = 0; q < this.P; q++) {
        if (q === p || this.assignment[q]!.includes(a.id)) continue;
        const b = this.assignment[q]!.find((id) => !this.assignment[p]!.includes(id));
        if (b === undefined) continue;
        this.remove(q, b);
        this.add(q, a.id);
        this.add(p, b);
        return;
      }
    }
    assert(false, () => `no swap can fill partition ${p}`);
  }

  zoneViolations(): number {
    if (this.zoneCount < 2) return 0;
    let bad = 0;
    for (let p = 0; p < this.P; p++) if (this.violates(p)) bad++;
    return bad;
  }

  private violates(p: PartitionId): boolean {
    const zones = this.assignment[p]!.map((id) => this.byId.get(id)!.zone);
    return zones.some((z) => zones.filter((y) => y === z).length > this.perZoneCap);
  }

  /** Swaps replicas between partitions (counts unchanged) to remove zone clashes, within a bounded budget. */
  repairZones(): void {
    if (this.zoneCount < 2) return;
    for (let pass = 0; pass < PLACEMENT_LIMITS.repairPassesMax; pass++) {
      let fixed = 0;
      for (let p = 0; p < this.P; p++) {
        if (this.violates(p) && this.swapOutClash(p)) fixed++;
      }
      if (fixed === 0) return;
    }
  }

  private swapOutClash(p: PartitionId): boolean {
    const list = this.assignment[p]!;
    const x = list.find((id) => this.zoneUse(p, this.byId.get(id)!.zone) > this.perZoneCap);
    if (x === undefined) return false;
    const xZone = this.byId.get(x)!.zone;
    for (let q = 0; q < this.P; q++) {
      if (q === p || this.assignment[q]!.includes(x)) continue;
      for (const y of this.assignment[q]!) {
        const yZone = this.byId.get(y)!.zone;
        if (list.includes(y) || yZone === xZone || this.zoneUse(p, yZone) >= this.perZoneCap) continue;
        if (this.zoneUse(q, xZone) >= this.perZoneCap) continue;
        this.remove(p, x);
        this.remove(q, y);
        this.add(p, y);
        this.add(q, x);
        return true;
      }
    }
    return false;
  }

  /** Leaders: keep the current leader where fair, else the replica with the fewest leaderships for its weight. */
  chooseLeaders(current: Assignment): void {
    const weightSum = this.nodes.reduce((s, n) => s + n.weight, 0);
    const leaderTarget = new Map(this.nodes.map((n) => [n.id, Math.ceil((this.P * n.weight) / weightSum)]));
    const leads = new Map(this.nodes.map((n) => [n.id, 0]));
    const pending: PartitionId[] = [];
    for (let p = 0; p < this.P; p++) {
      const old = current[p]![0];
      if (old !== undefined && this.assignment[p]!.includes(old) && leads.get(old)! < leaderTarget.get(old)!) {
        this.setLeader(p, old);
        leads.set(old, leads.get(old)! + 1);
      } else pending.push(p);
    }
    const load = (id: NodeId): number => leads.get(id)! / this.byId.get(id)!.weight;
    for (const p of pending) {
      const pick = [...this.assignment[p]!].sort((a, b) => load(a) - load(b) || cmp(a, b))[0]!;
      this.setLeader(p, pick);
      leads.set(pick, leads.get(pick)! + 1);
    }
    // Hand leadership from nodes over their target to followers under theirs (a cheap change: no data moves).
    for (let pass = 0; pass < PLACEMENT_LIMITS.leaderPassesMax; pass++) {
      let changed = 0;
      for (let p = 0; p < this.P; p++) {
        const leader = this.assignment[p]![0]!;
        // Move only when it strictly narrows the gap, so the passes converge.
        const heir = this.assignment[p]!.slice(1).find(
          (id) => (leads.get(id)! + 1) / this.byId.get(id)!.weight < leads.get(leader)! / this.byId.get(leader)!.weight,
        );
        if (heir === undefined) continue;
        this.setLeader(p, heir);
        leads.set(leader, leads.get(leader)! - 1);
        leads.set(heir, leads.get(heir)! + 1);
        changed++;
      }
      if (changed === 0) break;
    }
    this.balanceLeadersByChains(leads);
  }

  /**
   * When the busiest leader has no direct heir under its load, leadership can still shift along a chain:
   * A hands p1 to B, B hands p2 to C, and so on, until a node that can take one more. Every node in the
   * middle keeps its count; only the ends change. Breadth-first, so chains are as short as possible.
   */
  private balanceLeadersByChains(leads: Map<NodeId, number>): void {
    const load = (id: NodeId): number => leads.get(id)! / this.byId.get(id)!.weight;
    for (let round = 0; round < PLACEMENT_LIMITS.leaderChainRoundsMax; round++) {
      const led = new Map<NodeId, PartitionId[]>(this.nodes.map((n) => [n.id, []]));
      for (let p = 0; p < this.P; p++) led.get(this.assignment[p]![0]!)!.push(p);
      const source = [...this.nodes].sort((a, b) => load(b.id) - load(a.id) || cmp(a.id, b.id))[0]!.id;
      // via: node -> [previous node, partition handed from previous to it]
      const via = new Map<NodeId, [NodeId, PartitionId]>();
      const queue: NodeId[] = [source];
      let end: NodeId | undefined;
      for (let qi = 0; qi < queue.length && end === undefined; qi++) {
        const a = queue[qi]!;
        for (const p of led.get(a)!) {
          for (const b of this.assignment[p]!.slice(1)) {
            if (b === source || via.has(b)) continue;
            via.set(b, [a, p]);
            if ((leads.get(b)! + 1) / this.byId.get(b)!.weight < load(source)) {
              end = b;
              break;
            }
            queue.push(b);
          }
          if (end !== undefined) break;
        }
      }
      if (end === undefined) return;
      leads.set(end, leads.get(end)! + 1);
      leads.set(source, leads.get(source)! - 1);
      for (let at = end; at !== source; ) {
        const [prev, p] = via.get(at)!;
        this.setLeader(p, at);
        at = prev;
      }
    }
  }

  private setLeader(p: PartitionId, id: NodeId): void {
    this.assignment[p] = [id, ...this.assignment[p]!.filter((x) => x !== id)];
  }

  result(current: Assignment): PlacementPlan {
    const moves: ReplicaMove[] = [];
    const leaderChanges: LeaderChange[] = [];
    for (let p = 0; p < this.P; p++) {
      const before = current[p]!;
      const after = this.assignment[p]!;
      const gone = before.filter((id) => !after.includes(id));
      const added = after.filter((id) => !before.includes(id));
      for (let i = 0; i < Math.max(gone.length, added.length); i++) {
        moves.push({ partition: p, from: gone[i] ?? null, to: added[i] ?? null });
      }
      if (before[0] !== after[0]) leaderChanges.push({ partition: p, from: before[0] ?? null, to: after[0]! });
    }
    const leaderCounts = new Map(this.nodes.map((n) => [n.id, 0]));
    for (const list of this.assignment) leaderCounts.set(list[0]!, leaderCounts.get(list[0]!)! + 1);
    const kept = new Map<NodeId, number>();
    for (const list of current) for (const id of list) if (this.byId.has(id)) kept.set(id, (kept.get(id) ?? 0) + 1);
    const keepable = this.nodes.reduce((s, n) => s + Math.min(kept.get(n.id) ?? 0, this.targets.get(n.id)!), 0);
    const stats: PlacementStats = {
      replicasPerPartition: this.R,
      replicaMaxOverMean: maxOverFair(this.counts, this.nodes),
      replicaMaxOverFair: Math.max(...this.nodes.map((n) => this.counts.get(n.id)! / this.fair.get(n.id)!)),
      leaderMaxOverMean: maxOverFair(leaderCounts, this.nodes),
      replicasAdded: moves.filter((m) => m.to !== null).length,
      replicasAddedIdeal: this.P * this.R - keepable,
      zoneViolations: this.zoneViolations(),
    };
    return {
      assignment: this.assignment.map((l) => [...l]),
      moves,
      leaderChanges,
      targets: new Map(this.targets),
      replicaCounts: new Map(this.counts),
      leaderCounts,
      stats,
    };
  }
}

function maxOverFair(counts: Map<NodeId, number>, nodes: readonly Node[]): number {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const weightSum = nodes.reduce((s, n) => s + n.weight, 0);
  let worst = 0;
  for (const n of nodes) worst = Math.max(worst, counts.get(n.id)! / ((total * n.weight) / weightSum));
  return worst;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A deterministic pseudo-random tie-breaker so equal choices spread instead of piling on low ids. */
function spread(id: NodeId, p: PartitionId): number {
  return murmur3String(id, p);
}
