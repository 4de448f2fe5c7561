// Rebalance plans' rules, pure: the cluster-wide rebalance settings (auto mode, copy rate, moves per node,
// cool-down) and node weights as documents, the guardrails auto mode must pass before it plans on its own, and
// which finished plans to prune. Storing, approving, pausing and cancelling plans in the coordinator is
// src/coordinator/plan-store.ts.
import { z } from 'zod';
import type { CoordinatorSnapshot } from '../coordinator/coordinator.js';
import { AtollError } from '../errors.js';
import { inSync, type ClusterNode, type PartitionMap } from './map.js';
import { REBALANCE_LIMITS, type RebalancePlan } from './rebalance.js';

export const SETTINGS_DOC = 'settings/rebalance';
export const WEIGHTS_DOC = 'settings/weights';
export const PLAN_PREFIX = 'plans/';

export const PLANS_LIMITS = Object.freeze({
  /** Finished plans kept in the coordinator (older ones are deleted by the controller). */
  finishedKeptMax: 50,
});

export const RebalanceSettingsSchema = z
  .object({
    /** Auto mode: the controller plans and applies by itself, within the guardrails below. */
    auto: z.boolean().default(false),
    /** Cluster-wide copy rate for moves in bytes per second (0: unthrottled); each live node gets an equal share. */
    rateBytesPerSec: z.number().int().nonnegative().default(0),
    /** Partitions moving at once per node involved. */
    movesPerNodeMax: z.number().int().min(1).max(64).default(REBALANCE_LIMITS.movesPerNodeMax),
    /** Auto mode waits this long after a plan finished or a failover before planning again. */
    cooldownMs: z.number().int().nonnegative().default(60_000),
    /** Auto mode waits until every live node has been registered this long (a flapping node is not planned for). */
    stableMs: z.number().int().nonnegative().default(30_000),
    /** Auto mode plans only when balance would improve by at least this much (max share over fair share). */
    imbalanceMin: z.number().positive().default(0.1),
    /** A plan fails when a node it moves data onto has been unregistered this long (its moves so far stay; cancel rolls back). */
    targetGoneMs: z.number().int().positive().default(60_000),
  })
  .strict();
export type RebalanceSettings = z.infer<typeof RebalanceSettingsSchema>;

export function parseSettings(text: string | undefined): RebalanceSettings {
  const parsed = RebalanceSettingsSchema.safeParse(text === undefined ? {} : JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AtollError('BAD_ARGUMENT', `rebalance setting ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

const WeightsSchema = z.record(z.string(), z.number().positive().finite());

/** Stored node weights (the weights document); malformed ones are refused. */
export function parseWeights(text: string | undefined): Map<string, number> {
  if (text === undefined) return new Map();
  const parsed = WeightsSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new AtollError('BAD_ARGUMENT', `stored node weights are malformed: ${parsed.error.issues[0]!.message}`);
  return new Map(Object.entries(parsed.data));
}

export function planRunning(p: RebalancePlan): boolean {
  return p.status === 'applying' || p.status === 'paused' || (p.status === 'cancelled' && p.finishedMs === undefined);
}

/** What auto mode's controller knows besides the coordinator: when it first saw each node, the last failover. */
export interface AutoState {
  readonly nowMs: number;
  readonly firstSeenMs: ReadonlyMap<string, number>;
  readonly lastFailoverMs: number;
}

/**
 * Auto mode's guardrails, pure. Plans only when: auto is on; no plan runs or is paused; every replica of
 * every partition is live and in sync (a failover or a catch-up goes first); no failover and no plan ended
 * within the cool-down; every live node has been registered for stableMs. A node that looks dead therefore
 * never gets its data moved by auto mode (replacement of dead nodes is replication's replaceAfterMs), and a
 * slow node that flaps stops auto mode rather than feeding it.
 */
export function autoPlanBlocker(snap: CoordinatorSnapshot, plans: readonly RebalancePlan[], settings: RebalanceSettings, st: AutoState): string | undefined {
  if (!settings.auto) return 'auto mode is off';
  if (snap.map === undefined || snap.meta === undefined) return 'no map';
  const running = plans.find(planRunning);
  if (running !== undefined) return `plan ${running.id} is ${running.status}`;
  const live = new Set(snap.nodes.map((n) => n.id));
  const under = snap.map.partitions.filter((e) => e.replicas.length < Math.min(snap.meta!.replicas, live.size) || inSync(e).length < e.replicas.length || e.replicas.some((id) => !live.has(id))).length;
  if (under > 0) return `${under} partitions are under-replicated`;
  const lastEnd = Math.max(st.lastFailoverMs, ...plans.map((p) => p.finishedMs ?? 0));
  if (st.nowMs - lastEnd < settings.cooldownMs) return `cooling down until ${lastEnd + settings.cooldownMs}`;
  const fresh = snap.nodes.find((n) => st.nowMs - (st.firstSeenMs.get(n.id) ?? st.nowMs) < settings.stableMs);
  if (fresh !== undefined) return `node ${fresh.id} registered less than ${settings.stableMs} ms ago`;
  return undefined;
}

/** Finished plans beyond the newest PLANS_LIMITS.finishedKeptMax, oldest first. */
export function plansToPrune(plans: readonly RebalancePlan[]): string[] {
  const finished = plans.filter((p) => !planRunning(p) && p.status !== 'planned').sort((a, b) => (a.finishedMs ?? a.createdMs) - (b.finishedMs ?? b.createdMs));
  return finished.slice(0, Math.max(0, finished.length - PLANS_LIMITS.finishedKeptMax)).map((p) => p.id);
}

/** Bytes per partition from their live leaders (`ask` sends a partition-stats request); failures count as unknown. */
export async function sizesFromLeaders(map: PartitionMap, snap: CoordinatorSnapshot, ask: (node: ClusterNode, partitions: number[]) => Promise<number[]>): Promise<Map<number, number>> {
  const byLeader = new Map<string, number[]>();
  map.partitions.forEach((e, p) => byLeader.set(e.replicas[0]!, [...(byLeader.get(e.replicas[0]!) ?? []), p]));
  const bytes = new Map<number, number>();
  await Promise.all(
    [...byLeader].map(async ([id, partitions]) => {
      const n = map.nodes[id];
      if (n === undefined || !snap.nodes.some((x) => x.id === id)) return;
      try {
        const r = await ask(n, partitions);
        partitions.forEach((p, i) => bytes.set(p, r[i] ?? 0));
      } catch {
        // Unknown sizes count as 0 in the estimate.
      }
    }),
  );
  return bytes;
}
