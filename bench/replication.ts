// Replication benchmark: redis-benchmark --cluster SET/GET against 3-node Atoll clusters (atoll dev, memory
// engine) with one replica (unreplicated) and with three under async, quorum and sync acknowledgement, in
// one run; replication lag (leader append to follower acknowledgement) p50/p99 read from INFO replication.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { respOnce } from '../src/client/resp-client.js';
import { formatTable, machine, progress, startContract, stopChild, writeResults } from './lib.js';
import { freeBasePort } from '../src/coordinator/etcd-process.js';

const BIN = join(import.meta.dirname, '../bin/atoll.js');
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

interface Setup {
  readonly name: string;
  readonly replicas: number;
  readonly ack: string;
}

const SETUPS: readonly Setup[] = [
  { name: 'unreplicated (R=1)', replicas: 1, ack: 'quorum' },
  { name: 'async (R=3)', replicas: 3, ack: 'async' },
  { name: 'quorum (R=3)', replicas: 3, ack: 'quorum' },
  { name: 'sync (R=3)', replicas: 3, ack: 'sync' },
];

async function startDev(s: Setup): Promise<{ child: ChildProcess; ports: number[] }> {
  const base = await freeBasePort(3);
  const { child, info } = await startContract([BIN, 'dev', '--nodes', '3', '--base-port', String(base), '--engine', 'memory', '--replicas', String(s.replicas), '--ack', s.ack, '--json'], children);
  return { child, ports: info.nodes.map((n) => n.port) };
}


function benchmark(port: number, requests: number, pipeline: number): Record<string, number> {
  const r = spawnSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '--cluster', '--csv', '-t', 'set,get', '-n', String(requests), '-c', '50', '-r', '100000', '-P', String(pipeline)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`redis-benchmark failed: ${r.stderr}`);
  const out: Record<string, number> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const c = line.split(',').map((x) => x.replace(/"/g, ''));
    if (c[0] === 'SET' || c[0] === 'GET') {
      out[`${c[0]}_rps`] = Number(c[1]);
      out[`${c[0]}_p99`] = Number(c[6]);
    }
  }
  return out;
}

async function lag(ports: number[]): Promise<{ p50: number; p99: number; samples: number }> {
  let p50 = 0;
  let p99 = 0;
  let samples = 0;
  for (const port of ports) {
    const info = String(await respOnce('127.0.0.1', port, ['INFO', 'replication']));
    const get = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    p50 = Math.max(p50, get('replication_lag_p50_ms'));
    p99 = Math.max(p99, get('replication_lag_p99_ms'));
    samples += get('replication_lag_samples');
  }
  return { p50, p99, samples };
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const requests = quick ? 50_000 : 200_000;
  const rows: { setup: string; pipeline: number; set: number; get: number; setP99: number; lagP50: number; lagP99: number; lagSamples: number }[] = [];
  for (const s of SETUPS) {
    progress(`starting ${s.name}`);
    const dev = await startDev(s);
    for (const pipeline of [1, 16]) {
      progress(`${s.name}: redis-benchmark -P ${pipeline}`);
      const b = benchmark(dev.ports[0]!, requests, pipeline);
      const l = await lag(dev.ports);
      rows.push({ setup: s.name, pipeline, set: b.SET_rps ?? 0, get: b.GET_rps ?? 0, setP99: b.SET_p99 ?? 0, lagP50: l.p50, lagP99: l.p99, lagSamples: l.samples });
    }
    await stopChild(dev.child);
  }
  const base = (p: number): (typeof rows)[number] => rows.find((r) => r.setup === SETUPS[0]!.name && r.pipeline === p)!;
  const table = formatTable(
    ['setup', '-P', 'SET ops/s', 'vs R=1', 'SET p99 ms', 'GET ops/s', 'vs R=1', 'lag p50 ms', 'lag p99 ms'],
    rows.map((r) => [r.setup, r.pipeline, Math.round(r.set), (r.set / base(r.pipeline).set).toFixed(2), r.setP99, Math.round(r.get), (r.get / base(r.pipeline).get).toFixed(2), r.lagSamples === 0 ? '-' : r.lagP50, r.lagSamples === 0 ? '-' : r.lagP99]),
  );
  process.stdout.write(`\nredis-benchmark --cluster -t set,get -n ${requests} -c 50 -r 100000, 3 nodes (memory engine), lag over the whole run (goal p99 <= 50 ms)\n${table}\n`);
  const file = writeResults('replication', { machine: machine(), requests, rows });
  process.stdout.write(`results: ${file}\n`);
}
