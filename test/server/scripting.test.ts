// Lua scripting differentially against redis-server: EVAL/EVALSHA/EVAL_RO and SCRIPT replies, Redis's
// conversions both ways (integers, bulk and nil, status and error tables, nested arrays, booleans, floats
// truncated), redis.call errors raised with the script's position, redis.pcall, cjson, cmsgpack, bit,
// sha1hex, refused commands, NOSCRIPT; writes made by scripts survive an LMDB restart.
import { describe, expect, it } from 'vitest';
import { norm, useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);
const ev = (body: string, ...rest: string[]): string[] => ['EVAL', body, ...(rest.length === 0 ? ['0'] : rest)];

const SCRIPT: string[][] = [
  ['FLUSHALL'], ['SET', 'str', 'abc'], ['SCRIPT', 'FLUSH'],
  ev('return 1'), ev('return 3.99'), ev('return -3.7'), ev('return 0.5'), ev('return true'), ev('return false'), ev('return nil'),
  ev("return 'x'"), ev("return {1, 2, {3, 'x'}, nil, 5}"), ev("return {1, 2, 3, '4', false, 6}"), ev('return {1,{2,{3,{4}}}}'),
  ev("return {err='oops'}"), ev("return {err='-X y'}"), ev("return redis.error_reply('MY bad')"), ev("return redis.error_reply('-X bad')"),
  ev("return redis.status_reply('FINE')"), ev("return {ok='x'}"), ev('return {}'),
  ev("return redis.call('incr', 'str')"), ev("return redis.pcall('incr', 'str')"), ev("return {redis.pcall('get', 'str')}"),
  ev("return redis.call('nosuch')"), ev("return redis.call('get')"), ev("return redis.call('multi')"), ev("error('boom')"),
  ev("local x = 1\nreturn redis.call('incr', 'str')"),
  ev("return redis.call('set', KEYS[1], ARGV[1])", '1', 'k1', 'v1'), ev("return redis.call('get', KEYS[1])", '1', 'k1'),
  ev('return #KEYS .. #ARGV', '1', 'k', 'a', 'b'), ev('return {KEYS[1], ARGV[2]}', '1', 'k', 'a', 'b'),
  ev("return redis.call('get', 'nokey')"), ev("return type(redis.call('get', 'nokey'))"), ev("return redis.call('ping')"),
  ev("return redis.call('hgetall', 'nokey')"), ev("redis.call('hset', 'h', 'a', '1', 'b', '2') return redis.call('hgetall', 'h')"),
  ev("return redis.call('incrby', 'n', 5) + 1"), ev("return redis.call('zadd', 'z', 1.5, 'm')"), ev("return redis.call('zscore', 'z', 'm')"),
  ev("return cjson.encode({1, 2, 'x'})"), ev("return cjson.decode('[1,2,{\"x\":3}]')[3].x"), ev("return cjson.decode('{\"a\":[1,2]}').a[2]"),
  ev("return cmsgpack.unpack(cmsgpack.pack({1, 2, 'x'}))[3]"), ev("return redis.sha1hex('abc')"), ev('return redis.sha1hex("")'),
  ev('return bit.band(12, 10)'), ev('return bit.bor(12, 10)'), ev('return bit.bxor(12, 10)'), ev('return bit.lshift(1, 4)'), ev('return bit.tohex(255)'),
  ev('return unpack({1, 2})'), ev("return loadstring('return 1')()"), ev("return string.format('%d', 3)"), ev('return math.floor(7.5)'),
  ev("return table.concat({'a', 'b'}, ',')"), ev('return string.rep("ab", 3)'), ev("return #('x'):rep(10)"),
  ['EVAL', 'return 1', 'x'], ['EVAL', 'return 1', '-1'], ['EVAL', 'return 1', '2', 'a'], ['EVAL', 'return +', '0'],
  ['EVALSHA', 'ffffffffffffffffffffffffffffffffffffffff', '0'], ['SCRIPT', 'LOAD', "return 'hi'"], ['EVALSHA', '9ae3404f835710586d306ab6a09e833c312d93e3', '0'],
  ['EVALSHA', '9AE3404F835710586D306AB6A09E833C312D93E3', '0'],
  ['SCRIPT', 'EXISTS', '9ae3404f835710586d306ab6a09e833c312d93e3', 'ffff'], ['SCRIPT', 'KILL'], ['SCRIPT', 'FOO'], ['SCRIPT', 'FLUSH', 'BAD'],
  ['SCRIPT', 'FLUSH'], ['SCRIPT', 'EXISTS', '9ae3404f835710586d306ab6a09e833c312d93e3'],
  ['EVAL_RO', "return redis.call('get', 'str')", '0'], ['EVAL_RO', "return redis.call('set', 'a', '1')", '0'], ['EXISTS', 'a'],
  ['MULTI'], ev("return redis.call('incr', 'cnt')"), ['EXEC'],
  ev("return redis.call('blpop', 'nolist', 0)"),
];

