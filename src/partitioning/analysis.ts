// Analysis helpers: load per node, balance figures (max/mean, coefficient of variation) and keys moved by
// a change. Used by tests, `atoll ring`, the benchmarks and the dashboard.
import type { KeyInput } from './hash.js';
import type { NodeId } from './types.js';

export interface LoadStats {
  readonly count: number;
  readonly total: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  /** max / mean: 1 is perfect balance. */
  readonly maxOverMean: number;
  /** Standard deviation / mean. */
  readonly cv: number;
}

/** Balance figures of a list of loads (or of a map's values). */
export function loadStats(loads: Iterable<number>): LoadStats {
  const values = [...loads];
  const count = values.length;
  const total = values.reduce((a, b) => a + b, 0);
  const mean = count === 0 ? 0 : total / count;
  const variance = count === 0 ? 0 : values.reduce((s, v) => s + (v - mean) ** 2, 0) / count;
  const max = count === 0 ? 0 : Math.max(...values);
  const min = count === 0 ? 0 : Math.min(...values);
  return { count, total, min, max, mean, maxOverMean: mean === 0 ? 0 : max / mean, cv: mean === 0 ? 0 : Math.sqrt(variance) / mean };
}

/** Keys per node for a locator over the given keys; every node appears, with 0 when it got nothing. */
export function distribution(
  locate: (key: KeyInput) => NodeId,
  keys: Iterable<KeyInput>,
  nodeIds: readonly NodeId[] = [],
): Map<NodeId, number> {
  const counts = new Map<NodeId, number>(nodeIds.map((id) => [id, 0]));
  for (const key of keys) {
    const node = locate(key);
    counts.set(node, (counts.get(node) ?? 0) + 1);
  }
  return counts;
}

/** Owners of each key, in key order, for comparing before and after a change. */
export function owners(locate: (key: KeyInput) => NodeId, keys: readonly KeyInput[]): NodeId[] {
  return keys.map((k) => locate(k));
}

/** Fraction of keys whose owner differs between two owner lists of the same keys. */
export function movedFraction(before: readonly NodeId[], after: readonly NodeId[]): number {
  if (before.length !== after.length) throw new RangeError('owner lists must cover the same keys');
  if (before.length === 0) return 0;
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved++;
  return moved / before.length;
}

/** Deterministic sample keys `prefix0`, `prefix1`, ... */
export function sampleKeys(count: number, prefix = 'key:'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}
