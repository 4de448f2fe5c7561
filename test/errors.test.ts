// The error table in src/errors.ts and the one in docs/errors.md list the same codes.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, PartitioningError, UsageError, assert } from '../src/errors.js';

describe('error table', () => {
  it('docs/errors.md documents exactly the codes in ERROR_CODES, with the same meaning', () => {
    const doc = readFileSync(join(import.meta.dirname, '../docs/errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
    expect(rows.map((r) => r[0]).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, meaning] of rows) expect(meaning).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES]);
  });

  it('typed errors carry their code; broken invariants are plain Errors', () => {
    const e = new PartitioningError('BAD_WEIGHT', 'w');
    expect(e.code).toBe('BAD_WEIGHT');
    expect(new UsageError('x').code).toBe('USAGE');
    expect(() => assert(false, 'boom')).toThrow(/invariant broken: boom/);
    expect(() => assert(1 + 1 === 2, 'fine')).not.toThrow();
  });
});
