// Sorted set commands with Redis 7.0 semantics and reply texts: ZADD (NX XX GT LT CH INCR), ZINCRBY, ZSCORE,
// ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK, ZREM, ZREMRANGEBY{RANK,SCORE,LEX}, ZRANGE (BYSCORE BYLEX REV
// LIMIT WITHSCORES) and its legacy forms, ZRANGESTORE, ZPOPMIN/MAX, ZMPOP, ZUNION/ZINTER/ZDIFF (+STORE, WEIGHTS,
// AGGREGATE), ZINTERCARD, ZRANDMEMBER, ZSCAN. The value is a ZSet (src/storage/zset.ts) edited in place.
import type { RespWriter } from './resp-writer.js';
import { ERR, ReplyError, intArg, isWord, parseFloatArg } from './args.js';
import { cursorArg, scanOptions, type DataContext, type DataHandler } from './commands-data.js';
import { mpopArgs } from './commands-lists.js';
import { ZSet, type LexBound, type LexRange, type ScoreRange, type ZNode } from '../storage/zset.js';

export const ZSET_COMMAND_LIMITS = Object.freeze({
  /** Largest |count| ZRANDMEMBER accepts (a reply this big is refused rather than built). */
  countMax: 100_000_000,
  /** Below this size ZSCAN returns the whole set in one call, as Redis does for its listpack encoding. */
  scanWholeMax: 128,
});

const k = (b: Buffer): string => b.toString('latin1');
const bytes = (m: string): Buffer => Buffer.from(m, 'latin1');

/** Redis 7.0's reply text for a score: integers plainly, others with %.17g; -0 as 0. */
export function formatScore(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Number.isInteger(x) && Math.abs(x) < 2 ** 52) return x === 0 ? '0' : x.toFixed(0);
  const [mant, expText] = x.toExponential(16).split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 17) {
    const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant;
    return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const fixed = x.toFixed(16 - exp);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/** A score argument as strtod reads it (decimal, inf, or hex integers), NaN refused. */
function scoreArg(b: Buffer, error: string = ERR.notFloat): number {
  const s = k(b);
  if (/^[+-]?0x[0-9a-f]+$/i.test(s)) return (s.startsWith('-') ? -1 : 1) * parseInt(s.replace(/^[+-]?0x/i, ''), 16);
  const v = parseFloatArg(b, error);
  // strtod's ERANGE, which Redis refuses: a finite literal that overflows, or a nonzero one that underflows to 0.
  if ((!Number.isFinite(v) && !/inf/i.test(s)) || (v === 0 && /[1-9]/.test(s.replace(/e.*$/i, '')))) throw new ReplyError(error);
  return v;
}

function getZ(ctx: DataContext, key: string): ZSet | undefined {
  const v = ctx.engine.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'zset') throw new ReplyError(ERR.wrongType);
  return v.value;
}

/** After an in-place edit: an empty sorted set is deleted, any other written back. */
function settle(ctx: DataContext, key: string, z: ZSet): void {
  if (z.size === 0) ctx.engine.delete(key);
  else ctx.engine.touched(key);
}

function score(w: RespWriter, x: number): void {
  w.double(x, formatScore);
}

/** Members, with their scores when asked: flat in RESP2, [member, score] pairs in RESP3. */
function replyNodes(w: RespWriter, nodes: readonly ZNode[], withScores: boolean): void {
  const pairs = withScores && w.version === 3;
  w.arrayHeader(withScores && !pairs ? nodes.length * 2 : nodes.length);
  for (const n of nodes) {
    if (pairs) w.arrayHeader(2);
    w.bulkLatin1(n.member);
    if (withScores) score(w, n.score);
  }
}

/** Up to `count` nodes in ascending order from `n`. */
function nodesFrom(n: ZNode | null, count: number): ZNode[] {
  const out: ZNode[] = [];
  for (; n !== null && out.length < count; n = n.next) out.push(n);
  return out;
}

// ---- ZADD / ZINCRBY -------------------------------------------------------------------------------------------

interface AddFlags {
  nx: boolean;
  xx: boolean;
  gt: boolean;
  lt: boolean;
  ch: boolean;
  incr: boolean;
}

