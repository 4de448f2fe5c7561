// Replication deltas (src/storage/journal.ts, delta.ts): random changes to a list, set, hash, sorted set and
// stream while the journal is armed give a delta that turns a copy of the value before into the value after
// (compared by their whole wire form); a copy of another size refuses it; values made or re-bound in the window
// give no delta (they replicate whole).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyDelta, deltaOf } from '../../src/storage/delta.js';
import type { StoredValue } from '../../src/storage/engine.js';
import { fingerprintOf, journal, JournaledMap, JournaledSet } from '../../src/storage/journal.js';
import { MemoryEngine } from '../../src/storage/memory.js';
import { Deque } from '../../src/storage/deque.js';
import { Stream, streamId } from '../../src/storage/stream.js';
import { ZSet } from '../../src/storage/zset.js';
import { fromWire, toWire } from '../../src/storage/wire.js';

const clock = { nowMs: () => 1_000 };
const member = fc.constantFrom('a', 'b', 'c', 'd', 'é', '\u00ff', 'long-member-name');

/** Deltas applied so far (each property must exercise many). */
let applied = 0;

/** A value's wire form with set members and hash fields sorted (their order is not part of their value). */
function canonical(v: StoredValue): unknown {
  const w = toWire('k', v, 0);
  if (w[1] === 'S') return [...(w[2] as Buffer[])].map(String).sort();
  if (w[1] === 'h') {
    const flat = w[2] as Buffer[];
    return Array.from({ length: flat.length / 2 }, (_, i) => `${String(flat[2 * i])}=${String(flat[2 * i + 1])}`).sort();
  }
  return w;
}

/** A copy of a value through its wire form (what a follower holds). */
const copy = (v: StoredValue): StoredValue => fromWire(toWire('k', v, 0)).value;

/** Leader value, follower copy, the changes under the armed journal, the delta applied: equal after. */
function roundTrip(initial: StoredValue, change: (v: StoredValue) => void): void {
  const leader = new MemoryEngine({ clock });
  const follower = new MemoryEngine({ clock });
  leader.put('k', initial, 0);
  follower.put('k', copy(initial), 0);
  const v = leader.get('k')!;
  journal.arm();
  let delta;
  try {
    change(v);
    delta = deltaOf('k', v, 0);
  } finally {
    journal.disarm();
  }
  if (delta === undefined) return; // nothing recorded (no change, or too many): replicated whole instead
  applied++;
  expect(applyDelta(follower, delta)).toBe(true);
  expect(toWire('k', follower.get('k')!, 0)).toEqual(toWire('k', v, 0));
  // Applied twice (a copy that already holds it): lists and streams refuse by their fingerprint; the ops of
  // sets, hashes and sorted sets are idempotent, so a second application changes nothing.
  // (Sets and hashes may then iterate in another order: compared as sets, as Redis's replies are.)
  // A list or stream whose changes left its length and ends as they were (push 'a', pop the front of [x, x, a])
  // cannot tell: the replicator's log positions, not the fingerprint, keep a delta from being applied twice.
  const unchangedEnds = (v.type === 'list' || v.type === 'stream') && JSON.stringify(fingerprintOf(v.value, v.value.length)) === JSON.stringify(delta[3]);
  const again = applyDelta(follower, delta);
  if (again && !unchangedEnds) expect(canonical(follower.get('k')!)).toEqual(canonical(v));
}

