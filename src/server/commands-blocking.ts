// Blocking pops with Redis 7.0 semantics: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
// With data they answer at once as their non-blocking forms; without, the connection blocks (blocking.ts) until
// a key changes or the timeout passes (then a null array, as Redis answers every list and zset timeout). Inside
// MULTI/EXEC (and scripts) they never block: they answer as if timed out.
import type { RespWriter } from './resp-writer.js';
import type { DataContext } from './commands-data.js';
import { RetryAfter, type ExecuteResult, type ServerState, type Session } from './dispatch.js';
import { timeoutMsArg } from './blocking.js';
import { lmpopKeys, mpopArgs, listOps } from './commands-lists.js';
import { zsetOps, formatScore } from './commands-zsets.js';

const k = (b: Buffer): string => b.toString('latin1');

/** Tries to serve the command now: true when it replied (data was there), false when it must block. */
type Serve = (ctx: DataContext, args: Buffer[], w: RespWriter) => boolean;

interface Blocking {
  /** Index of the timeout argument. */
  timeoutAt(args: Buffer[]): number;
  /** The keys whose changes may unblock it. */
  keys(args: Buffer[]): Buffer[];
  serve: Serve;
}

function blocking(b: Blocking) {
  return (state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
    const timeoutMs = timeoutMsArg(args[b.timeoutAt(args)]!);
    if (b.serve(state.data, args, w)) {
      session.block = undefined;
      return;
    }
    const now = state.clock.nowMs();
    let block = session.block;
    // The same arguments object again: this is the retry of a blocked command, which keeps its deadline.
    if (block === undefined || block.args !== args) block = session.block = { args, deadlineMs: timeoutMs === 0 ? 0 : now + timeoutMs };
    const registry = state.blocking;
    if (session.inExec === true || registry === undefined || (block.deadlineMs !== 0 && now >= block.deadlineMs)) {
      session.block = undefined;
      return w.nilArray();
    }
    return new RetryAfter(registry.wait(b.keys(args).map(k), now, block.deadlineMs));
  };
}

/** BLPOP/BRPOP key [key ...] timeout: [key, element] from the first non-empty list. */
function bpop(left: boolean): Blocking {
  return {
    timeoutAt: (args) => args.length - 1,
    keys: (args) => args.slice(1, -1),
    serve: (ctx, args, w) => {
      for (const kb of args.slice(1, -1)) {
        const l = listOps.get(ctx, k(kb));
        if (l === undefined) continue;
        const [m] = listOps.take(l, left, 1);
        listOps.settle(ctx, k(kb), l);
        w.arrayHeader(2);
        w.bulk(kb);
        w.bulkLatin1(m!);
        return true;
      }
      return false;
    },
  };
}

/** BLMOVE src dst LEFT|RIGHT LEFT|RIGHT timeout, BRPOPLPUSH src dst timeout: the element moved. */
function bmove(fixed?: ['left' | 'right', 'left' | 'right']): Blocking {
  return {
    timeoutAt: (args) => args.length - 1,
    keys: (args) => [args[1]!],
    serve: (ctx, args, w) => {
      const [from, to] = fixed ?? [listOps.side(args[3]), listOps.side(args[4])];
      const m = listOps.move(ctx, k(args[1]!), k(args[2]!), from, to);
      if (m === undefined) return false;
      w.bulkLatin1(m);
      return true;
    },
  };
}

/** The arguments of BLMPOP/BZMPOP as LMPOP/ZMPOP would see them (without the timeout). */
const unblocked = (args: Buffer[]): Buffer[] => [args[0]!, ...args.slice(2)];

/** BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT n]. */
const blmpop: Blocking = {
  timeoutAt: () => 1,
  keys: (args) => lmpopKeys(unblocked(args)),
  serve: (ctx, args, w) => {
    const { keys, first, count } = mpopArgs(unblocked(args), ['LEFT', 'RIGHT']);
    for (const kb of keys) {
      const l = listOps.get(ctx, k(kb));
      if (l === undefined) continue;
      const taken = listOps.take(l, first, count);
      listOps.settle(ctx, k(kb), l);
      w.arrayHeader(2);
      w.bulk(kb);
      w.arrayHeader(taken.length);
      for (const m of taken) w.bulkLatin1(m);
      return true;
    }
    return false;
  },
};

/** BZPOPMIN/BZPOPMAX key [key ...] timeout: [key, member, score] from the first non-empty sorted set. */
function bzpop(max: boolean): Blocking {
  return {
    timeoutAt: (args) => args.length - 1,
    keys: (args) => args.slice(1, -1),
    serve: (ctx, args, w) => {
      for (const kb of args.slice(1, -1)) {
        const z = zsetOps.get(ctx, k(kb));
        if (z === undefined) continue;
        const [n] = zsetOps.popEnd(z, max, 1);
        zsetOps.settle(ctx, k(kb), z);
        w.arrayHeader(3);
        w.bulk(kb);
        w.bulkLatin1(n!.member);
        w.double(n!.score, formatScore);
        return true;
      }
      return false;
    },
  };
}

/** BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT n]. */
const bzmpop: Blocking = {
  timeoutAt: () => 1,
  keys: (args) => lmpopKeys(unblocked(args)),
  serve: (ctx, args, w) => {
    const { keys, first, count } = mpopArgs(unblocked(args), ['MIN', 'MAX']);
    for (const kb of keys) {
      const z = zsetOps.get(ctx, k(kb));
      if (z === undefined) continue;
      const nodes = zsetOps.popEnd(z, !first, count);
      zsetOps.settle(ctx, k(kb), z);
      w.arrayHeader(2);
      w.bulk(kb);
      zsetOps.replyPopped(w, nodes, true);
      return true;
    }
    return false;
  },
};

/** BLMPOP/BZMPOP: the keys after the timeout and count (for routing); a bad count names the first only. */
export function blockingMpopKeyIndexes(args: Buffer[]): number[] {
  try {
    const n = lmpopKeys(unblocked(args)).length;
    return Array.from({ length: n }, (_, i) => 3 + i);
  } catch {
    return [3];
  }
}

/** The index of a blocking command's timeout argument (forwarding nodes rewrite it into slices). */
export function timeoutIndex(name: string, args: Buffer[]): number {
  return name === 'blmpop' || name === 'bzmpop' ? 1 : args.length - 1;
}

/** name -> [arity, flags, handler, first key, last key]. */
export const BLOCKING_COMMANDS = {
  blpop: [-3, ['write', 'blocking'], blocking(bpop(true)), 1, -2],
  brpop: [-3, ['write', 'blocking'], blocking(bpop(false)), 1, -2],
  blmove: [6, ['write', 'blocking'], blocking(bmove()), 1, 2],
  brpoplpush: [4, ['write', 'blocking'], blocking(bmove(['right', 'left'])), 1, 2],
  blmpop: [-5, ['write', 'blocking'], blocking(blmpop), 3, 3],
  bzpopmin: [-3, ['write', 'blocking'], blocking(bzpop(false)), 1, -2],
  bzpopmax: [-3, ['write', 'blocking'], blocking(bzpop(true)), 1, -2],
  bzmpop: [-5, ['write', 'blocking'], blocking(bzmpop), 3, 3],
} as const;
