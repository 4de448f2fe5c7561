// Argument parsing with Redis's rules and error texts: strict 64-bit integers, floats, glob patterns.

/** An expected command failure; `reply` is the exact Redis error text sent after the `-`. */
export class ReplyError extends Error {
  constructor(readonly reply: string) {
    super(reply);
    this.name = 'ReplyError';
  }
}

export const ERR = Object.freeze({
  syntax: 'ERR syntax error',
  notInteger: 'ERR value is not an integer or out of range',
  notFloat: 'ERR value is not a valid float',
  wrongType: 'WRONGTYPE Operation against a key holding the wrong kind of value',
  overflow: 'ERR increment or decrement would overflow',
  nanOrInf: 'ERR increment would produce NaN or Infinity',
  noSuchKey: 'ERR no such key',
  hashNotInteger: 'ERR hash value is not an integer',
  hashNotFloat: 'ERR hash value is not a float',
  invalidCursor: 'ERR invalid cursor',
  offsetRange: 'ERR offset is out of range',
  tooBig: 'ERR string exceeds maximum allowed size (proto-max-bulk-len)',
  noAuth: 'NOAUTH Authentication required.',
  wrongPass: 'WRONGPASS invalid username-password pair or user is disabled.',
  dbIndex: 'ERR DB index is out of range',
});

export const wrongArity = (name: string): string => `ERR wrong number of arguments for '${name.toLowerCase()}' command`;
export const invalidExpire = (name: string): string => `ERR invalid expire time in '${name.toLowerCase()}' command`;

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** Redis's string2ll: optional '-', digits, no '+', no spaces, no leading zeros, within int64. */
export function parseInt64(buf: Buffer): bigint | undefined {
  const n = buf.length;
  if (n === 0 || n > 20) return undefined;
  let i = 0;
  if (buf[0] === 45) {
    if (n === 1) return undefined;
    i = 1;
  }
  if (buf[i] === 48 && n > i + 1) return undefined;
  for (let j = i; j < n; j++) if (buf[j]! < 48 || buf[j]! > 57) return undefined;
  const v = BigInt(buf.toString('latin1'));
  return v > INT64_MAX || v < INT64_MIN ? undefined : v;
}

/** Integer argument as a JS number (safe range), else `ERR value is not an integer or out of range`. */
export function intArg(buf: Buffer | undefined, error: string = ERR.notInteger): number {
  const v = buf === undefined ? undefined : parseInt64(buf);
  if (v === undefined || v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new ReplyError(error);
  return Number(v);
}

export function int64Arg(buf: Buffer | undefined, error: string = ERR.notInteger): bigint {
  const v = buf === undefined ? undefined : parseInt64(buf);
  if (v === undefined) throw new ReplyError(error);
  return v;
}

export function checkInt64(v: bigint): bigint {
  if (v > INT64_MAX || v < INT64_MIN) throw new ReplyError(ERR.overflow);
  return v;
}

const FLOAT = /^[+-]?((\d+\.?\d*)|(\.\d+))([eE][+-]?\d+)?$/;
const INF = /^[+-]?inf(inity)?$/i;

/** A float as Redis's strtold accepts it (no spaces, no NaN). */
export function parseFloatArg(buf: Buffer, error: string = ERR.notFloat): number {
  const s = buf.toString('latin1');
  if (FLOAT.test(s)) return Number(s);
  if (INF.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  throw new ReplyError(error);
}

/** Formats a float as Redis's INCRBYFLOAT does: plain decimal (no exponent), trailing zeros trimmed. */
export function formatFloatHuman(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return x.toFixed(0);
  const plain = String(x);
  if (!/e/i.test(plain)) return plain;
  return x.toFixed(Math.min(100, 17 + Math.max(0, -Math.floor(Math.log10(Math.abs(x)))))).replace(/\.?0+$/, '');
}

/** Case-insensitive compare of an argument with an ASCII keyword (upper case). */
export function isWord(buf: Buffer | undefined, word: string): boolean {
  if (buf === undefined || buf.length !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    let c = buf[i]!;
    if (c >= 97 && c <= 122) c -= 32;
    if (c !== word.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Redis glob (stringmatchlen): * ? [abc] [^a] [a-z] and \x escapes. Compiled to a RegExp over latin1 text;
 * patterns are bounded by the argument size limit and compile in linear time.
 */
export function globToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      let cls = '';
      for (let j = 0; j < body.length; j++) {
        if (body[j] === '\\' && j + 1 < body.length) cls += escapeRe(body[++j]!);
        else if (body[j + 1] === '-' && j + 2 < body.length) {
          const [a, b] = [body[j]!, body[j + 2]!].sort();
          cls += `${escapeRe(a!)}-${escapeRe(b!)}`;
          j += 2;
        } else cls += escapeRe(body[j]!);
      }
      re += cls === '' ? (negate ? '[\\s\\S]' : '(?!)') : `[${negate ? '^' : ''}${cls}]`;
      i = close;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`);
}

function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}
