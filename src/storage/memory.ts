// In-memory engine for pure cache use: TTLs, a memory limit with Redis's eviction policies, and counters.
// Deterministic: time comes from an injected Clock and sampling from a seeded generator.
import { journal } from './journal.js';
import { getHeapStatistics } from 'node:v8';
import { assert } from '../errors.js';
import { keySlot } from '../partitioning/hash.js';
import { seededRandom, type Random } from '../partitioning/prng.js';
import type { Stream } from './stream.js';
import { SlotPartitioner } from '../partitioning/slots.js';
import {
  OutOfMemoryError,
  type Clock,
  type EngineStats,
  type EvictionPolicy,
  type StorageEngine,
  type StoredValue,
} from './engine.js';

export interface MemoryEngineOptions {
  readonly clock: Clock;
  /** Memory limit in bytes (estimated), 0 = unlimited. Default 0. */
  readonly maxmemoryBytes?: number;
  readonly policy?: EvictionPolicy;
  readonly seed?: number;
  /**
   * Writes fail with -OOM once the estimated size passes this, whatever maxmemory says: values live on V8's
   * heap, and a process that reaches its heap limit dies. Default: a share of this process's heap limit.
   */
  readonly heapCeilingBytes?: number;
}

export const MEMORY_ENGINE_LIMITS = Object.freeze({
  /** Keys sampled per eviction choice for volatile-ttl (Redis maxmemory-samples). */
  evictionSamples: 5,
  /** Keys examined per active-expiry round (Redis ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP). */
  activeExpireKeysPerLoop: 20,
  /** Loops per active-expiry call at most; a loop repeats only while over 25% of its sample expired. */
  activeExpireLoopsMax: 16,
  /** Entries scanned from the LRU end looking for a volatile key before giving up. */
  volatileLruScanMax: 1024,
  /** Estimated bytes per key beyond its key and value bytes (map entry, object headers). */
  entryOverheadBytes: 64,
  /** Estimated bytes per hash field (or set member) beyond its name and value. */
  fieldOverheadBytes: 32,
  /** A list element beyond its bytes: its length in a packed chunk, chunk headers shared by 64 (src/storage/deque.ts). */
  listElementOverheadBytes: 16,
  /** A stream entry beyond its fields' bytes: its columns (ID, insertion number, where its fields lie), their lengths, growth slack (measured about 70 bytes an entry in all with 11 bytes of fields). */
  streamEntryOverheadBytes: 64,
  /** A sorted set's extra per member: its skip-list node (links, spans, score) and its score-map entry. */
  zsetNodeOverheadBytes: 96,
  /** Elements summed to size a collection (hash fields, set members, list elements); beyond, their mean is used. */
  sizeSampleMax: 32,
  /**
   * A collection's sampled mean element size is reused by its writes while its count stays within this factor
   * of the count it was sampled at (sampling 32 elements per LPUSH was 7% of a pipelined LPUSH's time).
   */
  sizeResampleFactor: 1.25,
  /** Share of V8's heap limit the estimated data may take before writes fail (the rest: overhead, garbage). */
  heapShareMax: 0.6,
});

/**
 * A string value is kept as a latin1 JS string (one byte per character, any byte value), not a Buffer: it
 * lives on V8's heap, where a Buffer would be a typed-array object over a slice of an off-heap pool slab.
 * Off-heap bytes are "external memory" to V8, whose growth starts full collections: with 1 KB values a
 * SET-heavy load spent most of its extra time marking the heap. Hashes stay Maps (edited in place).
 */
type Held = string | StoredValue;

interface Slot {
  value: Held;
  expiresAtMs: number;
  bytes: number;
  /** Position in `all`, for O(1) random sampling and removal. */
  index: number;
  /** Position in `volatile` (-1 when persistent). */
  volatileIndex: number;
  /** Last read or write (OBJECT IDLETIME), on the engine's coarse clock, as Redis's per-key LRU clock. */
  accessedMs: number;
  /** A collection's element count when its mean element size was sampled (0: not sampled), and that mean. */
  sampledCount: number;
  meanElementBytes: number;
}

/** Estimated memory of a key and its value. */
export function estimateBytes(key: string, value: Held): number {
  return sizeOf(key, value).bytes;
}

