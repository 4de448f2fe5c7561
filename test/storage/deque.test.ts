// The list deque against an array model: any sequence of pushes and pops at both ends, index reads and
// writes, slices and replacements gives the array's results (across chunk boundaries, sealed middle chunks
// and the chunk ring's wrap-around and growth).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Deque, LIST_LIMITS } from '../../src/storage/deque.js';

type Op = { op: 'pushFront' | 'pushBack'; v: string; times: number } | { op: 'popFront' | 'popBack'; times: number } | { op: 'set'; i: number; v: string } | { op: 'replace'; vs: string[] } | { op: 'slice'; a: number; b: number };

describe('Deque', () => {
  it('behaves as an array for any sequence of operations', () => {
    // Runs of pushes and pops (up to 3 chunks' worth) so that chunks fill, seal, empty and reopen.
    const times = fc.integer({ min: 1, max: 3 * LIST_LIMITS.chunkElements });
    const el = fc.oneof(fc.string({ maxLength: 3 }), fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u).toString('latin1')));
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constantFrom('pushFront' as const, 'pushBack' as const), v: el, times }),
      fc.record({ op: fc.constantFrom('popFront' as const, 'popBack' as const), times }),
      fc.record({ op: fc.constant('set' as const), i: fc.nat(600), v: el }),
      fc.record({ op: fc.constant('replace' as const), vs: fc.array(el, { maxLength: 150 }) }),
      fc.record({ op: fc.constant('slice' as const), a: fc.integer({ min: -2, max: 600 }), b: fc.integer({ min: -2, max: 600 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const d = new Deque<string>();
        const model: string[] = [];
        for (const o of ops) {
          if (o.op === 'pushFront' || o.op === 'pushBack') {
            for (let t = 0; t < o.times; t++) {
              const v = `${o.v}${t}`;
              if (o.op === 'pushFront') {
                d.pushFront(v);
                model.unshift(v);
              } else {
                d.pushBack(v);
                model.push(v);
              }
            }
          } else if (o.op === 'popFront' || o.op === 'popBack') {
            for (let t = 0; t < o.times; t++) expect(o.op === 'popFront' ? d.popFront() : d.popBack()).toBe(o.op === 'popFront' ? model.shift() : model.pop());
          } else if (o.op === 'set') {
            if (o.i < model.length) {
              d.set(o.i, o.v);
              model[o.i] = o.v;
            }
          } else if (o.op === 'replace') {
            d.replace(o.vs);
            model.splice(0, model.length, ...o.vs);
          } else if (o.op === 'slice') expect(d.slice(o.a, o.b)).toEqual(model.slice(Math.max(0, o.a), Math.max(0, o.b)));
          expect(d.length).toBe(model.length);
        }
        expect([...d]).toEqual(model);
        model.forEach((v, i) => expect(d.at(i)).toBe(v));
        expect(d.at(-1)).toBeUndefined();
        expect(d.at(model.length)).toBeUndefined();
      }),
    );
  });

  it('pushes a million elements at the head in linear time', () => {
    const d = new Deque<string>();
    const t0 = performance.now();
    for (let i = 0; i < 1_000_000; i++) d.pushFront(String(i));
    for (let i = 0; i < 1_000_000; i++) d.popBack();
    expect(d.length).toBe(0);
    // An unshift-based list needs minutes for this; the deque well under a second on any machine CI runs.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});
