// `atoll cluster create|status|nodes`: administers a cluster through its coordinator (etcd).
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { CLUSTER_LIMITS, ClusterMetaSchema, DEFAULT_PARTITIONS, RoutingTable, type ClusterMeta } from '../cluster/map.js';
import { openCoordinator, type Coordinator, type CoordinatorSnapshot } from '../coordinator/coordinator.js';
import { UsageError } from '../errors.js';
import { keySlot } from '../partitioning/hash.js';
import { PeerClient } from '../transport/peer.js';
import type { CliIo } from './main.js';
import { toolPeerKey, resolvePeerTls } from './secret.js';

export interface CreateFlags {
  partitions?: string;
  replicas?: string;
  nodes?: string;
  clusterId?: string;
  ack?: string;
  uncleanPromotion?: boolean;
  replaceAfterMs?: string;
}

const ACK_MODES = ['async', 'quorum', 'sync'] as const;

function intFlag(v: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

/** Cluster settings from `create` flags (shared with `atoll dev` and `atoll demo`). */
export function clusterMetaFromFlags(flags: CreateFlags, nowMs: number): ClusterMeta {
  const meta = {
    clusterId: flags.clusterId ?? `atoll-${randomBytes(4).toString('hex')}`,
    partitions: intFlag(flags.partitions, 'partitions', DEFAULT_PARTITIONS, 1, CLUSTER_LIMITS.partitionsMax),
    replicas: intFlag(flags.replicas, 'replicas', 1, 1, CLUSTER_LIMITS.replicasMax),
    initialNodes: intFlag(flags.nodes, 'nodes', 1, 1, CLUSTER_LIMITS.nodesMax),
    createdMs: nowMs,
    ack: flags.ack ?? 'quorum',
    uncleanPromotion: flags.uncleanPromotion === true,
    replaceAfterMs: intFlag(flags.replaceAfterMs, 'replace-after-ms', 300_000, 0, 7 * 24 * 3_600_000),
  };
  if (!(ACK_MODES as readonly string[]).includes(meta.ack)) throw new UsageError(`--ack must be ${ACK_MODES.join(', ')}; got "${meta.ack}"`);
  const parsed = ClusterMetaSchema.safeParse(meta);
  if (!parsed.success) throw new UsageError(`invalid cluster settings: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** A summary of the cluster for people and scripts. */
export function clusterStatus(snap: CoordinatorSnapshot): Record<string, unknown> {
  const live = new Set(snap.nodes.map((n) => n.id));
  const table = snap.map === undefined ? undefined : new RoutingTable(snap.map);
  const ids = [...new Set([...snap.nodes.map((n) => n.id), ...Object.keys(snap.map?.nodes ?? {})])].sort();
  return {
    clusterId: snap.meta?.clusterId,
    partitions: snap.meta?.partitions,
    replicas: snap.meta?.replicas,
    epoch: snap.map?.epoch ?? 0,
    controller: snap.controller ?? null,
    state: table !== undefined && table.leaders.every((id) => live.has(id)) ? 'ok' : 'fail',
    nodes: ids.map((id) => {
      const n = snap.nodes.find((x) => x.id === id) ?? snap.map?.nodes[id];
      const counts = table?.partitionsOf(id) ?? { led: 0, followed: 0 };
      return { id, host: n?.host, port: n?.port, adminPort: n?.adminPort, zone: n?.zone, weight: n?.weight, up: live.has(id), led: counts.led, followed: counts.followed };
    }),
  };
}

/** Opens the coordinator a --coordinator flag names, runs `run`, and closes it. */
export async function withCoordinator<T>(url: string | undefined, run: (c: Coordinator) => Promise<T>): Promise<T> {
  if (url === undefined) throw new UsageError('--coordinator etcd://host:port is required');
  const c = await openCoordinator(url);
  try {
    return await run(c);
  } finally {
    await c.close();
  }
}

export function registerCluster(program: Command, io: CliIo): void {
  const cluster = program.command('cluster').description('administer a cluster through its coordinator');
  cluster
    .command('create')
    .description('create the cluster settings in the coordinator (nodes then join with atoll start --cluster)')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--partitions <n>', `partitions (contiguous slot ranges; default ${DEFAULT_PARTITIONS})`)
    .option('--replicas <n>', 'replicas per partition (default 1)')
    .option('--ack <mode>', 'when writes are acknowledged: async | quorum (default) | sync')
    .option('--replace-after-ms <ms>', 'rebuild the replicas of a node gone this long on other nodes (default 300000; 0 = never)')
    .option('--unclean-promotion', 'on failover, promote an out-of-sync replica if no safe one is left (may lose acknowledged writes)')
    .option('--nodes <n>', 'nodes to wait for before the first placement (default 1)')
    .option('--cluster-id <id>', 'cluster id (default: random)')
    .option('--json', 'print JSON')
    .action(async (flags: CreateFlags & { coordinator: string; json?: boolean }) => {
      const meta = clusterMetaFromFlags(flags, Date.now());
      const created = await withCoordinator(flags.coordinator, (c) => c.createCluster(meta));
      io.out(flags.json ? `${JSON.stringify(created)}\n` : `cluster ${created.clusterId}: ${created.partitions} partitions, ${created.replicas} replica(s), first placement after ${created.initialNodes} node(s)\n`);
    });
  registerMove(cluster, io);
  cluster
    .command('status')
    .description('show the cluster: epoch, controller, nodes and the partitions they hold')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--json', 'print JSON')
    .action(async (flags: { coordinator: string; json?: boolean }) => {
      const snap = await withCoordinator(flags.coordinator, (c) => c.snapshot());
      if (snap.meta === undefined) throw new UsageError(`no cluster at ${flags.coordinator}; create one with atoll cluster create`);
      const status = clusterStatus(snap);
      if (flags.json) return void io.out(`${JSON.stringify(status)}\n`);
      io.out(`cluster ${String(status.clusterId)}  state ${String(status.state)}  epoch ${String(status.epoch)}  controller ${String(status.controller)}\n`);
      io.out(nodesTable(status.nodes as NodeRow[]));
    });
  cluster
    .command('nodes')
    .description('list the nodes: address, zone, weight, up/down, partitions led and followed')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--json', 'print JSON')
    .action(async (flags: { coordinator: string; json?: boolean }) => {
      const snap = await withCoordinator(flags.coordinator, (c) => c.snapshot());
      const rows = clusterStatus(snap).nodes as NodeRow[];
      io.out(flags.json ? `${JSON.stringify(rows)}\n` : nodesTable(rows));
    });
}

/** Longest a hand-off may take before the CLI gives up waiting (the move itself continues or aborts on the node). */
export const MOVE_TIMEOUT_MS = 300_000;

function registerMove(cluster: Command, io: CliIo): void {
  cluster
    .command('move')
    .description('hand one partition to another node: its commands pause while its keys are copied, then the map switches')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--partition <n>', 'partition number')
    .option('--key <key>', 'the partition holding this key')
    .requiredOption('--to <id>', 'node that takes the partition')
    .option('--json', 'print JSON')
    .action(async (flags: { coordinator: string; partition?: string; key?: string; to: string; json?: boolean }) => {
      const result = await withCoordinator(flags.coordinator, async (c) => {
        const snap = await c.snapshot();
        if (snap.map === undefined) throw new UsageError('the cluster has no partition map yet');
        const table = new RoutingTable(snap.map);
        let partition: number;
        if (flags.key !== undefined) partition = table.partitionOfSlot(keySlot(flags.key));
        else if (flags.partition !== undefined && /^\d+$/.test(flags.partition)) partition = Number(flags.partition);
        else throw new UsageError('give --partition <n> or --key <key>');
        const entry = snap.map.partitions[partition];
        if (entry === undefined) throw new UsageError(`partition ${partition} does not exist (the map has ${snap.map.partitions.length})`);
        const leader = snap.map.nodes[entry.replicas[0]!]!;
        const peer = new PeerClient(leader.host, leader.port, { key: toolPeerKey(), tls: resolvePeerTls() });
        try {
          return (await peer.request({ op: 'handoff', partition, to: flags.to }, MOVE_TIMEOUT_MS)) as Record<string, unknown>;
        } finally {
          peer.close();
        }
      });
      io.out(
        flags.json
          ? `${JSON.stringify(result)}\n`
          : `partition ${String(result.partition)}: ${String(result.from)} -> ${String(result.to)}, ${String(result.keys)} keys, ${String(result.bytes)} bytes, commands held ${String(result.pauseMs)} ms, epoch ${String(result.epoch)}\n`,
      );
    });
}

/** `atoll failover`: hands leadership over without losing a write (the leader waits for the target first). */
export function registerFailover(program: Command, io: CliIo): void {
  program
    .command('failover')
    .description('move leadership of a partition (or of every partition a node leads) to an in-sync replica, losing no write')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--partition <n>', 'partition number')
    .option('--key <key>', 'the partition holding this key')
    .option('--node <id>', 'every partition this node leads')
    .option('--to <id>', 'the new leader (default: the most advanced in-sync replica)')
    .option('--json', 'print JSON')
    .action(async (flags: { coordinator: string; partition?: string; key?: string; node?: string; to?: string; json?: boolean }) => {
      const results = await withCoordinator(flags.coordinator, async (c) => {
        const snap = await c.snapshot();
        if (snap.map === undefined) throw new UsageError('the cluster has no partition map yet');
        const map = snap.map;
        const table = new RoutingTable(map);
        let partitions: number[];
        if (flags.node !== undefined) {
          if (map.nodes[flags.node] === undefined) throw new UsageError(`node ${flags.node} is not in the partition map`);
          partitions = map.partitions.flatMap((e, p) => (e.replicas[0] === flags.node ? [p] : []));
        } else if (flags.key !== undefined) partitions = [table.partitionOfSlot(keySlot(flags.key))];
        else if (flags.partition !== undefined && /^\d+$/.test(flags.partition)) partitions = [Number(flags.partition)];
        else throw new UsageError('give --partition <n>, --key <key> or --node <id>');
        const out: Record<string, unknown>[] = [];
        for (const p of partitions) {
          const entry = map.partitions[p];
          if (entry === undefined) throw new UsageError(`partition ${p} does not exist (the map has ${map.partitions.length})`);
          const leader = map.nodes[entry.replicas[0]!]!;
          const peer = new PeerClient(leader.host, leader.port, { key: toolPeerKey(), tls: resolvePeerTls() });
          try {
            out.push((await peer.request({ op: 'transfer', partition: p, to: flags.to }, MOVE_TIMEOUT_MS)) as Record<string, unknown>);
          } finally {
            peer.close();
          }
        }
        return out;
      });
      if (flags.json) io.out(`${JSON.stringify(results)}\n`);
      else for (const r of results) io.out(`partition ${String(r.partition)}: ${String(r.from)} -> ${String(r.to)}, writes held ${String(r.pauseMs)} ms, epoch ${String(r.epoch)}\n`);
    });
}

interface NodeRow {
  id: string;
  host?: string;
  port?: number;
  adminPort?: number;
  zone?: string;
  weight?: number;
  up: boolean;
  led: number;
  followed: number;
}

function nodesTable(rows: NodeRow[]): string {
  const lines = [['id', 'address', 'admin', 'zone', 'weight', 'state', 'led', 'followed']];
  for (const r of rows) lines.push([r.id, `${r.host ?? '?'}:${r.port ?? '?'}`, String(r.adminPort ?? ''), r.zone ?? '', String(r.weight ?? ''), r.up ? 'up' : 'down', String(r.led), String(r.followed)]);
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) => `${l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`).join('');
}
