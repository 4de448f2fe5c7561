// LMDB chunked collections: random edits of lists, sets, hashes, sorted sets and streams, crossing the one-record
// and rebucketing thresholds, each checked against a model from the database itself (not the decoded cache),
// and again after a reopen; plus the list layout's bookkeeping against a plain array.
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbEngine } from '../../src/storage/lmdb.js';
import { Deque } from '../../src/storage/deque.js';
import { ZSet } from '../../src/storage/zset.js';
import { Stream } from '../../src/storage/stream.js';
import { JournaledMap, JournaledSet } from '../../src/storage/journal.js';
import { applyListHints, listChunkSpan, listLayoutOf, listLength, CHUNK_LIMITS } from '../../src/storage/lmdb-chunks.js';
import type { StoredValue } from '../../src/storage/engine.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'atoll-chunks-'));
  dirs.push(d);
  return d;
}
const clock = { nowMs: () => 1_000 };

type Kind = 'list' | 'set' | 'hash' | 'zset' | 'stream';
/** One edit: its kind, an operation code, a count and a seed for the elements it uses. */
interface Edit {
  kind: Kind;
  op: number;
  n: number;
  seed: number;
}

const member = (seed: number, i: number): string => `m${(seed * 31 + i * 7) % 700}`;

/** A plain model of what the five keys hold. */
interface Model {
  list: string[];
  set: Set<string>;
  hash: Map<string, string>;
  zset: Map<string, number>;
  stream: { id: bigint; fields: string[] }[];
  nextId: bigint;
}

function fresh(kind: Kind): StoredValue {
  if (kind === 'list') return { type: 'list', value: new Deque<string>() };
  if (kind === 'set') return { type: 'set', value: new JournaledSet() };
  if (kind === 'hash') return { type: 'hash', value: new JournaledMap() };
  if (kind === 'zset') return { type: 'zset', value: new ZSet() };
  return { type: 'stream', value: new Stream() };
}

function editList(l: Deque<string>, m: string[], { op, n, seed }: Edit): void {
  for (let i = 0; i < n; i++) {
    const x = `e${seed}-${i}`;
    if (op === 0) {
      l.pushBack(x);
      m.push(x);
    } else if (op === 1) {
      l.pushFront(x);
      m.unshift(x);
    } else if (op === 2 && m.length > 0) {
      l.popFront();
      m.shift();
    } else if (op === 3 && m.length > 0) {
      l.popBack();
      m.pop();
    } else if (op === 4 && m.length > 0) {
      const at = (seed + i * 13) % m.length;
      l.set(at, x);
      m[at] = x;
    }
  }
  if (op === 5 && n % 7 === 0) {
    const kept = m.filter((_, i) => i % 3 !== 0);
    l.replace(kept);
    m.splice(0, m.length, ...kept);
  }
}

function editBucketed(v: StoredValue, model: Model, { op, n, seed }: Edit): void {
  for (let i = 0; i < n; i++) {
    const x = member(seed, i);
    const adding = op % 3 !== 2;
    if (v.type === 'set' && adding) v.value.add(x);
    if (v.type === 'set' && !adding) v.value.delete(x);
    if (v.type === 'hash' && adding) v.value.set(x, Buffer.from(`v${seed}`));
    if (v.type === 'hash' && !adding) v.value.delete(x);
    if (v.type === 'zset' && adding) v.value.add(x, seed % 50);
    if (v.type === 'zset' && !adding) v.value.remove(x);
    const models = { set: model.set, hash: model.hash, zset: model.zset } as const;
    if (v.type === 'set') void (adding ? models.set.add(x) : models.set.delete(x));
    if (v.type === 'hash') void (adding ? models.hash.set(x, `v${seed}`) : models.hash.delete(x));
    if (v.type === 'zset') void (adding ? models.zset.set(x, seed % 50) : models.zset.delete(x));
  }
  if (op === 5 && n % 9 === 0 && (v.type === 'set' || v.type === 'hash')) {
    v.value.clear();
    if (v.type === 'set') model.set.clear();
    else model.hash.clear();
  }
}