function addFlags(args: Buffer[]): { flags: AddFlags; at: number } {
  const flags: AddFlags = { nx: false, xx: false, gt: false, lt: false, ch: false, incr: false };
  let at = 2;
  for (; at < args.length; at++) {
    const word = k(args[at]!).toLowerCase();
    if (word in flags) flags[word as keyof AddFlags] = true;
    else break;
  }
  const elements = args.length - at;
  if (flags.nx && flags.xx) throw new ReplyError('ERR XX and NX options at the same time are not compatible');
  if ((flags.gt && flags.nx) || (flags.lt && flags.nx) || (flags.gt && flags.lt)) throw new ReplyError('ERR GT, LT, and/or NX options at the same time are not compatible');
  if (elements % 2 !== 0 || elements === 0) throw new ReplyError(ERR.syntax);
  if (flags.incr && elements > 2) throw new ReplyError('ERR INCR option supports a single increment-element pair');
  return { flags, at };
}

const zadd: DataHandler = (ctx, args, w) => {
  const { flags, at } = addFlags(args);
  const scores: number[] = [];
  for (let i = at; i < args.length; i += 2) scores.push(scoreArg(args[i]!));
  const key = k(args[1]!);
  let z = getZ(ctx, key);
  if (z === undefined) {
    if (flags.xx) return flags.incr ? w.nil() : w.integer(0);
    z = new ZSet();
    ctx.engine.put(key, { type: 'zset', value: z }, 0);
  }
  let added = 0;
  let changed = 0;
  let incrResult: number | undefined;
  for (let i = at, j = 0; i < args.length; i += 2, j++) {
    const m = k(args[i + 1]!);
    const cur = z.score(m);
    let next = scores[j]!;
    if (cur === undefined) {
      if (flags.xx) continue;
      z.add(m, next);
      added++;
      incrResult = next;
      continue;
    }
    if (flags.nx) continue;
    if (flags.incr) {
      next += cur;
      if (Number.isNaN(next)) {
        settle(ctx, key, z);
        throw new ReplyError('ERR resulting score is not a number (NaN)');
      }
    }
    if ((flags.lt && next >= cur) || (flags.gt && next <= cur)) continue;
    incrResult = next;
    if (next !== cur) {
      z.add(m, next);
      changed++;
    }
  }
  settle(ctx, key, z);
  if (flags.incr) return incrResult === undefined ? w.nil() : score(w, incrResult);
  w.integer(flags.ch ? added + changed : added);
};

const zincrby: DataHandler = (ctx, args, w) => zadd(ctx, [args[0]!, args[1]!, Buffer.from('INCR'), args[2]!, args[3]!], w);

// ---- Reads -----------------------------------------------------------------------------------------------------

const zscore: DataHandler = (ctx, args, w) => {
  const s = getZ(ctx, k(args[1]!))?.score(k(args[2]!));
  if (s === undefined) w.nil();
  else score(w, s);
};

const zmscore: DataHandler = (ctx, args, w) => {
  const z = getZ(ctx, k(args[1]!));
  w.arrayHeader(args.length - 2);
  for (let i = 2; i < args.length; i++) {
    const s = z?.score(k(args[i]!));
    if (s === undefined) w.nil();
    else score(w, s);
  }
};

const zcard: DataHandler = (ctx, args, w) => w.integer(getZ(ctx, k(args[1]!))?.size ?? 0);

function scoreBound(b: Buffer): { v: number; ex: boolean } {
  const ex = b[0] === 0x28; /* ( */
  const v = scoreArg(ex ? b.subarray(1) : b, 'ERR min or max is not a float');
  return { v, ex };
}

export function scoreRange(minArg: Buffer, maxArg: Buffer): ScoreRange {
  const min = scoreBound(minArg);
  const max = scoreBound(maxArg);
  return { min: min.v, max: max.v, minEx: min.ex, maxEx: max.ex };
}

