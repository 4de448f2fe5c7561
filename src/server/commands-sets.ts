// Set commands with Redis 7 semantics and reply texts: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD,
// SPOP, SRANDMEMBER, SINTER/SUNION/SDIFF (+STORE), SINTERCARD, SMOVE, SSCAN. A set is a Set of latin1 member
// strings edited in place (`touched` writes it back); an emptied set is deleted, as Redis deletes it.
import { JournaledSet } from '../storage/journal.js';
import type { RespWriter } from './resp-writer.js';
import { ERR, ReplyError, intArg, isWord, parseInt64 } from './args.js';
import { cursorArg, scanOptions, type DataContext, type DataHandler } from './commands-data.js';

export const SET_LIMITS = Object.freeze({
  /** Largest |count| SRANDMEMBER and SPOP accept (Redis bounds it at LONG_MAX; a reply this big is refused instead). */
  countMax: 100_000_000,
});

const k = (b: Buffer): string => b.toString('latin1');
const member = (m: string): Buffer => Buffer.from(m, 'latin1');

function getSet(ctx: DataContext, key: string): Set<string> | undefined {
  const v = ctx.engine.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'set') throw new ReplyError(ERR.wrongType);
  return v.value;
}

function setForWrite(ctx: DataContext, key: string): Set<string> {
  const s = getSet(ctx, key);
  if (s !== undefined) return s;
  // A journaled set: later writes replicate as the members they add or remove (src/storage/journal.ts).
  const fresh = new JournaledSet();
  ctx.engine.put(key, { type: 'set', value: fresh }, 0);
  return fresh;
}

/** After an in-place edit: an empty set is deleted, any other written back. */
function settle(ctx: DataContext, key: string, s: Set<string>): void {
  if (s.size === 0) ctx.engine.delete(key);
  else ctx.engine.touched(key);
}

function replySet(w: RespWriter, members: Iterable<string>, size: number): void {
  w.setHeader(size);
  for (const m of members) w.bulkLatin1(m);
}

const sadd: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const s = setForWrite(ctx, key);
  let added = 0;
  for (let i = 2; i < args.length; i++) {
    const m = k(args[i]!);
    if (!s.has(m)) {
      s.add(m);
      added++;
    }
  }
  ctx.engine.touched(key);
  w.integer(added);
};

const srem: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const s = getSet(ctx, key);
  let removed = 0;
  if (s !== undefined) {
    for (let i = 2; i < args.length; i++) if (s.delete(k(args[i]!))) removed++;
    if (removed > 0) settle(ctx, key, s);
  }
  w.integer(removed);
};

const smembers: DataHandler = (ctx, args, w) => {
  const s = getSet(ctx, k(args[1]!)) ?? new Set<string>();
  replySet(w, s, s.size);
};

const sismember: DataHandler = (ctx, args, w) => w.integer(getSet(ctx, k(args[1]!))?.has(k(args[2]!)) === true ? 1 : 0);

const smismember: DataHandler = (ctx, args, w) => {
  const s = getSet(ctx, k(args[1]!));
  w.arrayHeader(args.length - 2);
  for (let i = 2; i < args.length; i++) w.integer(s?.has(k(args[i]!)) === true ? 1 : 0);
};

const scard: DataHandler = (ctx, args, w) => w.integer(getSet(ctx, k(args[1]!))?.size ?? 0);

/** `count` distinct members chosen uniformly (selection sampling over the set's order). */
function sample(s: Set<string>, count: number): string[] {
  const out: string[] = [];
  let left = s.size;
  for (const m of s) {
    if (out.length >= count) break;
    if (Math.random() * left-- < count - out.length) out.push(m);
  }
  return out;
}

function randomMember(s: Set<string>): string {
  let i = Math.floor(Math.random() * s.size);
  for (const m of s) if (i-- === 0) return m;
  throw new Error('unreachable: a member exists at every index below size');
}

const spop: DataHandler = (ctx, args, w) => {
  if (args.length > 3) throw new ReplyError(ERR.syntax);
  const key = k(args[1]!);
  if (args.length === 2) {
    const s = getSet(ctx, key);
    if (s === undefined || s.size === 0) return w.nil();
    const m = randomMember(s);
    s.delete(m);
    settle(ctx, key, s);
    return w.bulkLatin1(m);
  }
  const count = intArg(args[2], 'ERR value is out of range, must be positive');
  if (count < 0) throw new ReplyError('ERR value is out of range, must be positive');
  const s = getSet(ctx, key);
  if (s === undefined || count === 0) return replySet(w, [], 0);
  const popped = count >= s.size ? [...s] : sample(s, count);
  for (const m of popped) s.delete(m);
  settle(ctx, key, s);
  replySet(w, popped, popped.length);
};

const srandmember: DataHandler = (ctx, args, w) => {
  if (args.length > 3) throw new ReplyError(ERR.syntax);
  if (args.length === 2) {
    const s = getSet(ctx, k(args[1]!));
    return s === undefined || s.size === 0 ? w.nil() : w.bulkLatin1(randomMember(s));
  }
  const count = intArg(args[2]);
  if (Math.abs(count) > SET_LIMITS.countMax) throw new ReplyError('ERR value is out of range');
  const s = getSet(ctx, k(args[1]!));
  if (s === undefined || count === 0 || s.size === 0) return w.arrayHeader(0);
  if (count > 0) {
    const picked = count >= s.size ? [...s] : sample(s, count);
    w.arrayHeader(picked.length);
    for (const m of picked) w.bulkLatin1(m);
    return;
  }
  // A negative count may repeat members: |count| independent draws.
  const all = [...s];
  w.arrayHeader(-count);
  for (let i = 0; i < -count; i++) w.bulk(member(all[Math.floor(Math.random() * all.length)]!));
};