describe('scripting against redis-server', () => {
  it('EVAL, EVALSHA, EVAL_RO and SCRIPT reply exactly as redis-server', async () => {
    for (const args of SCRIPT) await same(args);
  }, 60_000);

  it('FUNCTION LOAD/LIST/DELETE/FLUSH and FCALL/FCALL_RO reply exactly as redis-server', async () => {
    const lib = "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return redis.call('get', keys[1]) end)\nredis.register_function{function_name='ro', callback=function(keys, args) return args[1] end, flags={'no-writes'}}";
    const script: string[][] = [
      ['FUNCTION', 'FLUSH'], ['SET', 'k', 'v'], ['FUNCTION', 'LOAD', lib], ['FUNCTION', 'LOAD', lib], ['FUNCTION', 'LOAD', 'REPLACE', lib],
      ['FUNCTION', 'LOAD', 'return 1'], ['FUNCTION', 'LOAD', '#!py name=e3\nx'], ['FUNCTION', 'LOAD', "#!lua name=e5\nredis.register_function('myfunc', function() return 1 end)"],
      ['FUNCTION', 'LOAD', "#!lua name=e4\nredis.register_function('bad name', function() return 1 end)"], ['FUNCTION', 'LOAD', '#!lua name=e6\nlocal x = 1'],
      ['FCALL', 'myfunc', '1', 'k'], ['FCALL', 'ro', '0', 'hello'], ['FCALL_RO', 'ro', '0', 'hi'], ['FCALL_RO', 'myfunc', '1', 'k'], ['FCALL', 'nosuch', '0'], ['FCALL', 'myfunc', 'x'],
      ['FUNCTION', 'LOAD', "#!lua name=e7\nredis.register_function('boom', function() return redis.call('incr', 'k') end)"], ['FCALL', 'boom', '0'],
      ['FUNCTION', 'DELETE', 'e7'], ['FUNCTION', 'LIST'], ['FUNCTION', 'LIST', 'WITHCODE'], ['FUNCTION', 'DELETE', 'nosuch'], ['FUNCTION', 'FLUSH'], ['FUNCTION', 'LIST'],
    ];
    // FUNCTION LIST names a library's functions in Redis's hash-table order: compared sorted.
    const sortFunctions = (v: unknown): unknown =>
      Array.isArray(v) ? v.map((lib) => (Array.isArray(lib) ? lib.map((x, i) => (lib[i - 1] === 'functions' && Array.isArray(x) ? [...x].map((f) => JSON.stringify(f)).sort() : x)) : lib)) : v;
    for (const args of script) {
      if (args[0] !== 'FUNCTION' || args[1] !== 'LIST') await same(args);
      else {
        const r = await all(args);
        expect({ memory: sortFunctions(r.memory), lmdb: sortFunctions(r.lmdb) }).toEqual({ memory: sortFunctions(r.redis), lmdb: sortFunctions(r.redis) });
      }
    }
  });

  it('FUNCTION STATS, DUMP and RESTORE (FLUSH, APPEND, REPLACE) reply as redis-server (each restoring its own payload)', async () => {
    const lib = "#!lua name=dumped\nredis.register_function('d1', function() return 1 end)\nredis.register_function('d2', function() return 2 end)";
    for (const args of [['FUNCTION', 'FLUSH'], ['FUNCTION', 'STATS'], ['FUNCTION', 'LOAD', lib], ['FUNCTION', 'STATS'], ['FUNCTION', 'STATS', 'x'], ['FUNCTION', 'DUMP', 'x'], ['FUNCTION', 'RESTORE'],
      ['FUNCTION', 'RESTORE', 'not-a-payload'], ['FUNCTION', 'RESTORE', 'not-a-payload', 'BAD'], ['FUNCTION', 'RESTORE', 'x', 'REPLACE', 'extra']]) await same(args);
    // Payloads are each server's own format (Atoll's is not Redis's RDB): each restores its own.
    const replies: Record<string, unknown[]> = {};
    for (const [name, c] of trio().clients) {
      const dump = (await c.send(['FUNCTION', 'DUMP'])) as Buffer;
      const out: unknown[] = [];
      for (const cmd of [['RESTORE', dump], ['RESTORE', dump, 'APPEND'], ['RESTORE', dump, 'REPLACE'], ['FLUSH'], ['RESTORE', dump], ['RESTORE', dump, 'FLUSH'], ['STATS']] as (string | Buffer)[][]) {
        out.push(norm(await c.send(['FUNCTION', ...cmd]), false));
      }
      out.push(norm(await c.send(['FCALL', 'd2', '0']), false));
      // A damaged payload is refused and changes nothing.
      const bad = Buffer.from(dump);
      bad[2] = bad[2]! ^ 0xff;
      out.push(norm(await c.send(['FUNCTION', 'RESTORE', bad, 'FLUSH']), false), norm(await c.send(['FUNCTION', 'STATS']), false));
      replies[name] = out;
    }
    expect(replies.memory).toEqual(replies.redis);
    expect(replies.lmdb).toEqual(replies.redis);
  });

  it('a script\'s writes survive an LMDB restart', async () => {
    await all(ev("for i = 1, 10 do redis.call('rpush', KEYS[1], i) end return redis.call('llen', KEYS[1])", '1', 'scripted'));
    await trio().restartLmdb();
    await same(['LRANGE', 'scripted', '0', '-1']);
  }, 30_000);

  it('a script that runs past the time limit without writing is stopped; the node keeps serving', async () => {
    const c = trio().clients.get('memory')!;
    const t0 = Date.now();
    const r = await c.send(['EVAL', 'while true do end', '0']);
    expect(String((r as Error).message)).toMatch(/^BUSY Script ran longer than 5000 ms/);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(await c.send(['PING'])).toBe('PONG');
  }, 20_000);
});
