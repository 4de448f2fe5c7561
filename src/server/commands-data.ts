// Data commands (strings, keys, hashes) with Redis 7 semantics and reply texts, over a StorageEngine.
import { JournaledMap } from '../storage/journal.js';
import type { StorageEngine, StoredValue } from '../storage/engine.js';
import type { RespWriter } from './resp-writer.js';
import {
  ERR,
  ReplyError,
  checkInt64,
  formatFloatHuman,
  globToRegExp,
  int64Arg,
  intArg,
  invalidExpire,
  isWord,
  parseFloatArg,
  parseInt64,
} from './args.js';

export interface DataContext {
  readonly engine: StorageEngine;
  nowMs(): number;
  /** proto-max-bulk-len, for APPEND/SETRANGE growth. */
  readonly bulkBytesMax: number;
  /** Cluster mode: SORT refuses BY/GET patterns whose keys may lie in other slots. */
  readonly cluster?: boolean;
}

export type DataHandler = (ctx: DataContext, args: Buffer[], w: RespWriter) => void;

export const SCAN_LIMITS = Object.freeze({ countMax: 100_000, keysReplyMax: 10_000_000 });

const k = (b: Buffer): string => b.toString('latin1');

export function getString(ctx: DataContext, key: string): Buffer | undefined {
  const v = ctx.engine.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'string') throw new ReplyError(ERR.wrongType);
  return v.value;
}

function getHash(ctx: DataContext, key: string): Map<string, Buffer> | undefined {
  const v = ctx.engine.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'hash') throw new ReplyError(ERR.wrongType);
  return v.value;
}

const str = (value: Buffer): StoredValue => ({ type: 'string', value });

/** Parses EX/PX/EXAT/PXAT seconds-or-ms into an absolute ms expiry. */
function expiryFrom(ctx: DataContext, unit: 'EX' | 'PX' | 'EXAT' | 'PXAT', arg: Buffer | undefined, cmd: string): number {
  const n = int64Arg(arg);
  if (n <= 0n) throw new ReplyError(invalidExpire(cmd));
  const ms = unit === 'EX' || unit === 'EXAT' ? n * 1000n : n;
  const abs = unit === 'EX' || unit === 'PX' ? ms + BigInt(ctx.nowMs()) : ms;
  if (abs > BigInt(Number.MAX_SAFE_INTEGER)) throw new ReplyError(invalidExpire(cmd));
  return Number(abs);
}

const EXPIRY_WORDS = ['EX', 'PX', 'EXAT', 'PXAT'] as const;

function expiryWord(arg: Buffer): (typeof EXPIRY_WORDS)[number] | undefined {
  return EXPIRY_WORDS.find((w) => isWord(arg, w));
}

/** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL] */
const set: DataHandler = (ctx, args, w) => {
  if (args.length === 3) {
    // Plain SET: the common case, with no option parsing and no existence check.
    ctx.engine.put(k(args[1]!), str(args[2]!), 0);
    return w.ok();
  }
  let nx = false;
  let xx = false;
  let get = false;
  let keepTtl = false;
  let expires: number | undefined;
  for (let i = 3; i < args.length; i++) {
    const a = args[i]!;
    const unit = expiryWord(a);
    if (isWord(a, 'NX') && !xx) nx = true;
    else if (isWord(a, 'XX') && !nx) xx = true;
    else if (isWord(a, 'GET')) get = true;
    else if (isWord(a, 'KEEPTTL') && expires === undefined) keepTtl = true;
    else if (unit !== undefined && expires === undefined && !keepTtl && i + 1 < args.length) expires = expiryFrom(ctx, unit, args[++i], 'set');
    else throw new ReplyError(ERR.syntax);
  }
  const key = k(args[1]!);
  const old = get ? getString(ctx, key) : undefined;
  const exists = get ? old !== undefined : (nx || xx) && ctx.engine.expiresAt(key) !== undefined;
  if ((nx && exists) || (xx && !exists)) {
    if (get) w.bulkOrNil(old);
    else w.nil();
    return;
  }
  const ttl = keepTtl ? (ctx.engine.expiresAt(key) ?? 0) : (expires ?? 0);
  ctx.engine.put(key, str(args[2]!), ttl);
  if (get) w.bulkOrNil(old);
  else w.ok();
};

