// Prometheus metrics of one node (prom-client): per-command calls and latency, keys, memory, evictions,
// expirations, connections. Hot-path updates go to cached label children; engine figures are read at scrape.
import client from 'prom-client';
import { commandCalls, type ServerState } from './dispatch.js';

/** Latency buckets in seconds: 10 us to 1 s, dense where a cache lives. */
export const LATENCY_BUCKETS_S = Object.freeze([1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1, 1]);

/** Sampled command timings held before they are added to the histogram. */
export const LATENCY_PENDING_MAX = 1024;

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
      for (const [command, n] of commandCalls(state)) this.inc({ command }, n);
    },
  });
  /**
   * Sampled run times wait in a bounded buffer and reach the histogram in one tight loop when it fills or at
   * scrape: prom-client's observe called from the command path cost several times its own run time there.
   */
  const pending = { commands: new Array<string>(LATENCY_PENDING_MAX), seconds: new Float64Array(LATENCY_PENDING_MAX), length: 0 };
  const children = new Map<string, client.Histogram.Internal<'command'>>();
  const drain = (): void => {
    for (let i = 0; i < pending.length; i++) {
      const command = pending.commands[i]!;
      let child = children.get(command);
      if (child === undefined) {
        child = latency.labels(command);
        children.set(command, child);
      }
      child.observe(pending.seconds[i]!);
    }
    pending.length = 0;
  };
  const latency = new client.Histogram({
    name: 'atoll_command_duration_seconds',
    help: 'Time to execute a command (excluding network), by command; one command in 16 is timed',
    labelNames: ['command'],
    buckets: [...LATENCY_BUCKETS_S],
    registers: [registry],
    collect: drain,
  });
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
  counterFrom('atoll_peer_connections_refused_total', 'Node-to-node connections dropped before any frame: no or a wrong cluster secret', () => state.stats.peerRefused);
  client.collectDefaultMetrics({ register: registry, prefix: 'atoll_process_' });
  return {
    registry,
    observe(command, seconds) {
      pending.commands[pending.length] = command;
      pending.seconds[pending.length++] = seconds;
      if (pending.length === LATENCY_PENDING_MAX) drain();
    },
  };
}
