// Admin HTTP(S) API of a node (fastify, its own port; HTTPS with --admin-tls): /healthz, /metrics (Prometheus), /info (JSON), and the
// dashboard (/ and /api/...). Built from a factory so tests inject requests without a socket.
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { secureOptions } from './tls.js';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { registerDashboard } from '../dashboard/api.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { DEFAULT_ALERT_RULES, type AlertRules } from '../monitoring/alerts.js';
import { MONITOR_LIMITS, NodeMonitor } from '../monitoring/node-monitor.js';
import { infoSections, type ServerState } from './dispatch.js';
import { createNodeMetrics, type NodeMetrics } from './metrics.js';
import type { ClusterRouting } from './cluster.js';

export function buildAdminApp(state: ServerState, metrics: NodeMetrics, tlsOptions?: () => tls.SecureContextOptions): FastifyInstance {
  // HTTPS: fastify on a node https server (whose certificate a reload swaps); its typings name an http one.
  const serverFactory = tlsOptions === undefined ? undefined : (handler: http.RequestListener): http.Server => https.createServer(tlsOptions(), handler) as unknown as http.Server;
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, ...(serverFactory === undefined ? {} : { serverFactory }) });
  app.get('/healthz', async () => ({ status: 'ok', uptimeMs: state.clock.nowMs() - state.startedMs }));
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get('/info', async () => {
    const sections = infoSections(state);
    return Object.fromEntries(Object.entries(sections).map(([name, rows]) => [name, Object.fromEntries(rows)]));
  });
  return app;
}

export interface AdminOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly selfId: string;
  readonly zone: string;
  readonly routing?: ClusterRouting;
  readonly clusterId?: string;
  readonly replicas?: number;
  /** Partitions the monitor counts requests by (the cluster's; 1 for a standalone node). */
  readonly partitions: number;
  readonly rules?: AlertRules;
  readonly adminToken?: string;
  /** Serve HTTPS with this certificate and key (re-read by reloadTls). */
  readonly https?: { readonly certFile: string; readonly keyFile: string };
  /** Cluster nodes: the coordinator, for rebalance plans in the dashboard and its API. */
  readonly coordinator?: Coordinator;
  readonly log?: Logger;
}

export interface AdminHandle {
  readonly app: FastifyInstance;
  readonly port: number;
  readonly monitor: NodeMonitor;
  /** Re-reads the HTTPS certificate for new connections (throws, keeping the old one, when it is bad). */
  reloadTls(): void;
  close(): Promise<void>;
}

/** Metrics, monitor and dashboard wired onto a node's state, listening on their own port. */
export async function startAdmin(state: ServerState, o: AdminOptions): Promise<AdminHandle> {
  const metrics = createNodeMetrics(state);
  const monitor = new NodeMonitor(
    {
      id: o.selfId,
      zone: o.zone,
      uptimeMs: () => state.clock.nowMs() - state.startedMs,
      commandsTotal: () => state.stats.commandsTotal,
      keys: () => state.engine.stats().keys,
      usedBytes: () => state.engine.stats().usedBytes,
      connectedClients: () => state.sessions.size,
      replication: () => o.routing?.lagSummary(),
    },
    o.partitions,
  );
  state.observe = (command, seconds) => {
    metrics.observe(command, seconds);
    monitor.observeLatency(seconds);
  };
  state.monitor = monitor;
  const ticker = setInterval(() => monitor.tick(), MONITOR_LIMITS.tickMs);
  ticker.unref();
  const certs = o.https;
  const tlsOptions = certs === undefined ? undefined : (): tls.SecureContextOptions => secureOptions({ port: 0, certFile: certs.certFile, keyFile: certs.keyFile, authClients: 'no' });
  const app = buildAdminApp(state, metrics, tlsOptions);
  const dashboard = registerDashboard(app, {
    selfId: o.selfId,
    zone: o.zone,
    monitor,
    routing: o.routing,
    clusterId: o.clusterId,
    replicas: o.replicas,
    rules: o.rules ?? DEFAULT_ALERT_RULES,
    adminToken: o.adminToken,
    acl: () => state.acl,
    onDenied: (d) => state.aclLog?.add({ reason: d.reason, context: 'toplevel', object: d.reason === 'auth' ? 'AUTH' : 'cluster|setslot', username: d.user, clientInfo: `id=0 addr=${d.addr} name=admin-http user=${d.user}` }, state.clock.nowMs()),
    coordinator: o.coordinator,
    log: o.log,
    registry: metrics.registry,
    nowMs: () => state.clock.nowMs(),
  });
  const close = async (): Promise<void> => {
    clearInterval(ticker);
    dashboard.close();
    state.monitor = undefined;
    await app.close();
  };
  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (e) {
    await close();
    throw e;
  }
  const reloadTls = (): void => {
    if (tlsOptions !== undefined) (app.server as unknown as https.Server).setSecureContext(tlsOptions());
  };
  return { app, port: (app.server.address() as AddressInfo).port, monitor, reloadTls, close };
}
