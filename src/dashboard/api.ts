// The dashboard's HTTP side on a node's admin port: the page at /, its data under /api (this node's report,
// the cluster view gathered from every node over the peer protocol, the ring picture, hot keys, alerts, a live SSE
// stream), alert evaluation with logging and gauges, rebalance plans (list, make, apply, pause, resume, cancel,
// settings), and admin actions guarded by the admin token or ACL users (admin-auth.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import client from 'prom-client';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ClusterNode } from '../cluster/map.js';
import { randomBytes } from 'node:crypto';
import { planRunning, sizesFromLeaders, RebalanceSettingsSchema, type RebalanceSettings } from '../cluster/plans.js';
import { applyPlan, changePlan, createPlan, listPlans, readSettings, updateSettings, type PlanDeps } from '../coordinator/plan-store.js';
import type { RebalancePlan } from '../cluster/rebalance.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { AtollError } from '../errors.js';
import { REDIS_SLOT_COUNT } from '../partitioning/hash.js';
import { SlotPartitioner } from '../partitioning/slots.js';
import type { ClusterRouting } from '../server/cluster.js';
import { ALERT_RULES, AlertHold, evaluateAlerts, type Alert, type AlertRules, type ClusterView, type ViewNode } from '../monitoring/alerts.js';
import type { NodeMonitor, NodeReport } from '../monitoring/node-monitor.js';
import { DASHBOARD_HTML } from './page.js';
import { actionsPossible, authorizeAdmin } from './admin-auth.js';
import type { AclStore } from '../server/acl.js';
import { renderRingSvg, type RingSegment } from './ring-svg.js';

export const DASHBOARD_LIMITS = Object.freeze({
  /** A peer's admin API that does not answer within this counts as unreachable for this view. */
  peerFetchTimeoutMs: 1_500,
  /** Views are reused for this long, so many open dashboards cost one gathering. */
  viewCacheMs: 500,
  eventEveryMs: 1_000,
  sseClientsMax: 32,
  /** The controller (or a standalone node) re-evaluates alerts this often, logging changes. */
  alertEveryMs: 5_000,
  moveTimeoutMs: 300_000,
  statsTimeoutMs: 30_000,
  /** Finished plans shown besides the running ones. */
  plansShownMax: 8,
});

export interface DashboardContext {
  readonly selfId: string;
  readonly zone: string;
  readonly monitor: NodeMonitor;
  /** Present on cluster nodes. */
  readonly routing?: ClusterRouting;
  readonly clusterId?: string;
  readonly replicas?: number;
  readonly rules: AlertRules;
  /** Actions (POST) take `Authorization: Bearer <token>` (src/dashboard/admin-auth.ts). */
  readonly adminToken?: string;
  /** The node's ACL users: actions also take `Authorization: Basic` for a user allowed CLUSTER SETSLOT. */
  readonly acl?: () => AclStore | undefined;
  /** Records a refused action for ACL LOG (failed authentication or a missing permission). */
  readonly onDenied?: (d: { reason: 'auth' | 'command'; user: string; addr: string }) => void;
  /** Present on cluster nodes: rebalance plans and settings live there. */
  readonly coordinator?: Coordinator;
  readonly log?: Logger;
  readonly registry: client.Registry;
  nowMs(): number;
}

/**
 * A peer's report, over the node-to-node connection (authenticated by the cluster secret, TLS with
 * tls-cluster), so the view works whatever guards the admin ports; none when it has no monitor or is silent.
 */
async function fetchReport(routing: ClusterRouting, n: ClusterNode): Promise<NodeReport | undefined> {
  try {
    const report = await routing.peer(n).request({ op: 'node-report' }, DASHBOARD_LIMITS.peerFetchTimeoutMs);
    return report === null ? undefined : (report as NodeReport);
  } catch {
    return undefined;
  }
}

/**
 * The cluster as this node sees it now. `silentSince` remembers, across calls, since when each node's admin
 * API has not answered (so alerts can tell a busy moment from a dead node).
 */
