// LMDB record layouts: the one-record form of every value (strings, and collections of up to
// CHUNK_LIMITS.inlineElementsMax elements), the header record of a collection kept in chunks, and the chunks'
// bodies. Binary and hand-laid (no general-purpose encoder on the hot path).
import { strict as assert } from 'node:assert';
import { JournaledMap, JournaledSet } from './journal.js';
import { Deque } from './deque.js';
import { ZSet } from './zset.js';
import { decodeStream, encodeStream } from './stream.js';
import type { StoredValue } from './engine.js';

/**
 * Record layout:
 *   byte 0      type: 0 string, 1 hash, 2 set, 3 list, 4 zset, 5 stream; 6-10 the same collections kept in chunks
 *   bytes 1-8   expiry, ms since the epoch as a big-endian float64; 0 = none
 *   string:     the value's bytes
 *   hash:       repeated [u32 field length][field bytes][u32 value length][value bytes]
 *   set:        repeated [u32 member length][member bytes]
 *   list:       the same layout as a set, elements in list order
 *   zset:       repeated [u32 member length][member bytes][float64 BE score], in score order
 *   stream:     encodeStream's bytes (src/storage/stream.ts)
 *   chunked:    bytes 9-12 the chunks' generation (u32), then the layout (src/storage/lmdb-chunks.ts); a chunk's
 *               body has the one-record layout of its type without the header
 * The fixed header lets a write learn the old expiry without decoding the old value.
 */
export const HEADER_BYTES = 9;
/** A chunked collection's type code is its one-record code plus this. */
export const CHUNKED = 5;
/** Header bytes of a chunked record before its layout: type, expiry, generation. */
export const CHUNKED_HEADER_BYTES = 13;

export type RecordType = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
export type CollectionType = 'hash' | 'set' | 'list' | 'zset' | 'stream';

export interface StoredRecord {
  t: RecordType;
  /** Expiry (ms since the epoch), 0 none. */
  x: number;
  buf: Buffer;
}

export const TYPE_CODE: Readonly<Record<CollectionType, 1 | 2 | 3 | 4 | 5>> = { hash: 1, set: 2, list: 3, zset: 4, stream: 5 };
const TYPE_OF: readonly CollectionType[] = ['hash', 'hash', 'set', 'list', 'zset', 'stream'];

/** The collection type a (one-record or chunked) code stands for. */
export const collectionTypeOf = (t: RecordType): CollectionType => TYPE_OF[t > CHUNKED ? t - CHUNKED : t]!;

export function readRecord(buf: Buffer): StoredRecord {
  const t = buf[0]!;
  assert(Number.isInteger(t) && t <= 10, `unknown LMDB record type ${String(t)}`);
  return { t: t as RecordType, x: buf.readDoubleBE(1), buf };
}

export function header(t: number, expiresAtMs: number, extra = 0): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + extra);
  out[0] = t;
  out.writeDoubleBE(expiresAtMs, 1);
  return out;
}

/** Length-prefixed latin1 strings (set members, list elements) after `skip` bytes left for a header. */
export function encodeStrings(members: Iterable<string>, skip = 0): Buffer {
  let size = skip;
  for (const m of members) size += 4 + m.length;
  const out = Buffer.allocUnsafe(size);
  let at = skip;
  for (const m of members) {
    out.writeUInt32BE(m.length, at);
    at += 4 + out.write(m, at + 4, 'latin1');
  }
  return out;
}

export function decodeStrings(body: Buffer, out: string[] = []): string[] {
  for (let at = 0; at < body.length; ) {
    const ml = body.readUInt32BE(at);
    out.push(body.toString('latin1', at + 4, at + 4 + ml));
    at += 4 + ml;
  }
  return out;
}

export function encodeHash(fields: Iterable<readonly [string, Buffer]>, skip = 0): Buffer {
  let size = skip;
  for (const [f, v] of fields) size += 8 + f.length + v.length;
  const out = Buffer.allocUnsafe(size);
  let at = skip;
  for (const [f, v] of fields) {
    out.writeUInt32BE(f.length, at);
    at += 4 + out.write(f, at + 4, 'latin1');
    out.writeUInt32BE(v.length, at);
    v.copy(out, at + 4);
    at += 4 + v.length;
  }
  return out;
}

