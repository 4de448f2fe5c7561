// The list deque against an array model: any sequence of pushes and pops at both ends, index reads and
// writes, slices and replacements gives the array's results (across ring-buffer wrap-around and growth).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Deque } from '../../src/storage/deque.js';

type Op = { op: 'pushFront' | 'pushBack'; v: number } | { op: 'popFront' | 'popBack' } | { op: 'set'; i: number; v: number } | { op: 'replace'; vs: number[] } | { op: 'slice'; a: number; b: number };

describe('Deque', () => {
  it('behaves as an array for any sequence of operations', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constantFrom('pushFront' as const, 'pushBack' as const), v: fc.integer() }),
      fc.record({ op: fc.constantFrom('popFront' as const, 'popBack' as const) }),
      fc.record({ op: fc.constant('set' as const), i: fc.nat(40), v: fc.integer() }),
      fc.record({ op: fc.constant('replace' as const), vs: fc.array(fc.integer(), { maxLength: 20 }) }),
      fc.record({ op: fc.constant('slice' as const), a: fc.integer({ min: -2, max: 40 }), b: fc.integer({ min: -2, max: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const d = new Deque<number>();
        const model: number[] = [];
        for (const o of ops) {
          if (o.op === 'pushFront') {
            d.pushFront(o.v);
            model.unshift(o.v);
          } else if (o.op === 'pushBack') {
            d.pushBack(o.v);
            model.push(o.v);
          } else if (o.op === 'popFront') expect(d.popFront()).toBe(model.shift());
          else if (o.op === 'popBack') expect(d.popBack()).toBe(model.pop());
          else if (o.op === 'set') {
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
    const d = new Deque<number>();
    const t0 = performance.now();
    for (let i = 0; i < 1_000_000; i++) d.pushFront(i);
    for (let i = 0; i < 1_000_000; i++) d.popBack();
    expect(d.length).toBe(0);
    // An unshift-based list needs minutes for this; the deque well under a second on any machine CI runs.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});
