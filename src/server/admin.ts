// Admin HTTP API of a node (fastify, its own port): /healthz, /metrics (Prometheus), /info (JSON).
// Built from a factory so tests inject requests without a socket.
import Fastify, { type FastifyInstance } from 'fastify';
import { infoSections, type ServerState } from './dispatch.js';
import type { NodeMetrics } from './metrics.js';

export function buildAdminApp(state: ServerState, metrics: NodeMetrics): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
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
