// Element-level change records of collection values, so a replicated write to a large list, set, sorted set,
// hash or stream ships what changed (the pushed element, the removed member) instead of the whole value: a
// 10,000-entry stream used to send 10,000 entries per XADD to every follower (45 XADDs/s, measured).
//
// The leader arms the journal around one command (or one EXEC or script), the collections record their
// mutations while it is armed, and the replicator takes the records when it stages the entry. A value created
// during the armed window, one whose records overflowed, or one with no record at all (a value replaced by
// another object, a type that does not record) is shipped whole, as before: recording is an optimisation, and
// anything it does not cover falls back to the state-based entry. Followers check the size a delta was taken
// against before applying it (src/replication/replicator.ts).
//
// The journal is process-wide: commands run synchronously, and each armed window ends in the same turn.

/** One recorded change: an op code, then its arguments (msgpack-encodable). */
export type JournalOp = unknown[];

export const JOURNAL_LIMITS = Object.freeze({
  /** Past this many ops (or element bytes) in one window a value is shipped whole: a delta that big saves little. */
  opsMax: 4_096,
  bytesMax: 1024 * 1024,
});

export interface JournalRecord {
  /** Created in this window: shipped whole. */
  created: boolean;
  overflow: boolean;
  /**
   * What the value looked like before its first change: its size, and for order-sensitive types (lists,
   * streams) their ends or last ID, so a delta is never applied twice to a copy that already holds it.
   */
  before: unknown[];
  ops: JournalOp[];
  bytes: number;
}

class ChangeJournal {
  private active = false;
  /** This window's records, made at its first one (a window that changes no collection allocates nothing). */
  private records: Map<object, JournalRecord> | undefined;

  get armed(): boolean {
    return this.active;
  }

  /** Runs `f` without recording: a value decoded from storage is not new, and building it is no change. */
  quietly<T>(f: () => T): T {
    if (!this.active) return f();
    this.active = false;
    try {
      return f();
    } finally {
      this.active = true;
    }
  }

  /** Starts recording (a new window); nested arming keeps the outer window. */
  arm(): boolean {
    if (this.active) return false;
    this.active = true;
    this.records = undefined;
    return true;
  }

  disarm(): void {
    this.active = false;
    this.records = undefined;
  }

  private open(): Map<object, JournalRecord> {
    return (this.records ??= new Map());
  }

  /** A collection object made in this window. */
  created(value: object): void {
    if (this.active) this.open().set(value, { created: true, overflow: false, before: [], ops: [], bytes: 0 });
  }

  /** Notes `value` as it is now, before a change whose op is recorded after it (a trim counts what it removed). */
  prime(value: object, size: number): void {
    if (!this.active) return;
    const records = this.open();
    if (!records.has(value)) records.set(value, { created: false, overflow: false, before: fingerprintOf(value, size), ops: [], bytes: 0 });
  }

  /** A change to `value`, whose size is `size` before it applies; `bytes` of element data the op carries. */
  record(value: object, size: number, op: JournalOp, bytes: number): void {
    if (!this.active) return;
    const records = this.open();
    let r = records.get(value);
    if (r === undefined) records.set(value, (r = { created: false, overflow: false, before: fingerprintOf(value, size), ops: [], bytes: 0 }));
    if (r.created || r.overflow) return;
    r.ops.push(op);
    r.bytes += bytes;
    if (r.ops.length > JOURNAL_LIMITS.opsMax || r.bytes > JOURNAL_LIMITS.bytesMax) {
      r.overflow = true;
      r.ops = [];
    }
  }

  /** The record of `value` in this window, when a delta can stand for its changes. */
  deltaOf(value: object): JournalRecord | undefined {
    const r = this.records?.get(value);
    return r === undefined || r.created || r.overflow ? undefined : r;
  }
}

/** A value's fingerprint: its own (lists, streams) or its size. */
export function fingerprintOf(value: object, size: number): unknown[] {
  const own = (value as { journalFingerprint?: () => unknown[] }).journalFingerprint;
  return own === undefined ? [size] : own.call(value);
}

export const journal = new ChangeJournal();

/** A set value that records its changes while the journal is armed. */
export class JournaledSet extends Set<string> implements StoreTracked {
  storeTrack: StoreTrack | undefined;

  constructor(items?: Iterable<string>) {
    super(items);
    journal.created(this);
  }

  override add(member: string): this {
    if (journal.armed && !this.has(member)) journal.record(this, this.size, ['+', member], member.length);
    storeHint(this.storeTrack, member);
    return super.add(member);
  }

  override delete(member: string): boolean {
    noteRemoval(this, member);
    return super.delete(member);
  }

  override clear(): void {
    noteClear(this);
    super.clear();
  }
}

/** A hash value that records its changes while the journal is armed. */
export class JournaledMap extends Map<string, Buffer> implements StoreTracked {
  storeTrack: StoreTrack | undefined;

  constructor(entries?: Iterable<readonly [string, Buffer]>) {
    super(entries);
    journal.created(this);
  }

  override set(field: string, value: Buffer): this {
    if (journal.armed) journal.record(this, this.size, ['+', field, Buffer.from(value)], field.length + value.length);
    storeHint(this.storeTrack, field);
    return super.set(field, value);
  }

  override delete(field: string): boolean {
    noteRemoval(this, field);
    return super.delete(field);
  }

  override clear(): void {
    noteClear(this);
    super.clear();
  }
}

/**
 * Storage tracking, beside the replication window above: a collection the LMDB engine keeps as chunk records
 * (src/storage/lmdb-chunks.ts) carries a StoreTrack, and each mutation adds a hint naming what it touched (a
 * member, a list end or index, a stream entry's insertion number), so the next write of the value rewrites only
 * the chunks those hints fall in. Always on for tracked values, whether or not the journal is armed.
 */
export interface StoreTrack {
  /** The key and record generation the chunks on disk were last written for. */
  readonly key: string;
  readonly gen: number;
  /** What changed since; null when too much did (or a change has no hint): the value is rewritten whole. */
  hints: unknown[] | null;
}

export const STORE_TRACK_LIMITS = Object.freeze({
  /** Hints kept per value between two writes; past it the next write is whole (it would touch most chunks). */
  hintsMax: 65_536,
});

/** Notes what a change touched on a tracked value (nothing for an untracked one). */
export function storeHint(t: StoreTrack | undefined, hint: unknown): void {
  const h = t?.hints;
  if (h === undefined || h === null) return;
  if (h.length >= STORE_TRACK_LIMITS.hintsMax) t!.hints = null;
  else h.push(hint);
}

/** A change with no hint (a clear, a replacement): a tracked value's next write is whole. */
export function dropHints(t: StoreTrack | undefined): void {
  if (t !== undefined) t.hints = null;
}

/** A member or field removed from a journaled set or hash: its replication record and its storage hint. */
function noteRemoval(v: JournaledSet | JournaledMap, key: string): void {
  if (journal.armed && v.has(key)) journal.record(v, v.size, ['-', key], key.length);
  storeHint(v.storeTrack, key);
}

function noteClear(v: JournaledSet | JournaledMap): void {
  if (journal.armed && v.size > 0) journal.record(v, v.size, ['0'], 0);
  dropHints(v.storeTrack);
}

/** A collection value that may carry a StoreTrack. */
export interface StoreTracked {
  storeTrack: StoreTrack | undefined;
}
