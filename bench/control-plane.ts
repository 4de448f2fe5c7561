// Control-plane benchmark against a real etcd. Part 1 (coordinator): watchers (each an EtcdCoordinator with its
// own etcd client, as every node and router has) follow a map of P partitions x 3 replicas while a writer
// changes one partition, then fails a whole node over; we measure the time until every watcher has the change,
// the bytes etcd received per change (its own gRPC byte counter), range reads in steady state, and etcd's
// database size after 10,000 changes. The anchor is the previous design, which rewrote the whole map as one
// value per change: its bytes per change are the map's JSON size. Part 2 (processes at the defaults: 2048
// partitions, R = 3, ack sync, LMDB): kill -9 of a leader -> its key writable, kill -9 of the controller ->
// a new controller, and a 3 s stall of a node's event loop (DEBUG SLEEP 3) -> lease losses and failovers.
import { Redis } from 'ioredis';
import { initialMap, type ClusterMeta, type ClusterNode, type PartitionMap } from '../src/cluster/map.js';
import { EtcdCoordinator } from '../src/coordinator/etcd.js';
import type { CoordinatorSnapshot } from '../src/coordinator/coordinator.js';
import { respOnce } from '../src/client/resp-client.js';
import { keySlot } from '../src/partitioning/hash.js';
import type { RunningNode } from '../test/helpers-process.js';
import { runAtoll, startClusterNodeProcess, startTestEtcd, until, untilClusterOk, type TestEtcd } from '../test/helpers-cluster.js';
import { formatTable, machine, progress, writeResults } from './lib.js';

const REPLICAS = 3;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** A counter from etcd's Prometheus endpoint (summed over its label sets that contain `labels`). */
async function etcdMetric(etcd: TestEtcd, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${etcd.clientPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && line.includes(labels)) sum += Number(line.split(' ').at(-1));
  return sum;
}

interface PropagationRow {
  partitions: number;
  watchers: number;
  singleP50Ms: number;
  singleP99Ms: number;
  singleMaxMs: number;
  failoverPartitions: number;
  failoverAllMs: number;
  bytesPerChange: number;
  bytesPerFailedOverPartition: number;
  anchorBytesPerChange: number;
  rangeReadsPerSecIdle: number;
}

/** Resolves when every watcher's snapshot satisfies `seen`; returns each watcher's delay from `t0`. */
function whenAllSee(watchers: EtcdCoordinator[], seen: (s: CoordinatorSnapshot) => boolean, t0: number, timeoutMs = 30_000): Promise<number[]> {
  return Promise.all(
    watchers.map(
      (w) =>
        new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('a watcher did not see the change')), timeoutMs);
          const check = (): void => {
            void w.snapshot().then((s) => {
              if (!seen(s)) return;
              clearTimeout(timer);
              unwatch();
              resolve(performance.now() - t0);
            });
          };
          const unwatch = w.watch(check);
          check();
        }),
    ),
  );
}

