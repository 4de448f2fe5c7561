// Blocked clients (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP). A blocked command
// answers RetryAfter: its connection runs nothing else until the wait settles, then runs the command again,
// which either finds data, times out (its deadline is kept on the session across retries) or waits again.
// A wait settles when one of its keys changes by any path (a local push, a forwarded one, replication after a
// failover, a snapshot: the engine's onChange), at the deadline, or after recheckMs, so a client blocked on a
// node that lost the slot is re-routed (-MOVED) instead of waiting forever.
import { ReplyError } from './args.js';

export const BLOCKING_LIMITS = Object.freeze({
  /** A blocked command is re-run at least this often (re-routing after a failover or a move). */
  recheckMs: 1_000,
  /** Forwarding nodes block on the owner in slices of at most this (a peer request must answer in time). */
  forwardSliceMs: 3_000,
});

/** Redis's timeout argument: seconds as a float, 0 = forever; ms past 2^63 read as negative, as Redis's cast does. */
export function timeoutMsArg(b: Buffer): number {
  const s = b.toString('latin1');
  if (!/^[+-]?((\d+\.?\d*)|(\.\d+))([eE][+-]?\d+)?$/.test(s) && !/^[+-]?inf(inity)?$/i.test(s)) throw new ReplyError('ERR timeout is not a float or out of range');
  const ms = Math.ceil(Number(/inf/i.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : s) * 1000);
  if (!Number.isFinite(ms) || ms >= 2 ** 63 || ms < 0) throw new ReplyError('ERR timeout is negative');
  return ms;
}

export class BlockingRegistry {
  private readonly byKey = new Map<string, Set<() => void>>();

  get blockedKeys(): number {
    return this.byKey.size;
  }

  /** A promise that settles when a key changes, at `untilMs` (0: never), or after recheckMs; whichever is first. */
  wait(keys: readonly string[], nowMs: number, untilMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        for (const k of keys) {
          const set = this.byKey.get(k);
          set?.delete(wake);
          if (set?.size === 0) this.byKey.delete(k);
        }
        resolve();
      };
      const delay = untilMs === 0 ? BLOCKING_LIMITS.recheckMs : Math.max(0, Math.min(untilMs - nowMs, BLOCKING_LIMITS.recheckMs));
      const timer = setTimeout(wake, delay);
      for (const k of keys) {
        let set = this.byKey.get(k);
        if (set === undefined) this.byKey.set(k, (set = new Set()));
        set.add(wake);
      }
    });
  }

  /** A key changed (undefined: all keys): its blocked clients run their commands again. */
  changed(key: string | undefined): void {
    if (this.byKey.size === 0) return;
    if (key === undefined) {
      for (const set of [...this.byKey.values()]) for (const wake of [...set]) wake();
      return;
    }
    const set = this.byKey.get(key);
    if (set !== undefined) for (const wake of [...set]) wake();
  }
}
