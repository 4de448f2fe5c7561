// A stream: entries ordered by ID (milliseconds-sequence, each a 64-bit unsigned number in Redis; kept here as
// one bigint, ms << 64 | seq, so IDs compare as numbers), each with its field-value pairs. Appends go at the
// end; trimming from the front advances a head index (compacted once it passes half the array), so XADD with
// MAXLEN costs O(1) amortized; ranges are found by binary search. Approximate trims (`~`) remove only whole
// nodes of STREAM_NODE_ENTRIES insertions, as Redis removes whole listpack nodes (its stream-node-max-entries).
import { journal, storeHint, type StoreTrack, type StoreTracked } from './journal.js';


/** Redis's stream-node-max-entries default. */
export const STREAM_NODE_ENTRIES = 100;

export const STREAM_ID_MAX = (1n << 128n) - 1n;
const SEQ_MASK = (1n << 64n) - 1n;

export interface StreamEntry {
  readonly id: bigint;
  /** Order of insertion (entriesAdded before it): which of Redis's 100-entry nodes it would be in, for `~` trims. */
  readonly n: number;
  /** field, value, field, value, ... as latin1 strings of the client's bytes. */
  readonly fields: readonly string[];
}

export const streamId = (ms: bigint, seq: bigint): bigint => (ms << 64n) | seq;
export const idMs = (id: bigint): bigint => id >> 64n;
export const idSeq = (id: bigint): bigint => id & SEQ_MASK;
export const formatId = (id: bigint): string => `${idMs(id)}-${idSeq(id)}`;

/** A delivered, not yet acknowledged entry of a consumer group. */
export interface PendingEntry {
  consumer: string;
  deliveredMs: number;
  count: number;
}

export interface ConsumerGroup {
  lastId: bigint;
  /** Redis's logical read counter: entries ever added up to lastId; ENTRIES_READ_UNKNOWN when not known. */
  entriesRead: number;
  /** Pending entries by ID. */
  readonly pel: Map<bigint, PendingEntry>;
  /** Consumers by name: when last seen, and the IDs pending for each. */
  readonly consumers: Map<string, { seenMs: number; pending: Set<bigint> }>;
}

function fieldsLength(e: StreamEntry): number {
  let n = 0;
  for (const f of e.fields) n += f.length;
  return n;
}

export class Stream implements StoreTracked {
  /**
   * LMDB's chunk tracking (journal.ts): hints are insertion numbers of entries added or deleted, or [from, to)
   * insertion numbers of a trimmed run. The header (IDs, counters, groups) is rewritten on every write.
   */
  storeTrack: StoreTrack | undefined;
  private entries: StreamEntry[] = [];
  private head = 0;
  /** The largest ID ever added (XADD must exceed it), 0-0 when none. */
  lastId = 0n;
  /** Entries ever added, for XINFO-like figures. */
  entriesAdded = 0;
  /** The largest ID deleted, 0-0 when none. */
  maxDeletedId = 0n;
  /** Bytes of the live entries' fields and values, kept as entries come and go (memory accounting is O(1)). */
  fieldBytes = 0;
  /** Consumer groups by name. */
  readonly groups = new Map<string, ConsumerGroup>();

  constructor(entries: readonly StreamEntry[] = [], lastId = 0n, entriesAdded = entries.length === 0 ? 0 : entries[entries.length - 1]!.n + 1, maxDeletedId = 0n) {
    this.entries = [...entries];
    this.lastId = entries.length > 0 && entries[entries.length - 1]!.id > lastId ? entries[entries.length - 1]!.id : lastId;
    this.entriesAdded = entriesAdded;
    this.maxDeletedId = maxDeletedId;
    for (const e of this.entries) this.fieldBytes += fieldsLength(e);
    journal.created(this);
  }

  get length(): number {
    return this.entries.length - this.head;
  }

  /** Length and last ID: what a replication delta checks the copy against (journal.ts). */
  journalFingerprint(): unknown[] {
    return [this.length, this.lastId.toString()];
  }

  /** Appends an entry whose ID the caller checked to exceed lastId. */
  append(id: bigint, fields: readonly string[]): void {
    if (journal.armed) journal.record(this, this.length, ['a', id.toString(), fields], fieldsLength({ id, n: 0, fields }));
    const e = { id, n: this.entriesAdded, fields };
    if (this.storeTrack !== undefined) storeHint(this.storeTrack, e.n);
    this.entries.push(e);
    this.fieldBytes += fieldsLength(e);
    this.lastId = id;
    this.entriesAdded++;
  }

