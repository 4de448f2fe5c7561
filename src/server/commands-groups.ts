// Stream consumer groups with Redis 7.0 replies and texts: XGROUP CREATE/DESTROY/CREATECONSUMER/DELCONSUMER/
// SETID, XREADGROUP ('>' for new entries, an ID for the consumer's own pending history, COUNT, NOACK, BLOCK),
// XACK, XPENDING (summary and extended forms), XCLAIM (IDLE, TIME, RETRYCOUNT, FORCE, JUSTID) and XAUTOCLAIM.
// A group's pending entries list (PEL) is kept with the stream, so it is replicated, snapshotted and persisted.
import { ERR, ReplyError, intArg, isWord } from './args.js';
import type { RespWriter } from './resp-writer.js';
import type { DataContext, DataHandler } from './commands-data.js';
import { RetryAfter, type ExecuteResult, type ServerState, type Session } from './dispatch.js';
import { ENTRIES_READ_UNKNOWN, Stream, STREAM_ID_MAX, advanceEntriesRead, formatId, type ConsumerGroup, type StreamEntry } from '../storage/stream.js';
import { getStream, streamIdArg, writeStreamEntries, writeStreamsReply } from './commands-streams.js';

const k = (b: Buffer): string => b.toString('latin1');
const NEEDS_KEY = 'ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.';

function consumerOf(g: ConsumerGroup, name: string, nowMs: number): { seenMs: number; pending: Set<bigint> } {
  let c = g.consumers.get(name);
  if (c === undefined) g.consumers.set(name, (c = { seenMs: nowMs, pending: new Set() }));
  c.seenMs = nowMs;
  return c;
}

function groupId(s: Stream, b: Buffer): bigint {
  return k(b) === '$' ? s.lastId : streamIdArg(b, 0n, true);
}

/** XGROUP CREATE/SETID options after the ID, parsed as Redis does before it looks at the key. */
function groupOptions(args: Buffer[], sub: string): { mkstream: boolean; entriesRead: number } {
  let mkstream = false;
  let entriesRead = ENTRIES_READ_UNKNOWN;
  if (sub !== 'create' && sub !== 'setid') return { mkstream, entriesRead };
  for (let i = 5; i < args.length; ) {
    if (sub === 'create' && isWord(args[i]!, 'MKSTREAM')) {
      mkstream = true;
      i++;
    } else if (isWord(args[i]!, 'ENTRIESREAD') && i + 1 < args.length) {
      entriesRead = intArg(args[i + 1]!);
      if (entriesRead < 0 && entriesRead !== ENTRIES_READ_UNKNOWN) throw new ReplyError('ERR value for ENTRIESREAD must be positive or -1');
      i += 2;
    } else throw new ReplyError(`ERR unknown subcommand or wrong number of arguments for '${k(args[1]!).slice(0, 128)}'. Try XGROUP HELP.`);
  }
  return { mkstream, entriesRead };
}

const xgroup: DataHandler = (ctx, args, w) => {
  const sub = k(args[1]!).toLowerCase();
  const key = k(args[2] ?? Buffer.alloc(0));
  const arity = (ok: boolean): void => {
    if (!ok) throw new ReplyError(`ERR wrong number of arguments for 'xgroup|${sub}' command`);
  };
  if (!['create', 'destroy', 'createconsumer', 'delconsumer', 'setid'].includes(sub)) throw new ReplyError(`ERR unknown subcommand '${k(args[1]!).slice(0, 128)}'. Try XGROUP HELP.`);
  arity(args.length >= 4);
  const { mkstream, entriesRead } = groupOptions(args, sub);
  let s = getStream(ctx, key);
  if (s === undefined && !mkstream) throw new ReplyError(NEEDS_KEY);
  const name = k(args[3]!);
  if (sub === 'create') {
    arity(args.length >= 5);
    if (s === undefined) {
      s = new Stream();
      ctx.engine.put(key, { type: 'stream', value: s }, 0);
    }
    if (s.groups.has(name)) throw new ReplyError('BUSYGROUP Consumer Group name already exists');
    s.groups.set(name, { lastId: groupId(s, args[4]!), entriesRead, pel: new Map(), consumers: new Map() });
    ctx.engine.touched(key);
    return w.ok();
  }
  const g = s!.groups.get(name);
  if (sub === 'destroy') {
    arity(args.length === 4);
    const had = s!.groups.delete(name);
    if (had) ctx.engine.touched(key);
    return w.integer(had ? 1 : 0);
  }
  if (g === undefined) throw new ReplyError(`NOGROUP No such consumer group '${name}' for key name '${key}'`);
  if (sub === 'setid') {
    arity(args.length >= 5);
    g.lastId = groupId(s!, args[4]!);
    g.entriesRead = entriesRead;
    ctx.engine.touched(key);
    return w.ok();
  }
  arity(args.length === 5);
  const consumer = k(args[4]!);
  if (sub === 'createconsumer') {
    if (g.consumers.has(consumer)) return w.integer(0);
    consumerOf(g, consumer, ctx.nowMs());
    ctx.engine.touched(key);
    return w.integer(1);
  }
  const c = g.consumers.get(consumer);
  if (c === undefined) return w.integer(0);
  for (const id of c.pending) g.pel.delete(id);
  g.consumers.delete(consumer);
  ctx.engine.touched(key);
  w.integer(c.pending.size);
};

