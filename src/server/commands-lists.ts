// List commands with Redis 7 semantics and reply texts: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP (count) LLEN
// LRANGE LINDEX LSET LREM LTRIM LINSERT LPOS LMOVE RPOPLPUSH LMPOP. A list is a deque of latin1 element
// strings (O(1) at both ends) edited in place (`touched` writes it back); an emptied list is deleted, as Redis
// deletes it. The blocking forms (BLPOP, BLMOVE, ...) are not built yet.
import { ERR, ReplyError, intArg, isWord, parseInt64, wrongArity } from './args.js';
import type { DataContext, DataHandler } from './commands-data.js';
import { Deque } from '../storage/deque.js';

const k = (b: Buffer): string => b.toString('latin1');
const el = (m: string): Buffer => Buffer.from(m, 'latin1');
const POSITIVE = 'ERR value is out of range, must be positive';

type List = Deque<string>;

function getList(ctx: DataContext, key: string): List | undefined {
  const v = ctx.engine.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'list') throw new ReplyError(ERR.wrongType);
  return v.value;
}

function listForWrite(ctx: DataContext, key: string): List {
  const l = getList(ctx, key);
  if (l !== undefined) return l;
  const fresh = new Deque<string>();
  ctx.engine.put(key, { type: 'list', value: fresh }, 0);
  return fresh;
}

function settle(ctx: DataContext, key: string, l: List): void {
  if (l.length === 0) ctx.engine.delete(key);
  else ctx.engine.touched(key);
}

function push(left: boolean, onlyIfExists: boolean): DataHandler {
  return (ctx, args, w) => {
    const key = k(args[1]!);
    if (onlyIfExists && getList(ctx, key) === undefined) return w.integer(0);
    const l = listForWrite(ctx, key);
    for (let i = 2; i < args.length; i++) {
      if (left) l.pushFront(k(args[i]!));
      else l.pushBack(k(args[i]!));
    }
    ctx.engine.touched(key);
    w.integer(l.length);
  };
}

function pop(left: boolean): DataHandler {
  return (ctx, args, w) => {
    if (args.length > 3) throw new ReplyError(wrongArity(left ? 'lpop' : 'rpop'));
    const key = k(args[1]!);
    const count = args.length === 3 ? intArg(args[2], POSITIVE) : undefined;
    if (count !== undefined && count < 0) throw new ReplyError(POSITIVE);
    const l = getList(ctx, key);
    if (l === undefined) return count === undefined ? w.nil() : w.nilArray();
    if (count === undefined) {
      const m = left ? l.popFront()! : l.popBack()!;
      settle(ctx, key, l);
      return w.bulkLatin1(m);
    }
    const taken = take(l, left, count);
    settle(ctx, key, l);
    w.arrayHeader(taken.length);
    for (const m of taken) w.bulkLatin1(m);
  };
}

/** Pops up to `count` elements from one end, in popping order. */
function take(l: List, left: boolean, count: number): string[] {
  const out: string[] = [];
  while (out.length < count && l.length > 0) out.push(left ? l.popFront()! : l.popBack()!);
  return out;
}

/** Redis's start/stop normalisation for LRANGE and LTRIM: negative from the end, clamped. */
function range(len: number, startArg: Buffer, stopArg: Buffer): [number, number] {
  let start = intArg(startArg);
  let stop = intArg(stopArg);
  if (start < 0) start = Math.max(0, len + start);
  if (stop < 0) stop = len + stop;
  if (stop >= len) stop = len - 1;
  return [start, stop];
}

const lrange: DataHandler = (ctx, args, w) => {
  const l = getList(ctx, k(args[1]!));
  const [start, stop] = range(l?.length ?? 0, args[2]!, args[3]!);
  if (l === undefined || start > stop || start >= l.length) return w.arrayHeader(0);
  w.arrayHeader(stop - start + 1);
  l.visit(start, stop + 1, (s, from, length) => w.bulkLatin1(s, from, length));
};

const ltrim: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const l = getList(ctx, key);
  if (l !== undefined) {
    const [start, stop] = range(l.length, args[2]!, args[3]!);
    l.replace(start > stop || start >= l.length ? [] : l.slice(start, stop + 1));
    settle(ctx, key, l);
  } else range(0, args[2]!, args[3]!);
  w.ok();
};

