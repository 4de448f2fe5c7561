// The stream's columns (src/storage/stream.ts) against a plain array of entries: appends with IDs across the
// whole 128-bit range, deletions, exact and node trims, ranges both ways (to the largest ID), lookups, and the
// packed fields of any length.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STREAM_ID_MAX, STREAM_NODE_ENTRIES, Stream, streamId } from '../../src/storage/stream.js';
import { packStrings, packedBytesIn, packedSize, readPacked, unpackStrings, writePacked } from '../../src/storage/packed.js';

interface ModelEntry {
  id: bigint;
  n: number;
  fields: string[];
}

const latin1 = fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u).toString('latin1'));
const word = fc.oneof(fc.constant(0n), fc.constant((1n << 64n) - 1n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
/** How far the next ID is past the last: next sequence numbers, next milliseconds, jumps across whole words. */
const step = fc.oneof(fc.bigInt({ min: 1n, max: 3n }), fc.constant(1n << 32n), fc.constant(1n << 64n), fc.bigInt({ min: 1n, max: 1n << 100n }));
const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('add' as const), step, fields: fc.array(latin1, { minLength: 2, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('del' as const), pick: fc.nat(), extra: word }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('trim' as const), keep: fc.nat(300), approx: fc.boolean() }) },
);

const plain = (e: { id: bigint; n: number; fields: readonly string[] }): ModelEntry => ({ id: e.id, n: e.n, fields: [...e.fields] });

describe('Stream columns', () => {
  it('behave as a sorted array of entries under appends, deletions and trims', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 400 }), fc.bigInt({ min: 0n, max: STREAM_ID_MAX }), fc.bigInt({ min: 0n, max: STREAM_ID_MAX }), (ops, a, b) => {
        const s = new Stream();
        let model: ModelEntry[] = [];
        let added = 0;
        for (const o of ops) {
          if (o.t === 'add') {
            const id = s.lastId + o.step;
            if (id > STREAM_ID_MAX) continue; // XADD refuses it: the caller checks
            s.append(id, o.fields);
            model.push({ id, n: added++, fields: o.fields });
          } else if (o.t === 'del') {
            const victim = model.length === 0 ? o.extra : model[o.pick % model.length]!.id;
            expect(s.delete([victim])).toBe(model.some((e) => e.id === victim) ? 1 : 0);
            model = model.filter((e) => e.id !== victim);
          } else {
            const removed = s.trimFront((_, length) => length > o.keep, 0, o.approx);
            if (!o.approx) expect(removed).toBe(Math.max(0, model.length - o.keep));
            model = model.slice(removed);
          }
          expect(s.length).toBe(model.length);
        }
        expect([...s].map(plain)).toEqual(model);
        expect(s.fieldBytes).toBe(model.reduce((n, e) => n + e.fields.reduce((m, f) => m + f.length, 0), 0));
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const within = model.filter((e) => e.id >= lo && e.id <= hi);
        expect(s.range(lo, hi, -1, false).map(plain)).toEqual(within);
        expect(s.range(lo, hi, 3, true).map(plain)).toEqual([...within].reverse().slice(0, 3));
        expect(s.range(0n, STREAM_ID_MAX, -1, true).map(plain)).toEqual([...model].reverse());
        for (const e of model) expect(plain(s.get(e.id)!)).toEqual(e);
        expect(s.get(lo)?.id).toBe(model.find((e) => e.id === lo)?.id);
        const from = model[0]?.n ?? 0;
        expect(s.withOrdinals(from, from + STREAM_NODE_ENTRIES).map(plain)).toEqual(model.filter((e) => e.n >= from && e.n < from + STREAM_NODE_ENTRIES));
      }),
      { numRuns: 300 },
    );
  });

  it('packs fields of any length and bytes, long ones included, as a string and as bytes', () => {
    const long = fc.integer({ min: 0, max: 70_000 }).map((n) => 'x'.repeat(n));
    fc.assert(
      fc.property(fc.array(fc.oneof(latin1, long), { maxLength: 6 }), (fields) => {
        expect(unpackStrings(packStrings(fields))).toEqual(fields);
        // The byte form (a stream's buffer), written after 3 bytes of something else.
        const size = packedSize(fields);
        const buf = Buffer.alloc(size + 5);
        expect(writePacked(buf, 3, fields)).toBe(3 + size);
        expect(readPacked(buf, 3, size)).toEqual(fields);
        expect(packedBytesIn(buf, 3, size)).toBe(fields.reduce((n, f) => n + f.length, 0));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a long trimmed stream compact: 100,000 appends under MAXLEN 1,000', () => {
    const s = new Stream();
    for (let i = 1; i <= 100_000; i++) {
      s.append(streamId(BigInt(i), 0n), ['f', `v${i}`]);
      s.trimFront((_, length) => length > 1_000, 0);
    }
    expect(s.length).toBe(1_000);
    expect(s.first()!.id).toBe(streamId(99_001n, 0n));
    expect(s.last()!.fields).toEqual(['f', 'v100000']);
  });
});
