// Command dispatch: arity and auth checks, connection and server commands (PING, HELLO, AUTH, INFO, CONFIG,
// CLIENT, COMMAND, ...), and the data commands. Socket-free, so it is tested by feeding argument arrays.
import { journal } from '../storage/journal.js';
import type { Clock, EvictionPolicy, StorageEngine } from '../storage/engine.js';
import { EVICTION_POLICIES, OutOfMemoryError } from '../storage/engine.js';
import { MemoryEngine } from '../storage/memory.js';
import { ERR, ReplyError, globToRegExp, intArg, isWord, parseInt64, wrongArity } from './args.js';
import { DATA_COMMANDS, type DataContext } from './commands-data.js';
import { SET_COMMANDS, sintercardKeys } from './commands-sets.js';
import { LIST_COMMANDS, lmpopKeys } from './commands-lists.js';
import { ZSET_COMMANDS } from './commands-zsets.js';
import { KEY_COMMANDS } from './commands-keys.js';
import { TX_COMMANDS, TX_IMMEDIATE, queueCommand } from './commands-tx.js';
import type { Transaction, WatchRegistry } from './transactions.js';
import type { PubSubHub, Subscriber } from './pubsub.js';
import type { BlockingRegistry } from './blocking.js';
import { BLOCKING_COMMANDS, blockingMpopKeyIndexes } from './commands-blocking.js';
import type { LuaScripts } from './lua.js';
import { SCRIPT_COMMANDS, evalKeyCount, functionCmd, script } from './commands-scripting.js';
import { keySlot } from '../partitioning/hash.js';
import { STREAM_COMMANDS, xread, xreadKeyIndexes } from './commands-streams.js';
import type { AclStore, AclUser } from './acl.js';
import { aclCommand, denial, logDenial, noPerm, type AclLog } from './commands-acl.js';
import { BIT_COMMANDS } from './commands-bits.js';
import { GEO_COMMANDS, georadiusKeyIndexes } from './commands-geo.js';
import { GROUP_COMMANDS, xreadgroup, xreadgroupKeyIndexes } from './commands-groups.js';
import { XINFO_COMMANDS } from './commands-xinfo.js';
import { HLL_COMMANDS } from './commands-hll.js';
import { OBJECT_COMMANDS } from './commands-object.js';
import { notifyFlagsText, parseNotifyFlags, type KeyspaceNotifier } from './notify.js';
import { PUBSUB_COMMANDS, SUBSCRIBED_CONTEXT, spublish, subscribed, subscribedContextError } from './commands-pubsub.js';
import { RespWriter, type RespVersion } from './resp-writer.js';

export const ATOLL_VERSION = '0.1.0';
/** Commands per latency sample (a power of two). */
export const LATENCY_SAMPLE_EVERY = 16;
/** The Redis version Atoll reports: the command set and reply texts it follows. */
export const REDIS_COMPAT_VERSION = '7.2.0';

export interface Session {
  readonly id: number;
  readonly addr: string;
  /** Connected through the TLS port: cluster replies name nodes' TLS ports. */
  readonly tls?: boolean;
  readonly createdMs: number;
  name: string;
  resp: RespVersion;
  authenticated: boolean;
  lastCommand: string;
  /** READONLY: reads may be served by a follower of the key's partition. */
  readonly?: boolean;
  /** ASKING: the next command may touch a slot being imported here. */
  asking?: boolean;
  /** Commands on this session were forwarded by a peer: answer them here or redirect, never forward again. */
  readonly fromPeer?: boolean;
  /** The last replicated write acknowledged on this session (for WAIT). */
  lastWrite?: { partition: number; seq: number };
  /** Slot of the command being routed (cluster mode), so the monitor does not hash its key again. */
  slot?: number;
  /** MULTI was called: commands are queued until EXEC or DISCARD. */
  tx?: Transaction<CommandSpec> | undefined;
  /** Keys this session WATCHes (see WatchRegistry). */
  watching?: Set<string> | undefined;
  watchDirty?: boolean | undefined;
  /** The ACL user this connection authenticated as (undefined: default). */
  user?: string | undefined;
  /** Pub/sub subscriptions, once the connection subscribed to something. */
  sub?: Subscriber | undefined;
  /** A blocked command's arguments and deadline (ms since the epoch, 0 = none), kept across its retries. */
  block?: { readonly args: Buffer[]; readonly deadlineMs: number; readonly ids?: bigint[] } | undefined;
  /** EXEC is running this session's queued commands: blocking commands must not block. */
  inExec?: boolean | undefined;
  /** Writes bytes to the connection outside a reply (pub/sub messages); absent on peer sessions. */
  push?: ((bytes: Buffer) => void) | undefined;
}

/** Run the same command again once `wait` settles (and nothing after it on the connection before then). */
export class RetryAfter {
  constructor(readonly wait: Promise<void>) {}
}

/** Where a keyed command runs in cluster mode: here (undefined), nowhere (an error reply), remotely, or later. */
export type RouteResult = undefined | { readonly error: string } | Promise<Buffer> | RetryAfter;

/** A command as routing sees it: its name, where its keys are, whether it writes. Its arguments travel beside it. */
export interface RoutedCommand {
  readonly name: string;
  readonly firstKey: number;
  readonly lastKey: number;
  readonly keyStep: number;
  readonly write: boolean;
  /**
   * For commands whose keys are not one evenly spaced run fixed by the table (SINTERCARD numkeys key...,
   * ZUNIONSTORE dest numkeys key...): the keys' indexes in `args`.
   */
  readonly keyIndexesOf?: (args: Buffer[]) => number[];
  /** BLPOP and the like: may block its connection (forwarding nodes send it alone, in timeout slices). */
  readonly blocking?: boolean;
  /** EVAL: replicates the writes it makes itself (one entry), instead of its declared keys after it runs. */
  readonly selfReplicating?: boolean;
}

/** The index of a command's last key in `args` (for commands whose keys are one evenly spaced run). */
export function lastKeyIndex(cmd: RoutedCommand, args: Buffer[]): number {
  return cmd.lastKey < 0 ? args.length + cmd.lastKey : cmd.lastKey;
}

