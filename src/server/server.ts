// The RESP TCP server of one node: connections, pipelining (one write per batch of replies), client limits,
// idle timeout, active expiry, and graceful shutdown. Command semantics live in dispatch.ts.
import net from 'node:net';
import { once } from 'node:events';
import type { Clock, StorageEngine } from '../storage/engine.js';
import { COMMAND_NAMES, dataContextFor, execute, newServerStats, RetryAfter, type ClusterHooks, type LiveConfig, type ServerState, type Session } from './dispatch.js';
import { PEER_MAGIC } from '../transport/frames.js';
import { acceptPeer } from '../transport/peer.js';
import type { PeerTls } from '../transport/peer-tls.js';
import type { Logger } from 'pino';
import { LimitedLog } from '../monitoring/log-limit.js';
import { ProtocolError, RESP_LIMITS, RespParser } from './resp-parser.js';
import { RespWriter } from './resp-writer.js';
import { WatchRegistry } from './transactions.js';
import { PUBSUB_LIMITS, PubSubHub } from './pubsub.js';
import { BlockingRegistry } from './blocking.js';
import { AclStore } from './acl.js';
import { KeyspaceNotifier } from './notify.js';
import { AclLog } from './commands-acl.js';
import { checkTls, listenTls, type TlsSettings } from './tls.js';

export interface NodeServerOptions {
  readonly engine: StorageEngine;
  readonly clock: Clock;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly config?: Partial<LiveConfig>;
  /** Active expiry period; each tick does one bounded round. Default 100 ms (Redis hz 10). */
  readonly activeExpireEveryMs?: number;
  /** Cluster mode: routing of keyed commands and the CLUSTER command. */
  readonly cluster?: ClusterHooks;
  /** Serves node-to-node requests arriving on the client port (connections opening with PEER_MAGIC). */
  readonly onPeerRequest?: (body: unknown) => unknown;
  /** The cluster's peer key: peers must prove they hold it before any frame (src/transport/handshake.ts). */
  readonly peerKey?: Buffer;
  /** With tls-cluster: peers must open TLS with a certificate the cluster CA signed (src/transport/peer-tls.ts). */
  readonly peerTls?: PeerTls | undefined;
  /** Where refused peer connections are reported (rate-limited). */
  readonly log?: Logger;
  /** A TLS port for clients, beside the plain one. */
  readonly tls?: TlsSettings | undefined;
}

/** Replies to a batch of commands, in order: their RESP bytes back to back, and the length of each. */
export interface ReplyBlock {
  readonly data: Buffer;
  readonly lengths: readonly number[];
}

const EMPTY: Buffer = Buffer.alloc(0);

/** The replies of a block one by one (views into its data). */
export function blockReplies(block: ReplyBlock): Buffer[] {
  const out = new Array<Buffer>(block.lengths.length);
  let at = 0;
  for (let i = 0; i < out.length; i++) {
    const n = block.lengths[i]!;
    out[i] = block.data.subarray(at, at + n);
    at += n;
  }
  return out;
}

/** A block whose placeholders (-1) are filled from the replies that were still being committed. */
async function settleBlock(block: ReplyBlock, waits: Map<number, Promise<Buffer>>): Promise<ReplyBlock> {
  const late = new Map<number, Buffer>();
  await Promise.all([...waits].map(([i, p]) => p.then((b) => void late.set(i, b))));
  const pieces: Buffer[] = [];
  const lengths: number[] = [];
  let at = 0;
  block.lengths.forEach((n, i) => {
    const b = n >= 0 ? block.data.subarray(at, at + n) : late.get(i)!;
    if (n >= 0) at += n;
    pieces.push(b);
    lengths.push(b.length);
  });
  return { data: Buffer.concat(pieces), lengths };
}

function joinBlocks(a: ReplyBlock, b: ReplyBlock): ReplyBlock {
  return { data: Buffer.concat([a.data, b.data]), lengths: [...a.lengths, ...b.lengths] };
}

