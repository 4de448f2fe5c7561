// HyperLogLog: PFADD, PFCOUNT, PFMERGE, computing what Redis computes (MurmurHash64A with Redis's seed, 16384
// six-bit registers, Ertl's improved estimator), so counts equal redis-server's for the same elements (standard
// error 0.81%). Values are strings in Redis's HYLL format: Atoll writes the dense encoding and reads both dense
// and sparse, so an HLL copied from Redis (GET/SET) counts the same here. PFCOUNT caches the estimate in the
// header, as Redis does (it is a write command for that reason).
import { ReplyError } from './args.js';
import { getString, type DataContext, type DataHandler } from './commands-data.js';

const k = (b: Buffer): string => b.toString('latin1');
const P = 14;
const Q = 64 - P;
const REGISTERS = 1 << P;
const BITS = 6;
const REGISTER_MAX = (1 << BITS) - 1;
const HDR = 16;
const DENSE_BYTES = HDR + Math.floor((REGISTERS * BITS + 7) / 8);
const ALPHA_INF = 0.7213475204444817; // 1 / (2 ln 2), Redis's HLL_ALPHA_INF
const SEED = 0xadc83b19n;
const INVALID = 'WRONGTYPE Key is not a valid HyperLogLog string value.';
const M64 = (1n << 64n) - 1n;
const MUL = 0xc6a4a7935bd1e995n;

/** Austin Appleby's MurmurHash64A, as Redis's hyperloglog.c (little-endian reads). */
export function murmur64a(data: Buffer, seed: bigint = SEED): bigint {
  const len = data.length;
  let h = (seed ^ ((BigInt(len) * MUL) & M64)) & M64;
  const blocks = len - (len & 7);
  for (let i = 0; i < blocks; i += 8) {
    let kk = data.readBigUInt64LE(i);
    kk = (kk * MUL) & M64;
    kk ^= kk >> 47n;
    kk = (kk * MUL) & M64;
    h ^= kk;
    h = (h * MUL) & M64;
  }
  const rest = len & 7;
  if (rest > 0) {
    for (let i = rest - 1; i >= 0; i--) h ^= BigInt(data[blocks + i]!) << BigInt(8 * i);
    h = (h * MUL) & M64;
  }
  h ^= h >> 47n;
  h = (h * MUL) & M64;
  h ^= h >> 47n;
  return h;
}

/** The register an element lands in and the run length of zeros (plus one) it records. */
function patLen(el: Buffer): { index: number; count: number } {
  let hash = murmur64a(el);
  const index = Number(hash & BigInt(REGISTERS - 1));
  hash >>= BigInt(P);
  hash |= 1n << BigInt(Q);
  let count = 1;
  while ((hash & 1n) === 0n) {
    count++;
    hash >>= 1n;
  }
  return { index, count };
}

/** Registers of a stored HLL (dense or sparse), or undefined when the value is not one. */
function registers(v: Buffer): Uint8Array | undefined {
  if (v.length < HDR || v.toString('latin1', 0, 4) !== 'HYLL' || v[4]! > 1) return undefined;
  const regs = new Uint8Array(REGISTERS);
  if (v[4] === 0) {
    if (v.length !== DENSE_BYTES) return undefined;
    for (let r = 0; r < REGISTERS; r++) {
      const byte = HDR + ((r * BITS) >> 3);
      const fb = (r * BITS) & 7;
      regs[r] = ((v[byte]! >> fb) | ((v[byte + 1] ?? 0) << (8 - fb))) & REGISTER_MAX;
    }
    return regs;
  }
  let r = 0;
  for (let i = HDR; i < v.length; i++) {
    const op = v[i]!;
    if ((op & 0xc0) === 0) r += (op & 0x3f) + 1; // ZERO: 1-64 empty registers
    else if ((op & 0xc0) === 0x40) r += (((op & 0x3f) << 8) | (v[++i] ?? 0)) + 1; // XZERO: 1-16384
    else {
      const value = ((op >> 2) & 0x1f) + 1;
      const run = (op & 3) + 1;
      for (let j = 0; j < run && r < REGISTERS; j++) regs[r++] = value;
    }
    if (r > REGISTERS) return undefined;
  }
  return r === REGISTERS ? regs : undefined;
}

