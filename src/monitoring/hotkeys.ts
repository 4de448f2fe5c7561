// Top-K hot keys by the Space-Saving algorithm (Metwally et al.): k counters, any key with more than
// N/k of the traffic is guaranteed to be held, and each count overestimates by at most the recorded error.
// Two windows (current and previous) make the answer recent without unbounded memory.
import { strict as assert } from 'node:assert';

export const HOTKEY_LIMITS = Object.freeze({ capacityMax: 4_096, keyBytesMax: 256 });

interface Counter {
  key: string;
  count: number;
  /** Upper bound of how much of `count` belongs to keys this counter held before. */
  error: number;
  /** Position in the min-heap. */
  at: number;
}

export class SpaceSaving {
  private readonly counters = new Map<string, Counter>();
  /** Min-heap by count: the counter to replace is always at the root, found in O(1), fixed in O(log k). */
  private readonly heap: Counter[] = [];
  total = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0 && capacity <= HOTKEY_LIMITS.capacityMax);
  }

  offer(key: string, n = 1): void {
    this.total += n;
    const c = this.counters.get(key);
    if (c !== undefined) {
      c.count += n;
      this.down(c.at);
      return;
    }
    if (this.heap.length < this.capacity) {
      const fresh: Counter = { key, count: n, error: 0, at: this.heap.length };
      this.heap.push(fresh);
      this.counters.set(key, fresh);
      this.up(fresh.at);
      return;
    }
    // Replace the smallest counter: the newcomer inherits its count as possible error.
    const min = this.heap[0]!;
    this.counters.delete(min.key);
    min.key = key;
    min.error = min.count;
    min.count += n;
    this.counters.set(key, min);
    this.down(0);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.count <= h[i]!.count) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < h.length && h[l]!.count < h[least]!.count) least = l;
      if (r < h.length && h[r]!.count < h[least]!.count) least = r;
      if (least === i) return;
      this.swap(i, least);
      i = least;
    }
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    const a = h[i]!;
    const b = h[j]!;
    h[i] = b;
    h[j] = a;
    a.at = j;
    b.at = i;
  }

  entries(): { key: string; count: number; error: number }[] {
    return this.heap.map((c) => ({ key: c.key, count: c.count, error: c.error }));
  }

  clear(): void {
    this.counters.clear();
    this.heap.length = 0;
    this.total = 0;
  }
}

export interface HotKey {
  readonly key: string;
  /** Estimated sampled hits over the window (an overestimate by at most `error`). */
  readonly count: number;
  readonly error: number;
  /** Guaranteed share: (count - error) / all sampled hits in the window, so uniform traffic never looks hot. */
  readonly share: number;
}

/** Space-Saving over two rotating windows; `top` merges both. */
export class HotKeyTracker {
  private current: SpaceSaving;
  private previous: SpaceSaving;

  constructor(capacity: number) {
    this.current = new SpaceSaving(capacity);
    this.previous = new SpaceSaving(capacity);
  }

  offer(key: string): void {
    this.current.offer(key.length > HOTKEY_LIMITS.keyBytesMax ? key.slice(0, HOTKEY_LIMITS.keyBytesMax) : key);
  }

  rotate(): void {
    const old = this.previous;
    old.clear();
    this.previous = this.current;
    this.current = old;
  }

  /** Sampled hits in the window. */
  get total(): number {
    return this.current.total + this.previous.total;
  }

  top(count: number): HotKey[] {
    const merged = new Map<string, { count: number; error: number }>();
    for (const s of [this.previous, this.current]) {
      for (const e of s.entries()) {
        const m = merged.get(e.key);
        if (m === undefined) merged.set(e.key, { count: e.count, error: e.error });
        else {
          m.count += e.count;
          m.error += e.error;
        }
      }
    }
    const total = this.total;
    return [...merged]
      .map(([key, m]) => ({ key, count: m.count, error: m.error, share: total === 0 ? 0 : (m.count - m.error) / total }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1))
      .slice(0, count);
  }
}
