// RESP2/RESP3 reply encoder. Replies for a batch of pipelined commands are appended to one growing buffer
// and written to the socket once, which is what keeps per-command cost low.

export type RespVersion = 2 | 3;

const CRLF = '\r\n';
const OK = Buffer.from('+OK\r\n');
/** A type byte, up to 16 digits and CRLF. */
const HEADER_BYTES_MAX = 19;
/** Latin1 strings up to this length are copied by a JS loop, longer ones by Buffer.write (see bulkLatin1). */
const LATIN1_LOOP_CHARS_MAX = 12;

export class RespWriter {
  private buf: Buffer;
  private len = 0;
  version: RespVersion = 2;

  constructor(initialBytes = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.len;
  }

  /** Takes everything written so far (a copy-free view when possible) and starts again. */
  take(): Buffer {
    // One allocation (from Node's pool when small) and one copy; no intermediate view.
    const out = Buffer.allocUnsafe(this.len);
    this.buf.copy(out, 0, 0, this.len);
    this.len = 0;
    return out;
  }

  /** Removes and returns (a copy of) what was written since `mark` (a length read earlier). */
  cutFrom(mark: number): Buffer {
    const out = Buffer.from(this.buf.subarray(mark, this.len));
    this.len = mark;
    return out;
  }

  /** The first byte written at `offset` (e.g. 0x2d '-' for an error reply). */
  byteAt(offset: number): number {
    return this.buf[offset]!;
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + extra));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private ascii(s: string): void {
    this.ensure(s.length);
    this.len += this.buf.write(s, this.len, 'latin1');
  }

  private bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }

  /** Appends an already encoded reply (one a peer node produced in this client's RESP version). */
  raw(b: Buffer): void {
    this.bytes(b);
  }

  /** `+OK` style status. The text must not contain CR or LF. */
  simple(text: string): void {
    this.ascii(`+${text}${CRLF}`);
  }

  ok(): void {
    this.bytes(OK);
  }

  /** Error reply; `text` starts with its code (`ERR ...`, `WRONGTYPE ...`, `MOVED ...`). */
  error(text: string): void {
    this.ascii(`-${text.replace(/[\r\n]+/g, ' ')}${CRLF}`);
  }

  integer(n: number | bigint): void {
    this.ascii(`:${n}${CRLF}`);
  }

  bulk(value: Buffer | string): void {
    if (typeof value === 'string') {
      const n = Buffer.byteLength(value);
      this.ascii(`$${n}${CRLF}`);
      this.ensure(n + 2);
      this.len += this.buf.write(value, this.len, 'utf8');
      this.ascii(CRLF);
      return;
    }
    // The hot path (GET replies, forwarded commands): header, bytes and CRLF written straight into the buffer.
    const n = value.length;
    this.ensure(n + HEADER_BYTES_MAX + 2);
    this.header(0x24 /* $ */, n);
    value.copy(this.buf, this.len);
    this.len += n;
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
  }

  /** A bulk string whose bytes are the characters of a latin1 string (one byte each, 0-255), or of its range [from, from + n). */
  bulkLatin1(value: string, from = 0, n = value.length - from): void {
    this.ensure(n + HEADER_BYTES_MAX + 2);
    this.header(0x24 /* $ */, n);
    const buf = this.buf;
    // Short strings byte by byte: a native write costs about 50 ns a call whatever the length, a JS loop
    // 2-3 ns a character (LRANGE of 100 ten-byte elements spent a sixth of its time in the native calls).
    if (n <= LATIN1_LOOP_CHARS_MAX) for (let i = 0; i < n; i++) buf[this.len++] = value.charCodeAt(from + i);
    else this.len += buf.write(from === 0 && n === value.length ? value : value.slice(from, from + n), this.len, 'latin1');
    buf[this.len++] = 0x0d;
    buf[this.len++] = 0x0a;
  }

  /** `<type byte><n>\r\n` for a non-negative integer n; the caller has ensured HEADER_BYTES_MAX bytes. */
  private header(type: number, n: number): void {
    const buf = this.buf;
    buf[this.len++] = type;
    if (n < 10) buf[this.len++] = 0x30 + n;
    else if (n < 1_000_000) {
      // Digits written from the last, without String(n) and a native write.
      const digits = n < 100 ? 2 : n < 1_000 ? 3 : n < 10_000 ? 4 : n < 100_000 ? 5 : 6;
      for (let i = this.len + digits - 1, m = n; i >= this.len; i--, m = Math.floor(m / 10)) buf[i] = 0x30 + (m % 10);
      this.len += digits;
    } else this.len += buf.write(String(n), this.len, 'latin1');
    buf[this.len++] = 0x0d;
    buf[this.len++] = 0x0a;
  }

  /** Missing value: `$-1` in RESP2, `_` in RESP3. */
  nil(): void {
    this.ascii(this.version === 3 ? `_${CRLF}` : `$-1${CRLF}`);
  }

  bulkOrNil(value: Buffer | string | undefined | null): void {
    if (value === undefined || value === null) this.nil();
    else this.bulk(value);
  }

  /** Missing array: `*-1` in RESP2, `_` in RESP3. */
  nilArray(): void {
    this.ascii(this.version === 3 ? `_${CRLF}` : `*-1${CRLF}`);
  }

  arrayHeader(n: number): void {
    if (n < 0) return this.ascii(`*${n}${CRLF}`);
    this.ensure(HEADER_BYTES_MAX);
    this.header(0x2a /* * */, n);
  }

  /** Map header: `%n` in RESP3, a flat array of 2n items in RESP2. */
  mapHeader(pairs: number): void {
    this.ascii(this.version === 3 ? `%${pairs}${CRLF}` : `*${pairs * 2}${CRLF}`);
  }

  /** Set header: `~n` in RESP3, an array in RESP2. */
  setHeader(n: number): void {
    this.ascii(this.version === 3 ? `~${n}${CRLF}` : `*${n}${CRLF}`);
  }

  /** Double: `,x` in RESP3, a bulk string in RESP2 (as Redis replies to INCRBYFLOAT-like commands). */
  double(x: number, format: (x: number) => string = formatDouble): void {
    const text = format(x);
    if (this.version === 3) this.ascii(`,${text}${CRLF}`);
    else this.bulk(text);
  }

  /** Verbatim text (INFO in RESP3 uses `=`; RESP2 a bulk string). */
  verbatim(text: string): void {
    if (this.version !== 3) {
      this.bulk(text);
      return;
    }
    const n = Buffer.byteLength(text) + 4;
    this.ascii(`=${n}${CRLF}txt:`);
    this.ensure(n);
    this.len += this.buf.write(text, this.len, 'utf8');
    this.ascii(CRLF);
  }

  bulkArray(values: readonly (Buffer | string | undefined)[]): void {
    this.arrayHeader(values.length);
    for (const v of values) this.bulkOrNil(v);
  }
}

/** Redis's %.17g-then-trim formatting for doubles: shortest text that reads back to the same value. */
export function formatDouble(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Number.isNaN(x)) return 'nan';
  if (Object.is(x, -0)) return '-0';
  return String(x).replace(/e\+?/, 'e');
}
