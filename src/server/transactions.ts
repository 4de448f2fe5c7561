// Transactions with Redis semantics: MULTI queues commands (+QUEUED), EXEC runs them back to back with nothing
// in between (the event loop is not yielded), DISCARD drops them; an error while queueing (unknown command,
// wrong arity, a command refused in a transaction, a key on another slot) aborts EXEC with EXECABORT. WATCH
// makes EXEC answer null when a watched key changed after it, however it changed: the engines report every
// change (a command, replication, a snapshot, expiry, eviction, FLUSHALL) through StorageEngine.onChange.
// In cluster mode a transaction's keys lie in one slot; it runs on that slot's leader and, when replicated,
// its writes travel as one replication entry (followers apply all of them or none) before EXEC answers.
import type { StorageEngine } from '../storage/engine.js';

export const TX_LIMITS = Object.freeze({
  /** Most commands one transaction may queue; more abort it (Redis bounds it only by memory). */
  queuedMax: 100_000,
  /** Most argument bytes one transaction may queue. */
  queuedBytesMax: 512 * 1024 * 1024,
});

/** A queued command: its name as looked up, and its arguments (copied: the connection's buffer is reused). */
export interface QueuedCommand<C> {
  readonly cmd: C;
  readonly args: Buffer[];
}

export class Transaction<C> {
  readonly queued: QueuedCommand<C>[] = [];
  bytes = 0;
  /** An error while queueing: EXEC answers EXECABORT. */
  aborted = false;
  /** Cluster mode: the slot of the keys queued so far. */
  slot: number | undefined;

  /** Queues a command; false (and aborted) past the limits. */
  push(cmd: C, args: readonly Buffer[]): boolean {
    let n = 0;
    for (const a of args) n += a.length;
    if (this.queued.length >= TX_LIMITS.queuedMax || this.bytes + n > TX_LIMITS.queuedBytesMax) {
      this.aborted = true;
      return false;
    }
    this.bytes += n;
    this.queued.push({ cmd, args: args.map((a) => Buffer.from(a)) });
    return true;
  }
}

/** What WATCH needs of a session. */
export interface Watcher {
  /** Keys this session watches (latin1), when any. */
  watching?: Set<string> | undefined;
  /** A watched key changed since WATCH: EXEC must fail. */
  watchDirty?: boolean | undefined;
}

/** Which sessions watch which keys; marks them dirty when the engine reports a change. */
export class WatchRegistry {
  private readonly byKey = new Map<string, Set<Watcher>>();

  /** The server routes the engine's change reports here (StorageEngine.onChange). */
  constructor(private readonly engine: StorageEngine) {}

  get watchedKeys(): number {
    return this.byKey.size;
  }

  watch(session: Watcher, key: string): void {
    (session.watching ??= new Set()).add(key);
    let set = this.byKey.get(key);
    if (set === undefined) this.byKey.set(key, (set = new Set()));
    set.add(session);
  }

  /** Forgets everything `session` watches (UNWATCH, after EXEC or DISCARD, on disconnect). */
  unwatchAll(session: Watcher): void {
    if (session.watching !== undefined) {
      for (const key of session.watching) {
        const set = this.byKey.get(key);
        set?.delete(session);
        if (set?.size === 0) this.byKey.delete(key);
      }
      session.watching = undefined;
    }
    session.watchDirty = false;
  }

  /**
   * A key changed (undefined: every key is about to be removed; as Redis, that touches only watched keys that
   * exist). Cheap when nobody watches: one size check per write.
   */
  changed(key: string | undefined): void {
    if (this.byKey.size === 0) return;
    if (key === undefined) {
      for (const [k, set] of this.byKey) if (this.engine.expiresAt(k) !== undefined) for (const s of set) s.watchDirty = true;
      return;
    }
    const set = this.byKey.get(key);
    if (set !== undefined) for (const s of set) s.watchDirty = true;
  }
}