  /** Live entries whose insertion numbers lie in [from, to), in order (insertion numbers grow with position). */
  withOrdinals(from: number, to: number): StreamEntry[] {
    const out: StreamEntry[] = [];
    for (let i = this.firstWhereNot((e) => e.n < from); i < this.entries.length && this.entries[i]!.n < to; i++) out.push(this.entries[i]!);
    return out;
  }

  /** The entry with this ID, if it is still in the stream. */
  get(id: bigint): StreamEntry | undefined {
    const i = this.lowerBound(id);
    const e = this.entries[i];
    return e !== undefined && e.id === id ? e : undefined;
  }

  first(): StreamEntry | undefined {
    return this.entries[this.head];
  }

  last(): StreamEntry | undefined {
    return this.length === 0 ? undefined : this.entries[this.entries.length - 1];
  }

  /** Index (into the live entries) of the first entry with ID >= id. */
  private lowerBound(id: bigint): number {
    return this.firstWhereNot((e) => e.id < id);
  }

  /** Index of the first live entry for which `before` is false (it holds for a prefix: IDs and insertion numbers grow). */
  private firstWhereNot(before: (e: StreamEntry) => boolean): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.entries[mid]!)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Entries with start <= ID <= end, ascending (or descending when `rev`), at most `count` (-1: all). */
  range(start: bigint, end: bigint, count: number, rev: boolean): StreamEntry[] {
    const out: StreamEntry[] = [];
    if (start > end || count === 0) return out;
    if (!rev) {
      for (let i = this.lowerBound(start); i < this.entries.length && this.entries[i]!.id <= end && out.length !== count; i++) out.push(this.entries[i]!);
      return out;
    }
    for (let i = this.lowerBound(end + 1n) - 1; i >= this.head && this.entries[i]!.id >= start && out.length !== count; i--) out.push(this.entries[i]!);
    return out;
  }

  /** Deletes entries by ID; returns how many existed. */
  delete(ids: readonly bigint[]): number {
    let n = 0;
    for (const id of ids) {
      const i = this.lowerBound(id);
      if (i < this.entries.length && this.entries[i]!.id === id) {
        if (journal.armed) journal.record(this, this.length, ['d', id.toString()], 0);
        if (this.storeTrack !== undefined) storeHint(this.storeTrack, this.entries[i]!.n);
        this.fieldBytes -= fieldsLength(this.entries[i]!);
        this.entries.splice(i, 1);
        if (id > this.maxDeletedId) this.maxDeletedId = id;
        n++;
      }
    }
    return n;
  }

  /**
   * Removes entries from the front while `drop(entry, remaining length)` holds, at most `limit` (0: none).
   * `approx`: only whole nodes go, and a node only if `drop` holds for its last entry too.
   */
  trimFront(drop: (e: StreamEntry, length: number) => boolean, limit: number, approx = false): number {
    const before = this.length;
    if (journal.armed) journal.prime(this, before);
    const firstN = this.first()?.n ?? 0;
    const endN = (this.last()?.n ?? 0) + 1;
    const n = this.trimFrontUnrecorded(drop, limit, approx);
    // The trimmed run's insertion numbers, [first, end).
    if (n > 0 && this.storeTrack !== undefined) storeHint(this.storeTrack, [firstN, this.first()?.n ?? endN]);
    if (n > 0 && journal.armed) journal.record(this, before, ['t', n], 0);
    return n;
  }

  private trimFrontUnrecorded(drop: (e: StreamEntry, length: number) => boolean, limit: number, approx: boolean): number {
    let n = 0;
    if (approx) {
      for (;;) {
        const first = this.entries[this.head];
        if (first === undefined) break;
        // The node's end by binary search on insertion numbers (they grow with the IDs): no walk per XADD.
        const next = (Math.floor(first.n / STREAM_NODE_ENTRIES) + 1) * STREAM_NODE_ENTRIES;
        const end = this.firstWhereNot((e) => e.n < next);
        const size = end - this.head;
        if ((limit !== 0 && n + size > limit) || !drop(this.entries[end - 1]!, this.length - size + 1)) break;
        for (let i = this.head; i < end; i++) this.fieldBytes -= fieldsLength(this.entries[i]!);
        this.head = end;
        n += size;
      }
      this.compact();
      return n;
    }
    while (this.length > 0 && (limit === 0 || n < limit) && drop(this.entries[this.head]!, this.length)) {
      // A trim is not a deletion: Redis's max-deleted-entry-id (the tombstone mark) counts XDEL only.
      const e = this.entries[this.head]!;
      this.fieldBytes -= fieldsLength(e);
      this.head++;
      n++;
    }
    this.compact();
    return n;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  *[Symbol.iterator](): Iterator<StreamEntry> {
    for (let i = this.head; i < this.entries.length; i++) yield this.entries[i]!;
  }
}

