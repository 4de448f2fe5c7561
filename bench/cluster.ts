// Cluster benchmark: redis-benchmark --cluster against a 3-master Redis Cluster (Debian's redis-server) and a
// 3-node Atoll cluster (atoll dev: etcd + node processes) in one run, plus plain redis-benchmark through
// `atoll router`. Prints ops/s, p50/p99 and ratios; writes bench/results/cluster.json. A second part (with
// taskset, on 2+ CPUs) gives the router a CPU of its own and pins the nodes, etcd and the client to another,
// for direct and routed runs alike: the router's overhead when it does not compete with the nodes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeBasePort, freePort } from '../src/coordinator/etcd-process.js';
import { respOnce } from '../src/client/resp-client.js';
import { formatTable, machine, pinned, progress, startContract, stopChild, writeResults } from './lib.js';

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

async function startAtollCluster(engine: string, cpus?: string): Promise<{ ports: number[]; coordinator: string; child: ChildProcess }> {
  const base = await freeBasePort(3);
  const { child, info } = await startContract([BIN, 'dev', '--nodes', '3', '--base-port', String(base), '--engine', engine, '--json'], children, 'ignore', 90_000, cpus);
  return { ports: info.nodes.map((n) => n.port), coordinator: info.coordinator, child };
}

async function startRouter(coordinator: string, cpus?: string): Promise<{ port: number; child: ChildProcess }> {
  const args = [BIN, 'router', '--coordinator', coordinator, '--port', '0', '--log-level', 'warn'];
  const child = spawn(...pinned(cpus, process.execPath, args), { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('router', async () => /listening on [\d.]+:\d+/.test(out));
  return { port: Number(/listening on [\d.]+:(\d+)/.exec(out)![1]), child };
}

function bench(target: string, port: number, cluster: boolean, pipeline: number, requests: number, cpus?: string): Row[] {
  const flags = ['-h', '127.0.0.1', '-p', String(port), '--csv', '-t', 'set,get', '-n', String(requests), '-c', '50', '-r', '1000000', '-P', String(pipeline)];
  if (cluster) flags.push('--cluster');
  const r = spawnSync(...pinned(cpus, 'redis-benchmark', flags), { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`redis-benchmark failed on ${target}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n').filter((l) => /^"(SET|GET)"/.test(l));
  return lines.map((line) => {
    const c = line.split(',').map((x) => x.replace(/"/g, ''));
    return { target, pipeline, test: c[0]!, rps: Number(c[1]), p50Ms: Number(c[4]), p99Ms: Number(c[6]) };
  });
}


/** Whether processes can be pinned to CPUs here (taskset from util-linux, and at least 2 CPUs). */
function pinnable(): boolean {
  return availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const requests = quick ? 50_000 : 200_000;
  const engine = args.includes('--lmdb') ? 'lmdb' : 'memory';
  const dir = mkdtempSync(join(tmpdir(), 'atoll-bench-cluster-'));
  const rows: Row[] = [];
  const pinnedRows: Row[] = [];
  try {
    progress('starting a 3-master Redis Cluster');
    const redisPorts = await startRedisCluster(dir);
    progress(`starting a 3-node Atoll cluster (engine ${engine})`);
    const atoll = await startAtollCluster(engine);
    progress('starting atoll router');
    const router = await startRouter(atoll.coordinator);
    for (const pipeline of [1, 16]) {
      // Alternate targets so drift in machine load hits both alike.
      progress(`redis cluster -P ${pipeline}`);
      rows.push(...bench('redis cluster', redisPorts[0]!, true, pipeline, requests));
      progress(`atoll cluster -P ${pipeline}`);
      rows.push(...bench('atoll cluster', atoll.ports[0]!, true, pipeline, requests));
      progress(`atoll router -P ${pipeline}`);
      rows.push(...bench('atoll via router', router.port, false, pipeline, requests));
    }
    await stopChild(router.child);
    await stopChild(atoll.child);
    if (pinnable()) {
      // The router on CPU 1; nodes, etcd and the client on CPU 0, in both the direct and the routed runs.
      progress('router on its own CPU: starting a pinned Atoll cluster and router');
      const pinned = await startAtollCluster(engine, '0');
      const pinnedRouter = await startRouter(pinned.coordinator, '1');
      for (const pipeline of [1, 16]) {
        progress(`pinned atoll cluster -P ${pipeline}`);
        pinnedRows.push(...bench('atoll cluster (CPU 0)', pinned.ports[0]!, true, pipeline, requests, '0'));
        progress(`pinned atoll router -P ${pipeline}`);
        pinnedRows.push(...bench('atoll via router (CPU 1)', pinnedRouter.port, false, pipeline, requests, '0'));
      }
      await stopChild(pinnedRouter.child);
      await stopChild(pinned.child);
    }
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
  if (pinnedRows.length > 0) {
    const pinnedTable = formatTable(
      ['target', '-P', 'test', 'ops/s', 'p50 ms', 'p99 ms', 'router vs direct'],
      pinnedRows.map((r) => {
        const direct = pinnedRows.find((d) => d.target === 'atoll cluster (CPU 0)' && d.pipeline === r.pipeline && d.test === r.test)!;
        return [r.target, r.pipeline, r.test, Math.round(r.rps), r.p50Ms, r.p99Ms, r.target.startsWith('atoll via router') ? (r.rps / direct.rps).toFixed(2) : ''];
      }),
    );
    process.stdout.write(`\nrouter on its own CPU (nodes, etcd and redis-benchmark pinned to CPU 0, the router to CPU 1)\n${pinnedTable}\n`);
  }
  const file = writeResults('cluster', { machine: machine(), requests, engine, rows, pinnedRows });
  process.stdout.write(`results: ${file}\n`);
}
