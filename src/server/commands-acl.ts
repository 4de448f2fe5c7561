// ACL SETUSER/GETUSER/DELUSER/LIST/USERS/WHOAMI/CAT/LOG/DRYRUN/GENPASS with Redis 7.0's replies, and the check
// every command passes before it runs (or is queued): the session's user may run it, on its keys and channels;
// a denial answers -NOPERM as Redis words it and is recorded for ACL LOG. The rules themselves are in acl.ts.
import { randomBytes } from 'node:crypto';
import { ReplyError } from './args.js';
import type { RespWriter } from './resp-writer.js';
import { deniedChannel, deniedKey, mayRun, AclRuleError, AclStore, type AclUser, type Denial } from './acl.js';
import { keyIndexes, type CommandSpec, type ExecuteResult, type ServerState, type Session } from './dispatch.js';

export const ACL_LIMITS = Object.freeze({
  /** ACL LOG entries kept (Redis's acllog-max-len). */
  logMax: 128,
  /** A repeated denial within this long updates its entry instead of adding one (as Redis groups them). */
  logGroupMs: 60_000,
});

interface LogEntry {
  count: number;
  reason: string;
  context: string;
  object: string;
  username: string;
  createdMs: number;
  updatedMs: number;
  clientInfo: string;
}

/** ACL LOG of one node, newest first. */
export class AclLog {
  entries: LogEntry[] = [];

  add(e: Omit<LogEntry, 'count' | 'createdMs' | 'updatedMs'>, nowMs: number): void {
    const same = this.entries.find((x) => x.reason === e.reason && x.context === e.context && x.object === e.object && x.username === e.username && nowMs - x.updatedMs < ACL_LIMITS.logGroupMs);
    if (same !== undefined) {
      same.count++;
      same.updatedMs = nowMs;
      same.clientInfo = e.clientInfo;
      return;
    }
    this.entries.unshift({ ...e, count: 1, createdMs: nowMs, updatedMs: nowMs });
    if (this.entries.length > ACL_LIMITS.logMax) this.entries.length = ACL_LIMITS.logMax;
  }
}

const PUBLISHING = new Set(['publish', 'spublish']);
const SUBSCRIBING = new Set(['subscribe', 'ssubscribe']);

/** Writes-only commands (Redis key specs OW/RM): they need W on their keys, not R. */
const WRITE_ONLY = new Set(['set', 'mset', 'msetnx', 'setex', 'psetex', 'del', 'unlink', 'pfmerge', 'hmset', 'xadd', 'sadd', 'lpush', 'rpush', 'zadd']);

/** Why `u` may not run this command here, if it may not. */
export function denial(u: AclUser, cmd: CommandSpec, args: Buffer[]): Denial | undefined {
  const name = cmd.name;
  // The first argument is read (as a subcommand) only when the command itself is not allowed.
  if (!u.allowed.has(name) && !mayRun(u, name, args[1]?.toString('latin1'))) return { reason: 'command', object: name };
  if (cmd.data && cmd.firstKey > 0) {
    // One key (most commands): no index list to build.
    const keys = cmd.keyIndexesOf === undefined && cmd.lastKey === cmd.firstKey ? (args.length > cmd.firstKey ? [args[cmd.firstKey]!] : []) : keyIndexes(cmd, args).map((i) => args[i]!);
    const key = deniedKey(u, keys, !cmd.write || !WRITE_ONLY.has(name), cmd.write);
    if (key !== undefined) return { reason: 'key', object: key };
  }
  if (!PUBLISHING.has(name) && !SUBSCRIBING.has(name) && name !== 'psubscribe') return undefined;
  const channel = deniedChannel(u, PUBLISHING.has(name) ? [args[1]!] : args.slice(1), name === 'psubscribe');
  return channel === undefined ? undefined : { reason: 'channel', object: channel };
}

export const noPerm = (d: Denial): string =>
  d.reason === 'command' ? `NOPERM this user has no permissions to run the '${d.object}' command` : `NOPERM this user has no permissions to access one of the ${d.reason === 'key' ? 'keys' : 'channels'} used as arguments`;

function aclOf(state: ServerState): AclStore {
  if (state.acl === undefined) throw new Error('invariant: a server without ACLs');
  return state.acl;
}

/** Records a denial for ACL LOG. */
export function logDenial(state: ServerState, session: Session, d: Denial | { reason: 'auth'; object: string }, context: 'toplevel' | 'multi' | 'lua', username = session.user ?? 'default'): void {
  state.aclLog?.add({ reason: d.reason, context, object: d.object, username, clientInfo: `id=${session.id} addr=${session.addr} name=${session.name} user=${session.user ?? 'default'}` }, state.clock.nowMs());
}

function getUser(state: ServerState, w: RespWriter, name: string): void {
  const acl = aclOf(state);
  const u = acl.get(name);
  if (u === undefined) return w.nil();
  w.mapHeader(6);
  w.bulk('flags');
  const flags = [u.enabled ? 'on' : 'off', ...(u.nopass ? ['nopass'] : []), ...(u.payload !== 'unset' ? [u.payload] : [])];
  w.setHeader(flags.length);
  for (const f of flags) w.bulk(f);
  w.bulk('passwords');
  w.arrayHeader(u.passwords.length);
  for (const p of u.passwords) w.bulk(p);
  for (const [field, text] of [['commands', acl.describeCommands(u)], ['keys', acl.describeKeys(u)], ['channels', acl.describeChannels(u)]] as const) {
    w.bulk(field);
    w.bulk(text);
  }
  w.bulk('selectors');
  w.arrayHeader(0);
}