const xack: DataHandler = (ctx, args, w) => {
  const ids = args.slice(3).map((b) => streamIdArg(b, 0n, true));
  const key = k(args[1]!);
  const g = getStream(ctx, key)?.groups.get(k(args[2]!));
  if (g === undefined) return w.integer(0);
  let n = 0;
  for (const id of ids) {
    const p = g.pel.get(id);
    if (p === undefined) continue;
    g.pel.delete(id);
    g.consumers.get(p.consumer)?.pending.delete(id);
    n++;
  }
  if (n > 0) ctx.engine.touched(key);
  w.integer(n);
};

function groupOrFail(ctx: DataContext, key: string, group: string): { s: Stream; g: ConsumerGroup } {
  const s = getStream(ctx, key);
  const g = s?.groups.get(group);
  if (s === undefined || g === undefined) throw new ReplyError(`NOGROUP No such key '${key}' or consumer group '${group}'`);
  return { s, g };
}

const sortedIds = (g: ConsumerGroup): bigint[] => [...g.pel.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

const xpending: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const { g } = groupOrFail(ctx, key, k(args[2]!));
  if (args.length === 3) {
    const ids = sortedIds(g);
    if (ids.length === 0) {
      w.arrayHeader(4);
      w.integer(0);
      w.nil();
      w.nil();
      return w.nilArray();
    }
    const perConsumer = new Map<string, number>();
    for (const p of g.pel.values()) perConsumer.set(p.consumer, (perConsumer.get(p.consumer) ?? 0) + 1);
    w.arrayHeader(4);
    w.integer(ids.length);
    w.bulk(formatId(ids[0]!));
    w.bulk(formatId(ids[ids.length - 1]!));
    const names = [...perConsumer.keys()].sort();
    w.arrayHeader(names.length);
    for (const c of names) {
      w.arrayHeader(2);
      w.bulk(c);
      w.bulk(String(perConsumer.get(c)));
    }
    return;
  }
  let i = 3;
  let minIdle = 0;
  if (isWord(args[i], 'IDLE')) {
    minIdle = intArg(args[i + 1]);
    i += 2;
  }
  if (args.length - i < 3 || args.length - i > 4) throw new ReplyError(ERR.syntax);
  const start = streamIdArg(args[i]!, 0n, false);
  const end = streamIdArg(args[i + 1]!, (1n << 64n) - 1n, false);
  const count = intArg(args[i + 2]);
  const consumer = args[i + 3] === undefined ? undefined : k(args[i + 3]!);
  const now = ctx.nowMs();
  const rows = sortedIds(g).filter((id) => id >= start && id <= end && (consumer === undefined || g.pel.get(id)!.consumer === consumer) && now - g.pel.get(id)!.deliveredMs >= minIdle);
  const shown = count < 0 ? [] : rows.slice(0, count);
  w.arrayHeader(shown.length);
  for (const id of shown) {
    const p = g.pel.get(id)!;
    w.arrayHeader(4);
    w.bulk(formatId(id));
    w.bulk(p.consumer);
    w.integer(now - p.deliveredMs);
    w.integer(p.count);
  }
};

interface ClaimOptions {
  idleMs?: number;
  timeMs?: number;
  retryCount?: number;
  force: boolean;
  justId: boolean;
}

