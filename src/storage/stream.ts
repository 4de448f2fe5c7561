// A stream: entries ordered by ID (milliseconds-sequence, each a 64-bit unsigned number in Redis; handed out as
// one bigint, ms << 64 | seq, so IDs compare as numbers), each with its field-value pairs, kept in columns
// (typed arrays of IDs and insertion numbers, one packed string of fields per entry). Appends go at the end;
// trimming from the front advances a head index (compacted once it passes half the columns), so XADD with
// MAXLEN costs O(1) amortized; ranges are found by binary search. Approximate trims (`~`) remove only whole
// nodes of STREAM_NODE_ENTRIES insertions, as Redis removes whole listpack nodes (its stream-node-max-entries).
import { journal, storeHint, type StoreTrack, type StoreTracked } from './journal.js';
import { packedBytesIn, packedSize, readPacked, writePacked } from './packed.js';


/** Redis's stream-node-max-entries default. */
export const STREAM_NODE_ENTRIES = 100;
/** A stream's smallest byte buffer for its entries' fields. */
const STREAM_BUFFER_BYTES_MIN = 256;
/** Columns and the byte buffer grow to this times what they hold (amortized O(1) appends and compactions). */
const STREAM_GROWTH = 2;

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

function fieldsLength(fields: readonly string[]): number {
  let n = 0;
  for (const f of fields) n += f.length;
  return n;
}

/** An entry read out of a stream's columns; its ID is made and its fields unpacked when first asked for. */
class PackedEntry implements StreamEntry {
  private unpacked: string[] | undefined;
  private madeId: bigint | undefined;
  constructor(
    private readonly w0: number,
    private readonly w1: number,
    private readonly w2: number,
    private readonly w3: number,
    readonly n: number,
    // The stream's byte buffer when the entry was read: bytes once written there never change (a compaction
    // copies live entries to a new buffer), so the fields can be read later.
    private readonly bytes: Buffer,
    private readonly start: number,
    private readonly size: number,
  ) {}

  get id(): bigint {
    return (this.madeId ??= (BigInt(this.w0) << 96n) | (BigInt(this.w1) << 64n) | (BigInt(this.w2) << 32n) | BigInt(this.w3));
  }

  get fields(): readonly string[] {
    return (this.unpacked ??= readPacked(this.bytes, this.start, this.size));
  }
}

/** An ID as four 32-bit words, most significant first (ms high, ms low, seq high, seq low). */
function idWords(id: bigint): [number, number, number, number] {
  return [Number((id >> 96n) & 0xffffffffn), Number((id >> 64n) & 0xffffffffn), Number((id >> 32n) & 0xffffffffn), Number(id & 0xffffffffn)];
}

