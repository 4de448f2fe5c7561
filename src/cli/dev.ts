// `atoll dev`: a development cluster of real processes: a local etcd (Debian's package) and N `atoll start
// --cluster` nodes. Prints the JSON contract line once every slot is served; stops all on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { openCoordinator, type Coordinator, type CoordinatorSnapshot } from '../coordinator/coordinator.js';
import { startEtcd } from '../coordinator/etcd-process.js';
import { AtollError, UsageError } from '../errors.js';
import { respOnce } from '../client/resp-client.js';
import { clusterMetaFromFlags } from './cluster.js';
import type { CliIo } from './main.js';
import { randomBytes } from 'node:crypto';
import { CLUSTER_SECRET_ENV, CLUSTER_SECRET_FILE_ENV } from './secret.js';

export const ATOLL_BIN = join(import.meta.dirname, '../../bin/atoll.js');
export const DEV_LIMITS = Object.freeze({ readyTimeoutMs: 60_000, pollEveryMs: 100, stopTimeoutMs: 10_000, nodesMax: 64 });

export interface DevFlags {
  nodes?: string;
  basePort?: string;
  json?: boolean;
  dataDir?: string;
  engine?: string;
  partitions?: string;
  ack?: string;
  replicas?: string;
  forward?: boolean;
}

export function parseNodeCount(v: string | undefined, fallback = 3): number {
  const n = v === undefined ? fallback : /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > DEV_LIMITS.nodesMax) throw new UsageError(`--nodes must be 1..${DEV_LIMITS.nodesMax}, got "${v}"`);
  return n;
}

export function parseBasePort(v: string | undefined, nodes: number, fallback = 7000): number {
  const n = v === undefined ? fallback : /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n + nodes - 1 > 65535) throw new UsageError(`--base-port must leave room for ${nodes} ports below 65536, got "${v}"`);
  return n;
}

/** Admin port of node i: 10000 above its client port when that fits, else any free port. */
export function adminPortFor(port: number): number {
  return port + 10_000 <= 65_535 ? port + 10_000 : 0;
}

