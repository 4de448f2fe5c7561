// Alert rules over a cluster view: node down, under-replicated partitions, leader imbalance, hot partitions
// and hot keys. Pure: the same view always gives the same alerts, so the rules are tested without servers.
import { z } from 'zod';
import type { ClusterNode } from '../cluster/map.js';
import type { NodeReport } from './node-monitor.js';

export const AlertRulesSchema = z
  .object({
    /** Leaders per unit of weight on the busiest node may exceed the mean by this fraction (seed target 10%). */
    imbalanceMax: z.number().min(0).default(0.1),
    /** A partition is hot above this multiple of the median partition rate... */
    hotPartitionFactor: z.number().min(1).default(5),
    /** ...and above this many requests per second. */
    hotPartitionOpsMin: z.number().min(0).default(100),
    /** A key is hot when it takes more than this share of a node's sampled traffic... */
    hotKeyShareMin: z.number().gt(0).max(1).default(0.1),
    /** ...out of at least this many samples in the window (a quiet node has no hot keys). */
    hotKeySamplesMin: z.number().int().min(1).default(200),
    /** A node whose followers acknowledge more slowly than this at p99 (ms)... */
    replicationLagMsMax: z.number().positive().default(1_000),
    /**
     * ...for at least this long (ms) before the alert is raised: a moment's disk stall on a follower is not
     * replication lag (Prometheus's `for:`). The p99 is over the last 30 s of acknowledgements.
     */
    replicationLagForMs: z.number().min(0).default(30_000),
    /**
     * A registered node whose admin API has not answered for this long counts as down (ms). One missed answer
     * is a busy moment, not a dead node: its lease, kept off the event loop, is what failover goes by.
     */
    unreachableAlertMs: z.number().min(0).default(10_000),
  })
  .strict();
export type AlertRules = z.infer<typeof AlertRulesSchema>;
export const DEFAULT_ALERT_RULES: AlertRules = AlertRulesSchema.parse({});

export type AlertRule = 'node-down' | 'under-replicated' | 'replication-lag' | 'imbalance' | 'hot-partition' | 'hot-key';
export const ALERT_RULES: readonly AlertRule[] = ['node-down', 'under-replicated', 'replication-lag', 'imbalance', 'hot-partition', 'hot-key'];

export interface Alert {
  readonly rule: AlertRule;
  readonly severity: 'critical' | 'warning';
  /** What the alert is about: a node id, a partition number, a key. */
  readonly subject: string;
  readonly message: string;
}

/** A node as the dashboard sees it: its registration plus what the view found out. */
export interface ViewNode extends ClusterNode {
  /** Holds a live registration (lease) in the coordinator. */
  readonly registered: boolean;
  /** Answered the admin API when the view was built. */
  readonly reachable: boolean;
  /** How long its admin API has not answered, as seen by the node building views (0 when reachable). */
  readonly unreachableMs?: number;
  readonly led: number;
  readonly followed: number;
  readonly report?: NodeReport;
}

export interface ClusterView {
  readonly clusterId: string;
  readonly epoch: number;
  readonly controller: string | null;
  readonly replicas: number;
  /** Replica ids per partition, leader first (empty before the first map). */
  readonly partitions: readonly (readonly string[])[];
  readonly nodes: readonly ViewNode[];
  /** The node that built this view. */
  readonly servedBy: string;
  readonly generatedMs: number;
}

const LIST_MAX = 8;

