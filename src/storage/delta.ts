// Replication deltas: the element-level changes one armed window recorded for a collection (journal.ts), as a
// wire entry beside the whole-value entries of wire.ts, and their application on a follower. A delta carries
// the size the value had before it; a follower whose copy has another size (or type) does not apply it and
// says so, and its copy of the partition is then re-made (src/replication/replicator.ts).
import type { Deque } from './deque.js';
import type { StorageEngine, StoredValue } from './engine.js';
import { fingerprintOf, journal, type JournalOp } from './journal.js';
import { groupsData, loadGroups, type Stream } from './stream.js';

type CollectionType = 'list' | 'set' | 'zset' | 'hash' | 'stream';

/** [key, 'D', type, fingerprint before (journal.ts), ops, expiry (ms, 0 none), stream header or null]. */
export type DeltaEntry = [Buffer, 'D', CollectionType, unknown[], JournalOp[], number, StreamHeader | null];
/** A stream's header after the change: last ID, entries added, largest deleted ID, consumer groups. */
type StreamHeader = [string, number, string, unknown[]];

export function isDelta(e: unknown): e is DeltaEntry {
  return Array.isArray(e) && e[1] === 'D';
}

function fingerprint(v: StoredValue): unknown[] {
  if (v.type === 'string') return [];
  return fingerprintOf(v.value, v.type === 'list' || v.type === 'stream' ? v.value.length : v.value.size);
}

const sameFingerprint = (a: unknown[], b: unknown): boolean => Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);

/** The delta standing for this window's changes to `value`, when the journal recorded them all. */
export function deltaOf(key: string, value: StoredValue, expiresAtMs: number): DeltaEntry | undefined {
  if (value.type === 'string') return undefined;
  const r = journal.deltaOf(value.value);
  if (r === undefined) return undefined;
  const s = value.type === 'stream' ? value.value : undefined;
  const header: StreamHeader | null = s === undefined ? null : [s.lastId.toString(), s.entriesAdded, s.maxDeletedId.toString(), groupsData(s)];
  return [Buffer.from(key, 'latin1'), 'D', value.type, r.before, r.ops, expiresAtMs, header];
}

/** Approximate bytes of a delta (for log accounting). */
export function deltaBytes(e: DeltaEntry): number {
  let n = 16;
  for (const op of e[4]) for (const x of op) n += typeof x === 'string' || Buffer.isBuffer(x) ? x.length : Array.isArray(x) ? x.reduce((a: number, y: unknown) => a + (typeof y === 'string' ? y.length : 8), 0) : 8;
  return n;
}

const str = (x: unknown): string => {
  if (typeof x !== 'string') throw new TypeError('delta: expected a string');
  return x;
};

function applyList(l: Deque<string>, ops: JournalOp[]): void {
  for (const op of ops) {
    if (op[0] === '<') l.pushFront(str(op[1]));
    else if (op[0] === '>') l.pushBack(str(op[1]));
    else if (op[0] === '^') l.popFront();
    else if (op[0] === 'v') l.popBack();
    else if (op[0] === '=' && typeof op[1] === 'number' && op[1] >= 0 && op[1] < l.length) l.set(op[1], str(op[2]));
    else if (op[0] === 'R' && Array.isArray(op[1])) l.replace((op[1] as unknown[]).map(str));
    else throw new TypeError(`delta: bad list op ${String(op[0])}`);
  }
}

function applyStream(s: Stream, ops: JournalOp[], header: StreamHeader | null): void {
  for (const op of ops) {
    if (op[0] === 'a' && Array.isArray(op[2])) s.append(BigInt(str(op[1])), (op[2] as unknown[]).map(str));
    else if (op[0] === 'd') s.delete([BigInt(str(op[1]))]);
    else if (op[0] === 't' && typeof op[1] === 'number') s.trimFront(() => true, op[1]);
    else throw new TypeError(`delta: bad stream op ${String(op[0])}`);
  }
  if (header === null) throw new TypeError('delta: a stream delta needs its header');
  s.lastId = BigInt(header[0]);
  s.entriesAdded = header[1];
  s.maxDeletedId = BigInt(header[2]);
  s.groups.clear();
  loadGroups(s, header[3]);
}

function applyOps(v: StoredValue, ops: JournalOp[], header: StreamHeader | null): void {
  if (v.type === 'list') return applyList(v.value, ops);
  if (v.type === 'stream') return applyStream(v.value, ops, header);
  if (v.type === 'string') throw new TypeError('delta: a string has no delta');
  for (const op of ops) {
    if (op[0] === '0' && v.type !== 'zset') v.value.clear();
    else if (op[0] === '-' && v.type === 'zset') v.value.remove(str(op[1]));
    else if (op[0] === '-' && v.type !== 'zset') v.value.delete(str(op[1]));
    else if (op[0] === '+' && v.type === 'set') v.value.add(str(op[1]));
    else if (op[0] === '+' && v.type === 'hash' && Buffer.isBuffer(op[2])) v.value.set(str(op[1]), Buffer.from(op[2]));
    else if (op[0] === '+' && v.type === 'zset' && typeof op[2] === 'number') v.value.add(str(op[1]), op[2]);
    else throw new TypeError(`delta: bad ${v.type} op ${String(op[0])}`);
  }
}

/**
 * Applies a delta to the follower's copy; false (nothing trusted) when the copy is not the value the delta was
 * taken from (missing, another type or size) or the delta is malformed.
 */
export function applyDelta(engine: StorageEngine, e: DeltaEntry): boolean {
  const key = e[0].toString('latin1');
  const v = engine.get(key);
  if (v === undefined || v.type !== e[2] || !sameFingerprint(fingerprint(v), e[3]) || !Array.isArray(e[4])) return false;
  try {
    applyOps(v, e[4], e[6]);
  } catch {
    return false;
  }
  engine.put(key, v, e[5]);
  return true;
}