export const SERVER_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 7000,
  activeExpireEveryMs: 100,
  config: Object.freeze<LiveConfig>({
    requirepass: '',
    timeoutSeconds: 0,
    maxclients: 10_000,
    bulkBytesMax: RESP_LIMITS.bulkBytesMax,
    queryBufferBytesMax: RESP_LIMITS.queryBufferBytesMax,
    /** client-output-buffer-limit for normal clients is unlimited in Redis; we bound it at 256 MB. */
    outputBufferBytesMax: 256 * 1024 * 1024,
    enableDebugCommand: 'no',
  }),
});

export interface NodeServer {
  readonly port: number;
  readonly state: ServerState;
  /**
   * Runs commands a peer forwarded, as the owner, in one (group-committed) batch; resolves with the replies
   * encoded in RESP `version`. The session is marked as coming from a peer so it is never forwarded again.
   */
  runForPeer(commands: Buffer[][], version: 2 | 3, own?: boolean): Promise<ReplyBlock>;
  /** The TLS client port, when TLS is on. */
  readonly tlsPort?: number | undefined;
  /** Re-reads the TLS certificate files for new connections (SIGHUP); throws, keeping the old, when they are bad. */
  reloadTls(): void;
  close(): Promise<void>;
}

export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  if (options.tls !== undefined) checkTls(options.tls);
  const config: LiveConfig = { ...SERVER_DEFAULTS.config, ...options.config };
  const sockets = new Set<net.Socket>();
  let nextId = 1;
  const server = net.createServer({ noDelay: true });
  const engineBatch = options.engine.batch?.bind(options.engine);
  const group = engineBatch === undefined ? undefined : new GroupCommit((run) => engineBatch(run), GROUP_COMMIT_BATCHES_MAX, (ok, failure) => options.cluster?.afterCommit?.(ok, failure));
  const state: ServerState = {
    engine: options.engine,
    clock: options.clock,
    config,
    sessions: new Map(),
    startedMs: options.clock.nowMs(),
    port: 0,
    stats: newServerStats(),
    data: dataContextFor(options.engine, options.clock, config, options.cluster !== undefined),
    cluster: options.cluster,
    // Declared up front (the admin API sets them later) so the state keeps one shape on the hot path.
    observe: undefined,
    monitor: undefined,
    watches: new WatchRegistry(options.engine),
    pubsub: new PubSubHub(),
    blocking: new BlockingRegistry(),
    notify: undefined,
    changed: undefined,
    acl: new AclStore(COMMAND_NAMES),
    aclLog: new AclLog(),
  };
  state.acl!.setRequirepass(config.requirepass);
  state.notify = new KeyspaceNotifier(state.pubsub!);
  // Every change to a key, whatever made it, reaches WATCH and the clients blocked on the key.
  options.engine.onChange = (key) => {
    state.watches!.changed(key);
    state.blocking!.changed(key);
    if (key !== undefined) state.changed?.add(key);
  };
  options.engine.onRemoved = (key, why) => state.notify!.removed(key, why);

  const peerSession: Session = { id: 0, addr: 'peer', createdMs: state.startedMs, name: 'peer', resp: 2, authenticated: true, lastCommand: 'NULL', fromPeer: true };
  const peerWriter = new RespWriter();
  let nextPeerSessionId = -1;
  /** A session of its own for a forwarded MULTI ... EXEC block, so no other forwarded command joins it. */
  const ownSession = (): Session => ({ ...peerSession, id: nextPeerSessionId-- });
  const runForPeer = (commands: Buffer[][], version: 2 | 3, own = false, session: Session = own ? ownSession() : peerSession): Promise<ReplyBlock> =>
    new Promise((resolve, reject) => {
      // One writer serves every peer batch: run() is synchronous and never re-entered, and take() copies.
      const writer = peerWriter;
      writer.version = version;
      /** Each reply's length in `data` (-1: it comes from `waits`, a replicated write waiting for its commit). */
      const lengths: number[] = [];
      let waits: Map<number, Promise<Buffer>> | undefined;
      let data = EMPTY;
      /** A command that must wait (replication): it and the rest run again after the wait, in order. */
      let retry: { from: number; wait: Promise<void> } | undefined;
      const run = (): void => {
        // A batch that failed mid-way (its transaction threw) may have left replies behind: not ours.
        if (writer.length > 0) writer.take();
        for (let i = 0; i < commands.length; i++) {
          session.resp = version;
          const mark = writer.length;
          const r = execute(state, session, commands[i]!, writer);
          if (r instanceof RetryAfter) {
            writer.cutFrom(mark);
            retry = { from: i, wait: r.wait };
            break;
          }
          if (r instanceof Promise) {
            (waits ??= new Map()).set(i, r);
            lengths.push(-1);
          } else lengths.push(writer.length - mark);
        }
        data = writer.take();
      };
      const finish = (failure?: Error): void => {
        if (failure !== undefined) return reject(failure);
        const here: ReplyBlock = { data, lengths };
        const done = waits === undefined ? Promise.resolve(here) : settleBlock(here, waits);
        if (retry === undefined) return void done.then(resolve, reject);
        const { from, wait } = retry;
        Promise.all([done, wait.then(() => runForPeer(commands.slice(from), version, own, session))]).then(([a, b]) => resolve(joinBlocks(a, b)), reject);
      };
      if (group !== undefined) group.submit({ run, finish });
      else {
        run();
        finish();
      }
    });

  const peerLog = new LimitedLog(options.log, () => options.clock.nowMs());
  /** Connections that have not sent a byte yet (client or peer unknown): bounded like clients. */
  let silent = 0;
  server.on('connection', (socket) => {
    if (options.onPeerRequest !== undefined) {
      const onPeer = options.onPeerRequest;
      // Silent connections hold a socket each: past maxclients of them, new ones are refused as Redis words it.
      if (silent >= config.maxclients) {
        state.stats.rejectedConnections++;
        // Nothing reads this socket, so it would never see the client's FIN: destroyed once the text is out.
        socket.end('-ERR max number of clients reached\r\n', () => socket.destroy());
        return;
      }
      silent++;
      // Tracked from the start, so close() ends a connection that never spoke too.
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      let spoke = false;
      const heard = (): void => {
        if (!spoke) silent--;
        spoke = true;
      };
      socket.once('close', heard);
      socket.on('error', () => socket.destroy());
      // Peers open with a magic that no RESP client sends; sniff the first bytes, then hand the socket over.
      socket.once('data', (first: Buffer) => {
        heard();
        if (first[0] === PEER_MAGIC[0]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          acceptPeer(socket, first, { key: options.peerKey, tls: options.peerTls }, onPeer, (why) => {
            state.stats.peerRefused++;
            peerLog.warn('peer-refused', { from: socket.remoteAddress, why }, `node-to-node connection refused: ${why}`);
          });
          return;
        }
        acceptClient(socket);
        socket.emit('data', first);
      });
      return;
    }
    acceptClient(socket);
  });

  const acceptClient = (socket: net.Socket, tls = false): void => {
    state.stats.connectionsTotal++;
    if (state.sessions.size >= config.maxclients) {
      state.stats.rejectedConnections++;
      socket.end('-ERR max number of clients reached\r\n');
      return;
    }
    sockets.add(socket);
    serveConnection(state, socket, nextId++, () => sockets.delete(socket), group, tls);
  };

  server.listen(options.port ?? SERVER_DEFAULTS.port, options.host ?? SERVER_DEFAULTS.host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  (state as { port: number }).port = port;
  const secure = options.tls === undefined ? undefined : await listenTls(options.host ?? SERVER_DEFAULTS.host, options.tls, (s) => acceptClient(s, true));
  const expiry = setInterval(() => options.engine.activeExpire(), options.activeExpireEveryMs ?? SERVER_DEFAULTS.activeExpireEveryMs);
  expiry.unref();

  return {
    port,
    state,
    runForPeer,
    tlsPort: secure?.port,
    reloadTls: () => secure?.reload(),
    async close() {
      clearInterval(expiry);
      const tlsClosed = secure?.close();
      group?.flush();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Commands run to completion synchronously, so every reply is already queued: end() flushes it.
      for (const s of sockets) s.end();
      const deadline = setTimeout(() => sockets.forEach((s) => s.destroy()), 2000);
      await closed;
      await tlsClosed;
      clearTimeout(deadline);
      await options.engine.close?.();
    },
  };
}

