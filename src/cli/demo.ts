// `atoll demo`: the embedded default. N cluster nodes in this one process with the in-memory coordinator,
// LMDB data in a temporary (or given) directory, admin APIs, a small live workload and a status line.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { pino } from 'pino';
import { RoutingTable } from '../cluster/map.js';
import { MemoryCoordinator } from '../coordinator/memory.js';
import { keySlot } from '../partitioning/hash.js';
import { startAdmin, type AdminHandle } from '../server/admin.js';
import { startClusterNode, type ClusterNodeHandle } from '../server/cluster-node.js';
import { LmdbEngine } from '../storage/lmdb.js';
import { MemoryEngine } from '../storage/memory.js';
import { systemClock } from '../storage/engine.js';
import { LEASE_TTL_MS_DEFAULT } from '../coordinator/coordinator.js';
import { UsageError } from '../errors.js';
import { clusterMetaFromFlags } from './cluster.js';
import { adminPortFor, contractLine, parseBasePort, parseNodeCount, untilSignal, waitForCluster } from './dev.js';
import type { CliIo } from './main.js';
import { randomBytes } from 'node:crypto';
import { peerKey as peerKeyOf } from '../transport/handshake.js';

export const DEMO_LIMITS = Object.freeze({ workloadEveryMs: 100, workloadOpsPerTick: 20, workloadKeys: 10_000, statusEveryMs: 2_000 });

interface DemoFlags {
  nodes?: string;
  basePort?: string;
  dataDir?: string;
  engine?: string;
  partitions?: string;
  ack?: string;
  replicas?: string;
  workload?: boolean;
  adminToken?: string;
  json?: boolean;
}

export function registerDemo(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description('run an N-node cluster inside this process (memory coordinator, LMDB data) with a live workload')
    .option('--nodes <n>', 'nodes (default 3)')
    .option('--base-port <port>', 'client port of the first node; the others follow (default 7000)')
    .option('--data-dir <dir>', 'keep data here (default: a temporary directory, removed on exit)')
    .option('--engine <name>', 'lmdb (default) or memory')
    .option('--partitions <n>', 'partitions (default 2048)')
    .option('--replicas <n>', 'replicas per partition (default 1)')
    .option('--ack <mode>', 'when writes are acknowledged: async | quorum (default) | sync')
    .option('--no-workload', 'do not run the background workload')
    .option('--admin-token <token>', 'allow dashboard actions (rebalance plans, moves) with this bearer token (default $ATOLL_ADMIN_TOKEN)')
    .option('--json', 'print one JSON line describing the cluster once it serves every slot')
    .action(async (flags: DemoFlags) => {
      const nodes = parseNodeCount(flags.nodes);
      const basePort = parseBasePort(flags.basePort, nodes);
      const engineKind = flags.engine ?? 'lmdb';
      const adminToken = flags.adminToken ?? process.env.ATOLL_ADMIN_TOKEN;
      if (engineKind !== 'lmdb' && engineKind !== 'memory') throw new UsageError(`--engine must be lmdb or memory, got "${engineKind}"`);
      const temporary = flags.dataDir === undefined;
      const dataDir = flags.dataDir ?? mkdtempSync(join(tmpdir(), 'atoll-demo-'));
      const log = pino({ name: 'atoll-demo', level: 'warn' }, pino.destination(2));
      const meta = clusterMetaFromFlags({ partitions: flags.partitions, replicas: flags.replicas, ack: flags.ack, nodes: String(nodes), clusterId: 'atoll-demo' }, Date.now());
      const coordinator = new MemoryCoordinator(systemClock);
      await coordinator.createCluster(meta);
      // The demo's nodes share a fresh cluster secret: their peer connections are authenticated as in production.
      const peerKey = peerKeyOf(randomBytes(32).toString('base64url'));
      const handles: ClusterNodeHandle[] = [];
      const admins = new Map<string, AdminHandle>();
      const stopAll = async (): Promise<void> => {
        await Promise.all(handles.map((h) => h.close()));
        await Promise.all([...admins.values()].map((a) => a.close()));
        await coordinator.close();
        if (temporary) rmSync(dataDir, { recursive: true, force: true });
      };
      /** Starts node `id` in this process on `port` (its admin API on the matching admin port). */
      const startOne = async (id: string, port: number): Promise<void> => {
        const dir = join(dataDir, id);
        handles.push(
          await startClusterNode({
            id,
            host: '127.0.0.1',
            port,
            adminPort: 0,
            zone: 'default',
            weight: 1,
            coordinator,
            engine: (m) => {
              if (engineKind === 'memory') return new MemoryEngine({ clock: systemClock });
              mkdirSync(dir, { recursive: true });
              return new LmdbEngine({ path: dir, clock: systemClock, durability: 'batched', partitions: m.partitions });
            },
            clock: systemClock,
            mode: 'redirect',
            dataDir: engineKind === 'lmdb' ? dir : undefined,
            log,
            peerKey,
            beforeRegister: async (server, routing, m) => {
              const admin = await startAdmin(server.state, {
                host: '127.0.0.1',
                port: adminPortFor(port),
                selfId: id,
                zone: 'default',
                routing,
                clusterId: m.clusterId,
                replicas: m.replicas,
                partitions: m.partitions,
                coordinator,
                adminToken,
                log,
              });
              admins.set(id, admin);
              return admin.port;
            },
          }),
        );
      };
      try {
        for (let i = 0; i < nodes; i++) await startOne(`n${i + 1}`, basePort + i);
        const snap = await waitForCluster(coordinator, nodes);
        if (flags.json) io.out(contractLine('memory', snap, new Map()));
        else {
          io.out(`atoll demo: ${nodes} nodes in process ${process.pid}, ${meta.partitions} partitions, data in ${dataDir}${temporary ? ' (removed on exit)' : ''}\n`);
          for (const n of snap.nodes) io.out(`  ${n.id}  redis-cli -c -p ${n.port}   admin http://127.0.0.1:${n.adminPort}/\n`);
          io.out('Type "kill <id>" to crash a node (its lease lapses, as a dead process\'s would), "add <id>" to start one more (plan and apply a rebalance to give it data). Ctrl-C stops the demo.\n');
        }
      } catch (e) {
        await stopAll();
        throw e;
      }
      /** Nodes still running (a node crashed with `kill` is left out of the workload and the status line). */
      const running = (): ClusterNodeHandle[] => handles.filter((h) => !coordinator.paused.has(h.id));
      const workload = flags.workload === false ? undefined : startWorkload(running);
      const commands = demoConsole(io, {
        async kill(id) {
          const h = handles.find((x) => x.id === id);
          if (h === undefined) return `no node ${id} (nodes: ${handles.map((x) => x.id).join(', ')})`;
          coordinator.paused.add(id);
          await Promise.all([h.halt(), admins.get(id)?.close()]);
          admins.delete(id);
          return `node ${id} crashed: its clients are cut off and its lease lapses within ${LEASE_TTL_MS_DEFAULT} ms`;
        },
        async add(id) {
          if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) return `node ids are 1-32 letters, digits, - or _; got "${id}"`;
          if (handles.some((x) => x.id === id)) return `node ${id} exists already`;
          const port = basePort + handles.length;
          if (port > 65535 - 10_000) return 'no port left for another node';
          await startOne(id, port);
          return `node ${id} started on port ${port} (admin http://127.0.0.1:${adminPortFor(port)}/); it holds nothing until a rebalance plan gives it partitions`;
        },
      });
      let lastCommands = 0;
      const status = setInterval(() => {
        const commands = running().reduce((n, h) => n + h.server.state.stats.commandsTotal, 0);
        const keys = running().reduce((n, h) => n + h.server.state.engine.size(), 0);
        const map = handles[0]!.routing.map;
        const rate = Math.round(((commands - lastCommands) * 1000) / DEMO_LIMITS.statusEveryMs);
        lastCommands = commands;
        const line = `atoll demo: epoch ${map?.epoch ?? 0} · ${handles.length} nodes · ${keys} keys · ${rate} commands/s\n`;
        if (flags.json) io.err(line);
        else io.out(line);
      }, DEMO_LIMITS.statusEveryMs);
      await untilSignal();
      commands.close();
      clearInterval(status);
      if (workload !== undefined) clearInterval(workload);
      await stopAll();
    });
}