export async function buildClusterView(ctx: DashboardContext, silentSince = new Map<string, number>()): Promise<ClusterView> {
  const self = ctx.monitor.report();
  const map = ctx.routing?.map;
  if (ctx.routing === undefined || map === undefined) {
    const node: ViewNode = { id: ctx.selfId, host: '127.0.0.1', port: 0, adminPort: 0, zone: ctx.zone, weight: 1, registered: true, reachable: true, led: 1, followed: 0, report: self };
    return { clusterId: ctx.clusterId ?? 'standalone', epoch: 0, controller: null, replicas: 1, partitions: ctx.routing === undefined ? [[ctx.selfId]] : [], nodes: [node], servedBy: ctx.selfId, generatedMs: ctx.nowMs() };
  }
  const routing = ctx.routing;
  const all = new Map<string, ClusterNode>(Object.entries(map.nodes));
  for (const n of routing.liveNodes) all.set(n.id, n);
  const ids = [...all.keys()].sort();
  const table = routing.routingTable!;
  const nodes = await Promise.all(
    ids.map(async (id): Promise<ViewNode> => {
      const n = all.get(id)!;
      const report = id === ctx.selfId ? self : await fetchReport(routing, n);
      const { led, followed } = table.partitionsOf(id);
      const now = ctx.nowMs();
      if (report !== undefined) silentSince.delete(id);
      else if (!silentSince.has(id)) silentSince.set(id, now);
      const unreachableMs = report === undefined ? now - silentSince.get(id)! : 0;
      return { id, host: n.host, port: n.port, adminPort: n.adminPort, zone: n.zone, weight: n.weight, registered: routing.isLive(id), reachable: report !== undefined, unreachableMs, led, followed, report };
    }),
  );
  for (const id of [...silentSince.keys()]) if (!all.has(id)) silentSince.delete(id);
  return {
    clusterId: map.clusterId,
    epoch: map.epoch,
    controller: routing.controller ?? null,
    replicas: ctx.replicas ?? 1,
    partitions: map.partitions.map((e) => e.replicas),
    nodes,
    servedBy: ctx.selfId,
    generatedMs: ctx.nowMs(),
  };
}

/** The slot circle, one arc per partition coloured by its leader: the same drawing as `atoll ring --svg`. */
export function clusterRingSvg(view: ClusterView): string {
  const ids = view.nodes.map((n) => n.id);
  const count = Math.max(1, view.partitions.length);
  const slots = new SlotPartitioner({ partitions: count });
  const segments: RingSegment[] = view.partitions.map((replicas, p) => {
    const { first, last } = slots.slotRange(p);
    return {
      start: first / REDIS_SLOT_COUNT,
      end: (last + 1) / REDIS_SLOT_COUNT,
      node: replicas[0]!,
      partition: p,
      label: `partition ${p}: slots ${first}-${last}, leader ${replicas[0]}${replicas.length > 1 ? `, followers ${replicas.slice(1).join(', ')}` : ''}`,
    };
  });
  return renderRingSvg(segments, ids, { merge: false, title: `${view.clusterId}: epoch ${view.epoch}`, sizePx: 480 });
}

const MoveBody = z.object({ to: z.string().min(1) }).strict();
const PlanBody = z.object({ drain: z.array(z.string()).default([]), weights: z.record(z.string(), z.number()).default({}) }).strict();

/** A plan as shown: with its copy rate so far and, while it runs, the estimated time left. */
export type PlanWithProgress = RebalancePlan & { progress: { rateBytesPerSec: number; etaMs: number | null } };

/** Plans worth showing: every unfinished one and the latest finished ones, newest first. */
export interface RebalanceView {
  readonly settings: RebalanceSettings;
  readonly plans: PlanWithProgress[];
}

export function planProgress(p: RebalancePlan, nowMs: number): PlanWithProgress['progress'] {
  if (p.startedMs === undefined) return { rateBytesPerSec: 0, etaMs: null };
  const elapsedMs = Math.max(1, (p.finishedMs ?? nowMs) - p.startedMs);
  const rateBytesPerSec = Math.round((p.bytesDone / elapsedMs) * 1000);
  const running = p.status === 'applying';
  // By bytes when the moves have sizes, else by moves.
  const etaMs = !running ? null : p.totalBytes > 0 && p.bytesDone > 0 ? Math.round(((p.totalBytes - p.bytesDone) / p.bytesDone) * elapsedMs) : p.done > 0 ? Math.round(((p.moves.length - p.done) / p.done) * elapsedMs) : null;
  return { rateBytesPerSec, etaMs };
}

async function rebalanceView(c: Coordinator, nowMs: number): Promise<RebalanceView> {
  const all = (await listPlans(c)).reverse();
  const finished = all.filter((p) => !planRunning(p) && p.status !== 'planned').slice(0, DASHBOARD_LIMITS.plansShownMax);
  const shown = all.filter((p) => planRunning(p) || p.status === 'planned' || finished.includes(p));
  return { settings: await readSettings(c), plans: shown.map((p) => ({ ...p, progress: planProgress(p, nowMs) })) };
}

