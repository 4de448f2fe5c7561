// Advancing a rebalance plan, pure: from the plan, the map, the registered nodes, the settings and the time,
// the next state and the actions to carry out (publish a map step, ask a leader to hand over, verify moved
// partitions, save the plan's progress, fail it). Answers to hand-overs and verifications come back through
// `handoverAnswered` and `verifyAnswered`. The controller's edge loop (src/server/controller-loop.ts) runs it.
import { inSync, type ClusterNode, type PartitionEntry, type PartitionMap } from './map.js';
import type { RebalanceSettings } from './plans.js';
import { applyEntries, moveStep, type PlanMove, type RebalancePlan } from './rebalance.js';
import { VERIFY_LIMITS } from '../replication/verify.js';

export const PLAN_STEP_LIMITS = Object.freeze({
  /** A hand-over that timed out is not asked again for this long (held clients are not held again at once). */
  handoverRetryAfterMs: 2_000,
  /** One that lost the race for the map is asked again after this. */
  handoverContendedRetryAfterMs: 250,
  /** A moved partition whose verification found it too busy to settle is tried this many times in all. */
  verifyTriesMax: 3,
});

type Tally = NonNullable<RebalancePlan['verify']>;

/** What the controller remembers about the plans it runs (a new controller starts from `initialPlanRunState`). */
export interface PlanRunState {
  /** Target nodes of the running plan seen unregistered, and since when. */
  readonly targetGoneSince: ReadonlyMap<string, number>;
  /** Partitions whose hand-over is not asked again before this time. */
  readonly handoverNotBefore: ReadonlyMap<number, number>;
  /** Hand-overs asked for and not answered yet. */
  readonly handoversInFlight: ReadonlySet<number>;
  /** Per plan: moved partitions verified, tries per partition, the tally, the longest write pause reported. */
  readonly plans: ReadonlyMap<string, { readonly verified: ReadonlySet<number>; readonly tries: ReadonlyMap<number, number>; readonly tally: Tally; readonly pauseMsMax?: number }>;
  readonly verifying: boolean;
}

export const initialPlanRunState = (): PlanRunState => ({ targetGoneSince: new Map(), handoverNotBefore: new Map(), handoversInFlight: new Set(), plans: new Map(), verifying: false });

export interface PlanObservation {
  /** The plan being applied or cancelled (one at a time). */
  readonly plan: RebalancePlan;
  readonly map: PartitionMap;
  /** Registered nodes. */
  readonly nodes: readonly ClusterNode[];
  readonly settings: RebalanceSettings;
  readonly nowMs: number;
}

export type PlanAction =
  /** One guarded map write carrying every add and drop step of this tick. */
  | { readonly kind: 'publish'; readonly base: PartitionMap; readonly next: PartitionMap }
  /**
   * Ask `leader` to hand `partition` over to `to` (it holds writes, waits for `to`, switches the map itself,
   * writing `replicas`, the move's final set, so the replicas it drops leave in the same write).
   */
  | { readonly kind: 'handover'; readonly planId: string; readonly partition: number; readonly leader: ClusterNode; readonly to: string; readonly replicas: readonly string[] }
  /** Compare the replicas of moved partitions with their leader (and repair). */
  | { readonly kind: 'verify'; readonly planId: string; readonly map: PartitionMap; readonly partitions: readonly number[] }
  /** Store the plan's new progress; `finished` when it just completed. */
  | { readonly kind: 'save'; readonly next: RebalancePlan; readonly finished: boolean }
  /** The plan failed (a target gone too long); `node` is that target. */
  | { readonly kind: 'fail'; readonly next: RebalancePlan; readonly node: string };

const emptyTally = (): Tally => ({ checked: 0, matched: 0, repaired: 0, mismatched: 0, unverified: 0 });

/** Whether a move has reached its target (false too when a target is no longer known at all). */
function moveDone(map: PartitionMap, m: PlanMove, nodes: readonly ClusterNode[]): boolean {
  try {
    return moveStep(map, m, nodes).kind === 'done';
  } catch {
    return false;
  }
}

/** A cancelled plan rolls back what has not switched leadership yet and finishes what has. */
function effectiveMove(plan: RebalancePlan, map: PartitionMap, move: PlanMove): PlanMove {
  const leader = map.partitions[move.partition]!.replicas[0]!;
  if (plan.status !== 'cancelled' || !move.from.includes(leader)) return move;
  return { ...move, to: [leader, ...move.from.filter((id) => id !== leader)] };
}

/**
 * The nodes a move keeps busy: its partition's leader (it sends the copies, then hands over) and the targets
 * not yet in sync (they receive them). Replicas that merely stay, or are dropped, do no work: counting them
 * too made every move of an R = 3 cluster with three nodes count against all three, so at most
 * movesPerNodeMax moves ran in the whole cluster however many nodes joined.
 */
