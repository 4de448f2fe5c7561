// Large collections on LMDB as chunk records: a header record under the key (type, expiry, generation, layout)
// and chunk records of about a hundred elements each in one shared sub-database, so a write rewrites the chunks
// it touched instead of the whole value (an RPUSH to a 50,000-element list re-encoded all 50,000 elements:
// 181 pushes/s). Which chunks a write touched comes from the value's StoreTrack hints (journal.ts).
//
// Layouts: a list is a run of chunks f..l whose middle chunks are full (listChunkElements); pushes and pops
// change only the end chunks, so an element never moves between chunks. Sets, hashes and sorted sets are spread
// over a power of two of buckets by a hash of the member, rebucketed (rewritten whole) when the average leaves
// [bucketElementsMin, bucketElementsMax]. A stream's entries go to chunk floor(insertion number / 100), the
// node Redis's approximate trims remove whole. A chunked stream's header carries its IDs, counters and groups.
import { strict as assert } from 'node:assert';
import type { Database } from 'lmdb';
import { JournaledMap, JournaledSet } from './journal.js';
import { Deque } from './deque.js';
import { ZSet } from './zset.js';
import { decodeStream, encodeStream, encodeStreamEntries, readStreamEntries, STREAM_NODE_ENTRIES, type Stream, type StreamEntry } from './stream.js';
import type { StoredValue } from './engine.js';
import {
  CHUNKED, CHUNKED_HEADER_BYTES, HEADER_BYTES, TYPE_CODE, bodyNames, collectionTypeOf, decodeHash, decodeStrings, decodeZset, encodeHash, encodeStrings, encodeZset,
  type CollectionType, type StoredRecord,
} from './lmdb-records.js';

export const CHUNK_LIMITS = Object.freeze({
  /** Up to this many elements a collection is one record (Redis keeps up to 128 in one listpack). */
  inlineElementsMax: 128,
  /** A chunked collection becomes one record again only at this size, so one that hovers does not flip. */
  inlineReturnElementsMax: 32,
  listChunkElements: 128,
  bucketElementsMin: 16,
  bucketElementsTarget: 64,
  bucketElementsMax: 128,
  /** Redis's stream-node-max-entries: an approximate trim removes whole chunks. */
  streamChunkEntries: STREAM_NODE_ENTRIES,
});

const ID_OFFSET = 2 ** 52;

/** Where a key's chunks start: the key's length and bytes (a length prefix keeps keys that prefix others apart). */
export function chunkPrefix(kb: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + kb.length);
  out.writeUInt32BE(kb.length, 0);
  kb.copy(out, 4);
  return out;
}

/** A chunk's key: the prefix and the chunk id as 8 order-preserving bytes (list ids can be negative). */
function chunkKey(prefix: Buffer, id: number): Buffer {
  const v = id + ID_OFFSET;
  const out = Buffer.allocUnsafe(prefix.length + 8);
  prefix.copy(out, 0);
  out.writeUInt32BE(Math.floor(v / 2 ** 32), prefix.length);
  out.writeUInt32BE(v % 2 ** 32, prefix.length + 4);
  return out;
}

/** FNV-1a over the member's bytes. */
export function bucketOf(name: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h >>> 0) & (buckets - 1);
}

export function bucketsFor(n: number): number {
  let nb = 2;
  while (nb * CHUNK_LIMITS.bucketElementsTarget < n) nb *= 2;
  return nb;
}

const bucketsFit = (n: number, nb: number): boolean => n <= nb * CHUNK_LIMITS.bucketElementsMax && (nb === 2 || n >= nb * CHUNK_LIMITS.bucketElementsMin);

/** A list's chunks f..l (empty when l < f): the first holds fc elements, the last lc, each one between C. */
export interface ListLayout {
  f: number;
  l: number;
  fc: number;
  lc: number;
}

export function listLayoutOf(length: number): ListLayout {
  const c = CHUNK_LIMITS.listChunkElements;
  if (length === 0) return { f: 0, l: -1, fc: 0, lc: 0 };
  const k = Math.ceil(length / c);
  return { f: 0, l: k - 1, fc: Math.min(c, length), lc: k === 1 ? length : length - (k - 1) * c };
}

