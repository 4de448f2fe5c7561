// Stream commands with Redis 7.0 semantics and reply texts: XADD (NOMKSTREAM, MAXLEN/MINID with = or ~ and
// LIMIT, auto and partial IDs), XLEN, XRANGE, XREVRANGE (exclusive '(' bounds, COUNT), XDEL, XTRIM and XREAD
// (COUNT, BLOCK, '$'). Consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM) are not built yet.
// A stream is not deleted when it becomes empty, as in Redis.
import { ERR, ReplyError, intArg, isWord } from './args.js';
import type { RespWriter } from './resp-writer.js';
import type { DataContext, DataHandler } from './commands-data.js';
import { RetryAfter, type ExecuteResult, type ServerState, type Session } from './dispatch.js';
import { Stream, STREAM_ID_MAX, STREAM_NODE_ENTRIES, formatId, idMs, idSeq, streamId, type StreamEntry } from '../storage/stream.js';

const k = (b: Buffer): string => b.toString('latin1');
const U64_MAX = (1n << 64n) - 1n;
const INVALID_ID = 'ERR Invalid stream ID specified as stream command argument';

export function getStream(ctx: DataContext, key: string): Stream | undefined {
  const v = ctx.engine.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'stream') throw new ReplyError(ERR.wrongType);
  return v.value;
}

/** A stream ID argument (Redis's rules and error text): see parseId. */
export function streamIdArg(b: Buffer, missingSeq: bigint, strict: boolean): bigint {
  return parseId(b, missingSeq, strict).id;
}

/**
 * XREAD/XREADGROUP's reply: per stream its key and entries (a map in RESP3); an entry given as its ID alone was
 * deleted since it was delivered ([id, nil], as Redis answers a consumer's history).
 */
export function writeStreamsReply(w: RespWriter, found: readonly [Buffer, readonly (StreamEntry | bigint)[]][]): void {
  if (w.version === 3) w.mapHeader(found.length);
  else w.arrayHeader(found.length);
  for (const [key, entries] of found) {
    if (w.version !== 3) w.arrayHeader(2);
    w.bulk(key);
    w.arrayHeader(entries.length);
    for (const e of entries) {
      if (typeof e !== 'bigint') writeStreamEntries(w, [e], false);
      else {
        w.arrayHeader(2);
        w.bulk(formatId(e));
        w.nilArray();
      }
    }
  }
}

/** An unsigned 64-bit decimal (Redis's string2ull), or undefined. */
function u64(s: string): bigint | undefined {
  if (!/^\d{1,20}$/.test(s)) return undefined;
  const v = BigInt(s);
  return v > U64_MAX ? undefined : v;
}

/** "ms" or "ms-seq" (missing seq = `missingSeq`); '-' and '+' when not strict; "ms-*" when `seqStar`. */
function parseId(b: Buffer, missingSeq: bigint, strict: boolean, seqStar = false): { id: bigint; seqGiven: boolean } {
  const s = k(b);
  if (!strict && s === '-') return { id: 0n, seqGiven: true };
  if (!strict && s === '+') return { id: STREAM_ID_MAX, seqGiven: true };
  const dash = s.indexOf('-');
  const ms = u64(dash < 0 ? s : s.slice(0, dash));
  if (ms === undefined) throw new ReplyError(INVALID_ID);
  if (dash < 0) return { id: streamId(ms, missingSeq), seqGiven: true };
  const rest = s.slice(dash + 1);
  if (seqStar && rest === '*') return { id: streamId(ms, 0n), seqGiven: false };
  const seq = u64(rest);
  if (seq === undefined) throw new ReplyError(INVALID_ID);
  return { id: streamId(ms, seq), seqGiven: true };
}

interface TrimArgs {
  strategy: 'none' | 'maxlen' | 'minid';
  approx: boolean;
  maxlen: number;
  minid: bigint;
  /** 0: no limit. */
  limit: number;
}

