// Durable engine on LMDB (lmdb-js): one sub-database per partition (so a partition can later be streamed,
// checksummed or dropped alone) plus a TTL index ordered by expiry time. Writes of one client batch run in
// one synchronous write transaction; the reply is sent after it commits (and, in every-write mode, after
// LMDB has flushed it to disk).
import { JournaledMap, JournaledSet, journal } from './journal.js';
import { open, type Database, type RootDatabase } from 'lmdb';
import { SlotPartitioner } from '../partitioning/slots.js';
import { strict as assert } from 'node:assert';
import { Deque } from './deque.js';
import { ZSet } from './zset.js';
import { decodeStream, encodeStream } from './stream.js';
import { editedInPlace, type Clock, type EngineStats, type StorageEngine, type StoredValue } from './engine.js';

/**
 * every-write: the batch's transaction is flushed (fsync) before any reply; nothing acknowledged is lost.
 * batched: commits are not flushed one by one; the environment is flushed every batchedSyncEveryMs, so a
 * power failure can lose up to that much acknowledged data (a process crash loses nothing: each commit is
 * in the OS page cache before its replies leave).
 * none: never flushed by Atoll; a power failure can lose whatever the OS had not yet written back.
 */
export type Durability = 'every-write' | 'batched' | 'none';

export interface LmdbEngineOptions {
  readonly path: string;
  readonly clock: Clock;
  readonly durability?: Durability;
  /** Partitions (sub-databases) the keyspace is split into by Redis slot. Default 16. */
  readonly partitions?: number;
}

export const LMDB_LIMITS = Object.freeze({
  /**
   * Elements of decoded collections kept in memory across batches (least recently used go first): a read of a
   * hot list, set, hash, sorted set or stream no longer decodes its whole record each time (LRANGE 0 9 of a
   * 50,000-element list decoded 50,000 elements), nor does the write that edits it.
   */
  decodedElementsMax: 2_000_000,
  /** Keys whose last access is remembered (OBJECT IDLETIME), most recent first; older ones fall out. */
  accessTrackedKeysMax: 100_000,
  /** Expired keys removed per active-expiry round. */
  activeExpireKeysMax: 200,
  /** SCAN cursors remembered (a cursor names the last key returned); older ones answer "invalid cursor". */
  scanCursorsMax: 10_000,
  /** How often `batched` durability flushes the environment to disk. */
  batchedSyncEveryMs: 100,
  /** Address space reserved for the data file; LMDB grows into it. */
  mapSizeBytes: 64 * 1024 ** 3,
});

/**
 * Stored record layout (binary, no general-purpose encoder on the hot path):
 *   byte 0      type: 0 = string, 1 = hash
 *   bytes 1-8   expiry, ms since the epoch as a big-endian float64; 0 = none
 *   string:     the value's bytes
 *   hash:       repeated [u32 field length][field bytes][u32 value length][value bytes]
 *   set:        repeated [u32 member length][member bytes]
 *   list:       the same layout as a set, elements in list order
 *   zset:       repeated [u32 member length][member bytes][float64 BE score], in score order
 *   stream:     encodeStream's bytes (src/storage/stream.ts)
 * The fixed header lets a write learn the old expiry without decoding the old value.
 */
const HEADER_BYTES = 9;

interface Record_ {
  /** 0 string, 1 hash, 2 set, 3 list, 4 zset, 5 stream (byte 0 of the record). */
  t: 0 | 1 | 2 | 3 | 4 | 5;
  x: number;
  buf: Buffer;
}