/** A collection's element count, or -1 for strings and streams (sized exactly). */
function elementCount(value: Held): number {
  if (typeof value === 'string' || value.type === 'string' || value.type === 'stream') return -1;
  return value.type === 'list' ? value.value.length : value.value.size;
}

/** Mean bytes of up to sizeSampleMax elements of a collection (its first ones). */
function sampleMean(value: Exclude<StoredValue, { type: 'string' | 'stream' }>, count: number): number {
  // Every write to a collection re-estimates it, so a large one is sized from a sample (its count is exact):
  // summing a million elements per LPUSH would make each push O(length).
  const sampled = Math.min(count, MEMORY_ENGINE_LIMITS.sizeSampleMax);
  let bytes = 0;
  let seen = 0;
  for (const item of value.value) {
    if (seen++ >= sampled) break;
    bytes += typeof item === 'string' ? item.length : item[0].length + item[1].length;
  }
  return sampled === 0 ? 0 : bytes / sampled;
}

/** Estimated bytes, and the mean element size used (for collections); `prior` is reused when the count is near its own. */
function sizeOf(key: string, value: Held, prior?: { count: number; mean: number }): { bytes: number; mean: number; count: number } {
  const base = MEMORY_ENGINE_LIMITS.entryOverheadBytes + key.length;
  if (typeof value === 'string') return { bytes: base + value.length, mean: 0, count: -1 };
  if (value.type === 'string') return { bytes: base + value.value.length, mean: 0, count: -1 };
  if (value.type === 'stream') return { bytes: base + streamBytes(value.value), mean: 0, count: -1 };
  const count = elementCount(value);
  // A sorted set's element also holds a score, a skip-list node and a dict entry.
  const perElement =
    value.type === 'list' ? MEMORY_ENGINE_LIMITS.listElementOverheadBytes : MEMORY_ENGINE_LIMITS.fieldOverheadBytes + (value.type === 'zset' ? MEMORY_ENGINE_LIMITS.zsetNodeOverheadBytes : 0);
  const f = MEMORY_ENGINE_LIMITS.sizeResampleFactor;
  const reuse = prior !== undefined && prior.count > MEMORY_ENGINE_LIMITS.sizeSampleMax && count * f >= prior.count && count <= prior.count * f;
  const mean = reuse ? prior.mean : sampleMean(value, count);
  return { bytes: base + count * perElement + Math.round(mean * count), mean, count: reuse ? prior.count : count };
}

/** A stream's estimated bytes: its fields' bytes (kept by the stream) and a fixed overhead per entry. */
function streamBytes(s: Stream): number {
  return s.fieldBytes + s.length * MEMORY_ENGINE_LIMITS.streamEntryOverheadBytes;
}

export class MemoryEngine implements StorageEngine {
  readonly kind = 'memory';
  onChange: ((key: string | undefined) => void) | undefined;
  onRemoved: ((key: string, why: 'expired' | 'evicted') => void) | undefined;
  /** Map order is LRU order: an access moves the key to the end, so the first key is least recently used. */
  private readonly map = new Map<string, Slot>();
  private readonly all: string[] = [];
  private readonly volatile: string[] = [];
  private readonly clock: Clock;
  private readonly random: Random;
  maxmemoryBytes: number;
  policy: EvictionPolicy;
  readonly heapCeilingBytes: number;
  private usedBytes = 0;
  /**
   * The time reads stamp on keys: refreshed by writes and by the active-expiry cycle (every 100 ms), not read
   * from the clock per GET (that cost 7% of pipelined GET throughput); Redis caches its LRU clock the same way.
   */
  private coarseMs = 0;
  /** Keys per slot partition, built on the first keysOfPartition call (cluster nodes) and kept from then on. */
  private partIndex: { partitions: number; slots: SlotPartitioner; sets: Set<string>[] } | undefined;
  private counters = { expiredKeys: 0, evictedKeys: 0, hits: 0, misses: 0 };

