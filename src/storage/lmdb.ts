// Durable engine on LMDB (lmdb-js): one sub-database per partition (so a partition can later be streamed,
// checksummed or dropped alone) plus a TTL index ordered by expiry time. Writes of one client batch run in
// one synchronous write transaction; the reply is sent after it commits (and, in every-write mode, after
// LMDB has flushed it to disk).
import { JournaledMap, JournaledSet, journal, type StoreTrack, type StoreTracked } from './journal.js';
import { Deque } from './deque.js';
import { ZSet } from './zset.js';
import { Stream } from './stream.js';
import { randomInt } from 'node:crypto';
import { open, type Database, type RootDatabase } from 'lmdb';
import { SlotPartitioner } from '../partitioning/slots.js';
import { CHUNKED, HEADER_BYTES, decodeRecord, encodeRecord, readRecord, type StoredRecord } from './lmdb-records.js';
import { ChunkStore, fitsOneRecord, readChunkedHeader, type ChunkedHeader } from './lmdb-chunks.js';
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
  /**
   * Large collections as chunk records (default). False writes every collection as one record, rewritten whole
   * on each write (the behaviour before chunks; `ATOLL_LMDB_CHUNKS=off`, for benchmarks). Both read either form.
   */
  readonly chunks?: boolean;
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
 * Keys are stored behind a one-byte prefix: Redis allows the empty key and LMDB does not allow
 * zero-length keys. A constant prefix keeps byte order.
 */
const KEY_PREFIX = Buffer.from([0x6b]);

/**
 * Whether a collection object records storage hints: the journaled classes do; a plain Set or Map (a value
 * built by hand) does not, and must never be tracked (its changes would go unwritten), so it is written whole.
 */
function tracks(v: object): v is StoreTracked {
  return v instanceof JournaledSet || v instanceof JournaledMap || v instanceof Deque || v instanceof ZSet || v instanceof Stream;
}

const trackOf = (v: object): StoreTrack | undefined => (tracks(v) ? v.storeTrack : undefined);

/**
 * Generation of the next collection written whole into chunks; a value's StoreTrack must name its record's
 * generation for a write to touch only some chunks. Process-wide and randomly started, so a stale object never
 * matches a record written whole since (in this process or one before it).
 */
let nextGen = randomInt(2 ** 32);