/** One client batch waiting for the group commit: run its commands, then send (or fail) its replies. */
interface PendingBatch {
  run(): void;
  finish(failure?: Error): void;
}

/**
 * Group commit for durable engines: batches from every client that arrive in one event-loop turn run in one
 * transaction, and their replies go out after it commits. One commit (and one fsync under every-write) then
 * serves many clients, instead of one per client.
 */
export class GroupCommit {
  private pending: PendingBatch[] = [];
  private scheduled = false;

  constructor(
    private readonly batch: (run: () => void) => void,
    private readonly batchesMax = GROUP_COMMIT_BATCHES_MAX,
    /** Told once the transaction committed or rolled back (replication appends its staged entries then). */
    private readonly afterCommit?: (ok: boolean, failure?: Error) => void,
  ) {}

  submit(b: PendingBatch): void {
    this.pending.push(b);
    if (this.pending.length >= this.batchesMax) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    const list = this.pending;
    if (list.length === 0) return;
    this.pending = [];
    let failure: Error | undefined;
    try {
      this.batch(() => {
        for (const b of list) b.run();
      });
    } catch (e) {
      failure = e instanceof Error ? e : new Error(String(e));
    }
    this.afterCommit?.(failure === undefined, failure);
    for (const b of list) b.finish(failure);
  }
}