const llen: DataHandler = (ctx, args, w) => w.integer(getList(ctx, k(args[1]!))?.length ?? 0);

const lindex: DataHandler = (ctx, args, w) => {
  const l = getList(ctx, k(args[1]!));
  const i = intArg(args[2]);
  if (l === undefined) return w.nil();
  const at = i < 0 ? l.length + i : i;
  w.bulkOrNil(at >= 0 && at < l.length ? el(l.at(at)!) : undefined);
};

const lset: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const l = getList(ctx, key);
  if (l === undefined) throw new ReplyError(ERR.noSuchKey);
  const i = intArg(args[2]);
  const at = i < 0 ? l.length + i : i;
  if (at < 0 || at >= l.length) throw new ReplyError('ERR index out of range');
  l.set(at, k(args[3]!));
  ctx.engine.touched(key);
  w.ok();
};

const lrem: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const count = intArg(args[2]);
  const l = getList(ctx, key);
  if (l === undefined) return w.integer(0);
  const target = k(args[3]!);
  const limit = count === 0 ? Infinity : Math.abs(count);
  // One pass in the direction the count gives, keeping what is not removed; one rebuild.
  const items = count >= 0 ? [...l] : [...l].reverse();
  let removed = 0;
  const kept = items.filter((m) => (m === target && removed < limit ? (removed++, false) : true));
  if (removed > 0) {
    l.replace(count >= 0 ? kept : kept.reverse());
    settle(ctx, key, l);
  }
  w.integer(removed);
};

const linsert: DataHandler = (ctx, args, w) => {
  const before = isWord(args[2], 'BEFORE');
  if (!before && !isWord(args[2], 'AFTER')) throw new ReplyError(ERR.syntax);
  const key = k(args[1]!);
  const l = getList(ctx, key);
  if (l === undefined) return w.integer(0);
  const items = [...l];
  const at = items.indexOf(k(args[3]!));
  if (at < 0) return w.integer(-1);
  items.splice(before ? at : at + 1, 0, k(args[4]!));
  l.replace(items);
  ctx.engine.touched(key);
  w.integer(l.length);
};

/** LPOS key element [RANK rank] [COUNT num] [MAXLEN len]. */
const lpos: DataHandler = (ctx, args, w) => {
  let rank = 1;
  let count: number | undefined;
  let maxlen = 0;
  for (let i = 3; i < args.length; i++) {
    if (isWord(args[i], 'RANK') && i + 1 < args.length) {
      rank = intArg(args[++i]);
      if (rank === 0) throw new ReplyError('ERR RANK can\'t be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list');
    } else if (isWord(args[i], 'COUNT') && i + 1 < args.length) {
      count = intArg(args[++i]);
      if (count < 0) throw new ReplyError("ERR COUNT can't be negative");
    } else if (isWord(args[i], 'MAXLEN') && i + 1 < args.length) {
      maxlen = intArg(args[++i]);
      if (maxlen < 0) throw new ReplyError("ERR MAXLEN can't be negative");
    } else throw new ReplyError(ERR.syntax);
  }
  const l = getList(ctx, k(args[1]!)) ?? new Deque<string>();
  const target = k(args[2]!);
  const found: number[] = [];
  const want = count === undefined ? 1 : count === 0 ? Infinity : count;
  let skip = Math.abs(rank) - 1;
  const scanMax = maxlen === 0 ? l.length : Math.min(maxlen, l.length);
  for (let n = 0; n < scanMax && found.length < want; n++) {
    const i = rank > 0 ? n : l.length - 1 - n;
    if (l.at(i) !== target) continue;
    if (skip > 0) skip--;
    else found.push(i);
  }
  if (count === undefined) return found.length === 0 ? w.nil() : w.integer(found[0]!);
  w.arrayHeader(found.length);
  for (const i of found) w.integer(i);
};

function side(arg: Buffer | undefined): 'left' | 'right' {
  if (isWord(arg, 'LEFT')) return 'left';
  if (isWord(arg, 'RIGHT')) return 'right';
  throw new ReplyError(ERR.syntax);
}