export function listLength(L: ListLayout): number {
  if (L.l < L.f) return 0;
  if (L.l === L.f) return L.fc;
  return L.fc + L.lc + (L.l - L.f - 1) * CHUNK_LIMITS.listChunkElements;
}

/** First index and element count of chunk j. */
export function listChunkSpan(L: ListLayout, j: number): [number, number] {
  const c = CHUNK_LIMITS.listChunkElements;
  if (j === L.f) return [0, L.fc];
  return [L.fc + (j - L.f - 1) * c, j === L.l ? L.lc : c];
}

/** Replays a list's hints on its layout, collecting the chunks to rewrite and to remove. */
export function applyListHints(start: ListLayout, hints: readonly unknown[], dirty: Set<number>, removed: Set<number>): ListLayout {
  const c = CHUNK_LIMITS.listChunkElements;
  const L = { ...start };
  const touch = (j: number): void => {
    dirty.add(j);
    removed.delete(j);
  };
  const drop = (j: number): void => {
    dirty.delete(j);
    removed.add(j);
  };
  for (const h of hints) {
    const single = L.f === L.l;
    if (h === '<' || h === '>') {
      const front = h === '<';
      if (L.l < L.f) Object.assign(L, { l: L.f, fc: 1, lc: 1 });
      else if (front && L.fc < c) L.fc = single ? (L.lc = L.fc + 1) : L.fc + 1;
      else if (!front && L.lc < c) L.lc = single ? (L.fc = L.lc + 1) : L.lc + 1;
      else if (front) Object.assign(L, { f: L.f - 1, fc: 1 });
      else Object.assign(L, { l: L.l + 1, lc: 1 });
      touch(front ? L.f : L.l);
    } else if (h === '^' || h === 'v') {
      assert(L.l >= L.f, 'list chunk layout: pop from an empty layout');
      const front = h === '^';
      const count = (front ? L.fc : L.lc) - 1;
      if (single) L.fc = L.lc = count;
      else if (front) L.fc = count;
      else L.lc = count;
      if (count > 0) touch(front ? L.f : L.l);
      else {
        drop(front ? L.f : L.l);
        if (single) Object.assign(L, { l: L.f - 1, fc: 0, lc: 0 });
        else if (front) Object.assign(L, { f: L.f + 1, fc: L.f + 1 === L.l ? L.lc : c });
        else Object.assign(L, { l: L.l - 1, lc: L.l - 1 === L.f ? L.fc : c });
      }
    } else if (typeof h === 'number') {
      touch(h < L.fc ? L.f : L.f + 1 + Math.floor((h - L.fc) / c));
    } else assert.fail(`list chunk layout: unknown hint ${String(h)}`);
  }
  return L;
}

/** What a write needs to know of the record it replaces. */
export interface ChunkedHeader {
  type: CollectionType;
  gen: number;
  buckets: number;
  layout: ListLayout;
}

export function readChunkedHeader(buf: Buffer): ChunkedHeader | undefined {
  const t = buf[0]!;
  if (t <= CHUNKED) return undefined;
  const type = collectionTypeOf(t as 6);
  const gen = buf.readUInt32BE(HEADER_BYTES);
  const at = CHUNKED_HEADER_BYTES;
  const layout = type === 'list' ? { f: buf.readDoubleBE(at), l: buf.readDoubleBE(at + 8), fc: buf.readUInt32BE(at + 16), lc: buf.readUInt32BE(at + 20) } : listLayoutOf(0);
  const buckets = type === 'hash' || type === 'set' || type === 'zset' ? buf.readUInt32BE(at) : 0;
  return { type, gen, buckets, layout };
}

function chunkedHeader(type: CollectionType, expiresAtMs: number, gen: number, layoutBytes: number): Buffer {
  const out = Buffer.allocUnsafe(CHUNKED_HEADER_BYTES + layoutBytes);
  out[0] = TYPE_CODE[type] + CHUNKED;
  out.writeDoubleBE(expiresAtMs, 1);
  out.writeUInt32BE(gen, HEADER_BYTES);
  return out;
}

type Bucketed = Extract<StoredValue, { type: 'hash' | 'set' | 'zset' }>;