function encodeRecord(value: StoredValue, expiresAtMs: number): Buffer {
  if (value.type === 'string') {
    const out = Buffer.allocUnsafe(HEADER_BYTES + value.value.length);
    out[0] = 0;
    out.writeDoubleBE(expiresAtMs, 1);
    value.value.copy(out, HEADER_BYTES);
    return out;
  }
  if (value.type === 'set') return encodeStrings(2, value.value, expiresAtMs);
  if (value.type === 'list') return encodeStrings(3, value.value, expiresAtMs);
  if (value.type === 'zset') return encodeZset(value.value, expiresAtMs);
  if (value.type === 'stream') return Buffer.concat([header(5, expiresAtMs), encodeStream(value.value)]);
  let size = HEADER_BYTES;
  for (const [f, v] of value.value) size += 8 + f.length + v.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = 1;
  out.writeDoubleBE(expiresAtMs, 1);
  let at = HEADER_BYTES;
  for (const [f, v] of value.value) {
    out.writeUInt32BE(f.length, at);
    at += 4 + out.write(f, at + 4, 'latin1');
    out.writeUInt32BE(v.length, at);
    v.copy(out, at + 4);
    at += 4 + v.length;
  }
  return out;
}

/** A set's members or a list's elements: length-prefixed latin1 strings after the header. */
function encodeStrings(t: 2 | 3, members: Iterable<string>, expiresAtMs: number): Buffer {
  let size = HEADER_BYTES;
  for (const m of members) size += 4 + m.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = t;
  out.writeDoubleBE(expiresAtMs, 1);
  let at = HEADER_BYTES;
  for (const m of members) {
    out.writeUInt32BE(m.length, at);
    at += 4 + out.write(m, at + 4, 'latin1');
  }
  return out;
}

function encodeZset(z: ZSet, expiresAtMs: number): Buffer {
  let size = HEADER_BYTES;
  for (const m of z) size += 12 + m.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = 4;
  out.writeDoubleBE(expiresAtMs, 1);
  let at = HEADER_BYTES;
  for (const [m, s] of z.entries()) {
    out.writeUInt32BE(m.length, at);
    at += 4 + out.write(m, at + 4, 'latin1');
    out.writeDoubleBE(s, at);
    at += 8;
  }
  return out;
}

function decodeZset(body: Buffer): ZSet {
  const z = new ZSet();
  for (let at = 0; at < body.length; ) {
    const ml = body.readUInt32BE(at);
    const m = body.toString('latin1', at + 4, at + 4 + ml);
    at += 4 + ml;
    z.add(m, body.readDoubleBE(at));
    at += 8;
  }
  return z;
}

function header(t: number, expiresAtMs: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES);
  out[0] = t;
  out.writeDoubleBE(expiresAtMs, 1);
  return out;
}

function readRecord(buf: Buffer): Record_ {
  const t = buf[0];
  assert(t === 0 || t === 1 || t === 2 || t === 3 || t === 4 || t === 5, `unknown LMDB record type ${String(t)}`);
  return { t, x: buf.readDoubleBE(1), buf };
}

function decodeValue(r: Record_): StoredValue {
  const body = r.buf.subarray(HEADER_BYTES);
  if (r.t === 0) return { type: 'string', value: Buffer.from(body) };
  if (r.t === 4) return { type: 'zset', value: decodeZset(body) };
  if (r.t === 5) return { type: 'stream', value: decodeStream(Buffer.from(body)) };
  if (r.t === 2 || r.t === 3) {
    const items: string[] = [];
    for (let at = 0; at < body.length; ) {
      const ml = body.readUInt32BE(at);
      items.push(body.toString('latin1', at + 4, at + 4 + ml));
      at += 4 + ml;
    }
    return r.t === 2 ? { type: 'set', value: new JournaledSet(items) } : { type: 'list', value: new Deque(items) };
  }
  const map = new JournaledMap();
  for (let at = 0; at < body.length; ) {
    const fl = body.readUInt32BE(at);
    const f = body.toString('latin1', at + 4, at + 4 + fl);
    at += 4 + fl;
    const vl = body.readUInt32BE(at);
    map.set(f, Buffer.from(body.subarray(at + 4, at + 4 + vl)));
    at += 4 + vl;
  }
  return { type: 'hash', value: map };
}

/**
 * Keys are stored behind a one-byte prefix: Redis allows the empty key and LMDB does not allow
 * zero-length keys. A constant prefix keeps byte order.
 */