/**
 * A stream as bytes (for LMDB records and the wire): last ID, largest deleted ID (each ms and seq as u64 BE),
 * entries ever added (f64), the entry count (u32), then per entry: ms, seq (u64), insertion number (f64), field
 * count (u32) and each field as [u32 length][bytes]; then its consumer groups as JSON, if it has any.
 */
/** Consumer groups as plain data (IDs as decimal text), for encodeStream and replication deltas. */
export function groupsData(s: Stream): unknown[] {
  return [...s.groups].map(([name, g]) => [name, g.lastId.toString(), g.entriesRead, [...g.pel].map(([id, p]) => [id.toString(), p.consumer, p.deliveredMs, p.count]), [...g.consumers].map(([c, v]) => [c, v.seenMs])]);
}

export function loadGroups(s: Stream, data: unknown): void {
  if (!Array.isArray(data)) return;
  for (const [name, lastId, entriesRead, pel, consumers] of data as [string, string, number, [string, string, number, number][], [string, number][]][]) {
    const g: ConsumerGroup = { lastId: BigInt(lastId), entriesRead, pel: new Map(), consumers: new Map() };
    for (const [c, seenMs] of consumers) g.consumers.set(c, { seenMs, pending: new Set() });
    for (const [id, consumer, deliveredMs, count] of pel) {
      g.pel.set(BigInt(id), { consumer, deliveredMs, count });
      g.consumers.get(consumer)?.pending.add(BigInt(id));
    }
    s.groups.set(name, g);
  }
}

/** Redis's SCG_INVALID_ENTRIES_READ: a group's read counter that cannot be known (XDEL gaps ahead of it). */
export const ENTRIES_READ_UNKNOWN = -1;

/** Redis's first_id: the first live entry's ID, 0-0 when empty (recorded-first-entry-id). */
export function firstIdOf(s: Stream): bigint {
  return s.first()?.id ?? 0n;
}

/** Whether an XDEL tombstone lies in [start, end] (Redis's streamRangeHasTombstones; end defaults to the top). */
export function rangeHasTombstones(s: Stream, start: bigint, end = STREAM_ID_MAX): boolean {
  if (s.length === 0 || s.maxDeletedId === 0n) return false;
  if (firstIdOf(s) > s.maxDeletedId) return false;
  return start <= s.maxDeletedId && s.maxDeletedId <= end;
}

/** Redis's streamEstimateDistanceFromFirstEverEntry: the read counter an ID stands for, when it can be known. */
export function estimateEntriesRead(s: Stream, id: bigint): number {
  if (s.entriesAdded === 0) return 0;
  if (s.length === 0 && id <= s.lastId) return s.entriesAdded;
  if (id === s.lastId) return s.entriesAdded;
  if (id > s.lastId) return ENTRIES_READ_UNKNOWN;
  const first = firstIdOf(s);
  if (s.maxDeletedId === 0n || s.maxDeletedId < first) {
    if (id < first) return s.entriesAdded - s.length;
    if (id === first) return s.entriesAdded - s.length + 1;
  }
  return ENTRIES_READ_UNKNOWN;
}

/** A group's lag (entries not yet delivered), or undefined when Redis answers null (Redis's streamReplyWithCGLag). */
export function groupLag(s: Stream, g: ConsumerGroup): number | undefined {
  if (s.entriesAdded === 0) return 0;
  if (g.entriesRead !== ENTRIES_READ_UNKNOWN && !rangeHasTombstones(s, g.lastId)) return s.entriesAdded - g.entriesRead;
  const read = estimateEntriesRead(s, g.lastId);
  return read === ENTRIES_READ_UNKNOWN ? undefined : s.entriesAdded - read;
}

