// Dashboard benchmark: first paint of the dashboard in Chromium on a 10-node, 256-partition `atoll demo`
// (goal < 1 s), and the CPU the admin endpoints add at one dashboard refresh per second (goal <= 5%),
// measured from /proc on the demo process with and without an open live stream and a 1/s metrics scrape.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { formatTable, machine, progress, startContract, stopChild, writeResults } from './lib.js';
import { freeBasePort } from '../src/coordinator/etcd-process.js';

const BIN = join(import.meta.dirname, '../bin/atoll.js');
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
const CLOCK_TICKS_PER_S = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface Demo {
  child: ChildProcess;
  nodes: { id: string; port: number; adminPort: number }[];
}

async function startDemo(nodes: number, partitions: number, workload: boolean): Promise<Demo> {
  const base = await freeBasePort(nodes);
  const args = [BIN, 'demo', '--nodes', String(nodes), '--partitions', String(partitions), '--base-port', String(base), '--engine', 'memory', '--json'];
  if (!workload) args.push('--no-workload');
  const { child, info } = await startContract(args, children, 'pipe', 60_000);
  return { child, nodes: info.nodes };
}


/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

async function firstPaint(demo: Demo, runs: number): Promise<number[]> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const times: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const page = await browser.newPage({ viewport: { width: 1300, height: 1200 } });
      const started = performance.now();
      await page.goto(`http://127.0.0.1:${demo.nodes[i % demo.nodes.length]!.adminPort}/`);
      // Painted: the node table, the ring (a second request) and the heatmap are all in the page.
      await page.waitForSelector('tr.node');
      await page.waitForSelector('#ring svg path.seg');
      await page.waitForSelector('#heatmap rect.cell');
      times.push(performance.now() - started);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return times;
}

/** Runs redis-benchmark against the demo; returns the demo's CPU seconds per 100k requests and the rate. */
function loadRun(demo: Demo, requests: number): { cpuPer100k: number; rps: number } {
  const pid = demo.child.pid!;
  const before = cpuSeconds(pid);
  const started = performance.now();
  const r = spawnSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(demo.nodes[0]!.port), '--cluster', '-t', 'set,get', '-n', String(requests), '-c', '20', '-P', '16', '-r', '100000', '-q'], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`redis-benchmark failed: ${r.stderr}`);
  const seconds = (performance.now() - started) / 1000;
  return { cpuPer100k: ((cpuSeconds(pid) - before) * 100_000) / (2 * requests), rps: (2 * requests) / seconds };
}

/** An open dashboard: the live stream from one node plus a Prometheus scrape of every node, once a second. */
function openDashboard(demo: Demo): () => void {
  const ctrl = new AbortController();
  void fetch(`http://127.0.0.1:${demo.nodes[0]!.adminPort}/api/events`, { signal: ctrl.signal })
    .then(async (res) => {
      for await (const chunk of res.body!) void chunk;
    })
    .catch(() => undefined);
  const timer = setInterval(() => {
    for (const n of demo.nodes) void fetch(`http://127.0.0.1:${n.adminPort}/metrics`, { signal: ctrl.signal }).then((r) => r.text()).catch(() => undefined);
  }, 1_000);
  return () => {
    clearInterval(timer);
    ctrl.abort();
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const paintRuns = quick ? 3 : 7;
  const requests = quick ? 100_000 : 300_000;
  const idleS = quick ? 5 : 15;

  progress('first paint: starting a 10-node, 256-partition demo');
  const big = await startDemo(10, 256, true);
  await new Promise((r) => setTimeout(r, 3_000)); // let the charts have a few points
  const paints = await firstPaint(big, paintRuns);
  await stopChild(big.child);

  progress('CPU overhead: starting a 3-node demo (memory engine, no built-in workload)');
  const demo = await startDemo(3, 2048, false);
  const idle = async (dashboard: boolean): Promise<number> => {
    const close = dashboard ? openDashboard(demo) : () => undefined;
    const before = cpuSeconds(demo.child.pid!);
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const used = cpuSeconds(demo.child.pid!) - before;
    close();
    return (used / idleS) * 1000;
  };
  progress(`idle CPU, ${idleS} s without and with a dashboard open`);
  const idleWithout = await idle(false);
  const idleWith = await idle(true);
  const loaded: { dashboard: boolean; cpuPer100k: number; rps: number }[] = [];
  for (let round = 0; round < 2; round++) {
    for (const dashboard of [false, true]) {
      progress(`load round ${round + 1}, dashboard ${dashboard ? 'open' : 'closed'}`);
      const close = dashboard ? openDashboard(demo) : () => undefined;
      loaded.push({ dashboard, ...loadRun(demo, requests) });
      close();
    }
  }
  await stopChild(demo.child);

  const cpu = (d: boolean): number => median(loaded.filter((l) => l.dashboard === d).map((l) => l.cpuPer100k));
  const rps = (d: boolean): number => median(loaded.filter((l) => l.dashboard === d).map((l) => l.rps));
  const overhead = cpu(true) / cpu(false) - 1;
  const rows = [
    ['first paint, 10 nodes x 256 partitions (median of ' + paintRuns + ')', `${median(paints).toFixed(0)} ms`, `max ${Math.max(...paints).toFixed(0)} ms`, 'goal < 1000 ms'],
    ['idle CPU of a 3-node demo, dashboard closed', `${idleWithout.toFixed(1)} ms/s`, '', ''],
    ['idle CPU of a 3-node demo, dashboard open (1 view/s + 3 scrapes/s)', `${idleWith.toFixed(1)} ms/s`, `+${(idleWith - idleWithout).toFixed(1)} ms/s`, ''],
    ['CPU per 100k requests under load, dashboard closed', `${(cpu(false) * 1000).toFixed(0)} ms`, `${Math.round(rps(false))} req/s`, ''],
    ['CPU per 100k requests under load, dashboard open', `${(cpu(true) * 1000).toFixed(0)} ms`, `${Math.round(rps(true))} req/s`, `overhead ${(overhead * 100).toFixed(1)}% (goal <= 5%)`],
  ];
  process.stdout.write(`\n${formatTable(['measure', 'value', '', 'goal'], rows)}\n`);
  const file = writeResults('dashboard', { machine: machine(), paintsMs: paints, idleCpuMsPerS: { without: idleWithout, with: idleWith }, loaded, overhead });
  process.stdout.write(`results: ${file}\n`);
}