  constructor(options: MemoryEngineOptions) {
    this.clock = options.clock;
    this.maxmemoryBytes = options.maxmemoryBytes ?? 0;
    this.policy = options.policy ?? 'noeviction';
    this.random = seededRandom(options.seed ?? 0x5eed);
    this.heapCeilingBytes = options.heapCeilingBytes ?? Math.floor(getHeapStatistics().heap_size_limit * MEMORY_ENGINE_LIMITS.heapShareMax);
  }

  get(key: string): StoredValue | undefined {
    const v = this.getLatin1(key);
    return typeof v === 'string' ? { type: 'string', value: Buffer.from(v, 'latin1') } : v;
  }

  getLatin1(key: string): string | StoredValue | undefined {
    const slot = this.live(key);
    if (slot === undefined) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    slot.accessedMs = this.coarseMs;
    // Refresh the LRU position only when a policy reads it: re-inserting costs as much as the lookup.
    if (this.tracksLru()) {
      this.map.delete(key);
      this.map.set(key, slot);
    }
    return slot.value;
  }

  expiresAt(key: string): number | undefined {
    return this.live(key)?.expiresAtMs;
  }

  put(key: string, given: StoredValue, expiresAtMs: number): void {
    this.coarseMs = this.clock.nowMs();
    const value: Held = given.type === 'string' ? given.value.toString('latin1') : given;
    const old = this.map.get(key);
    const size = sizeOf(key, value, old !== undefined && typeof old.value !== 'string' && old.value.value === given.value ? { count: old.sampledCount, mean: old.meanElementBytes } : undefined);
    const bytes = size.bytes;
    // A collection put under a key that held another object (RENAME, COPY, a STORE) replicates whole.
    if (journal.armed && given.type !== 'string' && (old === undefined || typeof old.value === 'string' || old.value.value !== given.value)) journal.created(given.value);
    this.makeRoom(bytes - (old?.bytes ?? 0), key);
    if (old !== undefined && !this.tracksLru()) {
      // Overwrite in place: the key keeps its sampling slots, only value, size and expiry change.
      if (old.expiresAtMs > 0 && expiresAtMs === 0) this.unlinkVolatile(old);
      else if (old.expiresAtMs === 0 && expiresAtMs > 0) {
        old.volatileIndex = this.volatile.length;
        this.volatile.push(key);
      }
      this.usedBytes += bytes - old.bytes;
      old.value = value;
      old.bytes = bytes;
      old.expiresAtMs = expiresAtMs;
      old.accessedMs = this.coarseMs;
      old.sampledCount = size.count;
      old.meanElementBytes = size.mean;
      this.onChange?.(key);
      return;
    }
    if (old !== undefined) this.remove(key, old);
    const slot: Slot = { value, expiresAtMs, bytes, index: this.all.length, volatileIndex: -1, accessedMs: this.coarseMs, sampledCount: size.count, meanElementBytes: size.mean };
    this.all.push(key);
    if (this.partIndex !== undefined) this.partIndex.sets[this.partitionOf(key)]!.add(key);
    if (expiresAtMs > 0) {
      slot.volatileIndex = this.volatile.length;
      this.volatile.push(key);
    }
    this.map.set(key, slot);
    this.usedBytes += bytes;
    this.onChange?.(key);
  }

  setExpiry(key: string, expiresAtMs: number): boolean {
    const slot = this.live(key);
    if (slot === undefined) return false;
    if (slot.expiresAtMs > 0 && expiresAtMs === 0) this.unlinkVolatile(slot);
    if (slot.expiresAtMs === 0 && expiresAtMs > 0) {
      slot.volatileIndex = this.volatile.length;
      this.volatile.push(key);
    }
    slot.expiresAtMs = expiresAtMs;
    slot.accessedMs = this.coarseMs = this.clock.nowMs();
    this.onChange?.(key);
    return true;
  }

  /** The value without counting an access (no hit or miss, no LRU or idle-time refresh): OBJECT's look. */
  peek(key: string): StoredValue | undefined {
    const slot = this.map.get(key);
    if (slot === undefined || this.isExpired(slot)) return undefined;
    const v = slot.value;
    return typeof v === 'string' ? { type: 'string', value: Buffer.from(v, 'latin1') } : v;
  }