function lexBound(b: Buffer): LexBound {
  if (b.length === 1 && b[0] === 0x2b) return '+';
  if (b.length === 1 && b[0] === 0x2d) return '-';
  if (b[0] === 0x28 || b[0] === 0x5b) return { value: k(b.subarray(1)), ex: b[0] === 0x28 };
  throw new ReplyError('ERR min or max not valid string range item');
}

export function lexRange(minArg: Buffer, maxArg: Buffer): LexRange {
  return { min: lexBound(minArg), max: lexBound(maxArg) };
}

/** How many members lie between two nodes' ranks (inclusive), 0 when either is missing. */
function countBetween(z: ZSet, first: ZNode | null, last: ZNode | null): number {
  if (first === null || last === null) return 0;
  return Math.max(0, z.rankOf(last) - z.rankOf(first) + 1);
}

const zcount: DataHandler = (ctx, args, w) => {
  const r = scoreRange(args[2]!, args[3]!);
  const z = getZ(ctx, k(args[1]!));
  w.integer(z === undefined ? 0 : countBetween(z, z.firstInRange(r), z.lastInRange(r)));
};

const zlexcount: DataHandler = (ctx, args, w) => {
  const r = lexRange(args[2]!, args[3]!);
  const z = getZ(ctx, k(args[1]!));
  w.integer(z === undefined ? 0 : countBetween(z, z.firstInLex(r), z.lastInLex(r)));
};

function zrank(rev: boolean): DataHandler {
  return (ctx, args, w) => {
    const z = getZ(ctx, k(args[1]!));
    const r = z?.rank(k(args[2]!));
    if (z === undefined || r === undefined) return w.nil();
    w.integer(rev ? z.size - 1 - r : r);
  };
}

// ---- Ranges ----------------------------------------------------------------------------------------------------

type RangeKind = 'rank' | 'score' | 'lex';

interface RangeQuery {
  kind: RangeKind;
  rev: boolean;
  withScores: boolean;
  offset: number;
  /** -1: no limit. */
  limit: number;
  min: Buffer;
  max: Buffer;
}

/** Ranks [start, stop] (negative from the end) clamped to a set of `len`, or undefined when empty. */
function rankWindow(start: number, stop: number, len: number): [number, number] | undefined {
  let a = start < 0 ? len + start : start;
  let b = stop < 0 ? len + stop : stop;
  if (a < 0) a = 0;
  if (a > b || a >= len) return undefined;
  if (b >= len) b = len - 1;
  return [a, b];
}

function byRank(z: ZSet, q: RangeQuery): ZNode[] {
  const win = rankWindow(intArg(q.min), intArg(q.max), z.size);
  if (win === undefined) return [];
  const [a, b] = win;
  const out: ZNode[] = [];
  let n = z.at(q.rev ? z.size - 1 - a : a);
  for (let i = a; i <= b && n !== null; i++) {
    out.push(n);
    n = q.rev ? n.backward : n.next;
  }
  return out;
}

/** Walks from `start` in the query's direction while `inside` holds, after skipping `offset`, up to `limit`. */
function walk(start: ZNode | null, q: RangeQuery, inside: (n: ZNode) => boolean): ZNode[] {
  const out: ZNode[] = [];
  if (q.offset < 0) return out; // Redis's skip loop runs off the end for a negative offset
  const step = (n: ZNode): ZNode | null => (q.rev ? n.backward : n.next);
  let n = start;
  for (let skip = q.offset; n !== null && skip > 0; skip--) n = step(n);
  for (let left = q.limit; n !== null && left !== 0 && inside(n); left--) {
    out.push(n);
    n = step(n);
  }
  return out;
}

function queryNodes(z: ZSet, q: RangeQuery): ZNode[] {
  if (q.kind === 'rank') return byRank(z, q);
  if (q.offset > 0 && q.offset >= z.size) return [];
  if (q.kind === 'score') {
    const r = scoreRange(q.min, q.max);
    return walk(q.rev ? z.lastInRange(r) : z.firstInRange(r), q, (n) => z.inRange(n, r));
  }
  const r = lexRange(q.min, q.max);
  return walk(q.rev ? z.lastInLex(r) : z.firstInLex(r), q, (n) => z.inLex(n, r));
}

