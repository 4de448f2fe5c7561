// Rebalance plans and settings in the coordinator: making a plan against the current map and storing it,
// approving, pausing and cancelling it, reading and changing the settings and node weights. Every change is a
// compare-and-set on its document. The rules themselves are pure, in src/cluster/plans.ts and rebalance.ts.
import type { Coordinator, CoordinatorSnapshot } from './coordinator.js';
import { AtollError } from '../errors.js';
import type { PartitionMap } from '../cluster/map.js';
import { parseSettings, parseWeights, PLAN_PREFIX, SETTINGS_DOC, WEIGHTS_DOC, type RebalanceSettings } from '../cluster/plans.js';
import { makePlan, parsePlan, placementBasis, type RebalancePlan } from '../cluster/rebalance.js';

export async function readSettings(c: Coordinator): Promise<RebalanceSettings> {
  return parseSettings(await c.getDoc(SETTINGS_DOC));
}

/** Rewrites a document by `change` with a compare-and-set, re-reading it after a concurrent change (a few times). */
async function rewriteDoc(c: Coordinator, name: string, change: (text: string | undefined) => string, what: string): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const text = await c.getDoc(name);
    const next = change(text);
    if (await c.casDoc(name, text, next)) return next;
  }
  throw new AtollError('STALE_EPOCH', `${what} kept changing; try again`);
}

/** Changes some settings (validated as a whole); retried on a concurrent change. */
export async function updateSettings(c: Coordinator, change: Partial<RebalanceSettings>): Promise<RebalanceSettings> {
  return parseSettings(await rewriteDoc(c, SETTINGS_DOC, (text) => JSON.stringify(parseSettings(JSON.stringify({ ...parseSettings(text), ...change }))), 'rebalance settings'));
}

export async function readWeights(c: Coordinator): Promise<Map<string, number>> {
  return parseWeights(await c.getDoc(WEIGHTS_DOC));
}

/** Stores a node's weight for later plans (its registration keeps the weight it started with). */
export async function setWeight(c: Coordinator, id: string, weight: number): Promise<void> {
  if (!(weight > 0) || !Number.isFinite(weight)) throw new AtollError('BAD_WEIGHT', `weight of ${id} must be > 0, got ${weight}`);
  const snap = await c.snapshot();
  if (!snap.nodes.some((n) => n.id === id) && snap.map?.nodes[id] === undefined) throw new AtollError('UNKNOWN_NODE', `cannot weight ${id}: no such node`);
  await rewriteDoc(c, WEIGHTS_DOC, (text) => JSON.stringify({ ...Object.fromEntries(parseWeights(text)), [id]: weight }), 'node weights');
}

export interface PlanDeps {
  nowMs(): number;
  /** A fresh random id suffix. */
  newId(): string;
  /** Bytes per partition, asked of the leaders (unknown sizes may be left out). */
  sizes(map: PartitionMap, snap: CoordinatorSnapshot): Promise<Map<number, number>>;
}

export interface PlanOptions {
  readonly drain: readonly string[];
  /** Overrides "id=weight" for this plan, on top of the stored weights. */
  readonly weights: ReadonlyMap<string, number>;
  readonly reason: string;
}

/** Makes and stores a plan: the registered nodes (minus drained ones, with weights) as the target. */
export async function createPlan(c: Coordinator, opts: PlanOptions, deps: PlanDeps): Promise<RebalancePlan> {
  return storePlan(c, await draftPlan(c, opts, deps));
}

export async function storePlan(c: Coordinator, plan: RebalancePlan): Promise<RebalancePlan> {
  if (!(await c.casDoc(`${PLAN_PREFIX}${plan.id}`, undefined, JSON.stringify(plan)))) throw new AtollError('STALE_EPOCH', `plan id ${plan.id} exists already`);
  return plan;
}

/** Makes a plan without storing it. */
export async function draftPlan(c: Coordinator, opts: PlanOptions, deps: PlanDeps): Promise<RebalancePlan> {
  const snap = await c.snapshot();
  if (snap.meta === undefined || snap.map === undefined) throw new AtollError('NO_CLUSTER', 'the cluster has no partition map yet');
  const map = snap.map;
  const known = new Set([...snap.nodes.map((n) => n.id), ...Object.keys(map.nodes)]);
  for (const id of opts.drain) if (!known.has(id)) throw new AtollError('UNKNOWN_NODE', `cannot drain ${id}: no such node`);
  for (const [id, w] of opts.weights) {
    if (!known.has(id)) throw new AtollError('UNKNOWN_NODE', `cannot weight ${id}: no such node`);
    if (!(w > 0) || !Number.isFinite(w)) throw new AtollError('BAD_WEIGHT', `weight of ${id} must be > 0, got ${w}`);
  }
  const stored = await readWeights(c);
  const nodes = snap.nodes.filter((n) => !opts.drain.includes(n.id)).map((n) => ({ id: n.id, zone: n.zone, weight: opts.weights.get(n.id) ?? stored.get(n.id) ?? n.weight }));
  if (nodes.length === 0) throw new AtollError('EMPTY_NODES', 'the plan would leave no node to hold data (cannot drain the last node)');
  const bytes = await deps.sizes(map, snap);
  const { rateBytesPerSec } = await readSettings(c);
  return makePlan(map, snap.meta, { nodes, partitionBytes: bytes, reason: opts.reason, id: `plan-${map.epoch}-${deps.newId()}`, nowMs: deps.nowMs(), rateBytesPerSec });
}

