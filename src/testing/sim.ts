// A seeded, virtual-time world for the cluster core: an event queue for timers and a network whose links
// keep order (like TCP) but drop, delay and partition messages, and (as across reconnections) deliver some
// twice or out of order. src/testing/sim-cluster.ts builds whole clusters on it. Every run is reproduced by its
// seed; a failing test prints it.
import { strict as assert } from 'node:assert';
import { seededRandom, type Random } from '../partitioning/prng.js';
import type { PeerLink } from '../replication/replicator.js';

export const SIM_LIMITS = Object.freeze({ eventsMax: 5_000_000 });

interface Event {
  readonly atMs: number;
  readonly order: number;
  readonly fn: () => void;
}

/** Virtual time: events run in (time, insertion) order; promises settle between events. */
export class SimScheduler {
  nowMs = 0;
  private queue: Event[] = [];
  private order = 0;
  events = 0;

  schedule(delayMs: number, fn: () => void): void {
    const ev = { atMs: this.nowMs + Math.max(0, delayMs), order: this.order++, fn };
    // Binary insertion keeps the queue sorted.
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.queue[mid]!;
      if (m.atMs < ev.atMs || (m.atMs === ev.atMs && m.order < ev.order)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, ev);
  }

  every(everyMs: number, fn: () => void): () => void {
    let live = true;
    const loop = (): void => {
      if (!live) return;
      fn();
      this.schedule(everyMs, loop);
    };
    this.schedule(everyMs, loop);
    return () => (live = false);
  }

  /** Runs events up to `untilMs`, letting promise callbacks run after each one. */
  async runUntil(untilMs: number): Promise<void> {
    for (;;) {
      const next = this.queue[0];
      if (next === undefined || next.atMs > untilMs) break;
      this.queue.shift();
      this.nowMs = next.atMs;
      assert(++this.events <= SIM_LIMITS.eventsMax, 'simulation ran too many events');
      next.fn();
      // setImmediate fires after every pending promise callback: no wall-clock dependence.
      await new Promise<void>((r) => setImmediate(r));
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }
}

export interface NetworkFaults {
  /** Chance that one message (request or reply) is lost. */
  dropRate: number;
  delayMinMs: number;
  delayMaxMs: number;
  /** Chance that a request is delivered a second time, later (a retry over a new connection); its second answer is lost. */
  duplicateRate?: number;
  /** Chance that a message ignores its link's order and arrives up to 3 delays late (sent before a reconnection). */
  reorderRate?: number;
}

export class SimNetwork {
  readonly random: Random;
  faults: NetworkFaults = { dropRate: 0, delayMinMs: 1, delayMaxMs: 5 };
  private readonly handlers = new Map<string, (body: unknown) => unknown>();
  /** Directed cuts: "a>b" means a cannot reach b. */
  private readonly cuts = new Set<string>();
  private readonly lastDelivery = new Map<string, number>();
  delivered = 0;
  dropped = 0;
  duplicated = 0;
  reordered = 0;

  constructor(
    readonly sim: SimScheduler,
    seed: number,
  ) {
    this.random = seededRandom(seed);
  }

  serve(id: string, handler: (body: unknown) => unknown): void {
    this.handlers.set(id, handler);
  }

  cut(a: string, b: string, bothWays = true): void {
    this.cuts.add(`${a}>${b}`);
    if (bothWays) this.cuts.add(`${b}>${a}`);
  }

  /** Cuts `a` off from every other node, both ways. */
  isolate(a: string): void {
    for (const b of this.handlers.keys()) if (b !== a) this.cut(a, b);
  }

  heal(): void {
    this.cuts.clear();
  }

  canReach(a: string, b: string): boolean {
    return !this.cuts.has(`${a}>${b}`);
  }

  /** When a message sent now on a->b arrives, or undefined if it is lost. Links keep order. */
  private arrival(a: string, b: string): number | undefined {
    if (!this.canReach(a, b) || this.random.next() < this.faults.dropRate) {
      this.dropped++;
      return undefined;
    }
    const span = this.faults.delayMaxMs - this.faults.delayMinMs;
    const sent = this.sim.nowMs + this.faults.delayMinMs + this.random.next() * span;
    if (this.random.next() < (this.faults.reorderRate ?? 0)) {
      this.reordered++;
      return sent + this.random.next() * 3 * this.faults.delayMaxMs;
    }
    const at = Math.max(sent, this.lastDelivery.get(`${a}>${b}`) ?? 0);
    this.lastDelivery.set(`${a}>${b}`, at);
    return at;
  }

  /** Runs `to`'s handler on a copy of `body`; a thrown error is the answer. */
  private handle(to: string, body: unknown): unknown {
    const handler = this.handlers.get(to);
    if (handler === undefined) return undefined;
    this.delivered++;
    try {
      return handler(structuredCloneBuffers(body));
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  link(from: string, to: string): PeerLink {
    return {
      request: (body, timeoutMs) =>
        new Promise<unknown>((resolve, reject) => {
          let settled = false;
          const fail = (why: string): void => {
            if (!settled) {
              settled = true;
              reject(new Error(why));
            }
          };
          this.sim.schedule(timeoutMs, () => fail(`request ${from}->${to} timed out`));
          const at = this.arrival(from, to);
          if (at === undefined) return;
          if (this.random.next() < (this.faults.duplicateRate ?? 0)) {
            this.duplicated++;
            this.sim.schedule(at - this.sim.nowMs + this.random.next() * 3 * this.faults.delayMaxMs, () => {
              const r = this.handle(to, body);
              if (r instanceof Promise) r.catch(() => undefined);
            });
          }
          this.sim.schedule(at - this.sim.nowMs, () => {
            if (!this.handlers.has(to)) return;
            const reply = this.handle(to, body);
            const answer = (r: unknown): void => {
              const back = this.arrival(to, from);
              if (back === undefined) return;
              const answered = r instanceof Error ? r : structuredCloneBuffers(r);
              this.sim.schedule(back - this.sim.nowMs, () => {
                if (settled) return;
                settled = true;
                if (answered instanceof Error) reject(answered);
                else resolve(answered);
              });
            };
            // An asynchronous handler (a hand-over waits for its target) answers when it settles.
            if (reply instanceof Promise) reply.then(answer, (e: unknown) => answer(e instanceof Error ? e : new Error(String(e))));
            else answer(reply);
          });
        }),
    };
  }
}

/** Messages cross the wire as copies (Buffers stay Buffers), so nodes never share mutable state. */
function structuredCloneBuffers<T>(v: T): T {
  if (Buffer.isBuffer(v)) return Buffer.from(v) as T;
  if (Array.isArray(v)) return v.map(structuredCloneBuffers) as T;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, structuredCloneBuffers(x)])) as T;
  return v;
}
