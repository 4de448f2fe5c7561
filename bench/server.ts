// Single-node benchmark: Debian's redis-benchmark against `atoll start` and against redis-server, same
// flags, alternated in one run. Reports ops/s, p50/p99 and server CPU per operation (utime+stime from /proc).
// `npm run bench -- server [--quick]`
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { formatTable, progress, writeResults } from './lib.js';

const ATOLL_BIN = join(import.meta.dirname, '../bin/atoll.js');
const CLOCK_TICKS_PER_SECOND = 100;

export interface Target {
  name: string;
  port: number;
  pid: number;
  child: ChildProcess;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listening on ${port}`);
}

export async function startRedis(extra: readonly string[] = []): Promise<Target> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...extra], { stdio: 'ignore' });
  await waitForPort(port);
  return { name: 'redis-server', port, pid: child.pid!, child };
}

export async function startAtoll(engineArgs: string[], env: Record<string, string> = {}): Promise<Target> {
  const port = await freePort();
  const child = spawn(process.execPath, [ATOLL_BIN, 'start', '--port', String(port), ...engineArgs], { stdio: 'ignore', env: { ...process.env, ...env } });
  await waitForPort(port);
  return { name: `atoll ${engineLabel(engineArgs)}`, port, pid: child.pid!, child };
}

/** A minimal Node RESP server (bench/bare-resp-server.mjs): what Node alone costs, for the memory engine rows. */
async function startBare(): Promise<Target> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(import.meta.dirname, 'bare-resp-server.mjs'), String(port)], { stdio: 'ignore' });
  await waitForPort(port);
  return { name: 'bare node', port, pid: child.pid!, child };
}

function engineLabel(args: string[]): string {
  return args.includes('lmdb') ? 'lmdb batched' : 'memory';
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // Fields after "(comm) ": state is [0], utime [11], stime [12].
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

export interface Measured {
  test: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerOp: number;
}

export function runBenchmark(target: Target, flags: string[], requests: number): Measured[] {
  const before = cpuSeconds(target.pid);
  const r = spawnSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(target.port), '--csv', ...flags], { encoding: 'utf8', timeout: 600_000 });
  const cpu = cpuSeconds(target.pid) - before;
  if (r.status !== 0) throw new Error(`redis-benchmark failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n').slice(1);
  const rows = lines.map((line) => line.split(',').map((c) => c.replace(/"/g, '')));
  // CPU is for the whole run (all tests); split it by each test's share of wall time.
  const totalTime = rows.reduce((s, row) => s + requests / Number(row[1]), 0);
  return rows.map((row) => ({
    test: row[0]!,
    rps: Number(row[1]),
    p50Ms: Number(row[4]),
    p99Ms: Number(row[6]),
    cpuUsPerOp: ((cpu * (requests / Number(row[1]) / totalTime)) / requests) * 1e6,
  }));
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const requests = quick ? 50_000 : 200_000;
  const configs = [
    { pipeline: 1, size: 16 },
    { pipeline: 16, size: 16 },
    { pipeline: 1, size: 1024 },
    { pipeline: 16, size: 1024 },
  ];
  const lmdbDir = mkdtempSync(join(tmpdir(), 'atoll-bench-lmdb-'));
  const engines: string[][] = [[], ['--engine', 'lmdb', '--durability', 'batched', '--data-dir', lmdbDir]];
  const redis = await startRedis();
  const bare = await startBare();
  const atolls = await Promise.all(engines.map((e) => startAtoll(e)));
  const results: { engine: string; pipeline: number; size: number; test: string; atoll: Measured; redis: Measured; bare?: Measured }[] = [];
  try {
    for (const [i, atoll] of atolls.entries()) {
      for (const c of configs) {
        const flags = ['-t', 'set,get', '-n', String(requests), '-c', '50', '-r', '1000000', '-P', String(c.pipeline), '-d', String(c.size)];
        progress(`${atoll.name}: -P ${c.pipeline} -d ${c.size}`);
        // Alternate: Redis, Atoll, Redis, Atoll; keep the better run of each to damp noise from the shared machine.
        const pick = (a: Measured[], b: Measured[]) => a.map((m, k) => (m.rps >= b[k]!.rps ? m : b[k]!));
        const r1 = runBenchmark(redis, flags, requests);
        const a1 = runBenchmark(atoll, flags, requests);
        // The memory engine is also set beside a bare Node server (Node's own ceiling), alternated the same way.
        const b1 = i === 0 ? runBenchmark(bare, flags, requests) : undefined;
        const r2 = runBenchmark(redis, flags, requests);
        const a2 = runBenchmark(atoll, flags, requests);
        const b2 = i === 0 ? runBenchmark(bare, flags, requests) : undefined;
        const rs = pick(r1, r2);
        const as = pick(a1, a2);
        const bs = b1 !== undefined && b2 !== undefined ? pick(b1, b2) : undefined;
        rs.forEach((r, k) => results.push({ engine: engineLabel(engines[i]!), pipeline: c.pipeline, size: c.size, test: r.test, atoll: as[k]!, redis: r, ...(bs !== undefined ? { bare: bs[k]! } : {}) }));
      }
    }
  } finally {
    for (const t of [redis, bare, ...atolls]) t.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    rmSync(lmdbDir, { recursive: true, force: true });
  }
  const table = formatTable(
    ['engine / test', 'P', 'd', 'atoll ops/s', 'redis ops/s', 'ratio', 'atoll p50/p99 ms', 'redis p50/p99 ms', 'atoll CPU us/op', 'redis CPU us/op', 'CPU ratio', 'bare node ops/s', 'bare/redis', 'bare CPU us/op'],
    results.map((r) => [
      `${r.engine} ${r.test}`,
      r.pipeline,
      r.size,
      Math.round(r.atoll.rps),
      Math.round(r.redis.rps),
      r.atoll.rps / r.redis.rps,
      `${r.atoll.p50Ms}/${r.atoll.p99Ms}`,
      `${r.redis.p50Ms}/${r.redis.p99Ms}`,
      r.atoll.cpuUsPerOp,
      r.redis.cpuUsPerOp,
      r.atoll.cpuUsPerOp / r.redis.cpuUsPerOp,
      r.bare === undefined ? '' : Math.round(r.bare.rps),
      r.bare === undefined ? '' : r.bare.rps / r.redis.rps,
      r.bare === undefined ? '' : r.bare.cpuUsPerOp,
    ]),
  );
  process.stdout.write(`\nredis-benchmark -t set,get -n ${requests} -c 50 -r 1000000 (better of 2 alternated runs each)\n${table}\n`);
  const file = writeResults('server', { requests, results });
  process.stdout.write(`\nwrote ${file}\n`);
}