const KEY_PREFIX = Buffer.from([0x6b]);

function storedKey(key: Buffer): Buffer {
  return Buffer.concat([KEY_PREFIX, key], key.length + 1);
}

function ttlKey(expiresAtMs: number, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + key.length);
  out.writeBigUInt64BE(BigInt(expiresAtMs), 0);
  key.copy(out, 8);
  return out;
}

export class LmdbEngine implements StorageEngine {
  readonly kind = 'lmdb';
  onChange: ((key: string | undefined) => void) | undefined;
  onRemoved: ((key: string, why: 'expired' | 'evicted') => void) | undefined;
  readonly durability: Durability;
  private readonly root: RootDatabase;
  private readonly parts: Database<Buffer, Buffer>[];
  private readonly ttl: Database<boolean, Buffer>;
  /** Small records kept with the data (replication positions), written in the same transactions. */
  private readonly meta: Database<Buffer, string>;
  private readonly slots: SlotPartitioner;
  private readonly clock: Clock;
  /** Values handed out during the current batch, so in-place hash edits can be written back by touched(). */
  private readonly handedOut = new Map<string, { value: StoredValue; expiresAtMs: number }>();
  /**
   * False while no key has had an expiry since the engine opened on a TTL-free store: then no old record has a TTL
   * index entry, and an overwrite need not read the old record first (most of a plain SET's read cost).
   */
  private mayHaveTtl: boolean;
  private inBatch = false;
  private readonly cursors = new Map<number, { part: number; after: Buffer }>();
  private nextCursor = 1;
  private counters = { expiredKeys: 0, evictedKeys: 0, hits: 0, misses: 0 };
  /** Commits since the last flush (batched durability). */
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;

  /**
   * Last access of recently read or written keys (memory only: access times are not worth a disk write per
   * read). A key not in it was not accessed since `accessFloorMs`: the engine opened, or the last time a key
   * fell out of the bounded map, so its idle time is at least `now - accessFloorMs` (OBJECT IDLETIME).
   */
  private readonly accessed = new Map<string, number>();
  /** Decoded collections (see LMDB_LIMITS.decodedElementsMax), coherent with the database: every write path updates it. */
  private readonly decoded = new Map<string, { value: StoredValue; expiresAtMs: number; elements: number }>();
  private decodedElements = 0;

  private cacheDecoded(key: string, value: StoredValue, expiresAtMs: number): void {
    this.uncache(key);
    if (value.type === 'string') return;
    const elements = value.type === 'list' || value.type === 'stream' ? value.value.length : value.value.size;
    if (elements > LMDB_LIMITS.decodedElementsMax / 4) return;
    this.decoded.set(key, { value, expiresAtMs, elements });
    this.decodedElements += elements;
    while (this.decodedElements > LMDB_LIMITS.decodedElementsMax) this.uncache(this.decoded.keys().next().value as string);
  }

  private uncache(key: string): void {
    const old = this.decoded.get(key);
    if (old === undefined) return;
    this.decoded.delete(key);
    this.decodedElements -= old.elements;
  }
  private accessFloorMs: number;
  private coarseMs: number;

  private noteAccess(key: string): void {
    if (this.accessed.size > 0) this.accessed.delete(key);
    this.accessed.set(key, this.coarseMs);
    if (this.accessed.size > LMDB_LIMITS.accessTrackedKeysMax) {
      const oldest = this.accessed.keys().next().value as string;
      this.accessFloorMs = this.accessed.get(oldest)!;
      this.accessed.delete(oldest);
    }
  }

  /** The value without counting an access (OBJECT's look): no hit, no access time. */
  peek(key: string): StoredValue | undefined {
    const held = this.inBatch ? this.handedOut.get(key) : undefined;
    if (held !== undefined) return held.value;
    const r = this.record(Buffer.from(key, 'latin1'));
    return r === undefined ? undefined : journal.quietly(() => decodeValue(r));
  }

