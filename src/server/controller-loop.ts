// The controller's edge loop: runs the pure controller (src/cluster/controller.ts) and plan step
// (src/cluster/plan-step.ts) on what the coordinator holds, and carries out their actions: map writes, fences,
// hand-over and verify requests, plan documents, auto mode. Its I/O (coordinator, peer requests, clock, ids) is
// injected, so node processes and the seeded simulator (src/testing/sim-cluster.ts) run the same code.
import type { Logger } from 'pino';
import { controllerStep, failoverStep, initialControllerState, type ControllerAction } from '../cluster/controller.js';
import type { ClusterMeta, ClusterNode, PartitionMap } from '../cluster/map.js';
import { handoverAnswered, initialPlanRunState, planStep, verifyAnswered, type PlanAction } from '../cluster/plan-step.js';
import { autoPlanBlocker, parseSettings, PLAN_PREFIX, plansToPrune, SETTINGS_DOC, sizesFromLeaders, type RebalanceSettings } from '../cluster/plans.js';
import { parsePlan } from '../cluster/rebalance.js';
import { applyPlan, draftPlan, storePlan, type PlanDeps } from '../coordinator/plan-store.js';
import { COMPACT_EVERY_MS, type Coordinator, type CoordinatorSnapshot } from '../coordinator/coordinator.js';
import { AtollError } from '../errors.js';
import { LimitedLog } from '../monitoring/log-limit.js';
import type { Position } from '../replication/log.js';
import { tallyVerdicts, verifyAcross } from './verify.js';

export const CONTROLLER_LOOP_LIMITS = Object.freeze({
  /** A failover's fence request to a surviving replica waits this long for its answer. */
  fenceTimeoutMs: 1_000,
  /** A hand-over request waits this long (the leader's own wait for the target, twice over). */
  handoverTimeoutMs: 2_000,
  /** The controller advances a plan being applied this often (and at once on every map change). */
  planEveryMs: 250,
  /** Auto mode looks at the cluster this often (it plans at most this often). */
  autoCheckEveryMs: 1_000,
  statsTimeoutMs: 30_000,
});

export interface ControllerLoopDeps {
  readonly selfId: string;
  readonly coordinator: Coordinator;
  readonly meta: ClusterMeta;
  /** A request to another node's peer service. */
  request(node: ClusterNode, body: Record<string, unknown>, timeoutMs: number): Promise<unknown>;
  nowMs(): number;
  /** A fresh random id suffix for plans auto mode makes. */
  newId(): string;
  /** Tells the local router about a map this controller wrote (before its watch event arrives). */
  adopt(map: PartitionMap): void;
  readonly log?: Logger;
  /** How often the coordinator's history is compacted (default COMPACT_EVERY_MS; 0 never). */
  readonly compactEveryMs?: number;
}

export class ControllerLoop {
  private state = initialControllerState(0);
  private plans = initialPlanRunState();
  private settings: RebalanceSettings = parseSettings(undefined);
  private planning = false;
  private lastFailoverMs = 0;
  private lastAutoCheckMs = 0;
  private lastAutoBlocker = '';
  private readonly firstSeenMs = new Map<string, number>();
  private readonly limited: LimitedLog;
  private readonly planDeps: PlanDeps;

  constructor(private readonly d: ControllerLoopDeps) {
    this.limited = new LimitedLog(d.log, d.nowMs);
    this.state = initialControllerState(d.nowMs());
    this.planDeps = {
      nowMs: d.nowMs,
      newId: d.newId,
      sizes: (map, snap) => sizesFromLeaders(map, snap, async (n, partitions) => ((await d.request(n, { op: 'partition-stats', partitions }, CONTROLLER_LOOP_LIMITS.statsTimeoutMs)) as { bytes: number[] }).bytes),
    };
  }

  /** This node is not (or no longer) the controller: a later term starts afresh. */
  reset(): void {
    this.state = initialControllerState(this.d.nowMs());
    this.plans = initialPlanRunState();
  }

  /** Rebalance settings as last read (each node's replicator takes its copy rate from them). */
  get rebalanceSettings(): RebalanceSettings {
    return this.settings;
  }

  setSettings(s: RebalanceSettings): void {
    this.settings = s;
  }

  /** One controller step on the coordinator's current state, its actions carried out in order. */
  async observe(snap: CoordinatorSnapshot): Promise<void> {
    const step = controllerStep(this.state, { ...snap, nowMs: this.d.nowMs(), compactEveryMs: this.d.compactEveryMs ?? COMPACT_EVERY_MS });
    this.state = step.state;
    for (const action of step.actions) await this.execute(action, snap.nodes);
  }

