// A recorded read/write workload for fault tests and the failover benchmark: concurrent ioredis Cluster
// clients SET unique values and GET a small key set; every operation goes into a history (timeouts and
// errors on writes are unknown outcomes) for the linearizability checker, with timings for the figures.
import { Cluster } from 'ioredis';
import { HistoryRecorder } from '../src/testing/linearizability.js';

export interface WorkloadOptions {
  readonly ports: readonly number[];
  readonly clients: number;
  readonly keys: readonly string[];
  /** Chance that an operation is a write. */
  readonly writeShare: number;
  readonly commandTimeoutMs: number;
  /** Pause between one client's operations (a steady small load instead of as fast as possible). */
  readonly pauseMs?: number;
}

export interface Workload {
  readonly history: HistoryRecorder;
  /** Completion times (ms since epoch) of acknowledged writes, with their key. */
  readonly ackedAt: { key: string; atMs: number }[];
  readonly errors: Map<string, number>;
  /** Each failed operation: when it started and ended (ms since epoch), its key and slot-owning error text. */
  readonly failures: { key: string; kind: 'put' | 'get'; startMs: number; endMs: number; message: string }[];
  stop(): Promise<void>;
  /** Reads every key once more (after healing) through these ports (nodes may have restarted elsewhere). */
  finalReads(ports: readonly number[]): Promise<void>;
}

/** Errors that prove a write never ran: no connection was made, or the server refused it outright. */
export function refusedBeforeRunning(e: unknown): boolean {
  const m = (e as Error).message;
  if (/may or may not/.test(m)) return false;
  return /^(connect ECONNREFUSED|MOVED |ASK |CLUSTERDOWN|TRYAGAIN)/.test(m);
}

export function startWorkload(o: WorkloadOptions): Workload {
  const history = new HistoryRecorder(() => Date.now());
  const ackedAt: { key: string; atMs: number }[] = [];
  const errors = new Map<string, number>();
  const failures: Workload['failures'][number][] = [];
  const newClient = (ports: readonly number[] = o.ports): Cluster => {
    const c = new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      { redisOptions: { commandTimeout: o.commandTimeoutMs, maxRetriesPerRequest: 1 }, clusterRetryStrategy: () => 100, retryDelayOnTryAgain: 50, retryDelayOnClusterDown: 100, retryDelayOnFailover: 100, slotsRefreshTimeout: 1000 },
    );
    // Refresh failures while nodes are down are expected; commands report their own errors.
    c.on('error', () => undefined);
    return c;
  };
  let running = true;
  let counter = 0;
  const clients: Cluster[] = [];
  const note = (e: unknown, key: string, kind: 'put' | 'get', startMs: number): void => {
    const message = (e as Error).message;
    const text = message.split(' ')[0] ?? 'error';
    errors.set(text, (errors.get(text) ?? 0) + 1);
    failures.push({ key, kind, startMs, endMs: Date.now(), message });
  };
  const loop = async (id: number, client: Cluster): Promise<void> => {
    let seed = id * 7919 + 1;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 0x1_0000_0000);
    while (running) {
      if (o.pauseMs !== undefined) await new Promise((r) => setTimeout(r, o.pauseMs));
      const key = o.keys[Math.floor(rnd() * o.keys.length)]!;
      if (rnd() < o.writeShare) {
        const value = `c${id}-${++counter}`;
        const op = history.invoke(id, key, { kind: 'put', value });
        const startMs = Date.now();
        try {
          await client.set(key, value);
          op.ok({});
          ackedAt.push({ key, atMs: Date.now() });
        } catch (e) {
          note(e, key, 'put', startMs);
          // A write refused before it ran is a failure; anything else (a timeout, a lost connection, a leader
          // that lost its partition mid-write) may still take effect. Unknown outcomes are what make a history
          // expensive to check, so the ones that are certain are recorded as such.
          if (refusedBeforeRunning(e)) op.fail();
          else op.unknown();
        }
      } else {
        const op = history.invoke(id, key, { kind: 'get' });
        const startMs = Date.now();
        try {
          const v = await client.get(key);
          op.ok({ value: v });
        } catch (e) {
          note(e, key, 'get', startMs);
          op.fail();
        }
      }
    }
  };
  const loops: Promise<void>[] = [];
  for (let i = 0; i < o.clients; i++) {
    const c = newClient();
    clients.push(c);
    loops.push(loop(i, c));
  }
  return {
    history,
    ackedAt,
    errors,
    failures,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
    async finalReads(ports) {
      const c = newClient(ports);
      try {
        for (const key of o.keys) {
          for (let attempt = 0; ; attempt++) {
            const op = history.invoke(10_000, key, { kind: 'get' });
            try {
              op.ok({ value: await c.get(key) });
              break;
            } catch (e) {
              op.fail();
              if (attempt > 50) throw e;
              await new Promise((r) => setTimeout(r, 200));
            }
          }
        }
      } finally {
        c.disconnect();
        for (const cl of clients) cl.disconnect();
      }
    },
  };
}
