// Online rebalancing with real processes: 3 -> 5 -> 3 nodes under a recorded read/write load (sync mode),
// each step a plan made, approved and carried out by the controller; the history must be linearizable with
// no write of unknown outcome. Then plan errors: stale plans, unknown nodes, weights <= 0, draining every node.
import { afterAll, describe, expect, it } from 'vitest';
import { checkHistory } from '../../src/testing/linearizability.js';
import type { RunningNode } from '../helpers-process.js';
import { clusterStatusRows, runAtoll, startClusterNodeProcess, stopCluster, startTestEtcd, untilClusterOk, type TestEtcd } from '../helpers-cluster.js';
import { startWorkload } from '../helpers-workload.js';
import { readTypedKeys, writeTypedKeys } from '../helpers-types.js';
import { Cluster } from 'ioredis';

let etcd: TestEtcd;
const nodes = new Map<string, RunningNode>();
afterAll(() => stopCluster(nodes, etcd));

describe('rebalance', () => {
  it('3 -> 5 -> 3 nodes under load: plans applied by the controller, linearizable, no unknown outcome', async () => {
    etcd = await startTestEtcd();
    const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--partitions', '32', '--replicas', '3', '--ack', 'sync']);
    expect(created.code, created.err).toBe(0);
    const start = async (id: string): Promise<void> => void nodes.set(id, await startClusterNodeProcess(etcd.url, id, ['--engine', 'memory']));
    await Promise.all(['n1', 'n2', 'n3'].map(start));
    const ports = (): number[] => [...nodes.values()].filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => n.port);
    await untilClusterOk(ports(), 30_000);
    const typedClient = (): Cluster => new Cluster(ports().map((port) => ({ host: '127.0.0.1', port })));
    let typed = typedClient();
    await writeTypedKeys(typed, 'moved');
    const typedBefore = await readTypedKeys(typed, 'moved');
    typed.disconnect();
    const load = startWorkload({ ports: ports(), clients: 6, keys: Array.from({ length: 16 }, (_, i) => `bal:${i}`), writeShare: 0.5, commandTimeoutMs: 3_000 });
    await new Promise((r) => setTimeout(r, 1_000));

    await Promise.all(['n4', 'n5'].map(start));
    const planned = await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--json']);
    expect(planned.code, planned.err).toBe(0);
    const plan = JSON.parse(planned.out) as { id: string; moves: unknown[]; balanceBefore: number; balanceAfter: number };
    expect(plan.moves.length).toBeGreaterThan(0);
    expect(plan.balanceAfter).toBeLessThan(plan.balanceBefore);
    const applied = await runAtoll(['rebalance', 'apply', plan.id, '--coordinator', etcd.url, '--wait'], 120_000);
    expect(applied.code, applied.err).toBe(0);
    // Every moved partition was compared with its leader after the move.
    const status = JSON.parse((await runAtoll(['rebalance', 'status', plan.id, '--coordinator', etcd.url, '--json'])).out) as { verify?: { checked: number; mismatched: number; repaired: number } };
    expect(status.verify).toMatchObject({ checked: plan.moves.length, mismatched: 0, repaired: 0 });
    let s = await clusterStatusRows(etcd.url);
    for (const id of ['n4', 'n5']) expect(s.nodes.find((n) => n.id === id)!.led + s.nodes.find((n) => n.id === id)!.followed).toBeGreaterThan(10);
    // Collections of every type moved with their partitions (snapshots to the new nodes, hand-overs).
    typed = typedClient();
    expect(await readTypedKeys(typed, 'moved')).toEqual(typedBefore);
    typed.disconnect();

    // Back to three: drain both new nodes in one plan.
    const back = await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--drain', 'n4,n5', '--json']);
    expect(back.code, back.err).toBe(0);
    const backId = (JSON.parse(back.out) as { id: string }).id;
    expect((await runAtoll(['rebalance', 'apply', backId, '--coordinator', etcd.url, '--wait'], 120_000)).code).toBe(0);
    s = await clusterStatusRows(etcd.url);
    expect(s.nodes.filter((n) => n.id === 'n4' || n.id === 'n5').every((n) => n.led + n.followed === 0)).toBe(true);
    expect((await runAtoll(['node', 'remove', 'n4', '--coordinator', etcd.url])).code).toBe(0);
    typed = typedClient();
    expect(await readTypedKeys(typed, 'moved')).toEqual(typedBefore);
    typed.disconnect();

    await load.stop();
    await load.finalReads(ports());
    const ops = load.history.operations;
    const result = checkHistory(ops);
    expect(result.ok).toBe(true);
    expect(ops.filter((o) => o.returnMs === undefined)).toEqual([]);
    expect(ops.filter((o) => o.input.kind === 'put' && o.returnMs !== undefined).length).toBeGreaterThan(300);
    process.stdout.write(`rebalance 3->5->3: ${ops.length} operations, errors ${JSON.stringify(Object.fromEntries(load.errors))}\n`);
  }, 180_000);

  it('refuses stale plans, unknown nodes, weights <= 0 and draining every node, with clear errors', async () => {
    const a = JSON.parse((await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--drain', 'n3', '--json'])).out) as { id: string };
    const b = JSON.parse((await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--drain', 'n2', '--json'])).out) as { id: string };
    expect((await runAtoll(['rebalance', 'apply', a.id, '--coordinator', etcd.url, '--wait'], 120_000)).code).toBe(0);
    const stale = await runAtoll(['rebalance', 'apply', b.id, '--coordinator', etcd.url]);
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(/made against epoch \d+; the placement has changed since/);
    const unknown = await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--drain', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('cannot drain nope: no such node');
    const weight = await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--weight', 'n1=0']);
    expect(weight.code).toBe(2);
    expect(weight.err).toContain('weight of n1 must be > 0');
    const all = await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--drain', 'n1,n2,n3,n4,n5']);
    expect(all.code).toBe(2);
    expect(all.err).toContain('cannot drain the last node');
    const noTarget = await runAtoll(['failover', '--coordinator', etcd.url]);
    expect(noTarget.code).toBe(2);
    expect(noTarget.err).toContain('give --partition <n>, --key <key> or --node <id>');
    const busy = await runAtoll(['node', 'remove', 'n1', '--coordinator', etcd.url]);
    expect(busy.code).toBe(2);
    expect(busy.err).toContain('still holds');
    // Node weights: stored, then used by the next plan; bad ones refused.
    expect((await runAtoll(['node', 'weight', 'n1', '0', '--coordinator', etcd.url])).err).toContain('weight of n1 must be > 0');
    expect((await runAtoll(['node', 'weight', 'n9', '2', '--coordinator', etcd.url])).err).toContain('no such node');
    expect((await runAtoll(['node', 'weight', 'n1', '3', '--coordinator', etcd.url])).code).toBe(0);
    const weighted = JSON.parse((await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--json'])).out) as { nodes: { id: string; weight: number }[]; moves: unknown[] };
    expect(weighted.nodes.find((n) => n.id === 'n1')?.weight).toBe(3);
    expect(weighted.moves.length).toBeGreaterThan(0);
    // node add waits for a registration that never comes, then says how to start the node.
    const add = await runAtoll(['node', 'add', 'n7', '--coordinator', etcd.url, '--timeout-ms', '300']);
    expect(add.code).toBe(2);
    expect(add.err).toContain('did not register within 300 ms');
  }, 180_000);
});