  private async execute(action: ControllerAction, live: readonly ClusterNode[]): Promise<void> {
    if (action.kind === 'compact') {
      void this.d.coordinator.compact().catch((e: unknown) => this.limited.warn('compact', { err: (e as Error).message }, 'compacting the coordinator history failed; will retry'));
      return;
    }
    if (action.kind === 'fence') return this.failover(action, new Set(live.map((n) => n.id)));
    const next = await this.d.coordinator.casMap(action.base, action.next);
    if (next === undefined) return;
    if (action.why === 'replace') {
      const gone = Object.keys(action.base?.nodes ?? {}).filter((id) => next.nodes[id] === undefined);
      this.d.log?.warn({ gone, epoch: next.epoch }, `replicas of nodes gone over ${this.d.meta.replaceAfterMs} ms rebuilt on live nodes`);
      this.lastFailoverMs = this.d.nowMs();
    } else this.d.log?.info({ epoch: next.epoch, why: action.why }, 'controller published partition map');
    this.d.adopt(next);
  }

  /**
   * Carries out a fence (the surviving replicas refuse the old leader from `epoch` on and answer with their
   * log positions), then publishes every new leader failoverStep chooses in one write, logged once.
   */
  private async failover(fence: Extract<ControllerAction, { kind: 'fence' }>, live: ReadonlySet<string>): Promise<void> {
    const { map, asks, epoch } = fence;
    const answers = new Map<number, Map<string, Position>>();
    await Promise.all(
      [...asks].map(async ([id, partitions]) => {
        const n = map.nodes[id];
        if (n === undefined) return;
        try {
          const r = (await this.d.request(n, { op: 'fence', partitions: [...partitions], epoch }, CONTROLLER_LOOP_LIMITS.fenceTimeoutMs)) as { positions: Position[] };
          partitions.forEach((p, i) => (answers.get(p) ?? answers.set(p, new Map()).get(p)!).set(id, r.positions[i]!));
        } catch (e) {
          this.limited.warn(`fence-${id}`, { node: id, partitions: partitions.length, err: (e as Error).message }, 'failover: a replica did not answer the fence');
        }
      }),
    );
    const plan = failoverStep(fence, live, answers, this.d.meta);
    if (plan.stuck.length > 0) this.limited.error('failover-stuck', { partitions: plan.stuck.length, first: plan.stuck.slice(0, 8).map((x) => x.partition) }, `failover impossible for now for ${plan.stuck.length} partitions: ${plan.stuck[0]!.why}`);
    const unclean = plan.promoted.filter((x) => x.unclean);
    if (unclean.length > 0) this.d.log?.error({ partitions: unclean.length, first: unclean.slice(0, 8).map((u) => `${u.partition}->${u.leader}`) }, `UNCLEAN promotion of ${unclean.length} partitions: ${unclean[0]!.why}; acknowledged writes may be lost`);
    const written = plan.next === undefined ? undefined : await this.d.coordinator.casMap(map, plan.next);
    if (written === undefined) return;
    const from = [...new Set(plan.promoted.map((x) => map.partitions[x.partition]!.replicas[0]))].join(', ');
    this.d.log?.warn({ epoch: written.epoch, partitions: plan.promoted.length }, `failover: ${plan.promoted.length} partitions moved off ${from} in 1 step`);
    this.lastFailoverMs = this.d.nowMs();
    this.d.adopt(written);
  }

  /** Advances the plan being applied (or, with none, auto mode). Runs one at a time; callers need not wait. */
  async tick(): Promise<void> {
    if (this.planning) return;
    this.planning = true;
    try {
      const docs = await this.d.coordinator.listDocs(PLAN_PREFIX);
      for (const [name, text] of docs) {
        const plan = parsePlan(text);
        if (plan.status !== 'applying' && (plan.status !== 'cancelled' || plan.finishedMs !== undefined)) continue;
        const snap = await this.d.coordinator.snapshot();
        if (snap.map === undefined) return;
        const step = planStep(this.plans, { plan, map: snap.map, nodes: snap.nodes, settings: this.settings, nowMs: this.d.nowMs() });
        this.plans = step.state;
        for (const a of step.actions) await this.executePlan(a, name, text);
        return;
      }
      await this.autoRebalance();
    } catch (e) {
      this.limited.warn('rebalance-step', { err: (e as Error).message }, 'rebalance step failed; will retry');
    } finally {
      this.planning = false;
    }
  }