/** Validates a query's range arguments before the key is read, as Redis does. */
function checkRange(q: RangeQuery): void {
  if (q.kind === 'rank') {
    intArg(q.min);
    intArg(q.max);
  } else if (q.kind === 'score') scoreRange(q.min, q.max);
  else lexRange(q.min, q.max);
}

/** Parses ZRANGE-family options from `at`; `kind`/`rev` preset for the legacy commands (then not accepted). */
function rangeQuery(args: Buffer[], at: number, preset: { kind?: RangeKind; rev?: boolean }, store: boolean): RangeQuery {
  let kind = preset.kind;
  let rev = preset.rev ?? false;
  let withScores = false;
  let offset = 0;
  let limit = -1;
  for (let j = at + 3; j < args.length; j++) {
    const left = args.length - j - 1;
    if (!store && isWord(args[j], 'WITHSCORES')) withScores = true;
    else if (isWord(args[j], 'LIMIT') && left >= 2) {
      offset = intArg(args[j + 1]);
      limit = intArg(args[j + 2]);
      j += 2;
    } else if (preset.rev === undefined && isWord(args[j], 'REV')) rev = true;
    else if (preset.kind === undefined && isWord(args[j], 'BYLEX')) kind = 'lex';
    else if (preset.kind === undefined && isWord(args[j], 'BYSCORE')) kind = 'score';
    else throw new ReplyError(ERR.syntax);
  }
  kind ??= 'rank';
  if (limit !== -1 && kind === 'rank') throw new ReplyError('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX');
  if (withScores && kind === 'lex') throw new ReplyError('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
  // Score and lex ranges in reverse are given as max then min.
  const swap = rev && kind !== 'rank';
  const q: RangeQuery = { kind, rev, withScores, offset, limit, min: args[swap ? at + 2 : at + 1]!, max: args[swap ? at + 1 : at + 2]! };
  checkRange(q);
  return q;
}

function zrange(preset: { kind?: RangeKind; rev?: boolean }): DataHandler {
  return (ctx, args, w) => {
    const q = rangeQuery(args, 1, preset, false);
    const z = getZ(ctx, k(args[1]!));
    replyNodes(w, z === undefined ? [] : queryNodes(z, q), q.withScores);
  };
}

const zrangestore: DataHandler = (ctx, args, w) => {
  const q = rangeQuery(args, 2, {}, true);
  const z = getZ(ctx, k(args[2]!));
  const nodes = z === undefined ? [] : queryNodes(z, q);
  const dest = k(args[1]!);
  if (nodes.length === 0) ctx.engine.delete(dest);
  else ctx.engine.put(dest, { type: 'zset', value: new ZSet(nodes.map((n) => [n.member, n.score] as const)) }, 0);
  w.integer(nodes.length);
};

// ---- Removal ---------------------------------------------------------------------------------------------------

const zrem: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const z = getZ(ctx, key);
  let removed = 0;
  if (z !== undefined) {
    for (let i = 2; i < args.length; i++) if (z.remove(k(args[i]!))) removed++;
    if (removed > 0) settle(ctx, key, z);
  }
  w.integer(removed);
};

function zremrange(kind: RangeKind): DataHandler {
  return (ctx, args, w) => {
    const q: RangeQuery = { kind, rev: false, withScores: false, offset: 0, limit: -1, min: args[2]!, max: args[3]! };
    checkRange(q);
    const key = k(args[1]!);
    const z = getZ(ctx, key);
    if (z === undefined) return w.integer(0);
    const doomed = queryNodes(z, q).map((n) => n.member);
    for (const m of doomed) z.remove(m);
    if (doomed.length > 0) settle(ctx, key, z);
    w.integer(doomed.length);
  };
}

// ---- Pops ------------------------------------------------------------------------------------------------------

/** Removes up to `count` members from one end; returns them with their scores. */
function popEnd(z: ZSet, max: boolean, count: number): ZNode[] {
  const out: ZNode[] = [];
  while (out.length < count && z.size > 0) {
    const n = max ? z.last()! : z.first()!;
    z.remove(n.member);
    out.push(n);
  }
  return out;
}