export class Stream implements StoreTracked {
  /**
   * LMDB's chunk tracking (journal.ts): hints are insertion numbers of entries added or deleted, or [from, to)
   * insertion numbers of a trimmed run. The header (IDs, counters, groups) is rewritten on every write.
   */
  storeTrack: StoreTrack | undefined;
  // The entries in columns, live in slots [head, end): IDs as four u32 words each, insertion numbers, and where
  // each entry's fields lie, packed (src/storage/packed.ts), in one byte buffer shared by all entries. About 45
  // bytes an entry with a 10-byte value, where objects with a bigint and an array of strings took 220.
  private words = new Uint32Array(4 * 8);
  private ords = new Float64Array(8);
  private starts = new Uint32Array(8);
  private sizes = new Uint32Array(8);
  /** Packed fields, appended at `used`; removed entries' bytes stay until the buffer is full and compacted. */
  private bytes = Buffer.allocUnsafeSlow(STREAM_BUFFER_BYTES_MIN);
  private used = 0;
  private liveBytes = 0;
  private head = 0;
  private end = 0;
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
    for (const e of entries) this.push(e.id, e.n, e.fields);
    this.lastId = entries.length > 0 && entries[entries.length - 1]!.id > lastId ? entries[entries.length - 1]!.id : lastId;
    this.entriesAdded = entriesAdded;
    this.maxDeletedId = maxDeletedId;
    journal.created(this);
  }

  get length(): number {
    return this.end - this.head;
  }

  /** Length and last ID: what a replication delta checks the copy against (journal.ts). */
  journalFingerprint(): unknown[] {
    return [this.length, this.lastId.toString()];
  }

  private push(id: bigint, n: number, fields: readonly string[]): void {
    if (this.end === this.ords.length) this.grow();
    const size = packedSize(fields);
    if (this.used + size > this.bytes.length) this.compactBytes(size);
    this.words.set(idWords(id), 4 * this.end);
    this.ords[this.end] = n;
    this.starts[this.end] = this.used;
    this.sizes[this.end] = size;
    this.used = writePacked(this.bytes, this.used, fields);
    this.liveBytes += size;
    this.end++;
    this.fieldBytes += fieldsLength(fields);
  }

  /** Moves the live slots to the front, into columns of STREAM_GROWTH times their length (at least 8). */
  private grow(): void {
    const capacity = Math.max(8, Math.ceil(STREAM_GROWTH * this.length));
    const moved = <A extends Uint32Array | Float64Array>(a: A, make: (n: number) => A, per = 1): A => {
      const out = make(per * capacity);
      out.set(a.subarray(per * this.head, per * this.end));
      return out;
    };
    this.words = moved(this.words, (n) => new Uint32Array(n), 4);
    this.ords = moved(this.ords, (n) => new Float64Array(n));
    this.starts = moved(this.starts, (n) => new Uint32Array(n));
    this.sizes = moved(this.sizes, (n) => new Uint32Array(n));
    this.end -= this.head;
    this.head = 0;
  }

  /** Copies the live entries' bytes, in order, to a new buffer with room for `extra` more (STREAM_GROWTH times what is needed). */
  private compactBytes(extra: number): void {
    const bytes = Buffer.allocUnsafeSlow(Math.max(STREAM_BUFFER_BYTES_MIN, Math.ceil(STREAM_GROWTH * (this.liveBytes + extra))));
    let at = 0;
    for (let i = this.head; i < this.end; i++) {
      this.bytes.copy(bytes, at, this.starts[i]!, this.starts[i]! + this.sizes[i]!);
      this.starts[i] = at;
      at += this.sizes[i]!;
    }
    this.bytes = bytes;
    this.used = at;
  }

  /** Forgets slot i's fields (its bytes become garbage until the next compaction). */
  private release(i: number): void {
    this.fieldBytes -= packedBytesIn(this.bytes, this.starts[i]!, this.sizes[i]!);
    this.liveBytes -= this.sizes[i]!;
  }

  /** Whether slot i holds the ID whose words are `t`. */
  private holds(i: number, t: readonly number[]): boolean {
    const w = this.words;
    return i < this.end && w[4 * i] === t[0] && w[4 * i + 1] === t[1] && w[4 * i + 2] === t[2] && w[4 * i + 3] === t[3];
  }

  private entryAt(i: number): StreamEntry {
    const w = this.words;
    return new PackedEntry(w[4 * i]!, w[4 * i + 1]!, w[4 * i + 2]!, w[4 * i + 3]!, this.ords[i]!, this.bytes, this.starts[i]!, this.sizes[i]!);
  }

  /** Appends an entry whose ID the caller checked to exceed lastId. */
  append(id: bigint, fields: readonly string[]): void {
    if (journal.armed) journal.record(this, this.length, ['a', id.toString(), fields], fieldsLength(fields));
    const n = this.entriesAdded;
    storeHint(this.storeTrack, n);
    this.push(id, n, fields);
    this.lastId = id;
    this.entriesAdded++;
  }

  /** Live entries whose insertion numbers lie in [from, to), in order (insertion numbers grow with position). */
  withOrdinals(from: number, to: number): StreamEntry[] {
    const out: StreamEntry[] = [];
    for (let i = this.ordBound(from); i < this.end && this.ords[i]! < to; i++) out.push(this.entryAt(i));
    return out;
  }

  /** The entry with this ID, if it is still in the stream. */
  get(id: bigint): StreamEntry | undefined {
    const t = idWords(id);
    const i = this.lowerBound(t);
    return this.holds(i, t) ? this.entryAt(i) : undefined;
  }

  first(): StreamEntry | undefined {
    return this.length === 0 ? undefined : this.entryAt(this.head);
  }

  last(): StreamEntry | undefined {
    return this.length === 0 ? undefined : this.entryAt(this.end - 1);
  }

  /** Slot of the first live entry with ID >= id (words compared as numbers: no bigint per step). */
  private lowerBound(t: readonly number[]): number {
    const w = this.words;
    let lo = this.head;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      let c = 0;
      for (let k = 0; k < 4 && c === 0; k++) c = w[4 * mid + k]! - t[k]!;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Slot of the first live entry whose insertion number is >= n. */
  private ordBound(n: number): number {
    let lo = this.head;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ords[mid]! < n) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Entries with start <= ID <= end, ascending (or descending when `rev`), at most `count` (-1: all). */
  range(start: bigint, end: bigint, count: number, rev: boolean): StreamEntry[] {
    const out: StreamEntry[] = [];
    if (start > end || count === 0) return out;
    if (!rev) {
      const stop = end === STREAM_ID_MAX ? this.end : this.lowerBound(idWords(end + 1n));
      for (let i = this.lowerBound(idWords(start)); i < stop && out.length !== count; i++) out.push(this.entryAt(i));
      return out;
    }
    const low = this.lowerBound(idWords(start));
    for (let i = (end === STREAM_ID_MAX ? this.end : this.lowerBound(idWords(end + 1n))) - 1; i >= low && out.length !== count; i--) out.push(this.entryAt(i));
    return out;
  }

  /** Deletes entries by ID; returns how many existed. */
  delete(ids: readonly bigint[]): number {
    let n = 0;
    for (const id of ids) {
      const t = idWords(id);
      const i = this.lowerBound(t);
      if (!this.holds(i, t)) continue;
      if (journal.armed) journal.record(this, this.length, ['d', id.toString()], 0);
      storeHint(this.storeTrack, this.ords[i]!);
      this.release(i);
      this.words.copyWithin(4 * i, 4 * (i + 1), 4 * this.end);
      this.ords.copyWithin(i, i + 1, this.end);
      this.starts.copyWithin(i, i + 1, this.end);
      this.sizes.copyWithin(i, i + 1, this.end);
      this.end--;
      if (id > this.maxDeletedId) this.maxDeletedId = id;
      n++;
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
    const firstN = this.length === 0 ? 0 : this.ords[this.head]!;
    const endN = this.length === 0 ? 1 : this.ords[this.end - 1]! + 1;
    const n = approx ? this.trimNodes(drop, limit) : this.trimEntries(drop, limit);
    // The trimmed run's insertion numbers, [first, end).
    if (n > 0 && this.storeTrack !== undefined) storeHint(this.storeTrack, [firstN, this.length === 0 ? endN : this.ords[this.head]!]);
    if (n > 0 && journal.armed) journal.record(this, before, ['t', n], 0);
    this.compact();
    return n;
  }

  /** Drops the first live slots up to `to` (exclusive). */
  private dropFront(to: number): void {
    for (let i = this.head; i < to; i++) this.release(i);
    this.head = to;
  }

  private trimNodes(drop: (e: StreamEntry, length: number) => boolean, limit: number): number {
    let n = 0;
    while (this.length > 0) {
      // The node's end by binary search on insertion numbers (they grow with the IDs): no walk per XADD.
      const next = (Math.floor(this.ords[this.head]! / STREAM_NODE_ENTRIES) + 1) * STREAM_NODE_ENTRIES;
      const end = this.ordBound(next);
      const size = end - this.head;
      if ((limit !== 0 && n + size > limit) || !drop(this.entryAt(end - 1), this.length - size + 1)) break;
      this.dropFront(end);
      n += size;
    }
    return n;
  }

  private trimEntries(drop: (e: StreamEntry, length: number) => boolean, limit: number): number {
    let n = 0;
    // A trim is not a deletion: Redis's max-deleted-entry-id (the tombstone mark) counts XDEL only.
    while (this.length > 0 && (limit === 0 || n < limit) && drop(this.entryAt(this.head), this.length)) {
      this.dropFront(this.head + 1);
      n++;
    }
    return n;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.end) this.grow();
  }

  *[Symbol.iterator](): Iterator<StreamEntry> {
    for (let i = this.head; i < this.end; i++) yield this.entryAt(i);
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