const get: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  if (ctx.engine.getLatin1 === undefined) return w.bulkOrNil(getString(ctx, key));
  const v = ctx.engine.getLatin1(key);
  if (v === undefined) return w.nil();
  if (typeof v === 'string') return w.bulkLatin1(v);
  if (v.type !== 'string') throw new ReplyError(ERR.wrongType);
  w.bulk(v.value);
};

const setnx: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  if (ctx.engine.expiresAt(key) !== undefined) return w.integer(0);
  ctx.engine.put(key, str(args[2]!), 0);
  w.integer(1);
};

function setWithTtl(unit: 'EX' | 'PX', name: string): DataHandler {
  return (ctx, args, w) => {
    const at = expiryFrom(ctx, unit, args[2], name);
    ctx.engine.put(k(args[1]!), str(args[3]!), at);
    w.ok();
  };
}

const mget: DataHandler = (ctx, args, w) => {
  w.arrayHeader(args.length - 1);
  for (let i = 1; i < args.length; i++) {
    const v = ctx.engine.get(k(args[i]!));
    w.bulkOrNil(v?.type === 'string' ? v.value : undefined);
  }
};

function checkPairs(args: Buffer[], name: string): void {
  if ((args.length - 1) % 2 !== 0) throw new ReplyError(`ERR wrong number of arguments for '${name}' command`);
}

const mset: DataHandler = (ctx, args, w) => {
  checkPairs(args, 'mset');
  for (let i = 1; i < args.length; i += 2) ctx.engine.put(k(args[i]!), str(args[i + 1]!), 0);
  w.ok();
};

const msetnx: DataHandler = (ctx, args, w) => {
  checkPairs(args, 'msetnx');
  for (let i = 1; i < args.length; i += 2) if (ctx.engine.expiresAt(k(args[i]!)) !== undefined) return w.integer(0);
  for (let i = 1; i < args.length; i += 2) ctx.engine.put(k(args[i]!), str(args[i + 1]!), 0);
  w.integer(1);
};

const getset: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const old = getString(ctx, key);
  ctx.engine.put(key, str(args[2]!), 0);
  w.bulkOrNil(old);
};

const getdel: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const old = getString(ctx, key);
  if (old !== undefined) ctx.engine.delete(key);
  w.bulkOrNil(old);
};

/** GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST] */
const getex: DataHandler = (ctx, args, w) => {
  let at: number | undefined;
  for (let i = 2; i < args.length; i++) {
    const unit = expiryWord(args[i]!);
    if (isWord(args[i], 'PERSIST') && at === undefined) at = 0;
    else if (unit !== undefined && at === undefined && i + 1 < args.length) at = expiryFrom(ctx, unit, args[++i], 'getex');
    else throw new ReplyError(ERR.syntax);
  }
  const key = k(args[1]!);
  const v = getString(ctx, key);
  if (v !== undefined && at !== undefined) ctx.engine.setExpiry(key, at);
  w.bulkOrNil(v);
};

const append: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const old = getString(ctx, key);
  const next = old === undefined ? Buffer.from(args[2]!) : Buffer.concat([old, args[2]!]);
  if (next.length > ctx.bulkBytesMax) throw new ReplyError(ERR.tooBig);
  ctx.engine.put(key, str(next), old === undefined ? 0 : (ctx.engine.expiresAt(key) ?? 0));
  w.integer(next.length);
};

const strlen: DataHandler = (ctx, args, w) => w.integer(getString(ctx, k(args[1]!))?.length ?? 0);

/** GETRANGE key start end, with Redis's negative-index clamping. */
const getrange: DataHandler = (ctx, args, w) => {
  let start = intArg(args[2]);
  let end = intArg(args[3]);
  const v = getString(ctx, k(args[1]!)) ?? Buffer.alloc(0);
  const n = v.length;
  if (start < 0 && end < 0 && start > end) return w.bulk('');
  if (start < 0) start = Math.max(0, n + start);
  if (end < 0) end = Math.max(0, n + end);
  end = Math.min(end, n - 1);
  if (start > end || n === 0) return w.bulk('');
  w.bulk(v.subarray(start, end + 1));
};

