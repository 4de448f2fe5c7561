// A list value: a double-ended queue of latin1 element strings in chunks of up to 64, as Redis keeps a list in a
// quicklist of listpacks. The two end chunks are arrays (pushes and pops at either end cost O(1)); every chunk
// between them is full and sealed into one packed string (src/storage/packed.ts): about 12 bytes an element
// with 10-byte elements, where a string object per element took 60. Full middle chunks let an index read find
// its chunk by arithmetic, then walk at most 64 lengths inside it (Redis walks its listpack too). Inserts and
// removals in the middle rebuild the list, O(n), as Redis's are O(n).
import { strict as assert } from 'node:assert';
import { dropHints, journal, storeHint, type StoreTrack, type StoreTracked } from './journal.js';
import { Ring } from './ring.js';
import { nthPacked, packStrings, unpackStrings, walkPacked } from './packed.js';

export const LIST_LIMITS = Object.freeze({
  /** Elements per chunk (Redis's list-max-listpack-size default, -2, holds about this many small elements). */
  chunkElements: 64,
});

interface Sealed {
  readonly packed: string;
  readonly n: number;
}
type Chunk = string[] | Sealed;

const C = LIST_LIMITS.chunkElements;
const countOf = (c: Chunk): number => (Array.isArray(c) ? c.length : (c as Sealed).n);
const opened = (c: Chunk): string[] => (Array.isArray(c) ? c : unpackStrings((c as Sealed).packed));
const sealed = (c: Chunk): Chunk => (Array.isArray(c) ? { packed: packStrings(c), n: c.length } : c);

/** An element's bytes for the journal's limits. */
const weight = (v: string): number => v.length;

export class Deque<T extends string = string> implements Iterable<T>, StoreTracked {
  /** LMDB's chunk tracking (journal.ts): hints are '<', '>', '^', 'v' for the ends and an index for a set. */
  storeTrack: StoreTrack | undefined;
  private readonly chunks = new Ring<Chunk>();
  private size = 0;

  constructor(items: Iterable<T> = []) {
    for (const x of items) this.appendBack(x);
    journal.created(this);
  }

  get length(): number {
    return this.size;
  }

  /** Length and both ends: what a replication delta checks the copy against (journal.ts). */
  journalFingerprint(): unknown[] {
    return [this.size, this.size === 0 ? null : this.at(0), this.size === 0 ? null : this.at(this.size - 1)];
  }

  /** Chunk j as an array, stored back open when it is an end chunk (an end chunk is edited in place). */
  private endChunk(j: number): string[] {
    const c = this.chunks.at(j)!;
    if (Array.isArray(c)) return c;
    const arr = opened(c);
    this.chunks.set(j, arr);
    return arr;
  }

  private appendBack(value: string): void {
    const n = this.chunks.length;
    if (n === 0 || countOf(this.chunks.at(n - 1)!) >= C) {
      this.chunks.pushBack([value]);
      // The old last chunk is now between two others: sealed.
      if (n >= 2) this.chunks.set(n - 1, sealed(this.chunks.at(n - 1)!));
    } else this.endChunk(n - 1).push(value);
    this.size++;
  }

  private appendFront(value: string): void {
    const n = this.chunks.length;
    if (n === 0 || countOf(this.chunks.at(0)!) >= C) {
      this.chunks.pushFront([value]);
      if (n >= 2) this.chunks.set(1, sealed(this.chunks.at(1)!));
    } else this.endChunk(0).unshift(value);
    this.size++;
  }

  /** Chunk and offset of element i: the first chunk holds 1..C, every later one but the last exactly C. */
  private locate(i: number): [number, number] {
    const first = countOf(this.chunks.at(0)!);
    if (i < first) return [0, i];
    return [1 + Math.floor((i - first) / C), (i - first) % C];
  }

  /** The element at `i` (0 is the head), undefined outside 0..length-1. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.size) return undefined;
    const [j, off] = this.locate(i);
    const c = this.chunks.at(j)!;
    return (Array.isArray(c) ? c[off] : nthPacked((c as Sealed).packed, off)) as T;
  }

  set(i: number, value: T): void {
    assert(i >= 0 && i < this.size, `deque index ${i} out of 0..${this.size - 1}`);
    if (journal.armed) journal.record(this, this.size, ['=', i, value], weight(value));
    storeHint(this.storeTrack, i);
    const [j, off] = this.locate(i);
    const arr = opened(this.chunks.at(j)!);
    arr[off] = value;
    this.chunks.set(j, j === 0 || j === this.chunks.length - 1 ? arr : sealed(arr));
  }

  pushBack(value: T): void {
    if (journal.armed) journal.record(this, this.size, ['>', value], weight(value));
    storeHint(this.storeTrack, '>');
    this.appendBack(value);
  }

  pushFront(value: T): void {
    if (journal.armed) journal.record(this, this.size, ['<', value], weight(value));
    storeHint(this.storeTrack, '<');
    this.appendFront(value);
  }

  popFront(): T | undefined {
    if (this.size === 0) return undefined;
    if (journal.armed) journal.record(this, this.size, ['^'], 0);
    storeHint(this.storeTrack, '^');
    const arr = this.endChunk(0);
    const v = arr.shift();
    if (arr.length === 0) this.chunks.popFront();
    this.size--;
    return v as T;
  }

  popBack(): T | undefined {
    if (this.size === 0) return undefined;
    if (journal.armed) journal.record(this, this.size, ['v'], 0);
    storeHint(this.storeTrack, 'v');
    const arr = this.endChunk(this.chunks.length - 1);
    const v = arr.pop();
    if (arr.length === 0) this.chunks.popBack();
    this.size--;
    return v as T;
  }

  /** Elements start..end-1 as an array (clamped). */
  slice(start = 0, end = this.size): T[] {
    const out: T[] = [];
    this.visit(start, end, (s, from, length) => void out.push((from === 0 && length === s.length ? s : s.slice(from, from + length)) as T));
    return out;
  }

  /**
   * Calls `each(s, from, length)` for elements start..end-1 (clamped), in order: the element is
   * s[from, from + length), a range of a sealed chunk's string or a whole element string, so a reply can be
   * written without a string made per element.
   */
  visit(start: number, end: number, each: (s: string, from: number, length: number) => void): void {
    const from = Math.max(0, start);
    let left = Math.min(end, this.size) - from;
    if (left <= 0) return;
    let [j, off] = this.locate(from);
    for (; left > 0; j++, off = 0) {
      const c = this.chunks.at(j)!;
      if (Array.isArray(c)) {
        for (let k = off; k < c.length && left > 0; k++, left--) each(c[k]!, 0, c[k]!.length);
        continue;
      }
      const packed = (c as Sealed).packed;
      walkPacked(packed, (at, length) => {
        each(packed, at, length);
        return --left > 0;
      }, off);
    }
  }

  /** Replaces the whole content (in place: the deque object stays the same). */
  replace(items: Iterable<T>): void {
    const all = [...items];
    if (journal.armed) journal.record(this, this.size, ['R', all], all.reduce((n, x) => n + weight(x), 0));
    // Not a change of a few chunks: the next write of this list to LMDB rewrites it whole.
    dropHints(this.storeTrack);
    this.chunks.clear();
    this.size = 0;
    for (const x of all) this.appendBack(x);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const c of this.chunks) for (const x of opened(c)) yield x as T;
  }
}