function busyNodes(map: PartitionMap, move: PlanMove, step: ReturnType<typeof moveStep>): string[] {
  const e = map.partitions[move.partition]!;
  const isr = inSync(e);
  const ids = new Set([e.replicas[0]!, ...move.to.filter((id) => !isr.includes(id))]);
  if (step.kind === 'transfer') ids.add(step.to);
  return [...ids];
}

/** A move taking a step this tick: as planned, as carried out (a cancelled plan's rollback), and the step. */
interface Admitted {
  readonly move: PlanMove;
  readonly eff: PlanMove;
  readonly step: ReturnType<typeof moveStep>;
}

/**
 * The moves that take a step this tick. Moves under way always go on (they hold their nodes already) and are
 * counted first; a move not started yet starts only while every node it would keep busy is under
 * `movesPerNodeMax`.
 */
function admitSteps(plan: RebalancePlan, map: PartitionMap, nodes: readonly ClusterNode[], movesPerNodeMax: number): { done: number; bytesDone: number; admitted: Admitted[] } {
  let done = 0;
  let bytesDone = 0;
  const busy = new Map<string, number>();
  const take = (ids: readonly string[]): void => ids.forEach((id) => busy.set(id, (busy.get(id) ?? 0) + 1));
  const underWay: Admitted[] = [];
  const waiting: (Admitted & { ids: string[] })[] = [];
  for (const move of plan.moves) {
    const eff = effectiveMove(plan, map, move);
    let step: ReturnType<typeof moveStep>;
    try {
      step = moveStep(map, eff, nodes);
    } catch {
      // A target neither registered nor in the map: this move waits (targetGoneMs fails the plan), the others go on.
      continue;
    }
    if (step.kind === 'done') {
      done++;
      bytesDone += move.bytes;
      continue;
    }
    const ids = busyNodes(map, eff, step);
    const replicas = map.partitions[move.partition]!.replicas;
    // Under way once its replica set changed (a failover only reorders replicas: that move has not started).
    const started = replicas.length !== move.from.length || replicas.some((id) => !move.from.includes(id));
    if (started) {
      take(ids);
      underWay.push({ move, eff, step });
    } else waiting.push({ move, eff, step, ids });
  }
  const admitted = [...underWay];
  for (const w of waiting) {
    if (w.ids.some((id) => (busy.get(id) ?? 0) >= movesPerNodeMax)) continue;
    take(w.ids);
    admitted.push(w);
  }
  return { done, bytesDone, admitted };
}

/** Fails the plan when one of its pending targets has been unregistered for `targetGoneMs`. */
function targetCheck(state: PlanRunState, obs: PlanObservation, live: ReadonlySet<string>): { targetGoneSince: Map<string, number>; fail?: PlanAction } {
  const targetGoneSince = new Map(state.targetGoneSince);
  const { plan, map, nowMs } = obs;
  if (plan.status !== 'applying') return { targetGoneSince };
  const targets = new Set(plan.moves.filter((m) => !moveDone(map, m, obs.nodes)).flatMap((m) => m.to));
  for (const id of [...targetGoneSince.keys()]) if (live.has(id) || !targets.has(id)) targetGoneSince.delete(id);
  for (const id of targets) if (!live.has(id) && !targetGoneSince.has(id)) targetGoneSince.set(id, nowMs);
  const gone = [...targetGoneSince].find(([, since]) => nowMs - since >= obs.settings.targetGoneMs);
  if (gone === undefined) return { targetGoneSince };
  targetGoneSince.delete(gone[0]);
  const error = `node ${gone[0]}, a target of this plan, has been gone for ${Math.round((nowMs - gone[1]) / 1000)} s; the moves done so far stay (atoll rebalance cancel ${plan.id} rolls back the others)`;
  return { targetGoneSince, fail: { kind: 'fail', next: { ...plan, status: 'failed', error, finishedMs: nowMs }, node: gone[0] } };
}

/**
 * One tick of the running plan. Each move's next step comes from the map alone (add targets, wait for them to
 * be in sync, hand leadership over, drop sources), so a crash of any node, the controller included, only
 * delays it. At most `movesPerNodeMax` moves run per node; a failover in progress goes first.
 */
