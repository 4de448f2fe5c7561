// Shared test helpers: typed-error expectations and movement checks.
import { expect } from 'vitest';
import { AtollError } from '../src/errors.js';

/** Runs fn and checks it throws an AtollError with the given stable code. */
export function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected an error with code ${code}`).toBeInstanceOf(AtollError);
  expect((thrown as AtollError).code).toBe(code);
}

/** Indices whose owner changed between `from` and `to` without `to` being `only`: should be none. */
export function strays(from: readonly string[], to: readonly string[], only: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < from.length; i++) if (from[i] !== to[i] && to[i] !== only) out.push(i);
  return out;
}

export const names = (n: number, prefix = 'n'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