describe('replication deltas', () => {
  it('lists: pushes, pops, sets and replacements', () => {
    const op = fc.oneof(fc.tuple(fc.constantFrom('<', '>'), member), fc.constant(['^'] as const), fc.constant(['v'] as const), fc.tuple(fc.constant('='), fc.nat(20), member), fc.tuple(fc.constant('R'), fc.array(member, { maxLength: 5 })));
    fc.assert(
      fc.property(fc.array(member, { maxLength: 10 }), fc.array(op, { maxLength: 30 }), (items, ops) => {
        roundTrip({ type: 'list', value: new Deque(items) }, (v) => {
          const l = (v as { value: Deque<string> }).value;
          for (const o of ops) {
            if (o[0] === '<') l.pushFront(o[1] as string);
            else if (o[0] === '>') l.pushBack(o[1] as string);
            else if (o[0] === '^') l.popFront();
            else if (o[0] === 'v') l.popBack();
            else if (o[0] === '=' && (o[1] as number) < l.length) l.set(o[1] as number, o[2] as string);
            else if (o[0] === 'R') l.replace(o[1] as string[]);
          }
        });
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 300) },
    );
    expect(applied).toBeGreaterThan(100);
    applied = 0;
  });

  it('sets, hashes and sorted sets: adds, removals, score changes and clears', () => {
    const op = fc.tuple(fc.constantFrom('+', '-', '0'), member, fc.double({ noNaN: true, min: -1e6, max: 1e6 }));
    fc.assert(
      fc.property(fc.array(member, { maxLength: 6 }), fc.array(op, { maxLength: 30 }), (members, ops) => {
        roundTrip({ type: 'set', value: new JournaledSet(members) }, (v) => {
          const s = (v as { value: Set<string> }).value;
          for (const [o, m] of ops) {
            if (o === '+') s.add(m);
            else if (o === '-') s.delete(m);
            else s.clear();
          }
        });
        roundTrip({ type: 'hash', value: new JournaledMap(members.map((m) => [m, Buffer.from(`v-${m}`)])) }, (v) => {
          const h = (v as { value: Map<string, Buffer> }).value;
          for (const [o, m, x] of ops) {
            if (o === '+') h.set(m, Buffer.from(String(x)));
            else if (o === '-') h.delete(m);
            else h.clear();
          }
        });
        roundTrip({ type: 'zset', value: new ZSet(members.map((m, i) => [m, i])) }, (v) => {
          const z = (v as { value: ZSet }).value;
          for (const [o, m, x] of ops) if (o === '+') z.add(m, x); else z.remove(m);
        });
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 300) },
    );
    expect(applied).toBeGreaterThan(100);
    applied = 0;
  });

  it('streams: appends, deletions, trims and consumer groups', () => {
    const op = fc.oneof(fc.tuple(fc.constant('a'), member), fc.tuple(fc.constant('d'), fc.nat(40)), fc.tuple(fc.constant('t'), fc.nat(5)), fc.tuple(fc.constant('g'), member));
    fc.assert(
      fc.property(fc.nat(20), fc.array(op, { maxLength: 30 }), (n, ops) => {
        const s = new Stream();
        for (let i = 1; i <= n; i++) s.append(streamId(BigInt(i), 0n), ['f', `v${i}`]);
        roundTrip({ type: 'stream', value: s }, (v) => {
          const st = (v as { value: Stream }).value;
          for (const o of ops) {
            if (o[0] === 'a') st.append(st.lastId + 1n, ['f', o[1] as string]);
            else if (o[0] === 'd') st.delete([streamId(BigInt(o[1] as number), 0n)]);
            else if (o[0] === 't') st.trimFront(() => true, o[1] as number);
            else st.groups.set(o[1] as string, { lastId: st.lastId, entriesRead: st.entriesAdded, pel: new Map(), consumers: new Map() });
          }
        });
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 300) },
    );
    expect(applied).toBeGreaterThan(100);
    applied = 0;
  });

  it('a copy of another size refuses a delta; values made or re-bound in the window have none', () => {
    const leader = new MemoryEngine({ clock });
    leader.put('k', { type: 'list', value: new Deque(['a', 'b']) }, 0);
    const v = leader.get('k')!;
    journal.arm();
    (v.value as Deque<string>).pushBack('c');
    const delta = deltaOf('k', v, 0)!;
    const made = new Deque<string>(['x']);
    made.pushBack('y');
    leader.put('fresh', { type: 'list', value: made }, 0);
    leader.put('moved', v, 0); // the same object under a second key: replicated whole from now on
    const moved = deltaOf('moved', v, 0);
    const freshDelta = deltaOf('fresh', leader.get('fresh')!, 0);
    journal.disarm();
    expect(freshDelta).toBeUndefined();
    expect(moved).toBeUndefined();
    const follower = new MemoryEngine({ clock });
    follower.put('k', { type: 'list', value: new Deque(['a']) }, 0);
    expect(applyDelta(follower, delta)).toBe(false);
    expect([...(follower.get('k')!.value as Deque<string>)]).toEqual(['a']);
    follower.put('k', { type: 'set', value: new JournaledSet(['a', 'b']) }, 0);
    expect(applyDelta(follower, delta)).toBe(false);
    follower.delete('k');
    expect(applyDelta(follower, delta)).toBe(false);
  });
});