/** The sets named by `keys` (undefined for a missing key), every existing one checked to be a set first. */
function setsOf(ctx: DataContext, keys: readonly Buffer[]): (Set<string> | undefined)[] {
  return keys.map((b) => getSet(ctx, k(b)));
}

type SetOp = 'inter' | 'union' | 'diff';

function combine(op: SetOp, sets: readonly (Set<string> | undefined)[]): Set<string> {
  if (op === 'union') {
    const out = new Set<string>();
    for (const s of sets) if (s !== undefined) for (const m of s) out.add(m);
    return out;
  }
  const first = sets[0] ?? new Set<string>();
  if (op === 'diff') {
    const out = new Set(first);
    for (const s of sets.slice(1)) if (s !== undefined) for (const m of s) out.delete(m);
    return out;
  }
  if (sets.some((s) => s === undefined)) return new Set();
  const bySize = [...(sets as Set<string>[])].sort((a, b) => a.size - b.size);
  const out = new Set<string>();
  for (const m of bySize[0]!) if (bySize.every((s) => s.has(m))) out.add(m);
  return out;
}

function setOp(op: SetOp): DataHandler {
  return (ctx, args, w) => {
    const result = combine(op, setsOf(ctx, args.slice(1)));
    replySet(w, result, result.size);
  };
}

/** SINTERSTORE/SUNIONSTORE/SDIFFSTORE: the result replaces `destination` whatever it held; empty deletes it. */
function setOpStore(op: SetOp): DataHandler {
  return (ctx, args, w) => {
    const result = combine(op, setsOf(ctx, args.slice(2)));
    const dest = k(args[1]!);
    if (result.size === 0) ctx.engine.delete(dest);
    // Stored as a journaled set, so later writes record their changes (replication deltas, LMDB chunks).
    else ctx.engine.put(dest, { type: 'set', value: new JournaledSet(result) }, 0);
    w.integer(result.size);
  };
}

/** Where SINTERCARD's keys are: `numkeys` of them from index 2 (refusing counts the arguments cannot hold). */
export function sintercardKeys(args: readonly Buffer[]): Buffer[] {
  const n = parseInt64(args[1]!);
  // Redis words a count that is not a positive integer one way, whatever is wrong with it.
  if (n === undefined || n <= 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ReplyError('ERR numkeys should be greater than 0');
  if (n > BigInt(args.length - 2)) throw new ReplyError("ERR Number of keys can't be greater than number of args");
  return args.slice(2, 2 + Number(n));
}

const sintercard: DataHandler = (ctx, args, w) => {
  const keys = sintercardKeys(args);
  let limit = 0;
  for (let i = 2 + keys.length; i < args.length; i++) {
    if (isWord(args[i], 'LIMIT') && i + 1 < args.length) {
      limit = intArg(args[++i], "ERR LIMIT can't be negative");
      if (limit < 0) throw new ReplyError("ERR LIMIT can't be negative");
    } else throw new ReplyError(ERR.syntax);
  }
  const result = combine('inter', setsOf(ctx, keys));
  w.integer(limit > 0 ? Math.min(limit, result.size) : result.size);
};

const smove: DataHandler = (ctx, args, w) => {
  const from = k(args[1]!);
  const to = k(args[2]!);
  const m = k(args[3]!);
  // As Redis: a missing source answers 0 before any type check; then both keys must be sets.
  if (ctx.engine.get(from) === undefined) return w.integer(0);
  const src = getSet(ctx, from)!;
  const dst = getSet(ctx, to);
  if (from === to || !src.has(m)) return w.integer(src.has(m) ? 1 : 0);
  src.delete(m);
  settle(ctx, from, src);
  const target = dst ?? setForWrite(ctx, to);
  target.add(m);
  ctx.engine.touched(to);
  w.integer(1);
};

const sscan: DataHandler = (ctx, args, w) => {
  const cursor = cursorArg(args[2]!);
  const opts = scanOptions(args, 3, false);
  const members = [...(getSet(ctx, k(args[1]!)) ?? [])];
  const slice = members.slice(cursor, cursor + opts.count).filter((m) => opts.match === undefined || opts.match.test(m));
  w.arrayHeader(2);
  w.bulk(String(cursor + opts.count >= members.length ? 0 : cursor + opts.count));
  w.arrayHeader(slice.length);
  for (const m of slice) w.bulkLatin1(m);
};

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const SET_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  sadd: [-3, ['write'], sadd, 1, 1],
  srem: [-3, ['write'], srem, 1, 1],
  smembers: [2, ['readonly'], smembers, 1, 1],
  sismember: [3, ['readonly'], sismember, 1, 1],
  smismember: [-3, ['readonly'], smismember, 1, 1],
  scard: [2, ['readonly'], scard, 1, 1],
  spop: [-2, ['write'], spop, 1, 1],
  srandmember: [-2, ['readonly'], srandmember, 1, 1],
  sinter: [-2, ['readonly'], setOp('inter'), 1, -1],
  sunion: [-2, ['readonly'], setOp('union'), 1, -1],
  sdiff: [-2, ['readonly'], setOp('diff'), 1, -1],
  sinterstore: [-3, ['write'], setOpStore('inter'), 1, -1],
  sunionstore: [-3, ['write'], setOpStore('union'), 1, -1],
  sdiffstore: [-3, ['write'], setOpStore('diff'), 1, -1],
  sintercard: [-3, ['readonly'], sintercard, 2, 2],
  smove: [4, ['write'], smove, 1, 2],
  sscan: [-3, ['readonly'], sscan, 1, 1],
};
