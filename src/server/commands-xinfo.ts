// XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and XINFO HELP, with Redis 7.0's fields, order
// and texts: groups and consumers in byte order of their names (Redis keeps them in radix trees), pending
// entries by ID, lag and entries-read by Redis's own rules (src/storage/stream.ts). radix-tree-keys and
// radix-tree-nodes describe Redis's internal tree; Atoll reports its 100-entry nodes and one more, an
// approximation (documented), since it has no such tree.
import { ReplyError, intArg, isWord } from './args.js';
import type { RespWriter } from './resp-writer.js';
import type { DataHandler } from './commands-data.js';
import { ENTRIES_READ_UNKNOWN, STREAM_ID_MAX, STREAM_NODE_ENTRIES, firstIdOf, formatId, groupLag, type ConsumerGroup, type PendingEntry, type Stream } from '../storage/stream.js';
import { getStream, writeStreamEntries } from './commands-streams.js';

const k = (b: Buffer): string => b.toString('latin1');

const HELP = ['XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:', 'CONSUMERS <key> <groupname>', '    Show consumers of <groupname>.', 'GROUPS <key>', '    Show the stream consumer groups.', 'STREAM <key> [FULL [COUNT <count>]', '    Show information about the stream.', 'HELP', '    Prints this help.'];

/** Subcommand arities, as Redis's command table has them (checked before the command runs). */
const ARITY: Record<string, number> = { stream: -3, groups: 3, consumers: 4, help: 2 };

/** Names in Redis's radix-tree order: byte order. */
const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
const byId = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

const syntax = (args: Buffer[]): ReplyError => new ReplyError(`ERR unknown subcommand or wrong number of arguments for '${k(args[1]!).slice(0, 128)}'. Try XINFO HELP.`);

const xinfo: DataHandler = (ctx, args, w) => {
  const sub = k(args[1]!).toLowerCase();
  const arity = ARITY[sub];
  if (arity === undefined) throw new ReplyError(`ERR unknown subcommand '${k(args[1]!).slice(0, 128)}'. Try XINFO HELP.`);
  if (arity > 0 ? args.length !== arity : args.length < -arity) throw new ReplyError(`ERR wrong number of arguments for 'xinfo|${sub}' command`);
  if (sub === 'help') return w.bulkArray(HELP);
  const key = k(args[2]!);
  const s = getStream(ctx, key);
  if (s === undefined) throw new ReplyError('ERR no such key');
  if (sub === 'consumers') {
    const g = s.groups.get(k(args[3]!));
    if (g === undefined) throw new ReplyError(`NOGROUP No such consumer group '${k(args[3]!)}' for key name '${key}'`);
    return consumersReply(w, g, ctx.nowMs());
  }
  if (sub === 'groups') return groupsReply(w, s);
  streamReply(w, s, args);
};

/** A field's value: an integer, a bulk string (latin1 text or bytes), or null. */
type Field = readonly [string, number | string | Buffer | undefined];

/** Writes name/value pairs (the map's header is the caller's: some maps go on after them). */
function fields(w: RespWriter, pairs: readonly Field[]): void {
  for (const [name, value] of pairs) {
    w.bulk(name);
    if (value === undefined) w.nil();
    else if (typeof value === 'number') w.integer(value);
    else w.bulk(typeof value === 'string' ? Buffer.from(value, 'latin1') : value);
  }
}

function consumersReply(w: RespWriter, g: ConsumerGroup, nowMs: number): void {
  const names = [...g.consumers.keys()].sort(byBytes);
  w.arrayHeader(names.length);
  for (const name of names) {
    const c = g.consumers.get(name)!;
    w.mapHeader(3);
    fields(w, [['name', name], ['pending', c.pending.size], ['idle', Math.max(0, nowMs - c.seenMs)]]);
  }
}

const entriesRead = (g: ConsumerGroup): number | undefined => (g.entriesRead === ENTRIES_READ_UNKNOWN ? undefined : g.entriesRead);

