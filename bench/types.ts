// Data types benchmark: Debian's redis-benchmark list and set tests (and MSET) against `atoll start` (memory
// engine) and redis-server, alternated in one run, at -P 1 and -P 16; and memory per element of a 1M-element
// list and set (each server's resident memory grown by loading it, the same measure for both).
// `npm run bench -- types [--quick]`
import { readFileSync } from 'node:fs';
import { RespClient } from '../src/client/resp-client.js';
import { formatTable, progress, writeResults } from './lib.js';
import { runBenchmark, startAtoll, startRedis, type Measured, type Target } from './server.js';

const TESTS = 'lpush,rpush,lpop,rpop,sadd,spop,lrange_100,mset';

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** Resident bytes per element added by a `count`-element list and set of 10-byte elements. */
async function bytesPerElement(t: Target, count: number): Promise<{ list: number; set: number }> {
  const c = await RespClient.connect('127.0.0.1', t.port);
  try {
    await c.send(['FLUSHALL']);
    const out: Record<string, number> = {};
    for (const [kind, cmd] of [['list', 'RPUSH'], ['set', 'SADD']] as const) {
      const before = rssBytes(t.pid);
      for (let i = 0; i < count; i += 1000) await c.send([cmd, `big-${kind}`, ...Array.from({ length: 1000 }, (_, j) => `e${String(i + j).padStart(9, '0')}`)]);
      out[kind] = (rssBytes(t.pid) - before) / count;
    }
    return { list: out.list!, set: out.set! };
  } finally {
    c.close();
  }
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const requests = quick ? 50_000 : 200_000;
  const elements = quick ? 200_000 : 1_000_000;
  const redis = await startRedis();
  const atoll = await startAtoll([]);
  const rows: { pipeline: number; test: string; atoll: Measured; redis: Measured }[] = [];
  let memory: { atoll: { list: number; set: number }; redis: { list: number; set: number } };
  try {
    for (const pipeline of [1, 16]) {
      progress(`-P ${pipeline}`);
      const flags = ['-t', TESTS, '-n', String(requests), '-c', '50', '-P', String(pipeline)];
      const pick = (a: Measured[], b: Measured[]): Measured[] => a.map((m, k) => (m.rps >= b[k]!.rps ? m : b[k]!));
      const r = pick(runBenchmark(redis, flags, requests), runBenchmark(redis, flags, requests));
      const a = pick(runBenchmark(atoll, flags, requests), runBenchmark(atoll, flags, requests));
      r.forEach((m, k) => rows.push({ pipeline, test: m.test, atoll: a[k]!, redis: m }));
    }
    progress(`memory per element (${elements} elements)`);
    memory = { redis: await bytesPerElement(redis, elements), atoll: await bytesPerElement(atoll, elements) };
  } finally {
    for (const t of [redis, atoll]) t.child.kill('SIGTERM');
  }
  const table = formatTable(
    ['test', 'P', 'atoll ops/s', 'redis ops/s', 'ratio', 'atoll p99 ms', 'redis p99 ms'],
    rows.map((r) => [r.test, r.pipeline, Math.round(r.atoll.rps), Math.round(r.redis.rps), r.atoll.rps / r.redis.rps, r.atoll.p99Ms, r.redis.p99Ms]),
  );
  const mem = formatTable(
    ['type', 'atoll B/element', 'redis B/element', 'ratio'],
    (['list', 'set'] as const).map((k) => [k, Math.round(memory.atoll[k]), Math.round(memory.redis[k]), memory.atoll[k] / memory.redis[k]]),
  );
  process.stdout.write(`\nredis-benchmark -t ${TESTS} -n ${requests} -c 50 (better of 2 runs each; Atoll memory engine)\n${table}\n\nresident memory per element, ${elements} elements of 10 bytes\n${mem}\n`);
  process.stdout.write(`\nwrote ${writeResults('types', { requests, elements, rows, memory })}\n`);
}