const setrange: DataHandler = (ctx, args, w) => {
  const offset = intArg(args[2]);
  if (offset < 0) throw new ReplyError(ERR.offsetRange);
  const key = k(args[1]!);
  const old = getString(ctx, key);
  const patch = args[3]!;
  if (patch.length === 0) return w.integer(old?.length ?? 0);
  if (offset + patch.length > ctx.bulkBytesMax) throw new ReplyError(ERR.tooBig);
  const next = Buffer.alloc(Math.max(old?.length ?? 0, offset + patch.length));
  old?.copy(next);
  patch.copy(next, offset);
  ctx.engine.put(key, str(next), old === undefined ? 0 : (ctx.engine.expiresAt(key) ?? 0));
  w.integer(next.length);
};

function incrBy(ctx: DataContext, keyBuf: Buffer, by: bigint, w: RespWriter): void {
  const key = k(keyBuf);
  const old = getString(ctx, key);
  const cur = old === undefined ? 0n : parseInt64(old);
  if (cur === undefined) throw new ReplyError(ERR.notInteger);
  const next = checkInt64(cur + by);
  ctx.engine.put(key, str(Buffer.from(next.toString(), 'latin1')), old === undefined ? 0 : (ctx.engine.expiresAt(key) ?? 0));
  w.integer(next);
}

const incr: DataHandler = (ctx, args, w) => incrBy(ctx, args[1]!, 1n, w);
const decr: DataHandler = (ctx, args, w) => incrBy(ctx, args[1]!, -1n, w);
const incrby: DataHandler = (ctx, args, w) => incrBy(ctx, args[1]!, int64Arg(args[2]), w);
const decrby: DataHandler = (ctx, args, w) => {
  const by = int64Arg(args[2]);
  if (by === -9223372036854775808n) throw new ReplyError('ERR decrement would overflow');
  incrBy(ctx, args[1]!, -by, w);
};

const incrbyfloat: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const by = parseFloatArg(args[2]!);
  const old = getString(ctx, key);
  const cur = old === undefined ? 0 : parseFloatArg(old);
  const next = cur + by;
  if (!Number.isFinite(next)) throw new ReplyError(ERR.nanOrInf);
  const text = formatFloatHuman(next);
  ctx.engine.put(key, str(Buffer.from(text, 'latin1')), old === undefined ? 0 : (ctx.engine.expiresAt(key) ?? 0));
  w.bulk(text);
};

const del: DataHandler = (ctx, args, w) => {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (ctx.engine.delete(k(args[i]!))) n++;
  w.integer(n);
};

const exists: DataHandler = (ctx, args, w) => {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (ctx.engine.expiresAt(k(args[i]!)) !== undefined) n++;
  w.integer(n);
};

/** EXPIRE family with NX | XX | GT | LT (Redis 7). A time in the past deletes the key. */
function expireCmd(unit: 'EX' | 'PX' | 'EXAT' | 'PXAT', name: string): DataHandler {
  return (ctx, args, w) => {
    const n = int64Arg(args[2]);
    let flag: 'NX' | 'XX' | 'GT' | 'LT' | undefined;
    for (let i = 3; i < args.length; i++) {
      const f = (['NX', 'XX', 'GT', 'LT'] as const).find((x) => isWord(args[i], x));
      if (f === undefined) throw new ReplyError(`ERR Unsupported option ${args[i]!.toString('latin1')}`);
      if (flag !== undefined && flag !== f) throw new ReplyError('ERR NX and XX, GT or LT options at the same time are not compatible');
      flag = f;
    }
    const ms = unit === 'EX' || unit === 'EXAT' ? n * 1000n : n;
    const abs = unit === 'EX' || unit === 'PX' ? ms + BigInt(ctx.nowMs()) : ms;
    if (abs > BigInt(Number.MAX_SAFE_INTEGER) || abs < BigInt(Number.MIN_SAFE_INTEGER)) throw new ReplyError(invalidExpire(name));
    const key = k(args[1]!);
    const current = ctx.engine.expiresAt(key);
    if (current === undefined) return w.integer(0);
    const at = Number(abs);
    const persistent = current === 0;
    if (flag === 'NX' && !persistent) return w.integer(0);
    if (flag === 'XX' && persistent) return w.integer(0);
    if (flag === 'GT' && (persistent || at <= current)) return w.integer(0);
    if (flag === 'LT' && !persistent && at >= current) return w.integer(0);
    if (at <= ctx.nowMs()) ctx.engine.delete(key);
    else ctx.engine.setExpiry(key, at);
    w.integer(1);
  };
}