/** A bucket's body from the live value: the candidates that are still members. */
function bucketBody(v: Bucketed, names: Iterable<string>): Buffer | undefined {
  if (v.type === 'set') {
    const members = [...names].filter((m) => v.value.has(m));
    return members.length === 0 ? undefined : encodeStrings(members);
  }
  if (v.type === 'hash') {
    const fields: [string, Buffer][] = [];
    for (const f of names) {
      const x = v.value.get(f);
      if (x !== undefined) fields.push([f, x]);
    }
    return fields.length === 0 ? undefined : encodeHash(fields);
  }
  const entries: [string, number][] = [];
  for (const m of names) {
    const s = v.value.score(m);
    if (s !== undefined) entries.push([m, s]);
  }
  return entries.length === 0 ? undefined : encodeZset(entries);
}

const sizeOf = (v: Exclude<StoredValue, { type: 'string' }>): number => (v.type === 'list' || v.type === 'stream' ? v.value.length : v.value.size);
const streamChunk = (n: number): number => Math.floor(n / CHUNK_LIMITS.streamChunkEntries);

/** Reads and writes the chunk records of collections in one sub-database (inside the engine's transactions). */
export class ChunkStore {
  constructor(readonly db: Database<Buffer, Buffer>) {}

  count(): number {
    return this.db.getCount();
  }

  clear(): void {
    this.db.clearSync();
  }

  private *bodies(kb: Buffer): Iterable<Buffer> {
    const prefix = chunkPrefix(kb);
    for (const { value } of this.db.getRange({ start: chunkKey(prefix, -ID_OFFSET), end: chunkKey(prefix, ID_OFFSET) })) yield value;
  }

  /** Removes every chunk of a key. */
  drop(kb: Buffer): void {
    const prefix = chunkPrefix(kb);
    const keys = [...this.db.getKeys({ start: chunkKey(prefix, -ID_OFFSET), end: chunkKey(prefix, ID_OFFSET) })].map((k) => Buffer.from(k));
    for (const k of keys) this.db.removeSync(k);
  }

  private put(prefix: Buffer, id: number, body: Buffer | undefined): void {
    if (body === undefined) this.db.removeSync(chunkKey(prefix, id));
    else this.db.putSync(chunkKey(prefix, id), body);
  }

  /** The value of a chunked record (its header in `r`). */
  read(kb: Buffer, r: StoredRecord): StoredValue {
    const type = collectionTypeOf(r.t);
    if (type === 'stream') {
      const entries: StreamEntry[] = [];
      for (const body of this.bodies(kb)) readStreamEntries(body, 0, -1, entries);
      return { type, value: decodeStream(Buffer.from(r.buf.subarray(CHUNKED_HEADER_BYTES)), entries) };
    }
    if (type === 'hash') {
      const map = new JournaledMap();
      for (const body of this.bodies(kb)) decodeHash(body, map);
      return { type, value: map };
    }
    if (type === 'zset') {
      const z = new ZSet();
      for (const body of this.bodies(kb)) decodeZset(body, z);
      return { type, value: z };
    }
    const items: string[] = [];
    for (const body of this.bodies(kb)) decodeStrings(body, items);
    return type === 'set' ? { type, value: new JournaledSet(items) } : { type, value: new Deque(items) };
  }

  /** Writes a collection's chunks from scratch (the key has none); returns its header record. */
  writeWhole(kb: Buffer, v: Exclude<StoredValue, { type: 'string' }>, expiresAtMs: number, gen: number): Buffer {
    const prefix = chunkPrefix(kb);
    if (v.type === 'list') {
      const L = listLayoutOf(v.value.length);
      for (let j = L.f; j <= L.l; j++) this.putListChunk(prefix, v.value, L, j);
      return listHeader(expiresAtMs, gen, L);
    }
    if (v.type === 'stream') {
      let run: StreamEntry[] = [];
      for (const e of v.value) {
        if (run.length > 0 && streamChunk(run[0]!.n) !== streamChunk(e.n)) {
          this.put(prefix, streamChunk(run[0]!.n), encodeStreamEntries(run));
          run = [];
        }
        run.push(e);
      }
      if (run.length > 0) this.put(prefix, streamChunk(run[0]!.n), encodeStreamEntries(run));
      return streamHeader(expiresAtMs, gen, v.value);
    }
    const nb = bucketsFor(v.value.size);
    const buckets: string[][] = Array.from({ length: nb }, () => []);
    const names: Iterable<string> = v.type === 'hash' ? v.value.keys() : v.value;
    for (const m of names) buckets[bucketOf(m, nb)]!.push(m);
    for (let b = 0; b < nb; b++) if (buckets[b]!.length > 0) this.put(prefix, b, bucketBody(v, buckets[b]!));
    return bucketHeader(v.type, expiresAtMs, gen, nb);
  }

