// Rebalancing under faults, real processes (etcd, LMDB every-write nodes, R = 2, sync): a throttled plan is
// interrupted by kill -9 of its target, then of its source, then of the controller, each restarted on its data
// directory; every plan still completes, a recorded read/write history stays linearizable (timeouts are
// unknown outcomes), and `atoll verify` finds every replica equal to its leader. Also: the copy throttle holds a
// move to the configured rate, and auto mode plans for a new node by itself once it has been stable.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { openCoordinator, type Coordinator } from '../../src/coordinator/coordinator.js';
import { listPlans } from '../../src/coordinator/plan-store.js';
import type { RebalancePlan } from '../../src/cluster/rebalance.js';
import { checkHistory } from '../../src/testing/linearizability.js';
import type { RunningNode } from '../helpers-process.js';
import { runAtoll, startClusterNodeProcess, startTestEtcd, stopCluster, until, untilClusterOk, type TestEtcd } from '../helpers-cluster.js';
import { startWorkload } from '../helpers-workload.js';

let etcd: TestEtcd;
let coord: Coordinator | undefined;
const nodes = new Map<string, RunningNode>();
const dirs = new Map<string, string>();
afterAll(async () => {
  await coord?.close();
  await stopCluster(nodes, etcd);
  for (const d of dirs.values()) rmSync(d, { recursive: true, force: true });
});

const start = async (id: string, extra: string[] = []): Promise<void> => {
  if (!dirs.has(id)) dirs.set(id, mkdtempSync(join(tmpdir(), `atoll-rbf-${id}-`)));
  nodes.set(id, await startClusterNodeProcess(etcd.url, id, ['--engine', 'lmdb', '--data-dir', dirs.get(id)!, ...extra]));
};
const ports = (): number[] => [...nodes.values()].filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => n.port);

async function plan(args: string[]): Promise<RebalancePlan> {
  const r = await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--json', ...args]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as RebalancePlan;
}

async function planNow(id: string): Promise<RebalancePlan> {
  return (await listPlans(coord!)).find((p) => p.id === id)!;
}

/** Applies a plan, waits until it is part-way (a target added, not all moves done), then runs `fault`. */
async function applyAndInterrupt(p: RebalancePlan, fault: () => Promise<void>): Promise<RebalancePlan> {
  const applied = await runAtoll(['rebalance', 'apply', p.id, '--coordinator', etcd.url]);
  expect(applied.code, applied.err).toBe(0);
  await until(
    'a move in progress',
    async () => {
      const map = (await coord!.snapshot()).map!;
      const moving = p.moves.some((m) => map.partitions[m.partition]!.replicas.length > m.from.length);
      return moving ? true : undefined;
    },
    30_000,
    20,
  );
  const mid = await planNow(p.id);
  expect(mid.status).toBe('applying');
  expect(mid.done).toBeLessThan(p.moves.length);
  await fault();
  return until(
    `plan ${p.id} done`,
    async () => {
      const now = await planNow(p.id);
      if (now.status === 'failed' || now.status === 'cancelled') throw new Error(`plan ${p.id} ended ${now.status}: ${now.error ?? ''}`);
      return now.status === 'done' ? now : undefined;
    },
    120_000,
    250,
  );
}