function ttlCmd(ms: boolean): DataHandler {
  return (ctx, args, w) => {
    const at = ctx.engine.expiresAt(k(args[1]!));
    if (at === undefined) return w.integer(-2);
    if (at === 0) return w.integer(-1);
    const left = Math.max(0, at - ctx.nowMs());
    w.integer(ms ? left : Math.round(left / 1000));
  };
}

const persist: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const at = ctx.engine.expiresAt(key);
  if (at === undefined || at === 0) return w.integer(0);
  ctx.engine.setExpiry(key, 0);
  w.integer(1);
};

const type: DataHandler = (ctx, args, w) => w.simple(ctx.engine.get(k(args[1]!))?.type ?? 'none');

function renameCmd(nx: boolean): DataHandler {
  return (ctx, args, w) => {
    const from = k(args[1]!);
    const to = k(args[2]!);
    const v = ctx.engine.get(from);
    if (v === undefined) throw new ReplyError(ERR.noSuchKey);
    if (nx && from !== to && ctx.engine.expiresAt(to) !== undefined) return w.integer(0);
    if (from !== to) {
      const at = ctx.engine.expiresAt(from) ?? 0;
      ctx.engine.delete(from);
      ctx.engine.put(to, v, at);
    }
    if (nx) w.integer(from === to ? 0 : 1);
    else w.ok();
  };
}

/** Parses [MATCH p] [COUNT n] [TYPE t] from index i. */
export function scanOptions(args: Buffer[], i: number, allowType: boolean): { match?: RegExp; count: number; type?: string } {
  const out: { match?: RegExp; count: number; type?: string } = { count: 10 };
  for (; i < args.length; i++) {
    if (isWord(args[i], 'MATCH') && i + 1 < args.length) out.match = globToRegExp(k(args[++i]!));
    else if (isWord(args[i], 'COUNT') && i + 1 < args.length) {
      const c = intArg(args[++i]);
      if (c < 1) throw new ReplyError(ERR.syntax);
      out.count = Math.min(c, SCAN_LIMITS.countMax);
    } else if (allowType && isWord(args[i], 'TYPE') && i + 1 < args.length) out.type = k(args[++i]!).toLowerCase();
    else throw new ReplyError(ERR.syntax);
  }
  return out;
}

export function cursorArg(buf: Buffer): number {
  const c = parseInt64(buf);
  if (c === undefined || c < 0n || c > BigInt(Number.MAX_SAFE_INTEGER)) throw new ReplyError(ERR.invalidCursor);
  return Number(c);
}

const scan: DataHandler = (ctx, args, w) => {
  const cursor = cursorArg(args[1]!);
  const opts = scanOptions(args, 2, true);
  const r = ctx.engine.scan(cursor, opts.count);
  const keys = r.keys.filter((key) => (opts.match === undefined || opts.match.test(key)) && (opts.type === undefined || ctx.engine.get(key)?.type === opts.type));
  w.arrayHeader(2);
  w.bulk(String(r.cursor));
  w.arrayHeader(keys.length);
  for (const key of keys) w.bulkLatin1(key);
};

const keys: DataHandler = (ctx, args, w) => {
  const re = globToRegExp(k(args[1]!));
  const out: string[] = [];
  let cursor = 0;
  do {
    const r = ctx.engine.scan(cursor, 1000);
    for (const key of r.keys) if (re.test(key) && out.length < SCAN_LIMITS.keysReplyMax) out.push(key);
    cursor = r.cursor;
  } while (cursor !== 0);
  w.arrayHeader(out.length);
  for (const key of out) w.bulkLatin1(key);
};

const randomkey: DataHandler = (ctx, _args, w) => {
  const key = ctx.engine.randomKey();
  w.bulkOrNil(key === undefined ? undefined : Buffer.from(key, 'latin1'));
};

// ---- hashes ----

