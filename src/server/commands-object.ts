// Key introspection and copying: OBJECT ENCODING/REFCOUNT/FREQ/IDLETIME, DUMP/RESTORE (Atoll's own payload:
// the value as it travels between nodes, a format version and a checksum, so a corrupt or foreign payload is
// refused, as Redis refuses one), and SORT/SORT_RO (BY, LIMIT, GET, ASC|DESC, ALPHA, STORE) with Redis 7.0's
// rules and texts. OBJECT ENCODING names the encoding Redis 7.0 would use for the value as it is now.
import { createHash } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import { ERR, ReplyError, intArg, isWord, parseInt64 } from './args.js';
import type { DataContext, DataHandler } from './commands-data.js';
import type { StoredValue } from '../storage/engine.js';
import { Deque } from '../storage/deque.js';
import { fromWire, toWire } from '../storage/wire.js';
import { keySlot } from '../partitioning/hash.js';

export const OBJECT_LIMITS = Object.freeze({
  /** Redis 7.0's defaults that decide its compact encodings. */
  listpackEntriesMax: 128,
  listpackValueBytesMax: 64,
  intsetEntriesMax: 512,
  embstrBytesMax: 44,
  /** DUMP's payload format (the two bytes before the checksum). */
  dumpVersion: 1,
});

const k = (b: Buffer): string => b.toString('latin1');

/** The encoding Redis 7.0 would report for this value. */
export function encodingOf(v: StoredValue): string {
  const L = OBJECT_LIMITS;
  const small = (items: Iterable<string>, count: number): boolean => count <= L.listpackEntriesMax && [...items].every((s) => s.length <= L.listpackValueBytesMax);
  switch (v.type) {
    case 'string':
      if (v.value.length <= 20 && parseInt64(v.value) !== undefined) return 'int';
      return v.value.length <= L.embstrBytesMax ? 'embstr' : 'raw';
    case 'list':
      return 'quicklist';
    case 'set':
      return v.value.size <= L.intsetEntriesMax && [...v.value].every((m) => parseInt64(Buffer.from(m, 'latin1')) !== undefined) ? 'intset' : 'hashtable';
    case 'hash':
      return small([...v.value].flatMap(([f, x]) => [f, x.toString('latin1')]), v.value.size) ? 'listpack' : 'hashtable';
    case 'zset':
      return small(v.value, v.value.size) ? 'listpack' : 'skiplist';
    case 'stream':
      return 'stream';
  }
}

const object: DataHandler = (ctx, args, w) => {
  const sub = k(args[1]!).toLowerCase();
  if (sub === 'help') return w.bulkArray(['OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:', 'ENCODING <key>', 'FREQ <key>', 'IDLETIME <key>', 'REFCOUNT <key>', 'HELP']);
  if (!['encoding', 'freq', 'idletime', 'refcount'].includes(sub)) throw new ReplyError(`ERR unknown subcommand '${k(args[1]!).slice(0, 128)}'. Try OBJECT HELP.`);
  if (args.length !== 3) throw new ReplyError(`ERR wrong number of arguments for 'object|${sub}' command`);
  // OBJECT is no access (Redis looks with NOTOUCH).
  const idle = sub === 'idletime' ? ctx.engine.idleMs?.(k(args[2]!)) : undefined;
  const v = ctx.engine.peek !== undefined ? ctx.engine.peek(k(args[2]!)) : ctx.engine.get(k(args[2]!));
  if (v === undefined) return w.nil();
  if (sub === 'encoding') return w.bulk(encodingOf(v));
  // Redis shares small integers (refcount "infinite"); every other value has one owner.
  if (sub === 'refcount') return w.integer(encodingOf(v) === 'int' && Number(parseInt64((v as { value: Buffer }).value)) < 10_000 && Number(parseInt64((v as { value: Buffer }).value)) >= 0 ? 2147483647 : 1);
  if (sub === 'freq') throw new ReplyError('ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.');
  if (idle === undefined) throw new ReplyError('ERR OBJECT IDLETIME is not available: this engine does not record when keys were last accessed');
  // Redis counts in seconds.
  w.integer(Math.floor(idle / 1000));
};

// ---- DUMP / RESTORE ----------------------------------------------------------------------------------------

function checksum(body: Buffer): Buffer {
  return createHash('sha256').update(body).digest().subarray(0, 8);
}

/** A value as DUMP gives it: msgpack of its wire form, the format version (u16 LE), an 8-byte checksum. */
export function dumpValue(v: StoredValue): Buffer {
  const e = toWire('', v, 0);
  const body = Buffer.concat([pack([e[1], e[2]]), Buffer.from([OBJECT_LIMITS.dumpVersion & 0xff, OBJECT_LIMITS.dumpVersion >> 8])]);
  return Buffer.concat([body, checksum(body)]);
}