export function registerDashboard(app: FastifyInstance, ctx: DashboardContext): { close(): void } {
  type Current = { view: ClusterView; alerts: Alert[]; rebalance?: RebalanceView };
  let cached: (Current & { atMs: number }) | undefined;
  let gathering: Promise<Current> | undefined;
  let active = new Map<string, Alert>();
  const silentSince = new Map<string, number>();
  const hold = new AlertHold(ctx.rules);

  const remember = (alerts: Alert[]): void => {
    const next = new Map(alerts.map((a) => [`${a.rule}|${a.subject}`, a]));
    for (const [k, a] of next) if (!active.has(k)) ctx.log?.warn({ alert: a.rule, subject: a.subject }, `alert raised: ${a.message}`);
    for (const [k, a] of active) if (!next.has(k)) ctx.log?.info({ alert: a.rule, subject: a.subject }, `alert cleared: ${a.message}`);
    active = next;
  };
  const current = async (): Promise<Current> => {
    if (cached !== undefined && ctx.nowMs() - cached.atMs < DASHBOARD_LIMITS.viewCacheMs) return cached;
    gathering ??= Promise.all([buildClusterView(ctx, silentSince), ctx.coordinator === undefined ? undefined : rebalanceView(ctx.coordinator, ctx.nowMs()).catch(() => undefined)])
      .then(([view, rebalance]) => {
        const alerts = hold.update(evaluateAlerts(view, ctx.rules), ctx.nowMs());
        remember(alerts);
        cached = { view, alerts, rebalance, atMs: ctx.nowMs() };
        return cached;
      })
      .finally(() => (gathering = undefined));
    return gathering;
  };

  new client.Gauge({
    name: 'atoll_alerts_active',
    help: 'Alerts active in the last cluster view this node evaluated, by rule',
    labelNames: ['rule'],
    registers: [ctx.registry],
    collect() {
      for (const rule of ALERT_RULES) this.set({ rule }, [...active.values()].filter((a) => a.rule === rule).length);
    },
  });
  new client.Gauge({
    name: 'atoll_hot_key_share',
    help: "Share of this node's sampled traffic taken by its hottest key",
    registers: [ctx.registry],
    collect() {
      this.set(ctx.monitor.hotKeys(1)[0]?.share ?? 0);
    },
  });
  new client.Gauge({
    name: 'atoll_partition_ops_max',
    help: 'Requests per second of the busiest partition this node served (sliding window)',
    registers: [ctx.registry],
    collect() {
      this.set(Math.max(0, ...ctx.monitor.report().partitionOps));
    },
  });
  new client.Gauge({
    name: 'atoll_ops_per_second',
    help: 'Commands per second over the last tick',
    registers: [ctx.registry],
    collect() {
      this.set(ctx.monitor.report().opsPerSec);
    },
  });

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(DASHBOARD_HTML));
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
  app.get('/api/node', async () => ctx.monitor.report());
  const payload = ({ view, alerts, rebalance }: Current): Record<string, unknown> => ({ ...view, alerts, rebalance, actions: actionsPossible({ adminToken: ctx.adminToken, acl: ctx.acl?.() }) });
  app.get('/api/cluster', async () => payload(await current()));
  app.get('/api/alerts', async () => (await current()).alerts);
  app.get('/api/hotkeys', async () => ctx.monitor.hotKeys());
  app.get('/api/ring.svg', async (_req, reply) => reply.type('image/svg+xml').send(clusterRingSvg((await current()).view)));

  const streams = new Set<FastifyReply>();
  app.get('/api/events', (req: FastifyRequest, reply: FastifyReply) => {
    if (streams.size >= DASHBOARD_LIMITS.sseClientsMax) {
      void reply.code(503).send({ error: `at most ${DASHBOARD_LIMITS.sseClientsMax} live dashboards per node` });
      return;
    }
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    streams.add(reply);
    const send = (): void => {
      current()
        .then((c) => reply.raw.write(`data: ${JSON.stringify(payload(c))}\n\n`))
        .catch((e: unknown) => ctx.log?.warn({ err: (e as Error).message }, 'dashboard view failed'));
    };
    send();
    const timer = setInterval(send, DASHBOARD_LIMITS.eventEveryMs);
    req.raw.on('close', () => {
      clearInterval(timer);
      streams.delete(reply);
    });
  });

  /** Actions need the admin token or a permitted ACL user; false (reply sent) when the request may not act. */
  const allowed = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const auth = authorizeAdmin(req.headers.authorization, { adminToken: ctx.adminToken, acl: ctx.acl?.() });
    if (auth.ok) return true;
    if (auth.denied !== undefined) ctx.onDenied?.({ ...auth.denied, addr: `${req.ip}` });
    // A request with no credential is asked for Basic ones; never one that sent some (a browser would pop
    // up its own login over the dashboard's fetch).
    if (auth.status === 401 && req.headers.authorization === undefined) void reply.header('www-authenticate', 'Basic realm="atoll admin", charset="UTF-8"');
    void reply.code(auth.status).send({ error: auth.error });
    return false;
  };
  const failed = (reply: FastifyReply, e: unknown): FastifyReply =>
    reply.code(e instanceof AtollError ? (e.code === 'BAD_ARGUMENT' || e.code === 'UNKNOWN_NODE' || e.code === 'BAD_WEIGHT' || e.code === 'EMPTY_NODES' ? 400 : 409) : 500).send({ error: (e as Error).message, code: e instanceof AtollError ? e.code : undefined });

  const coordinator = ctx.coordinator;
  if (coordinator !== undefined && ctx.routing !== undefined) {
    const routing = ctx.routing;
    const deps: PlanDeps = {
      nowMs: () => ctx.nowMs(),
      newId: () => randomBytes(3).toString('hex'),
      sizes: (map, snap) => sizesFromLeaders(map, snap, async (n, partitions) => ((await routing.peer(n).request({ op: 'partition-stats', partitions }, DASHBOARD_LIMITS.statsTimeoutMs)) as { bytes: number[] }).bytes),
    };
    app.get('/api/plans', async () => rebalanceView(coordinator, ctx.nowMs()));
    /** Runs an action; its result is the answer (and the cached view is dropped), a failure a clear error. */
    const act = async <T>(reply: FastifyReply, run: () => Promise<T>): Promise<T | FastifyReply> => {
      try {
        const result = await run();
        cached = undefined;
        return result;
      } catch (e) {
        return failed(reply, e);
      }
    };
    app.post('/api/plans', async (req, reply) => {
      if (!allowed(req, reply)) return reply;
      const body = PlanBody.safeParse(req.body ?? {});
      if (!body.success) return reply.code(400).send({ error: 'body must be {"drain"?: ["<node id>"], "weights"?: {"<node id>": <weight>}}' });
      const drain = body.data.drain;
      const reason = drain.length > 0 ? `drain ${drain.join(',')} (dashboard)` : 'balance over the registered nodes (dashboard)';
      return act(reply, () => createPlan(coordinator, { drain, weights: new Map(Object.entries(body.data.weights)), reason }, deps));
    });
    app.post('/api/plans/:id/:verb', async (req, reply) => {
      if (!allowed(req, reply)) return reply;
      const { id, verb } = req.params as { id: string; verb: string };
      if (verb === 'apply') return act(reply, () => applyPlan(coordinator, id, ctx.nowMs()));
      if (verb === 'pause' || verb === 'resume' || verb === 'cancel') return act(reply, () => changePlan(coordinator, id, verb, ctx.nowMs()));
      return reply.code(404).send({ error: `unknown plan action ${verb}: apply, pause, resume or cancel` });
    });
    app.post('/api/rebalance/settings', async (req, reply) => {
      if (!allowed(req, reply)) return reply;
      const body = RebalanceSettingsSchema.partial().safeParse(req.body ?? {});
      if (!body.success) return reply.code(400).send({ error: `bad setting ${body.error.issues[0]!.path.join('.')}: ${body.error.issues[0]!.message}` });
      return act(reply, () => updateSettings(coordinator, body.data));
    });
  }

  app.post('/api/partitions/:partition/move', async (req, reply) => {
    if (!allowed(req, reply)) return reply;
    const routing = ctx.routing;
    const map = routing?.map;
    if (routing === undefined || map === undefined) return reply.code(409).send({ error: 'this node is not in a cluster with a map' });
    const partition = Number((req.params as { partition: string }).partition);
    const entry = Number.isInteger(partition) ? map.partitions[partition] : undefined;
    if (entry === undefined) return reply.code(400).send({ error: `partition ${String((req.params as { partition: string }).partition)} does not exist (the map has ${map.partitions.length})` });
    const body = MoveBody.safeParse(req.body);
    if (!body.success) return reply.code(400).send({ error: 'body must be {"to": "<node id>"}' });
    try {
      const leader = map.nodes[entry.replicas[0]!]!;
      return await routing.peer(leader).request({ op: 'handoff', partition, to: body.data.to }, DASHBOARD_LIMITS.moveTimeoutMs);
    } catch (e) {
      return failed(reply, e);
    }
  });

  // The controller (or a standalone node) keeps evaluating so alerts are logged and exported with no dashboard open.
  const timer = setInterval(() => {
    if (ctx.routing !== undefined && ctx.routing.controller !== ctx.selfId) return;
    current().catch((e: unknown) => ctx.log?.warn({ err: (e as Error).message }, 'alert evaluation failed'));
  }, DASHBOARD_LIMITS.alertEveryMs);
  timer.unref();
  return {
    close() {
      clearInterval(timer);
      for (const s of streams) s.raw.end();
      streams.clear();
    },
  };
}
