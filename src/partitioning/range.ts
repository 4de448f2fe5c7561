// Range partitioning (HBase regions, Bigtable tablets, MongoDB chunks): sorted boundaries, binary search,
// split at a key or at the median of a sample, merge of neighbours, and range queries that touch only the
// partitions covering the range. Partition ids are stable across splits and merges.
import { PartitioningError } from '../errors.js';
import { compareUtf8 } from './hash.js';
import type { PartitionId, RangePartitionerLike } from './types.js';

export type Compare<K> = (a: K, b: K) => number;

export const compareNumbers: Compare<number> = (a, b) => a - b;

export interface RangePartitionerOptions<K> {
  /** Split points, strictly increasing: partition i holds [boundaries[i-1], boundaries[i]). Default none. */
  readonly boundaries?: readonly K[];
  /** Key order. Default: UTF-8 byte order of strings (the order LMDB and Redis keep). */
  readonly compare?: Compare<K>;
}

/** Half-open key range [start, end); an undefined side is unbounded. */
export interface KeyRange<K> {
  readonly start: K | undefined;
  readonly end: K | undefined;
}

export interface RangeState<K> {
  readonly boundaries: K[];
  readonly ids: PartitionId[];
  readonly nextId: PartitionId;
}

export class RangePartitioner<K = string> implements RangePartitionerLike<K> {
  readonly kind = 'range';
  private readonly compare: Compare<K>;
  /** boundaries[i] is the first key of partition ids[i + 1]. */
  private boundaries: K[];
  private ids: PartitionId[];
  private nextId: PartitionId;

  constructor(options: RangePartitionerOptions<K> = {}) {
    this.compare = options.compare ?? (compareUtf8 as unknown as Compare<K>);
    const boundaries = [...(options.boundaries ?? [])];
    this.checkBoundaries(boundaries);
    this.boundaries = boundaries;
    this.ids = Array.from({ length: boundaries.length + 1 }, (_, i) => i);
    this.nextId = this.ids.length;
  }

  static fromState<K>(state: RangeState<K>, compare?: Compare<K>): RangePartitioner<K> {
    const p = new RangePartitioner<K>(compare ? { boundaries: state.boundaries, compare } : { boundaries: state.boundaries });
    if (state.ids.length !== state.boundaries.length + 1 || new Set(state.ids).size !== state.ids.length) {
      throw new PartitioningError('BAD_ARGUMENT', 'range state needs one distinct id per partition');
    }
    if (!state.ids.every((id) => Number.isInteger(id) && id >= 0 && id < state.nextId)) {
      throw new PartitioningError('BAD_ARGUMENT', 'range state ids must be integers below nextId');
    }
    p.ids = [...state.ids];
    p.nextId = state.nextId;
    return p;
  }

  toState(): RangeState<K> {
    return { boundaries: [...this.boundaries], ids: [...this.ids], nextId: this.nextId };
  }

  get partitionCount(): number {
    return this.ids.length;
  }

  partitionIds(): PartitionId[] {
    return [...this.ids];
  }

  partitionFor(key: K): PartitionId {
    return this.ids[this.indexFor(key)]!;
  }

  /** Partitions that can hold keys in [start, end), in key order; an empty range gives none. */
  partitionsForRange(start: K, end?: K): PartitionId[] {
    if (end !== undefined && this.compare(start, end) >= 0) return [];
    const first = this.indexFor(start);
    const last = end === undefined ? this.ids.length - 1 : this.countBelow(end);
    return this.ids.slice(first, last + 1);
  }

  rangeOf(id: PartitionId): KeyRange<K> {
    const i = this.requireIndex(id);
    return { start: i === 0 ? undefined : this.boundaries[i - 1], end: this.boundaries[i] };
  }

  /** Splits a partition at `key`, which must lie strictly inside it; the upper half gets a new id. */
  split(id: PartitionId, key: K): PartitionId {
    const i = this.requireIndex(id);
    const { start, end } = this.rangeOf(id);
    if ((start !== undefined && this.compare(key, start) <= 0) || (end !== undefined && this.compare(key, end) >= 0)) {
      throw new PartitioningError('BAD_BOUNDARY', `split key ${String(key)} is not strictly inside partition ${id}`);
    }
    const fresh = this.nextId++;
    this.boundaries.splice(i, 0, key);
    this.ids.splice(i + 1, 0, fresh);
    return fresh;
  }

  /**
   * Splits at the median of the sample keys that fall in the partition (as HBase splits a region at its
   * middle key). Needs at least two distinct sampled keys there.
   */
  splitAtMedian(id: PartitionId, sample: readonly K[]): PartitionId {
    const inside = sample.filter((k) => this.partitionFor(k) === id).sort(this.compare);
    const lowest = inside[0];
    // The split key must exceed the lowest sampled key so both halves keep some of the sample.
    let at = inside[Math.floor(inside.length / 2)];
    if (lowest !== undefined && at !== undefined && this.compare(at, lowest) === 0) {
      at = inside.find((k) => this.compare(k, lowest) > 0);
    }
    if (lowest === undefined || at === undefined) {
      throw new PartitioningError('BAD_ARGUMENT', `partition ${id} has fewer than two distinct sampled keys to split at`);
    }
    return this.split(id, at);
  }

  /** Merges right into its left neighbour (left keeps its id); returns the surviving id. */
  merge(left: PartitionId, right: PartitionId): PartitionId {
    const i = this.requireIndex(left);
    const j = this.requireIndex(right);
    if (j !== i + 1) throw new PartitioningError('NOT_NEIGHBOURS', `partitions ${left} and ${right} are not adjacent`);
    this.boundaries.splice(i, 1);
    this.ids.splice(j, 1);
    return left;
  }

  /** Index of the partition holding key: the number of boundaries <= key. */
  private indexFor(key: K): number {
    return this.bisect(key, true);
  }

  /** The number of boundaries strictly below key: the last partition a range ending (exclusively) at key touches. */
  private countBelow(key: K): number {
    return this.bisect(key, false);
  }

  /** Number of boundaries b with b < key, or b <= key when `inclusive`. */
  private bisect(key: K, inclusive: boolean): number {
    if (key !== key) throw new PartitioningError('BAD_ARGUMENT', 'NaN is not a key');
    let lo = 0;
    let hi = this.boundaries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.compare(this.boundaries[mid]!, key);
      if (c < 0 || (inclusive && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private requireIndex(id: PartitionId): number {
    const i = this.ids.indexOf(id);
    if (i < 0) throw new PartitioningError('UNKNOWN_PARTITION', `range partition ${String(id)} does not exist`);
    return i;
  }

  private checkBoundaries(boundaries: readonly K[]): void {
    for (let i = 0; i < boundaries.length; i++) {
      const b = boundaries[i];
      if (b === undefined || b === null || (typeof b === 'number' && Number.isNaN(b))) {
        throw new PartitioningError('BAD_BOUNDARY', `boundary ${i} is not a key`);
      }
      if (i > 0 && this.compare(boundaries[i - 1]!, b) >= 0) {
        throw new PartitioningError('BAD_BOUNDARY', `boundaries must be strictly increasing (at index ${i})`);
      }
    }
  }
}
