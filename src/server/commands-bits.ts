// Bit commands on string values with Redis 7.0 semantics and reply texts: SETBIT, GETBIT, BITCOUNT and BITPOS
// (BYTE|BIT ranges), BITOP AND|OR|XOR|NOT, BITFIELD and BITFIELD_RO (signed up to 64 and unsigned up to 63
// bits, '#' offsets, OVERFLOW WRAP|SAT|FAIL). A string is written back whole on each change, so SETBIT on a
// large bitmap costs O(its length) (the memory engine keeps strings as immutable JS strings).
import { ERR, ReplyError, intArg, isWord, parseInt64 } from './args.js';
import { getString, type DataContext, type DataHandler } from './commands-data.js';

const k = (b: Buffer): string => b.toString('latin1');
const BIT_OFFSET = 'ERR bit offset is not an integer or out of range';

/** A bit offset: 0 <= offset and offset / 8 < proto-max-bulk-len. */
function bitOffset(ctx: DataContext, b: Buffer): number {
  const v = parseInt64(b);
  if (v === undefined || v < 0n || v >> 3n >= BigInt(ctx.bulkBytesMax)) throw new ReplyError(BIT_OFFSET);
  return Number(v);
}

/** Stores `next` under `key`, keeping an existing key's expiry. */
function store(ctx: DataContext, key: string, existed: boolean, next: Buffer): void {
  ctx.engine.put(key, { type: 'string', value: next }, existed ? (ctx.engine.expiresAt(key) ?? 0) : 0);
}

/** A copy of `old` at least `bytes` long (zero-filled). */
function grown(old: Buffer | undefined, bytes: number): Buffer {
  const next = Buffer.alloc(Math.max(old?.length ?? 0, bytes));
  old?.copy(next);
  return next;
}

const setbit: DataHandler = (ctx, args, w) => {
  const offset = bitOffset(ctx, args[2]!);
  const bit = k(args[3]!);
  if (bit !== '0' && bit !== '1') throw new ReplyError('ERR bit is not an integer or out of range');
  const key = k(args[1]!);
  const old = getString(ctx, key);
  const byte = offset >> 3;
  const mask = 0x80 >> (offset & 7);
  const was = old !== undefined && byte < old.length && (old[byte]! & mask) !== 0 ? 1 : 0;
  const next = grown(old, byte + 1);
  next[byte] = bit === '1' ? next[byte]! | mask : next[byte]! & ~mask;
  store(ctx, key, old !== undefined, next);
  w.integer(was);
};

const getbit: DataHandler = (ctx, args, w) => {
  const offset = bitOffset(ctx, args[2]!);
  const s = getString(ctx, k(args[1]!));
  const byte = offset >> 3;
  w.integer(s !== undefined && byte < s.length && (s[byte]! & (0x80 >> (offset & 7))) !== 0 ? 1 : 0);
};

const popcount = (b: number): number => {
  let n = b - ((b >> 1) & 0x55);
  n = (n & 0x33) + ((n >> 2) & 0x33);
  return (n + (n >> 4)) & 0x0f;
};

/** [start, end] (negative from the end) clamped to `len` units, or undefined when empty (Redis's rules). */
function window(start: number, end: number, len: number): [number, number] | undefined {
  let a = start < 0 ? len + start : start;
  let b = end < 0 ? len + end : end;
  if (a < 0) a = 0;
  if (b < 0) b = 0;
  if (b >= len) b = len - 1;
  return a > b || len === 0 ? undefined : [a, b];
}

/** The optional `start end [BYTE|BIT]` of BITCOUNT/BITPOS from `at`. */
function rangeUnit(args: Buffer[], at: number): 'byte' | 'bit' {
  if (args.length <= at) return 'byte';
  if (args.length === at + 1 && isWord(args[at], 'BYTE')) return 'byte';
  if (args.length === at + 1 && isWord(args[at], 'BIT')) return 'bit';
  throw new ReplyError(ERR.syntax);
}

const bitAt = (s: Buffer, i: number): number => (s[i >> 3]! >> (7 - (i & 7))) & 1;