/** Moves a pending entry to `consumer` (XCLAIM/XAUTOCLAIM); false when it is no longer in the stream. */
function claim(s: Stream, g: ConsumerGroup, id: bigint, consumer: string, now: number, o: ClaimOptions): 'claimed' | 'deleted' {
  const p = g.pel.get(id)!;
  if (s.get(id) === undefined) {
    g.pel.delete(id);
    g.consumers.get(p.consumer)?.pending.delete(id);
    return 'deleted';
  }
  g.consumers.get(p.consumer)?.pending.delete(id);
  consumerOf(g, consumer, now).pending.add(id);
  p.consumer = consumer;
  p.deliveredMs = o.timeMs ?? now - (o.idleMs ?? 0);
  if (o.retryCount !== undefined) p.count = o.retryCount;
  else if (!o.justId) p.count++;
  return 'claimed';
}

function replyClaimed(s: Stream, w: RespWriter, ids: readonly bigint[], justId: boolean): void {
  if (justId) return w.bulkArray(ids.map(formatId));
  writeStreamEntries(w, ids.map((id) => s.get(id)!));
}

const xclaim: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const minIdle = intArg(args[4], 'ERR Invalid min-idle-time argument for XCLAIM');
  const ids: bigint[] = [];
  let j = 5;
  for (; j < args.length; j++) {
    try {
      ids.push(streamIdArg(args[j]!, 0n, true));
    } catch {
      break;
    }
  }
  const o: ClaimOptions = { force: false, justId: false };
  for (; j < args.length; j++) {
    const more = args.length - j - 1;
    if (isWord(args[j], 'FORCE')) o.force = true;
    else if (isWord(args[j], 'JUSTID')) o.justId = true;
    else if (isWord(args[j], 'IDLE') && more > 0) o.idleMs = intArg(args[++j], 'ERR Invalid IDLE option argument for XCLAIM');
    else if (isWord(args[j], 'TIME') && more > 0) o.timeMs = intArg(args[++j], 'ERR Invalid TIME option argument for XCLAIM');
    else if (isWord(args[j], 'RETRYCOUNT') && more > 0) o.retryCount = intArg(args[++j], 'ERR Invalid RETRYCOUNT option argument for XCLAIM');
    else if (isWord(args[j], 'LASTID') && more > 0) streamIdArg(args[++j]!, 0n, true);
    else throw new ReplyError(`ERR Unrecognized XCLAIM option '${k(args[j]!)}'`);
  }
  const { s, g } = groupOrFail(ctx, key, k(args[2]!));
  const now = ctx.nowMs();
  const claimed: bigint[] = [];
  let changed = false;
  for (const id of ids) {
    if (!g.pel.has(id)) {
      if (!o.force || s.get(id) === undefined) continue;
      g.pel.set(id, { consumer: k(args[3]!), deliveredMs: now, count: 0 });
    }
    if (now - g.pel.get(id)!.deliveredMs < minIdle) continue;
    changed = true;
    if (claim(s, g, id, k(args[3]!), now, o) === 'claimed') claimed.push(id);
  }
  // Edits in place must be written back (the LMDB engine stores what touched() hands it).
  if (changed) ctx.engine.touched(key);
  replyClaimed(s, w, claimed, o.justId);
};

const xautoclaim: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const minIdle = intArg(args[4], 'ERR Invalid min-idle-time argument for XAUTOCLAIM');
  const start = streamIdArg(args[5]!, 0n, false);
  let count = 100;
  let justId = false;
  for (let j = 6; j < args.length; j++) {
    if (isWord(args[j], 'COUNT') && j + 1 < args.length) {
      count = intArg(args[++j], 'ERR COUNT must be > 0');
      if (count < 1 || count > Number.MAX_SAFE_INTEGER / 10) throw new ReplyError('ERR COUNT must be > 0');
    } else if (isWord(args[j], 'JUSTID')) justId = true;
    else throw new ReplyError(ERR.syntax);
  }
  const { s, g } = groupOrFail(ctx, key, k(args[2]!));
  const now = ctx.nowMs();
  const claimed: bigint[] = [];
  const deleted: bigint[] = [];
  const ids = sortedIds(g).filter((id) => id >= start);
  let next = 0n;
  let scanned = 0;
  for (const id of ids) {
    // Redis scans at most COUNT * 10 entries per call, then hands back where to go on.
    if (claimed.length >= count || scanned >= count * 10) {
      next = id;
      break;
    }
    scanned++;
    if (now - g.pel.get(id)!.deliveredMs < minIdle) continue;
    if (claim(s, g, id, k(args[3]!), now, { force: false, justId }) === 'claimed') claimed.push(id);
    else deleted.push(id);
  }
  if (claimed.length + deleted.length > 0) ctx.engine.touched(key);
  w.arrayHeader(3);
  w.bulk(formatId(next));
  replyClaimed(s, w, claimed, justId);
  w.bulkArray(deleted.map(formatId));
};

