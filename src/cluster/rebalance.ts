// Rebalancing, pure: a plan from the current map to a balanced placement for the nodes that should hold data
// (moves, bytes, estimated time, balance before/after), the check that a plan still fits the map, and the
// next step of a partition's move derived from the map alone (so a move resumes after any crash):
// add the targets as extra replicas -> wait until they are in sync -> hand leadership over -> drop the sources.
import { z } from 'zod';
import { AtollError } from '../errors.js';
import { planPlacement } from '../partitioning/placement.js';
import { inSync, type ClusterMeta, type ClusterNode, type PartitionEntry, type PartitionMap } from './map.js';

export const REBALANCE_LIMITS = Object.freeze({
  /** Partitions moving at once, per node involved (a new node takes part in every move onto it). */
  movesPerNodeMax: 32,
  /** Assumed copy rate for estimates when none is measured yet. */
  estimateBytesPerSecond: 50 * 1024 * 1024,
});

export const PlanMoveSchema = z.object({
  partition: z.number().int().nonnegative(),
  /** Replica ids before, leader first. */
  from: z.array(z.string()),
  /** Replica ids after, leader first. */
  to: z.array(z.string()),
  bytes: z.number().nonnegative(),
});
export type PlanMove = z.infer<typeof PlanMoveSchema>;

export const PlanSchema = z.object({
  id: z.string(),
  createdMs: z.number(),
  /** The map epoch the plan was made against, and a digest of the replica sets then (ISR and leader changes do not count). */
  epoch: z.number().int(),
  basis: z.string(),
  reason: z.string(),
  nodes: z.array(z.object({ id: z.string(), weight: z.number().nonnegative() })),
  moves: z.array(PlanMoveSchema),
  totalBytes: z.number(),
  estimatedMs: z.number(),
  /** Max over nodes of replicas / fair share (1 is perfect), before and after. */
  balanceBefore: z.number(),
  balanceAfter: z.number(),
  status: z.enum(['planned', 'applying', 'paused', 'done', 'failed', 'cancelled']),
  done: z.number().int().nonnegative(),
  bytesDone: z.number().nonnegative(),
  /** Moved partitions whose replicas were compared after the move (src/server/verify.ts), and the outcomes. */
  verify: z.object({ checked: z.number().int(), matched: z.number().int(), repaired: z.number().int(), mismatched: z.number().int(), unverified: z.number().int() }).optional(),
  /** The longest time a hand-over held a partition's commands (the write pause clients saw at a switch). */
  pauseMsMax: z.number().optional(),
  startedMs: z.number().optional(),
  finishedMs: z.number().optional(),
  error: z.string().optional(),
});
export type RebalancePlan = z.infer<typeof PlanSchema>;