const bitcount: DataHandler = (ctx, args, w) => {
  if (args.length === 3 || args.length > 5) throw new ReplyError(ERR.syntax);
  const start = args.length > 2 ? intArg(args[2]) : 0;
  const end = args.length > 3 ? intArg(args[3]) : -1;
  const unit = rangeUnit(args, 4);
  const s = getString(ctx, k(args[1]!));
  if (s === undefined) return w.integer(0);
  // Both ends from the end with start past end: nothing, whatever the clamping would make of them (as Redis).
  if (start < 0 && end < 0 && start > end) return w.integer(0);
  const win = window(start, end, unit === 'bit' ? s.length * 8 : s.length);
  if (win === undefined) return w.integer(0);
  let n = 0;
  if (unit === 'byte') for (let i = win[0]; i <= win[1]; i++) n += popcount(s[i]!);
  else for (let i = win[0]; i <= win[1]; i++) n += bitAt(s, i);
  w.integer(n);
};

const bitpos: DataHandler = (ctx, args, w) => {
  const bitText = k(args[2]!);
  if (args.length > 6) throw new ReplyError(ERR.syntax);
  const start = args.length > 3 ? intArg(args[3]) : 0;
  const endGiven = args.length > 4;
  const end = endGiven ? intArg(args[4]) : -1;
  const unit = rangeUnit(args, 5);
  if (bitText !== '0' && bitText !== '1') throw new ReplyError('ERR The bit argument must be 1 or 0.');
  const bit = bitText === '1' ? 1 : 0;
  const s = getString(ctx, k(args[1]!));
  if (s === undefined) return w.integer(bit === 1 ? -1 : 0);
  const win = window(start, end, unit === 'bit' ? s.length * 8 : s.length);
  if (win === undefined) return w.integer(-1);
  const [from, to] = unit === 'bit' ? win : [win[0] * 8, win[1] * 8 + 7];
  for (let i = from; i <= to; i++) if (bitAt(s, i) === bit) return w.integer(i);
  // Looking for a 0 past the end of the string without an explicit end: the first bit after it, as Redis.
  w.integer(bit === 0 && !endGiven && unit === 'byte' ? to + 1 : -1);
};

const bitop: DataHandler = (ctx, args, w) => {
  const op = k(args[1]!).toLowerCase();
  if (op !== 'and' && op !== 'or' && op !== 'xor' && op !== 'not') throw new ReplyError(ERR.syntax);
  const sources = args.slice(3);
  if (op === 'not' && sources.length !== 1) throw new ReplyError('ERR BITOP NOT must be called with a single source key.');
  const values = sources.map((b) => getString(ctx, k(b)) ?? Buffer.alloc(0));
  const len = Math.max(0, ...values.map((v) => v.length));
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    if (op === 'not') out[i] = ~values[0]![i]! & 0xff;
    else {
      let acc = values[0]![i] ?? 0;
      for (let j = 1; j < values.length; j++) {
        const b = values[j]![i] ?? 0;
        acc = op === 'and' ? acc & b : op === 'or' ? acc | b : acc ^ b;
      }
      out[i] = acc;
    }
  }
  const dest = k(args[2]!);
  if (len === 0) ctx.engine.delete(dest);
  else ctx.engine.put(dest, { type: 'string', value: out }, 0);
  w.integer(len);
};

// ---- BITFIELD ----------------------------------------------------------------------------------------------

interface FieldType {
  signed: boolean;
  bits: number;
}

type Overflow = 'wrap' | 'sat' | 'fail';
type Op = { kind: 'get'; t: FieldType; offset: number } | { kind: 'set' | 'incrby'; t: FieldType; offset: number; value: bigint; overflow: Overflow };

function fieldType(b: Buffer | undefined): FieldType {
  const m = /^([iu])(\d+)$/i.exec(b === undefined ? '' : k(b));
  const signed = m?.[1]?.toLowerCase() === 'i';
  const bits = Number(m?.[2] ?? 0);
  if (m === null || bits < 1 || (signed && bits > 64) || (!signed && bits > 63)) throw new ReplyError('ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.');
  return { signed, bits };
}

function fieldOffset(ctx: DataContext, b: Buffer | undefined, t: FieldType): number {
  const s = b === undefined ? '' : k(b);
  const hash = s.startsWith('#');
  const v = parseInt64(Buffer.from(hash ? s.slice(1) : s, 'latin1'));
  const off = v === undefined ? undefined : hash ? v * BigInt(t.bits) : v;
  if (off === undefined || off < 0n || off >> 3n >= BigInt(ctx.bulkBytesMax)) throw new ReplyError(BIT_OFFSET);
  return Number(off);
}