/** The value in a DUMP payload, or undefined when it is not one of Atoll's (corrupt, foreign, another version). */
export function undumpValue(key: string, payload: Buffer): StoredValue | undefined {
  if (payload.length < 10) return undefined;
  const body = payload.subarray(0, payload.length - 8);
  if (!checksum(body).equals(payload.subarray(payload.length - 8))) return undefined;
  if (body.readUInt16LE(body.length - 2) !== OBJECT_LIMITS.dumpVersion) return undefined;
  try {
    const [type, data] = unpack(body.subarray(0, body.length - 2)) as [unknown, unknown];
    return fromWire([Buffer.from(key, 'latin1'), type, data, 0]).value;
  } catch {
    return undefined;
  }
}

const dump: DataHandler = (ctx, args, w) => {
  const v = ctx.engine.get(k(args[1]!));
  if (v === undefined) return w.nil();
  w.bulk(dumpValue(v));
};

const restore: DataHandler = (ctx, args, w) => {
  let replace = false;
  let absTtl = false;
  let idle = false;
  let freq = false;
  for (let j = 4; j < args.length; j++) {
    const more = args.length - j - 1;
    if (isWord(args[j], 'REPLACE')) replace = true;
    else if (isWord(args[j], 'ABSTTL')) absTtl = true;
    else if (isWord(args[j], 'IDLETIME') && more >= 1 && !freq) {
      if (intArg(args[++j]) < 0) throw new ReplyError('ERR Invalid IDLETIME value, must be >= 0');
      idle = true;
    } else if (isWord(args[j], 'FREQ') && more >= 1 && !idle) {
      const f = intArg(args[++j]);
      if (f < 0 || f > 255) throw new ReplyError('ERR Invalid FREQ value, must be >= 0 and <= 255');
      freq = true;
    } else throw new ReplyError(ERR.syntax);
  }
  const key = k(args[1]!);
  if (!replace && ctx.engine.get(key) !== undefined) throw new ReplyError('BUSYKEY Target key name already exists.');
  const ttl = intArg(args[2]);
  if (ttl < 0) throw new ReplyError('ERR Invalid TTL value, must be >= 0');
  const value = undumpValue(key, args[3]!);
  if (value === undefined) throw new ReplyError('ERR DUMP payload version or checksum are wrong');
  if (replace) ctx.engine.delete(key);
  const at = ttl === 0 ? 0 : absTtl ? ttl : ctx.nowMs() + ttl;
  // An absolute TTL already in the past restores nothing, as in Redis.
  if (at !== 0 && at <= ctx.nowMs()) return w.ok();
  ctx.engine.put(key, value, at);
  w.ok();
};

// ---- SORT --------------------------------------------------------------------------------------------------

interface SortArgs {
  desc: boolean;
  alpha: boolean;
  offset: number;
  count: number;
  by?: string;
  dontSort: boolean;
  gets: string[];
  store?: string;
}

/** The slot a BY/GET pattern's keys are in, if its hash tag pins them to one (else undefined), as Redis's patternHashSlot. */
function patternSlot(pattern: string): number | undefined {
  const open = pattern.indexOf('{');
  const close = pattern.indexOf('}', open + 1);
  if (open < 0 || close <= open + 1) return undefined;
  const tag = pattern.slice(open + 1, close);
  return pattern.indexOf('*') < open || tag.includes('*') ? undefined : keySlot(Buffer.from(tag, 'latin1'));
}

function sortArgs(ctx: DataContext, args: Buffer[], readOnly: boolean): SortArgs {
  const a: SortArgs = { desc: false, alpha: false, offset: 0, count: -1, dontSort: false, gets: [] };
  for (let j = 2; j < args.length; j++) {
    const left = args.length - j - 1;
    const checkSlot = (option: string, pattern: string): void => {
      if (ctx.cluster === true && pattern.includes('*') && patternSlot(pattern) !== keySlot(args[1]!)) throw new ReplyError(`ERR ${option} option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.`);
    };
    if (isWord(args[j], 'ASC')) a.desc = false;
    else if (isWord(args[j], 'DESC')) a.desc = true;
    else if (isWord(args[j], 'ALPHA')) a.alpha = true;
    else if (isWord(args[j], 'LIMIT') && left >= 2) {
      a.offset = intArg(args[j + 1]);
      a.count = intArg(args[j + 2]);
      j += 2;
    } else if (!readOnly && isWord(args[j], 'STORE') && left >= 1) a.store = k(args[++j]!);
    else if (isWord(args[j], 'BY') && left >= 1) {
      a.by = k(args[++j]!);
      if (!a.by.includes('*')) a.dontSort = true;
      else checkSlot('BY', a.by);
    } else if (isWord(args[j], 'GET') && left >= 1) {
      const p = k(args[++j]!);
      checkSlot('GET', p);
      a.gets.push(p);
    } else throw new ReplyError(ERR.syntax);
  }
  return a;
}