function hashForWrite(ctx: DataContext, key: string): Map<string, Buffer> {
  const h = getHash(ctx, key);
  if (h !== undefined) return h;
  // A journaled hash: later writes replicate as the fields they set or delete (src/storage/journal.ts).
  const fresh = new JournaledMap();
  ctx.engine.put(key, { type: 'hash', value: fresh }, 0);
  return fresh;
}

const hset: DataHandler = (ctx, args, w) => {
  if (args.length < 4 || args.length % 2 !== 0) throw new ReplyError(`ERR wrong number of arguments for '${k(args[0]!).toLowerCase()}' command`);
  const key = k(args[1]!);
  const h = hashForWrite(ctx, key);
  let added = 0;
  for (let i = 2; i < args.length; i += 2) {
    const f = k(args[i]!);
    if (!h.has(f)) added++;
    h.set(f, Buffer.from(args[i + 1]!));
  }
  ctx.engine.touched(key);
  if (isWord(args[0], 'HMSET')) w.ok();
  else w.integer(added);
};

const hsetnx: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const h = hashForWrite(ctx, key);
  const f = k(args[2]!);
  if (h.has(f)) return w.integer(0);
  h.set(f, Buffer.from(args[3]!));
  ctx.engine.touched(key);
  w.integer(1);
};

const hget: DataHandler = (ctx, args, w) => w.bulkOrNil(getHash(ctx, k(args[1]!))?.get(k(args[2]!)));

const hmget: DataHandler = (ctx, args, w) => {
  const h = getHash(ctx, k(args[1]!));
  w.arrayHeader(args.length - 2);
  for (let i = 2; i < args.length; i++) w.bulkOrNil(h?.get(k(args[i]!)));
};

const hgetall: DataHandler = (ctx, args, w) => {
  const h = getHash(ctx, k(args[1]!));
  w.mapHeader(h?.size ?? 0);
  for (const [f, v] of h ?? []) {
    w.bulkLatin1(f);
    w.bulk(v);
  }
};

const hdel: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const h = getHash(ctx, key);
  let n = 0;
  if (h !== undefined) {
    for (let i = 2; i < args.length; i++) if (h.delete(k(args[i]!))) n++;
    // Nothing removed, nothing changed: no write back (no WATCH invalidation, no keyspace event, as Redis).
    if (n > 0 && h.size === 0) ctx.engine.delete(key);
    else if (n > 0) ctx.engine.touched(key);
  }
  w.integer(n);
};

const hexists: DataHandler = (ctx, args, w) => w.integer(getHash(ctx, k(args[1]!))?.has(k(args[2]!)) ? 1 : 0);
const hlen: DataHandler = (ctx, args, w) => w.integer(getHash(ctx, k(args[1]!))?.size ?? 0);

function hlist(part: 'keys' | 'vals'): DataHandler {
  return (ctx, args, w) => {
    const h = getHash(ctx, k(args[1]!));
    w.arrayHeader(h?.size ?? 0);
    for (const [f, v] of h ?? []) w.bulk(part === 'keys' ? Buffer.from(f, 'latin1') : v);
  };
}

const hincrby: DataHandler = (ctx, args, w) => {
  const by = int64Arg(args[3]);
  const key = k(args[1]!);
  const f = k(args[2]!);
  const old = getHash(ctx, key)?.get(f);
  const cur = old === undefined ? 0n : parseInt64(old);
  if (cur === undefined) throw new ReplyError(ERR.hashNotInteger);
  const next = checkInt64(cur + by);
  hashForWrite(ctx, key).set(f, Buffer.from(next.toString(), 'latin1'));
  ctx.engine.touched(key);
  w.integer(next);
};

const hincrbyfloat: DataHandler = (ctx, args, w) => {
  const by = parseFloatArg(args[3]!);
  const key = k(args[1]!);
  const f = k(args[2]!);
  const old = getHash(ctx, key)?.get(f);
  const cur = old === undefined ? 0 : parseFloatArg(old, ERR.hashNotFloat);
  const next = cur + by;
  if (!Number.isFinite(next)) throw new ReplyError(ERR.nanOrInf);
  const text = formatFloatHuman(next);
  hashForWrite(ctx, key).set(f, Buffer.from(text, 'latin1'));
  ctx.engine.touched(key);
  w.bulk(text);
};

