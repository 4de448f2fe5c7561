// Stable hash functions over a key's UTF-8 bytes: the same key gives the same number in every process,
// on every platform, in Node and in browsers. Never a runtime's object hash, which is not stable.
import clusterKeySlot from 'cluster-key-slot';

/** A key as clients send it: text (hashed as UTF-8) or raw bytes. Equal bytes hash equally. */
export type KeyInput = string | Uint8Array;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const utf8 = new TextEncoder();

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3 finaliser: a fast, well-mixed 32-bit bijection. Also used to derive seeds. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function tail(h: number, k: number, len: number): number {
  if (len & 3) h ^= mixK(k);
  h ^= len;
  return fmix32(h);
}

/** MurmurHash3 x86_32 over bytes. */
export function murmur3Bytes(bytes: Uint8Array, seed = 0): number {
  let h = seed | 0;
  const len = bytes.length;
  const whole = len & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    h = mixH(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  let k = 0;
  for (let shift = 0; i < len; i++, shift += 8) k |= bytes[i]! << shift;
  return tail(h, k, len);
}

/**
 * MurmurHash3 x86_32 over a string's UTF-8 bytes. ASCII strings (the common case for keys) are hashed
 * straight from their char codes without allocating; any other string is encoded first, so the result
 * always equals murmur3Bytes(utf8(key)).
 */
export function murmur3String(key: string, seed = 0): number {
  let h = seed | 0;
  const len = key.length;
  const whole = len & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    const a = key.charCodeAt(i);
    const b = key.charCodeAt(i + 1);
    const c = key.charCodeAt(i + 2);
    const d = key.charCodeAt(i + 3);
    if ((a | b | c | d) > 0x7f) return murmur3Bytes(utf8.encode(key), seed);
    h = mixH(h, a | (b << 8) | (c << 16) | (d << 24));
  }
  let k = 0;
  for (let shift = 0; i < len; i++, shift += 8) {
    const c = key.charCodeAt(i);
    if (c > 0x7f) return murmur3Bytes(utf8.encode(key), seed);
    k |= c << shift;
  }
  return tail(h, k, len);
}

/** MurmurHash3 x86_32 of a key (string as UTF-8, or bytes), unsigned. */
export function hash32(key: KeyInput, seed = 0): number {
  return typeof key === 'string' ? murmur3String(key, seed) : murmur3Bytes(key, seed);
}

/** Number of Redis Cluster hash slots. */
export const REDIS_SLOT_COUNT = 16384;

/**
 * Redis Cluster slot of a key: CRC16 (XMODEM) of the key, or of the first non-empty `{hash tag}`, mod 16384,
 * exactly as Redis computes it (via the cluster-key-slot package).
 */
export function keySlot(key: KeyInput): number {
  // A Buffer goes as it is (no view allocated per call: this runs for every command a cluster node routes).
  return clusterKeySlot(typeof key === 'string' || Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength));
}

/** UTF-8 byte order of two strings, without encoding them (what LMDB and Redis use to order keys). */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 and UTF-8 orders disagree only between surrogates (code points >= 0x10000) and U+E000..U+FFFF.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}