function listed(items: readonly (string | number)[]): string {
  return items.length <= LIST_MAX ? items.join(', ') : `${items.slice(0, LIST_MAX).join(', ')} and ${items.length - LIST_MAX} more`;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Registered, and answering its admin API (or silent for less than `unreachableAlertMs`). */
export function isUp(n: ViewNode, rules: AlertRules = DEFAULT_ALERT_RULES): boolean {
  return n.registered && (n.reachable || (n.unreachableMs ?? Infinity) < rules.unreachableAlertMs);
}

export function evaluateAlerts(view: ClusterView, rules: AlertRules = DEFAULT_ALERT_RULES): Alert[] {
  const alerts: Alert[] = [];
  const byId = new Map(view.nodes.map((n) => [n.id, n]));
  for (const n of view.nodes) {
    if (isUp(n, rules)) continue;
    const silent = n.unreachableMs === undefined ? '' : ` for ${Math.round(n.unreachableMs / 1000)} s`;
    const why = !n.registered ? 'its coordinator lease is gone' : `its admin API has not answered${silent}`;
    alerts.push({ rule: 'node-down', severity: 'critical', subject: n.id, message: `node ${n.id} is down: ${why} (leads ${n.led}, follows ${n.followed} partitions)` });
  }

  const unavailable: number[] = [];
  const under: number[] = [];
  view.partitions.forEach((replicas, p) => {
    const live = replicas.filter((id) => {
      const n = byId.get(id);
      return n !== undefined && isUp(n, rules);
    }).length;
    if (live === 0 || !isUp(byId.get(replicas[0]!) ?? ({ registered: false, reachable: false } as ViewNode), rules)) unavailable.push(p);
    else if (live < view.replicas) under.push(p);
  });
  if (unavailable.length > 0) {
    alerts.push({ rule: 'under-replicated', severity: 'critical', subject: `${unavailable.length} partitions`, message: `${unavailable.length} partitions have no live leader: ${listed(unavailable)}` });
  }
  if (under.length > 0) {
    alerts.push({ rule: 'under-replicated', severity: 'warning', subject: `${under.length} partitions`, message: `${under.length} partitions have fewer than ${view.replicas} live replicas: ${listed(under)}` });
  }

  for (const n of view.nodes) {
    const lag = n.report?.replicationLagP99Ms;
    if (lag !== undefined && lag !== null && lag > rules.replicationLagMsMax) {
      alerts.push({ rule: 'replication-lag', severity: 'warning', subject: n.id, message: `followers of node ${n.id} acknowledge in ${lag.toFixed(0)} ms at p99 (limit ${rules.replicationLagMsMax} ms); ${n.report!.followersBehind} are behind now` });
    }
  }

  const up = view.nodes.filter((n) => isUp(n, rules) && n.weight > 0);
  if (up.length > 1 && view.partitions.length > 0) {
    const perWeight = up.map((n) => n.led / n.weight);
    const mean = perWeight.reduce((a, b) => a + b, 0) / perWeight.length;
    const worst = Math.max(...perWeight);
    const ratio = mean === 0 ? 0 : worst / mean - 1;
    if (ratio > rules.imbalanceMax) {
      const who = up[perWeight.indexOf(worst)]!.id;
      alerts.push({ rule: 'imbalance', severity: 'warning', subject: who, message: `node ${who} leads ${(ratio * 100).toFixed(1)}% more partitions per unit of weight than the mean (limit ${(rules.imbalanceMax * 100).toFixed(0)}%)` });
    }
  }

  // Partition rates come from the node that served them (the leader, or whoever served it last epoch).
  const rates = new Array<number>(view.partitions.length).fill(0);
  for (const n of view.nodes) n.report?.partitionOps.forEach((r, p) => (p < rates.length ? (rates[p]! += r) : undefined));
  const threshold = Math.max(rules.hotPartitionFactor * median(rates), rules.hotPartitionOpsMin);
  rates.forEach((r, p) => {
    if (r > threshold) {
      alerts.push({ rule: 'hot-partition', severity: 'warning', subject: String(p), message: `partition ${p} serves ${r.toFixed(0)} requests/s, above ${threshold.toFixed(0)} (${rules.hotPartitionFactor}x the median or the floor)` });
    }
  });

  for (const n of view.nodes) {
    const r = n.report;
    if (r === undefined || r.hotKeySamples < rules.hotKeySamplesMin) continue;
    for (const k of r.hotKeys) {
      if (k.share <= rules.hotKeyShareMin) break;
      alerts.push({ rule: 'hot-key', severity: 'warning', subject: k.key, message: `key "${k.key}" takes ${(k.share * 100).toFixed(1)}% of node ${n.id}'s traffic (limit ${(rules.hotKeyShareMin * 100).toFixed(0)}%)` });
    }
  }
  return alerts;
}

/** How long an alert's condition must hold before it is raised (0: at once). */
const holdFor = (rule: AlertRule, rules: AlertRules): number => (rule === 'replication-lag' ? rules.replicationLagForMs : 0);

/**
 * Alerts raised only once their condition has held for their rule's time (`replicationLagForMs` for
 * replication-lag, at once for the rest): `update` gets each evaluation's alerts and returns those to raise.
 * A condition missing from one evaluation starts again from zero.
 */
export class AlertHold {
  private readonly since = new Map<string, number>();

  constructor(private readonly rules: AlertRules) {}

  update(alerts: readonly Alert[], nowMs: number): Alert[] {
    const seen = new Set<string>();
    const raised: Alert[] = [];
    for (const a of alerts) {
      const key = `${a.rule}|${a.subject}`;
      seen.add(key);
      const first = this.since.get(key) ?? nowMs;
      this.since.set(key, first);
      if (nowMs - first >= holdFor(a.rule, this.rules)) raised.push(a);
    }
    for (const key of [...this.since.keys()]) if (!seen.has(key)) this.since.delete(key);
    return raised;
  }
}