/** HSCAN key cursor [MATCH p] [COUNT n]: fields in insertion order; the cursor is a position. */
const hscan: DataHandler = (ctx, args, w) => {
  const cursor = cursorArg(args[2]!);
  const opts = scanOptions(args, 3, false);
  const entries = [...(getHash(ctx, k(args[1]!)) ?? new Map<string, Buffer>())];
  const slice = entries.slice(cursor, cursor + opts.count).filter(([f]) => opts.match === undefined || opts.match.test(f));
  const next = cursor + opts.count >= entries.length ? 0 : cursor + opts.count;
  w.arrayHeader(2);
  w.bulk(String(next));
  w.arrayHeader(slice.length * 2);
  for (const [f, v] of slice) {
    w.bulkLatin1(f);
    w.bulk(v);
  }
};

/** name -> [arity (Redis convention: negative = at least), flags, handler]. Keys: first key at index 1. */
export const DATA_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  set: [-3, ['write'], set, 1, 1],
  get: [2, ['readonly'], get, 1, 1],
  setnx: [3, ['write'], setnx, 1, 1],
  setex: [4, ['write'], setWithTtl('EX', 'setex'), 1, 1],
  psetex: [4, ['write'], setWithTtl('PX', 'psetex'), 1, 1],
  mget: [-2, ['readonly'], mget, 1, -1],
  mset: [-3, ['write'], mset, 1, -1],
  msetnx: [-3, ['write'], msetnx, 1, -1],
  getset: [3, ['write'], getset, 1, 1],
  getdel: [2, ['write'], getdel, 1, 1],
  getex: [-2, ['write'], getex, 1, 1],
  append: [3, ['write'], append, 1, 1],
  strlen: [2, ['readonly'], strlen, 1, 1],
  getrange: [4, ['readonly'], getrange, 1, 1],
  setrange: [4, ['write'], setrange, 1, 1],
  incr: [2, ['write'], incr, 1, 1],
  decr: [2, ['write'], decr, 1, 1],
  incrby: [3, ['write'], incrby, 1, 1],
  decrby: [3, ['write'], decrby, 1, 1],
  incrbyfloat: [3, ['write'], incrbyfloat, 1, 1],
  del: [-2, ['write'], del, 1, -1],
  unlink: [-2, ['write'], del, 1, -1],
  exists: [-2, ['readonly'], exists, 1, -1],
  expire: [-3, ['write'], expireCmd('EX', 'expire'), 1, 1],
  pexpire: [-3, ['write'], expireCmd('PX', 'pexpire'), 1, 1],
  expireat: [-3, ['write'], expireCmd('EXAT', 'expireat'), 1, 1],
  pexpireat: [-3, ['write'], expireCmd('PXAT', 'pexpireat'), 1, 1],
  ttl: [2, ['readonly'], ttlCmd(false), 1, 1],
  pttl: [2, ['readonly'], ttlCmd(true), 1, 1],
  persist: [2, ['write'], persist, 1, 1],
  type: [2, ['readonly'], type, 1, 1],
  rename: [3, ['write'], renameCmd(false), 1, 2],
  renamenx: [3, ['write'], renameCmd(true), 1, 2],
  scan: [-2, ['readonly'], scan, 0, 0],
  keys: [2, ['readonly'], keys, 0, 0],
  randomkey: [1, ['readonly'], randomkey, 0, 0],
  hset: [-4, ['write'], hset, 1, 1],
  hmset: [-4, ['write'], hset, 1, 1],
  hsetnx: [4, ['write'], hsetnx, 1, 1],
  hget: [3, ['readonly'], hget, 1, 1],
  hmget: [-3, ['readonly'], hmget, 1, 1],
  hgetall: [2, ['readonly'], hgetall, 1, 1],
  hdel: [-3, ['write'], hdel, 1, 1],
  hexists: [3, ['readonly'], hexists, 1, 1],
  hlen: [2, ['readonly'], hlen, 1, 1],
  hkeys: [2, ['readonly'], hlist('keys'), 1, 1],
  hvals: [2, ['readonly'], hlist('vals'), 1, 1],
  hincrby: [4, ['write'], hincrby, 1, 1],
  hincrbyfloat: [4, ['write'], hincrbyfloat, 1, 1],
  hscan: [-3, ['readonly'], hscan, 1, 1],
};