/** XREADGROUP GROUP g consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...: see the file's comment. */
export function xreadgroup(state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult {
  if (!isWord(args[1], 'GROUP') || args.length < 7) throw new ReplyError(ERR.syntax);
  const [group, consumer] = [k(args[2]!), k(args[3]!)];
  let count = 0;
  let blockMs: number | undefined;
  let noAck = false;
  let at = 4;
  for (; at < args.length && !isWord(args[at], 'STREAMS'); at++) {
    if (isWord(args[at], 'COUNT') && at + 1 < args.length) count = Math.max(0, intArg(args[++at]));
    else if (isWord(args[at], 'BLOCK') && at + 1 < args.length) blockMs = Math.max(0, intArg(args[++at], 'ERR timeout is not an integer or out of range'));
    else if (isWord(args[at], 'NOACK')) noAck = true;
    else throw new ReplyError(ERR.syntax);
  }
  const rest = args.slice(at + 1);
  if (at >= args.length || rest.length === 0 || rest.length % 2 !== 0) throw new ReplyError("ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.");
  const keys = rest.slice(0, rest.length / 2);
  const ids = rest.slice(rest.length / 2);
  const ctx = state.data;
  const now = state.clock.nowMs();
  const found: [Buffer, (StreamEntry | bigint)[]][] = [];
  let anyNew = false;
  keys.forEach((kb, i) => {
    const key = k(kb);
    const s = getStream(ctx, key);
    const g = s?.groups.get(group);
    if (s === undefined || g === undefined) throw new ReplyError(`NOGROUP No such key '${key}' or consumer group '${group}' in XREADGROUP with GROUP option`);
    const idText = k(ids[i]!);
    if (idText === '$') throw new ReplyError('ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.');
    const c = consumerOf(g, consumer, now);
    ctx.engine.touched(key); // the consumer (and when it was seen) is part of the stream's state
    if (idText !== '>') {
      // History: this consumer's pending entries after the ID (deleted ones as their ID alone).
      const from = streamIdArg(ids[i]!, 0n, false);
      const mine = [...c.pending].filter((id) => id > from).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      found.push([kb, (count > 0 ? mine.slice(0, count) : mine).map((id) => s.get(id) ?? id)]);
      return;
    }
    const entries = g.lastId >= STREAM_ID_MAX ? [] : s.range(g.lastId + 1n, STREAM_ID_MAX, count === 0 ? -1 : count, false);
    if (entries.length === 0) return;
    anyNew = true;
    for (const e of entries) {
      if (!noAck) {
        const old = g.pel.get(e.id);
        if (old !== undefined) g.consumers.get(old.consumer)?.pending.delete(e.id);
        g.pel.set(e.id, { consumer, deliveredMs: now, count: 1 });
        c.pending.add(e.id);
      }
      advanceEntriesRead(s, g, e.id);
    }
    ctx.engine.touched(key);
    found.push([kb, entries]);
  });
  const history = ids.some((b) => k(b) !== '>');
  if (found.length === 0 || (!history && !anyNew)) {
    if (blockMs === undefined || session.inExec === true || state.blocking === undefined) return w.nilArray();
    const retry = session.block !== undefined && session.block.args === args ? session.block : undefined;
    const deadlineMs = retry?.deadlineMs ?? (blockMs === 0 ? 0 : now + blockMs);
    if (deadlineMs !== 0 && now >= deadlineMs) {
      session.block = undefined;
      return w.nilArray();
    }
    session.block = { args, deadlineMs };
    return new RetryAfter(state.blocking.wait(keys.map(k), now, deadlineMs));
  }
  session.block = undefined;
  writeStreamsReply(w, found);
}

/** XREADGROUP's keys (for routing): the first half of what follows STREAMS. */
export function xreadgroupKeyIndexes(args: Buffer[]): number[] {
  const at = args.findIndex((a, i) => i > 3 && isWord(a, 'STREAMS'));
  if (at < 0) return [];
  const n = Math.floor((args.length - at - 1) / 2);
  return Array.from({ length: n }, (_, i) => at + 1 + i);
}

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const GROUP_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  xgroup: [-2, ['write'], xgroup, 2, 2],
  xack: [-4, ['write'], xack, 1, 1],
  xpending: [-3, ['readonly'], xpending, 1, 1],
  xclaim: [-6, ['write'], xclaim, 1, 1],
  xautoclaim: [-6, ['write'], xautoclaim, 1, 1],
};