/** The indexes of a command's keys in `args`, in order. */
export function keyIndexes(cmd: RoutedCommand, args: Buffer[]): number[] {
  if (cmd.keyIndexesOf !== undefined) return cmd.keyIndexesOf(args).filter((i) => i < args.length);
  const last = lastKeyIndex(cmd, args);
  const out: number[] = [];
  for (let i = cmd.firstKey; i <= last && i < args.length; i += cmd.keyStep) out.push(i);
  return out;
}

/** Cluster mode: key routing and the CLUSTER command. Absent on a standalone node. */
export interface ClusterHooks {
  route(session: Session, command: RoutedCommand, args: Buffer[]): RouteResult;
  /** Whether writes here are replicated (replicate() has work to do). */
  readonly replicating?: boolean;
  clusterCommand(state: ServerState, session: Session, args: Buffer[], w: RespWriter): void | Promise<Buffer>;
  infoSection(): [string, string | number][];
  /**
   * After a write ran here as leader: replicate the resulting state of `keys`; the reply waits for the
   * returned promise (committed under the ack mode). Undefined when the partition is not replicated.
   */
  replicate?(keys: Buffer[]): Promise<{ partition: number; seq: number }> | undefined;
  /** WAIT: followers holding the session's last write, waiting up to `timeoutMs` (0: no limit) for `count`. */
  waitReplicas?(session: Session, count: number, timeoutMs: number): Promise<number>;
  /** The transaction holding this turn's writes committed (ok) or rolled back. */
  afterCommit?(ok: boolean, failure?: Error): void;
  /** INFO replication lines, when this node replicates partitions. */
  replicationSection?(): [string, string | number][];
  /**
   * Whether commands on `keys` may run here now, without forwarding anything: the slot (all keys in one), an
   * error (-CROSSSLOT, -MOVED, -CLUSTERDOWN, -TRYAGAIN), or a wait (the partition is held or has writes in
   * flight). `admit` also passes the replication gate (EXEC does; queueing does not). `remoteOk`: a key led
   * elsewhere answers with its slot and `remote` instead of -MOVED (a forwarding node forwards the block).
   */
  localCheck?(session: Session, keys: readonly Buffer[], admit: boolean, remoteOk: boolean): { slot: number; remote: boolean } | { error: string } | RetryAfter;
  /** PUBLISH: sends the message to every other node, whose subscribers receive it there (at most once). */
  broadcastPublish?(channel: Buffer, message: Buffer): void;
  /** Runs a whole MULTI ... EXEC block on `slot`'s leader; resolves with EXEC's reply. */
  forwardBlock?(slot: number, cmds: Buffer[][], resp: 2 | 3): Promise<Buffer>;
}

/** Settings CONFIG GET/SET can see; the rest of the configuration is fixed at start. */
export interface LiveConfig {
  requirepass: string;
  timeoutSeconds: number;
  maxclients: number;
  bulkBytesMax: number;
  queryBufferBytesMax: number;
  outputBufferBytesMax: number;
  /** Redis's enable-debug-command: DEBUG is refused (no), allowed (yes), or allowed from loopback only (local). */
  enableDebugCommand: 'no' | 'yes' | 'local';
}

export interface ServerState {
  readonly engine: StorageEngine;
  readonly clock: Clock;
  readonly config: LiveConfig;
  readonly sessions: Map<number, Session>;
  readonly startedMs: number;
  readonly port: number;
  readonly stats: ServerStats;
  /** What data commands see of the server; made once so the hot path allocates nothing per command. */
  readonly data: DataContext;
  /** Called with the run time of a sample of commands (one in LATENCY_SAMPLE_EVERY), when metrics are on. */
  observe?: (command: string, seconds: number) => void;
  /** Sees the first key of every data command served here (per-partition rates, hot keys), when monitoring is on. */
  monitor?: { recordKey(key: Buffer, slot?: number): void; hotKeys(count: number): { key: string; count: number; share: number }[]; report(): unknown };
  /** Set in cluster mode. */
  cluster?: ClusterHooks;
  /** WATCHed keys of every session (set by the server; it listens to the engine's changes). */
  watches?: WatchRegistry;
  /** Pub/sub subscriptions of this node's connections. */
  pubsub?: PubSubHub;
  /** Clients blocked in BLPOP and the like, by key. */
  blocking?: BlockingRegistry;
  /** The Lua runtime and script cache (made on the first EVAL). */
  scripts?: LuaScripts;
  /** Keyspace notifications (set by the server). */
  notify?: KeyspaceNotifier;
  /** While a write command runs with notifications on: the keys the engine reports changed. */
  changed?: Set<string> | undefined;
  /** ACL users (set by the server). */
  acl?: AclStore;
  aclLog?: AclLog;
  /** Called after ACL SETUSER/DELUSER changed the users here (standalone). */
  onAclChange?: () => void;
  /**
   * Cluster mode: users live in the coordinator. Applies `change` to the current users there (retrying when
   * another node changed them meanwhile) and resolves once stored; every node then loads them from its watch.
   */
  aclSync?: (change: (users: AclStore) => void) => Promise<void>;
}

export interface ServerStats {
  connectionsTotal: number;
  commandsTotal: number;
  rejectedConnections: number;
  /** Peer connections dropped before any frame was served: no or a wrong cluster secret, a bad handshake. */
  peerRefused: number;
  /** Calls per command, indexed by CommandSpec.index (an array add per command instead of a map update). */
  readonly callCounts: number[];
}

/** Fresh counters for a server. */
export function newServerStats(): ServerStats {
  return { connectionsTotal: 0, commandsTotal: 0, rejectedConnections: 0, peerRefused: 0, callCounts: new Array<number>(COMMAND_NAMES.length).fill(0) };
}

/** Calls per command name (commands called at least once). */
export function commandCalls(state: ServerState): Map<string, number> {
  const out = new Map<string, number>();
  state.stats.callCounts.forEach((n, i) => {
    if (n > 0) out.set(COMMAND_NAMES[i]!, n);
  });
  return out;
}

