// Composite keys (Cassandra's partition key + clustering key, DynamoDB's hash + sort key) and hybrid
// partitioning (range first, then hash within each range, as the seed describes).
import { PartitioningError } from '../errors.js';
import { compareUtf8, hash32, type KeyInput } from './hash.js';
import { RangePartitioner, type Compare } from './range.js';
import { checkInt, type Partitioner, type PartitionId, type RangePartitionerLike } from './types.js';

export interface CompositeKey {
  readonly partitionKey: string;
  readonly sortKey: string;
}

/**
 * Encodes (partition key, sort key) as the Redis key `{pk}sk`: Redis hashes only the `{tag}`, so every key of
 * one partition key lands in one slot, and byte order sorts them by sort key. The partition key must be
 * non-empty and free of braces so the tag is exactly pk.
 */
export function encodeCompositeKey(partitionKey: string, sortKey: string): string {
  checkPartitionKey(partitionKey);
  if (typeof sortKey !== 'string') throw new PartitioningError('BAD_ARGUMENT', 'sort key must be a string');
  return `{${partitionKey}}${sortKey}`;
}

export function decodeCompositeKey(key: string): CompositeKey | undefined {
  if (!key.startsWith('{')) return undefined;
  const close = key.indexOf('}', 1);
  if (close <= 1) return undefined;
  return { partitionKey: key.slice(1, close), sortKey: key.slice(close + 1) };
}

/** Storage key range [start, end) holding the sort keys [fromSortKey, toSortKey) of one partition key. */
export function compositeKeyRange(partitionKey: string, fromSortKey = '', toSortKey?: string): { start: string; end: string } {
  const start = encodeCompositeKey(partitionKey, fromSortKey);
  // '~' (0x7E) follows '}' (0x7D): `{pk~` is the first key after every `{pk}...`.
  const end = toSortKey === undefined ? `{${partitionKey}~` : encodeCompositeKey(partitionKey, toSortKey);
  return { start, end };
}

function checkPartitionKey(pk: string): void {
  if (typeof pk !== 'string' || pk.length === 0 || pk.includes('{') || pk.includes('}')) {
    throw new PartitioningError('BAD_ARGUMENT', 'a partition key must be a non-empty string without { or }');
  }
}

/** Places a composite key by its partition key alone; a sort-key range stays inside one partition. */
export class CompositePartitioner implements RangePartitionerLike<CompositeKey> {
  readonly kind = 'composite';

  constructor(private readonly inner: Partitioner<KeyInput>) {}

  partitionFor(key: CompositeKey): PartitionId {
    checkPartitionKey(key.partitionKey);
    return this.inner.partitionFor(key.partitionKey);
  }

  partitionIds(): PartitionId[] {
    return this.inner.partitionIds();
  }

  /** A range over sort keys of one partition key touches exactly one partition. */
  partitionsForRange(start: CompositeKey, end?: CompositeKey): PartitionId[] {
    if (end !== undefined && end.partitionKey !== start.partitionKey) {
      throw new PartitioningError('BAD_ARGUMENT', 'a composite range query must stay within one partition key');
    }
    if (end !== undefined && compareUtf8(end.sortKey, start.sortKey) <= 0) return [];
    return [this.partitionFor(start)];
  }
}

export interface HybridKey<K> {
  /** Ordered component (a date, a tenant): decides the range. */
  readonly rangeKey: K;
  /** Hashed component (a user id): spreads load within the range. */
  readonly hashKey: KeyInput;
}

export interface HybridPartitionerOptions<K> {
  readonly boundaries?: readonly K[];
  readonly compare?: Compare<K>;
  /** Hash partitions inside each range. */
  readonly hashPartitions: number;
  readonly seed?: number;
}

/**
 * Range, then hash: partition id = rangeId * hashPartitions + hash(hashKey) mod hashPartitions. A query over a
 * range of range keys touches every hash partition of the covering ranges and nothing else; a point query on
 * a hash key touches one partition per range.
 */
export class HybridPartitioner<K = string> implements RangePartitionerLike<HybridKey<K>> {
  readonly kind = 'hybrid';
  readonly ranges: RangePartitioner<K>;
  readonly hashPartitions: number;
  private readonly seed: number;

  constructor(options: HybridPartitionerOptions<K>) {
    this.hashPartitions = checkInt(options.hashPartitions, 'hashPartitions', 1, 65_536);
    this.seed = checkInt(options.seed ?? 0, 'seed', 0, 0xffffffff);
    const rangeOptions = options.compare ? { boundaries: options.boundaries ?? [], compare: options.compare } : { boundaries: options.boundaries ?? [] };
    this.ranges = new RangePartitioner<K>(rangeOptions);
  }

  partitionFor(key: HybridKey<K>): PartitionId {
    return this.compose(this.ranges.partitionFor(key.rangeKey), this.subFor(key.hashKey));
  }

  partitionIds(): PartitionId[] {
    return this.expand(this.ranges.partitionIds());
  }

  partitionsForRange(start: HybridKey<K>, end?: HybridKey<K>): PartitionId[] {
    return this.expand(this.ranges.partitionsForRange(start.rangeKey, end?.rangeKey));
  }

  /** One partition per range: where a hash key can live when its range key is unknown. */
  partitionsForHashKey(hashKey: KeyInput): PartitionId[] {
    const sub = this.subFor(hashKey);
    return this.ranges.partitionIds().map((r) => this.compose(r, sub));
  }

  /** The (range, hash) pair behind a hybrid partition id. */
  decompose(id: PartitionId): { rangeId: PartitionId; sub: number } {
    return { rangeId: Math.floor(id / this.hashPartitions), sub: id % this.hashPartitions };
  }

  private subFor(hashKey: KeyInput): number {
    return hash32(hashKey, this.seed) % this.hashPartitions;
  }

  private compose(rangeId: PartitionId, sub: number): PartitionId {
    return rangeId * this.hashPartitions + sub;
  }

  private expand(rangeIds: readonly PartitionId[]): PartitionId[] {
    return rangeIds.flatMap((r) => Array.from({ length: this.hashPartitions }, (_, s) => this.compose(r, s)));
  }
}
