// The compatibility suite: a real `atoll start` process driven by ioredis and Debian's redis-cli (replies,
// error texts, TTLs, protocol errors, auth, shutdown by signal), run once per storage engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';
import { startNode, type RunningNode } from '../helpers-process.js';

/** Registers the whole suite against nodes started with `--engine <engine>` (LMDB in a fresh temp dir each). */
export function nodeSuite(engine: 'memory' | 'lmdb'): void {
  const dirs: string[] = [];
  const engineArgs = (): string[] => {
    if (engine === 'memory') return [];
    const dir = mkdtempSync(join(tmpdir(), 'atoll-node-'));
    dirs.push(dir);
    return ['--engine', 'lmdb', '--data-dir', dir, '--durability', 'batched'];
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  let node: RunningNode;
  let redis: Redis;

  beforeAll(async () => {
    node = await startNode(engineArgs());
    redis = new Redis({ port: node.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
  });

  afterAll(async () => {
    redis?.disconnect();
    expect(await node.stop()).toBe(0);
    expect(node.output()).toMatch(/node stopped/);
  });

  async function errorOf(p: Promise<unknown>): Promise<string> {
    try {
      await p;
    } catch (e) {
      return (e as Error).message;
    }
    return 'no error';
  }

  function cli(...args: string[]): string {
    const r = spawnSync('redis-cli', ['-p', String(node.port), ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.error) throw r.error;
    return r.stdout.trim();
  }

  describe(`atoll start (${engine} engine) with ioredis`, () => {
    it('strings', async () => {
      expect(await redis.set('s', 'v')).toBe('OK');
      expect(await redis.set('', 'empty key')).toBe('OK');
      expect(await redis.get('')).toBe('empty key');
      expect(await redis.del('')).toBe(1);
      expect(await redis.get('s')).toBe('v');
      expect(await redis.set('s', 'w', 'NX')).toBeNull();
      expect(await redis.set('s', 'w', 'XX', 'GET')).toBe('v');
      expect(await redis.set('missing', 'x', 'XX')).toBeNull();
      expect(await redis.setnx('s', 'z')).toBe(0);
      expect(await redis.mset('m1', 'a', 'm2', 'b')).toBe('OK');
      expect(await redis.mget('m1', 'm2', 'nope')).toEqual(['a', 'b', null]);
      expect(await redis.msetnx('m1', 'x', 'm3', 'y')).toBe(0);
      expect(await redis.getset('m1', 'c')).toBe('a');
      expect(await redis.getdel('m1')).toBe('c');
      expect(await redis.exists('m1')).toBe(0);
      expect(await redis.append('ap', 'Hello')).toBe(5);
      expect(await redis.append('ap', ' World')).toBe(11);
      expect(await redis.strlen('ap')).toBe(11);
      expect(await redis.getrange('ap', 0, 4)).toBe('Hello');
      expect(await redis.getrange('ap', -5, -1)).toBe('World');
      expect(await redis.getrange('ap', 5, 2)).toBe('');
      expect(await redis.setrange('ap', 6, 'Redis')).toBe(11);
      expect(await redis.get('ap')).toBe('Hello Redis');
      expect(await redis.setrange('pad', 3, 'x')).toBe(4);
      expect(await redis.getBuffer('pad')).toEqual(Buffer.from([0, 0, 0, 120]));
      expect(await redis.incr('n')).toBe(1);
      expect(await redis.incrby('n', 10)).toBe(11);
      expect(await redis.decr('n')).toBe(10);
      expect(await redis.decrby('n', 20)).toBe(-10);
      await redis.set('f', '10.50');
      expect(await redis.incrbyfloat('f', '0.1')).toBe('10.6');
      expect(await redis.incrbyfloat('f', '-5')).toBe('5.6');
      await redis.set('f2', '5.0e3');
      expect(await redis.incrbyfloat('f2', '2.0e2')).toBe('5200');
    });

    it('string error replies match Redis', async () => {
      await redis.set('word', 'abc');
      expect(await errorOf(redis.incr('word'))).toBe('ERR value is not an integer or out of range');
      expect(await errorOf(redis.incrby('n', 'x'))).toBe('ERR value is not an integer or out of range');
      await redis.set('max', '9223372036854775807');
      expect(await errorOf(redis.incr('max'))).toBe('ERR increment or decrement would overflow');
      expect(await errorOf(redis.incrbyfloat('word', '1'))).toBe('ERR value is not a valid float');
      expect(await errorOf(redis.set('k', 'v', 'EX', 0))).toBe("ERR invalid expire time in 'set' command");
      expect(await errorOf(redis.call('set', 'k', 'v', 'NX', 'XX'))).toBe('ERR syntax error');
      expect(await errorOf(redis.call('get'))).toBe("ERR wrong number of arguments for 'get' command");
      expect(await errorOf(redis.call('nosuch', 'a', 'b'))).toBe("ERR unknown command 'nosuch', with args beginning with: 'a' 'b' ");
      await redis.hset('hh', 'f', 'v');
      expect(await errorOf(redis.get('hh'))).toBe('WRONGTYPE Operation against a key holding the wrong kind of value');
      expect(await errorOf(redis.setrange('k2', -1, 'x'))).toBe('ERR offset is out of range');
      expect(await errorOf(redis.call('select', '1'))).toBe('ERR DB index is out of range');
    });

    it('keys and TTLs', async () => {
      await redis.set('t', 'v', 'PX', 200);
      const pttl = await redis.pttl('t');
      expect(pttl).toBeGreaterThan(100);
      expect(pttl).toBeLessThanOrEqual(200);
      expect(await redis.ttl('t')).toBe(0);
      expect(await redis.ttl('nokey')).toBe(-2);
      await redis.set('p', 'v');
      expect(await redis.ttl('p')).toBe(-1);
      expect(await redis.expire('p', 100)).toBe(1);
      expect(await redis.call('expire', 'p', '50', 'GT')).toBe(0);
      expect(await redis.call('expire', 'p', '50', 'LT')).toBe(1);
      expect(await redis.ttl('p')).toBe(50);
      expect(await redis.persist('p')).toBe(1);
      expect(await redis.ttl('p')).toBe(-1);
      expect(await redis.pexpireat('p', Date.now() + 100_000)).toBe(1);
      expect(await redis.expireat('p', Math.floor(Date.now() / 1000) - 10)).toBe(1);
      expect(await redis.exists('p')).toBe(0);
      await redis.set('kt', 'v', 'EX', 100);
      await redis.set('kt', 'w', 'KEEPTTL');
      expect(await redis.ttl('kt')).toBeGreaterThan(90);
      await redis.set('kt', 'x');
      expect(await redis.ttl('kt')).toBe(-1);
      expect(await redis.call('getex', 'kt', 'EX', '30')).toBe('x');
      expect(await redis.ttl('kt')).toBe(30);
      expect(await redis.call('getex', 'kt', 'PERSIST')).toBe('x');
      expect(await redis.ttl('kt')).toBe(-1);
      await new Promise((r) => setTimeout(r, 250));
      expect(await redis.get('t')).toBeNull();
      expect(await redis.type('kt')).toBe('string');
      expect(await redis.type('hh')).toBe('hash');
      expect(await redis.type('nokey')).toBe('none');
      expect(await redis.rename('kt', 'kt2')).toBe('OK');
      expect(await redis.renamenx('kt2', 's')).toBe(0);
      expect(await errorOf(redis.rename('nokey', 'x'))).toBe('ERR no such key');
      expect(await redis.del('kt2', 'nokey')).toBe(1);
      expect(await redis.unlink('s')).toBe(1);
    });

    it('SCAN, KEYS, RANDOMKEY, DBSIZE, FLUSHDB', async () => {
      await redis.flushdb();
      for (let i = 0; i < 250; i++) await redis.set(`scan:${i}`, 'v');
      await redis.hset('scanhash', 'a', '1');
      const seen = new Set<string>();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', 'scan:*', 'COUNT', 37);
        keys.forEach((k) => seen.add(k));
        cursor = next;
      } while (cursor !== '0');
      expect(seen.size).toBe(250);
      expect((await redis.scan('0', 'COUNT', 1000, 'TYPE', 'hash'))[1]).toEqual(['scanhash']);
      expect((await redis.keys('scan:1?')).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `scan:1${i}`).sort());
      expect(await redis.dbsize()).toBe(251);
      expect(await redis.randomkey()).toMatch(/^scan/);
      expect(await errorOf(redis.scan('abc'))).toBe('ERR invalid cursor');
      expect(await redis.flushdb()).toBe('OK');
      expect(await redis.dbsize()).toBe(0);
      expect(await redis.randomkey()).toBeNull();
    });

    it('hashes', async () => {
      expect(await redis.hset('h', 'a', '1', 'b', '2')).toBe(2);
      expect(await redis.hset('h', 'a', '3', 'c', '4')).toBe(1);
      expect(await redis.hget('h', 'a')).toBe('3');
      expect(await redis.hmget('h', 'a', 'zz', 'c')).toEqual(['3', null, '4']);
      expect(await redis.hgetall('h')).toEqual({ a: '3', b: '2', c: '4' });
      expect(await redis.hlen('h')).toBe(3);
      expect(await redis.hkeys('h')).toEqual(['a', 'b', 'c']);
      expect(await redis.hvals('h')).toEqual(['3', '2', '4']);
      expect(await redis.hexists('h', 'b')).toBe(1);
      expect(await redis.hsetnx('h', 'b', 'x')).toBe(0);
      expect(await redis.hincrby('h', 'n', 5)).toBe(5);
      expect(await redis.hincrbyfloat('h', 'fl', '1.5')).toBe('1.5');
      expect(await errorOf(redis.hincrby('h', 'fl', 1))).toBe('ERR hash value is not an integer');
      expect(await redis.hdel('h', 'a', 'b', 'zz')).toBe(2);
      const [cursor, flat] = await redis.hscan('h', '0', 'COUNT', 100);
      expect(cursor).toBe('0');
      expect(flat).toEqual(['c', '4', 'n', '5', 'fl', '1.5']);
      expect(await redis.hmset('h2', 'x', '1')).toBe('OK');
      await redis.hdel('h2', 'x');
      expect(await redis.exists('h2')).toBe(0);
      expect(await errorOf(redis.call('hset', 'h', 'odd'))).toBe("ERR wrong number of arguments for 'hset' command");
    });

    it('server commands: PING, ECHO, TIME, INFO, CONFIG, CLIENT, COMMAND, HELLO 3', async () => {
      expect(await redis.ping()).toBe('PONG');
      expect(await redis.ping('hi')).toBe('hi');
      expect(await redis.echo('e')).toBe('e');
      const [sec] = await redis.time();
      expect(Math.abs(Number(sec) - Date.now() / 1000)).toBeLessThan(5);
      expect(await redis.info('keyspace')).toMatch(/# Keyspace/);
      expect(await redis.info()).toMatch(/redis_version:7/);
      expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      if (engine === 'memory') {
        expect(await redis.config('SET', 'maxmemory-policy', 'allkeys-lru')).toBe('OK');
        expect(await errorOf(redis.config('SET', 'maxmemory-policy', 'bogus'))).toMatch(/must be one of/);
      } else {
        // Eviction belongs to the cache engine; LMDB refuses the setting rather than ignoring it.
        expect(await errorOf(redis.config('SET', 'maxmemory-policy', 'allkeys-lru'))).toMatch(/Unknown option/);
      }
      expect(await redis.client('SETNAME', 'tester')).toBe('OK');
      expect(await redis.client('GETNAME')).toBe('tester');
      expect(await redis.client('LIST')).toMatch(/name=tester/);
      expect(Number(await redis.client('ID'))).toBeGreaterThan(0);
      expect(await redis.command('COUNT')).toBeGreaterThan(60);
      const hello = (await redis.call('hello', '3')) as unknown[];
      expect(hello).toContain('proto');
      expect(await redis.call('hgetall', 'h')).toBeTruthy();
      await redis.call('hello', '2');
    });

    it('pipelines many commands in one write', async () => {
      const p = redis.pipeline();
      for (let i = 0; i < 2000; i++) p.set(`pl:${i}`, String(i));
      for (let i = 0; i < 2000; i++) p.get(`pl:${i}`);
      const res = await p.exec();
      expect(res!.slice(2000).map(([, v]) => v)).toEqual(Array.from({ length: 2000 }, (_, i) => String(i)));
    });
  });

  describe('atoll start with redis-cli', () => {
    it('answers redis-cli, including inline and RESP3 modes', () => {
      expect(cli('ping')).toBe('PONG');
      expect(cli('set', 'cli', 'hello world')).toBe('OK');
      expect(cli('get', 'cli')).toBe('hello world');
      expect(cli('-3', 'hset', 'clih', 'f', 'v')).toBe('(integer) 1'.replace('(integer) ', ''));
      expect(cli('--no-raw', 'ttl', 'cli')).toBe('(integer) -1');
      expect(cli('--no-raw', 'get', 'nokey')).toBe('(nil)');
      expect(cli('nosuch')).toMatch(/ERR unknown command 'nosuch'/);
    });
  });

  describe('protocol errors and limits', () => {
    function rawExchange(port: number, payload: string): Promise<{ data: string; closed: boolean }> {
      return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        let data = '';
        s.on('data', (d) => (data += d.toString('latin1')));
        s.on('close', () => resolve({ data, closed: true }));
        s.on('connect', () => s.write(payload));
        setTimeout(() => {
          s.destroy();
          resolve({ data, closed: false });
        }, 1500);
      });
    }

    it('malformed frames get -ERR Protocol error and a closed connection; others are unaffected', async () => {
      const r = await rawExchange(node.port, '*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n');
      expect(r.data).toBe("-ERR Protocol error: expected '$', got 'f'\r\n");
      expect(r.closed).toBe(true);
      const big = await rawExchange(node.port, '*20000000\r\n');
      expect(big.data).toBe('-ERR Protocol error: invalid multibulk length\r\n');
      expect(await redis.ping()).toBe('PONG');
    });

    it('inline commands work over a raw socket', async () => {
      const r = await rawExchange(node.port, 'PING\r\nECHO "a b"\r\nQUIT\r\n');
      expect(r.data).toBe('+PONG\r\n$3\r\na b\r\n+OK\r\n');
      expect(r.closed).toBe(true);
    });
  });

  describe('requirepass', () => {
    it('refuses commands before AUTH with NOAUTH and accepts the password', async () => {
      const secured = await startNode(['--requirepass', 's3cret', ...engineArgs()]);
      const run = (...args: string[]) => spawnSync('redis-cli', ['-p', String(secured.port), ...args], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();
      expect(run('get', 'x')).toBe('NOAUTH Authentication required.');
      expect(run('auth', 'wrong')).toMatch(/WRONGPASS invalid username-password pair or user is disabled\./);
      expect(run('-a', 's3cret', '--no-auth-warning', 'set', 'x', '1')).toBe('OK');
      const c = new Redis({ port: secured.port, password: 's3cret', lazyConnect: true, maxRetriesPerRequest: 0 });
      await c.connect();
      expect(await c.get('x')).toBe('1');
      c.disconnect();
      expect(await secured.stop()).toBe(0);
    });
  });
}