function replyPopped(w: RespWriter, nodes: readonly ZNode[], nested: boolean): void {
  w.arrayHeader(nested ? nodes.length : nodes.length * 2);
  for (const n of nodes) {
    if (nested) w.arrayHeader(2);
    w.bulkLatin1(n.member);
    score(w, n.score);
  }
}

function zpop(max: boolean): DataHandler {
  return (ctx, args, w) => {
    if (args.length > 3) throw new ReplyError(ERR.syntax);
    let count = 1;
    if (args.length === 3) {
      count = intArg(args[2], 'ERR value is out of range, must be positive');
      if (count < 0) throw new ReplyError('ERR value is out of range, must be positive');
    }
    const key = k(args[1]!);
    const z = getZ(ctx, key); // the type is checked before a zero count answers
    if (z === undefined || count === 0) return w.arrayHeader(0);
    const nodes = popEnd(z, max, count);
    settle(ctx, key, z);
    // RESP3 pairs up members and scores when a count was given; a plain pop stays flat.
    replyPopped(w, nodes, w.version === 3 && args.length === 3);
  };
}

/** ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: pops from the first non-empty sorted set. */
const zmpop: DataHandler = (ctx, args, w) => {
  const { keys, first, count } = mpopArgs(args, ['MIN', 'MAX']);
  for (const kb of keys) {
    const key = k(kb);
    const z = getZ(ctx, key);
    if (z === undefined) continue;
    const nodes = popEnd(z, !first, count);
    settle(ctx, key, z);
    w.arrayHeader(2);
    w.bulk(kb);
    return replyPopped(w, nodes, true);
  }
  w.nilArray();
};

// ---- Set algebra -----------------------------------------------------------------------------------------------

type ZOp = 'union' | 'inter' | 'diff';
type Aggregate = 'sum' | 'min' | 'max';

/** An input: a sorted set, a plain set (every score 1) or a missing key (empty). */
type Source = Map<string, number>;

function sourceOf(ctx: DataContext, key: string): Source {
  const v = ctx.engine.get(key);
  if (v === undefined) return new Map();
  if (v.type === 'zset') return new Map(v.value.entries());
  if (v.type === 'set') return new Map([...v.value].map((m) => [m, 1]));
  throw new ReplyError(ERR.wrongType);
}

function aggregate(a: number, b: number, how: Aggregate): number {
  if (how === 'min') return Math.min(a, b);
  if (how === 'max') return Math.max(a, b);
  const s = a + b;
  return Number.isNaN(s) ? 0 : s; // inf + -inf, as Redis
}

function weighted(score: number, weight: number): number {
  const v = score * weight;
  return Number.isNaN(v) ? 0 : v;
}

function combineZ(op: ZOp, sources: readonly Source[], weights: readonly number[], how: Aggregate): Map<string, number> {
  const out = new Map<string, number>();
  if (op === 'diff') {
    for (const [m, s] of sources[0]!) if (!sources.slice(1).some((src) => src.has(m))) out.set(m, s);
    return out;
  }
  if (op === 'union') {
    sources.forEach((src, i) => {
      for (const [m, s] of src) {
        const v = weighted(s, weights[i]!);
        const cur = out.get(m);
        out.set(m, cur === undefined ? v : aggregate(cur, v, how));
      }
    });
    return out;
  }
  const order = sources.map((_, i) => i).sort((a, b) => sources[a]!.size - sources[b]!.size);
  const smallest = order[0]!;
  for (const [m, s] of sources[smallest]!) {
    let v = weighted(s, weights[smallest]!);
    let inAll = true;
    for (const i of order.slice(1)) {
      const other = sources[i]!.get(m);
      if (other === undefined) {
        inAll = false;
        break;
      }
      v = aggregate(v, weighted(other, weights[i]!), how);
    }
    if (inAll) out.set(m, v);
  }
  return out;
}

interface AlgebraArgs {
  keys: string[];
  weights: number[];
  how: Aggregate;
  withScores: boolean;
  limit: number;
}

