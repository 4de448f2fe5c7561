// MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis 7.0 replies and error texts) and the queueing of commands inside
// MULTI. The transaction model is in transactions.ts; this file is its command surface and its cluster routing.
import { journal } from '../storage/journal.js';
import { ReplyError } from './args.js';
import type { RespWriter } from './resp-writer.js';
import { OutOfMemoryError } from '../storage/engine.js';
import { keyIndexes, RetryAfter, runCommand, type CommandSpec, type ExecuteResult, type ServerState, type Session } from './dispatch.js';
import { Transaction } from './transactions.js';
type Spec = CommandSpec;

/** Commands that run at once inside MULTI instead of being queued. */
export const TX_IMMEDIATE: ReadonlySet<string> = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);

/** Commands refused inside MULTI (they block, wait on other nodes, or stop the server); refusing aborts EXEC. */
const NO_MULTI: ReadonlySet<string> = new Set(['debug', 'wait', 'cluster', 'hello', 'auth', 'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);

const keysOf = (cmd: Spec, args: Buffer[]): Buffer[] => keyIndexes(cmd, args).map((i) => args[i]!);

/** A command sent after MULTI: checked (an error aborts the transaction) and queued. */
export function queueCommand(state: ServerState, session: Session, cmd: Spec, args: Buffer[], w: RespWriter): ExecuteResult {
  const tx = session.tx!;
  if (NO_MULTI.has(cmd.name)) {
    tx.aborted = true;
    return w.error('ERR Command not allowed inside a transaction');
  }
  const cluster = state.cluster;
  if (cluster?.localCheck !== undefined && cmd.data && cmd.firstKey > 0) {
    const keys = keysOf(cmd, args);
    if (keys.length > 0) {
      const r = cluster.localCheck(session, keys, false, session.fromPeer !== true && cluster.forwardBlock !== undefined);
      if (r instanceof RetryAfter) return r;
      if ('error' in r || (tx.slot !== undefined && r.slot !== tx.slot)) {
        tx.aborted = true;
        return w.error('error' in r ? r.error : "CROSSSLOT Keys in request don't hash to the same slot");
      }
      tx.slot = r.slot;
    }
  }
  if (!tx.push(cmd, args)) return w.error('ERR transaction too large: it queued more commands or bytes than this node allows; EXEC will abort it');
  w.simple('QUEUED');
}

const multi = (_state: ServerState, session: Session, _args: Buffer[], w: RespWriter): ExecuteResult => {
  if (session.tx !== undefined) throw new ReplyError('ERR MULTI calls can not be nested');
  session.tx = new Transaction<Spec>();
  w.ok();
};

function endTx(state: ServerState, session: Session): void {
  session.tx = undefined;
  state.watches?.unwatchAll(session);
}

const discard = (state: ServerState, session: Session, _args: Buffer[], w: RespWriter): ExecuteResult => {
  if (session.tx === undefined) throw new ReplyError('ERR DISCARD without MULTI');
  endTx(state, session);
  w.ok();
};

/** Runs one queued command into `w` (its error, if any, is its reply); true when it wrote. */
function runQueued(state: ServerState, session: Session, q: { cmd: Spec; args: Buffer[] }, w: RespWriter): boolean {
  const mark = w.length;
  try {
    const r = runCommand(state, session, q.cmd, q.args, w);
    if (r instanceof Promise || r instanceof RetryAfter) throw new Error(`command ${q.cmd.name} went asynchronous inside EXEC; it belongs in NO_MULTI`);
  } catch (e) {
    if (e instanceof ReplyError) w.error(e.reply);
    else if (e instanceof OutOfMemoryError) w.error(e.message);
    else throw e;
  }
  return q.cmd.write && !(w.length > mark && w.byteAt(mark) === 0x2d);
}

const exec = (state: ServerState, session: Session, _args: Buffer[], w: RespWriter): ExecuteResult => {
  const tx = session.tx;
  if (tx === undefined) throw new ReplyError('ERR EXEC without MULTI');
  if (tx.aborted) {
    endTx(state, session);
    throw new ReplyError('EXECABORT Transaction discarded because of previous errors.');
  }
  const cluster = state.cluster;
  let admitted: { slot: number; remote: boolean } | undefined;
  if (cluster?.localCheck !== undefined && tx.slot !== undefined) {
    const keys = tx.queued.flatMap((q) => (q.cmd.data && q.cmd.firstKey > 0 ? keysOf(q.cmd, q.args) : []));
    const r = cluster.localCheck(session, keys, true, session.fromPeer !== true && cluster.forwardBlock !== undefined && session.watching === undefined);
    if (r instanceof RetryAfter) return r; // held or waiting on writes in flight: EXEC runs again after
    if ('error' in r) {
      endTx(state, session);
      throw new ReplyError(r.error);
    }
    admitted = r;
  }
  if (session.watchDirty === true) {
    endTx(state, session);
    return w.nilArray();
  }
  endTx(state, session);
  if (admitted?.remote === true) {
    const block = [[Buffer.from('MULTI')], ...tx.queued.map((q) => q.args), [Buffer.from('EXEC')]];
    return cluster!.forwardBlock!(admitted.slot, block, session.resp);
  }
  const mark = w.length;
  w.arrayHeader(tx.queued.length);
  const written: Buffer[] = [];
  return withJournal(state, () => {
    session.inExec = true;
    try {
      for (const q of tx.queued) if (runQueued(state, session, q, w)) written.push(...keysOf(q.cmd, q.args));
    } finally {
      session.inExec = false;
    }
    return replicateWrites(state, session, w, mark, written);
  });
};

/**
 * Runs `f` (commands, then their replication) with the change journal armed when writes here are replicated,
 * so collections replicate as their changes (src/storage/journal.ts). Synchronous: the window ends with `f`.
 */
export function withJournal<T>(state: ServerState, f: () => T): T {
  const arm = state.cluster?.replicating === true && journal.arm();
  try {
    return f();
  } finally {
    if (arm) journal.disarm();
  }
}

/**
 * After EXEC or a script ran here: on a replicated leader its writes (`written` keys) go as one replication
 * entry, and the reply made since `mark` waits for it like a single write's reply.
 */
export function replicateWrites(state: ServerState, session: Session, w: RespWriter, mark: number, written: Buffer[]): ExecuteResult {
  const cluster = state.cluster;
  const committed = written.length > 0 && cluster?.replicating === true ? cluster.replicate?.(written) : undefined;
  if (committed === undefined) return;
  const reply = w.cutFrom(mark);
  return committed.then((last) => {
    session.lastWrite = last;
    return reply;
  });
}

/** WATCH key...: in cluster mode the keys must be in one slot this node leads (a watch cannot be forwarded). */
const watch = (state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
  if (session.tx !== undefined) throw new ReplyError('ERR WATCH inside MULTI is not allowed');
  const keys = args.slice(1);
  const cluster = state.cluster;
  if (cluster?.localCheck !== undefined) {
    const r = cluster.localCheck(session, keys, true, false);
    if (r instanceof RetryAfter) return r;
    if ('error' in r) throw new ReplyError(r.error);
  }
  const registry = state.watches;
  if (registry === undefined) throw new Error('invariant: a server without a watch registry');
  for (const k of keys) registry.watch(session, k.toString('latin1'));
  w.ok();
};

const unwatch = (state: ServerState, session: Session, _args: Buffer[], w: RespWriter): ExecuteResult => {
  state.watches?.unwatchAll(session);
  w.ok();
};

/** name -> [arity, flags, handler]. */
export const TX_COMMANDS = {
  multi: [1, ['fast'], multi],
  exec: [1, [], exec],
  discard: [1, ['fast'], discard],
  watch: [-2, ['fast'], watch],
  unwatch: [1, ['fast'], unwatch],
} as const;
