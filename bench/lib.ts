// Shared benchmark plumbing: warm-up + median-of-N timing, plain-text tables, and JSON results under
// bench/results/. Benchmarks are not tests: they measure and report, side by side with their anchors.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';

export const RESULTS_DIR = join(import.meta.dirname, 'results');

/** Sink that keeps the optimiser from discarding benchmarked work. */
export let blackhole = 0;

/** Median ns per call of fn over items, after `warmups` untimed passes, over `runs` timed passes. */
export function nsPerOp<T>(items: readonly T[], fn: (item: T) => unknown, runs = 5, warmups = 1): { median: number; runs: number[] } {
  const pass = (): number => {
    let acc = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < items.length; i++) {
      const r = fn(items[i]!);
      acc += typeof r === 'number' ? r : typeof r === 'string' ? r.length : 1;
    }
    const t1 = process.hrtime.bigint();
    blackhole ^= acc;
    return Number(t1 - t0) / items.length;
  };
  for (let w = 0; w < warmups; w++) pass();
  const times = Array.from({ length: runs }, pass);
  const sorted = [...times].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, runs: times };
}

export function formatTable(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(3);
}

export function machine(): Record<string, unknown> {
  return { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30) };
}

/** Writes bench/results/<name>.json (the latest run) and returns its path. */
export function writeResults(name: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ benchmark: name, at: new Date().toISOString(), machine: machine(), ...data }, null, 2)}\n`);
  return file;
}

/** One progress line on stderr (results go to stdout). */
export function progress(text: string): void {
  process.stderr.write(`… ${text}\n`);
}

/** The one JSON line `atoll dev --json` and `atoll demo --json` print once every slot is served. */
export interface ContractInfo {
  readonly coordinator: string;
  readonly nodes: { id: string; port: number; adminPort: number; pid: number }[];
}

/** Spawns `node <args>` (an atoll dev/demo with --json), tracks it in `children`, and waits for its contract line. */
/** A command and its arguments, run under `taskset -c cpus` when cpus is given. */
export function pinned(cpus: string | undefined, command: string, args: readonly string[]): [string, string[]] {
  return cpus === undefined ? [command, [...args]] : ['taskset', ['-c', cpus, command, ...args]];
}

export async function startContract(args: readonly string[], children: ChildProcess[], stdin: 'ignore' | 'pipe' = 'ignore', timeoutMs = 90_000, cpus?: string): Promise<{ child: ChildProcess; info: ContractInfo }> {
  const child = spawn(...pinned(cpus, process.execPath, args), { stdio: [stdin, 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + timeoutMs;
  while (!out.includes('\n')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${args.slice(1, 2).join(' ')} did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, info: JSON.parse(out.split('\n')[0]!) as ContractInfo };
}

/** SIGTERM and wait for the exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/**
 * Two `--forward` cluster nodes on a fresh etcd (the default 2048 partitions, 2 replicas, a cluster secret),
 * ready once node a reports every slot served; `nodeArgs` and `env` go to both nodes. For benchmarks.
 */
export async function startForwardPair(dir: string, o: { nodeArgs?: readonly string[]; env?: Record<string, string> } = {}): Promise<{ port: number; pid: number; child: ChildProcess; stop(): Promise<void> }> {
  const { startEtcd, freePort } = await import('../src/coordinator/etcd-process.js');
  const etcd = await startEtcd({ dataDir: join(dir, `etcd-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`) });
  const env = { ...process.env, ATOLL_CLUSTER_SECRET: 'a benchmark cluster secret', ...o.env };
  const atoll = join(import.meta.dirname, '../bin/atoll.js');
  execFileSync(process.execPath, [atoll, 'cluster', 'create', '--coordinator', etcd.url, '--nodes', '2', '--replicas', '2'], { env, stdio: 'ignore' });
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  for (const id of ['a', 'b']) {
    const port = await freePort();
    ports.push(port);
    children.push(spawn(process.execPath, [atoll, 'start', '--cluster', '--coordinator', etcd.url, '--id', id, '--port', String(port), '--no-admin', '--forward', '--log-level', 'error', ...(o.nodeArgs ?? [])], { stdio: 'ignore', env }));
  }
  // Serving once every slot answers (the map placed, the initial copies made); at most 60 s.
  for (let i = 0; i < 600; i++) {
    const r = spawnSync('redis-cli', ['-p', String(ports[0]), 'CLUSTER', 'INFO'], { encoding: 'utf8' });
    if (r.stdout.includes('cluster_state:ok')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    port: ports[0]!,
    pid: children[0]!.pid!,
    child: children[0]!,
    stop: async () => {
      for (const c of children) c.kill('SIGKILL');
      await etcd.stop();
    },
  };
}
