// Prometheus metrics of one node (prom-client): per-command calls and latency, keys, memory, evictions,
// expirations, connections. Hot-path updates go to cached label children; engine figures are read at scrape.
import client from 'prom-client';
import type { ServerState } from './dispatch.js';

/** Latency buckets in seconds: 10 us to 1 s, dense where a cache lives. */
export const LATENCY_BUCKETS_S = Object.freeze([1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1, 1]);

export interface NodeMetrics {
  readonly registry: client.Registry;
  /** Records the run time of a sampled command. */
  observe(command: string, seconds: number): void;
}

export function createNodeMetrics(state: ServerState): NodeMetrics {
  const registry = new client.Registry();
  // Exact call counts come from the dispatcher's own counters at scrape time: nothing extra on the hot path.
  new client.Counter({
    name: 'atoll_commands_total',
    help: 'Commands executed, by command',
    labelNames: ['command'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [command, n] of state.stats.calls) this.inc({ command }, n);
    },
  });
  const latency = new client.Histogram({
    name: 'atoll_command_duration_seconds',
    help: 'Time to execute a command (excluding network), by command; one command in 16 is timed',
    labelNames: ['command'],
    buckets: [...LATENCY_BUCKETS_S],
    registers: [registry],
  });
  const children = new Map<string, client.Histogram.Internal<'command'>>();
  const fromEngine = (name: string, help: string, read: () => number): void => {
    new client.Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };
  const counterFrom = (name: string, help: string, read: () => number): void => {
    new client.Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
  };
  fromEngine('atoll_keys', 'Keys stored', () => state.engine.stats().keys);
  fromEngine('atoll_keys_volatile', 'Keys with an expiry', () => state.engine.stats().volatileKeys);
  fromEngine('atoll_memory_used_bytes', 'Estimated bytes used by keys and values', () => state.engine.stats().usedBytes);
  fromEngine('atoll_connected_clients', 'Open client connections', () => state.sessions.size);
  counterFrom('atoll_evicted_keys_total', 'Keys evicted under maxmemory', () => state.engine.stats().evictedKeys);
  counterFrom('atoll_expired_keys_total', 'Keys removed because their TTL passed', () => state.engine.stats().expiredKeys);
  counterFrom('atoll_keyspace_hits_total', 'Reads that found their key', () => state.engine.stats().hits);
  counterFrom('atoll_keyspace_misses_total', 'Reads that did not find their key', () => state.engine.stats().misses);
  counterFrom('atoll_connections_received_total', 'Client connections accepted or rejected', () => state.stats.connectionsTotal);
  counterFrom('atoll_rejected_connections_total', 'Client connections refused at maxclients', () => state.stats.rejectedConnections);
  client.collectDefaultMetrics({ register: registry, prefix: 'atoll_process_' });
  return {
    registry,
    observe(command, seconds) {
      let child = children.get(command);
      if (child === undefined) {
        child = latency.labels(command);
        children.set(command, child);
      }
      child.observe(seconds);
    },
  };
}