  /** Milliseconds since the key was last read or written (from the bounded map: at least that long), undefined when absent. */
  idleMs(key: string): number | undefined {
    if (this.record(Buffer.from(key, 'latin1')) === undefined) return undefined;
    return Math.max(0, this.clock.nowMs() - (this.accessed.get(key) ?? this.accessFloorMs));
  }

  constructor(options: LmdbEngineOptions) {
    this.accessFloorMs = options.clock.nowMs();
    this.coarseMs = this.accessFloorMs;
    this.durability = options.durability ?? 'every-write';
    this.clock = options.clock;
    const partitions = options.partitions ?? 16;
    this.slots = new SlotPartitioner({ partitions });
    // The data directory is always a directory: lmdb-js would take a path whose name has a dot ("data.v2",
    // any mkdtemp name) for a database file unless told otherwise.
    this.root = open({ path: options.path, noSubdir: false, maxDbs: partitions + 4, mapSize: LMDB_LIMITS.mapSizeBytes, noSync: this.durability !== 'every-write' });
    if (this.durability === 'batched') {
      this.syncTimer = setInterval(() => this.syncIfDirty(), LMDB_LIMITS.batchedSyncEveryMs);
      this.syncTimer.unref();
    }
    this.parts = Array.from({ length: partitions }, (_, p) => this.root.openDB<Buffer, Buffer>({ name: `partition-${p}`, keyEncoding: 'binary', encoding: 'binary' }));
    this.ttl = this.root.openDB<boolean, Buffer>({ name: 'ttl-index', keyEncoding: 'binary' });
    this.meta = this.root.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' });
    this.mayHaveTtl = this.ttl.getCount() > 0;
  }

  private db(key: Buffer): Database<Buffer, Buffer> {
    return this.parts[this.slots.partitionFor(key)]!;
  }

  /** Runs a batch of commands in one write transaction, committed (and flushed, per durability) on return. */
  batch<T>(run: () => T): T {
    if (this.inBatch) return run();
    this.inBatch = true;
    try {
      this.dirty = true;
      return this.root.transactionSync(run);
    } catch (e) {
      // Rolled back: decoded objects edited in the batch no longer match the database.
      this.decoded.clear();
      this.decodedElements = 0;
      throw e;
    } finally {
      this.inBatch = false;
      this.handedOut.clear();
    }
  }

  private write(fn: () => void): void {
    if (this.inBatch) fn();
    else this.batch(fn);
  }

  private record(kb: Buffer): Record_ | undefined {
    const raw = this.db(kb).get(storedKey(kb));
    if (raw === undefined) return undefined;
    const r = readRecord(raw);
    if (r.x > 0 && r.x <= this.clock.nowMs()) return undefined;
    return r;
  }

  get(key: string): StoredValue | undefined {
    // Within a batch a value handed out is the value: a second read of the key (LMOVE k k, a type check
    // of the destination) must see the edits made so far, not a fresh copy of what the database holds.
    const held = this.inBatch ? this.handedOut.get(key) : undefined;
    if (held !== undefined) {
      this.counters.hits++;
      this.noteAccess(key);
      return held.value;
    }
    const cached = this.decoded.get(key);
    if (cached !== undefined && (cached.expiresAtMs === 0 || cached.expiresAtMs > this.clock.nowMs())) {
      this.counters.hits++;
      this.noteAccess(key);
      // Most recently used last.
      this.decoded.delete(key);
      this.decoded.set(key, cached);
      if (this.inBatch) this.handedOut.set(key, { value: cached.value, expiresAtMs: cached.expiresAtMs });
      return cached.value;
    }
    const kb = Buffer.from(key, 'latin1');
    const r = this.record(kb);
    if (r === undefined) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    this.noteAccess(key);
    const value = journal.quietly(() => decodeValue(r));
    if (editedInPlace(value)) this.cacheDecoded(key, value, r.x);
    // Hashes and sets are edited in place (then written back by touched()); strings are always put whole.
    if (this.inBatch && editedInPlace(value)) this.handedOut.set(key, { value, expiresAtMs: r.x });
    return value;
  }

