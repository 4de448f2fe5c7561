// A linearizability checker for key-value histories (get / put / del / cas per key), after Wing & Gong with
// Lowe's memoisation as in Porcupine. Keys are checked independently (linearizability is local). Operations
// whose outcome is unknown (timeouts, lost connections) may take effect at any point after their call, or
// never: they get an infinite return time and an unconstrained result.
import { strict as assert } from 'node:assert';

export type KvInput = { kind: 'get' } | { kind: 'put'; value: string } | { kind: 'del' } | { kind: 'cas'; expected: string | null; value: string };

/** What the operation returned: a read value, a CAS verdict, or nothing for writes. */
export type KvOutput = { value: string | null } | { ok: boolean } | Record<string, never>;

export interface KvOperation {
  readonly client: number;
  readonly key: string;
  readonly input: KvInput;
  /** Absent when the outcome is unknown. */
  readonly output?: KvOutput;
  readonly callMs: number;
  /** Absent when the outcome is unknown (the operation may still take effect, at any later time). */
  readonly returnMs?: number;
}

export const LINEARIZABILITY_LIMITS = Object.freeze({
  /** Search steps per key before giving up with an 'unknown' verdict (bounded work on pathological histories). */
  stepsMax: 20_000_000,
});

export type KeyVerdict = { key: string; result: 'ok' | 'unknown'; operations: number } | { key: string; result: 'violation'; operations: number; longestPrefix: KvOperation[] };

export interface CheckResult {
  readonly ok: boolean;
  /** True when some key hit the step bound: neither proven nor refuted. */
  readonly incomplete: boolean;
  readonly keys: KeyVerdict[];
}

type State = string | null;

/** The register model: does `op` fit in state `s`, and what state follows? */
function step(s: State, op: KvOperation): { ok: boolean; next: State } {
  const out = op.output;
  switch (op.input.kind) {
    case 'get':
      return { ok: out === undefined || ('value' in out && out.value === s), next: s };
    case 'put':
      return { ok: true, next: op.input.value };
    case 'del':
      return { ok: true, next: null };
    case 'cas': {
      const matches = s === op.input.expected;
      if (out === undefined) return { ok: true, next: matches ? op.input.value : s };
      const ok = 'ok' in out && out.ok === matches;
      return { ok, next: matches ? op.input.value : s };
    }
  }
}

interface Entry {
  readonly op: number;
  readonly call: boolean;
  readonly timeMs: number;
  /** The matching call/return entry. */
  match?: Entry;
  prev?: Entry;
  next?: Entry;
}

function lift(e: Entry): void {
  // Removes a call entry and its return from the list.
  e.prev!.next = e.next;
  if (e.next) e.next.prev = e.prev;
  const r = e.match!;
  r.prev!.next = r.next;
  if (r.next) r.next.prev = r.prev;
}

function unlift(e: Entry): void {
  const r = e.match!;
  r.prev!.next = r;
  if (r.next) r.next.prev = r;
  e.prev!.next = e;
  if (e.next) e.next.prev = e;
}

/** Checks one key's operations. */
export function checkKey(key: string, ops: readonly KvOperation[], initial: State = null): KeyVerdict {
  const n = ops.length;
  if (n === 0) return { key, result: 'ok', operations: 0 };
  const entries: Entry[] = [];
  ops.forEach((op, i) => {
    assert(op.returnMs === undefined || op.returnMs >= op.callMs, `operation returns before it is called: ${JSON.stringify(op)}`);
    const call: Entry = { op: i, call: true, timeMs: op.callMs };
    const ret: Entry = { op: i, call: false, timeMs: op.returnMs ?? Number.POSITIVE_INFINITY, match: call };
    call.match = ret;
    entries.push(call, ret);
  });
  // Calls sort before returns at equal times: touching operations count as concurrent.
  entries.sort((a, b) => a.timeMs - b.timeMs || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const head: Entry = { op: -1, call: true, timeMs: Number.NEGATIVE_INFINITY };
  let prev = head;
  for (const e of entries) {
    e.prev = prev;
    prev.next = e;
    prev = e;
  }

  const words = Math.ceil(n / 32);
  const linearized = new Uint32Array(words);
  const cache = new Map<string, Set<State>>();
  const seen = (s: State): boolean => {
    const k = linearized.join(',');
    let set = cache.get(k);
    if (set === undefined) {
      set = new Set();
      cache.set(k, set);
    }
    if (set.has(s)) return true;
    set.add(s);
    return false;
  };
  const stack: { entry: Entry; state: State }[] = [];
  let state: State = initial;
  let entry = head.next;
  let steps = 0;
  let longest: number[] = [];
  while (head.next !== undefined) {
    if (++steps > LINEARIZABILITY_LIMITS.stepsMax) return { key, result: 'unknown', operations: n };
    if (entry === undefined) break;
    if (entry.call) {
      const r = step(state, ops[entry.op]!);
      const bit = 1 << (entry.op % 32);
      const w = entry.op >> 5;
      if (r.ok) {
        linearized[w]! |= bit;
        if (!seen(r.next)) {
          stack.push({ entry, state });
          state = r.next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[w]! &= ~bit;
      }
      entry = entry.next;
    } else {
      // A return whose operation could not be placed: undo the last choice.
      if (stack.length > longest.length) longest = stack.map((s) => s.entry.op);
      const top = stack.pop();
      if (top === undefined) {
        return { key, result: 'violation', operations: n, longestPrefix: longest.map((i) => ops[i]!) };
      }
      state = top.state;
      linearized[top.entry.op >> 5]! &= ~(1 << (top.entry.op % 32));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { key, result: 'ok', operations: n };
}

/** Checks a whole history, key by key. Every key starts absent unless `initial` says otherwise. */
export function checkHistory(ops: readonly KvOperation[], initial: ReadonlyMap<string, string> = new Map()): CheckResult {
  const byKey = new Map<string, KvOperation[]>();
  for (const op of ops) {
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }
  const keys = [...byKey].map(([key, list]) => checkKey(key, list, initial.get(key) ?? null));
  return { ok: keys.every((k) => k.result === 'ok'), incomplete: keys.some((k) => k.result === 'unknown'), keys };
}

/** Records operations as a workload runs: `invoke` at the call, then `ok`, `fail` (did not happen) or `unknown`. */
export class HistoryRecorder {
  readonly operations: KvOperation[] = [];
  /** Operations that definitely did not take effect (e.g. -MOVED before execution): left out of the check. */
  failed = 0;

  constructor(private readonly nowMs: () => number) {}

  invoke(client: number, key: string, input: KvInput): { ok(output: KvOutput): void; fail(): void; unknown(): void } {
    const callMs = this.nowMs();
    let done = false;
    const finish = (): boolean => {
      assert(!done, 'an operation was completed twice');
      done = true;
      return true;
    };
    return {
      ok: (output) => finish() && void this.operations.push({ client, key, input, output, callMs, returnMs: this.nowMs() }),
      fail: () => finish() && void this.failed++,
      unknown: () => finish() && void this.operations.push({ client, key, input, callMs }),
    };
  }
}