  /** Milliseconds since the key was last read or written (not counting this look), undefined when absent. */
  idleMs(key: string): number | undefined {
    const slot = this.map.get(key);
    if (slot === undefined || this.isExpired(slot)) return undefined;
    return Math.max(0, this.clock.nowMs() - slot.accessedMs);
  }

  delete(key: string): boolean {
    const slot = this.live(key);
    if (slot === undefined) return false;
    this.remove(key, slot);
    return true;
  }

  touched(key: string): void {
    const slot = this.map.get(key);
    if (slot === undefined) return;
    const size = sizeOf(key, slot.value, { count: slot.sampledCount, mean: slot.meanElementBytes });
    const bytes = size.bytes;
    slot.sampledCount = size.count;
    slot.meanElementBytes = size.mean;
    this.makeRoom(bytes - slot.bytes, key);
    this.usedBytes += bytes - slot.bytes;
    slot.bytes = bytes;
    slot.accessedMs = this.coarseMs = this.clock.nowMs();
    this.onChange?.(key);
  }

  size(): number {
    return this.map.size;
  }

  randomKey(): string | undefined {
    // Bounded: a few tries past expired keys, as Redis does.
    for (let attempt = 0; attempt < 100 && this.all.length > 0; attempt++) {
      const key = this.all[this.random.nextInt(this.all.length)]!;
      if (this.live(key) !== undefined) return key;
    }
    return undefined;
  }

  scan(cursor: number, count: number): { cursor: number; keys: string[] } {
    // Walks `all` downwards: removal swaps the last key into the hole, so a key present for the whole scan
    // is never skipped (it may be returned twice), which is SCAN's guarantee.
    let pos = cursor === 0 ? this.all.length : Math.min(cursor, this.all.length);
    const keys: string[] = [];
    while (pos > 0 && keys.length < count) {
      pos--;
      const key = this.all[pos]!;
      if (!this.isExpired(this.map.get(key)!)) keys.push(key);
    }
    return { cursor: pos, keys };
  }

  clear(): void {
    this.onChange?.(undefined);
    if (this.partIndex !== undefined) for (const set of this.partIndex.sets) set.clear();
    this.map.clear();
    this.all.length = 0;
    this.volatile.length = 0;
    this.usedBytes = 0;
  }

  activeExpire(): number {
    this.coarseMs = this.clock.nowMs();
    let removed = 0;
    for (let loop = 0; loop < MEMORY_ENGINE_LIMITS.activeExpireLoopsMax && this.volatile.length > 0; loop++) {
      const sample = Math.min(MEMORY_ENGINE_LIMITS.activeExpireKeysPerLoop, this.volatile.length);
      let expired = 0;
      for (let i = 0; i < sample && this.volatile.length > 0; i++) {
        const key = this.volatile[this.random.nextInt(this.volatile.length)]!;
        const slot = this.map.get(key)!;
        if (this.isExpired(slot)) {
          this.remove(key, slot);
          this.counters.expiredKeys++;
          this.onRemoved?.(key, 'expired');
          expired++;
        }
      }
      removed += expired;
      if (expired * 4 <= sample) break;
    }
    return removed;
  }

  /** Keys of one slot partition from the index (built on first use by one pass over every key). */
  keysOfPartition(partition: number, partitions: number): string[] | undefined {
    if (this.partIndex === undefined || this.partIndex.partitions !== partitions) {
      this.partIndex = { partitions, slots: new SlotPartitioner({ partitions }), sets: Array.from({ length: partitions }, () => new Set<string>()) };
      for (const key of this.map.keys()) this.partIndex.sets[this.partitionOf(key)]!.add(key);
    }
    const set = this.partIndex.sets[partition];
    if (set === undefined) return [];
    const now = this.clock.nowMs();
    const keys: string[] = [];
    for (const k of set) {
      const slot = this.map.get(k)!;
      if (!(slot.expiresAtMs > 0 && slot.expiresAtMs <= now)) keys.push(k);
    }
    return keys;
  }

  private partitionOf(key: string): number {
    return this.partIndex!.slots.partitionForSlot(keySlot(Buffer.from(key, 'latin1')));
  }

  stats(): EngineStats {
    return { keys: this.map.size, volatileKeys: this.volatile.length, usedBytes: this.usedBytes, ...this.counters };
  }