async function propagation(etcd: TestEtcd, partitions: number, watcherCount: number, changes: number): Promise<PropagationRow> {
  const clusterId = `bench-${partitions}-${watcherCount}`;
  const nodes: ClusterNode[] = Array.from({ length: 3 }, (_, i) => ({ id: `n${i + 1}`, host: '127.0.0.1', port: 7000 + i, adminPort: 0, zone: 'z', weight: 1 }));
  const meta: ClusterMeta = { clusterId, partitions: Math.min(partitions, 16_384), replicas: REPLICAS, initialNodes: 3, createdMs: 0, ack: 'sync', uncleanPromotion: false, replaceAfterMs: 0 };
  // initialMap places up to 16384 partitions (the slot count); larger maps repeat that placement.
  const base = initialMap(meta, nodes);
  const planned: PartitionMap = { ...base, partitions: Array.from({ length: partitions }, (_, p) => base.partitions[p % base.partitions.length]!) };
  const writer = new EtcdCoordinator(etcd.url, [`127.0.0.1:${etcd.clientPort}`]);
  await writer.connect();
  let map = (await writer.casMap(undefined, planned))!;
  const watchers: EtcdCoordinator[] = [];
  for (let i = 0; i < watcherCount; i++) {
    const w = new EtcdCoordinator(etcd.url, [`127.0.0.1:${etcd.clientPort}`]);
    await w.connect();
    watchers.push(w);
  }
  await whenAllSee(watchers, (s) => s.map?.epoch === map.epoch, performance.now());
  progress(`${partitions} partitions, ${watcherCount} watchers: single-partition changes`);
  const bytesBefore = await etcdMetric(etcd, 'etcd_network_client_grpc_received_bytes_total');
  const delays: number[] = [];
  for (let i = 0; i < changes; i++) {
    const p = (i * 7919) % partitions;
    const e = map.partitions[p]!;
    const next = { ...map, partitions: map.partitions.map((x, j) => (j === p ? { replicas: [e.replicas[1]!, e.replicas[0]!, ...e.replicas.slice(2)], epoch: map.epoch + 1 } : x)) };
    const t0 = performance.now();
    const written = await writer.casMap(map, next);
    if (written === undefined) throw new Error('benchmark write lost its guard');
    map = written;
    const epoch = map.partitions[p]!.epoch;
    delays.push(...(await whenAllSee(watchers, (s) => s.map?.partitions[p]?.epoch === epoch, t0)));
  }
  const bytesPerChange = ((await etcdMetric(etcd, 'etcd_network_client_grpc_received_bytes_total')) - bytesBefore) / changes;
  progress(`${partitions} partitions, ${watcherCount} watchers: a node's failover`);
  const failed = map.partitions.map((e, p) => ({ e, p })).filter(({ e }) => e.replicas[0] === 'n1');
  const next = { ...map, partitions: map.partitions.map((e) => (e.replicas[0] === 'n1' ? { replicas: [...e.replicas.slice(1), 'n1'], epoch: map.epoch + 1, isr: e.replicas.slice(1) } : e)) };
  const fBytesBefore = await etcdMetric(etcd, 'etcd_network_client_grpc_received_bytes_total');
  const t0 = performance.now();
  const written = await writer.casMap(map, next);
  if (written === undefined) throw new Error('benchmark failover lost its guard');
  const failoverAll = Math.max(...(await whenAllSee(watchers, (s) => s.map !== undefined && s.map.partitions.every((e) => e.replicas[0] !== 'n1'), t0)));
  const fBytes = (await etcdMetric(etcd, 'etcd_network_client_grpc_received_bytes_total')) - fBytesBefore;
  const rangesBefore = await etcdMetric(etcd, 'grpc_server_handled_total', 'grpc_method="Range"');
  await sleep(5_000);
  const rangesIdle = ((await etcdMetric(etcd, 'grpc_server_handled_total', 'grpc_method="Range"')) - rangesBefore) / 5;
  for (const w of watchers) await w.close();
  await writer.close();
  delays.sort((a, b) => a - b);
  return {
    partitions,
    watchers: watcherCount,
    singleP50Ms: quantile(delays, 0.5),
    singleP99Ms: quantile(delays, 0.99),
    singleMaxMs: delays.at(-1)!,
    failoverPartitions: failed.length,
    failoverAllMs: failoverAll,
    bytesPerChange,
    bytesPerFailedOverPartition: fBytes / failed.length,
    anchorBytesPerChange: JSON.stringify(map).length,
    rangeReadsPerSecIdle: rangesIdle,
  };
}