/** XADD/XTRIM options from `i`; for XADD stops at the ID (returns its index). As Redis's streamParseAddOrTrimArgs. */
function trimArgs(args: Buffer[], i: number, xadd: boolean): { t: TrimArgs; at: number; noMk: boolean; id?: { id: bigint; seqGiven: boolean } } {
  const t: TrimArgs = { strategy: 'none', approx: false, maxlen: 0, minid: 0n, limit: 0 };
  let noMk = false;
  let limitGiven = false;
  let id: { id: bigint; seqGiven: boolean } | undefined;
  for (; i < args.length; i++) {
    const more = args.length - 1 - i;
    const opt = k(args[i]!);
    if (xadd && opt === '*') break;
    const word = opt.toLowerCase();
    if ((word === 'maxlen' || word === 'minid') && more > 0) {
      if (t.strategy !== 'none') throw new ReplyError('ERR syntax error, MAXLEN and MINID options at the same time are not compatible');
      t.approx = false;
      const next = k(args[i + 1]!);
      if (more >= 2 && (next === '~' || next === '=')) {
        t.approx = next === '~';
        i++;
      }
      if (word === 'maxlen') {
        t.maxlen = intArg(args[i + 1]);
        if (t.maxlen < 0) throw new ReplyError('ERR The MAXLEN argument must be >= 0.');
      } else t.minid = parseId(args[i + 1]!, 0n, true).id;
      t.strategy = word;
      i++;
    } else if (word === 'limit' && more > 0) {
      t.limit = intArg(args[i + 1]);
      if (t.limit < 0) throw new ReplyError('ERR The LIMIT argument must be >= 0.');
      limitGiven = true;
      i++;
    } else if (xadd && word === 'nomkstream') noMk = true;
    else if (xadd) {
      id = parseId(args[i]!, 0n, true, true);
      break;
    } else throw new ReplyError(ERR.syntax);
  }
  if (t.limit > 0 && t.strategy === 'none') throw new ReplyError('ERR syntax error, LIMIT cannot be used without specifying a trimming strategy');
  if (!xadd && t.strategy === 'none') throw new ReplyError('ERR syntax error, XTRIM must be called with a trimming strategy');
  if (limitGiven && !t.approx) throw new ReplyError('ERR syntax error, LIMIT cannot be used without the special ~ option');
  if (!limitGiven) t.limit = t.approx ? 100 * STREAM_NODE_ENTRIES : 0;
  return { t, at: i, noMk, ...(id === undefined ? {} : { id }) };
}

function trim(s: Stream, t: TrimArgs): number {
  if (t.strategy === 'maxlen') return s.trimFront((_e, len) => len > t.maxlen, t.limit, t.approx);
  if (t.strategy === 'minid') return s.trimFront((e) => e.id < t.minid, t.limit, t.approx);
  return 0;
}

/** The ID XADD gives: the one asked for (checked to exceed the top), or the next after `last` for now. */
function nextId(last: bigint, nowMs: number, asked: { id: bigint; seqGiven: boolean } | undefined): bigint {
  const edom = (): never => {
    throw new ReplyError('ERR The ID specified in XADD is equal or smaller than the target stream top item');
  };
  if (asked === undefined) {
    const ms = BigInt(nowMs) > idMs(last) ? BigInt(nowMs) : idMs(last);
    if (ms === idMs(last)) return idSeq(last) === U64_MAX ? streamId(ms + 1n, 0n) : streamId(ms, idSeq(last) + 1n);
    return streamId(ms, 0n);
  }
  if (!asked.seqGiven) {
    const ms = idMs(asked.id);
    if (ms > idMs(last)) return streamId(ms, 0n);
    if (ms === idMs(last) && idSeq(last) < U64_MAX) return streamId(ms, idSeq(last) + 1n);
    return edom();
  }
  return asked.id > last ? asked.id : edom();
}

