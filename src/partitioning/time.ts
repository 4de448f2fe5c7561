// Time partitioning: fixed-width time buckets (hour, day, any interval) so a time-range query touches only
// its buckets and retention drops whole partitions instead of deleting rows one by one.
import { PartitioningError } from '../errors.js';
import { checkInt, checkNumber, type PartitionId, type RangePartitionerLike } from './types.js';

export const TIME_INTERVALS_MS = Object.freeze({ minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 });

export interface TimePartitionerOptions {
  /** Bucket width in ms (or a named interval). */
  readonly intervalMs: number | keyof typeof TIME_INTERVALS_MS;
  /** Start of bucket 0 in ms since the epoch. Default 0 (UTC midnight for day buckets). */
  readonly originMs?: number;
  /** Keep buckets whose end is within this many ms of now; undefined keeps everything. */
  readonly retentionMs?: number;
  /** Most live buckets tracked. Default 1,000,000. */
  readonly bucketsMax?: number;
}

/** Largest timestamp magnitude accepted (Date's own range). */
const TIME_ABS_MAX_MS = 8.64e15;

export class TimePartitioner implements RangePartitionerLike<number> {
  readonly kind = 'time';
  readonly intervalMs: number;
  readonly originMs: number;
  readonly retentionMs: number | undefined;
  readonly bucketsMax: number;
  /** Buckets that have received data and not yet been dropped. */
  private readonly live = new Set<PartitionId>();

  constructor(options: TimePartitionerOptions) {
    const interval = typeof options.intervalMs === 'string' ? TIME_INTERVALS_MS[options.intervalMs] : options.intervalMs;
    if (interval === undefined) throw new PartitioningError('BAD_ARGUMENT', `unknown interval ${String(options.intervalMs)}`);
    this.intervalMs = checkInt(interval, 'intervalMs', 1, TIME_ABS_MAX_MS);
    this.originMs = checkInt(options.originMs ?? 0, 'originMs', -TIME_ABS_MAX_MS, TIME_ABS_MAX_MS);
    this.retentionMs = options.retentionMs === undefined ? undefined : checkNumber(options.retentionMs, 'retentionMs', 0, 2 * TIME_ABS_MAX_MS);
    this.bucketsMax = checkInt(options.bucketsMax ?? 1_000_000, 'bucketsMax', 1, 1e9);
  }

  /** Bucket id of a timestamp (ms). Ids may be negative before the origin. */
  partitionFor(timestampMs: number): PartitionId {
    checkNumber(timestampMs, 'timestampMs', -TIME_ABS_MAX_MS, TIME_ABS_MAX_MS);
    return Math.floor((timestampMs - this.originMs) / this.intervalMs);
  }

  /** Notes that a bucket now holds data (a write landed in it) and returns its id. */
  record(timestampMs: number): PartitionId {
    const id = this.partitionFor(timestampMs);
    if (!this.live.has(id) && this.live.size >= this.bucketsMax) {
      throw new PartitioningError('CAPACITY_EXCEEDED', `more than bucketsMax=${this.bucketsMax} live time buckets`);
    }
    this.live.add(id);
    return id;
  }

  /** Live buckets in time order. */
  partitionIds(): PartitionId[] {
    return [...this.live].sort((a, b) => a - b);
  }

  /** Every bucket id overlapping [fromMs, toMs), whether or not it holds data. */
  partitionsForRange(fromMs: number, toMs?: number): PartitionId[] {
    if (toMs === undefined) return this.partitionIds().filter((id) => id >= this.partitionFor(fromMs));
    if (toMs <= fromMs) return [];
    const first = this.partitionFor(fromMs);
    checkNumber(toMs, 'toMs', -TIME_ABS_MAX_MS, TIME_ABS_MAX_MS);
    // Bucket b overlaps [from, to) when its start is below `to`: b < (to - origin) / interval.
    const last = Math.ceil((toMs - this.originMs) / this.intervalMs) - 1;
    const count = last - first + 1;
    checkInt(count, 'buckets in range', 0, this.bucketsMax);
    return Array.from({ length: count }, (_, i) => first + i);
  }

  /** [startMs, endMs) of a bucket. */
  bucketRange(id: PartitionId): { startMs: number; endMs: number } {
    checkInt(id, 'bucket', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    const startMs = this.originMs + id * this.intervalMs;
    return { startMs, endMs: startMs + this.intervalMs };
  }

  /** True when a bucket lies wholly before the retention horizon at nowMs. */
  isExpired(id: PartitionId, nowMs: number): boolean {
    if (this.retentionMs === undefined) return false;
    return this.bucketRange(id).endMs <= nowMs - this.retentionMs;
  }

  /**
   * Drops every live bucket that lies wholly before the horizon (now - retention) and returns them, oldest
   * first. A bucket that still holds any instant inside the retention window is kept whole.
   */
  applyRetention(nowMs: number): PartitionId[] {
    checkNumber(nowMs, 'nowMs', -TIME_ABS_MAX_MS, TIME_ABS_MAX_MS);
    const dropped = this.partitionIds().filter((id) => this.isExpired(id, nowMs));
    for (const id of dropped) this.live.delete(id);
    return dropped;
  }
}
