// A double-ended queue for list values: a growable ring buffer, so pushes and pops at either end cost O(1)
// (an array's unshift moves every element: an LPUSH queue of a million elements would cost a million moves
// per push). Index reads are O(1); inserts and removals in the middle rebuild, O(n), as Redis's are O(n).
import { strict as assert } from 'node:assert';
import { journal, storeHint, type StoreTrack, type StoreTracked } from './journal.js';

/** An element's bytes for the journal's limits (list elements are strings). */
const weight = (v: unknown): number => (typeof v === 'string' ? v.length : 8);

export class Deque<T> implements Iterable<T>, StoreTracked {
  /** LMDB's chunk tracking (journal.ts): hints are '<', '>', '^', 'v' for the ends and an index for a set. */
  storeTrack: StoreTrack | undefined;
  private buf: (T | undefined)[];
  private head = 0;
  private size = 0;

  constructor(items: Iterable<T> = []) {
    this.buf = new Array<T | undefined>(8);
    for (const x of items) this.pushBack(x);
    journal.created(this);
  }

  get length(): number {
    return this.size;
  }

  /** Length and both ends: what a replication delta checks the copy against (journal.ts). */
  journalFingerprint(): unknown[] {
    return [this.size, this.size === 0 ? null : this.at(0), this.size === 0 ? null : this.at(this.size - 1)];
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.buf.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.buf[(this.head + i) & (this.buf.length - 1)];
    this.buf = next;
    this.head = 0;
  }

  /** The element at `i` (0 is the head), undefined outside 0..length-1. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.size) return undefined;
    return this.buf[(this.head + i) & (this.buf.length - 1)];
  }

  set(i: number, value: T): void {
    assert(i >= 0 && i < this.size, `deque index ${i} out of 0..${this.size - 1}`);
    if (journal.armed) journal.record(this, this.size, ['=', i, value], weight(value));
    if (this.storeTrack !== undefined) storeHint(this.storeTrack, i);
    this.buf[(this.head + i) & (this.buf.length - 1)] = value;
  }

  pushBack(value: T): void {
    if (journal.armed) journal.record(this, this.size, ['>', value], weight(value));
    if (this.storeTrack !== undefined) storeHint(this.storeTrack, '>');
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) & (this.buf.length - 1)] = value;
    this.size++;
  }

  pushFront(value: T): void {
    if (journal.armed) journal.record(this, this.size, ['<', value], weight(value));
    if (this.storeTrack !== undefined) storeHint(this.storeTrack, '<');
    if (this.size === this.buf.length) this.grow();
    this.head = (this.head - 1) & (this.buf.length - 1);
    this.buf[this.head] = value;
    this.size++;
  }

  popFront(): T | undefined {
    if (this.size === 0) return undefined;
    if (journal.armed) journal.record(this, this.size, ['^'], 0);
    if (this.storeTrack !== undefined) storeHint(this.storeTrack, '^');
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.size--;
    return v;
  }

  popBack(): T | undefined {
    if (this.size === 0) return undefined;
    if (journal.armed) journal.record(this, this.size, ['v'], 0);
    if (this.storeTrack !== undefined) storeHint(this.storeTrack, 'v');
    const at = (this.head + this.size - 1) & (this.buf.length - 1);
    const v = this.buf[at];
    this.buf[at] = undefined;
    this.size--;
    return v;
  }

  /** Elements start..end-1 as an array (clamped). */
  slice(start = 0, end = this.size): T[] {
    const out: T[] = [];
    for (let i = Math.max(0, start); i < Math.min(end, this.size); i++) out.push(this.at(i)!);
    return out;
  }

  /** Replaces the whole content (in place: the deque object stays the same). */
  replace(items: Iterable<T>): void {
    const all = [...items];
    if (journal.armed) journal.record(this, this.size, ['R', all], all.reduce((n, x) => n + weight(x), 0));
    if (this.storeTrack !== undefined) this.storeTrack.hints = null;
    const track = this.storeTrack;
    this.storeTrack = undefined;
    this.buf = new Array<T | undefined>(8);
    this.head = 0;
    this.size = 0;
    // The pushes below are part of the replacement just recorded.
    journal.quietly(() => {
      for (const x of all) this.pushBack(x);
    });
    this.storeTrack = track;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.size; i++) yield this.buf[(this.head + i) & (this.buf.length - 1)]!;
  }
}