const xadd: DataHandler = (ctx, args, w) => {
  const { t, at, noMk, id } = trimArgs(args, 2, true);
  const fieldAt = at + 1;
  if (args.length - fieldAt < 2 || (args.length - fieldAt) % 2 === 1) throw new ReplyError("ERR wrong number of arguments for 'xadd' command");
  if (id !== undefined && id.seqGiven && id.id === 0n) throw new ReplyError('ERR The ID specified in XADD must be greater than 0-0');
  const key = k(args[1]!);
  let s = getStream(ctx, key);
  if (s === undefined) {
    if (noMk) return w.nil();
    s = new Stream();
  }
  if (s.lastId === STREAM_ID_MAX) throw new ReplyError('ERR The stream has exhausted the last possible ID, unable to add more items');
  const newId = nextId(s.lastId, ctx.nowMs(), id);
  if (ctx.engine.get(key) === undefined) ctx.engine.put(key, { type: 'stream', value: s }, 0);
  s.append(newId, args.slice(fieldAt).map(k));
  trim(s, t);
  ctx.engine.touched(key);
  w.bulk(formatId(newId));
};

const xlen: DataHandler = (ctx, args, w) => w.integer(getStream(ctx, k(args[1]!))?.length ?? 0);

/** Stream entries as replies: [id, [field, value, ...]] each, in an array unless `withHeader` is false. */
export function writeStreamEntries(w: RespWriter, entries: readonly StreamEntry[], withHeader = true): void {
  if (withHeader) w.arrayHeader(entries.length);
  for (const e of entries) {
    w.arrayHeader(2);
    w.bulk(formatId(e.id));
    w.arrayHeader(e.fields.length);
    for (const f of e.fields) w.bulkLatin1(f);
  }
}

/** A range bound: '-'/'+', an ID (missing seq: 0 for a start, max for an end), or '(' ID exclusive. */
function bound(b: Buffer, isStart: boolean): bigint {
  const s = k(b);
  if (s.startsWith('(')) {
    const id = parseId(b.subarray(1), isStart ? 0n : U64_MAX, true).id;
    if (isStart ? id === STREAM_ID_MAX : id === 0n) throw new ReplyError(`ERR invalid ${isStart ? 'start' : 'end'} ID for the interval`);
    return isStart ? id + 1n : id - 1n;
  }
  return parseId(b, isStart ? 0n : U64_MAX, false).id;
}

function xrange(rev: boolean): DataHandler {
  return (ctx, args, w) => {
    const start = bound(args[rev ? 3 : 2]!, true);
    const end = bound(args[rev ? 2 : 3]!, false);
    let count = -1;
    if (args.length > 4) {
      if (args.length !== 6 || !isWord(args[4], 'COUNT')) throw new ReplyError(ERR.syntax);
      count = Math.max(0, intArg(args[5]));
    }
    const s = getStream(ctx, k(args[1]!));
    if (s === undefined) return w.arrayHeader(0);
    if (count === 0) return w.nilArray(); // COUNT 0 (or negative) answers a null array, as Redis does
    writeStreamEntries(w, s.range(start, end, count, rev));
  };
}

const xdel: DataHandler = (ctx, args, w) => {
  const ids = args.slice(2).map((b) => parseId(b, 0n, true).id);
  const key = k(args[1]!);
  const s = getStream(ctx, key);
  if (s === undefined) return w.integer(0);
  const n = s.delete(ids);
  if (n > 0) ctx.engine.touched(key);
  w.integer(n);
};

const xtrim: DataHandler = (ctx, args, w) => {
  const { t } = trimArgs(args, 2, false);
  const key = k(args[1]!);
  const s = getStream(ctx, key);
  if (s === undefined) return w.integer(0);
  const n = trim(s, t);
  if (n > 0) ctx.engine.touched(key);
  w.integer(n);
};

