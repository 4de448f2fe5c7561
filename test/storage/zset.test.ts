// The sorted set's skip list against a model (a sorted array of [score, member]): after any sequence of adds,
// score updates and removals, order, rank, rank lookup, score and lex ranges and backward links agree.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ZSet, type LexRange, type ScoreRange } from '../../src/storage/zset.js';

type Model = Map<string, number>;

const sorted = (m: Model): [string, number][] => [...m].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

function check(z: ZSet, m: Model): void {
  const want = sorted(m);
  expect([...z.entries()]).toEqual(want);
  expect(z.size).toBe(want.length);
  want.forEach(([member, score], i) => {
    expect(z.rank(member)).toBe(i);
    expect(z.at(i)?.member).toBe(member);
    expect(z.score(member)).toBe(score);
  });
  expect(z.at(want.length)).toBeNull();
  // Backward links walk the same order in reverse.
  const back: string[] = [];
  for (let n = z.last(); n !== null; n = n.backward) back.push(n.member);
  expect(back).toEqual(want.map(([member]) => member).reverse());
}

const op = fc.oneof(
  fc.tuple(fc.constant('add' as const), fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', ''), fc.integer({ min: -5, max: 5 })),
  fc.tuple(fc.constant('rem' as const), fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', ''), fc.constant(0)),
);

describe('ZSet skip list', () => {
  it('agrees with a sorted-array model after random edits', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const z = new ZSet();
        const m: Model = new Map();
        for (const [kind, member, score] of ops) {
          if (kind === 'add') {
            expect(z.add(member, score)).toBe(!m.has(member));
            m.set(member, score);
          } else {
            expect(z.remove(member)).toBe(m.delete(member));
          }
        }
        check(z, m);
      }),
      { numRuns: 300 },
    );
  });

  it('score and lex ranges find the first and last members inside, as a filter of the model does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer({ min: -3, max: 3 })), { maxLength: 20 }),
        fc.integer({ min: -4, max: 4 }),
        fc.integer({ min: -4, max: 4 }),
        fc.boolean(),
        fc.boolean(),
        (entries, min, max, minEx, maxEx) => {
          const z = new ZSet(entries);
          const m: Model = new Map(entries);
          const r: ScoreRange = { min, max, minEx, maxEx };
          const inside = sorted(m).filter(([, s]) => (minEx ? s > min : s >= min) && (maxEx ? s < max : s <= max));
          expect(z.firstInRange(r)?.member ?? null).toBe(inside[0]?.[0] ?? null);
          expect(z.lastInRange(r)?.member ?? null).toBe(inside.at(-1)?.[0] ?? null);
        },
      ),
      { numRuns: 300 },
    );
    const lex = new ZSet(['a', 'b', 'c', 'd'].map((x) => [x, 0] as const));
    const r = (min: LexRange['min'], max: LexRange['max']): [string | null, string | null] => [lex.firstInLex({ min, max })?.member ?? null, lex.lastInLex({ min, max })?.member ?? null];
    expect(r('-', '+')).toEqual(['a', 'd']);
    expect(r({ value: 'b', ex: true }, { value: 'd', ex: true })).toEqual(['c', 'c']);
    expect(r({ value: 'b', ex: false }, { value: 'b', ex: false })).toEqual(['b', 'b']);
    expect(r({ value: 'b', ex: true }, { value: 'b', ex: false })).toEqual([null, null]);
    expect(r('+', '-')).toEqual([null, null]);
  });

  it('keeps rank lookups logarithmic at 200,000 members', () => {
    const z = new ZSet();
    for (let i = 0; i < 200_000; i++) z.add(`m${i}`, i % 1000);
    const t = performance.now();
    for (let i = 0; i < 10_000; i++) {
      const r = (i * 7919) % 200_000;
      expect(z.rank(z.at(r)!.member)).toBe(r);
    }
    // 10,000 lookups each way; a linear walk would take minutes.
    expect(performance.now() - t).toBeLessThan(2_000);
  }, 60_000);
});
