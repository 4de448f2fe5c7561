// Cluster benchmark: redis-benchmark --cluster against a 3-master Redis Cluster (Debian's redis-server) and a
// 3-node Atoll cluster (atoll dev: etcd + node processes) in one run, plus plain redis-benchmark through
// `atoll router`. Prints ops/s, p50/p99 and ratios; writes bench/results/cluster.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeBasePort, freePort } from '../src/coordinator/etcd-process.js';
import { respOnce } from '../src/client/resp-client.js';
import { formatTable, machine, progress, startContract, stopChild, writeResults } from './lib.js';

const BIN = join(import.meta.dirname, '../bin/atoll.js');
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

interface Row {
  target: string;
  pipeline: number;
  test: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startRedisCluster(dir: string): Promise<number[]> {
  const ports = [await freePort(), await freePort(), await freePort()];
  for (const port of ports) {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    children.push(child);
  }
  for (const port of ports) await waitFor(`redis ${port}`, async () => (await respOnce('127.0.0.1', port, ['PING'])) === 'PONG');
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr}${create.stdout}`);
  await waitFor('redis cluster ok', async () => ports.every(Boolean) && String(await respOnce('127.0.0.1', ports[0]!, ['CLUSTER', 'INFO'])).includes('cluster_state:ok'));
  return ports;
}

async function startAtollCluster(engine: string): Promise<{ ports: number[]; coordinator: string; child: ChildProcess }> {
  const base = await freeBasePort(3);
  const { child, info } = await startContract([BIN, 'dev', '--nodes', '3', '--base-port', String(base), '--engine', engine, '--json'], children);
  return { ports: info.nodes.map((n) => n.port), coordinator: info.coordinator, child };
}

function bench(target: string, port: number, cluster: boolean, pipeline: number, requests: number): Row[] {
  const flags = ['-h', '127.0.0.1', '-p', String(port), '--csv', '-t', 'set,get', '-n', String(requests), '-c', '50', '-r', '1000000', '-P', String(pipeline)];
  if (cluster) flags.push('--cluster');
  const r = spawnSync('redis-benchmark', flags, { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`redis-benchmark failed on ${target}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n').filter((l) => /^"(SET|GET)"/.test(l));
  return lines.map((line) => {
    const c = line.split(',').map((x) => x.replace(/"/g, ''));
    return { target, pipeline, test: c[0]!, rps: Number(c[1]), p50Ms: Number(c[4]), p99Ms: Number(c[6]) };
  });
}


export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const requests = quick ? 50_000 : 200_000;
  const engine = args.includes('--lmdb') ? 'lmdb' : 'memory';
  const dir = mkdtempSync(join(tmpdir(), 'atoll-bench-cluster-'));
  const rows: Row[] = [];
  try {
    progress('starting a 3-master Redis Cluster');
    const redisPorts = await startRedisCluster(dir);
    progress(`starting a 3-node Atoll cluster (engine ${engine})`);
    const atoll = await startAtollCluster(engine);
    progress('starting atoll router');
    const router = spawn(process.execPath, [BIN, 'router', '--coordinator', atoll.coordinator, '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(router);
    let routerOut = '';
    router.stdout!.on('data', (d: Buffer) => (routerOut += d.toString()));
    await waitFor('router', async () => /listening on [\d.]+:\d+/.test(routerOut));
    const routerPort = Number(/listening on [\d.]+:(\d+)/.exec(routerOut)![1]);
    for (const pipeline of [1, 16]) {
      // Alternate targets so drift in machine load hits both alike.
      progress(`redis cluster -P ${pipeline}`);
      rows.push(...bench('redis cluster', redisPorts[0]!, true, pipeline, requests));
      progress(`atoll cluster -P ${pipeline}`);
      rows.push(...bench('atoll cluster', atoll.ports[0]!, true, pipeline, requests));
      progress(`atoll router -P ${pipeline}`);
      rows.push(...bench('atoll via router', routerPort, false, pipeline, requests));
    }
    await stopChild(router);
    await stopChild(atoll.child);
  } finally {
    children.forEach((c) => c.kill('SIGTERM'));
    rmSync(dir, { recursive: true, force: true });
  }
  const find = (target: string, p: number, test: string): Row | undefined => rows.find((r) => r.target === target && r.pipeline === p && r.test === test);
  const table = formatTable(
    ['target', '-P', 'test', 'ops/s', 'p50 ms', 'p99 ms', 'vs redis cluster', 'router vs direct'],
    rows.map((r) => {
      const redis = find('redis cluster', r.pipeline, r.test)!;
      const direct = find('atoll cluster', r.pipeline, r.test)!;
      return [r.target, r.pipeline, r.test, Math.round(r.rps), r.p50Ms, r.p99Ms, (r.rps / redis.rps).toFixed(2), r.target === 'atoll via router' ? (r.rps / direct.rps).toFixed(2) : ''];
    }),
  );
  process.stdout.write(`\nredis-benchmark -t set,get -n ${requests} -c 50 -r 1000000 (Atoll engine: ${engine})\n${table}\n`);
  const file = writeResults('cluster', { machine: machine(), requests, engine, rows });
  process.stdout.write(`results: ${file}\n`);
}
