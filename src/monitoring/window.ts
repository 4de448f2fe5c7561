// Sliding-window counters with bounded memory: a ring of per-second buckets rotated by the caller's tick,
// so recording is one array increment (no clock read, no list to trim as in the seed's monitor).
import { strict as assert } from 'node:assert';

export const WINDOW_LIMITS = Object.freeze({ bucketsMax: 3_600, seriesMax: 1 << 16 });

/** `series` counters (e.g. one per partition) over the last `buckets` ticks. */
export class WindowedCounters {
  private readonly counts: Uint32Array;
  private current = 0;
  private filled = 1;

  constructor(
    readonly series: number,
    readonly buckets: number,
  ) {
    assert(Number.isInteger(series) && series > 0 && series <= WINDOW_LIMITS.seriesMax, `series out of range: ${series}`);
    assert(Number.isInteger(buckets) && buckets > 1 && buckets <= WINDOW_LIMITS.bucketsMax, `buckets out of range: ${buckets}`);
    this.counts = new Uint32Array(series * buckets);
  }

  add(index: number, n = 1): void {
    this.counts[this.current * this.series + index]! += n;
  }

  /** Starts a new bucket, forgetting the oldest. */
  rotate(): void {
    this.current = (this.current + 1) % this.buckets;
    this.counts.fill(0, this.current * this.series, (this.current + 1) * this.series);
    if (this.filled < this.buckets) this.filled++;
  }

  /**
   * Totals over the completed buckets (the current, partial one is left out so a rate is not biased low),
   * with how many buckets they span.
   */
  totals(): { sums: Float64Array; buckets: number } {
    const sums = new Float64Array(this.series);
    const complete = this.filled - 1;
    for (let k = 1; k <= complete; k++) {
      const b = (this.current - k + this.buckets) % this.buckets;
      const base = b * this.series;
      for (let i = 0; i < this.series; i++) sums[i]! += this.counts[base + i]!;
    }
    return { sums, buckets: complete };
  }
}

/** Log-scale latency bins: 1 us .. ~16 s, 8 bins per power of two (<10% relative error). */
const BIN_PER_OCTAVE = 8;
const LATENCY_BINS = 24 * BIN_PER_OCTAVE;

export function latencyBin(seconds: number): number {
  const us = seconds * 1e6;
  if (!(us > 1)) return 0;
  return Math.min(LATENCY_BINS - 1, Math.floor(Math.log2(us) * BIN_PER_OCTAVE));
}

/** Upper edge of a bin, in milliseconds. */
export function latencyBinUpperMs(bin: number): number {
  return 2 ** ((bin + 1) / BIN_PER_OCTAVE) / 1000;
}

/** A latency histogram over a sliding window, for p50/p99 per node. */
export class WindowedLatency {
  private readonly bins: WindowedCounters;

  constructor(buckets: number) {
    this.bins = new WindowedCounters(LATENCY_BINS, buckets);
  }

  observe(seconds: number): void {
    this.bins.add(latencyBin(seconds));
  }

  rotate(): void {
    this.bins.rotate();
  }

  /** The q-quantile in ms over the window, or undefined with no samples. */
  quantileMs(q: number): number | undefined {
    const { sums } = this.bins.totals();
    let total = 0;
    for (const c of sums) total += c;
    if (total === 0) return undefined;
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (let b = 0; b < sums.length; b++) {
      seen += sums[b]!;
      if (seen >= rank) return latencyBinUpperMs(b);
    }
    return latencyBinUpperMs(sums.length - 1);
  }
}

/** The last `length` values of a figure sampled once per tick (for live charts). */
export class Series<T = number> {
  private readonly values: T[] = [];

  constructor(readonly length: number) {
    assert(length > 0 && length <= WINDOW_LIMITS.bucketsMax);
  }

  push(v: T): void {
    this.values.push(v);
    if (this.values.length > this.length) this.values.shift();
  }

  toArray(): T[] {
    return [...this.values];
  }
}
