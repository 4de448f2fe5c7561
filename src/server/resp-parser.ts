// Incremental RESP request parser: multibulk (`*N\r\n$len\r\n...`) and inline commands, with Redis's limits
// and Redis's exact protocol-error texts. Arguments are zero-copy views into the received chunks.

export const RESP_LIMITS = Object.freeze({
  /** proto-max-bulk-len: largest bulk argument (Redis default 512 MB). */
  bulkBytesMax: 512 * 1024 * 1024,
  /** Largest argument count of one multibulk request (Redis: 1024 * 1024 before authentication). */
  multibulkArgsMax: 1024 * 1024,
  /** Longest inline request or length line without a newline (Redis PROTO_INLINE_MAX_SIZE, 64 KB). */
  inlineBytesMax: 64 * 1024,
  /** client-query-buffer-limit: bytes buffered for one client's unparsed input (Redis default 1 GB). */
  queryBufferBytesMax: 1024 * 1024 * 1024,
  /** Before authentication (when a password is required), Redis's tighter bounds: a stranger buffers little. */
  unauthenticatedArgsMax: 10,
  unauthenticatedBulkBytesMax: 16 * 1024,
});

export type RespLimits = { -readonly [K in keyof typeof RESP_LIMITS]: number };

/** A malformed request: the connection gets `-ERR Protocol error: ...` and is closed, as in Redis. */
export class ProtocolError extends Error {
  constructor(readonly reply: string) {
    super(reply);
    this.name = 'ProtocolError';
  }
}

const CR = 13;
const LF = 10;
const EMPTY = Buffer.alloc(0);
/** Stands for a request Redis skips (`*0`, a blank inline line): parsed, nothing to run. */
const EMPTY_REQUEST: Buffer[] = [];

/**
 * Feed it chunks as they arrive; it returns every complete command (an array of argument buffers) and keeps
 * the incomplete tail. A partial command waiting for a large bulk does not re-parse or re-copy the buffer
 * on every chunk: it waits until enough bytes have arrived.
 */
const isAuthCommand = (name: Buffer): boolean => {
  if (name.length !== 4 && name.length !== 5) return false;
  const n = name.toString('latin1').toLowerCase();
  return n === 'auth' || n === 'hello';
};

export class RespParser {
  private buf: Buffer = EMPTY;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Total buffered bytes below which parsing cannot make progress. */
  private wantBytes = 0;
  /** Where the request after the one just parsed starts. */
  private next = 0;
  private readonly limits: RespLimits;
  /** Parsing stopped after an AUTH or HELLO of a client that must authenticate: feed() again once it ran. */
  heldAtAuth = false;

  /**
   * `authRequired` says whether the client still has to authenticate; until it has, Redis's unauthenticated
   * limits apply (its texts: unauthenticated multibulk length, unauthenticated bulk length).
   */
  constructor(
    limits: Partial<RespLimits> = {},
    private readonly authRequired: () => boolean = () => false,
  ) {
    this.limits = { ...RESP_LIMITS, ...limits };
  }

  /** Bytes received but not yet part of a complete command. */
  get bufferedBytes(): number {
    return this.buf.length + this.pendingBytes;
  }