describe('rebalance under faults', () => {
  it('kill -9 of the target, the source and the controller mid-move: every plan completes, nothing acknowledged is lost', async () => {
    etcd = await startTestEtcd();
    coord = await openCoordinator(etcd.url);
    const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--partitions', '16', '--replicas', '2', '--ack', 'sync']);
    expect(created.code, created.err).toBe(0);
    await Promise.all(['n1', 'n2', 'n3'].map((id) => start(id)));
    await untilClusterOk(ports(), 30_000);
    // About 3 MiB of data, so throttled moves take seconds.
    const bulk = new Cluster(ports().map((port) => ({ host: '127.0.0.1', port })));
    const value = 'x'.repeat(4096);
    for (let i = 0; i < 768; i += 64) await Promise.all(Array.from({ length: 64 }, (_, j) => bulk.set(`bulk:${i + j}`, value)));
    bulk.disconnect();
    expect((await runAtoll(['rebalance', 'config', '--coordinator', etcd.url, '--rate', '1m', '--moves-per-node', '2'])).code).toBe(0);

    const load = startWorkload({ ports: ports(), clients: 4, keys: Array.from({ length: 12 }, (_, i) => `rbf:${i}`), writeShare: 0.5, commandTimeoutMs: 4_000 });
    await new Promise((r) => setTimeout(r, 500));
    const kill9 = async (id: string): Promise<void> => {
      await nodes.get(id)!.stop('SIGKILL');
      await new Promise((r) => setTimeout(r, 1_500));
      await start(id);
    };

    // 1. The target dies while it is being filled.
    await start('n4');
    const toFour = await plan([]);
    expect(toFour.moves.length).toBeGreaterThan(0);
    const done1 = await applyAndInterrupt(toFour, () => kill9('n4'));
    expect(done1.verify).toMatchObject({ mismatched: 0 });

    // 2. The source dies: drain n1, kill it part-way.
    const drain = await plan(['--drain', 'n1']);
    await applyAndInterrupt(drain, () => kill9('n1'));
    expect((await coord.snapshot()).map!.partitions.every((e) => !e.replicas.includes('n1'))).toBe(true);

    // 3. The controller dies: give n1 its share back, kill whichever node runs the plan.
    const back = await plan([]);
    expect(back.moves.some((m) => m.to.includes('n1'))).toBe(true);
    let killed = '';
    await applyAndInterrupt(back, async () => {
      killed = (await coord!.snapshot()).controller!;
      await kill9(killed);
    });
    expect(killed).not.toBe('');
    const after = await coord.snapshot();
    expect(after.map!.partitions.filter((e) => e.replicas.includes('n1')).length).toBeGreaterThan(0);

    await load.stop();
    await load.finalReads(ports());
    const ops = load.history.operations;
    const result = checkHistory(ops);
    expect(result.ok, JSON.stringify(result).slice(0, 400)).toBe(true);
    expect(ops.filter((o) => o.input.kind === 'put' && o.returnMs !== undefined).length).toBeGreaterThan(200);
    // The bulk data survived every move and kill.
    const check = new Cluster(ports().map((port) => ({ host: '127.0.0.1', port })));
    const got = await Promise.all(Array.from({ length: 768 }, (_, i) => check.strlen(`bulk:${i}`)));
    check.disconnect();
    expect(got.filter((n) => n !== 4096).length).toBe(0);
    const verify = await runAtoll(['verify', '--coordinator', etcd.url, '--json']);
    expect(verify.code, verify.out).toBe(0);
    expect((JSON.parse(verify.out) as { tally: Record<string, number> }).tally).toMatchObject({ mismatch: 0, repaired: 0 });
    process.stdout.write(`rebalance faults: ${ops.length} operations, ${ops.filter((o) => o.returnMs === undefined).length} unknown outcomes, errors ${JSON.stringify(Object.fromEntries(load.errors))}\n`);
  }, 300_000);

  it('throttles copies to the configured rate, and auto mode plans for a stable new node by itself', async () => {
    // Rate: 1 MiB/s shared by 4 live nodes; copying about half the data onto n5 must take at least bytes/rate.
    expect((await runAtoll(['rebalance', 'config', '--coordinator', etcd.url, '--rate', '512k', '--moves-per-node', '8', '--auto', 'on', '--cooldown-ms', '0', '--stable-ms', '2000'])).code).toBe(0);
    const before = new Set((await listPlans(coord!)).map((p) => p.id));
    await start('n5');
    const auto = await until(
      'an auto plan',
      async () => (await listPlans(coord!)).find((p) => !before.has(p.id) && p.reason.startsWith('auto')),
      30_000,
      200,
    );
    expect(auto.moves.every((m) => m.to.includes('n5'))).toBe(true);
    const done = await until('auto plan done', async () => ((await planNow(auto.id)).status === 'done' ? planNow(auto.id) : undefined), 120_000, 250);
    const seconds = (done.finishedMs! - done.startedMs!) / 1000;
    const rate = done.totalBytes / seconds;
    process.stdout.write(`throttled auto plan: ${done.moves.length} moves, ${done.totalBytes} bytes in ${seconds.toFixed(1)} s = ${Math.round(rate / 1024)} KiB/s (limit 512 KiB/s)\n`);
    expect(done.totalBytes).toBeGreaterThan(512 * 1024);
    expect(rate).toBeLessThan(512 * 1024 * 1.25);
    // Balanced now: auto mode does not plan again.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await listPlans(coord!)).filter((p) => !before.has(p.id) && p.id !== auto.id)).toEqual([]);
    expect((await runAtoll(['rebalance', 'config', '--coordinator', etcd.url, '--auto', 'maybe'])).code).toBe(2);
    expect((await runAtoll(['rebalance', 'config', '--coordinator', etcd.url, '--rate', 'fast'])).code).toBe(2);
  }, 200_000);
});

describe('a plan whose target dies for good', () => {
  it('fails with the reason, and cancelling it rolls its moves back', async () => {
    expect((await runAtoll(['rebalance', 'config', '--coordinator', etcd.url, '--auto', 'off', '--rate', '256k', '--moves-per-node', '2', '--target-gone-ms', '1500'])).code).toBe(0);
    await start('n6');
    const p = await plan([]);
    expect(p.moves.some((m) => m.to.includes('n6'))).toBe(true);
    const waiting = runAtoll(['rebalance', 'apply', p.id, '--coordinator', etcd.url, '--wait'], 120_000);
    await until('a move onto n6 in progress', async () => ((await coord!.snapshot()).map!.partitions.some((e) => e.replicas.includes('n6')) ? true : undefined), 30_000, 20);
    await nodes.get('n6')!.stop('SIGKILL');
    nodes.delete('n6');
    const ended = await waiting;
    expect(ended.code).not.toBe(0);
    expect(ended.err).toMatch(/ended failed: node n6, a target of this plan, has been gone for \d+ s/);
    expect((await planNow(p.id)).status).toBe('failed');
    const cancelled = await runAtoll(['rebalance', 'cancel', p.id, '--coordinator', etcd.url]);
    expect(cancelled.code, cancelled.err).toBe(0);
    await until(
      'rolled back',
      async () => {
        const now = await planNow(p.id);
        return now.status === 'cancelled' && now.finishedMs !== undefined ? true : undefined;
      },
      120_000,
      250,
    );
    const map = (await coord!.snapshot()).map!;
    expect(map.partitions.filter((e) => e.replicas.includes('n6'))).toEqual([]);
    expect(map.partitions.every((e) => e.replicas.length === 2)).toBe(true);
    const verify = await runAtoll(['verify', '--coordinator', etcd.url, '--json']);
    expect(verify.code, verify.out).toBe(0);
  }, 200_000);
});