/** The DataContext of a server state (config read live). */
export function dataContextFor(engine: StorageEngine, clock: Clock, config: LiveConfig, cluster = false): DataContext {
  return {
    engine,
    cluster,
    nowMs: () => clock.nowMs(),
    get bulkBytesMax() {
      return config.bulkBytesMax;
    },
  };
}

type ServerHandler = (state: ServerState, session: Session, args: Buffer[], w: RespWriter) => ExecuteResult;

/** What execute() returns: nothing, 'close' after the reply, or a reply that another node will send. */
export type ExecuteResult = 'close' | void | Promise<Buffer> | RetryAfter;

export interface CommandSpec extends RoutedCommand {
  /** Position in COMMAND_NAMES (call counters). */
  readonly index: number;
  readonly arity: number;
  readonly flags: readonly string[];
  readonly firstKey: number;
  readonly lastKey: number;
  readonly keyStep: number;
  /** A data command (reads or writes keys), routed in cluster mode. */
  readonly data: boolean;
  readonly noauth: boolean;
  readonly run: ServerHandler;
}

const lower = (b: Buffer): string => b.toString('latin1').toLowerCase();

function dataCommand(handler: (ctx: DataContext, args: Buffer[], w: RespWriter) => void): ServerHandler {
  return (state, _session, args, w) => handler(state.data, args, w);
}

const ping: ServerHandler = (_s, session, args, w) => {
  if (args.length > 2) throw new ReplyError(wrongArity('ping'));
  if (session.resp === 2 && subscribed(session)) {
    // A subscribed RESP2 connection gets PING's answer as a pub/sub-shaped array, as from Redis.
    w.arrayHeader(2);
    w.bulk('pong');
    return w.bulk(args[1] ?? '');
  }
  if (args.length === 2) w.bulk(args[1]!);
  else w.simple('PONG');
};

