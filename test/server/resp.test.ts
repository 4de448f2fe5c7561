// RESP codec pinned byte for byte, Redis's protocol-error texts, and a fuzzer that must never crash it.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError, RespParser, splitInline } from '../../src/server/resp-parser.js';
import { RespWriter } from '../../src/server/resp-writer.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const strs = (cmds: Buffer[][]) => cmds.map((c) => c.map((a) => a.toString('latin1')));

function encode(args: readonly string[]): Buffer {
  return Buffer.concat([b(`*${args.length}\r\n`), ...args.flatMap((a) => [b(`$${Buffer.byteLength(a, 'latin1')}\r\n`), b(a), b('\r\n')])]);
}

function protocolError(input: string, limits = {}): string {
  try {
    new RespParser(limits).feed(b(input));
  } catch (e) {
    if (e instanceof ProtocolError) return e.reply;
    throw e;
  }
  return '';
}

describe('RespParser', () => {
  it('parses multibulk, pipelined and inline requests', () => {
    const p = new RespParser();
    expect(strs(p.feed(b('*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n')))).toEqual([['PING'], ['SET', 'k', '']]);
    expect(strs(p.feed(b('PING\r\nSET a "b c"\n  \r\n')))).toEqual([['PING'], ['SET', 'a', 'b c']]);
    expect(strs(p.feed(b('*0\r\n*-10\r\n\r\nPING\r\n')))).toEqual([['PING']]);
  });

  it('reassembles commands split at every byte boundary', () => {
    const wire = Buffer.concat([encode(['SET', 'key', 'v'.repeat(300)]), encode(['GET', 'key']), b('ECHO "x y"\r\n')]);
    for (let cut = 1; cut < wire.length; cut++) {
      const p = new RespParser();
      const got = [...p.feed(wire.subarray(0, cut)), ...p.feed(wire.subarray(cut))];
      expect(strs(got)).toEqual([['SET', 'key', 'v'.repeat(300)], ['GET', 'key'], ['ECHO', 'x y']]);
      expect(p.bufferedBytes).toBe(0);
    }
  });

  it('waits for a large bulk without re-parsing every chunk', () => {
    const p = new RespParser();
    const big = 'x'.repeat(1 << 20);
    const wire = encode(['SET', 'k', big]);
    let got: Buffer[][] = [];
    for (let i = 0; i < wire.length; i += 65536) got = got.concat(p.feed(wire.subarray(i, i + 65536)));
    expect(got).toHaveLength(1);
    expect(got[0]![2]!.length).toBe(1 << 20);
  });

  it('answers malformed input with Redis’s protocol-error texts', () => {
    expect(protocolError('*20000000\r\n')).toBe('Protocol error: invalid multibulk length');
    expect(protocolError('*x\r\n')).toBe('Protocol error: invalid multibulk length');
    expect(protocolError('*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n')).toBe("Protocol error: expected '$', got 'f'");
    expect(protocolError('*1\r\n$-1\r\n')).toBe('Protocol error: invalid bulk length');
    expect(protocolError('*1\r\n$abc\r\n')).toBe('Protocol error: invalid bulk length');
    expect(protocolError('*1\r\n$600000000\r\n')).toBe('Protocol error: invalid bulk length');
    expect(protocolError('SET "a\r\n')).toBe('Protocol error: unbalanced quotes in request');
    expect(protocolError('x'.repeat(70_000))).toBe('Protocol error: too big inline request');
    expect(protocolError(`*${'1'.repeat(70_000)}`)).toBe('Protocol error: too big mbulk count string');
    expect(protocolError('*1\r\n$5\r\nhello\r\n', { queryBufferBytesMax: 8 })).toBe('Protocol error: query buffer limit exceeded');
  });

  it('before authentication: Redis’s tighter limits, and bytes after an AUTH wait until it has run', () => {
    let authRequired = true;
    const strict = (input: Buffer): string => {
      try {
        new RespParser({}, () => true).feed(input);
      } catch (e) {
        return (e as ProtocolError).reply;
      }
      return '';
    };
    expect(strict(b('*11\r\n'))).toBe('Protocol error: unauthenticated multibulk length');
    expect(strict(b('*2\r\n$16385\r\n'))).toBe('Protocol error: unauthenticated bulk length');
    expect(strict(b('*10\r\n$16384\r\n'))).toBe('');
    const p = new RespParser({}, () => authRequired);
    const big = encode(['SET', 'k', 'v'.repeat(100_000)]);
    // AUTH and a big SET in one write: the SET waits (held) until the AUTH has run, then passes.
    expect(strs(p.feed(Buffer.concat([encode(['AUTH', 'pw']), big.subarray(0, 50)])))).toEqual([['AUTH', 'pw']]);
    expect(p.heldAtAuth).toBe(true);
    expect(p.feed(big.subarray(50))).toEqual([]); // still held: the AUTH has not run
    authRequired = false;
    const after = p.feed(Buffer.alloc(0));
    expect(after.map((c) => c[0]!.toString())).toEqual(['SET']);
    expect(after[0]![2]!.length).toBe(100_000);
    expect(p.heldAtAuth).toBe(false);
    // A failed AUTH: what follows is judged unauthenticated.
    const q = new RespParser({}, () => true);
    expect(strs(q.feed(Buffer.concat([encode(['AUTH', 'wrong']), big])))).toEqual([['AUTH', 'wrong']]);
    expect(() => q.feed(Buffer.alloc(0))).toThrow('Protocol error: unauthenticated bulk length');
  });

  it('never throws anything but ProtocolError on random or mutated input', () => {
    const valid = Buffer.concat([encode(['SET', 'a', 'b']), encode(['HSET', 'h', 'f', 'v']), b('PING\r\n')]);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
          fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }).map((muts) => {
            const copy = Buffer.from(valid);
            for (const [i, v] of muts) copy[i] = v;
            return copy;
          }),
        ),
        fc.integer({ min: 1, max: 50 }),
        (input, chunk) => {
          const p = new RespParser({ inlineBytesMax: 100 });
          try {
            for (let i = 0; i < input.length; i += chunk) p.feed(input.subarray(i, i + chunk));
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
            expect((e as ProtocolError).reply).toMatch(/^Protocol error: /);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('splits inline arguments like sdssplitargs', () => {
    const s = (x: string) => splitInline(b(x))?.map((a) => a.toString('latin1'));
    expect(s('set k "a\\x41\\n" \'it\\\'s\'')).toEqual(['set', 'k', 'aA\n', "it's"]);
    expect(s('"a"b')).toBeUndefined();
    expect(s("'open")).toBeUndefined();
    expect(s('   ')).toEqual([]);
  });
});

describe('RespWriter', () => {
  it('writes any latin1 bulk and any length header as Redis spells them (short strings and small counts take JS paths)', () => {
    const latin1 = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u).toString('latin1'));
    fc.assert(
      fc.property(fc.array(latin1, { maxLength: 20 }), fc.oneof(fc.nat(120), fc.integer({ min: 0, max: 3_000_000 })), (items, n) => {
        const w = new RespWriter(8);
        w.arrayHeader(n);
        for (const x of items) w.bulkLatin1(x);
        // A range of a longer string (a list's packed chunk): its middle, past its first and last characters.
        for (const x of items) w.bulkLatin1(`<${x}>`, 1, x.length);
        const one = items.map((x) => `$${x.length}\r\n${x}\r\n`).join('');
        const want = b(`*${n}\r\n` + one + one);
        expect(w.take().equals(want)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes RESP2 byte for byte', () => {
    const w = new RespWriter(4);
    w.ok();
    w.error('ERR unknown command');
    w.integer(-42);
    w.bulk('héllo');
    w.bulk(Buffer.from([0, 255]));
    w.nil();
    w.nilArray();
    w.mapHeader(1);
    w.double(1.5);
    w.bulkArray(['a', undefined]);
    expect(w.take().toString('latin1')).toBe(
      '+OK\r\n-ERR unknown command\r\n:-42\r\n$6\r\nh\xc3\xa9llo\r\n$2\r\n\x00\xff\r\n$-1\r\n*-1\r\n*2\r\n$3\r\n1.5\r\n*2\r\n$1\r\na\r\n$-1\r\n',
    );
    expect(w.length).toBe(0);
  });

  it('encodes RESP3 types byte for byte', () => {
    const w = new RespWriter();
    w.version = 3;
    w.nil();
    w.nilArray();
    w.mapHeader(2);
    w.setHeader(3);
    w.double(-0.25);
    w.double(Infinity);
    w.verbatim('ab');
    w.error('WRONGTYPE x\r\ny');
    expect(w.take().toString('latin1')).toBe('_\r\n_\r\n%2\r\n~3\r\n,-0.25\r\n,inf\r\n=6\r\ntxt:ab\r\n-WRONGTYPE x y\r\n');
  });
});
