// Rebalance benchmark: load data into a 3-node cluster (R = 3, quorum, memory engine), add 2 nodes, plan and
// apply with `atoll rebalance apply --wait`; report total time, copy rate, bytes moved vs the ideal minimum
// (the new nodes' fair share of all replicas), client p99 latency during the move vs before, and the longest
// single write (the pause a client sees at a leadership switch).
import { Cluster } from 'ioredis';
import type { RunningNode } from '../test/helpers-process.js';
import { runAtoll, startClusterNodeProcess, startTestEtcd, untilClusterOk } from '../test/helpers-cluster.js';
import { formatTable, machine, progress, writeResults } from './lib.js';
import { openCoordinator } from '../src/coordinator/coordinator.js';
import { parsePlan } from '../src/cluster/rebalance.js';

const VALUE_BYTES = 1024;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Writes and reads keys in a loop, recording each command's latency (ms) with its start time. */
function probe(client: Cluster, keys: number): { samples: { atMs: number; ms: number }[]; stop(): Promise<void> } {
  const samples: { atMs: number; ms: number }[] = [];
  let running = true;
  const loop = (async () => {
    let i = 0;
    while (running) {
      const t = performance.now();
      const at = Date.now();
      try {
        if (i % 2 === 0) await client.set(`k:${i % keys}`, 'x'.repeat(VALUE_BYTES));
        else await client.get(`k:${i % keys}`);
      } catch {
        // counted by its latency anyway
      }
      samples.push({ atMs: at, ms: performance.now() - t });
      i++;
    }
  })();
  return { samples, stop: async () => ((running = false), await loop) };
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  // The product's default partition count; --partitions 256 repeats the runs made before the control plane was rebuilt.
  const partitionsArg = args.indexOf('--partitions');
  const partitions = partitionsArg >= 0 ? Number(args[partitionsArg + 1]) : 2048;
  const megabytes = quick ? 50 : 1024;
  const keys = Math.round((megabytes * 1024 * 1024) / VALUE_BYTES);
  const etcd = await startTestEtcd();
  const nodes = new Map<string, RunningNode>();
  try {
    const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--partitions', String(partitions), '--replicas', '3', '--ack', 'quorum']);
    if (created.code !== 0) throw new Error(created.err);
    // Nodes holding gigabytes in the memory engine have multi-GB heaps whose full GCs can pause them past the
    // default 2 s lease (a spurious failover mid-move); --lease-ttl-ms <ms> gives them a longer one.
    const leaseArg = args.indexOf('--lease-ttl-ms');
    const lease = leaseArg >= 0 ? ['--lease-ttl-ms', args[leaseArg + 1] ?? ''] : [];
    const start = async (id: string): Promise<void> => void nodes.set(id, await startClusterNodeProcess(etcd.url, id, ['--engine', 'memory', ...lease]));
    await Promise.all(['n1', 'n2', 'n3'].map(start));
    const ports = (): number[] => [...nodes.values()].map((n) => n.port);
    await untilClusterOk(ports(), 30_000);
    const client = new Cluster(ports().map((port) => ({ host: '127.0.0.1', port })), { enableAutoPipelining: true });
    client.on('error', () => undefined);
    progress(`loading ${megabytes} MB (${keys} keys of ${VALUE_BYTES} B)`);
    const value = 'v'.repeat(VALUE_BYTES);
    for (let i = 0; i < keys; i += 1000) await Promise.all(Array.from({ length: Math.min(1000, keys - i) }, (_, j) => client.set(`k:${i + j}`, value)));
    const probeClient = new Cluster(ports().map((port) => ({ host: '127.0.0.1', port })));
    probeClient.on('error', () => undefined);
    progress('measuring client latency before the move (5 s)');
    const before = probe(probeClient, keys);
    await new Promise((r) => setTimeout(r, 5_000));
    await before.stop();
    progress('adding n4, n5 and planning');
    await Promise.all(['n4', 'n5'].map(start));
    const planned = await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--json']);
    if (planned.code !== 0) throw new Error(planned.err);
    const plan = JSON.parse(planned.out) as { id: string; moves: unknown[]; totalBytes: number; balanceBefore: number; balanceAfter: number };
    // Optional settings: --moves-per-node <n>, --rate <bytes/s, e.g. 16m> (the copy throttle).
    for (const flag of ['--moves-per-node', '--rate']) {
      const at = args.indexOf(flag);
      if (at < 0) continue;
      const r = await runAtoll(['rebalance', 'config', '--coordinator', etcd.url, flag, args[at + 1] ?? '']);
      if (r.code !== 0) throw new Error(r.err);
    }
    const rateArg = args.indexOf('--rate');
    const during = probe(probeClient, keys);
    const t0 = Date.now();
    // The plan's progress over time (moves done each half second), for the results and the bottleneck hunt.
    const coord = await openCoordinator(etcd.url);
    const timeline: [number, number][] = [];
    let following = true;
    const follow = (async () => {
      while (following) {
        const text = await coord.getDoc(`plans/${plan.id}`).catch(() => undefined);
        if (text !== undefined) timeline.push([Date.now() - t0, parsePlan(text).done]);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const applied = await runAtoll(['rebalance', 'apply', plan.id, '--coordinator', etcd.url, '--wait'], 1_800_000);
    const elapsedMs = Date.now() - t0;
    following = false;
    await follow;
    const finalText = await coord.getDoc(`plans/${plan.id}`);
    const final = finalText === undefined ? undefined : parsePlan(finalText);
    await coord.close();
    await during.stop();
    if (applied.code !== 0) {
      // Say why: the nodes' own lines about leases, stalls, memory and failovers.
      for (const [id, n] of nodes) for (const line of n.output().split('\n')) if (/lease|stuck|OOM|failover|heap/.test(line)) process.stderr.write(`${id}: ${line}\n`);
      throw new Error(applied.err);
    }
    client.disconnect();
    probeClient.disconnect();
    // Ideal: the two new nodes end with 2/5 of all replicas, and nothing else moves.
    const replicaBytes = keys * (VALUE_BYTES + 8) * 3;
    const ideal = (replicaBytes * 2) / 5;
    const beforeMs = before.samples.map((s) => s.ms);
    const duringMs = during.samples.map((s) => s.ms);
    // Hand-overs that had to be retried (each costs a back-off), from the nodes' logs.
    const logs = [...nodes.values()].map((n) => n.output()).join('\n');
    const retries = { timeout: (logs.match(/did not catch up/g) ?? []).length, contention: (logs.match(/kept changing|could not be switched/g) ?? []).length };
    const maxDuringMs = duringMs.reduce((a, b) => Math.max(a, b), 0);
    const rows = [
      ['data loaded', `${megabytes} MB (x3 replicas)`],
      ['node lease TTL', lease.length > 0 ? `${lease[1]} ms` : 'default (2000 ms)'],
      ['copy throttle', rateArg >= 0 ? `${args[rateArg + 1]}/s` : 'none'],
      ['failovers during the move (leader lease lost)', String((logs.match(/failover: new leaders published/g) ?? []).length)],
      ['hand-overs retried (catch-up timeout / map contention)', `${retries.timeout} / ${retries.contention}`],
      ['longest write pause at a switch (hand-over hold)', `${final?.pauseMsMax ?? '?'} ms`],
      ['partition moves', String(plan.moves.length)],
      ['bytes copied (plan)', `${(plan.totalBytes / 1024 / 1024).toFixed(1)} MB`],
      ['ideal minimum', `${(ideal / 1024 / 1024).toFixed(1)} MB`],
      ['copied / ideal', (plan.totalBytes / ideal).toFixed(2)],
      ['balance before -> after', `${plan.balanceBefore} -> ${plan.balanceAfter}`],
      ['total time', `${(elapsedMs / 1000).toFixed(1)} s`],
      ['copy rate', `${(plan.totalBytes / 1024 / 1024 / (elapsedMs / 1000)).toFixed(1)} MB/s`],
      ['client p99 before / during', `${quantile(beforeMs, 0.99).toFixed(2)} / ${quantile(duringMs, 0.99).toFixed(2)} ms (${(quantile(duringMs, 0.99) / Math.max(0.001, quantile(beforeMs, 0.99))).toFixed(1)}x)`],
      ['longest single command during the move', `${maxDuringMs.toFixed(0)} ms`],
    ];
    process.stdout.write(`\n3 -> 5 nodes, R = 3, quorum, ${partitions} partitions, memory engine\n${formatTable(['measure', 'value'], rows)}\n`);
    const file = writeResults('rebalance', { machine: machine(), partitions, megabytes, keys, plan: { moves: plan.moves.length, totalBytes: plan.totalBytes }, ideal, elapsedMs, p99BeforeMs: quantile(beforeMs, 0.99), p99DuringMs: quantile(duringMs, 0.99), maxDuringMs, pauseMsMax: final?.pauseMsMax, verify: final?.verify, retries, timeline });
    process.stdout.write(`results: ${file}\n`);
  } finally {
    for (const n of nodes.values()) await n.stop('SIGKILL');
    await etcd.stop();
  }
}