  feed(chunk: Buffer): Buffer[][] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const total = this.buf.length + this.pendingBytes;
    if (total > this.limits.queryBufferBytesMax) throw new ProtocolError('Protocol error: query buffer limit exceeded');
    // Held behind an AUTH that has not run yet: keep the bytes until the server feeds again after it.
    if (this.heldAtAuth && chunk.length > 0) return [];
    if (total < this.wantBytes) return [];
    this.buf = this.buf.length === 0 && this.pending.length === 1 ? this.pending[0]! : Buffer.concat([this.buf, ...this.pending], total);
    this.pending.length = 0;
    this.pendingBytes = 0;
    return this.parseAll();
  }

  private parseAll(): Buffer[][] {
    const out: Buffer[][] = [];
    let pos = 0;
    const buf = this.buf;
    this.wantBytes = 0;
    this.heldAtAuth = false;
    while (pos < buf.length) {
      const args = buf[pos] === 42 /* '*' */ ? this.parseMultibulk(buf, pos) : this.parseInline(buf, pos);
      if (args === undefined) break;
      pos = this.next;
      if (args !== EMPTY_REQUEST) out.push(args);
      // Redis runs each command before parsing the next, so what follows an AUTH is judged authenticated or
      // not by its outcome: hold the rest until it has run.
      if (args.length > 0 && isAuthCommand(args[0]!) && this.authRequired() && pos < buf.length) {
        this.heldAtAuth = true;
        break;
      }
    }
    this.buf = pos >= buf.length ? EMPTY : buf.subarray(pos);
    if (this.wantBytes > 0) this.wantBytes -= pos;
    return out;
  }

  /** Index of the CR of the next CRLF at or after pos, -1 when not yet received. */
  private lineEnd(buf: Buffer, pos: number, what: string): number {
    const cr = buf.indexOf(CR, pos);
    if (cr === -1 || cr + 1 >= buf.length) {
      if (buf.length - pos > this.limits.inlineBytesMax) throw new ProtocolError(`Protocol error: too big ${what}`);
      return -1;
    }
    return cr;
  }

  /**
   * A complete request from `pos` (EMPTY_REQUEST for one Redis skips, e.g. `*0`), with `this.next` set to
   * where the following one starts; undefined when more bytes are needed.
   */
  private parseMultibulk(buf: Buffer, pos: number): Buffer[] | undefined {
    const cr = this.lineEnd(buf, pos, 'mbulk count string');
    if (cr === -1) return undefined;
    const count = parseDecimal(buf, pos + 1, cr);
    if (count === undefined || count > this.limits.multibulkArgsMax) throw new ProtocolError('Protocol error: invalid multibulk length');
    if (count > this.limits.unauthenticatedArgsMax && this.authRequired()) throw new ProtocolError('Protocol error: unauthenticated multibulk length');
    let p = cr + 2;
    // Redis treats `*0` and negative counts as an empty request and moves on.
    if (count <= 0) {
      this.next = p;
      return EMPTY_REQUEST;
    }
    const args = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) {
      if (p >= buf.length) return this.need(p + 1);
      if (buf[p] !== 36 /* '$' */) throw new ProtocolError(`Protocol error: expected '$', got '${String.fromCharCode(buf[p]!)}'`);
      const lcr = this.lineEnd(buf, p, 'bulk count string');
      if (lcr === -1) return undefined;
      const len = parseDecimal(buf, p + 1, lcr);
      if (len === undefined || len < 0 || len > this.limits.bulkBytesMax) throw new ProtocolError('Protocol error: invalid bulk length');
      if (len > this.limits.unauthenticatedBulkBytesMax && this.authRequired()) throw new ProtocolError('Protocol error: unauthenticated bulk length');
      const dataStart = lcr + 2;
      const dataEnd = dataStart + len;
      if (dataEnd + 2 > buf.length) return this.need(dataEnd + 2);
      args[i] = buf.subarray(dataStart, dataEnd);
      p = dataEnd + 2;
    }
    this.next = p;
    return args;
  }

  private need(bytes: number): undefined {
    this.wantBytes = bytes;
    return undefined;
  }

  private parseInline(buf: Buffer, pos: number): Buffer[] | undefined {
    const lf = buf.indexOf(LF, pos);
    if (lf === -1) {
      if (buf.length - pos > this.limits.inlineBytesMax) throw new ProtocolError('Protocol error: too big inline request');
      return undefined;
    }
    const end = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
    const args = splitInline(buf.subarray(pos, end));
    if (args === undefined) throw new ProtocolError('Protocol error: unbalanced quotes in request');
    this.next = lf + 1;
    return args.length === 0 ? EMPTY_REQUEST : args;
  }
}

/** Parses a signed decimal in buf[from, to); undefined unless it is a well-formed integer that fits. */
function parseDecimal(buf: Buffer, from: number, to: number): number | undefined {
  if (to <= from || to - from > 18) return undefined;
  let i = from;
  let negative = false;
  if (buf[i] === 45 /* '-' */) {
    negative = true;
    i++;
    if (i === to) return undefined;
  }
  let n = 0;
  for (; i < to; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

const HEX = /^[0-9a-fA-F]{2}$/;

/**
 * Splits an inline request the way Redis's sdssplitargs does: blanks separate arguments; "double quotes"
 * allow \n \r \t \b \a \\ \" and \xHH escapes; 'single quotes' allow only \'. A closing quote must be
 * followed by a blank or the end. Returns undefined for unbalanced quotes.
 */
export function splitInline(line: Buffer): Buffer[] | undefined {
  const s = line.toString('latin1');
  const args: Buffer[] = [];
  let i = 0;
  while (true) {
    while (i < s.length && /\s/.test(s[i]!)) i++;
    if (i >= s.length) return args;
    let cur = '';
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const c = s[i];
      if (inDouble) {
        if (c === undefined) return undefined;
        if (c === '\\' && s[i + 1] === 'x' && HEX.test(s.slice(i + 2, i + 4))) {
          cur += String.fromCharCode(parseInt(s.slice(i + 2, i + 4), 16));
          i += 3;
        } else if (c === '\\' && i + 1 < s.length) {
          const e = s[++i]!;
          cur += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e === 'b' ? '\b' : e === 'a' ? '\x07' : e;
        } else if (c === '"') {
          if (i + 1 < s.length && !/\s/.test(s[i + 1]!)) return undefined;
          done = true;
        } else cur += c;
      } else if (inSingle) {
        if (c === undefined) return undefined;
        if (c === '\\' && s[i + 1] === "'") {
          cur += "'";
          i++;
        } else if (c === "'") {
          if (i + 1 < s.length && !/\s/.test(s[i + 1]!)) return undefined;
          done = true;
        } else cur += c;
      } else if (c === undefined || /\s/.test(c)) {
        done = true;
      } else if (c === '"') inDouble = true;
      else if (c === "'") inSingle = true;
      else cur += c;
      if (c !== undefined) i++;
    }
    args.push(Buffer.from(cur, 'latin1'));
  }
}