export function planStep(state: PlanRunState, obs: PlanObservation): { state: PlanRunState; actions: PlanAction[] } {
  const { plan, map, nodes, settings, nowMs } = obs;
  const live = new Set(nodes.map((n) => n.id));
  if (map.partitions.some((e) => !live.has(e.replicas[0]!))) return { state, actions: [] };
  const checked = targetCheck(state, obs, live);
  if (checked.fail !== undefined) return { state: { ...state, targetGoneSince: checked.targetGoneSince }, actions: [checked.fail] };
  const actions: PlanAction[] = [];
  const entries = new Map<number, PartitionEntry>();
  const { done, bytesDone, admitted } = admitSteps(plan, map, nodes, settings.movesPerNodeMax);
  for (const { move, eff, step } of admitted) {
    if (step.kind === 'add' || step.kind === 'drop') entries.set(step.partition, step.entry);
    else if (step.kind === 'transfer' && live.has(step.to) && !state.handoversInFlight.has(move.partition) && (state.handoverNotBefore.get(move.partition) ?? 0) <= nowMs) {
      const leader = map.nodes[step.leader];
      if (leader !== undefined) actions.push({ kind: 'handover', planId: plan.id, partition: move.partition, leader, to: step.to, replicas: eff.to });
    }
  }
  const working = applyEntries(map, entries, nodes);
  if (working !== map) actions.unshift({ kind: 'publish', base: map, next: working });
  const handoversInFlight = new Set(state.handoversInFlight);
  for (const a of actions) if (a.kind === 'handover') handoversInFlight.add(a.partition);
  // Every finished move is verified before the plan counts as done.
  const run = state.plans.get(plan.id) ?? { verified: new Set<number>(), tries: new Map<number, number>(), tally: emptyTally() };
  const unchecked = plan.moves.filter((m) => !run.verified.has(m.partition) && moveDone(working, m, nodes)).map((m) => m.partition);
  let verifying = state.verifying;
  if (!verifying && unchecked.length > 0) {
    verifying = true;
    actions.push({ kind: 'verify', planId: plan.id, map: working, partitions: unchecked.slice(0, VERIFY_LIMITS.partitionsPerRequestMax) });
  }
  const finished = done === plan.moves.length && unchecked.length === 0;
  const pauseMsMax = run.pauseMsMax === undefined ? plan.pauseMsMax : Math.max(run.pauseMsMax, plan.pauseMsMax ?? 0);
  const next: RebalancePlan = { ...plan, done, bytesDone, verify: { ...run.tally }, ...(pauseMsMax !== undefined ? { pauseMsMax } : {}), ...(finished ? { status: plan.status === 'cancelled' ? 'cancelled' : 'done', finishedMs: nowMs } : {}) };
  if (next.done !== plan.done || finished || JSON.stringify(next.verify) !== JSON.stringify(plan.verify) || next.pauseMsMax !== plan.pauseMsMax) actions.push({ kind: 'save', next, finished });
  const plans = new Map(state.plans);
  plans.set(plan.id, run);
  return { state: { targetGoneSince: checked.targetGoneSince, handoverNotBefore: state.handoverNotBefore, handoversInFlight, plans, verifying }, actions };
}

/** A hand-over's answer: its write pause is kept for the plan; a failed one is asked again after a pause. */
export function handoverAnswered(state: PlanRunState, a: { planId: string; partition: number; nowMs: number } & ({ pauseMs: number } | { contended: boolean })): PlanRunState {
  const handoversInFlight = new Set(state.handoversInFlight);
  handoversInFlight.delete(a.partition);
  if ('pauseMs' in a) {
    const plans = new Map(state.plans);
    const run = plans.get(a.planId);
    if (run !== undefined) plans.set(a.planId, { ...run, pauseMsMax: Math.max(run.pauseMsMax ?? 0, a.pauseMs) });
    return { ...state, handoversInFlight, plans };
  }
  const handoverNotBefore = new Map(state.handoverNotBefore);
  handoverNotBefore.set(a.partition, a.nowMs + (a.contended ? PLAN_STEP_LIMITS.handoverContendedRetryAfterMs : PLAN_STEP_LIMITS.handoverRetryAfterMs));
  return { ...state, handoversInFlight, handoverNotBefore };
}

/** One moved partition's verification, summed over its replicas. */
export interface VerifyOutcome {
  readonly partition: number;
  readonly mismatch: number;
  readonly repaired: number;
  readonly busy: number;
  /** Replicas that could not be compared (unreachable, still catching up). */
  readonly unsettled: number;
}

/**
 * A verification's answers: each partition counts once in the tally; one too busy to settle is tried again on
 * a later tick, up to `verifyTriesMax`. `failed` (the request failed as a whole) only frees the next try.
 * Returns the partitions whose replicas differed (the edge logs them).
 */
export function verifyAnswered(state: PlanRunState, planId: string, outcomes: readonly VerifyOutcome[] | 'failed'): { state: PlanRunState; differed: number[] } {
  const run = state.plans.get(planId);
  if (outcomes === 'failed' || run === undefined) return { state: { ...state, verifying: false }, differed: [] };
  const verified = new Set(run.verified);
  const tries = new Map(run.tries);
  const tally = { ...run.tally };
  const differed: number[] = [];
  for (const v of outcomes) {
    const n = (tries.get(v.partition) ?? 0) + 1;
    tries.set(v.partition, n);
    if (v.busy > 0 && n < PLAN_STEP_LIMITS.verifyTriesMax) continue;
    verified.add(v.partition);
    tally.checked++;
    if (v.mismatch > 0) tally.mismatched++;
    else if (v.repaired > 0) tally.repaired++;
    else if (v.busy + v.unsettled > 0) tally.unverified++;
    else tally.matched++;
    if (v.mismatch + v.repaired > 0) differed.push(v.partition);
  }
  const plans = new Map(state.plans);
  plans.set(planId, { ...run, verified, tries, tally });
  return { state: { ...state, plans, verifying: false }, differed };
}