/** etcd's database size after `changes` single-partition map changes, with Atoll's compaction and without. */
async function dbGrowth(changes: number): Promise<{ changes: number; dbBytesBefore: number; dbBytesAfter: number; dbBytesAfterCompact: number; secs: number }> {
  const etcd = await startTestEtcd();
  try {
    const nodes: ClusterNode[] = Array.from({ length: 3 }, (_, i) => ({ id: `n${i + 1}`, host: '127.0.0.1', port: 7000 + i, adminPort: 0, zone: 'z', weight: 1 }));
    const meta: ClusterMeta = { clusterId: 'growth', partitions: 2048, replicas: 3, initialNodes: 3, createdMs: 0, ack: 'sync', uncleanPromotion: false, replaceAfterMs: 0 };
    const c = new EtcdCoordinator(etcd.url, [`127.0.0.1:${etcd.clientPort}`]);
    await c.connect();
    let map = (await c.casMap(undefined, initialMap(meta, nodes)))!;
    const dbBytesBefore = await c.dbSizeBytes();
    const t0 = Date.now();
    for (let i = 0; i < changes; i++) {
      const p = (i * 7919) % 2048;
      const e = map.partitions[p]!;
      map = (await c.casMap(map, { ...map, partitions: map.partitions.map((x, j) => (j === p ? { replicas: [e.replicas[1]!, e.replicas[0]!, e.replicas[2]!], epoch: map.epoch + 1 } : x)) }))!;
      // The controller compacts every minute in a cluster; here every 1,000 changes stands in for it.
      if (i % 1_000 === 999) await c.compact();
      if (i % 2_000 === 1_999) progress(`${i + 1} of ${changes} map changes`);
    }
    const secs = (Date.now() - t0) / 1000;
    const dbBytesAfter = await c.dbSizeBytes();
    await c.compact();
    const dbBytesAfterCompact = await c.dbSizeBytes();
    await c.close();
    return { changes, dbBytesBefore, dbBytesAfter, dbBytesAfterCompact, secs };
  } finally {
    await etcd.stop();
  }
}

interface FaultRow {
  fault: string;
  ms: number;
  leaseLosses: number;
  failovers: number;
}

