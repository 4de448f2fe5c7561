// The RESP TCP server of one node: connections, pipelining (one write per batch of replies), client limits,
// idle timeout, active expiry, and graceful shutdown. Command semantics live in dispatch.ts.
import net from 'node:net';
import { once } from 'node:events';
import type { Clock, StorageEngine } from '../storage/engine.js';
import { execute, type LiveConfig, type ServerState, type Session } from './dispatch.js';
import { ProtocolError, RESP_LIMITS, RespParser } from './resp-parser.js';
import { RespWriter } from './resp-writer.js';

export interface NodeServerOptions {
  readonly engine: StorageEngine;
  readonly clock: Clock;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly config?: Partial<LiveConfig>;
  /** Active expiry period; each tick does one bounded round. Default 100 ms (Redis hz 10). */
  readonly activeExpireEveryMs?: number;
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
  }),
});

export interface NodeServer {
  readonly port: number;
  readonly state: ServerState;
  close(): Promise<void>;
}

export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  const config: LiveConfig = { ...SERVER_DEFAULTS.config, ...options.config };
  const sockets = new Set<net.Socket>();
  let nextId = 1;
  const server = net.createServer({ noDelay: true });
  const engineBatch = options.engine.batch?.bind(options.engine);
  const group = engineBatch === undefined ? undefined : new GroupCommit((run) => engineBatch(run));
  const state: ServerState = {
    engine: options.engine,
    clock: options.clock,
    config,
    sessions: new Map(),
    startedMs: options.clock.nowMs(),
    port: 0,
    stats: { connectionsTotal: 0, commandsTotal: 0, rejectedConnections: 0, calls: new Map() },
  };

  server.on('connection', (socket) => {
    state.stats.connectionsTotal++;
    if (state.sessions.size >= config.maxclients) {
      state.stats.rejectedConnections++;
      socket.end('-ERR max number of clients reached\r\n');
      return;
    }
    sockets.add(socket);
    serveConnection(state, socket, nextId++, () => sockets.delete(socket), group);
  });

  server.listen(options.port ?? SERVER_DEFAULTS.port, options.host ?? SERVER_DEFAULTS.host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  (state as { port: number }).port = port;
  const expiry = setInterval(() => options.engine.activeExpire(), options.activeExpireEveryMs ?? SERVER_DEFAULTS.activeExpireEveryMs);
  expiry.unref();

  return {
    port,
    state,
    async close() {
      clearInterval(expiry);
      group?.flush();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Commands run to completion synchronously, so every reply is already queued: end() flushes it.
      for (const s of sockets) s.end();
      const deadline = setTimeout(() => sockets.forEach((s) => s.destroy()), 2000);
      await closed;
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
    for (const b of list) b.finish(failure);
  }
}

/** Most client batches in one group commit; more start the commit at once. */
export const GROUP_COMMIT_BATCHES_MAX = 1024;

function serveConnection(state: ServerState, socket: net.Socket, id: number, onGone: () => void, group: GroupCommit | undefined): void {
  const session: Session = {
    id,
    addr: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
    createdMs: state.clock.nowMs(),
    name: '',
    resp: 2,
    authenticated: state.config.requirepass === '',
    lastCommand: 'NULL',
  };
  state.sessions.set(id, session);
  const parser = new RespParser({ bulkBytesMax: state.config.bulkBytesMax, queryBufferBytesMax: state.config.queryBufferBytesMax });
  const writer = new RespWriter();
  let closing = false;
  if (state.config.timeoutSeconds > 0) socket.setTimeout(state.config.timeoutSeconds * 1000, () => socket.destroy());

  socket.on('data', (chunk: Buffer) => {
    if (closing) return;
    let commands: Buffer[][];
    try {
      commands = parser.feed(chunk);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      writer.error(`ERR ${e.reply}`);
      closing = true;
      socket.end(writer.take());
      return;
    }
    if (commands.length === 0) return;
    const runAll = (): void => {
      for (const args of commands) {
        writer.version = session.resp;
        if (execute(state, session, args, writer) === 'close') {
          closing = true;
          break;
        }
      }
    };
    const finish = (failure?: Error): void => {
      if (failure !== undefined) {
        // The transaction was rolled back: none of this batch's writes happened, so every command fails.
        writer.take();
        for (let i = 0; i < commands.length; i++) writer.error(`ERR storage failure, nothing written: ${failure.message}`);
      }
      if (socket.destroyed) return;
      if (writer.length > 0) {
        const ok = socket.write(writer.take());
        if (!ok && socket.writableLength > state.config.outputBufferBytesMax) socket.destroy();
      }
      if (closing) socket.end();
    };
    if (group !== undefined) group.submit({ run: runAll, finish });
    else {
      runAll();
      finish();
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    state.sessions.delete(id);
    onGone();
  });
}