function editStream(s: Stream, model: Model, { op, n, seed }: Edit): void {
  if (op <= 2) {
    for (let i = 0; i < n; i++) {
      model.nextId += 1n + BigInt(seed % 3);
      s.append(model.nextId, [`f${i}`, `v${seed}`]);
      model.stream.push({ id: model.nextId, fields: [`f${i}`, `v${seed}`] });
    }
  } else if (op === 3) {
    const ids = model.stream.filter((_, i) => (i + seed) % 5 === 0).slice(0, n).map((e) => e.id);
    s.delete(ids);
    model.stream = model.stream.filter((e) => !ids.includes(e.id));
  } else {
    const removed = s.trimFront(() => true, n, op === 5);
    model.stream.splice(0, removed);
  }
}

function apply(e: LmdbEngine, model: Model, edit: Edit): void {
  e.batch(() => {
    const v = e.get(edit.kind) ?? fresh(edit.kind);
    const existed = e.get(edit.kind) !== undefined;
    if (v.type === 'list') editList(v.value, model.list, edit);
    else if (v.type === 'stream') editStream(v.value, model, edit);
    else editBucketed(v, model, edit);
    const size = v.type === 'list' || v.type === 'stream' ? v.value.length : v.type === 'string' ? 1 : v.value.size;
    if (size === 0 && v.type !== 'stream') e.delete(edit.kind);
    else if (existed) e.touched(edit.kind);
    else e.put(edit.kind, v, 0);
  });
}

function expectModel(v: StoredValue | undefined, kind: Kind, model: Model): void {
  if (kind === 'list') return void expect(v === undefined ? [] : [...(v.value as Deque<string>)]).toEqual(model.list);
  if (kind === 'set') return void expect(v === undefined ? [] : [...(v.value as Set<string>)].sort()).toEqual([...model.set].sort());
  if (kind === 'hash') {
    const got = v === undefined ? [] : [...(v.value as Map<string, Buffer>)].map(([f, x]) => [f, x.toString()]);
    return void expect(got.sort()).toEqual([...model.hash].sort());
  }
  if (kind === 'zset') return void expect(v === undefined ? [] : [...(v.value as ZSet).entries()].sort()).toEqual([...model.zset].sort());
  const s = v?.value as Stream | undefined;
  expect(s === undefined ? [] : [...s].map((x) => ({ id: x.id, fields: [...x.fields] }))).toEqual(model.stream);
  if (s !== undefined) expect(s.lastId).toBe(model.nextId);
}

const edits = fc.array(
  fc.record({ kind: fc.constantFrom<Kind>('list', 'set', 'hash', 'zset', 'stream'), op: fc.integer({ min: 0, max: 5 }), n: fc.noBias(fc.integer({ min: 1, max: 160 })), seed: fc.nat(10_000) }),
  { minLength: 10, maxLength: 80, size: 'max' },
);

