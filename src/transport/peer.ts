// Node-to-node connections: a multiplexed request/reply client with bounded in-flight requests, timeouts,
// and reconnect with exponential backoff; and the serving side, attached to sockets that open with the magic.
import net from 'node:net';
import { AtollError, ERROR_CODES, type ErrorCode } from '../errors.js';
import { FRAME_KIND, FrameDecoder, PEER_MAGIC, TRANSPORT_LIMITS, encodeFrame, type Frame } from './frames.js';
import { ClientHandshake, PEER_AUTH, PEER_MAGIC_AUTH, ServerHandshake } from './handshake.js';
import { PEER_MAGIC_TLS, PEER_TLS_GO, acceptPeerTls, startPeerTlsClient, type PeerTls } from './peer-tls.js';

interface Waiting {
  resolve(body: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export interface PeerClientOptions {
  readonly requestTimeoutMs?: number;
  readonly inflightMax?: number;
  /** The cluster's peer key (src/transport/handshake.ts): the connection proves it holds it before any frame. */
  readonly key?: Buffer;
  /** Mutual TLS with the cluster CA (src/transport/peer-tls.ts): everything after the magic is encrypted. */
  readonly tls?: PeerTls | undefined;
}

/** One logical connection to a peer node, re-established on demand after failures. */
export class PeerClient {
  private socket: net.Socket | undefined;
  private connected = false;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  /** Frames written while connecting; flushed on connect. Bounded by inflightMax through `waiting`. */
  private queued: Buffer[] = [];
  private corked = false;
  private failures = 0;
  private retryAtMs = 0;
  private closed = false;
  private readonly requestTimeoutMs: number;
  private readonly inflightMax: number;
  private readonly key: Buffer | undefined;
  private readonly peerTls: PeerTls | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    options: PeerClientOptions = {},
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? TRANSPORT_LIMITS.requestTimeoutMs;
    this.inflightMax = options.inflightMax ?? TRANSPORT_LIMITS.inflightMax;
    this.key = options.key;
    this.peerTls = options.tls;
  }

  get inflight(): number {
    return this.waiting.size;
  }

  request(body: unknown, timeoutMs = this.requestTimeoutMs): Promise<unknown> {
    if (this.closed) return Promise.reject(new AtollError('PEER_UNAVAILABLE', `connection to ${this.host}:${this.port} is closed`));
    if (this.waiting.size >= this.inflightMax) return Promise.reject(new AtollError('QUEUE_FULL', `${this.inflightMax} requests already in flight to ${this.host}:${this.port}`));
    if (!this.connected && Date.now() < this.retryAtMs) {
      return Promise.reject(new AtollError('PEER_UNAVAILABLE', `peer ${this.host}:${this.port} is unreachable (retrying in ${this.retryAtMs - Date.now()} ms)`));
    }
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    const frame = encodeFrame({ kind: FRAME_KIND.request, id, body });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new AtollError('PEER_TIMEOUT', `peer ${this.host}:${this.port} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.send(frame);
    });
  }

  private send(frame: Buffer): void {
    if (!this.connected) {
      this.queued.push(frame);
      this.connect();
      return;
    }
    // Coalesce the frames of one event-loop iteration (every client batch read in it) into one write: the
    // flush runs in the check phase, after all of the iteration's I/O callbacks.
    if (!this.corked) {
      this.corked = true;
      const socket = this.socket!;
      socket.cork();
      setImmediate(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    this.socket!.write(frame);
  }

  private connect(): void {
    if (this.socket !== undefined || this.closed) return;
    const raw = net.connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = raw;
    let stage = 'connecting';
    raw.on('error', () => undefined);
    raw.on('close', () => this.onClose(stage));
    if (this.peerTls === undefined) return void raw.on('connect', () => this.begin(raw, (s) => (stage = s)));
    const peerTls = this.peerTls;
    raw.on('connect', () => {
      stage = 'tls';
      raw.write(PEER_MAGIC_TLS);
      raw.setTimeout(PEER_AUTH.handshakeTimeoutMs, () => raw.destroy());
    });
    // The server answers the TLS magic with one byte, then both ends run the TLS handshake.
    raw.once('data', (go: Buffer) => {
      raw.setTimeout(0);
      if (go.length !== 1 || go[0] !== PEER_TLS_GO) return void raw.destroy();
      const secure = startPeerTlsClient(raw, peerTls, (s) => this.begin(s, (x) => (stage = x)));
      secure.on('error', () => raw.destroy());
      secure.on('close', () => raw.destroy());
      this.socket = secure;
    });
  }

  /** On a connected (maybe TLS) socket: the magic, the cluster-secret handshake when keyed, then frames. */
  private begin(socket: net.Socket, setStage: (stage: string) => void): void {
    const decoder = new FrameDecoder();
    /** Until the handshake is done (with a key), bytes go to it; then frames flow and the queue is flushed. */
    let handshake = this.key === undefined ? undefined : new ClientHandshake(this.key);
    const ready = (rest: Buffer): void => {
      handshake = undefined;
      setStage('ready');
      this.connected = true;
      this.failures = 0;
      if (this.queued.length > 0) socket.write(Buffer.concat(this.queued));
      this.queued = [];
      if (rest.length > 0) this.onFrames(socket, decoder, rest);
    };
    socket.on('data', (chunk: Buffer) => {
      if (handshake === undefined) return this.onFrames(socket, decoder, chunk);
      const step = handshake.feed(chunk);
      if (step.kind === 'send') socket.write(step.bytes);
      else if (step.kind === 'refused') socket.destroy();
      else if (step.kind === 'done') {
        socket.setTimeout(0);
        ready(step.rest);
      }
    });
    if (handshake === undefined) {
      socket.write(PEER_MAGIC);
      return ready(Buffer.alloc(0));
    }
    setStage('auth');
    socket.write(PEER_MAGIC_AUTH);
    socket.setTimeout(PEER_AUTH.handshakeTimeoutMs, () => socket.destroy());
  }

  private onClose(stage: string): void {
    this.socket = undefined;
    this.connected = false;
    this.queued = [];
    this.failures++;
    this.retryAtMs = Date.now() + Math.min(TRANSPORT_LIMITS.reconnectDelayMsMax, TRANSPORT_LIMITS.reconnectDelayMsMin * 2 ** Math.min(10, this.failures - 1));
    // A connection closed before a handshake finished: the two ends do not share a peer key or a cluster CA.
    const why =
      stage === 'auth'
        ? `peer ${this.host}:${this.port} closed the connection during authentication: its cluster secret differs from this one (or one side has none)`
        : stage === 'tls'
          ? `peer ${this.host}:${this.port} closed the connection before TLS was set up: it does not use tls-cluster, or its certificate is not signed by this node's cluster CA (or this node's not by its)`
          : `connection to ${this.host}:${this.port} was lost`;
    const lost = new AtollError('PEER_UNAVAILABLE', why);
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      this.waiting.delete(id);
      w.reject(lost);
    }
  }

  /** Settles the requests answered by the frames in `chunk`. */
  private onFrames(socket: net.Socket, decoder: FrameDecoder, chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = decoder.feed(chunk);
    } catch (e) {
      socket.destroy(e as Error);
      return;
    }
    for (const f of frames) {
      const w = this.waiting.get(f.id);
      if (w === undefined) continue; // timed out already
      this.waiting.delete(f.id);
      clearTimeout(w.timer);
      if (f.kind === FRAME_KIND.failure) {
        const body = f.body as { code?: string; message?: string };
        // A typed failure on the peer keeps its code here; anything else is the peer failing.
        if (typeof body.code === 'string' && body.code in ERROR_CODES) w.reject(new AtollError(body.code as ErrorCode, body.message ?? ''));
        else w.reject(new AtollError('PEER_UNAVAILABLE', `peer ${this.host}:${this.port} failed the request: ${body.message ?? 'unknown'}`));
      } else w.resolve(f.body);
    }
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }
}

/** How a node guards its peer port: the cluster-secret key and, with tls-cluster, mutual TLS. */
export interface PeerGuard {
  readonly key?: Buffer | undefined;
  readonly tls?: PeerTls | undefined;
}

/**
 * Takes a connection that opened with a peer magic (`first` holds the bytes read so far, magic included).
 * With TLS configured, only the TLS magic is accepted, and the same rules then apply inside TLS. With a key,
 * only the authenticated magic is accepted, and no frame is served before the handshake proves the peer holds
 * the key; without one, only the plain magic. Anything else is closed and `refused` is told why.
 */
export function acceptPeer(socket: net.Socket, first: Buffer, guard: PeerGuard, handle: (body: unknown) => unknown, refused: (why: string) => void, insideTls = false): void {
  const magic = first.subarray(0, PEER_MAGIC.length);
  const drop = (why: string): void => {
    refused(why);
    socket.destroy();
  };
  socket.on('error', () => socket.destroy());
  if (magic.equals(PEER_MAGIC_TLS) && !insideTls) {
    if (guard.tls === undefined) return drop('a TLS peer connection, but this node does not use tls-cluster');
    if (first.length !== PEER_MAGIC_TLS.length) return drop('bytes after the TLS peer magic before the go-ahead');
    return acceptPeerTls(socket, guard.tls, (secure) => secure.once('data', (inner: Buffer) => acceptPeer(secure, inner, guard, handle, refused, true)), drop);
  }
  if (guard.tls !== undefined && !insideTls) return drop('a peer connection without TLS (this node uses tls-cluster)');
  const key = guard.key;
  if (magic.equals(PEER_MAGIC)) {
    if (key !== undefined) return drop('an unauthenticated peer connection (this node requires the cluster secret)');
    return servePeer(socket, first.subarray(PEER_MAGIC.length), handle);
  }
  if (!magic.equals(PEER_MAGIC_AUTH)) return drop('a connection with an unknown peer magic');
  if (key === undefined) return drop('an authenticated peer connection, but this node has no cluster secret');
  const handshake = new ServerHandshake(key);
  socket.setTimeout(PEER_AUTH.handshakeTimeoutMs, () => drop('a peer that did not finish the handshake in time'));
  socket.write(handshake.challenge());
  const onData = (chunk: Buffer): void => {
    const step = handshake.feed(chunk);
    if (step.kind === 'more') return;
    socket.off('data', onData);
    if (step.kind !== 'done') return drop(step.kind === 'refused' ? step.why : 'a malformed handshake');
    socket.setTimeout(0);
    if (step.send !== undefined) socket.write(step.send);
    servePeer(socket, step.rest, handle);
  };
  socket.on('data', onData);
  if (first.length > PEER_MAGIC.length) onData(first.subarray(PEER_MAGIC.length));
}

/** Serves requests on a socket whose magic has been read; `handle` may answer synchronously or later. */
export function servePeer(socket: net.Socket, first: Buffer, handle: (body: unknown) => unknown): void {
  const decoder = new FrameDecoder();
  let corked = false;
  const reply = (frame: Frame): void => {
    if (socket.destroyed) return;
    let bytes: Buffer;
    try {
      bytes = encodeFrame(frame);
    } catch (e) {
      bytes = encodeFrame({ kind: FRAME_KIND.failure, id: frame.id, body: { message: (e as Error).message } });
    }
    if (!corked) {
      corked = true;
      socket.cork();
      // Replies of one event-loop iteration go out in one write (flushed in the check phase).
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    socket.write(bytes);
  };
  const onData = (chunk: Buffer): void => {
    let frames: Frame[];
    try {
      frames = decoder.feed(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const f of frames) {
      if (f.kind !== FRAME_KIND.request) continue;
      let result: unknown;
      try {
        result = handle(f.body);
      } catch (e) {
        reply({ kind: FRAME_KIND.failure, id: f.id, body: failureBody(e) });
        continue;
      }
      if (result instanceof Promise) {
        result.then(
          (body: unknown) => reply({ kind: FRAME_KIND.reply, id: f.id, body }),
          (e: unknown) => reply({ kind: FRAME_KIND.failure, id: f.id, body: failureBody(e) }),
        );
      } else reply({ kind: FRAME_KIND.reply, id: f.id, body: result });
    }
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  if (first.length > 0) onData(first);
}

function failureBody(e: unknown): { code?: string; message: string } {
  if (e instanceof AtollError) return { code: e.code, message: e.message };
  return { message: e instanceof Error ? e.message : String(e) };
}
