// Data types benchmark: Debian's redis-benchmark list, set, sorted set and stream tests (and MSET) and an
// EVALSHA workload against `atoll start` (memory engine) and redis-server in one run, at -P 1 and -P 16; memory
// per element of a 1M-element list, set, sorted set and stream (each server's resident memory grown by
// loading it, the same measure for both); ZRANK and ZRANGE latency at 1M members.
// `npm run bench -- types [--quick]`
import { readFileSync } from 'node:fs';
import { RespClient } from '../src/client/resp-client.js';
import { formatTable, progress, writeResults } from './lib.js';
import { runBenchmark, startAtoll, startRedis, type Measured, type Target } from './server.js';

const TESTS = 'lpush,rpush,lpop,rpop,sadd,spop,zadd,zpopmin,lrange_100,mset';

/** The EVALSHA workload: a script that increments a counter and reads it back (two redis.call()s). */
const SCRIPT = "local n = redis.call('INCR', KEYS[1]) return redis.call('GET', KEYS[1]) + n";

type Kind = 'list' | 'set' | 'zset' | 'stream';
const KINDS: readonly Kind[] = ['list', 'set', 'zset', 'stream'];

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** The commands that add 1000 elements (10-byte members; a stream entry has one 10-byte field and value). */
function fill(kind: Kind, key: string, from: number): string[][] {
  const el = (j: number): string => `e${String(from + j).padStart(9, '0')}`;
  const ids = Array.from({ length: 1000 }, (_, j) => j);
  if (kind === 'list') return [['RPUSH', key, ...ids.map(el)]];
  if (kind === 'set') return [['SADD', key, ...ids.map(el)]];
  if (kind === 'zset') return [['ZADD', key, ...ids.flatMap((j) => [String(from + j), el(j)])]];
  return ids.map((j) => ['XADD', key, `${from + j + 1}-1`, 'f', el(j)]);
}

/** Resident bytes per element a `count`-element value adds to a freshly started server (one per kind). */
async function bytesPerElement(start: () => Promise<Target>, count: number): Promise<Record<Kind, number>> {
  const out = {} as Record<Kind, number>;
  for (const kind of KINDS) {
    const t = await start();
    const c = await RespClient.connect('127.0.0.1', t.port);
    try {
      await c.send(['PING']);
      const before = rssBytes(t.pid);
      for (let i = 0; i < count; i += 1000) await Promise.all(fill(kind, `big-${kind}`, i).map((cmd) => c.send(cmd)));
      out[kind] = (rssBytes(t.pid) - before) / count;
    } finally {
      c.close();
      t.child.kill('SIGTERM');
    }
  }
  return out;
}

/** Mean round trip (ms) of ZRANK on random members and of ZRANGE from the middle, on the 1M-member zset. */
async function zsetLatency(t: Target, count: number): Promise<{ zrankMs: number; zrangeMs: number }> {
  const c = await RespClient.connect('127.0.0.1', t.port);
  try {
    const time = async (cmd: (i: number) => string[]): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < 2000; i++) await c.send(cmd(i));
      return (performance.now() - t0) / 2000;
    };
    const member = (i: number): string => `e${String((i * 7919) % count).padStart(9, '0')}`;
    return { zrankMs: await time((i) => ['ZRANK', 'big-zset', member(i)]), zrangeMs: await time((i) => ['ZRANGE', 'big-zset', String((count >> 1) + i), String((count >> 1) + i + 9)]) };
  } finally {
    c.close();
  }
}

/** A command redis-benchmark has no test for, run as a custom command, as one more row. */
function custom(t: Target, pipeline: number, requests: number, name: string, command: string[]): Measured {
  const m = runBenchmark(t, ['-n', String(requests), '-c', '50', '-P', String(pipeline), '-r', '1000', ...command], requests)[0]!;
  return { ...m, test: name };
}