  /**
   * Rewrites only the chunks `hints` name, from the record `old` describes; returns the new header record, or
   * undefined when the layout no longer fits (the caller rewrites the value whole).
   */
  writeChanges(kb: Buffer, v: Exclude<StoredValue, { type: 'string' }>, expiresAtMs: number, old: ChunkedHeader, hints: readonly unknown[]): Buffer | undefined {
    const prefix = chunkPrefix(kb);
    if (v.type === 'list') {
      const dirty = new Set<number>();
      const removed = new Set<number>();
      const L = applyListHints(old.layout, hints, dirty, removed);
      assert.equal(listLength(L), v.value.length, 'list chunk layout out of step with the list');
      for (const j of removed) this.put(prefix, j, undefined);
      for (const j of dirty) this.putListChunk(prefix, v.value, L, j);
      return listHeader(expiresAtMs, old.gen, L);
    }
    if (v.type === 'stream') {
      const dirty = new Set<number>();
      for (const h of hints) {
        if (typeof h === 'number') dirty.add(streamChunk(h));
        else if (Array.isArray(h)) for (let c = streamChunk(h[0] as number); c <= streamChunk((h[1] as number) - 1); c++) dirty.add(c);
      }
      const per = CHUNK_LIMITS.streamChunkEntries;
      for (const c of dirty) {
        const entries = v.value.withOrdinals(c * per, (c + 1) * per);
        this.put(prefix, c, entries.length === 0 ? undefined : encodeStreamEntries(entries));
      }
      return streamHeader(expiresAtMs, old.gen, v.value);
    }
    if (!bucketsFit(v.value.size, old.buckets)) return undefined;
    const touched = new Map<number, Set<string>>();
    for (const h of hints) {
      const b = bucketOf(h as string, old.buckets);
      let names = touched.get(b);
      if (names === undefined) touched.set(b, (names = new Set()));
      names.add(h as string);
    }
    for (const [b, names] of touched) {
      const before = this.db.getBinaryFast(chunkKey(prefix, b));
      if (before !== undefined) for (const n of bodyNames(v.type, before)) names.add(n);
      this.put(prefix, b, bucketBody(v, names));
    }
    return bucketHeader(v.type, expiresAtMs, old.gen, old.buckets);
  }

  private putListChunk(prefix: Buffer, list: Deque<string>, L: ListLayout, j: number): void {
    const [start, count] = listChunkSpan(L, j);
    this.put(prefix, j, encodeStrings(list.slice(start, start + count)));
  }
}

function listHeader(expiresAtMs: number, gen: number, L: ListLayout): Buffer {
  const out = chunkedHeader('list', expiresAtMs, gen, 24);
  out.writeDoubleBE(L.f, CHUNKED_HEADER_BYTES);
  out.writeDoubleBE(L.l, CHUNKED_HEADER_BYTES + 8);
  out.writeUInt32BE(L.fc, CHUNKED_HEADER_BYTES + 16);
  out.writeUInt32BE(L.lc, CHUNKED_HEADER_BYTES + 20);
  return out;
}

function bucketHeader(type: 'hash' | 'set' | 'zset', expiresAtMs: number, gen: number, nb: number): Buffer {
  const out = chunkedHeader(type, expiresAtMs, gen, 4);
  out.writeUInt32BE(nb, CHUNKED_HEADER_BYTES);
  return out;
}

function streamHeader(expiresAtMs: number, gen: number, s: Stream): Buffer {
  return Buffer.concat([chunkedHeader('stream', expiresAtMs, gen, 0), encodeStream(s, [])]);
}

/** Whether a collection of this size is kept as one record (`chunked`: it is in chunks now). */
export function fitsOneRecord(v: Exclude<StoredValue, { type: 'string' }>, chunked: boolean): boolean {
  return sizeOf(v) <= (chunked ? CHUNK_LIMITS.inlineReturnElementsMax : CHUNK_LIMITS.inlineElementsMax);
}