/** A group's read counter after delivering `id` past its last ID (Redis's rule in streamReplyWithRange). */
export function advanceEntriesRead(s: Stream, g: ConsumerGroup, id: bigint): void {
  if (g.entriesRead !== ENTRIES_READ_UNKNOWN && !rangeHasTombstones(s, id)) g.entriesRead++;
  else if (s.entriesAdded !== 0) g.entriesRead = estimateEntriesRead(s, id);
  g.lastId = id;
}

/** Bytes of encoded entries (see encodeStream). */
function entriesBytes(entries: readonly StreamEntry[]): number {
  let size = 0;
  for (const e of entries) {
    size += 28;
    for (const f of e.fields) size += 4 + f.length;
  }
  return size;
}

function writeEntries(out: Buffer, at: number, entries: readonly StreamEntry[]): number {
  for (const e of entries) {
    out.writeBigUInt64BE(idMs(e.id), at);
    out.writeBigUInt64BE(idSeq(e.id), at + 8);
    out.writeDoubleBE(e.n, at + 16);
    out.writeUInt32BE(e.fields.length, at + 24);
    at += 28;
    for (const f of e.fields) {
      out.writeUInt32BE(f.length, at);
      at += 4 + out.write(f, at + 4, 'latin1');
    }
  }
  return at;
}

/** Entries alone, as encodeStream lays them out (LMDB's stream chunks). */
export function encodeStreamEntries(entries: readonly StreamEntry[]): Buffer {
  const out = Buffer.allocUnsafe(entriesBytes(entries));
  writeEntries(out, 0, entries);
  return out;
}

/** Reads `count` entries (-1: to the end of `buf`) from `at` into `out`; returns the offset after them. */
export function readStreamEntries(buf: Buffer, at: number, count: number, out: StreamEntry[]): number {
  for (let e = 0; count < 0 ? at < buf.length : e < count; e++) {
    const id = streamId(buf.readBigUInt64BE(at), buf.readBigUInt64BE(at + 8));
    const n = buf.readDoubleBE(at + 16);
    const fieldCount = buf.readUInt32BE(at + 24);
    at += 28;
    const fields: string[] = [];
    for (let i = 0; i < fieldCount; i++) {
      const len = buf.readUInt32BE(at);
      fields.push(buf.toString('latin1', at + 4, at + 4 + len));
      at += 4 + len;
    }
    out.push({ id, n, fields });
  }
  return at;
}

/** The stream as bytes; with `entries` empty, its header and groups alone (LMDB keeps entries in chunks). */
export function encodeStream(s: Stream, entries: readonly StreamEntry[] = [...s]): Buffer {
  const groups = s.groups.size === 0 ? Buffer.alloc(0) : Buffer.from(JSON.stringify(groupsData(s)));
  const out = Buffer.allocUnsafe(44 + groups.length + entriesBytes(entries));
  out.writeBigUInt64BE(idMs(s.lastId), 0);
  out.writeBigUInt64BE(idSeq(s.lastId), 8);
  out.writeBigUInt64BE(idMs(s.maxDeletedId), 16);
  out.writeBigUInt64BE(idSeq(s.maxDeletedId), 24);
  out.writeDoubleBE(s.entriesAdded, 32);
  out.writeUInt32BE(entries.length, 40);
  const at = writeEntries(out, 44, entries);
  groups.copy(out, at);
  return out;
}

/** A stream from encodeStream's bytes; `more` are entries kept elsewhere (LMDB's chunks), after the record's own. */
export function decodeStream(buf: Buffer, more: readonly StreamEntry[] = []): Stream {
  const id = (at: number): bigint => streamId(buf.readBigUInt64BE(at), buf.readBigUInt64BE(at + 8));
  const entries: StreamEntry[] = [];
  const at = readStreamEntries(buf, 44, buf.readUInt32BE(40), entries);
  for (const e of more) entries.push(e);
  const stream = new Stream(entries, id(0), buf.readDoubleBE(32), id(16));
  if (at < buf.length) loadGroups(stream, JSON.parse(buf.toString('utf8', at)));
  return stream;
}
