// Cluster test helpers: a real etcd (Debian's package) per test file, cluster node processes, and polling.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdProcess } from '../src/coordinator/etcd-process.js';
import { spawn } from 'node:child_process';
import { respOnce } from '../src/client/resp-client.js';
import { keySlot } from '../src/partitioning/hash.js';
import { ATOLL_BIN, startNode, type RunningNode } from './helpers-process.js';

const etcds = new Set<EtcdProcess>();
process.on('exit', () => {
  for (const e of etcds) {
    try {
      process.kill(e.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export interface TestEtcd extends EtcdProcess {
  readonly dir: string;
}

/** Starts etcd on free loopback ports with a fresh data directory. */
export async function startTestEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'atoll-test-etcd-'));
  const etcd = await startEtcd({ dataDir: dir });
  etcds.add(etcd);
  return {
    ...etcd,
    dir,
    stop: async () => {
      await etcd.stop();
      etcds.delete(etcd);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts `atoll start --cluster` as a child process on a free port. */
export function startClusterNodeProcess(coordinator: string, id: string, extra: string[] = []): Promise<RunningNode> {
  return startNode(['--cluster', '--coordinator', coordinator, '--id', id, '--admin-port', '0', '--log-level', 'warn', ...extra], 30_000);
}

export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs the atoll CLI as a child process without blocking this one. */
export function runAtoll(args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ATOLL_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

/** A key for every one of the 16384 slots (found by trying short keys), so tests can cover all slots. */
export function keyPerSlot(prefix = 'k'): string[] {
  const keys = new Array<string>(16384);
  let found = 0;
  for (let i = 0; found < 16384; i++) {
    const k = `${prefix}:${i}`;
    const s = keySlot(k);
    if (keys[s] === undefined) {
      keys[s] = k;
      found++;
    }
  }
  return keys;
}

/** Waits until every port answers CLUSTER INFO with cluster_state:ok. */
export function untilClusterOk(ports: readonly number[], timeoutMs = 20_000): Promise<true> {
  return until(
    'cluster_state:ok on every port',
    async () => {
      for (const port of ports) {
        const info = await respOnce('127.0.0.1', port, ['CLUSTER', 'INFO']).catch(() => undefined);
        if (!Buffer.isBuffer(info) || !info.toString().includes('cluster_state:ok')) return undefined;
      }
      return true as const;
    },
    timeoutMs,
  );
}

/** Node rows of `atoll cluster status --json`. */
export interface StatusRows {
  nodes: { id: string; up: boolean; led: number; followed: number }[];
}

export async function clusterStatusRows(url: string): Promise<StatusRows> {
  return JSON.parse((await runAtoll(['cluster', 'status', '--coordinator', url, '--json'])).out) as StatusRows;
}

/** Kills every node a test started (by PID) and stops its etcd. */
export async function stopCluster(nodes: ReadonlyMap<string, RunningNode>, etcd: TestEtcd | undefined): Promise<void> {
  for (const n of nodes.values()) await n.stop('SIGKILL');
  await etcd?.stop();
}