  /** LRU order matters only under an LRU policy with a memory limit. */
  private tracksLru(): boolean {
    return this.maxmemoryBytes > 0 && (this.policy === 'allkeys-lru' || this.policy === 'volatile-lru');
  }

  private isExpired(slot: Slot): boolean {
    return slot.expiresAtMs > 0 && slot.expiresAtMs <= this.clock.nowMs();
  }

  /** The slot if the key exists and has not expired; an expired key is removed here (lazy expiry). */
  private live(key: string): Slot | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    if (this.isExpired(slot)) {
      this.remove(key, slot);
      this.counters.expiredKeys++;
      this.onRemoved?.(key, 'expired');
      return undefined;
    }
    return slot;
  }

  private remove(key: string, slot: Slot): void {
    this.map.delete(key);
    if (this.partIndex !== undefined) this.partIndex.sets[this.partitionOf(key)]!.delete(key);
    const last = this.all.pop()!;
    if (last !== key) {
      this.all[slot.index] = last;
      this.map.get(last)!.index = slot.index;
    }
    if (slot.volatileIndex >= 0) this.unlinkVolatile(slot);
    this.usedBytes -= slot.bytes;
    this.onChange?.(key);
  }

  private unlinkVolatile(slot: Slot): void {
    const last = this.volatile.pop()!;
    const i = slot.volatileIndex;
    if (i < this.volatile.length) {
      this.volatile[i] = last;
      this.map.get(last)!.volatileIndex = i;
    }
    slot.volatileIndex = -1;
  }

  /** Evicts until `extra` more bytes fit under maxmemory, never evicting `protect` (the key being written). */
  private makeRoom(extra: number, protect: string): void {
    if (extra <= 0) return;
    if (this.usedBytes + extra > this.heapCeilingBytes && (this.maxmemoryBytes === 0 || this.maxmemoryBytes > this.heapCeilingBytes)) {
      throw new OutOfMemoryError(`OOM command not allowed when used memory > the heap ceiling (${this.heapCeilingBytes} bytes, ${MEMORY_ENGINE_LIMITS.heapShareMax * 100}% of this process's V8 heap limit); set a lower maxmemory to evict instead, or start node with a larger --max-old-space-size`);
    }
    if (this.maxmemoryBytes === 0) return;
    while (this.usedBytes + extra > this.maxmemoryBytes) {
      const victim = this.pickVictim(protect);
      if (victim === undefined) throw new OutOfMemoryError();
      this.remove(victim, this.map.get(victim)!);
      this.counters.evictedKeys++;
      this.onRemoved?.(victim, 'evicted');
    }
  }

  private pickVictim(protect: string): string | undefined {
    switch (this.policy) {
      case 'noeviction':
        return undefined;
      case 'allkeys-lru':
        for (const key of this.map.keys()) if (key !== protect) return key;
        return undefined;
      case 'volatile-lru': {
        let scanned = 0;
        for (const [key, slot] of this.map) {
          if (++scanned > MEMORY_ENGINE_LIMITS.volatileLruScanMax) break;
          if (slot.expiresAtMs > 0 && key !== protect) return key;
        }
        // Far down the LRU order: fall back to any volatile key rather than failing.
        return this.volatile.find((k) => k !== protect);
      }
      case 'volatile-ttl': {
        let best: string | undefined;
        let bestAt = Infinity;
        for (let i = 0; i < MEMORY_ENGINE_LIMITS.evictionSamples && this.volatile.length > 0; i++) {
          const key = this.volatile[this.random.nextInt(this.volatile.length)]!;
          const at = this.map.get(key)!.expiresAtMs;
          if (key !== protect && at < bestAt) {
            best = key;
            bestAt = at;
          }
        }
        return best ?? this.volatile.find((k) => k !== protect);
      }
      case 'allkeys-random': {
        if (this.all.length === 0 || (this.all.length === 1 && this.all[0] === protect)) return undefined;
        let key = this.all[this.random.nextInt(this.all.length)]!;
        while (key === protect) key = this.all[this.random.nextInt(this.all.length)]!;
        return key;
      }
      default:
        assert(false, `unknown eviction policy ${String(this.policy)}`);
    }
  }
}
