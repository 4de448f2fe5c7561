// The linearizability checker on hand-made histories (linearizable and not, with unknown outcomes), and
// property-tested: histories generated with linearization points inside their intervals always pass; a read
// of a value never written always fails.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkHistory, checkKey, HistoryRecorder, type KvInput, type KvOperation, type KvOutput } from '../../src/testing/linearizability.js';

let client = 0;
const op = (input: KvInput, callMs: number, returnMs: number | undefined, output?: KvOutput, key = 'k'): KvOperation => ({ client: client++, key, input, output: returnMs === undefined ? undefined : (output ?? {}), callMs, returnMs });
const put = (value: string, c: number, r?: number): KvOperation => op({ kind: 'put', value }, c, r);
const get = (value: string | null, c: number, r?: number): KvOperation => op({ kind: 'get' }, c, r, { value });
const cas = (expected: string | null, value: string, ok: boolean, c: number, r?: number): KvOperation => op({ kind: 'cas', expected, value }, c, r, { ok });

const verdict = (ops: KvOperation[]): string => checkKey('k', ops).result;

describe('hand-made histories', () => {
  it('sequential writes and reads', () => {
    expect(verdict([put('a', 0, 1), get('a', 2, 3), put('b', 4, 5), get('b', 6, 7)])).toBe('ok');
    expect(verdict([get(null, 0, 1), put('a', 2, 3), op({ kind: 'del' }, 4, 5), get(null, 6, 7)])).toBe('ok');
  });

  it('a read of a value never written is a violation', () => {
    expect(verdict([put('a', 0, 1), get('z', 2, 3)])).toBe('violation');
  });

  it('a read concurrent with a write may see either value', () => {
    expect(verdict([put('a', 0, 1), put('b', 2, 10), get('a', 3, 4), get('b', 5, 6)])).toBe('ok');
    // ...but once a read saw the new value, a later read may not see the old one.
    expect(verdict([put('a', 0, 1), put('b', 2, 10), get('b', 3, 4), get('a', 5, 6)])).toBe('violation');
  });

  it('a stale read after a completed write is a violation (lost or not-yet-visible write)', () => {
    expect(verdict([put('a', 0, 1), get(null, 2, 3)])).toBe('violation');
    expect(verdict([put('a', 0, 1), put('b', 2, 3), get('a', 4, 5)])).toBe('violation');
  });

  it('an unknown write may take effect late or never, but not flicker', () => {
    expect(verdict([put('a', 0, 1), put('b', 2, undefined), get('a', 5, 6)])).toBe('ok');
    expect(verdict([put('a', 0, 1), put('b', 2, undefined), get('b', 5, 6)])).toBe('ok');
    expect(verdict([put('a', 0, 1), put('b', 2, undefined), get('a', 5, 6), get('b', 7, 8)])).toBe('ok');
    expect(verdict([put('a', 0, 1), put('b', 2, undefined), get('b', 5, 6), get('a', 7, 8)])).toBe('violation');
    // It cannot take effect before it was called.
    expect(verdict([get('b', 0, 1), put('b', 2, undefined)])).toBe('violation');
  });

  it('compare-and-set: two concurrent winners from one state are a violation', () => {
    expect(verdict([cas(null, 'x', true, 0, 5), cas(null, 'y', false, 1, 6), get('x', 7, 8)])).toBe('ok');
    expect(verdict([cas(null, 'x', true, 0, 5), cas(null, 'y', true, 1, 6), get('y', 7, 8)])).toBe('violation');
    expect(verdict([cas(null, 'x', true, 0, 5), cas(null, 'y', true, 1, 6), get('x', 7, 8)])).toBe('violation');
  });

  it('keys are checked independently, and the verdict names the failing key', () => {
    const ops = [op({ kind: 'put', value: '1' }, 0, 1, {}, 'a'), op({ kind: 'get' }, 2, 3, { value: '1' }, 'a'), op({ kind: 'get' }, 2, 3, { value: '9' }, 'b')];
    const r = checkHistory(ops);
    expect(r.ok).toBe(false);
    expect(r.keys.filter((k) => k.result === 'violation').map((k) => k.key)).toEqual(['b']);
    expect(checkHistory(ops, new Map([['b', '9']])).ok).toBe(true);
  });

  it('the recorder keeps unknown outcomes open and leaves failed ones out', () => {
    let now = 0;
    const h = new HistoryRecorder(() => now++);
    h.invoke(1, 'k', { kind: 'put', value: 'a' }).ok({});
    h.invoke(2, 'k', { kind: 'put', value: 'b' }).unknown();
    h.invoke(3, 'k', { kind: 'put', value: 'c' }).fail();
    h.invoke(4, 'k', { kind: 'get' }).ok({ value: 'b' });
    expect(h.operations).toHaveLength(3);
    expect(h.operations[1]!.returnMs).toBeUndefined();
    expect(h.failed).toBe(1);
    expect(checkHistory(h.operations).ok).toBe(true);
  });
});

/** A random concurrent history that is linearizable by construction: each op takes effect inside its interval. */
const linearizableHistory = fc
  .array(fc.record({ start: fc.integer({ min: 0, max: 200 }), len: fc.integer({ min: 0, max: 30 }), at: fc.double({ min: 0, max: 1, noNaN: true }), kind: fc.constantFrom('get', 'put', 'cas', 'del'), v: fc.integer({ min: 0, max: 3 }), unknown: fc.boolean() }), { minLength: 1, maxLength: 14 })
  .map((specs) => {
    const points = specs.map((s, i) => ({ i, point: s.start + s.at * s.len }));
    points.sort((a, b) => a.point - b.point || a.i - b.i);
    let state: string | null = null;
    const ops: KvOperation[] = new Array<KvOperation>(specs.length);
    for (const { i } of points) {
      const s = specs[i]!;
      const unknown = s.unknown && s.kind !== 'get' && s.len > 0;
      let input: KvInput;
      let output: KvOutput;
      if (s.kind === 'get') {
        input = { kind: 'get' };
        output = { value: state };
      } else if (s.kind === 'put') {
        input = { kind: 'put', value: `v${s.v}` };
        output = {};
        state = input.value;
      } else if (s.kind === 'del') {
        input = { kind: 'del' };
        output = {};
        state = null;
      } else {
        const expected = s.v % 2 === 0 ? null : `v${s.v}`;
        input = { kind: 'cas', expected, value: `v${(s.v + 1) % 4}` };
        output = { ok: state === expected };
        if (state === expected) state = input.value;
      }
      ops[i] = { client: i, key: 'k', input, output: unknown ? undefined : output, callMs: s.start, returnMs: unknown ? undefined : s.start + s.len };
    }
    return ops;
  });

describe('properties', () => {
  it('histories with a linearization inside every interval pass', () => {
    fc.assert(
      fc.property(linearizableHistory, (ops) => {
        expect(checkKey('k', ops).result).toBe('ok');
      }),
      { numRuns: 500 },
    );
  });

  it('a completed read of a value nobody wrote fails', () => {
    fc.assert(
      fc.property(linearizableHistory, fc.nat(), (ops, pick) => {
        const reads = ops.map((o, i) => [o, i] as const).filter(([o]) => o.input.kind === 'get' && o.output !== undefined);
        fc.pre(reads.length > 0);
        const [, i] = reads[pick % reads.length]!;
        const bad = ops.map((o, j) => (j === i ? { ...o, output: { value: 'never-written' } } : o));
        expect(checkKey('k', bad).result).toBe('violation');
      }),
      { numRuns: 300 },
    );
  });
});
