// Failover benchmark: three node processes (memory engine, R = 3, quorum) on a real etcd. For each round a
// partition's leader is killed with SIGKILL (or paused with SIGSTOP); we measure the time until a write to a
// key of that partition succeeds again (goal <= 3 s with default settings; Redis Cluster's default
// cluster-node-timeout alone is 15 s), and for SIGSTOP how soon the woken old leader refuses the key.
import { RespClient, RespErrorReply, type RespValue } from '../src/client/resp-client.js';
import { keySlot } from '../src/partitioning/hash.js';
import type { RunningNode } from '../test/helpers-process.js';
import { keyPerSlot, runAtoll, startClusterNodeProcess, startTestEtcd, untilClusterOk } from '../test/helpers-cluster.js';
import { formatTable, machine, progress, writeResults } from './lib.js';

const PROBE_TIMEOUT_MS = 250;

/** One command on a fresh connection, bounded in time: a paused node accepts connections but never answers. */
async function bounded(port: number, args: string[]): Promise<RespValue | Error> {
  let client: RespClient | undefined;
  const timeout = new Promise<Error>((r) => setTimeout(() => r(new Error('timeout')), PROBE_TIMEOUT_MS));
  try {
    return await Promise.race([
      (async () => {
        client = await RespClient.connect('127.0.0.1', port);
        return client.send(args);
      })(),
      timeout,
    ]);
  } catch (e) {
    return e as Error;
  } finally {
    client?.close();
  }
}

/** The client port leading `slot`, from any live node's CLUSTER SLOTS. */
async function leaderPort(ports: number[], slot: number): Promise<number | undefined> {
  for (const port of ports) {
    const r = await bounded(port, ['CLUSTER', 'SLOTS']);
    if (!Array.isArray(r)) continue;
    for (const range of r as RespValue[][]) if (Number(range[0]) <= slot && slot <= Number(range[1])) return Number((range[2] as RespValue[])[1]);
  }
  return undefined;
}

/** Retries SET key until a leader acknowledges it; returns when it did. */
async function untilWritable(ports: () => number[], key: string): Promise<number> {
  const slot = keySlot(key);
  for (;;) {
    const port = await leaderPort(ports(), slot);
    if (port !== undefined) {
      const r = await bounded(port, ['SET', key, 'after']);
      if (r === 'OK') return Date.now();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function run(args: string[]): Promise<void> {
  const rounds = args.includes('--quick') ? 2 : 5;
  const etcd = await startTestEtcd();
  const nodes = new Map<string, RunningNode>();
  const rows: { round: number; fault: string; victim: string; writableMs: number; refusedMs?: number }[] = [];
  try {
    progress('creating a 3-node cluster, R = 3, quorum');
    const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--partitions', '256', '--replicas', '3', '--ack', 'quorum']);
    if (created.code !== 0) throw new Error(created.err);
    const start = async (id: string): Promise<void> => void nodes.set(id, await startClusterNodeProcess(etcd.url, id, ['--engine', 'memory']));
    await Promise.all(['n1', 'n2', 'n3'].map(start));
    const live = (): number[] => [...nodes.values()].filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => n.port);
    await untilClusterOk(live(), 30_000);
    const keys = keyPerSlot('fo');
    for (let round = 1; round <= rounds * 2; round++) {
      const fault = round % 2 === 1 ? 'SIGKILL' : 'SIGSTOP';
      const key = keys[(round * 4099) % 16384]!;
      const port = (await leaderPort(live(), keySlot(key)))!;
      const [victim, node] = [...nodes].find(([, n]) => n.port === port)!;
      await bounded(port, ['SET', key, 'before']);
      progress(`round ${round}: ${fault} ${victim} (leads ${key})`);
      const t0 = Date.now();
      if (fault === 'SIGKILL') {
        await node.stop('SIGKILL');
        const writable = await untilWritable(live, key);
        rows.push({ round, fault, victim, writableMs: writable - t0 });
        await start(victim);
      } else {
        process.kill(node.pid, 'SIGSTOP');
        const writable = await untilWritable(() => live().filter((p) => p !== node.port), key);
        const tCont = Date.now();
        process.kill(node.pid, 'SIGCONT');
        // The woken leader must refuse the key (its lease is gone; then the new map deposes it).
        let refusedMs: number | undefined;
        for (;;) {
          const r = await bounded(node.port, ['SET', key, 'stale']);
          if (r instanceof RespErrorReply && /^(MOVED|TRYAGAIN)/.test(r.message)) {
            refusedMs = Date.now() - tCont;
            break;
          }
          if (r === 'OK') throw new Error(`the paused leader ${victim} accepted a write after waking`);
        }
        rows.push({ round, fault, victim, writableMs: writable - t0, refusedMs });
      }
      await untilClusterOk(live(), 30_000);
      await new Promise((r) => setTimeout(r, 2_000)); // let followers rejoin the in-sync set
    }
  } finally {
    for (const n of nodes.values()) {
      try {
        process.kill(n.pid, 'SIGCONT');
      } catch {
        // gone
      }
      await n.stop('SIGKILL');
    }
    await etcd.stop();
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const table = formatTable(
    ['round', 'fault', 'node', 'fault -> partition writable (ms)', 'SIGCONT -> old leader refuses (ms)'],
    rows.map((r) => [r.round, r.fault, r.victim, r.writableMs, r.refusedMs ?? '']),
  );
  const kill = rows.filter((r) => r.fault === 'SIGKILL').map((r) => r.writableMs);
  const stop = rows.filter((r) => r.fault === 'SIGSTOP').map((r) => r.writableMs);
  process.stdout.write(`\n3 nodes, R = 3, quorum, lease TTL 2 s (default)\n${table}\nmedian kill -9 -> writable ${median(kill)} ms, SIGSTOP -> writable ${median(stop)} ms (goal <= 3000 ms)\n`);
  const file = writeResults('failover', { machine: machine(), rows });
  process.stdout.write(`results: ${file}\n`);
}
