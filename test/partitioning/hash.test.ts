// Stable hashing: known vectors, string/bytes agreement, UTF-8 ordering and Redis slots.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareUtf8, hash32, keySlot, murmur3Bytes, murmur3String } from '../../src/partitioning/index.js';

const enc = new TextEncoder();
/** No lone surrogates (String#isWellFormed is ES2024, newer than our lib target). */
const wellFormed = (s: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

describe('murmur3 x86_32', () => {
  it('matches published vectors', () => {
    expect(murmur3String('', 0)).toBe(0);
    expect(murmur3String('', 1)).toBe(0x514e28b7);
    expect(murmur3String('hello', 0)).toBe(613153351);
    expect(murmur3String('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723);
    expect(murmur3Bytes(new Uint8Array([0x21, 0x43, 0x65, 0x87]), 0)).toBe(0xf55b516b);
    expect(murmur3Bytes(new Uint8Array([0x21, 0x43, 0x65]), 0)).toBe(0x7e4a8634);
  });

  it('hashes a string exactly as its UTF-8 bytes, for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.integer({ min: 0, max: 0xffffffff }), (s, seed) => {
        expect(murmur3String(s, seed)).toBe(murmur3Bytes(enc.encode(s), seed));
        expect(hash32(s, seed)).toBe(hash32(enc.encode(s), seed));
      }),
      { numRuns: 2000 },
    );
  });

  it('returns unsigned 32-bit integers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const h = murmur3Bytes(b);
        expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
      }),
    );
  });
});

describe('compareUtf8', () => {
  it('agrees with byte order of the UTF-8 encodings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }), (a, b) => {
        const expected = Math.sign(Buffer.compare(Buffer.from(enc.encode(a)), Buffer.from(enc.encode(b))));
        // Lone surrogates encode to U+FFFD, so only compare well-formed strings.
        fc.pre(wellFormed(a) && wellFormed(b));
        expect(Math.sign(compareUtf8(a, b))).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('keySlot', () => {
  it('matches Redis Cluster slots, honouring hash tags', () => {
    expect(keySlot('123456789')).toBe(0x31c3 & 16383);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
    expect(keySlot('{}foo')).not.toBe(keySlot('')); // empty tag: whole key hashed
    expect(keySlot(enc.encode('foo'))).toBe(12182);
  });
});