export function parsePlan(text: string): RebalancePlan {
  const parsed = PlanSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new AtollError('BAD_ARGUMENT', `stored plan is malformed: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** The replica sets of a map, order-free: plans made against other sets are stale. */
export function placementBasis(map: PartitionMap): string {
  let h = 2166136261;
  for (const e of map.partitions) {
    for (const id of [...e.replicas].sort()) for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619) >>> 0;
    h = Math.imul(h ^ 0x2c, 16777619) >>> 0;
  }
  return h.toString(16);
}

export interface PlanRequest {
  /** Nodes that should hold data afterwards, with their weights (a drained node is left out). */
  readonly nodes: readonly { id: string; weight: number; zone: string }[];
  /** Bytes per partition, where known. */
  readonly partitionBytes?: ReadonlyMap<number, number>;
  readonly reason: string;
  readonly id: string;
  readonly nowMs: number;
  /** The configured copy rate (0 or absent: estimate at REBALANCE_LIMITS.estimateBytesPerSecond). */
  readonly rateBytesPerSec?: number;
}

function balance(assignment: readonly (readonly string[])[], nodes: readonly { id: string; weight: number }[]): number {
  const totalWeight = nodes.reduce((a, n) => a + n.weight, 0);
  const replicas = assignment.reduce((a, r) => a + r.length, 0);
  if (totalWeight === 0 || replicas === 0) return 1;
  let worst = 0;
  for (const n of nodes) {
    if (n.weight === 0) continue;
    const count = assignment.reduce((a, r) => a + (r.includes(n.id) ? 1 : 0), 0);
    worst = Math.max(worst, count / ((replicas * n.weight) / totalWeight));
  }
  return Math.round(worst * 1000) / 1000;
}

export function makePlan(map: PartitionMap, meta: ClusterMeta, req: PlanRequest): RebalancePlan {
  if (req.nodes.length === 0) throw new AtollError('EMPTY_NODES', 'a plan needs at least one node to hold data (cannot drain the last node)');
  for (const n of req.nodes) if (!(n.weight > 0) || !Number.isFinite(n.weight)) throw new AtollError('BAD_WEIGHT', `node ${n.id} needs a weight > 0, got ${n.weight}`);
  const placement = planPlacement({
    partitions: map.partitions.length,
    replicas: meta.replicas,
    nodes: req.nodes.map((n) => ({ id: n.id, weight: n.weight, zone: n.zone })),
    current: map.partitions.map((e) => [...e.replicas]),
  });
  const moves: PlanMove[] = [];
  placement.assignment.forEach((target, p) => {
    const from = map.partitions[p]!.replicas;
    const same = from.length === target.length && from.every((id, i) => id === target[i]);
    const sameSet = from.length === target.length && from.every((id) => target.includes(id));
    // Leader-only changes are not moves: leadership is balanced by failover tooling, not by copying data.
    if (same || sameSet) return;
    moves.push({ partition: p, from: [...from], to: [...target], bytes: req.partitionBytes?.get(p) ?? 0 });
  });
  const copies = (m: PlanMove): number => m.to.filter((id) => !m.from.includes(id)).length;
  const totalBytes = moves.reduce((a, m) => a + m.bytes * copies(m), 0);
  const weights = req.nodes.map((n) => ({ id: n.id, weight: n.weight }));
  return {
    id: req.id,
    createdMs: req.nowMs,
    epoch: map.epoch,
    basis: placementBasis(map),
    reason: req.reason,
    nodes: weights,
    moves,
    totalBytes,
    estimatedMs: Math.round((totalBytes / (req.rateBytesPerSec !== undefined && req.rateBytesPerSec > 0 ? req.rateBytesPerSec : REBALANCE_LIMITS.estimateBytesPerSecond)) * 1000) + moves.length * 200,
    balanceBefore: balance(map.partitions.map((e) => e.replicas), weights),
    balanceAfter: balance(placement.assignment, weights),
    status: 'planned',
    done: 0,
    bytesDone: 0,
  };
}

/**
 * A partition's entry after its leader hands over to `target`: the target first, everyone else kept. With
 * `final` (a rebalance move's target set, `target` first, every member in sync), the replicas the move drops
 * leave in the same write, saving the move a separate drop step. Epoch left to the caller.
 */
export function switchedEntry(e: PartitionEntry, target: string, final?: readonly string[]): Omit<PartitionEntry, 'epoch'> {
  const isr = inSync(e);
  if (final !== undefined && final[0] === target && final.length > 0 && final.every((id) => isr.includes(id))) return { replicas: [...final] };
  const replicas = [target, ...e.replicas.filter((id) => id !== target)];
  const nextIsr = [target, ...isr.filter((id) => id !== target)];
  return { replicas, ...(nextIsr.length === replicas.length ? {} : { isr: nextIsr }) };
}

/** What a partition's move needs next, judged from the map alone. */
export type MoveStep =
  | { kind: 'add'; partition: number; entry: PartitionEntry }
  | { kind: 'wait-sync'; missing: string[] }
  | { kind: 'transfer'; leader: string; to: string }
  | { kind: 'drop'; partition: number; entry: PartitionEntry }
  | { kind: 'done' };

/**
 * The map with the entries of several add and drop steps in place, at the next epoch, its node table taken
 * from `known` for newly named nodes. Built once per controller tick, not per move: a move's step only says
 * which entry changes (a map per step cost O(moves x partitions) per tick, 88% of a controller's CPU).
 */
export function applyEntries(map: PartitionMap, entries: ReadonlyMap<number, PartitionEntry>, known: readonly ClusterNode[]): PartitionMap {
  if (entries.size === 0) return map;
  const partitions = map.partitions.map((x, i) => entries.get(i) ?? x);
  const byId = new Map<string, ClusterNode>(Object.entries(map.nodes));
  for (const n of known) byId.set(n.id, n);
  const named = new Set(partitions.flatMap((e) => e.replicas));
  return { ...map, epoch: map.epoch + 1, partitions, nodes: Object.fromEntries([...byId].filter(([id]) => named.has(id))) };
}

export function moveStep(map: PartitionMap, move: PlanMove, known: readonly ClusterNode[]): MoveStep {
  const e = map.partitions[move.partition]!;
  const adding = move.to.filter((id) => !e.replicas.includes(id));
  const epoch = map.epoch + 1;
  if (adding.length > 0) {
    for (const id of adding) if (!known.some((n) => n.id === id) && map.nodes[id] === undefined) throw new AtollError('UNKNOWN_NODE', `node ${id} is not registered`);
    // Targets join as extra replicas outside the in-sync set; a snapshot fills them.
    return { kind: 'add', partition: move.partition, entry: { replicas: [...e.replicas, ...adding], epoch, isr: [...inSync(e)] } };
  }
  const isr = inSync(e);
  const missing = move.to.filter((id) => !isr.includes(id));
  if (missing.length > 0) return { kind: 'wait-sync', missing };
  const leader = e.replicas[0]!;
  if (leader !== move.to[0]) return { kind: 'transfer', leader, to: move.to[0]! };
  if (e.replicas.length !== move.to.length || e.replicas.some((id) => !move.to.includes(id))) {
    const replicas = [...move.to];
    const keep = isr.filter((id) => replicas.includes(id));
    return { kind: 'drop', partition: move.partition, entry: { replicas, epoch, ...(keep.length === replicas.length ? {} : { isr: keep }) } };
  }
  return { kind: 'done' };
}