export async function loadPlan(c: Coordinator, id: string): Promise<{ plan: RebalancePlan; text: string }> {
  const text = await c.getDoc(`${PLAN_PREFIX}${id}`);
  if (text === undefined) throw new AtollError('BAD_ARGUMENT', `no plan ${id}`);
  return { plan: parsePlan(text), text };
}

export async function listPlans(c: Coordinator): Promise<RebalancePlan[]> {
  return [...(await c.listDocs(PLAN_PREFIX)).values()].map(parsePlan).sort((a, b) => a.createdMs - b.createdMs);
}

/** Approves a plan: refused if the placement changed since it was made, while a leader is down, or while another plan runs. */
export async function applyPlan(c: Coordinator, id: string, nowMs: number): Promise<RebalancePlan> {
  const { plan, text } = await loadPlan(c, id);
  if (plan.status !== 'planned' && plan.status !== 'paused') throw new AtollError('BAD_ARGUMENT', `plan ${id} is ${plan.status}; only a planned or paused plan can be applied`);
  const snap = await c.snapshot();
  if (snap.map === undefined) throw new AtollError('NO_CLUSTER', 'no partition map');
  if (plan.status === 'planned' && placementBasis(snap.map) !== plan.basis) {
    throw new AtollError('STALE_EPOCH', `plan ${id} was made against epoch ${plan.epoch}; the placement has changed since (now epoch ${snap.map.epoch}): make a new plan`);
  }
  const other = (await listPlans(c)).find((p) => p.id !== id && (p.status === 'applying' || (p.status === 'cancelled' && p.finishedMs === undefined)));
  if (other !== undefined) throw new AtollError('PLAN_RUNNING', `plan ${other.id} is being carried out; wait for it, pause or cancel it first`);
  const live = new Set(snap.nodes.map((n) => n.id));
  const down = snap.map.partitions.filter((e) => !live.has(e.replicas[0]!)).length;
  if (down > 0) throw new AtollError('COORDINATOR_UNAVAILABLE', `${down} partitions have no live leader (a failover is pending); apply once they do`);
  const next: RebalancePlan = { ...plan, status: 'applying', startedMs: plan.startedMs ?? nowMs };
  if (!(await c.casDoc(`${PLAN_PREFIX}${id}`, text, JSON.stringify(next)))) throw new AtollError('STALE_EPOCH', `plan ${id} changed meanwhile; try again`);
  return next;
}

export type PlanVerb = 'pause' | 'resume' | 'cancel';
const TRANSITIONS: Record<PlanVerb, { from: readonly RebalancePlan['status'][]; to: RebalancePlan['status'] }> = {
  pause: { from: ['applying'], to: 'paused' },
  resume: { from: ['paused'], to: 'applying' },
  cancel: { from: ['planned', 'applying', 'paused', 'failed'], to: 'cancelled' },
};

export async function changePlan(c: Coordinator, id: string, verb: PlanVerb, nowMs: number): Promise<RebalancePlan> {
  const { from, to } = TRANSITIONS[verb];
  const { plan, text } = await loadPlan(c, id);
  if (!from.includes(plan.status)) throw new AtollError('BAD_ARGUMENT', `plan ${id} is ${plan.status}; cannot ${verb} it`);
  // A plan cancelled before it started has nothing to roll back: it is finished at once. Any other cancelled
  // plan (a failed one too) is unfinished until the controller has rolled back its moves.
  const { finishedMs: _ended, ...rest } = plan;
  const next: RebalancePlan = verb === 'cancel' ? { ...rest, status: to, ...(plan.status === 'planned' ? { finishedMs: nowMs } : {}) } : { ...plan, status: to };
  if (!(await c.casDoc(`${PLAN_PREFIX}${id}`, text, JSON.stringify(next)))) throw new AtollError('STALE_EPOCH', `plan ${id} changed meanwhile; try again`);
  return next;
}