/** Pops from `from`'s `fromSide` and pushes onto `to`'s `toSide` (the same key too); nil when `from` is empty. */
function move(ctx: DataContext, from: string, to: string, fromSide: 'left' | 'right', toSide: 'left' | 'right'): string | undefined {
  const src = getList(ctx, from);
  if (src === undefined) return undefined;
  // The destination's type is checked before anything moves, as Redis checks it.
  getList(ctx, to);
  const m = fromSide === 'left' ? src.popFront()! : src.popBack()!;
  settle(ctx, from, src);
  const dst = listForWrite(ctx, to);
  if (toSide === 'left') dst.pushFront(m);
  else dst.pushBack(m);
  ctx.engine.touched(to);
  return m;
}

const lmove: DataHandler = (ctx, args, w) => {
  const fromSide = side(args[3]);
  const toSide = side(args[4]);
  const m = move(ctx, k(args[1]!), k(args[2]!), fromSide, toSide);
  w.bulkOrNil(m === undefined ? undefined : el(m));
};

const rpoplpush: DataHandler = (ctx, args, w) => {
  const m = move(ctx, k(args[1]!), k(args[2]!), 'right', 'left');
  w.bulkOrNil(m === undefined ? undefined : el(m));
};

/** Where LMPOP's and ZMPOP's keys are: `numkeys` of them from index 2. */
export function lmpopKeys(args: readonly Buffer[]): Buffer[] {
  const n = parseInt64(args[1]!);
  if (n === undefined || n <= 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ReplyError('ERR numkeys should be greater than 0');
  // The keys must leave room for the side word; Redis calls a count that does not a syntax error.
  if (n > BigInt(args.length - 3)) throw new ReplyError(ERR.syntax);
  return args.slice(2, 2 + Number(n));
}

/** LMPOP/ZMPOP numkeys key [key ...] <side> [COUNT count]: the keys, the side word's index and the count. */
export function mpopArgs(args: readonly Buffer[], sides: readonly [string, string]): { keys: Buffer[]; first: boolean; count: number } {
  const keys = lmpopKeys(args);
  let i = 2 + keys.length;
  const where = args[i++];
  if (!isWord(where, sides[0]) && !isWord(where, sides[1])) throw new ReplyError(ERR.syntax);
  let count = 1;
  if (i < args.length) {
    if (!isWord(args[i], 'COUNT') || i + 2 !== args.length) throw new ReplyError(ERR.syntax);
    count = intArg(args[i + 1], 'ERR count should be greater than 0');
    if (count <= 0) throw new ReplyError('ERR count should be greater than 0');
  }
  return { keys, first: isWord(where, sides[0]), count };
}

/** LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops from the first non-empty list. */
const lmpop: DataHandler = (ctx, args, w) => {
  const { keys, first, count } = mpopArgs(args, ['LEFT', 'RIGHT']);
  const where = first ? 'left' : 'right';
  for (const kb of keys) {
    const key = k(kb);
    const l = getList(ctx, key);
    if (l === undefined) continue;
    const taken = take(l, where === 'left', count);
    settle(ctx, key, l);
    w.arrayHeader(2);
    w.bulk(kb);
    w.arrayHeader(taken.length);
    for (const m of taken) w.bulkLatin1(m);
    return;
  }
  w.nilArray();
};

/** What the blocking forms (commands-blocking.ts) share with these commands. */
export const listOps = { get: getList, take, settle, move, side };

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const LIST_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  lpush: [-3, ['write'], push(true, false), 1, 1],
  rpush: [-3, ['write'], push(false, false), 1, 1],
  lpushx: [-3, ['write'], push(true, true), 1, 1],
  rpushx: [-3, ['write'], push(false, true), 1, 1],
  lpop: [-2, ['write'], pop(true), 1, 1],
  rpop: [-2, ['write'], pop(false), 1, 1],
  llen: [2, ['readonly'], llen, 1, 1],
  lrange: [4, ['readonly'], lrange, 1, 1],
  lindex: [3, ['readonly'], lindex, 1, 1],
  lset: [4, ['write'], lset, 1, 1],
  lrem: [4, ['write'], lrem, 1, 1],
  ltrim: [4, ['write'], ltrim, 1, 1],
  linsert: [5, ['write'], linsert, 1, 1],
  lpos: [-3, ['readonly'], lpos, 1, 1],
  lmove: [5, ['write'], lmove, 1, 2],
  rpoplpush: [3, ['write'], rpoplpush, 1, 2],
  lmpop: [-4, ['write'], lmpop, 2, 2],
};