function parseOps(ctx: DataContext, args: Buffer[], readOnly: boolean): Op[] {
  const ops: Op[] = [];
  let overflow: Overflow = 'wrap';
  for (let i = 2; i < args.length; ) {
    const word = k(args[i]!).toLowerCase();
    const left = args.length - i - 1;
    if (word === 'get' && left >= 2) {
      const t = fieldType(args[i + 1]);
      ops.push({ kind: 'get', t, offset: fieldOffset(ctx, args[i + 2], t) });
      i += 3;
    } else if ((word === 'set' || word === 'incrby') && left >= 3) {
      if (readOnly) throw new ReplyError('ERR BITFIELD_RO only supports the GET subcommand');
      const t = fieldType(args[i + 1]);
      const offset = fieldOffset(ctx, args[i + 2], t);
      const value = parseInt64(args[i + 3]!);
      if (value === undefined) throw new ReplyError(ERR.notInteger);
      ops.push({ kind: word, t, offset, value, overflow });
      i += 4;
    } else if (word === 'overflow' && left >= 1) {
      const o = k(args[i + 1]!).toLowerCase();
      if (o !== 'wrap' && o !== 'sat' && o !== 'fail') throw new ReplyError('ERR Invalid OVERFLOW type specified');
      overflow = o;
      i += 2;
    } else throw new ReplyError(ERR.syntax);
  }
  return ops;
}

function readField(s: Buffer, offset: number, t: FieldType): bigint {
  let v = 0n;
  for (let i = 0; i < t.bits; i++) {
    const at = offset + i;
    const byte = at >> 3;
    const bit = byte < s.length ? (s[byte]! >> (7 - (at & 7))) & 1 : 0;
    v = (v << 1n) | BigInt(bit);
  }
  return t.signed ? BigInt.asIntN(t.bits, v) : v;
}

function writeField(s: Buffer, offset: number, t: FieldType, value: bigint): void {
  const u = BigInt.asUintN(t.bits, value);
  for (let i = 0; i < t.bits; i++) {
    const at = offset + i;
    const mask = 0x80 >> (at & 7);
    if ((u >> BigInt(t.bits - 1 - i)) & 1n) s[at >> 3] = s[at >> 3]! | mask;
    else s[at >> 3] = s[at >> 3]! & ~mask;
  }
}

/** The value stored for `v` under an overflow policy; undefined when FAIL refuses it. */
function fit(v: bigint, t: FieldType, policy: Overflow): bigint | undefined {
  const min = t.signed ? -(1n << BigInt(t.bits - 1)) : 0n;
  const max = t.signed ? (1n << BigInt(t.bits - 1)) - 1n : (1n << BigInt(t.bits)) - 1n;
  if (v >= min && v <= max) return v;
  if (policy === 'fail') return undefined;
  if (policy === 'sat') return v < min ? min : max;
  return t.signed ? BigInt.asIntN(t.bits, v) : BigInt.asUintN(t.bits, v);
}

function bitfield(readOnly: boolean): DataHandler {
  return (ctx, args, w) => {
    const ops = parseOps(ctx, args, readOnly);
    const key = k(args[1]!);
    const old = getString(ctx, key);
    const writes = ops.some((o) => o.kind !== 'get');
    const need = writes ? Math.max(0, ...ops.filter((o) => o.kind !== 'get').map((o) => (o.offset + o.t.bits + 7) >> 3)) : 0;
    const s = writes ? grown(old, need) : (old ?? Buffer.alloc(0));
    w.arrayHeader(ops.length);
    for (const o of ops) {
      const cur = readField(s, o.offset, o.t);
      if (o.kind === 'get') {
        w.integer(cur);
        continue;
      }
      // SET on an unsigned field reads its value as an unsigned 64-bit number (-5 is 2^64-5), as Redis does.
      const wanted = o.kind === 'set' ? (o.t.signed ? o.value : BigInt.asUintN(64, o.value)) : cur + o.value;
      const next = fit(wanted, o.t, o.overflow);
      if (next === undefined) {
        w.nil();
        continue;
      }
      writeField(s, o.offset, o.t, next);
      w.integer(o.kind === 'set' ? cur : next);
    }
    if (writes) store(ctx, key, old !== undefined, s);
  };
}

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const BIT_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  setbit: [4, ['write'], setbit, 1, 1],
  getbit: [3, ['readonly'], getbit, 1, 1],
  bitcount: [-2, ['readonly'], bitcount, 1, 1],
  bitpos: [-3, ['readonly'], bitpos, 1, 1],
  bitop: [-4, ['write'], bitop, 2, -1],
  bitfield: [-2, ['write'], bitfield(false), 1, 1],
  bitfield_ro: [-2, ['readonly'], bitfield(true), 1, 1],
};