describe('LMDB chunked collections', () => {
  it('every edit leaves the database equal to the model, read back from disk and after a reopen', async () => {
    await fc.assert(
      fc.asyncProperty(edits, async (list) => {
        const dir = tempDir();
        let e = new LmdbEngine({ path: dir, clock, durability: 'none' });
        const model: Model = { list: [], set: new Set(), hash: new Map(), zset: new Map(), stream: [], nextId: 0n };
        for (const [i, edit] of list.entries()) {
          apply(e, model, edit);
          // peek outside a batch decodes the records, not the cached object the edit changed.
          expectModel(e.peek(edit.kind), edit.kind, model);
          if (i % 20 === 19) {
            await e.close();
            e = new LmdbEngine({ path: dir, clock, durability: 'none' });
          }
        }
        for (const kind of ['list', 'set', 'hash', 'zset', 'stream'] as const) expectModel(e.peek(kind), kind, model);
        await e.close();
      }),
      { numRuns: 30 },
    );
  }, 120_000);

  it('a large collection is written a chunk at a time: one push rewrites one list chunk', async () => {
    const e = new LmdbEngine({ path: tempDir(), clock, durability: 'none' });
    e.put('l', { type: 'list', value: new Deque(Array.from({ length: 10_000 }, (_, i) => `x${i}`)) }, 0);
    const before = e.stats().usedBytes;
    for (let i = 0; i < 50; i++) {
      e.batch(() => {
        (e.get('l')!.value as Deque<string>).pushBack(`y${i}`);
        e.touched('l');
      });
    }
    expect((e.peek('l')!.value as Deque<string>).length).toBe(10_050);
    // Rewriting the whole record would have grown the file by copies of the 10,000 elements; chunks do not.
    expect(e.stats().usedBytes - before).toBeLessThan(64 * 1024);
    await e.close();
  });

  it('a chunked key replaced, deleted or expired leaves no chunk behind to mix into its next value', async () => {
    let now = 1_000;
    const e = new LmdbEngine({ path: tempDir(), clock: { nowMs: () => now }, durability: 'none' });
    const big = (tag: string, n: number): StoredValue => ({ type: 'list', value: new Deque(Array.from({ length: n }, (_, i) => `${tag}${i}`)) });
    const elements = (key: string): string[] => [...(e.peek(key)!.value as Deque<string>)];
    e.put('k', big('a', 1_000), 0);
    e.put('k', { type: 'string', value: Buffer.from('s') }, 0);
    e.put('k', big('b', 300), 0);
    expect(elements('k')).toEqual(Array.from({ length: 300 }, (_, i) => `b${i}`));
    e.delete('k');
    e.put('k', big('c', 200), now + 10);
    now += 20;
    expect(e.activeExpire()).toBe(1);
    e.put('k', big('d', 150), 0);
    expect(elements('k')).toEqual(Array.from({ length: 150 }, (_, i) => `d${i}`));
    // A set under the same key name after a list: its buckets are the key's only chunks.
    e.delete('k');
    e.put('k', { type: 'set', value: new JournaledSet(Array.from({ length: 500 }, (_, i) => `s${i}`)) }, 0);
    expect((e.peek('k')!.value as Set<string>).size).toBe(500);
    await e.close();
  });

  it('reads data directories of either layout and moves a collection between them at its next write', async () => {
    const dir = tempDir();
    const list = (e: LmdbEngine): string[] => [...(e.peek('l')!.value as Deque<string>)];
    const push = (e: LmdbEngine, x: string): void =>
      e.batch(() => {
        (e.get('l')!.value as Deque<string>).pushBack(x);
        e.touched('l');
      });
    const want = Array.from({ length: 500 }, (_, i) => `x${i}`);
    // Written as one record (the layout before chunks), read and extended with chunks on, then off again.
    for (const chunks of [false, true, false, true]) {
      const e = new LmdbEngine({ path: dir, clock, durability: 'none', chunks });
      if (e.peek('l') === undefined) e.put('l', { type: 'list', value: new Deque(want.slice()) }, 0);
      expect(list(e)).toEqual(want);
      push(e, `p${String(chunks)}${want.length}`);
      want.push(`p${String(chunks)}${want.length}`);
      expect(list(e)).toEqual(want);
      await e.close();
    }
  });

  it('the list layout keeps middle chunks full whatever the pushes and pops', () => {
    fc.assert(
      fc.property(fc.nat(600), fc.array(fc.oneof(fc.constantFrom('<', '>', '^', 'v'), fc.nat(2000)), { maxLength: 400 }), (start, hints) => {
        let length = start;
        const valid: unknown[] = [];
        for (const h of hints) {
          if ((h === '^' || h === 'v') && length === 0) continue;
          if (typeof h === 'number' && h >= length) continue;
          valid.push(h);
          if (h === '<' || h === '>') length++;
          if (h === '^' || h === 'v') length--;
        }
        const dirty = new Set<number>();
        const removed = new Set<number>();
        const L = applyListHints(listLayoutOf(start), valid, dirty, removed);
        expect(listLength(L)).toBe(length);
        let at = 0;
        for (let j = L.f; j <= L.l; j++) {
          const [first, count] = listChunkSpan(L, j);
          expect(first).toBe(at);
          expect(count).toBeGreaterThan(0);
          expect(count).toBeLessThanOrEqual(CHUNK_LIMITS.listChunkElements);
          if (j !== L.f && j !== L.l) expect(count).toBe(CHUNK_LIMITS.listChunkElements);
          at += count;
        }
        for (const j of dirty) expect(j >= L.f && j <= L.l).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