export function decodeHash(body: Buffer, into: Map<string, Buffer>): void {
  for (let at = 0; at < body.length; ) {
    const fl = body.readUInt32BE(at);
    const f = body.toString('latin1', at + 4, at + 4 + fl);
    at += 4 + fl;
    const vl = body.readUInt32BE(at);
    into.set(f, Buffer.from(body.subarray(at + 4, at + 4 + vl)));
    at += 4 + vl;
  }
}

/** `entries` is walked twice (sizing, then writing): an iterable, not a one-shot iterator. */
export function encodeZset(entries: Iterable<readonly [string, number]>, skip = 0): Buffer {
  let size = skip;
  for (const [m] of entries) size += 12 + m.length;
  const out = Buffer.allocUnsafe(size);
  let at = skip;
  for (const [m, s] of entries) {
    out.writeUInt32BE(m.length, at);
    at += 4 + out.write(m, at + 4, 'latin1');
    out.writeDoubleBE(s, at);
    at += 8;
  }
  return out;
}

export function decodeZset(body: Buffer, into: ZSet): void {
  for (let at = 0; at < body.length; ) {
    const ml = body.readUInt32BE(at);
    const m = body.toString('latin1', at + 4, at + 4 + ml);
    at += 4 + ml;
    into.add(m, body.readDoubleBE(at));
    at += 8;
  }
}

/** Member names (or hash fields) of a set, hash or zset body, values skipped: what a bucket held before a write. */
export function bodyNames(type: 'hash' | 'set' | 'zset', body: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < body.length; ) {
    const l = body.readUInt32BE(at);
    out.push(body.toString('latin1', at + 4, at + 4 + l));
    at += 4 + l;
    if (type === 'zset') at += 8;
    else if (type === 'hash') at += 4 + body.readUInt32BE(at);
  }
  return out;
}

function stamp(out: Buffer, t: number, expiresAtMs: number): Buffer {
  out[0] = t;
  out.writeDoubleBE(expiresAtMs, 1);
  return out;
}

/** The one-record form of a value. */
export function encodeRecord(value: StoredValue, expiresAtMs: number): Buffer {
  if (value.type === 'string') {
    const out = Buffer.allocUnsafe(HEADER_BYTES + value.value.length);
    value.value.copy(out, HEADER_BYTES);
    return stamp(out, 0, expiresAtMs);
  }
  if (value.type === 'set') return stamp(encodeStrings(value.value, HEADER_BYTES), 2, expiresAtMs);
  if (value.type === 'list') return stamp(encodeStrings(value.value, HEADER_BYTES), 3, expiresAtMs);
  if (value.type === 'zset') {
    const z = value.value;
    return stamp(encodeZset({ [Symbol.iterator]: () => z.entries() }, HEADER_BYTES), 4, expiresAtMs);
  }
  if (value.type === 'stream') return Buffer.concat([header(5, expiresAtMs), encodeStream(value.value)]);
  return stamp(encodeHash(value.value, HEADER_BYTES), 1, expiresAtMs);
}

/** The value of a one-record form (types 0-5). */
export function decodeRecord(r: StoredRecord): StoredValue {
  const body = r.buf.subarray(HEADER_BYTES);
  if (r.t === 0) return { type: 'string', value: Buffer.from(body) };
  if (r.t === 4) {
    const z = new ZSet();
    decodeZset(body, z);
    return { type: 'zset', value: z };
  }
  if (r.t === 5) return { type: 'stream', value: decodeStream(Buffer.from(body)) };
  if (r.t === 2) return { type: 'set', value: new JournaledSet(decodeStrings(body)) };
  if (r.t === 3) return { type: 'list', value: new Deque(decodeStrings(body)) };
  assert(r.t === 1, `record type ${r.t} is not a one-record form`);
  const map = new JournaledMap();
  decodeHash(body, map);
  return { type: 'hash', value: map };
}
