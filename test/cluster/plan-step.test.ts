// The controller's plan step, pure: a plan is carried to its end from the map alone (adds, catch-up, hand-overs,
// drops, verification), at most movesPerNodeMax moves per node at once; it waits for a pending failover, fails
// when a target stays gone, backs off a failed hand-over, and a cancelled plan rolls back what has not switched.
import { describe, expect, it } from 'vitest';
import { initialMap, type ClusterMeta, type ClusterNode, type PartitionMap } from '../../src/cluster/map.js';
import { handoverAnswered, initialPlanRunState, planStep, PLAN_STEP_LIMITS, verifyAnswered, type PlanAction, type PlanRunState } from '../../src/cluster/plan-step.js';
import { parseSettings } from '../../src/cluster/plans.js';
import { makePlan, switchedEntry, type RebalancePlan } from '../../src/cluster/rebalance.js';

const meta: ClusterMeta = { clusterId: 'c', partitions: 32, replicas: 3, initialNodes: 3, createdMs: 0, ack: 'sync', uncleanPromotion: false, replaceAfterMs: 0 };
const node = (id: string): ClusterNode => ({ id, host: '127.0.0.1', port: 1, adminPort: 0, zone: 'z', weight: 1 });
const five = ['n1', 'n2', 'n3', 'n4', 'n5'].map(node);
const settings = parseSettings(JSON.stringify({ movesPerNodeMax: 2, targetGoneMs: 5_000 }));

function growPlan(): { map: PartitionMap; plan: RebalancePlan } {
  const map = initialMap(meta, five.slice(0, 3));
  const plan = makePlan(map, meta, { nodes: five.map((n) => ({ id: n.id, weight: 1, zone: 'z' })), reason: 't', id: 'p1', nowMs: 0 });
  return { map, plan: { ...plan, status: 'applying' } };
}

/** Moves in flight per node: the leader and the targets not yet in sync of every unfinished move. */
function inFlight(map: PartitionMap, plan: RebalancePlan): Map<string, number> {
  const busy = new Map<string, number>();
  for (const m of plan.moves) {
    const e = map.partitions[m.partition]!;
    const done = e.replicas.length === m.to.length && m.to.every((id, i) => e.replicas[i] === id);
    const untouched = e.replicas.length === m.from.length && m.from.every((id, i) => e.replicas[i] === id);
    if (done || untouched) continue;
    const isr = e.isr ?? e.replicas;
    for (const id of new Set([e.replicas[0]!, ...m.to.filter((x) => !isr.includes(x))])) busy.set(id, (busy.get(id) ?? 0) + 1);
  }
  return busy;
}

/** Half-way through a move that changes leader: its targets added and in sync, leadership not switched yet. */
function halfWay(map: PartitionMap, plan: RebalancePlan): { m: RebalancePlan['moves'][number]; added: PartitionMap } {
  const m = plan.moves.find((x) => x.to[0] !== x.from[0]);
  if (m === undefined) throw new Error('the plan changes no leader');
  const e = map.partitions[m.partition]!;
  const replicas = [...e.replicas, ...m.to.filter((id) => !e.replicas.includes(id))];
  return { m, added: { ...map, partitions: map.partitions.map((x, i) => (i === m.partition ? { replicas, epoch: x.epoch } : x)) } };
}

/** Plays the world's part: followers catch up, leaders hand over, verifications match. */
function drive(map0: PartitionMap, plan0: RebalancePlan, ticksMax = 500): { map: PartitionMap; plan: RebalancePlan; ticks: number; state: PlanRunState } {
  let map = map0;
  let plan = plan0;
  let state = initialPlanRunState();
  for (let tick = 1; tick <= ticksMax; tick++) {
    // Last tick's added replicas have caught up: the leader widened the in-sync set.
    map = { ...map, partitions: map.partitions.map((e) => ({ replicas: e.replicas, epoch: e.epoch })) };
    const step = planStep(state, { plan, map, nodes: five, settings, nowMs: tick * 250 });
    state = step.state;
    for (const a of step.actions) {
      if (a.kind === 'publish') {
        expect(a.base).toBe(map);
        map = a.next;
        for (const [id, n] of inFlight(map, plan)) expect(n, `node ${id} at tick ${tick}`).toBeLessThanOrEqual(settings.movesPerNodeMax);
      } else if (a.kind === 'handover') {
        const e = map.partitions[a.partition]!;
        expect(e.replicas[0]).toBe(a.leader.id);
        const epoch = map.epoch + 1;
        map = { ...map, epoch, partitions: map.partitions.map((x, i) => (i === a.partition ? { ...switchedEntry(x, a.to, a.replicas), epoch } : x)) };
        state = handoverAnswered(state, { planId: plan.id, partition: a.partition, nowMs: tick * 250, pauseMs: 3 });
      } else if (a.kind === 'verify') {
        state = verifyAnswered(state, a.planId, a.partitions.map((partition) => ({ partition, mismatch: 0, repaired: 0, busy: 0, unsettled: 0 }))).state;
      } else if (a.kind === 'save') {
        plan = a.next;
        if (a.finished) return { map, plan, ticks: tick, state };
      } else throw new Error(`unexpected ${a.kind}`);
    }
  }
  throw new Error('the plan did not finish');
}