function logReply(state: ServerState, args: Buffer[], w: RespWriter): void {
  const log = state.aclLog;
  if (log === undefined) return w.arrayHeader(0);
  if (args.length === 3 && args[2]!.toString('latin1').toLowerCase() === 'reset') {
    log.entries = [];
    return w.ok();
  }
  const count = args.length === 3 ? Number(args[2]!.toString('latin1')) : 10;
  if (args.length > 3 || !Number.isInteger(count) || count < 0) throw new ReplyError('ERR value is out of range, must be positive');
  const now = state.clock.nowMs();
  const shown = log.entries.slice(0, count);
  w.arrayHeader(shown.length);
  for (const e of shown) {
    w.mapHeader(7);
    w.bulk('count');
    w.integer(e.count);
    for (const [f, v] of [['reason', e.reason], ['context', e.context], ['object', e.object], ['username', e.username]] as const) {
      w.bulk(f);
      w.bulk(v);
    }
    w.bulk('age-seconds');
    w.double((now - e.createdMs) / 1000);
    w.bulk('client-info');
    w.bulk(e.clientInfo);
  }
}

function dryRun(state: ServerState, args: Buffer[], w: RespWriter, lookup: (name: Buffer) => CommandSpec | undefined): void {
  const acl = aclOf(state);
  const name = args[2]!.toString('latin1');
  const u = acl.get(name);
  if (u === undefined) throw new ReplyError(`ERR User '${name}' not found`);
  const cmd = lookup(args[3]!);
  if (cmd === undefined) throw new ReplyError(`ERR Command '${args[3]!.toString('latin1')}' not found`);
  const rest = args.slice(3);
  if ((cmd.arity > 0 && rest.length !== cmd.arity) || rest.length < -cmd.arity) throw new ReplyError(`ERR wrong number of arguments for '${cmd.name}' command`);
  const d = denial(u, cmd, rest);
  if (d === undefined) return w.ok();
  w.bulk(d.reason === 'command' ? `This user has no permissions to run the '${d.object}' command` : `This user has no permissions to access the '${d.object}' ${d.reason}`);
}

/**
 * ACL SETUSER/DELUSER: the change is tried on a copy first (a bad rule is answered at once); standalone it then
 * applies here, in cluster mode to the users in the coordinator, and the reply waits until they are stored.
 */
function change(state: ServerState, w: RespWriter, apply: (users: AclStore) => string): ExecuteResult {
  const acl = aclOf(state);
  const trial = new AclStore(acl.commandNames);
  trial.load(acl.serialize());
  const reply = apply(trial);
  const sync = state.aclSync;
  if (sync === undefined) {
    acl.load(trial.serialize());
    state.onAclChange?.();
    return w.raw(Buffer.from(reply));
  }
  let stored = reply;
  return sync((users) => void (stored = apply(users))).then(() => Buffer.from(stored));
}

/** ACL <subcommand> ... */
export function aclCommand(lookup: (name: Buffer) => CommandSpec | undefined) {
  return (state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
    const acl = aclOf(state);
    const sub = args[1]!.toString('latin1').toLowerCase();
    const arity = (ok: boolean): void => {
      if (!ok) throw new ReplyError(`ERR wrong number of arguments for 'acl|${sub}' command`);
    };
    switch (sub) {
      case 'setuser': {
        arity(args.length >= 3);
        const name = args[2]!.toString('latin1');
        const ops = args.slice(3).map((a) => a.toString('latin1'));
        return change(state, w, (users) => {
          try {
            users.setUser(name, ops);
          } catch (e) {
            if (e instanceof AclRuleError) throw new ReplyError(e.message);
            throw e;
          }
          return '+OK\r\n';
        });
      }
      case 'getuser':
        arity(args.length === 3);
        return getUser(state, w, args[2]!.toString('latin1'));
      case 'deluser': {
        arity(args.length >= 3);
        const names = args.slice(2).map((a) => a.toString('latin1'));
        if (names.includes('default')) throw new ReplyError("ERR The 'default' user cannot be removed");
        return change(state, w, (users) => `:${names.filter((n) => users.deleteUser(n)).length}\r\n`);
      }
      case 'list':
        arity(args.length === 2);
        return w.bulkArray(acl.names().map((n) => acl.describe(acl.get(n)!)));
      case 'users':
        arity(args.length === 2);
        return w.bulkArray(acl.names());
      case 'whoami':
        arity(args.length === 2);
        return w.bulk(session.user ?? 'default');
      case 'cat': {
        arity(args.length <= 3);
        if (args.length === 2) return w.bulkArray([...acl.categories()]);
        const members = acl.membersOf(args[2]!.toString('latin1').toLowerCase());
        if (members === undefined) throw new ReplyError(`ERR Unknown category '${args[2]!.toString('latin1')}'`);
        return w.bulkArray(members);
      }
      case 'log':
        return logReply(state, args, w);
      case 'dryrun':
        arity(args.length >= 4);
        return dryRun(state, args, w, lookup);
      case 'genpass': {
        const bits = args.length === 3 ? Number(args[2]!.toString('latin1')) : 256;
        if (!Number.isInteger(bits) || bits <= 0 || bits > 4096) throw new ReplyError('ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096');
        return w.bulk(randomBytes(Math.ceil(bits / 8)).toString('hex').slice(0, Math.ceil(bits / 4)));
      }
      default:
        throw new ReplyError(`ERR unknown subcommand '${args[1]!.toString('latin1').slice(0, 128)}'. Try ACL HELP.`);
    }
  };
}