  expiresAt(key: string): number | undefined {
    return this.record(Buffer.from(key, 'latin1'))?.x;
  }

  put(key: string, value: StoredValue, expiresAtMs: number): void {
    if (!this.inBatch) return this.batch(() => this.put(key, value, expiresAtMs));
    // A collection put under a key that held another object (RENAME, COPY, a STORE) replicates whole.
    if (journal.armed && value.type !== 'string' && this.handedOut.get(key)?.value.value !== value.value) journal.created(value.value);
    const kb = Buffer.from(key, 'latin1');
    const db = this.db(kb);
    const sk = storedKey(kb);
    if (this.mayHaveTtl) {
      const oldRaw = db.getBinaryFast(sk);
      const oldExpiry = oldRaw === undefined ? 0 : oldRaw.readDoubleBE(1);
      if (oldExpiry > 0) this.ttl.removeSync(ttlKey(oldExpiry, kb));
    }
    db.putSync(sk, encodeRecord(value, expiresAtMs));
    this.coarseMs = this.clock.nowMs();
    this.noteAccess(key);
    if (expiresAtMs > 0) {
      this.mayHaveTtl = true;
      this.ttl.putSync(ttlKey(expiresAtMs, kb), true);
    }
    if (editedInPlace(value)) this.handedOut.set(key, { value, expiresAtMs });
    else if (this.handedOut.size > 0) this.handedOut.delete(key);
    this.cacheDecoded(key, value, expiresAtMs);
    this.onChange?.(key);
  }

  setExpiry(key: string, expiresAtMs: number): boolean {
    const kb = Buffer.from(key, 'latin1');
    const r = this.record(kb);
    if (r === undefined) return false;
    this.put(key, this.decoded.get(key)?.value ?? journal.quietly(() => decodeValue(r)), expiresAtMs);
    return true;
  }

  delete(key: string): boolean {
    const kb = Buffer.from(key, 'latin1');
    const r = this.record(kb);
    if (r === undefined) return false;
    this.write(() => {
      this.db(kb).removeSync(storedKey(kb));
      if (r.x > 0) this.ttl.removeSync(ttlKey(r.x, kb));
    });
    this.handedOut.delete(key);
    this.uncache(key);
    this.onChange?.(key);
    return true;
  }

  touched(key: string): void {
    const held = this.handedOut.get(key);
    if (held !== undefined) this.put(key, held.value, held.expiresAtMs);
  }

  size(): number {
    let n = 0;
    for (const db of this.parts) n += db.getCount();
    return n;
  }

  randomKey(): string | undefined {
    const nonEmpty = this.parts.filter((db) => db.getCount() > 0);
    for (const db of nonEmpty) {
      for (const { key, value } of db.getRange({ limit: 16 })) {
        const x = value.readDoubleBE(1);
        if (x === 0 || x > this.clock.nowMs()) return key.toString('latin1', 1);
      }
    }
    return undefined;
  }

  /**
   * Walks partitions in order and keys in byte order within each. A cursor remembers the last key returned,
   * so keys added or removed meanwhile never make the scan skip a key that was there throughout.
   */
  /** Keys of one partition straight from its sub-database, when the caller counts partitions as we do. */
  keysOfPartition(partition: number, partitions: number): string[] | undefined {
    if (partitions !== this.parts.length) return undefined;
    const keys: string[] = [];
    for (const key of this.parts[partition]!.getKeys()) keys.push(key.toString('latin1', 1));
    return keys;
  }

