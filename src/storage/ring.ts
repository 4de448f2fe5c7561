// A growable ring buffer: pushes and pops at either end in O(1), index reads in O(1). The list value
// (src/storage/deque.ts) keeps its chunks in one (an array's unshift would move every chunk per new front chunk).
import { strict as assert } from 'node:assert';

export class Ring<T> implements Iterable<T> {
  private buf: (T | undefined)[] = new Array<T | undefined>(8);
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.buf.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.buf[(this.head + i) & (this.buf.length - 1)];
    this.buf = next;
    this.head = 0;
  }

  /** The item at `i` (0 is the head), undefined outside 0..length-1. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.size) return undefined;
    return this.buf[(this.head + i) & (this.buf.length - 1)];
  }

  set(i: number, value: T): void {
    assert(i >= 0 && i < this.size, `ring index ${i} out of 0..${this.size - 1}`);
    this.buf[(this.head + i) & (this.buf.length - 1)] = value;
  }

  pushBack(value: T): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) & (this.buf.length - 1)] = value;
    this.size++;
  }

  pushFront(value: T): void {
    if (this.size === this.buf.length) this.grow();
    this.head = (this.head - 1) & (this.buf.length - 1);
    this.buf[this.head] = value;
    this.size++;
  }

  popFront(): T | undefined {
    if (this.size === 0) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.size--;
    return v;
  }

  popBack(): T | undefined {
    if (this.size === 0) return undefined;
    const at = (this.head + this.size - 1) & (this.buf.length - 1);
    const v = this.buf[at];
    this.buf[at] = undefined;
    this.size--;
    return v;
  }

  clear(): void {
    this.buf = new Array<T | undefined>(8);
    this.head = 0;
    this.size = 0;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.size; i++) yield this.buf[(this.head + i) & (this.buf.length - 1)]!;
  }
}