  private async executePlan(a: PlanAction, name: string, text: string): Promise<void> {
    const { coordinator, log } = this.d;
    switch (a.kind) {
      case 'publish': {
        const written = await coordinator.casMap(a.base, a.next);
        if (written !== undefined) this.d.adopt(written);
        return;
      }
      case 'handover':
        // Hand-overs run on their own (the old leader holds, waits, switches the map itself); the tick goes on.
        void this.d
          .request(a.leader, { op: 'transfer', partition: a.partition, to: a.to }, CONTROLLER_LOOP_LIMITS.handoverTimeoutMs)
          .then((r) => (this.plans = handoverAnswered(this.plans, { planId: a.planId, partition: a.partition, nowMs: this.d.nowMs(), pauseMs: (r as { pauseMs?: number }).pauseMs ?? 0 })))
          .catch((e: unknown) => {
            const contended = e instanceof AtollError && e.code === 'STALE_EPOCH';
            this.plans = handoverAnswered(this.plans, { planId: a.planId, partition: a.partition, nowMs: this.d.nowMs(), contended });
            this.limited.warn('handover-retry', { partition: a.partition, err: (e as Error).message }, 'rebalance: leadership hand-over will be retried');
          });
        return;
      case 'verify':
        void verifyAcross(a.map, a.partitions, true, this.d.request)
          .then((verdicts) => {
            const outcomes = verdicts.map((v) => {
              const t = tallyVerdicts([v]);
              return { partition: v.partition, mismatch: t.mismatch, repaired: t.repaired, busy: t.busy, unsettled: t.unreachable + t['catching-up'] };
            });
            const r = verifyAnswered(this.plans, a.planId, outcomes);
            this.plans = r.state;
            for (const p of r.differed) log?.error({ partition: p, replicas: verdicts.find((v) => v.partition === p)?.replicas }, 'verify after move: replicas differed');
          })
          .catch((e: unknown) => {
            this.plans = verifyAnswered(this.plans, a.planId, 'failed').state;
            this.limited.warn('verify-moved', { err: (e as Error).message }, 'verify after move failed; will retry');
          });
        return;
      case 'save':
        await coordinator.casDoc(name, text, JSON.stringify(a.next));
        if (a.finished) log?.warn({ plan: a.next.id, moves: a.next.moves.length }, `rebalance plan ${a.next.status}`);
        return;
      case 'fail':
        await coordinator.casDoc(name, text, JSON.stringify(a.next));
        log?.error({ plan: a.next.id, node: a.node }, `rebalance plan failed: ${a.next.error ?? ''}`);
        return;
    }
  }

  /**
   * Once no plan runs: prunes old plans and, in auto mode, plans and applies by itself when the guardrails
   * (autoPlanBlocker) allow and the balance would improve enough.
   */
  private async autoRebalance(): Promise<void> {
    const { coordinator } = this.d;
    const now = this.d.nowMs();
    if (now - this.lastAutoCheckMs < CONTROLLER_LOOP_LIMITS.autoCheckEveryMs) return;
    this.lastAutoCheckMs = now;
    const snap = await coordinator.snapshot();
    const live = new Set(snap.nodes.map((n) => n.id));
    for (const id of live) if (!this.firstSeenMs.has(id)) this.firstSeenMs.set(id, now);
    for (const id of this.firstSeenMs.keys()) if (!live.has(id)) this.firstSeenMs.delete(id);
    const docs = await coordinator.listDocs(PLAN_PREFIX);
    const plans = [...docs.values()].map(parsePlan);
    for (const id of plansToPrune(plans)) await coordinator.deleteDoc(`${PLAN_PREFIX}${id}`, docs.get(`${PLAN_PREFIX}${id}`)!);
    const blocker = autoPlanBlocker(snap, plans, this.settings, { nowMs: now, firstSeenMs: this.firstSeenMs, lastFailoverMs: this.lastFailoverMs });
    if (blocker !== undefined) {
      if (this.settings.auto && blocker !== this.lastAutoBlocker) this.d.log?.info({ why: blocker }, 'auto rebalance waits');
      this.lastAutoBlocker = blocker;
      return;
    }
    const draft = await draftPlan(coordinator, { drain: [], weights: new Map(), reason: 'auto: balance over the registered nodes' }, this.planDeps);
    if (draft.moves.length === 0 || draft.balanceBefore - draft.balanceAfter < this.settings.imbalanceMin) {
      this.lastAutoBlocker = 'balanced';
      return;
    }
    const plan = await storePlan(coordinator, draft);
    await applyPlan(coordinator, plan.id, now);
    this.d.log?.warn({ plan: plan.id, moves: plan.moves.length, bytes: plan.totalBytes }, 'auto rebalance: plan applied');
  }
}

/** Reads the rebalance settings document; undefined when it is unreadable (the caller keeps its last ones). */
export async function readSettingsDoc(coordinator: Coordinator, log?: Logger): Promise<RebalanceSettings | undefined> {
  try {
    return parseSettings(await coordinator.getDoc(SETTINGS_DOC));
  } catch (e) {
    log?.warn({ err: (e as Error).message }, 'rebalance settings unreadable; keeping the last ones');
    return undefined;
  }
}
