// How keys travel between nodes (hand-off, replication, snapshots): key bytes, type, value and expiry in a
// msgpack-friendly tuple, and a partition's keys read from an engine.
import { JournaledMap, JournaledSet } from './journal.js';
import { AtollError } from '../errors.js';
import { keySlot } from '../partitioning/hash.js';
import { SlotPartitioner } from '../partitioning/slots.js';
import type { StorageEngine, StoredValue } from './engine.js';
import { Deque } from './deque.js';
import { ZSet } from './zset.js';
import { decodeStream, encodeStream } from './stream.js';

export const WIRE_LIMITS = Object.freeze({ scanBatch: 1_000, /** Keys sized between two yields to the event loop (partitionBytes). */ statsYieldEveryKeys: 5_000 });

/** One key as it travels: key bytes, type, value, expiry (ms since the epoch, 0 = none). */
export type WireEntry = [Buffer, 's', Buffer, number] | [Buffer, 'h', Buffer[], number] | [Buffer, 'S', Buffer[], number] | [Buffer, 'l', Buffer[], number] | [Buffer, 'z', Buffer[], number] | [Buffer, 'x', Buffer, number];

/** Keys of one partition (engine keys are latin1 strings of the client's bytes): from the engine's own
 * per-partition index when it has one, else by a full scan, O(all keys). */
export function partitionKeys(engine: StorageEngine, partitions: number, partition: number): string[] {
  const direct = engine.keysOfPartition?.(partition, partitions);
  if (direct !== undefined) return direct;
  const slots = new SlotPartitioner({ partitions });
  const out: string[] = [];
  let cursor = 0;
  do {
    const page = engine.scan(cursor, WIRE_LIMITS.scanBatch);
    cursor = page.cursor;
    for (const k of page.keys) if (slots.partitionForSlot(keySlot(Buffer.from(k, 'latin1'))) === partition) out.push(k);
  } while (cursor !== 0);
  return out;
}

/**
 * Bytes of keys and values in each listed partition (for rebalance plans). It yields to the event loop every
 * WIRE_LIMITS.statsYieldEveryKeys keys: done in one go, sizing a 1 GB node's partitions held its event loop
 * for over 5 s, and the node lost its lease.
 */
export async function partitionBytes(engine: StorageEngine, partitions: number, list: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  let seen = 0;
  for (const p of list) {
    let bytes = 0;
    for (const k of partitionKeys(engine, partitions, p)) {
      const v = engine.get(k);
      if (v !== undefined) bytes += k.length + valueBytes(toWire(k, v, 0));
      if (++seen % WIRE_LIMITS.statsYieldEveryKeys === 0) await new Promise((r) => setImmediate(r));
    }
    out.push(bytes);
  }
  return out;
}

/** Bytes of an entry's value (a string's bytes, or a hash's field names and values), its key left out. */
export function valueBytes(e: WireEntry): number {
  if (e[1] === 's' || e[1] === 'x') return e[2].length;
  let n = 0;
  for (const b of e[2]) n += b.length;
  return n;
}

/** A sorted set on the wire: member, 8-byte big-endian score, ... in order (exact scores, no text round trip). */
function zsetFlat(z: ZSet): Buffer[] {
  const out: Buffer[] = [];
  for (const [m, s] of z.entries()) {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(s);
    out.push(Buffer.from(m, 'latin1'), b);
  }
  return out;
}

export function toWire(key: string, value: StoredValue, expiresAtMs: number): WireEntry {
  const k = Buffer.from(key, 'latin1');
  if (value.type === 'string') return [k, 's', value.value, expiresAtMs];
  if (value.type === 'set') return [k, 'S', [...value.value].map((m) => Buffer.from(m, 'latin1')), expiresAtMs];
  if (value.type === 'list') return [k, 'l', [...value.value].map((m) => Buffer.from(m, 'latin1')), expiresAtMs];
  if (value.type === 'zset') return [k, 'z', zsetFlat(value.value), expiresAtMs];
  if (value.type === 'stream') return [k, 'x', encodeStream(value.value), expiresAtMs];
  const flat: Buffer[] = [];
  for (const [f, v] of value.value) flat.push(Buffer.from(f, 'latin1'), v);
  return [k, 'h', flat, expiresAtMs];
}

export function fromWire(e: unknown): { key: string; value: StoredValue; expiresAtMs: number } {
  if (!Array.isArray(e) || e.length !== 4 || !Buffer.isBuffer(e[0]) || typeof e[3] !== 'number') throw new AtollError('BAD_ARGUMENT', 'malformed key entry');
  const key = e[0].toString('latin1');
  if (e[1] === 's' && Buffer.isBuffer(e[2])) return { key, value: { type: 'string', value: e[2] }, expiresAtMs: e[3] };
  if (e[1] === 'x' && Buffer.isBuffer(e[2])) return { key, value: { type: 'stream', value: decodeStream(e[2]) }, expiresAtMs: e[3] };
  if (e[1] === 'l' && Array.isArray(e[2]) && (e[2] as unknown[]).every((m) => Buffer.isBuffer(m))) {
    return { key, value: { type: 'list', value: new Deque((e[2] as Buffer[]).map((m) => m.toString('latin1'))) }, expiresAtMs: e[3] };
  }
  if (e[1] === 'S' && Array.isArray(e[2]) && (e[2] as unknown[]).every((m) => Buffer.isBuffer(m))) {
    return { key, value: { type: 'set', value: new JournaledSet((e[2] as Buffer[]).map((m) => m.toString('latin1'))) }, expiresAtMs: e[3] };
  }
  if (e[1] === 'z' && Array.isArray(e[2]) && e[2].length % 2 === 0 && (e[2] as unknown[]).every((m, i) => Buffer.isBuffer(m) && (i % 2 === 0 || m.length === 8))) {
    const flat = e[2] as Buffer[];
    const z = new ZSet();
    for (let i = 0; i < flat.length; i += 2) z.add(flat[i]!.toString('latin1'), flat[i + 1]!.readDoubleBE(0));
    return { key, value: { type: 'zset', value: z }, expiresAtMs: e[3] };
  }
  if (e[1] === 'h' && Array.isArray(e[2]) && e[2].length % 2 === 0) {
    const m = new JournaledMap();
    const flat = e[2] as Buffer[];
    for (let i = 0; i < flat.length; i += 2) m.set(flat[i]!.toString('latin1'), flat[i + 1]!);
    return { key, value: { type: 'hash', value: m }, expiresAtMs: e[3] };
  }
  throw new AtollError('BAD_ARGUMENT', 'malformed key entry');
}


/** Every live entry of one partition, as it would travel. */
export function partitionEntries(engine: StorageEngine, partitions: number, partition: number): WireEntry[] {
  const out: WireEntry[] = [];
  for (const k of partitionKeys(engine, partitions, partition)) {
    const value = engine.get(k);
    if (value !== undefined) out.push(toWire(k, value, engine.expiresAt(k) ?? 0));
  }
  return out;
}