/** Waits until the map covers every slot, its nodes are all live, and each node serves that epoch. */
export async function waitForCluster(coordinator: Coordinator, nodes: number, timeoutMs = DEV_LIMITS.readyTimeoutMs, alive: () => void = () => undefined): Promise<CoordinatorSnapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    alive();
    const snap = await coordinator.snapshot();
    const live = new Set(snap.nodes.map((n) => n.id));
    if (snap.map !== undefined && snap.nodes.length >= nodes && Object.keys(snap.map.nodes).every((id) => live.has(id))) {
      let served = 0;
      for (const n of snap.nodes) {
        const info = await respOnce(n.host, n.port, ['CLUSTER', 'INFO']).catch(() => undefined);
        const epoch = Buffer.isBuffer(info) ? Number(/cluster_current_epoch:(\d+)/.exec(info.toString())?.[1] ?? 0) : 0;
        if (epoch >= snap.map.epoch) served++;
      }
      if (served === snap.nodes.length) return snap;
    }
    if (Date.now() > deadline) throw new AtollError('COORDINATOR_UNAVAILABLE', `the cluster did not come up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, DEV_LIMITS.pollEveryMs));
  }
}

/** The contract line: {"coordinator", "nodes": [{"id", "port", "adminPort", "pid"}]}. */
export function contractLine(coordinator: string, snap: CoordinatorSnapshot, pids: Map<string, number>): string {
  const nodes = [...snap.nodes].sort((a, b) => a.port - b.port).map((n) => ({ id: n.id, port: n.port, adminPort: n.adminPort, pid: pids.get(n.id) ?? process.pid }));
  return `${JSON.stringify({ coordinator, nodes })}\n`;
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = (): void => on('SIGINT');
    const onTerm = (): void => on('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), DEV_LIMITS.stopTimeoutMs);
  await exited;
  clearTimeout(timer);
}

export function registerDev(program: Command, io: CliIo): void {
  program
    .command('dev')
    .description('run a development cluster: a local etcd and N node processes')
    .option('--nodes <n>', 'node processes (default 3)')
    .option('--base-port <port>', 'client port of the first node; the others follow (default 7000)')
    .option('--data-dir <dir>', 'data directory (default: a new temporary directory)')
    .option('--engine <name>', 'lmdb (default) or memory')
    .option('--partitions <n>', 'partitions (default 2048)')
    .option('--ack <mode>', 'when writes are acknowledged: async | quorum (default) | sync')
    .option('--replicas <n>', 'replicas per partition (default 1)')
    .option('--forward', 'nodes forward requests for keys they do not own (non-cluster clients)')
    .option('--json', 'print one JSON line describing the cluster once it serves every slot')
    .action(async (flags: DevFlags) => {
      const nodes = parseNodeCount(flags.nodes);
      const basePort = parseBasePort(flags.basePort, nodes);
      const engine = flags.engine ?? 'lmdb';
      if (engine !== 'lmdb' && engine !== 'memory') throw new UsageError(`--engine must be lmdb or memory, got "${engine}"`);
      const dataDir = flags.dataDir ?? mkdtempSync(join(tmpdir(), 'atoll-dev-'));
      mkdirSync(dataDir, { recursive: true });
      const meta = clusterMetaFromFlags({ partitions: flags.partitions, replicas: flags.replicas, ack: flags.ack, nodes: String(nodes) }, Date.now());
      const etcd = await startEtcd({ dataDir: join(dataDir, 'etcd') });
      const children: ChildProcess[] = [];
      const pids = new Map<string, number>();
      let coordinator: Coordinator | undefined;
      const stopAll = async (): Promise<void> => {
        await Promise.all(children.map(stopChild));
        await coordinator?.close();
        await etcd.stop();
      };
      // Every node gets the same fresh cluster secret through its environment; it is never printed.
      const secret = process.env[CLUSTER_SECRET_ENV] ?? randomBytes(32).toString('base64url');
      // Tools (atoll verify, rebalance) find it through ATOLL_CLUSTER_SECRET_FILE, pointed at this file.
      const secretFile = join(dataDir, 'cluster-secret');
      writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
      try {
        coordinator = await openCoordinator(etcd.url);
        await coordinator.createCluster(meta);
        for (let i = 0; i < nodes; i++) {
          const id = `n${i + 1}`;
          const port = basePort + i;
          const args = [ATOLL_BIN, 'start', '--cluster', '--coordinator', etcd.url, '--id', id, '--port', String(port), '--admin-port', String(adminPortFor(port)), '--engine', engine, '--data-dir', join(dataDir, id), '--log-level', 'warn'];
          if (flags.forward) args.push('--forward');
          const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, [CLUSTER_SECRET_ENV]: secret } });
          children.push(child);
          pids.set(id, child.pid!);
        }
        const failed = (): void => {
          const dead = children.find((c) => c.exitCode !== null);
          if (dead !== undefined) throw new AtollError('PEER_UNAVAILABLE', `node process ${dead.pid} exited with ${dead.exitCode} during start`);
        };
        const snap = await waitForCluster(coordinator, nodes, DEV_LIMITS.readyTimeoutMs, failed);
        if (flags.json) io.out(contractLine(etcd.url, snap, pids));
        else {
          io.out(`atoll dev: cluster ${meta.clusterId} with ${nodes} nodes on ${etcd.url}, data in ${dataDir}\n`);
          for (const n of snap.nodes) io.out(`  ${n.id}  redis-cli -c -p ${n.port}   admin http://${n.host}:${n.adminPort}/\n`);
          io.out(`  tools: export ${CLUSTER_SECRET_FILE_ENV}=${secretFile}   (the nodes' cluster secret)\n`);
          io.out('Ctrl-C stops everything.\n');
        }
      } catch (e) {
        await stopAll();
        throw e;
      }
      await untilSignal();
      await stopAll();
    });
}
