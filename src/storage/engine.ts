// The storage engine contract shared by the memory (cache) engine and, next, the LMDB (durable) engine:
// typed values with optional expiry, lazy expiry on access, bounded active expiry, and counters.
import type { Deque } from './deque.js';
import type { ZSet } from './zset.js';
import type { Stream } from './stream.js';

/** Milliseconds since the epoch; injected so expiry and eviction replay exactly in tests and simulation. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

export type ValueType = 'string' | 'hash' | 'set' | 'list' | 'zset' | 'stream';

/** Set members and list elements are latin1 strings of the client's bytes (as keys and hash fields are). */
export type StoredValue =
  | { readonly type: 'string'; readonly value: Buffer }
  | { readonly type: 'hash'; readonly value: Map<string, Buffer> }
  | { readonly type: 'set'; readonly value: Set<string> }
  | { readonly type: 'list'; readonly value: Deque<string> }
  | { readonly type: 'zset'; readonly value: ZSet }
  | { readonly type: 'stream'; readonly value: Stream };

/** Whether a value is edited in place by commands (then written back with `touched`). */
export const editedInPlace = (v: StoredValue): boolean => v.type !== 'string';

export interface EngineStats {
  keys: number;
  volatileKeys: number;
  usedBytes: number;
  expiredKeys: number;
  evictedKeys: number;
  hits: number;
  misses: number;
}

export type EvictionPolicy = 'noeviction' | 'allkeys-lru' | 'volatile-lru' | 'volatile-ttl' | 'allkeys-random';

export const EVICTION_POLICIES: readonly EvictionPolicy[] = ['noeviction', 'allkeys-lru', 'volatile-lru', 'volatile-ttl', 'allkeys-random'];

/** Thrown when a write needs memory that eviction cannot free; sent as Redis's `-OOM ...`. */
export class OutOfMemoryError extends Error {
  constructor(message = "OOM command not allowed when used memory > 'maxmemory'.") {
    super(message);
    this.name = 'OutOfMemoryError';
  }
}

/**
 * Keys are binary-safe strings (latin1: one char per byte). Reads return the live value or undefined
 * (an expired key is deleted on the way). `put` replaces value and expiry together.
 */
export interface StorageEngine {
  readonly kind: string;
  /**
   * Called after any change to a key, whatever made it (a command, replication, a snapshot, expiry, eviction);
   * with undefined just before every key is removed (clear). WATCH is built on it. Set by the server.
   */
  onChange?: ((key: string | undefined) => void) | undefined;
  /** Called when a key is removed by expiry or eviction (keyspace notifications' `expired` and `evicted`). */
  onRemoved?: ((key: string, why: 'expired' | 'evicted') => void) | undefined;
  get(key: string): StoredValue | undefined;
  /**
   * Like get() (counts a hit or miss the same way), but a string value may come back as a latin1 JS string,
   * one character per byte, without being copied into a Buffer: GET's fast path. Optional.
   */
  getLatin1?(key: string): string | StoredValue | undefined;
  /** Expiry in ms since the epoch, 0 when the key is persistent, undefined when it does not exist. */
  expiresAt(key: string): number | undefined;
  /**
   * Stores `value` under `key`. A string value's bytes may be a view into a client's request buffer: the
   * engine copies what it keeps (callers need not copy first).
   */
  put(key: string, value: StoredValue, expiresAtMs: number): void;
  setExpiry(key: string, expiresAtMs: number): boolean;
  delete(key: string): boolean;
  /** The value without counting it as an access (OBJECT); engines without access tracking omit it. */
  peek?(key: string): StoredValue | undefined;
  /** Milliseconds since the key was last read or written (OBJECT IDLETIME); engines that do not track it omit it. */
  idleMs?(key: string): number | undefined;
  /** Notes that a stored hash was changed in place, so size accounting stays right. */
  touched(key: string): void;
  size(): number;
  randomKey(): string | undefined;
  /** Cursor scan in a stable order; returns the next cursor (0 when done) and at most `count` live keys. */
  scan(cursor: number, count: number): { cursor: number; keys: string[] };
  clear(): void;
  /** One bounded round of active expiry; returns keys removed. */
  activeExpire(): number;
  stats(): EngineStats;
  /**
   * Durable engines run a client's batch of commands in one transaction and return only once it is
   * committed (and flushed, if their durability setting says so). Engines without it run `run` directly.
   */
  batch?<T>(run: () => T): T;
  /** Keys of one of `partitions` slot partitions without a full scan, where the engine indexes them so. */
  keysOfPartition?(partition: number, partitions: number): string[] | undefined;
  /**
   * A small named record stored with the data, in the current transaction when inside `batch` (durable
   * engines only: replication keeps each partition's log position here, atomically with the writes).
   */
  putMeta?(name: string, value: Buffer): void;
  getMeta?(name: string): Buffer | undefined;
  /** Flushes and releases files; engines without files need not implement it. */
  close?(): Promise<void>;
}