function authenticate(state: ServerState, session: Session, user: Buffer | undefined, pass: Buffer): void {
  const acl = state.acl;
  if (acl === undefined) throw new Error('invariant: a server without ACLs');
  const name = user?.toString('latin1') ?? 'default';
  if (user === undefined && acl.get('default')?.nopass === true) {
    throw new ReplyError('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
  }
  if (acl.check(name, pass) === undefined) {
    logDenial(state, session, { reason: 'auth', object: 'AUTH' }, 'toplevel', name);
    throw new ReplyError(ERR.wrongPass);
  }
  session.user = name;
  session.authenticated = true;
}

/** Whether a user may run anything on any key and channel (the check is then skipped). */
function unrestricted(u: AclUser): boolean {
  return u.allowAll && u.allowed.size === COMMAND_NAMES.length && u.allChannels && u.keys.some((k) => k.pattern === '*' && k.read && k.write);
}

/** Commands whose permission can be given per subcommand; denials name them 'cmd|sub', as Redis does. */
const CONTAINERS = new Set(['acl', 'config', 'client', 'cluster', 'script', 'pubsub', 'command', 'object', 'xinfo', 'xgroup']);

/** The ACL check before a command runs or is queued: a -NOPERM reply when the session's user may not run it. */
function aclCheck(state: ServerState, session: Session, cmd: CommandSpec, args: Buffer[], w: RespWriter): boolean {
  const acl = state.acl;
  if (acl === undefined) return true;
  const u = acl.get(session.user ?? 'default');
  if (u === undefined || !u.enabled) {
    // The user was deleted or turned off after this connection authenticated: it may do nothing more.
    w.error(`NOPERM this user has no permissions to run the '${cmd.name}' command`);
    return false;
  }
  if (unrestricted(u)) return true;
  const d = denial(u, cmd, args);
  if (d === undefined) return true;
  const named = d.reason === 'command' && CONTAINERS.has(cmd.name) && args[1] !== undefined ? { ...d, object: `${cmd.name}|${args[1].toString('latin1').toLowerCase()}` } : d;
  logDenial(state, session, named, session.tx !== undefined ? 'multi' : 'toplevel');
  if (session.tx !== undefined) session.tx.aborted = true;
  w.error(noPerm(named));
  return false;
}

const auth: ServerHandler = (state, session, args, w) => {
  if (args.length === 2) authenticate(state, session, undefined, args[1]!);
  else if (args.length === 3) authenticate(state, session, args[1], args[2]!);
  else throw new ReplyError(ERR.syntax);
  w.ok();
};

/** HELLO [protover [AUTH user pass] [SETNAME name]] */
const hello: ServerHandler = (state, session, args, w) => {
  let version = session.resp;
  if (args.length >= 2) {
    const v = intArg(args[1], 'ERR Protocol version is not an integer or out of range');
    if (v !== 2 && v !== 3) throw new ReplyError('NOPROTO unsupported protocol version');
    version = v;
  }
  for (let i = 2; i < args.length; i++) {
    if (isWord(args[i], 'AUTH') && i + 2 < args.length) {
      authenticate(state, session, args[i + 1], args[i + 2]!);
      i += 2;
    } else if (isWord(args[i], 'SETNAME') && i + 1 < args.length) {
      session.name = checkName(args[++i]!);
    } else throw new ReplyError(`ERR Syntax error in HELLO option '${args[i]!.toString()}'`);
  }
  if (!session.authenticated) throw new ReplyError('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time');
  session.resp = version;
  w.version = version;
  w.mapHeader(7);
  w.bulk('server');
  w.bulk('redis');
  w.bulk('version');
  w.bulk(REDIS_COMPAT_VERSION);
  w.bulk('proto');
  w.integer(version);
  w.bulk('id');
  w.integer(session.id);
  w.bulk('mode');
  w.bulk(state.cluster === undefined ? 'standalone' : 'cluster');
  w.bulk('role');
  w.bulk('master');
  w.bulk('modules');
  w.arrayHeader(0);
};

function checkName(name: Buffer): string {
  const s = name.toString('latin1');
  if (/[\s]/.test(s) || [...s].some((c) => c.charCodeAt(0) < 33 || c.charCodeAt(0) > 126)) {
    throw new ReplyError('ERR Client names cannot contain spaces, newlines or special characters.');
  }
  return s;
}

function clientLine(state: ServerState, s: Session): string {
  const now = state.clock.nowMs();
  return `id=${s.id} addr=${s.addr} laddr=127.0.0.1:${state.port} name=${s.name} age=${Math.floor((now - s.createdMs) / 1000)} db=0 resp=${s.resp} cmd=${s.lastCommand}`;
}

const client: ServerHandler = (state, session, args, w) => {
  const sub = lower(args[1]!);
  if (sub === 'setname' && args.length === 3) {
    session.name = checkName(args[2]!);
    return w.ok();
  }
  if (sub === 'getname' && args.length === 2) return session.name === '' ? w.nil() : w.bulk(session.name);
  if (sub === 'id' && args.length === 2) return w.integer(session.id);
  if (sub === 'info' && args.length === 2) return w.verbatim(`${clientLine(state, session)}\n`);
  if (sub === 'list') return w.verbatim([...state.sessions.values()].map((s) => `${clientLine(state, s)}\n`).join(''));
  // Client libraries announce themselves (Redis 7.2); accept and ignore.
  if (sub === 'setinfo' && args.length === 4) return w.ok();
  throw new ReplyError(`ERR unknown subcommand '${args[1]!.toString()}'. Try CLIENT HELP.`);
};

const select: ServerHandler = (_s, _session, args, w) => {
  if (intArg(args[1]) !== 0) throw new ReplyError(ERR.dbIndex);
  w.ok();
};

const dbsize: ServerHandler = (state, _session, _args, w) => w.integer(state.engine.size());

const flush: ServerHandler = (state, _session, args, w) => {
  if (args.length > 2 || (args.length === 2 && !isWord(args[1], 'ASYNC') && !isWord(args[1], 'SYNC'))) throw new ReplyError(ERR.syntax);
  state.engine.clear();
  w.ok();
};

const time: ServerHandler = (state, _session, _args, w) => {
  const ms = state.clock.nowMs();
  w.arrayHeader(2);
  w.bulk(String(Math.floor(ms / 1000)));
  w.bulk(String((ms % 1000) * 1000));
};

const echo: ServerHandler = (_s, _session, args, w) => w.bulk(args[1]!);

const quit: ServerHandler = (_s, _session, _args, w) => {
  w.ok();
  return 'close';
};

/** CONFIG GET pattern... / CONFIG SET name value [name value ...] / CONFIG RESETSTAT */
const config: ServerHandler = (state, _session, args, w) => {
  const sub = lower(args[1]!);
  const params = configParams(state);
  if (sub === 'get' && args.length >= 3) {
    const found = new Map<string, string>();
    for (let i = 2; i < args.length; i++) {
      const re = globToRegExp(lower(args[i]!));
      for (const [name, p] of Object.entries(params)) if (re.test(name)) found.set(name, p.get());
    }
    w.mapHeader(found.size);
    for (const [name, value] of found) {
      w.bulk(name);
      w.bulk(value);
    }
    return;
  }
  if (sub === 'set' && args.length >= 4 && args.length % 2 === 0) {
    for (let i = 2; i < args.length; i += 2) {
      const name = lower(args[i]!);
      const p = params[name];
      if (p?.set === undefined) throw new ReplyError(`ERR Unknown option or number of arguments for CONFIG SET - '${name}'`);
      p.set(args[i + 1]!.toString());
    }
    return w.ok();
  }
  if (sub === 'resetstat' && args.length === 2) {
    state.stats.callCounts.fill(0);
    state.stats.commandsTotal = 0;
    return w.ok();
  }
  throw new ReplyError(`ERR unknown subcommand or wrong number of arguments for '${args[1]!.toString()}'. Try CONFIG HELP.`);
};

function configParams(state: ServerState): Record<string, { get: () => string; set?: (v: string) => void }> {
  const engine = state.engine instanceof MemoryEngine ? state.engine : undefined;
  const num = (v: string, name: string, min: number): number => {
    const n = parseMemory(v);
    if (n === undefined || n < min) throw new ReplyError(`ERR CONFIG SET failed (possibly related to argument '${name}') - argument couldn't be parsed into an integer`);
    return n;
  };
  return {
    maxmemory: {
      get: () => String(engine?.maxmemoryBytes ?? 0),
      set: engine ? (v) => (engine.maxmemoryBytes = num(v, 'maxmemory', 0)) : undefined,
    },
    'maxmemory-policy': {
      get: () => engine?.policy ?? 'noeviction',
      set: engine
        ? (v) => {
            if (!(EVICTION_POLICIES as readonly string[]).includes(v)) throw new ReplyError(`ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: ${EVICTION_POLICIES.join(', ')}`);
            engine.policy = v as EvictionPolicy;
          }
        : undefined,
    },
    requirepass: {
      get: () => state.config.requirepass,
      set: (v) => {
        state.config.requirepass = v;
        state.acl?.setRequirepass(v);
      },
    },
    timeout: { get: () => String(state.config.timeoutSeconds), set: (v) => (state.config.timeoutSeconds = num(v, 'timeout', 0)) },
    'notify-keyspace-events': {
      get: () => notifyFlagsText(state.notify?.flags ?? 0),
      set: (v) => {
        const flags = parseNotifyFlags(v);
        if (flags === undefined) throw new ReplyError("ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
        if (state.notify !== undefined) state.notify.flags = flags;
      },
    },
    maxclients: { get: () => String(state.config.maxclients) },
    'proto-max-bulk-len': { get: () => String(state.config.bulkBytesMax) },
    'client-query-buffer-limit': { get: () => String(state.config.queryBufferBytesMax) },
    databases: { get: () => '1' },
    appendonly: { get: () => 'no' },
    save: { get: () => '' },
    'cluster-enabled': { get: () => (state.cluster === undefined ? 'no' : 'yes') },
  };
}

/** "100", "100mb", "1gb", "64kb" -> bytes, as redis.conf accepts them. */
export function parseMemory(text: string): number | undefined {
  const m = /^(\d+)\s*(b|k|kb|m|mb|g|gb)?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult = { b: 1, k: 1000, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 }[unit]!;
  const n = Number(m[1]) * mult;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** INFO's sections as data: INFO renders them as text, the admin API as JSON. */
export function infoSections(state: ServerState): Record<string, [string, string | number][]> {
  const s = state.engine.stats();
  const policy = state.engine instanceof MemoryEngine ? state.engine.policy : 'noeviction';
  const maxmemory = state.engine instanceof MemoryEngine ? state.engine.maxmemoryBytes : 0;
  const sections: Record<string, [string, string | number][]> = {
    server: [
      ['redis_version', REDIS_COMPAT_VERSION],
      ['atoll_version', ATOLL_VERSION],
      ['redis_mode', state.cluster === undefined ? 'standalone' : 'cluster'],
      ['os', `${process.platform} ${process.arch}`],
      ['process_id', process.pid],
      ['tcp_port', state.port],
      ['uptime_in_seconds', Math.floor((state.clock.nowMs() - state.startedMs) / 1000)],
      ['storage_engine', state.engine.kind],
    ],
    clients: [['connected_clients', state.sessions.size], ['maxclients', state.config.maxclients]],
    memory: [['used_memory', s.usedBytes], ['used_memory_rss', process.memoryUsage().rss], ['maxmemory', maxmemory], ['maxmemory_policy', policy]],
    stats: [
      ['total_connections_received', state.stats.connectionsTotal],
      ['total_commands_processed', state.stats.commandsTotal],
      ['rejected_connections', state.stats.rejectedConnections],
      ['atoll_peer_connections_refused', state.stats.peerRefused],
      ['expired_keys', s.expiredKeys],
      ['evicted_keys', s.evictedKeys],
      ['keyspace_hits', s.hits],
      ['keyspace_misses', s.misses],
    ],
    replication: state.cluster?.replicationSection?.() ?? [['role', 'master'], ['connected_slaves', 0]],
    cluster: state.cluster?.infoSection() ?? [['cluster_enabled', 0]],
    keyspace: s.keys > 0 ? [['db0', `keys=${s.keys},expires=${s.volatileKeys},avg_ttl=0`]] : [],
  };
  return sections;
}

function infoText(state: ServerState, section: string | undefined): string {
  const sections = infoSections(state);
  const wanted = section === undefined || section === 'default' || section === 'all' || section === 'everything' ? Object.keys(sections) : [section];
  return wanted
    .filter((name) => sections[name] !== undefined)
    .map((name) => `# ${name[0]!.toUpperCase()}${name.slice(1)}\r\n${sections[name]!.map(([key, v]) => `${key}:${v}\r\n`).join('')}`)
    .join('\r\n');
}

const info: ServerHandler = (state, _session, args, w) => w.verbatim(infoText(state, args[1] === undefined ? undefined : lower(args[1])));

/** COMMAND, COMMAND COUNT, COMMAND INFO name..., COMMAND DOCS [name...]: enough for redis-cli and clients. */
const command: ServerHandler = (_state, _session, args, w) => {
  const sub = args.length > 1 ? lower(args[1]!) : undefined;
  const names = Object.keys(COMMANDS);
  const infoOf = (name: string): void => {
    const c = COMMANDS[name];
    if (c === undefined) return w.nilArray();
    w.arrayHeader(6);
    w.bulk(name);
    w.integer(c.arity);
    w.setHeader(c.flags.length);
    for (const f of c.flags) w.simple(f);
    w.integer(c.firstKey);
    w.integer(c.lastKey);
    w.integer(c.firstKey === 0 ? 0 : 1);
  };
  if (sub === undefined) {
    w.arrayHeader(names.length);
    names.forEach(infoOf);
  } else if (sub === 'count') w.integer(names.length);
  else if (sub === 'info') {
    const asked = args.length > 2 ? args.slice(2).map(lower) : names;
    w.arrayHeader(asked.length);
    asked.forEach(infoOf);
  } else if (sub === 'docs') {
    const asked = (args.length > 2 ? args.slice(2).map(lower) : names).filter((n) => COMMANDS[n] !== undefined);
    w.mapHeader(asked.length);
    for (const n of asked) {
      w.bulk(n);
      w.mapHeader(1);
      w.bulk('summary');
      w.bulk(`${n.toUpperCase()} (Atoll)`);
    }
  } else throw new ReplyError(`ERR unknown subcommand '${args[1]!.toString()}'. Try COMMAND HELP.`);
};

type SpecOf = Omit<CommandSpec, 'name' | 'index' | 'write' | 'noauth'>;

function spec(arity: number, flags: readonly string[], run: ServerHandler, firstKey = 0, lastKey = 0, keyStep = 1, data = false, keyIndexesOf?: (args: Buffer[]) => number[]): SpecOf {
  return { arity, flags, run, firstKey, lastKey, keyStep, data, ...(keyIndexesOf === undefined ? {} : { keyIndexesOf }) };
}

/** Indexes from `from` to `to` inclusive. */
const span = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** `numkeys` keys after the count at `at` (its parser validates the count); a bad count names only the first key. */
function countedKeys(at: number, parse: (args: Buffer[]) => number): (args: Buffer[]) => number[] {
  return (args) => {
    try {
      return span(at + 1, at + parse(args));
    } catch {
      return [at + 1];
    }
  };
}

const zcounted = (args: Buffer[], at: number): number => {
  const n = parseInt64(args[at]!);
  if (n === undefined || n < 1n || n > BigInt(args.length - at - 1)) throw new ReplyError(ERR.syntax);
  return Number(n);
};

/**
 * Commands whose key count is an argument: their keys' indexes. A bad count names only the first key here;
 * the command itself then answers with Redis's error.
 */
const KEY_INDEXES_OF: Record<string, (args: Buffer[]) => number[]> = {
  sintercard: countedKeys(1, (args) => sintercardKeys(args).length),
  lmpop: countedKeys(1, (args) => lmpopKeys(args).length),
  zmpop: countedKeys(1, (args) => lmpopKeys(args).length),
  zunion: countedKeys(1, (args) => zcounted(args, 1)),
  zinter: countedKeys(1, (args) => zcounted(args, 1)),
  zdiff: countedKeys(1, (args) => zcounted(args, 1)),
  zintercard: countedKeys(1, (args) => zcounted(args, 1)),
  zunionstore: (args) => [1, ...countedKeys(2, (a) => zcounted(a, 2))(args)],
  zinterstore: (args) => [1, ...countedKeys(2, (a) => zcounted(a, 2))(args)],
  zdiffstore: (args) => [1, ...countedKeys(2, (a) => zcounted(a, 2))(args)],
  blmpop: blockingMpopKeyIndexes,
  bzmpop: blockingMpopKeyIndexes,
  xread: xreadKeyIndexes,
  georadius: georadiusKeyIndexes,
  georadiusbymember: georadiusKeyIndexes,
  // SORT key ... [STORE destination]: the destination is a key too.
  sort: (args) => {
    const at = args.findIndex((a, i) => i > 1 && isWord(a, 'STORE') && i + 1 < args.length);
    return at < 0 ? [1] : [1, at + 1];
  },
  eval: countedKeys(2, evalKeyCount),
  evalsha: countedKeys(2, evalKeyCount),
  eval_ro: countedKeys(2, evalKeyCount),
  evalsha_ro: countedKeys(2, evalKeyCount),
  fcall: countedKeys(2, evalKeyCount),
  fcall_ro: countedKeys(2, evalKeyCount),
};

/** WAIT numreplicas timeout: how many followers hold this connection's last write (Redis semantics). */
const waitCmd: ServerHandler = (state, session, args, w) => {
  const count = Number(args[1]!.toString('latin1'));
  const timeoutMs = Number(args[2]!.toString('latin1'));
  if (!Number.isInteger(count) || count < 0) throw new ReplyError(ERR.notInteger);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw new ReplyError('ERR timeout is negative');
  const wait = state.cluster?.waitReplicas;
  if (wait === undefined) return w.integer(0);
  const ver = w.version;
  return wait.call(state.cluster, session, count, timeoutMs).then((n) => {
    const out = new RespWriter();
    out.version = ver;
    out.integer(n);
    return out.take();
  });
};

/** Commands whose keys alternate with values. */
const KEY_STEP: Record<string, number> = { mset: 2, msetnx: 2 };

/** Most entries CLUSTER HOTKEYS returns. */
const HOTKEYS_COUNT_MAX = 64;

/** CLUSTER HOTKEYS [COUNT n]: this node's hottest keys (sampled, sliding window); works standalone too. */
function hotKeysCmd(state: ServerState, args: Buffer[], w: RespWriter): void {
  let count = 10;
  if (args.length === 4 && args[2]!.toString('latin1').toLowerCase() === 'count') {
    const n = Number(args[3]!.toString('latin1'));
    if (!Number.isInteger(n) || n < 1 || n > HOTKEYS_COUNT_MAX) throw new ReplyError(`ERR COUNT must be between 1 and ${HOTKEYS_COUNT_MAX}`);
    count = n;
  } else if (args.length !== 2) throw new ReplyError('ERR syntax error, try CLUSTER HOTKEYS [COUNT n]');
  if (state.monitor === undefined) throw new ReplyError('ERR hot-key tracking is off (it runs with the admin API)');
  const top = state.monitor.hotKeys(count);
  w.arrayHeader(top.length);
  for (const k of top) {
    w.arrayHeader(3);
    w.bulkLatin1(k.key);
    w.integer(k.count);
    w.bulk(k.share.toFixed(4));
  }
}

/** DEBUG SLEEP <seconds> blocks the whole server as Redis's does: a stalled event loop, for fault tests. */
export const DEBUG_SLEEP_MAX_SECONDS = 60;
const debugCmd: ServerHandler = (state, session, args, w) => {
  const allowed = state.config.enableDebugCommand;
  const local = /^(127\.|::1|::ffff:127\.)/.test(session.addr);
  if (allowed === 'no' || (allowed === 'local' && !local)) {
    throw new ReplyError('ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.');
  }
  const sub = lower(args[1]!);
  if (sub !== 'sleep' || args.length !== 3) throw new ReplyError(`ERR unknown subcommand or wrong number of arguments for '${args[1]!.toString('latin1')}'. Try DEBUG HELP.`);
  const seconds = Number(args[2]!.toString('latin1'));
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > DEBUG_SLEEP_MAX_SECONDS) throw new ReplyError(`ERR DEBUG SLEEP takes 0-${DEBUG_SLEEP_MAX_SECONDS} seconds`);
  // Blocks this thread on purpose (what the command is for); Atomics.wait is the one blocking sleep JS has.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000);
  w.ok();
};

const clusterCmd: ServerHandler = (state, session, args, w) => {
  if (args[1]!.toString('latin1').toLowerCase() === 'hotkeys') return hotKeysCmd(state, args, w);
  if (state.cluster === undefined) throw new ReplyError('ERR This instance has cluster support disabled');
  return state.cluster.clusterCommand(state, session, args, w);
};

/** READONLY / READWRITE / ASKING: per-connection cluster flags. */
const sessionFlag =
  (flag: 'readonly' | 'readwrite' | 'asking'): ServerHandler =>
  (state, session, _args, w) => {
    if (state.cluster === undefined) throw new ReplyError('ERR This instance has cluster support disabled');
    if (flag === 'asking') session.asking = true;
    else session.readonly = flag === 'readonly';
    w.ok();
  };

const SPECS: Record<string, SpecOf> = {
  ping: spec(-1, ['fast'], ping),
  echo: spec(2, ['fast'], echo),
  hello: spec(-1, ['noauth', 'fast'], hello),
  auth: spec(-2, ['noauth', 'fast'], auth),
  select: spec(2, ['fast'], select),
  quit: spec(-1, ['noauth', 'fast'], quit),
  command: spec(-1, ['loading'], command),
  info: spec(-1, ['loading'], info),
  config: spec(-2, ['admin'], config),
  client: spec(-2, [], client),
  // Keyless but acting on this node's keys: routed (the router refuses them) like KEYS and SCAN.
  dbsize: spec(1, ['readonly', 'fast'], dbsize, 0, 0, 1, true),
  flushall: spec(-1, ['write'], flush, 0, 0, 1, true),
  flushdb: spec(-1, ['write'], flush, 0, 0, 1, true),
  time: spec(1, ['fast'], time),
  wait: spec(3, [], waitCmd),
  cluster: spec(-2, [], clusterCmd),
  debug: spec(-2, ['admin'], debugCmd),
  readonly: spec(1, ['fast'], sessionFlag('readonly')),
  readwrite: spec(1, ['fast'], sessionFlag('readwrite')),
  asking: spec(1, ['fast'], sessionFlag('asking')),
  ...Object.fromEntries(Object.entries(TX_COMMANDS).map(([name, [arity, flags, run]]) => [name, spec(arity, flags, run)])),
  ...Object.fromEntries(Object.entries(PUBSUB_COMMANDS).map(([name, [arity, flags, run]]) => [name, spec(arity, flags, run)])),
  ...Object.fromEntries(Object.entries(SCRIPT_COMMANDS).map(([name, [arity, flags, run]]) => [name, spec(arity, flags, run, 3, 3, 1, true, KEY_INDEXES_OF[name])])),
  script: spec(-2, ['noscript'], script),
  function: spec(-2, ['noscript'], functionCmd),
  acl: spec(-2, ['noscript'], aclCommand((b) => lookup(b))),
  xread: spec(-4, ['readonly'], xread, 1, 1, 1, true, KEY_INDEXES_OF.xread),
  xreadgroup: spec(-7, ['write'], xreadgroup, 1, 1, 1, true, xreadgroupKeyIndexes),
  ...Object.fromEntries(Object.entries(BLOCKING_COMMANDS).map(([name, [arity, flags, run, first, last]]) => [name, spec(arity, flags, run, first, last, 1, true, KEY_INDEXES_OF[name])])),
  // Routed by its channel like a key: it runs on the slot's leader, where SSUBSCRIBE subscribers are.
  spublish: spec(3, ['pubsub', 'fast'], spublish, 1, 1, 1, true),
  ...Object.fromEntries(
    Object.entries({ ...DATA_COMMANDS, ...SET_COMMANDS, ...LIST_COMMANDS, ...ZSET_COMMANDS, ...STREAM_COMMANDS, ...GROUP_COMMANDS, ...XINFO_COMMANDS, ...GEO_COMMANDS, ...BIT_COMMANDS, ...HLL_COMMANDS, ...OBJECT_COMMANDS, ...KEY_COMMANDS }).map(([name, [arity, flags, handler, first, last]]) => [name, spec(arity, flags, dataCommand(handler), first, last, KEY_STEP[name] ?? 1, true, KEY_INDEXES_OF[name])]),
  ),
};

/** Every command's name, in CommandSpec.index order. */
export const COMMAND_NAMES: readonly string[] = Object.keys(SPECS);

export const COMMANDS: Record<string, CommandSpec> = Object.fromEntries(
  COMMAND_NAMES.map((name, index) => {
    const c = SPECS[name]!;
    return [name, { ...c, name, index, write: c.flags.includes('write'), noauth: c.flags.includes('noauth'), blocking: c.flags.includes('blocking'), selfReplicating: c.flags.includes('self-replicating') }];
  }),
);

function unknownCommand(args: Buffer[]): string {
  const name = args[0]!.toString().slice(0, 128);
  const rest = args
    .slice(1)
    .map((a) => `'${a.toString().slice(0, 128)}' `)
    .join('');
  return `ERR unknown command '${name}', with args beginning with: ${rest}`;
}

/** The keys a command names (by its key positions). */
function keysOf(cmd: CommandSpec, args: Buffer[]): Buffer[] {
  return keyIndexes(cmd, args).map((i) => args[i]!);
}

/** A write on a leader: run it, then hold its reply until the resulting key states are replicated. */
function runReplicated(state: ServerState, session: Session, cmd: CommandSpec, args: Buffer[], w: RespWriter, hooks: Required<Pick<ClusterHooks, 'replicate'>>): ExecuteResult {
  // Collections changed by the command replicate as their changes (src/storage/journal.ts).
  const armed = journal.arm();
  try {
    return runAndStage(state, session, cmd, args, w, hooks);
  } finally {
    if (armed) journal.disarm();
  }
}

function runAndStage(state: ServerState, session: Session, cmd: CommandSpec, args: Buffer[], w: RespWriter, hooks: Required<Pick<ClusterHooks, 'replicate'>>): ExecuteResult {
  const mark = w.length;
  const observe = (state.stats.commandsTotal & (LATENCY_SAMPLE_EVERY - 1)) === 0 ? state.observe : undefined;
  const started = observe === undefined ? 0 : performance.now();
  if (state.monitor !== undefined && args.length > cmd.firstKey) state.monitor.recordKey(args[cmd.firstKey]!, session.slot);
  try {
    const r = runCommand(state, session, cmd, args, w);
    if (r instanceof RetryAfter) return r; // a blocked command: nothing written yet
  } catch (e) {
    if (e instanceof ReplyError) return w.error(e.reply);
    if (e instanceof OutOfMemoryError) return w.error(e.message);
    throw e;
  } finally {
    if (observe !== undefined) observe(session.lastCommand, (performance.now() - started) / 1000);
  }
  // An error reply changed nothing: no entry, no wait.
  if (w.length > mark && w.byteAt(mark) === 0x2d) return;
  const committed = hooks.replicate(keysOf(cmd, args));
  if (committed === undefined) return;
  const reply = w.cutFrom(mark);
  return committed.then((written) => {
    session.lastWrite = written;
    return reply;
  });
}


/**
 * Runs a command; when keyspace notifications are on and it writes, the keys it changed (as the engine reports
 * them) get their events afterwards, also when it fails half way.
 */
export function runCommand(state: ServerState, session: Session, cmd: CommandSpec, args: Buffer[], w: RespWriter): ExecuteResult {
  const notify = state.notify;
  if (notify === undefined || notify.flags === 0 || !cmd.write) return cmd.run(state, session, args, w);
  const changed = new Set<string>();
  state.changed = changed;
  try {
    return cmd.run(state, session, args, w);
  } finally {
    state.changed = undefined;
    if (changed.size > 0) notify.command(cmd.name, args, keysOf(cmd, args), changed, (key) => state.engine.expiresAt(key) !== undefined);
  }
}

/** Commands a script may not run (Redis's noscript flag). */
const NOSCRIPT = new Set(['multi', 'exec', 'discard', 'watch', 'unwatch', 'eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro', 'function', 'script', 'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'wait', 'debug', 'hello', 'auth', 'quit', 'cluster', 'readonly', 'readwrite', 'asking']);

/** One scratch writer for commands run by scripts (scripts never nest). */
const scriptWriter = new RespWriter(4096);

/**
 * Runs one command for a Lua script (redis.call): checks it as Redis does (known, arity, allowed from scripts,
 * no writes from a read-only script, in cluster mode only keys of the script's slot), runs it here, and returns
 * its RESP2 reply. Keys written go to `written` (the script's writes are replicated together).
 */
export function callFromScript(state: ServerState, session: Session, args: Buffer[], readOnly: boolean, slot: number | undefined, written: Buffer[]): Buffer {
  const w = scriptWriter;
  w.version = 2;
  const cmd = lookup(args[0]!);
  if (cmd === undefined) return Buffer.from('-ERR Unknown Redis command called from script\r\n');
  if ((cmd.arity > 0 && args.length !== cmd.arity) || args.length < -cmd.arity) return Buffer.from('-ERR Wrong number of args calling Redis command from script\r\n');
  if (NOSCRIPT.has(cmd.name) || cmd.blocking === true) return Buffer.from('-ERR This Redis command is not allowed from script\r\n');
  if (readOnly && cmd.write) return Buffer.from('-ERR Write commands are not allowed from read-only scripts.\r\n');
  const u = state.acl?.get(session.user ?? 'default');
  const d = u === undefined || unrestricted(u) ? undefined : denial(u, cmd, args);
  if (d !== undefined) {
    logDenial(state, session, d, 'lua');
    const what = d.reason === 'command' ? "run this command or subcommand" : d.reason === 'key' ? 'access at least one of the keys mentioned in the command arguments' : 'publish to the channel mentioned in the command';
    return Buffer.from(`-ERR The user executing the script can't ${what}\r\n`);
  }
  const keys = cmd.data && cmd.firstKey > 0 ? keysOf(cmd, args) : [];
  if (state.cluster !== undefined && keys.some((k) => keySlot(k) !== slot)) return Buffer.from('-ERR Script attempted to access a non local key in a cluster node\r\n');
  state.stats.callCounts[cmd.index]!++;
  try {
    runCommand(state, session, cmd, args, w);
  } catch (e) {
    if (e instanceof ReplyError) w.error(e.reply);
    else if (e instanceof OutOfMemoryError) w.error(e.message);
    else throw e;
  }
  const reply = w.take();
  if (cmd.write && reply[0] !== 0x2d) written.push(...keys);
  return reply;
}

/** Lookup by the name as sent: exact, upper and lower case are found without lower-casing a copy. */
const COMMAND_LOOKUP = new Map<string, CommandSpec>(
  Object.entries(COMMANDS).flatMap(([name, c]) => [
    [name, c],
    [name.toUpperCase(), c],
  ]),
);
const GET = COMMANDS.get!;
const SET = COMMANDS.set!;

/** The command named by `b`, any case. GET and SET (most traffic) are matched on their bytes, without a string. */
function lookup(b: Buffer): CommandSpec | undefined {
  if (b.length === 3 && (b[1]! | 0x20) === 0x65 && (b[2]! | 0x20) === 0x74) {
    const c = b[0]! | 0x20;
    if (c === 0x67) return GET;
    if (c === 0x73) return SET;
  }
  const sent = b.toString('latin1');
  return COMMAND_LOOKUP.get(sent) ?? COMMAND_LOOKUP.get(sent.toLowerCase());
}

/** Runs one command; replies go to `w`. Returns 'close' when the connection must close after the reply. */

export function execute(state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult {
  const cmd = lookup(args[0]!);
  state.stats.commandsTotal++;
  if (cmd === undefined) {
    if (session.tx !== undefined) session.tx.aborted = true;
    return w.error(unknownCommand(args));
  }
  const name = cmd.name;
  if ((cmd.arity > 0 && args.length !== cmd.arity) || args.length < -cmd.arity) {
    if (session.tx !== undefined) session.tx.aborted = true;
    return w.error(wrongArity(name));
  }
  if (!session.authenticated && !cmd.noauth) return w.error(ERR.noAuth);
  if (session.fromPeer !== true && !cmd.noauth && !aclCheck(state, session, cmd, args, w)) return;
  if (session.sub !== undefined && session.resp === 2 && !SUBSCRIBED_CONTEXT.has(name) && subscribed(session)) return w.error(subscribedContextError(name));
  if (session.tx !== undefined && !TX_IMMEDIATE.has(name)) return queueCommand(state, session, cmd, args, w);
  session.lastCommand = name;
  state.stats.callCounts[cmd.index]!++;
  const cluster = state.cluster;
  if (cluster !== undefined && cmd.data) {
    // ASKING covers only the next command. No slot is ever importing (moves are stop-and-copy), so it changes nothing yet.
    session.asking = false;
    const routed = cluster.route(session, cmd, args);
    if (routed !== undefined) {
      if (routed instanceof Promise || routed instanceof RetryAfter) return routed;
      return w.error(routed.error);
    }
    if (cmd.write && cmd.firstKey > 0 && cluster.replicating === true && !cmd.selfReplicating) return runReplicated(state, session, cmd, args, w, cluster as Required<Pick<ClusterHooks, 'replicate'>>);
  }
  if (cmd.firstKey > 0 && state.monitor !== undefined && args.length > cmd.firstKey) state.monitor.recordKey(args[cmd.firstKey]!, cluster !== undefined ? session.slot : undefined);
  // Time one command in LATENCY_SAMPLE_EVERY: the histogram stays representative at a fraction of the cost.
  const observe = (state.stats.commandsTotal & (LATENCY_SAMPLE_EVERY - 1)) === 0 ? state.observe : undefined;
  const started = observe === undefined ? 0 : performance.now();
  try {
    return runCommand(state, session, cmd, args, w);
  } catch (e) {
    if (e instanceof ReplyError) return w.error(e.reply);
    if (e instanceof OutOfMemoryError) return w.error(e.message);
    throw e;
  } finally {
    if (observe !== undefined) observe(name, (performance.now() - started) / 1000);
  }
}