/** A dense HYLL value for `regs`, with `card` cached (undefined: cache invalid). */
function dense(regs: Uint8Array, card: bigint | undefined): Buffer {
  const out = Buffer.alloc(DENSE_BYTES);
  out.write('HYLL', 0, 'latin1');
  for (let r = 0; r < REGISTERS; r++) {
    const v = regs[r]!;
    const byte = HDR + ((r * BITS) >> 3);
    const fb = (r * BITS) & 7;
    out[byte] = out[byte]! | ((v << fb) & 0xff);
    if (byte + 1 < out.length) out[byte + 1] = out[byte + 1]! | (v >> (8 - fb));
  }
  if (card === undefined) out[15] = 0x80;
  else out.writeBigUInt64LE(card, 8);
  return out;
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let prev: number;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (prev !== z);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let prev: number;
  do {
    x = Math.sqrt(x);
    prev = z;
    y *= 0.5;
    z -= (1 - x) ** 2 * y;
  } while (prev !== z);
  return z / 3;
}

/** Ertl's estimator over the register histogram, as Redis's hllCount. */
function estimate(regs: Uint8Array): bigint {
  const m = REGISTERS;
  const histo = new Array<number>(64).fill(0);
  for (const r of regs) histo[r]!++;
  let z = m * tau((m - histo[Q + 1]!) / m);
  for (let j = Q; j >= 1; j--) {
    z += histo[j]!;
    z *= 0.5;
  }
  z += m * sigma(histo[0]! / m);
  return BigInt(Math.round((ALPHA_INF * m * m) / z));
}

function getHll(ctx: DataContext, key: string): { value: Buffer; regs: Uint8Array } | undefined {
  const value = getString(ctx, key);
  if (value === undefined) return undefined;
  const regs = registers(value);
  if (regs === undefined) throw new ReplyError(INVALID);
  return { value, regs };
}

function store(ctx: DataContext, key: string, existed: boolean, value: Buffer): void {
  ctx.engine.put(key, { type: 'string', value }, existed ? (ctx.engine.expiresAt(key) ?? 0) : 0);
}

const pfadd: DataHandler = (ctx, args, w) => {
  const key = k(args[1]!);
  const cur = getHll(ctx, key);
  const regs = cur?.regs ?? new Uint8Array(REGISTERS);
  let changed = cur === undefined;
  for (let i = 2; i < args.length; i++) {
    const { index, count } = patLen(args[i]!);
    if (count > regs[index]!) {
      regs[index] = count;
      changed = true;
    }
  }
  if (changed) store(ctx, key, cur !== undefined, dense(regs, undefined));
  w.integer(changed ? 1 : 0);
};

const pfcount: DataHandler = (ctx, args, w) => {
  if (args.length === 2) {
    const key = k(args[1]!);
    const cur = getHll(ctx, key);
    if (cur === undefined) return w.integer(0);
    // A valid cached estimate answers at once; otherwise compute it and cache it in the value.
    if ((cur.value[15]! & 0x80) === 0) return w.integer(cur.value.readBigUInt64LE(8));
    const card = estimate(cur.regs);
    store(ctx, key, true, dense(cur.regs, card));
    return w.integer(card);
  }
  const merged = new Uint8Array(REGISTERS);
  for (let i = 1; i < args.length; i++) {
    const cur = getHll(ctx, k(args[i]!));
    if (cur !== undefined) for (let r = 0; r < REGISTERS; r++) if (cur.regs[r]! > merged[r]!) merged[r] = cur.regs[r]!;
  }
  w.integer(estimate(merged));
};

const pfmerge: DataHandler = (ctx, args, w) => {
  const merged = new Uint8Array(REGISTERS);
  const dest = k(args[1]!);
  const destCur = getHll(ctx, dest);
  for (let i = 1; i < args.length; i++) {
    const cur = i === 1 ? destCur : getHll(ctx, k(args[i]!));
    if (cur !== undefined) for (let r = 0; r < REGISTERS; r++) if (cur.regs[r]! > merged[r]!) merged[r] = cur.regs[r]!;
  }
  store(ctx, dest, destCur !== undefined, dense(merged, undefined));
  w.ok();
};

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const HLL_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  pfadd: [-2, ['write'], pfadd, 1, 1],
  pfcount: [-2, ['write'], pfcount, 1, -1],
  pfmerge: [-2, ['write'], pfmerge, 1, -1],
};