/** The value a BY/GET pattern names for `el`: '#' is the element, 'key*->field' a hash field; else a string. */
function byPattern(ctx: DataContext, pattern: string, el: string): Buffer | undefined {
  if (pattern === '#') return Buffer.from(el, 'latin1');
  const star = pattern.indexOf('*');
  if (star < 0) return undefined;
  const arrow = pattern.indexOf('->', star);
  const field = arrow > star && arrow + 2 < pattern.length ? pattern.slice(arrow + 2) : undefined;
  const keyPattern = field === undefined ? pattern : pattern.slice(0, arrow);
  const key = keyPattern.slice(0, star) + el + keyPattern.slice(star + 1);
  const v = ctx.engine.get(key);
  if (v === undefined) return undefined;
  if (field !== undefined) return v.type === 'hash' ? v.value.get(field) : undefined;
  return v.type === 'string' ? v.value : undefined;
}

function elementsOf(v: StoredValue | undefined): string[] {
  if (v === undefined) return [];
  if (v.type === 'list' || v.type === 'set' || v.type === 'zset') return [...v.value];
  throw new ReplyError(ERR.wrongType);
}

/** Sorts `els` by Redis's rules: numbers (a missing BY value is 0), ties and ALPHA by bytes; DESC reverses. */
function sortElements(ctx: DataContext, els: string[], a: SortArgs): string[] {
  const weights = els.map((el) => {
    const by = a.by === undefined ? Buffer.from(el, 'latin1') : byPattern(ctx, a.by, el);
    if (a.alpha) return { el, s: 0, text: a.by === undefined ? el : by?.toString('latin1') };
    if (by === undefined) return { el, s: 0, text: undefined };
    const t = by.toString('latin1');
    const s = /^\s*[+-]?((\d+\.?\d*)|(\.\d+))([eE][+-]?\d+)?$|^[+-]?inf(inity)?$/i.test(t) ? Number(t.replace(/inf(inity)?/i, 'Infinity')) : Number.NaN;
    if (Number.isNaN(s)) throw new ReplyError("ERR One or more scores can't be converted into double");
    return { el, s, text: undefined };
  });
  const cmpStr = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
  weights.sort((p, q) => {
    let c: number;
    if (!a.alpha) c = p.s > q.s ? 1 : p.s < q.s ? -1 : cmpStr(p.el, q.el);
    else if (p.text === undefined || q.text === undefined) c = p.text === q.text ? 0 : p.text === undefined ? -1 : 1;
    else c = cmpStr(p.text, q.text);
    return a.desc ? -c : c;
  });
  return weights.map((x) => x.el);
}

function sort(readOnly: boolean): DataHandler {
  return (ctx, args, w) => {
    const a = sortArgs(ctx, args, readOnly);
    const v = ctx.engine.get(k(args[1]!));
    let els = elementsOf(v);
    // A set sorted for STORE is sorted even under BY nosort, so the stored list is the same on every replica.
    if (v?.type === 'set' && a.dontSort && a.store !== undefined) Object.assign(a, { dontSort: false, alpha: true, by: undefined });
    if (!a.dontSort) els = sortElements(ctx, els, a);
    else if ((v?.type === 'zset' || v?.type === 'list') && a.desc) els.reverse(); // native order, DESC reversed
    const start = a.offset < 0 ? 0 : a.offset;
    const end = a.count < 0 ? els.length : start + a.count;
    const picked = els.slice(start, Math.max(start, end));
    const out: (Buffer | undefined)[] = a.gets.length === 0 ? picked.map((el) => Buffer.from(el, 'latin1')) : picked.flatMap((el) => a.gets.map((g) => byPattern(ctx, g, el)));
    if (a.store === undefined) return w.bulkArray(out);
    if (out.length === 0) ctx.engine.delete(a.store);
    else ctx.engine.put(a.store, { type: 'list', value: new Deque(out.map((b) => (b ?? Buffer.alloc(0)).toString('latin1'))) }, 0);
    w.integer(out.length);
  };
}

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const OBJECT_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  object: [-2, ['readonly'], object, 2, 2],
  dump: [2, ['readonly'], dump, 1, 1],
  restore: [-4, ['write'], restore, 1, 1],
  sort: [-2, ['write'], sort(false), 1, 1],
  sort_ro: [-2, ['readonly'], sort(true), 1, 1],
};