function track(v: object, t: StoreTrack | undefined): void {
  if (tracks(v)) v.storeTrack = t;
}

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
  /** Chunk records of large collections (src/storage/lmdb-chunks.ts). */
  private readonly chunks: ChunkStore;
  /** False while no collection is in chunks: a string write then need not look at the record it replaces. */
  private mayHaveChunks: boolean;
  private readonly chunking: boolean;
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
  private accessFloorMs: number;
  /** The time accesses are stamped with: refreshed by writes and the expiry cycle, not per read. */
  private coarseMs: number;
  /** Decoded collections (see LMDB_LIMITS.decodedElementsMax), coherent with the database: every write path updates it. */
  private readonly decoded = new Map<string, { value: StoredValue; expiresAtMs: number; elements: number }>();
  private decodedElements = 0;

  private cacheDecoded(key: string, value: StoredValue, expiresAtMs: number): void {
    this.uncache(key);
    if (value.type === 'string') return;
    const elements = value.type === 'list' || value.type === 'stream' ? value.value.length : value.value.size;
    // One value may fill the cache (a 1,000,000-element list is then decoded once, not by every command).
    if (elements > LMDB_LIMITS.decodedElementsMax) return;
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
    return r === undefined ? undefined : this.decode(key, r);
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
    this.root = open({ path: options.path, noSubdir: false, maxDbs: partitions + 5, mapSize: LMDB_LIMITS.mapSizeBytes, noSync: this.durability !== 'every-write' });
    if (this.durability === 'batched') {
      this.syncTimer = setInterval(() => this.syncIfDirty(), LMDB_LIMITS.batchedSyncEveryMs);
      this.syncTimer.unref();
    }
    this.parts = Array.from({ length: partitions }, (_, p) => this.root.openDB<Buffer, Buffer>({ name: `partition-${p}`, keyEncoding: 'binary', encoding: 'binary' }));
    this.ttl = this.root.openDB<boolean, Buffer>({ name: 'ttl-index', keyEncoding: 'binary' });
    this.meta = this.root.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' });
    this.mayHaveTtl = this.ttl.getCount() > 0;
    this.chunks = new ChunkStore(this.root.openDB<Buffer, Buffer>({ name: 'collection-chunks', keyEncoding: 'binary', encoding: 'binary' }));
    this.mayHaveChunks = this.chunks.count() > 0;
    this.chunking = options.chunks ?? true;
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

  private record(kb: Buffer): StoredRecord | undefined {
    const raw = this.db(kb).get(storedKey(kb));
    if (raw === undefined) return undefined;
    const r = readRecord(raw);
    if (r.x > 0 && r.x <= this.clock.nowMs()) return undefined;
    return r;
  }

  /** A record's value; a collection in chunks comes back tracked, so its next write rewrites only what changed. */
  private decode(key: string, r: StoredRecord): StoredValue {
    return journal.quietly(() => {
      if (r.t <= CHUNKED) return decodeRecord(r);
      const value = this.chunks.read(Buffer.from(key, 'latin1'), r);
      if (value.type !== 'string') track(value.value, { key, gen: r.buf.readUInt32BE(HEADER_BYTES), hints: [] });
      return value;
    });
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
    const value = this.decode(key, r);
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
    let old: ChunkedHeader | undefined;
    if (this.mayHaveTtl || this.mayHaveChunks) {
      const oldRaw = db.getBinaryFast(sk);
      const oldExpiry = oldRaw === undefined ? 0 : oldRaw.readDoubleBE(1);
      if (oldExpiry > 0) this.ttl.removeSync(ttlKey(oldExpiry, kb));
      old = oldRaw === undefined ? undefined : readChunkedHeader(oldRaw);
    }
    db.putSync(sk, this.encodeFor(kb, key, value, expiresAtMs, old));
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

  /**
   * The record to store for a value, writing its chunks first when it is a large collection: only the chunks
   * its hints name when it is the tracked value of this key's current chunks, else all of them.
   */
  private encodeFor(kb: Buffer, key: string, value: StoredValue, expiresAtMs: number, old: ChunkedHeader | undefined): Buffer {
    if (value.type === 'string') {
      if (old !== undefined) this.chunks.drop(kb);
      return encodeRecord(value, expiresAtMs);
    }
    const t = trackOf(value.value);
    if (old !== undefined && t !== undefined && t.key === key && t.gen === old.gen && t.hints !== null && old.type === value.type && !fitsOneRecord(value, true)) {
      const head = this.chunks.writeChanges(kb, value, expiresAtMs, old, t.hints);
      if (head !== undefined) {
        t.hints = [];
        return head;
      }
    }
    if (old !== undefined) this.chunks.drop(kb);
    if (!this.chunking || fitsOneRecord(value, old !== undefined)) {
      track(value.value, undefined);
      return encodeRecord(value, expiresAtMs);
    }
    const gen = nextGen;
    nextGen = (nextGen + 1) % 2 ** 32;
    this.mayHaveChunks = true;
    const head = this.chunks.writeWhole(kb, value, expiresAtMs, gen);
    track(value.value, { key, gen, hints: [] });
    return head;
  }

  setExpiry(key: string, expiresAtMs: number): boolean {
    const kb = Buffer.from(key, 'latin1');
    const r = this.record(kb);
    if (r === undefined) return false;
    this.put(key, this.decoded.get(key)?.value ?? this.decode(key, r), expiresAtMs);
    return true;
  }

  delete(key: string): boolean {
    const kb = Buffer.from(key, 'latin1');
    const r = this.record(kb);
    if (r === undefined) return false;
    this.write(() => {
      this.db(kb).removeSync(storedKey(kb));
      if (r.t > CHUNKED) this.chunks.drop(kb);
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
      this.chunks.clear();
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
        const chunked = raw !== undefined && raw[0]! > CHUNKED;
        this.ttl.removeSync(tk);
        if (x > 0 && x <= now) {
          this.db(kb).removeSync(storedKey(kb));
          if (chunked) this.chunks.drop(kb);
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
    for (const db of [...this.parts, this.ttl, this.chunks.db]) {
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