/** Processes at the defaults: kill -9 of leaders and the controller, and a 3 s event-loop stall. */
async function processFaults(rounds: number): Promise<FaultRow[]> {
  const etcd = await startTestEtcd();
  const nodes = new Map<string, RunningNode>();
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'atoll-bench-cp-'));
  const start = async (id: string): Promise<void> => {
    nodes.set(id, await startClusterNodeProcess(etcd.url, id, ['--engine', 'lmdb', '--data-dir', join(dir, id), '--enable-debug-command', 'local']));
  };
  const alive = (n: RunningNode): boolean => n.child.exitCode === null && n.child.signalCode === null;
  const ports = (): number[] => [...nodes.values()].filter(alive).map((n) => n.port);
  const rows: FaultRow[] = [];
  const { EtcdCoordinator: Coord } = await import('../src/coordinator/etcd.js');
  const coord = new Coord(etcd.url, [`127.0.0.1:${etcd.clientPort}`]);
  try {
    const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--replicas', '3', '--ack', 'sync']);
    if (created.code !== 0) throw new Error(created.err);
    await Promise.all(['n1', 'n2', 'n3'].map(start));
    await untilClusterOk(ports(), 60_000);
    await coord.connect();
    const counts = (): { lease: number; failover: number } => {
      const text = [...nodes.values()].map((n) => n.output()).join('');
      return { lease: (text.match(/lease lost/g) ?? []).length, failover: (text.match(/failover: \d+ partitions moved/g) ?? []).length };
    };
    const leaderOf = async (key: string): Promise<string> => {
      const map = (await coord.snapshot()).map!;
      return map.partitions[Math.floor(keySlot(key) / (16384 / map.partitions.length))]!.replicas[0]!;
    };
    for (let round = 0; round < rounds; round++) {
      for (const kind of ['leader', 'controller'] as const) {
        await sleep(2_000 + Math.random() * 700);
        const snap = await coord.snapshot();
        const victim = kind === 'controller' ? snap.controller! : await leaderOf(`cp:${round}`);
        let key = `cp:${round}`;
        for (let i = 0; (await leaderOf(key)) !== victim; i++) key = `cp:${round}:${i}`;
        const c = new Redis.Cluster(ports().map((port) => ({ host: '127.0.0.1', port })), { redisOptions: { commandTimeout: 500, maxRetriesPerRequest: 0 }, retryDelayOnMoved: 10, retryDelayOnTryAgain: 20, retryDelayOnClusterDown: 20 });
        c.on('error', () => undefined);
        await until('writable', async () => (await c.set(key, 'before').then(() => true, () => undefined)), 20_000);
        const before = counts();
        const t0 = Date.now();
        await nodes.get(victim)!.stop('SIGKILL');
        const writableMs = await until('writable again', async () => (await c.set(key, 'after').then(() => Date.now() - t0, () => undefined)), 30_000, 10);
        c.disconnect();
        rows.push({ fault: `kill -9 ${kind} (${victim}) -> key writable`, ms: writableMs, leaseLosses: counts().lease - before.lease, failovers: counts().failover - before.failover });
        if (kind === 'controller') {
          const acting = await until('a new controller', async () => {
            const now = (await coord.snapshot()).controller;
            return now !== undefined && now !== victim ? Date.now() - t0 : undefined;
          }, 30_000, 10);
          rows.push({ fault: `kill -9 controller (${victim}) -> new controller elected`, ms: acting, leaseLosses: 0, failovers: 0 });
        }
        await start(victim);
        await untilClusterOk(ports(), 60_000);
      }
      await sleep(3_000);
      const before = counts();
      const target = (await coord.snapshot()).controller!;
      const t0 = Date.now();
      await respOnce('127.0.0.1', nodes.get(target)!.port, ['DEBUG', 'SLEEP', '3']);
      const stallMs = Date.now() - t0;
      await sleep(4_000);
      rows.push({ fault: `3 s stall of the controller's event loop (${target})`, ms: stallMs, leaseLosses: counts().lease - before.lease, failovers: counts().failover - before.failover });
    }
  } finally {
    await coord.close();
    for (const n of nodes.values()) if (alive(n)) await n.stop('SIGKILL');
    await etcd.stop();
  }
  return rows;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const configs: [number, number][] = quick ? [[2048, 3], [2048, 100], [16384, 3]] : [[2048, 3], [2048, 100], [16384, 3], [16384, 100], [65536, 3], [65536, 100], [2048, 1000]];
  const rows: PropagationRow[] = [];
  for (const [partitions, watchers] of configs) {
    const etcd = await startTestEtcd();
    try {
      rows.push(await propagation(etcd, partitions, watchers, quick ? 20 : 50));
    } finally {
      await etcd.stop();
    }
  }
  process.stdout.write(`\nMap change propagation (writer -> every watcher; ${REPLICAS} replicas; one process, each watcher its own etcd client)\n`);
  process.stdout.write(
    `${formatTable(
      ['partitions', 'watchers', 'one change p50 ms', 'p99 ms', 'max ms', 'failover: partitions', 'all applied ms', 'etcd B/change', 'B/failed-over partition', 'previous design B/change', 'ratio', 'range reads/s idle'],
      rows.map((r) => [r.partitions, r.watchers, r.singleP50Ms.toFixed(1), r.singleP99Ms.toFixed(1), r.singleMaxMs.toFixed(1), r.failoverPartitions, r.failoverAllMs.toFixed(0), r.bytesPerChange.toFixed(0), r.bytesPerFailedOverPartition.toFixed(0), r.anchorBytesPerChange, (r.bytesPerChange / r.anchorBytesPerChange).toFixed(4), r.rangeReadsPerSecIdle.toFixed(2)]),
    )}\n`,
  );
  progress('etcd database growth');
  const growth = await dbGrowth(quick ? 2_000 : 10_000);
  process.stdout.write(`\netcd database after ${growth.changes} map changes (2048 partitions; compacted every 1,000 changes): ${(growth.dbBytesBefore / 2 ** 20).toFixed(1)} MB before, ${(growth.dbBytesAfter / 2 ** 20).toFixed(1)} MB after, ${(growth.dbBytesAfterCompact / 2 ** 20).toFixed(1)} MB after a last compaction (${growth.secs.toFixed(1)} s, ${(growth.changes / growth.secs).toFixed(0)} changes/s)\n`);
  progress('process faults at the defaults');
  const faults = await processFaults(quick ? 1 : 3);
  process.stdout.write(`\nFaults at the defaults (2048 partitions, R = 3, ack sync, LMDB; goals: writable <= 3000 ms, new controller <= lease TTL + 500 = 2500 ms, a 3 s stall costs no lease)\n`);
  process.stdout.write(`${formatTable(['fault', 'ms', 'lease losses', 'failovers'], faults.map((f) => [f.fault, f.ms, f.leaseLosses, f.failovers]))}\n`);
  const file = writeResults('control-plane', { quick, machine: machine(), propagation: rows, growth, faults });
  process.stdout.write(`\nwrote ${file}\n`);
}