describe('plan step', () => {
  it('carries a plan onto two new nodes to its end, within movesPerNodeMax, every move verified', () => {
    const { map, plan } = growPlan();
    const end = drive(map, plan);
    expect(end.plan.status).toBe('done');
    expect(end.plan.done).toBe(plan.moves.length);
    for (const m of plan.moves) expect(end.map.partitions[m.partition]!.replicas).toEqual(m.to);
    expect(end.plan.verify).toEqual({ checked: plan.moves.length, matched: plan.moves.length, repaired: 0, mismatched: 0, unverified: 0 });
    expect(end.plan.pauseMsMax).toBe(3);
    // Partitions outside the plan were never touched.
    const moved = new Set(plan.moves.map((m) => m.partition));
    map.partitions.forEach((e, p) => {
      if (!moved.has(p)) expect(end.map.partitions[p]).toEqual(e);
    });
  });

  it('is deterministic: the same state and observation give the same actions', () => {
    const { map, plan } = growPlan();
    const a = planStep(initialPlanRunState(), { plan, map, nodes: five, settings, nowMs: 1 });
    const b = planStep(initialPlanRunState(), { plan, map, nodes: five, settings, nowMs: 1 });
    expect(b.actions).toEqual(a.actions);
  });

  it('waits while a leader is unregistered (a failover goes first)', () => {
    const { map, plan } = growPlan();
    const leaderless = five.filter((n) => n.id !== map.partitions[0]!.replicas[0]);
    expect(planStep(initialPlanRunState(), { plan, map, nodes: leaderless, settings, nowMs: 1 }).actions).toEqual([]);
  });

  it('fails the plan when a target stays unregistered for targetGoneMs', () => {
    const { map, plan } = growPlan();
    const without = five.filter((n) => n.id !== 'n5');
    let state = initialPlanRunState();
    let actions: PlanAction[] = [];
    for (const now of [0, 4_999]) ({ state, actions } = planStep(state, { plan, map, nodes: without, settings, nowMs: now }));
    expect(actions.some((a) => a.kind === 'fail')).toBe(false);
    // Moves onto the registered new node go on meanwhile.
    expect(actions.some((a) => a.kind === 'publish')).toBe(true);
    ({ actions } = planStep(state, { plan, map, nodes: without, settings, nowMs: 5_000 }));
    const fail = actions.find((a) => a.kind === 'fail');
    expect(fail).toMatchObject({ kind: 'fail', node: 'n5', next: { status: 'failed', finishedMs: 5_000 } });
  });

  it('asks a failed hand-over again only after its back-off, a contended one sooner', () => {
    const { map, plan } = growPlan();
    // The target is already in sync: the next step is the hand-over.
    const { m, added: ready } = halfWay(map, plan);
    const handovers = (s: PlanRunState, now: number): number[] => planStep(s, { plan: { ...plan, moves: [m] }, map: ready, nodes: five, settings, nowMs: now }).actions.filter((a) => a.kind === 'handover').map((a) => (a as { partition: number }).partition);
    let state = planStep(initialPlanRunState(), { plan: { ...plan, moves: [m] }, map: ready, nodes: five, settings, nowMs: 0 }).state;
    expect(handovers(state, 0)).toEqual([]); // in flight
    state = handoverAnswered(state, { planId: plan.id, partition: m.partition, nowMs: 100, contended: false });
    expect(handovers(state, 100 + PLAN_STEP_LIMITS.handoverRetryAfterMs - 1)).toEqual([]);
    expect(handovers(state, 100 + PLAN_STEP_LIMITS.handoverRetryAfterMs)).toEqual([m.partition]);
    state = handoverAnswered(state, { planId: plan.id, partition: m.partition, nowMs: 100, contended: true });
    expect(handovers(state, 100 + PLAN_STEP_LIMITS.handoverContendedRetryAfterMs)).toEqual([m.partition]);
  });

  it('a cancelled plan rolls back moves that have not switched leadership', () => {
    const { map, plan } = growPlan();
    const { m, added } = halfWay(map, plan);
    const end = drive(added, { ...plan, status: 'cancelled' });
    expect(end.plan.status).toBe('cancelled');
    expect(end.map.partitions[m.partition]!.replicas).toEqual(m.from);
  });

  it('a busy verification is tried again, up to verifyTriesMax, then counted unverified', () => {
    const { plan } = growPlan();
    let state: PlanRunState = { ...initialPlanRunState(), plans: new Map([[plan.id, { verified: new Set<number>(), tries: new Map<number, number>(), tally: { checked: 0, matched: 0, repaired: 0, mismatched: 0, unverified: 0 } }]]) };
    for (let i = 1; i < PLAN_STEP_LIMITS.verifyTriesMax; i++) {
      state = verifyAnswered(state, plan.id, [{ partition: 7, mismatch: 0, repaired: 0, busy: 1, unsettled: 0 }]).state;
      expect(state.plans.get(plan.id)!.verified.has(7)).toBe(false);
    }
    const r = verifyAnswered(state, plan.id, [{ partition: 7, mismatch: 0, repaired: 0, busy: 1, unsettled: 0 }, { partition: 8, mismatch: 1, repaired: 0, busy: 0, unsettled: 0 }]);
    expect(r.state.plans.get(plan.id)!.tally).toEqual({ checked: 2, matched: 0, repaired: 0, mismatched: 1, unverified: 1 });
    expect(r.differed).toEqual([8]);
  });
});