/** Reads commands from stdin while the demo runs (when stdin is a pipe or terminal): `kill <id>`, `add <id>`. */
function demoConsole(io: CliIo, run: Record<'kill' | 'add', (id: string) => Promise<string>>): { close(): void } {
  const rl = createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    const [verb, arg] = line.trim().split(/\s+/);
    if (verb === undefined || verb === '') return;
    if ((verb === 'kill' || verb === 'add') && arg !== undefined) {
      run[verb](arg).then(
        (msg) => io.err(`atoll demo: ${msg}\n`),
        (e: unknown) => io.err(`atoll demo: ${verb} ${arg} failed: ${(e as Error).message}\n`),
      );
    } else io.err('atoll demo: commands: kill <node id>, add <node id>\n');
  });
  // Stdin closing (e.g. `atoll demo < /dev/null`) must not stop the demo.
  rl.on('close', () => undefined);
  return { close: () => rl.close() };
}

/** A small steady load: SETs and GETs of demo keys, each run on the node that owns the key. */
function startWorkload(running: () => ClusterNodeHandle[]): NodeJS.Timeout {
  let n = 0;
  const timer = setInterval(() => {
    const handles = running();
    const map = handles[0]?.routing.map;
    if (map === undefined) return;
    const table = new RoutingTable(map);
    for (let i = 0; i < DEMO_LIMITS.workloadOpsPerTick; i++) {
      const key = `demo:${(n++ * 7919) % DEMO_LIMITS.workloadKeys}`;
      const owner = handles.find((h) => h.id === table.leaderIdOfSlot(keySlot(key)));
      const args = i % 4 === 0 ? [Buffer.from('SET'), Buffer.from(key), Buffer.from(String(n))] : [Buffer.from('GET'), Buffer.from(key)];
      void owner?.server.runForPeer([args], 2).catch(() => undefined);
    }
  }, DEMO_LIMITS.workloadEveryMs);
  timer.unref();
  return timer;
}