  scan(cursor: number, count: number): { cursor: number; keys: string[] } {
    let part = 0;
    let after: Buffer | undefined;
    if (cursor !== 0) {
      const saved = this.cursors.get(cursor);
      if (saved === undefined) return { cursor: 0, keys: [] };
      this.cursors.delete(cursor);
      part = saved.part;
      after = saved.after;
    }
    const keys: string[] = [];
    const now = this.clock.nowMs();
    let last: Buffer | undefined;
    for (; part < this.parts.length && keys.length < count; part++, after = undefined) {
      for (const { key, value } of this.parts[part]!.getRange({ start: after, limit: count - keys.length + 1 })) {
        if (after !== undefined && Buffer.compare(key, after) === 0) continue;
        if (keys.length >= count) break;
        last = key;
        const x = value.readDoubleBE(1);
        if (x === 0 || x > now) keys.push(key.toString('latin1', 1));
      }
      if (keys.length >= count) break;
    }
    if (part >= this.parts.length || last === undefined) return { cursor: 0, keys };
    const id = this.nextCursor++;
    this.cursors.set(id, { part, after: Buffer.from(last) });
    if (this.cursors.size > LMDB_LIMITS.scanCursorsMax) this.cursors.delete(this.cursors.keys().next().value!);
    return { cursor: id, keys };
  }

  putMeta(name: string, value: Buffer): void {
    this.write(() => void this.meta.putSync(name, value));
  }

  getMeta(name: string): Buffer | undefined {
    return this.meta.get(name);
  }

  clear(): void {
    this.onChange?.(undefined);
    this.accessed.clear();
    this.decoded.clear();
    this.decodedElements = 0;
    this.write(() => {
      for (const db of this.parts) db.clearSync();
      this.ttl.clearSync();
    });
    // mayHaveTtl stays as it is: the clear may yet be rolled back with its batch.
  }

  /** Removes up to activeExpireKeysMax expired keys, oldest expiry first, in one transaction. */
  activeExpire(): number {
    const now = this.clock.nowMs();
    this.coarseMs = now;
    const due: Buffer[] = [];
    for (const { key } of this.ttl.getRange({ end: ttlKey(now + 1, Buffer.alloc(0)), limit: LMDB_LIMITS.activeExpireKeysMax })) due.push(Buffer.from(key));
    if (due.length === 0) return 0;
    let removed = 0;
    this.write(() => {
      for (const tk of due) {
        const kb = tk.subarray(8);
        const raw = this.db(kb).getBinaryFast(storedKey(kb));
        const x = raw === undefined ? 0 : raw.readDoubleBE(1);
        this.ttl.removeSync(tk);
        if (x > 0 && x <= now) {
          this.db(kb).removeSync(storedKey(kb));
          this.uncache(kb.toString('latin1'));
          this.onChange?.(kb.toString('latin1'));
          this.onRemoved?.(kb.toString('latin1'), 'expired');
          removed++;
        }
      }
    });
    this.counters.expiredKeys += removed;
    return removed;
  }

  stats(): EngineStats {
    return { keys: this.size(), volatileKeys: this.ttl.getCount(), usedBytes: this.usedBytes(), ...this.counters };
  }

  /** Bytes of B-tree pages (branch, leaf, overflow) the partitions and the TTL index occupy. */
  private usedBytes(): number {
    let bytes = 0;
    for (const db of [...this.parts, this.ttl]) {
      const s = db.getStats() as { pageSize?: number; treeBranchPageCount?: number; treeLeafPageCount?: number; overflowPages?: number };
      bytes += (s.pageSize ?? 0) * ((s.treeBranchPageCount ?? 0) + (s.treeLeafPageCount ?? 0) + (s.overflowPages ?? 0));
    }
    return bytes;
  }

  private syncIfDirty(): Promise<void> {
    if (!this.dirty) return Promise.resolve();
    this.dirty = false;
    // lmdb-js has RootDatabase.sync (mdb_env_sync on a worker thread) but its typings omit it.
    const root = this.root as unknown as { sync(callback: (error?: Error) => void): void };
    return new Promise((resolve, reject) => root.sync((error?: Error) => (error ? reject(error) : resolve())));
  }

  /** Flushes (under batched durability) and closes the environment. */
  async close(): Promise<void> {
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    if (this.durability !== 'none') {
      this.dirty = true;
      await this.syncIfDirty();
    }
    await this.root.flushed;
    await this.root.close();
  }
}