function numKeys(args: Buffer[], at: number, name: string): number {
  const n = intArg(args[at]);
  if (n < 1) throw new ReplyError(`ERR at least 1 input key is needed for '${name}' command`);
  if (n > args.length - at - 1) throw new ReplyError(ERR.syntax);
  return n;
}

/** Parses numkeys, keys and options; the keys' types are checked (by `load`) before the options, as Redis does. */
function algebraArgs(args: Buffer[], at: number, op: ZOp, mode: 'reply' | 'store' | 'card', load: (keys: string[]) => void): AlgebraArgs {
  const name = k(args[0]!).toLowerCase();
  const n = numKeys(args, at, name);
  const keys = args.slice(at + 1, at + 1 + n).map(k);
  load(keys);
  const out: AlgebraArgs = { keys, weights: keys.map(() => 1), how: 'sum', withScores: false, limit: 0 };
  for (let j = at + 1 + n; j < args.length; ) {
    const left = args.length - j;
    if (op !== 'diff' && mode !== 'card' && left >= n + 1 && isWord(args[j], 'WEIGHTS')) {
      for (let i = 0; i < n; i++) out.weights[i] = scoreArg(args[j + 1 + i]!, 'ERR weight value is not a float');
      j += n + 1;
    } else if (op !== 'diff' && mode !== 'card' && left >= 2 && isWord(args[j], 'AGGREGATE')) {
      const a = k(args[j + 1]!).toLowerCase();
      if (a !== 'sum' && a !== 'min' && a !== 'max') throw new ReplyError(ERR.syntax);
      out.how = a;
      j += 2;
    } else if (mode === 'reply' && isWord(args[j], 'WITHSCORES')) {
      out.withScores = true;
      j++;
    } else if (mode === 'card' && left >= 2 && isWord(args[j], 'LIMIT')) {
      out.limit = intArg(args[j + 1], "ERR LIMIT can't be negative");
      if (out.limit < 0) throw new ReplyError("ERR LIMIT can't be negative");
      j += 2;
    } else throw new ReplyError(ERR.syntax);
  }
  return out;
}

function computeAlgebra(ctx: DataContext, args: Buffer[], at: number, op: ZOp, mode: 'reply' | 'store' | 'card'): { a: AlgebraArgs; result: ZSet } {
  let sources: Source[] = [];
  const a = algebraArgs(args, at, op, mode, (keys) => (sources = keys.map((key) => sourceOf(ctx, key))));
  const result = new ZSet(combineZ(op, sources, a.weights, a.how));
  return { a, result };
}

function zalgebra(op: ZOp): DataHandler {
  return (ctx, args, w) => {
    const { a, result } = computeAlgebra(ctx, args, 1, op, 'reply');
    replyNodes(w, nodesFrom(result.first(), result.size), a.withScores);
  };
}

function zalgebraStore(op: ZOp): DataHandler {
  return (ctx, args, w) => {
    const { result } = computeAlgebra(ctx, args, 2, op, 'store');
    const dest = k(args[1]!);
    if (result.size === 0) ctx.engine.delete(dest);
    else ctx.engine.put(dest, { type: 'zset', value: result }, 0);
    w.integer(result.size);
  };
}

const zintercard: DataHandler = (ctx, args, w) => {
  const { a, result } = computeAlgebra(ctx, args, 1, 'inter', 'card');
  w.integer(a.limit > 0 ? Math.min(a.limit, result.size) : result.size);
};

// ---- Random and scan -------------------------------------------------------------------------------------------

const zrandmember: DataHandler = (ctx, args, w) => {
  const z = getZ(ctx, k(args[1]!));
  if (args.length === 2) {
    if (z === undefined || z.size === 0) return w.nil();
    return w.bulk(bytes(z.at(Math.floor(Math.random() * z.size))!.member));
  }
  const count = intArg(args[2]);
  const withScores = args.length === 4 && isWord(args[3], 'WITHSCORES');
  if (args.length > 4 || (args.length === 4 && !withScores)) throw new ReplyError(ERR.syntax);
  if (Math.abs(count) > ZSET_COMMAND_LIMITS.countMax) throw new ReplyError('ERR value is out of range');
  if (z === undefined || count === 0) return w.arrayHeader(0);
  let nodes: ZNode[];
  if (count < 0) nodes = Array.from({ length: -count }, () => z.at(Math.floor(Math.random() * z.size))!);
  else if (count >= z.size) nodes = nodesFrom(z.first(), z.size);
  else {
    const picked = new Set<number>();
    while (picked.size < count) picked.add(Math.floor(Math.random() * z.size));
    nodes = [...picked].map((r) => z.at(r)!);
  }
  replyNodes(w, nodes, withScores);
};