/** EVALSHA through redis-benchmark (the script loaded first). */
async function evalsha(t: Target, pipeline: number, requests: number): Promise<Measured> {
  const c = await RespClient.connect('127.0.0.1', t.port);
  const sha = String(await c.send(['SCRIPT', 'LOAD', SCRIPT]));
  c.close();
  return custom(t, pipeline, requests, 'EVALSHA (INCR+GET)', ['EVALSHA', sha, '1', 'counter:__rand_int__']);
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const requests = quick ? 50_000 : 200_000;
  const elements = quick ? 200_000 : 1_000_000;
  const redis = await startRedis();
  const atoll = await startAtoll([]);
  const rows: { pipeline: number; test: string; atoll: Measured; redis: Measured }[] = [];
  let memory: { atoll: Record<Kind, number>; redis: Record<Kind, number> };
  let latency: { atoll: { zrankMs: number; zrangeMs: number }; redis: { zrankMs: number; zrangeMs: number } };
  try {
    for (const pipeline of [1, 16]) {
      progress(`-P ${pipeline}`);
      const flags = ['-t', TESTS, '-n', String(requests), '-c', '50', '-P', String(pipeline)];
      const pick = (a: Measured[], b: Measured[]): Measured[] => a.map((m, k) => (m.rps >= b[k]!.rps ? m : b[k]!));
      const r = pick(runBenchmark(redis, flags, requests), runBenchmark(redis, flags, requests));
      const a = pick(runBenchmark(atoll, flags, requests), runBenchmark(atoll, flags, requests));
      r.forEach((m, k) => rows.push({ pipeline, test: m.test, atoll: a[k]!, redis: m }));
      const xadd = ['XADD', 'stream:__rand_int__', 'MAXLEN', '~', '1000', '*', 'field', 'value'];
      rows.push({ pipeline, test: 'XADD (MAXLEN ~ 1000)', atoll: custom(atoll, pipeline, requests, 'XADD', xadd), redis: custom(redis, pipeline, requests, 'XADD', xadd) });
      rows.push({ pipeline, test: 'EVALSHA (INCR+GET)', atoll: await evalsha(atoll, pipeline, requests), redis: await evalsha(redis, pipeline, requests) });
    }
    progress(`memory per element (${elements} elements)`);
    memory = { redis: await bytesPerElement(() => startRedis(), elements), atoll: await bytesPerElement(() => startAtoll([]), elements) };
    progress('ZRANK and ZRANGE latency');
    for (const t of [redis, atoll]) {
      const c = await RespClient.connect('127.0.0.1', t.port);
      for (let i = 0; i < elements; i += 1000) await Promise.all(fill('zset', 'big-zset', i).map((cmd) => c.send(cmd)));
      c.close();
    }
    latency = { redis: await zsetLatency(redis, elements), atoll: await zsetLatency(atoll, elements) };
  } finally {
    for (const t of [redis, atoll]) t.child.kill('SIGTERM');
  }
  const table = formatTable(
    ['test', 'P', 'atoll ops/s', 'redis ops/s', 'ratio', 'atoll p99 ms', 'redis p99 ms'],
    rows.map((r) => [r.test, r.pipeline, Math.round(r.atoll.rps), Math.round(r.redis.rps), r.atoll.rps / r.redis.rps, r.atoll.p99Ms, r.redis.p99Ms]),
  );
  const mem = formatTable(
    ['type', 'atoll B/element', 'redis B/element', 'ratio'],
    KINDS.map((k) => [k, Math.round(memory.atoll[k]), Math.round(memory.redis[k]), memory.atoll[k] / memory.redis[k]]),
  );
  const lat = formatTable(
    ['command', 'atoll ms', 'redis ms', 'ratio'],
    (['zrankMs', 'zrangeMs'] as const).map((k) => [k === 'zrankMs' ? 'ZRANK' : 'ZRANGE 10 from the middle', latency.atoll[k], latency.redis[k], latency.atoll[k] / latency.redis[k]]),
  );
  process.stdout.write(`\nredis-benchmark -t ${TESTS} -n ${requests} -c 50 (better of 2 runs each; Atoll memory engine)\n${table}\n\nresident memory per element, ${elements} elements of 10 bytes\n${mem}\n\nround trip at ${elements} members (one client, 2000 calls)\n${lat}\n`);
  process.stdout.write(`\nwrote ${writeResults('types', { requests, elements, rows, memory, latency })}\n`);
}
