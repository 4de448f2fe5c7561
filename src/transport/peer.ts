// Node-to-node connections: a multiplexed request/reply client with bounded in-flight requests, timeouts,
// and reconnect with exponential backoff; and the serving side, attached to sockets that open with the magic.
import net from 'node:net';
import { AtollError, ERROR_CODES, type ErrorCode } from '../errors.js';
import { FRAME_KIND, FrameDecoder, PEER_MAGIC, TRANSPORT_LIMITS, encodeFrame, type Frame } from './frames.js';

interface Waiting {
  resolve(body: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export interface PeerClientOptions {
  readonly requestTimeoutMs?: number;
  readonly inflightMax?: number;
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

  constructor(
    readonly host: string,
    readonly port: number,
    options: PeerClientOptions = {},
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? TRANSPORT_LIMITS.requestTimeoutMs;
    this.inflightMax = options.inflightMax ?? TRANSPORT_LIMITS.inflightMax;
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
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    const decoder = new FrameDecoder();
    socket.on('connect', () => {
      this.connected = true;
      this.failures = 0;
      socket.write(Buffer.concat([PEER_MAGIC, ...this.queued]));
      this.queued = [];
    });
    socket.on('data', (chunk: Buffer) => {
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
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.socket = undefined;
      this.connected = false;
      this.queued = [];
      this.failures++;
      this.retryAtMs = Date.now() + Math.min(TRANSPORT_LIMITS.reconnectDelayMsMax, TRANSPORT_LIMITS.reconnectDelayMsMin * 2 ** Math.min(10, this.failures - 1));
      const lost = new AtollError('PEER_UNAVAILABLE', `connection to ${this.host}:${this.port} was lost`);
      for (const [id, w] of this.waiting) {
        clearTimeout(w.timer);
        this.waiting.delete(id);
        w.reject(lost);
      }
    });
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }
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