const zscan: DataHandler = (ctx, args, w) => {
  const cursor = cursorArg(args[2]!);
  const opts = scanOptions(args, 3, false);
  const z = getZ(ctx, k(args[1]!));
  const size = z?.size ?? 0;
  const take = size <= ZSET_COMMAND_LIMITS.scanWholeMax ? size : opts.count;
  const nodes = nodesFrom(z?.at(cursor) ?? null, take);
  const next = cursor + take >= size ? 0 : cursor + take;
  const shown = nodes.filter((n) => opts.match === undefined || opts.match.test(n.member));
  w.arrayHeader(2);
  w.bulk(String(next));
  w.arrayHeader(shown.length * 2);
  for (const n of shown) {
    w.bulkLatin1(n.member);
    w.bulk(formatScore(n.score));
  }
};

/** What the blocking forms (commands-blocking.ts) share with these commands. */
export const zsetOps = { get: getZ, popEnd, settle, replyPopped };

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const ZSET_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  zadd: [-4, ['write'], zadd, 1, 1],
  zincrby: [4, ['write'], zincrby, 1, 1],
  zscore: [3, ['readonly'], zscore, 1, 1],
  zmscore: [-3, ['readonly'], zmscore, 1, 1],
  zcard: [2, ['readonly'], zcard, 1, 1],
  zcount: [4, ['readonly'], zcount, 1, 1],
  zlexcount: [4, ['readonly'], zlexcount, 1, 1],
  zrank: [3, ['readonly'], zrank(false), 1, 1],
  zrevrank: [3, ['readonly'], zrank(true), 1, 1],
  zrange: [-4, ['readonly'], zrange({}), 1, 1],
  zrevrange: [-4, ['readonly'], zrange({ kind: 'rank', rev: true }), 1, 1],
  zrangebyscore: [-4, ['readonly'], zrange({ kind: 'score', rev: false }), 1, 1],
  zrevrangebyscore: [-4, ['readonly'], zrange({ kind: 'score', rev: true }), 1, 1],
  zrangebylex: [-4, ['readonly'], zrange({ kind: 'lex', rev: false }), 1, 1],
  zrevrangebylex: [-4, ['readonly'], zrange({ kind: 'lex', rev: true }), 1, 1],
  zrangestore: [-5, ['write'], zrangestore, 1, 2],
  zrem: [-3, ['write'], zrem, 1, 1],
  zremrangebyrank: [4, ['write'], zremrange('rank'), 1, 1],
  zremrangebyscore: [4, ['write'], zremrange('score'), 1, 1],
  zremrangebylex: [4, ['write'], zremrange('lex'), 1, 1],
  zpopmin: [-2, ['write'], zpop(false), 1, 1],
  zpopmax: [-2, ['write'], zpop(true), 1, 1],
  zmpop: [-4, ['write'], zmpop, 2, 2],
  zunion: [-3, ['readonly'], zalgebra('union'), 2, 2],
  zinter: [-3, ['readonly'], zalgebra('inter'), 2, 2],
  zdiff: [-3, ['readonly'], zalgebra('diff'), 2, 2],
  zunionstore: [-4, ['write'], zalgebraStore('union'), 1, 1],
  zinterstore: [-4, ['write'], zalgebraStore('inter'), 1, 1],
  zdiffstore: [-4, ['write'], zalgebraStore('diff'), 1, 1],
  zintercard: [-3, ['readonly'], zintercard, 2, 2],
  zrandmember: [-2, ['readonly'], zrandmember, 1, 1],
  zscan: [-3, ['readonly'], zscan, 1, 1],
};
