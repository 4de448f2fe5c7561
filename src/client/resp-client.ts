// A small RESP2 client for Atoll's own tools (dev/demo readiness checks, workloads, benchmarks): one
// connection, pipelined requests answered in order, replies decoded to JS values. Not a cluster client.
import net from 'node:net';
import { once } from 'node:events';
import { AtollError } from '../errors.js';

export type RespValue = string | number | null | Buffer | RespValue[] | RespErrorReply;

/** An error reply (`-ERR ...`): returned as a value, not thrown, so pipelines keep their order. */
export class RespErrorReply {
  constructor(readonly message: string) {}
}

export const RESP_CLIENT_LIMITS = Object.freeze({ pendingMax: 100_000, connectTimeoutMs: 5_000 });

/** Decodes replies from a byte stream; returns undefined when the buffer holds no complete reply yet. */
export class ReplyDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  feed(chunk: Buffer): RespValue[] {
    this.buf = this.pos < this.buf.length ? Buffer.concat([this.buf.subarray(this.pos), chunk]) : chunk;
    this.pos = 0;
    const out: RespValue[] = [];
    for (;;) {
      const start = this.pos;
      const v = this.value();
      if (v === undefined) {
        this.pos = start;
        break;
      }
      out.push(v.value);
    }
    return out;
  }

  private line(): string | undefined {
    const end = this.buf.indexOf('\r\n', this.pos, 'latin1');
    if (end < 0) return undefined;
    const text = this.buf.toString('latin1', this.pos + 1, end);
    this.pos = end + 2;
    return text;
  }

  private items(n: number): { value: RespValue } | undefined {
    if (n < 0) return { value: null };
    const items: RespValue[] = [];
    for (let i = 0; i < n; i++) {
      const v = this.value();
      if (v === undefined) return undefined;
      items.push(v.value);
    }
    return { value: items };
  }

  private value(): { value: RespValue } | undefined {
    if (this.pos >= this.buf.length) return undefined;
    const type = String.fromCharCode(this.buf[this.pos]!);
    const text = this.line();
    if (text === undefined) return undefined;
    switch (type) {
      case '+':
        return { value: text };
      case '-':
        return { value: new RespErrorReply(text) };
      case ':':
        return { value: Number(text) };
      case '$': {
        const n = Number(text);
        if (n < 0) return { value: null };
        if (this.buf.length < this.pos + n + 2) return undefined;
        const b = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n + 2;
        return { value: Buffer.from(b) };
      }
      case '*':
      case '~':
      case '>':
        return this.items(Number(text));
      // RESP3: a map arrives as its flattened pairs; null and booleans as in RESP2; a double keeps its exact text
      // behind its ',' (so replies can be compared byte for byte); a big number as text; verbatim text as bytes.
      case '%':
        return this.items(Number(text) * 2);
      case '_':
        return { value: null };
      case '#':
        return { value: text === 't' ? 1 : 0 };
      case ',':
        return { value: `,${text}` };
      case '(':
        return { value: text };
      case '=': {
        const n = Number(text);
        if (this.buf.length < this.pos + n + 2) return undefined;
        const b = this.buf.subarray(this.pos + 4, this.pos + n);
        this.pos += n + 2;
        return { value: Buffer.from(b) };
      }
      default:
        throw new AtollError('BAD_ARGUMENT', `unexpected RESP reply type ${JSON.stringify(type)}`);
    }
  }
}

export function encodeCommand(args: readonly (string | Buffer | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export class RespClient {
  private readonly decoder = new ReplyDecoder();
  private readonly pending: { resolve(v: RespValue): void; reject(e: Error): void }[] = [];
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const v of this.decoder.feed(chunk)) this.pending.shift()?.resolve(v);
    });
    socket.on('error', (e) => (this.closedError = e));
    socket.on('close', () => {
      const e = this.closedError ?? new Error('connection closed');
      this.closedError = e;
      for (const p of this.pending.splice(0)) p.reject(e);
    });
  }

  get port(): number {
    return this.socket.remotePort ?? 0;
  }

  static async connect(host: string, port: number): Promise<RespClient> {
    const socket = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error(`connect to ${host}:${port} timed out`)), RESP_CLIENT_LIMITS.connectTimeoutMs);
    try {
      await once(socket, 'connect');
    } finally {
      clearTimeout(timer);
    }
    return new RespClient(socket);
  }

  send(args: readonly (string | Buffer | number)[]): Promise<RespValue> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    if (this.pending.length >= RESP_CLIENT_LIMITS.pendingMax) return Promise.reject(new AtollError('QUEUE_FULL', 'too many commands awaiting replies'));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(encodeCommand(args));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends one command on a fresh connection and returns the reply. */
export async function respOnce(host: string, port: number, args: readonly (string | Buffer | number)[]): Promise<RespValue> {
  const c = await RespClient.connect(host, port);
  try {
    return await c.send(args);
  } finally {
    c.close();
  }
}
