// Bit commands differentially against redis-server: SETBIT, GETBIT, BITCOUNT and BITPOS with BYTE and BIT
// ranges, BITOP, BITFIELD and BITFIELD_RO with every overflow policy, errors included; random sequences.
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);

describe('bit commands against redis-server', () => {
  it('reply exactly as redis-server, errors included', async () => {
    const script: string[][] = [
      ['FLUSHALL'], ['SET', 's', 'foobar'], ['HSET', 'h', 'f', 'v'], ['SET', 'ttl', 'x', 'EX', '100'],
      ['SETBIT', 'b', '7', '1'], ['SETBIT', 'b', '7', '0'], ['SETBIT', 'b', '100', '1'], ['GET', 'b'], ['STRLEN', 'b'],
      ['SETBIT', 'b', '-1', '1'], ['SETBIT', 'b', 'x', '1'], ['SETBIT', 'b', '1', '2'], ['SETBIT', 'b', '4294967296', '1'], ['SETBIT', 'h', '1', '1'],
      ['SETBIT', 'ttl', '1', '1'], ['TTL', 'ttl'],
      ['GETBIT', 'b', '100'], ['GETBIT', 'b', '99'], ['GETBIT', 'b', '100000'], ['GETBIT', 'nokey', '1'], ['GETBIT', 'h', '1'], ['GETBIT', 'b', '-1'],
      ['BITCOUNT', 's'], ['BITCOUNT', 's', '1', '1'], ['BITCOUNT', 's', '-2', '-1'], ['BITCOUNT', 's', '5', '30', 'BIT'], ['BITCOUNT', 's', '1'],
      ['BITCOUNT', 's', '0', '-1', 'FOO'], ['BITCOUNT', 'nokey'], ['BITCOUNT', 's', '3', '1'], ['BITCOUNT', 'h'], ['BITCOUNT', 's', 'x', '1'],
      ['SET', 'p', '\u00ff\u00f0\u0000'], ['BITPOS', 'p', '0'], ['BITPOS', 'p', '1', '2'], ['BITPOS', 'p', '0', '1', '-1'], ['BITPOS', 'p', '1', '7', '15', 'BIT'],
      ['SET', 'ones', '\u00ff\u00ff'], ['BITPOS', 'ones', '0'], ['BITPOS', 'ones', '0', '0', '-1'], ['BITPOS', 'nokey', '1'], ['BITPOS', 'nokey', '0'], ['BITPOS', 'p', '2'],
      ['BITPOS', 'p', '1', '0', '-1', 'BYTE'], ['BITPOS', 'p', '1', '5', '1'],
      ['BITOP', 'AND', 'dest', 's', 'p'], ['GET', 'dest'], ['BITOP', 'OR', 'dest', 's', 'nokey'], ['GET', 'dest'], ['BITOP', 'XOR', 'dest', 's', 'p', 'ones'], ['GET', 'dest'],
      ['BITOP', 'NOT', 'dest', 's'], ['GET', 'dest'], ['BITOP', 'NOT', 'dest', 's', 'p'], ['BITOP', 'NAND', 'dest', 's'], ['BITOP', 'AND', 'dest', 'nokey'], ['EXISTS', 'dest'],
      ['BITOP', 'AND', 'dest', 'h'],
      ['BITFIELD', 'bf', 'SET', 'i8', '0', '100', 'GET', 'i8', '0', 'INCRBY', 'i8', '0', '100', 'GET', 'u4', '0'],
      ['BITFIELD', 'bf', 'OVERFLOW', 'SAT', 'INCRBY', 'i8', '0', '100', 'OVERFLOW', 'FAIL', 'INCRBY', 'i8', '0', '1', 'OVERFLOW', 'WRAP', 'INCRBY', 'u2', '#3', '7'],
      ['BITFIELD', 'bf', 'SET', 'u8', '#1', '300', 'GET', 'u8', '8', 'SET', 'i64', '64', '-5', 'GET', 'i64', '64', 'GET', 'u63', '1'],
      ['BITFIELD', 'bf', 'GET', 'u64', '0'], ['BITFIELD', 'bf', 'GET', 'i65', '0'], ['BITFIELD', 'bf', 'GET', 'x8', '0'], ['BITFIELD', 'bf', 'GET', 'i8', '-1'],
      ['BITFIELD', 'bf', 'OVERFLOW', 'BAD'], ['BITFIELD', 'bf', 'SET', 'i8', '0', 'x'], ['BITFIELD', 'bf', 'FOO'], ['BITFIELD', 'bf'], ['BITFIELD', 'nokey', 'GET', 'i8', '0'],
      ['EXISTS', 'nokey'], ['BITFIELD', 'h', 'GET', 'i8', '0'], ['GET', 'bf'],
      ['BITFIELD_RO', 'bf', 'GET', 'i8', '0', 'GET', 'u16', '#1'], ['BITFIELD_RO', 'bf', 'SET', 'i8', '0', '1'],
      ['BITFIELD', 'sat', 'OVERFLOW', 'SAT', 'SET', 'u8', '0', '-5', 'SET', 'i8', '8', '1000', 'INCRBY', 'u8', '0', '-1'],
    ];
    for (const args of script) await same(args);
  });

  it('a random sequence of bit commands gives redis-server\'s replies', async () => {
    const key = fc.constantFrom('a', 'b');
    const off = fc.integer({ min: 0, max: 40 });
    const cmd = fc.oneof(
      fc.tuple(key, off, fc.constantFrom('0', '1')).map(([k, o, b]) => ['SETBIT', k, String(o), b]),
      fc.tuple(key, off).map(([k, o]) => ['GETBIT', k, String(o)]),
      fc.tuple(key, fc.integer({ min: -6, max: 6 }), fc.integer({ min: -6, max: 6 }), fc.constantFrom('BYTE', 'BIT')).map(([k, a, b, u]) => ['BITCOUNT', k, String(a), String(b), u]),
      fc.tuple(key, fc.constantFrom('0', '1'), fc.integer({ min: -6, max: 6 })).map(([k, b, s]) => ['BITPOS', k, b, String(s)]),
      fc.tuple(fc.constantFrom('AND', 'OR', 'XOR'), key, key).map(([op, a, b]) => ['BITOP', op, 'a', a, b]),
      fc.tuple(key, fc.constantFrom('i5', 'u7', 'i16', 'u3'), off, fc.integer({ min: -300, max: 300 }), fc.constantFrom('WRAP', 'SAT', 'FAIL')).map(([k, t, o, v, p]) => ['BITFIELD', k, 'OVERFLOW', p, 'INCRBY', t, String(o), String(v), 'GET', t, String(o)]),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 25 }), async (cmds) => {
        await all(['FLUSHALL']);
        for (const args of cmds) await same(args);
        await same(['MGET', 'a', 'b']);
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 40) },
    );
  }, 600_000);
});