function groupsReply(w: RespWriter, s: Stream): void {
  const names = [...s.groups.keys()].sort(byBytes);
  w.arrayHeader(names.length);
  for (const name of names) {
    const g = s.groups.get(name)!;
    w.mapHeader(6);
    fields(w, [['name', name], ['consumers', g.consumers.size], ['pending', g.pel.size], ['last-delivered-id', formatId(g.lastId)], ['entries-read', entriesRead(g)], ['lag', groupLag(s, g)]]);
  }
}

/** FULL's COUNT (default 10; negative is 10, 0 is everything), or undefined without FULL. */
function fullCount(args: Buffer[]): number | undefined {
  const opts = args.slice(3);
  if (opts.length === 0) return undefined;
  if ((opts.length !== 1 && opts.length !== 3) || !isWord(opts[0]!, 'FULL')) throw syntax(args);
  if (opts.length === 1) return 10;
  if (!isWord(opts[1]!, 'COUNT')) throw syntax(args);
  const count = intArg(opts[2]!);
  return count < 0 ? 10 : count;
}

function streamReply(w: RespWriter, s: Stream, args: Buffer[]): void {
  const count = fullCount(args);
  w.mapHeader(count === undefined ? 10 : 9);
  const nodes = s.length === 0 ? 0 : Math.floor((s.last()!.n - s.first()!.n) / STREAM_NODE_ENTRIES) + 1;
  fields(w, [
    ['length', s.length],
    ['radix-tree-keys', nodes],
    ['radix-tree-nodes', nodes + 1],
    ['last-generated-id', formatId(s.lastId)],
    ['max-deleted-entry-id', formatId(s.maxDeletedId)],
    ['entries-added', s.entriesAdded],
    ['recorded-first-entry-id', formatId(firstIdOf(s))],
  ]);
  if (count === undefined) {
    w.bulk('groups');
    w.integer(s.groups.size);
    for (const [name, e] of [['first-entry', s.first()], ['last-entry', s.last()]] as const) {
      w.bulk(name);
      if (e === undefined) w.nil();
      else writeStreamEntries(w, [e], false);
    }
    return;
  }
  w.bulk('entries');
  writeStreamEntries(w, s.range(0n, STREAM_ID_MAX, count === 0 ? -1 : count, false));
  w.bulk('groups');
  const names = [...s.groups.keys()].sort(byBytes);
  w.arrayHeader(names.length);
  for (const name of names) fullGroup(w, s, name, s.groups.get(name)!, count);
}

/** A pending entry in XINFO STREAM FULL: ID, (its consumer, in the group's list), delivery time and count. */
function pendingRow(w: RespWriter, id: bigint, p: PendingEntry, withConsumer: boolean): void {
  w.arrayHeader(withConsumer ? 4 : 3);
  w.bulk(formatId(id));
  if (withConsumer) w.bulkLatin1(p.consumer);
  w.integer(p.deliveredMs);
  w.integer(p.count);
}

function fullGroup(w: RespWriter, s: Stream, name: string, g: ConsumerGroup, count: number): void {
  const limit = (n: number): number => (count === 0 ? n : Math.min(n, count));
  w.mapHeader(7);
  fields(w, [['name', name], ['last-delivered-id', formatId(g.lastId)], ['entries-read', entriesRead(g)], ['lag', groupLag(s, g)], ['pel-count', g.pel.size]]);
  w.bulk('pending');
  const pel = [...g.pel.keys()].sort(byId);
  w.arrayHeader(limit(pel.length));
  for (const id of pel.slice(0, limit(pel.length))) pendingRow(w, id, g.pel.get(id)!, true);
  w.bulk('consumers');
  const consumers = [...g.consumers.keys()].sort(byBytes);
  w.arrayHeader(consumers.length);
  for (const cname of consumers) {
    const c = g.consumers.get(cname)!;
    const mine = [...c.pending].sort(byId);
    w.mapHeader(4);
    fields(w, [['name', cname], ['seen-time', c.seenMs], ['pel-count', mine.length]]);
    w.bulk('pending');
    w.arrayHeader(limit(mine.length));
    for (const id of mine.slice(0, limit(mine.length))) pendingRow(w, id, g.pel.get(id)!, false);
  }
}

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const XINFO_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  xinfo: [-2, ['readonly'], xinfo, 2, 2],
};