/** BLOCK milliseconds: an integer, 0 = forever (Redis's getTimeoutFromObjectOrReply in milliseconds). */
function blockArg(b: Buffer): number {
  const ms = intArg(b, 'ERR timeout is not an integer or out of range');
  if (ms < 0) throw new ReplyError('ERR timeout is negative');
  return ms;
}

interface ReadArgs {
  count: number;
  /** undefined: no BLOCK. */
  blockMs: number | undefined;
  keys: Buffer[];
  ids: Buffer[];
}

function readArgs(args: Buffer[]): ReadArgs {
  let count = 0;
  let blockMs: number | undefined;
  for (let i = 1; i < args.length; i++) {
    const more = args.length - i - 1;
    if (isWord(args[i], 'BLOCK') && more > 0) blockMs = blockArg(args[++i]!);
    else if (isWord(args[i], 'COUNT') && more > 0) count = Math.max(0, intArg(args[++i]));
    else if (isWord(args[i], 'STREAMS') && more > 0) {
      const rest = args.slice(i + 1);
      if (rest.length % 2 !== 0) throw new ReplyError("ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.");
      return { count, blockMs, keys: rest.slice(0, rest.length / 2), ids: rest.slice(rest.length / 2) };
    } else throw new ReplyError(ERR.syntax);
  }
  throw new ReplyError(ERR.syntax);
}

/** XREAD's keys (for routing): the first half of what follows STREAMS. */
export function xreadKeyIndexes(args: Buffer[]): number[] {
  const at = args.findIndex((a, i) => i > 0 && isWord(a, 'STREAMS'));
  if (at < 0) return [];
  const n = Math.floor((args.length - at - 1) / 2);
  return Array.from({ length: n }, (_, i) => at + 1 + i);
}

/** XREAD [COUNT n] [BLOCK ms] STREAMS key... id...: entries after each ID; blocks (BLOCK) until some arrive. */
export function xread(state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult {
  const a = readArgs(args);
  const ctx = state.data;
  const retry = session.block !== undefined && session.block.args === args ? session.block : undefined;
  // '$' means "after the last entry when the command was first run": resolved once, kept across retries.
  if (a.ids.some((b) => k(b) === '>')) throw new ReplyError('ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.');
  const after = retry?.ids ?? a.ids.map((b, i) => (k(b) === '$' ? (getStream(ctx, k(a.keys[i]!))?.lastId ?? 0n) : parseId(b, 0n, false).id));
  const found: [Buffer, StreamEntry[]][] = [];
  a.keys.forEach((key, i) => {
    const s = getStream(ctx, k(key));
    const from = after[i]!;
    if (s !== undefined && from < STREAM_ID_MAX && s.lastId > from) {
      const entries = s.range(from + 1n, STREAM_ID_MAX, a.count === 0 ? -1 : a.count, false);
      if (entries.length > 0) found.push([key, entries]);
    }
  });
  if (found.length > 0) {
    session.block = undefined;
    return writeStreamsReply(w, found);
  }
  const now = state.clock.nowMs();
  if (a.blockMs === undefined || session.inExec === true || state.blocking === undefined) return w.nilArray();
  const deadlineMs = retry?.deadlineMs ?? (a.blockMs === 0 ? 0 : now + a.blockMs);
  if (deadlineMs !== 0 && now >= deadlineMs) {
    session.block = undefined;
    return w.nilArray();
  }
  session.block = { args, deadlineMs, ids: after };
  return new RetryAfter(state.blocking.wait(a.keys.map(k), now, deadlineMs));
}

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const STREAM_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  xadd: [-5, ['write'], xadd, 1, 1],
  xlen: [2, ['readonly'], xlen, 1, 1],
  xrange: [-4, ['readonly'], xrange(false), 1, 1],
  xrevrange: [-4, ['readonly'], xrange(true), 1, 1],
  xdel: [-3, ['write'], xdel, 1, 1],
  xtrim: [-4, ['write'], xtrim, 1, 1],
};