/** Most client batches in one group commit; more start the commit at once. */
export const GROUP_COMMIT_BATCHES_MAX = 1024;

function serveConnection(state: ServerState, socket: net.Socket, id: number, onGone: () => void, group: GroupCommit | undefined, tls: boolean): void {
  const session: Session = {
    id,
    tls,
    addr: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
    createdMs: state.clock.nowMs(),
    name: '',
    resp: 2,
    // Connections start as the default user, authenticated only if it needs no password (as Redis).
    authenticated: state.acl?.get('default')?.enabled === true && state.acl.get('default')?.nopass === true,
    lastCommand: 'NULL',
  };
  state.sessions.set(id, session);
  const parser = new RespParser({ bulkBytesMax: state.config.bulkBytesMax, queryBufferBytesMax: state.config.queryBufferBytesMax }, () => !session.authenticated);
  const writer = new RespWriter();
  let closing = false;
  if (state.config.timeoutSeconds > 0) socket.setTimeout(state.config.timeoutSeconds * 1000, () => socket.destroy());

  /** Commands parsed but not yet run; a command answered by another node holds back those after it. */
  let queued: Buffer[][] = [];
  let running = false;

  // The batch being run. One batch per connection runs at a time (`running`), so its state lives here and
  // the common case (every reply local) allocates no closures or arrays per batch.
  let commands: Buffer[][] = [];
  let next = 0;
  /**
   * Replies in command order when some come from another node: encoded bytes, or promises of bytes. Commands
   * after a forwarded one keep running (a later command for the same key goes to the same owner over the same
   * ordered peer connection), so a pipeline through a router or forwarding node is not serialised.
   */
  let parts: (Buffer | Promise<Buffer>)[] | undefined;
  /** Set when a command must wait (replication): it and everything after it run again once this settles. */
  let retryAfter: Promise<void> | undefined;
  /** Local replies in each Buffer part (by index), and since the last part: to fail them on rollback. */
  let localCounts: number[] = [];
  let localSince = 0;

  const runAll = (): void => {
    while (next < commands.length) {
      writer.version = session.resp;
      const result = execute(state, session, commands[next++]!, writer);
      if (result === undefined) {
        localSince++;
        continue;
      }
      if (result === 'close') {
        closing = true;
        break;
      }
      if (result instanceof RetryAfter) {
        next--;
        retryAfter = result.wait;
        break;
      }
      parts ??= [];
      if (writer.length > 0) {
        localCounts[parts.length] = localSince;
        parts.push(writer.take());
      }
      localSince = 0;
      parts.push(result.catch((e: unknown) => Buffer.from(`-${remoteFailure(e)}\r\n`)));
    }
  };
  const send = (bytes: Buffer): void => {
    if (socket.destroyed) return;
    const ok = socket.write(bytes);
    if (!ok && socket.writableLength > state.config.outputBufferBytesMax) socket.destroy();
  };
  /** Pub/sub messages that arrived while a batch's replies were being made: sent right after them. */
  let pushes: Buffer[] = [];
  /** Since when this subscriber's unsent output has been above the soft limit (0: it is not). */
  let softSinceMs = 0;
  session.push = (bytes: Buffer): void => {
    if (socket.destroyed) return;
    if (running) pushes.push(bytes);
    else send(bytes);
    const backlog = socket.writableLength;
    if (backlog <= PUBSUB_LIMITS.outputSoftBytes) softSinceMs = 0;
    else if (softSinceMs === 0) softSinceMs = state.clock.nowMs();
    // Redis's client-output-buffer-limit pubsub: a subscriber that cannot keep up is dropped, not buffered forever.
    if (backlog > PUBSUB_LIMITS.outputHardBytes || (softSinceMs > 0 && state.clock.nowMs() - softSinceMs > PUBSUB_LIMITS.outputSoftMs)) socket.destroy();
  };
  const flushPushes = (): void => {
    if (pushes.length === 0) return;
    const list = pushes;
    pushes = [];
    send(list.length === 1 ? list[0]! : Buffer.concat(list));
  };
  const done = (): void => {
    if (socket.destroyed) return;
    if (closing) {
      socket.end();
      return;
    }
    if (retryAfter !== undefined) {
      const rest = commands.slice(next);
      const wait = retryAfter;
      retryAfter = undefined;
      flushPushes();
      void wait.then(() => {
        queued = queued.length === 0 ? rest : rest.concat(queued);
        running = false;
        pump();
      });
      return;
    }
    running = false;
    flushPushes();
    // Bytes held behind an AUTH (see RespParser) are parsed now that it has run.
    if (parser.heldAtAuth) onData(Buffer.alloc(0));
    else pump();
  };
  const finish = (failure?: Error): void => {
    if (failure !== undefined) {
      // The transaction was rolled back: none of this batch's local writes happened, so they fail.
      // (Forwarded commands ran on their owners; their replies are still relayed.)
      const text = `-ERR storage failure, nothing written: ${failure.message}\r\n`.replace(/[\r\n]+(?=.)/g, ' ');
      writer.take();
      if (parts !== undefined) for (let i = 0; i < parts.length; i++) if (Buffer.isBuffer(parts[i])) parts[i] = Buffer.from(text.repeat(localCounts[i] ?? 0));
      for (let i = 0; i < localSince; i++) writer.raw(Buffer.from(text));
    }
    const all = parts;
    if (all === undefined) {
      // Every reply was made here: one write.
      if (writer.length > 0) send(writer.take());
      return done();
    }
    parts = undefined;
    localCounts = [];
    if (writer.length > 0) all.push(writer.take());
    // Replies from other nodes: wait for all of the batch's (in order; they never reject), then one write.
    // Joined into one buffer: a corked write per reply cost the stream machinery more than the copy.
    void Promise.all(all).then((bufs) => {
      send(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
      done();
    });
  };
  const pending: PendingBatch = { run: runAll, finish };

  const pump = (): void => {
    // A connection that closed while blocked runs nothing more: its BLPOP must not pop for nobody.
    if (running || closing || queued.length === 0 || socket.destroyed) return;
    running = true;
    commands = queued;
    queued = [];
    next = 0;
    localSince = 0;
    if (group !== undefined) group.submit(pending);
    else {
      runAll();
      finish();
    }
  };

  const onData = (chunk: Buffer): void => {
    if (closing) return;
    let commands: Buffer[][];
    try {
      commands = parser.feed(chunk);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      writer.error(`ERR ${e.reply}`);
      closing = true;
      if (!running) socket.end(writer.take());
      return;
    }
    if (commands.length === 0) return;
    if (queued.length === 0) queued = commands;
    else for (const c of commands) queued.push(c);
    pump();
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    state.sessions.delete(id);
    state.watches?.unwatchAll(session);
    if (session.sub !== undefined) state.pubsub?.forget(session.sub);
    onGone();
  });
}

/** The error text sent when a command another node should answer could not be forwarded. */
function remoteFailure(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.startsWith('MOVED ') || text.startsWith('CLUSTERDOWN ') || text.startsWith('TRYAGAIN ') ? text : `ERR ${text}`.replace(/[\r\n]+/g, ' ');
}
