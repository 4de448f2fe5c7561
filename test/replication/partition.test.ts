// Network faults between nodes and the coordinator, through our fault-injecting TCP proxy: each node reaches
// etcd through its own proxy. A leader cut off from etcd (but still reaching its followers and its clients)
// must stop serving within its lease, be failed over, and be refused by the fenced followers; a node whose
// keep-alives are black-holed one way loses its lease the same way. Histories stay linearizable (quorum).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../src/testing/fault-proxy.js';
import { checkHistory } from '../../src/testing/linearizability.js';
import type { RunningNode } from '../helpers-process.js';
import { runAtoll, startClusterNodeProcess, startTestEtcd, untilClusterOk, type TestEtcd } from '../helpers-cluster.js';
import { startWorkload } from '../helpers-workload.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let etcd: TestEtcd;
let dir: string;
const proxies = new Map<string, FaultProxy>();
const nodes = new Map<string, RunningNode>();

afterAll(async () => {
  for (const n of nodes.values()) await n.stop('SIGKILL');
  for (const p of proxies.values()) await p.close();
  await etcd?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('coordinator partitions through the fault proxy (quorum, R = 3)', () => {
  it('a leader cut off from etcd, then a node whose keep-alives are black-holed: linearizable, no acknowledged write lost', async () => {
    etcd = await startTestEtcd();
    dir = mkdtempSync(join(tmpdir(), 'atoll-partition-'));
    const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--partitions', '32', '--replicas', '3', '--ack', 'quorum']);
    expect(created.code, created.err).toBe(0);
    const etcdPort = Number(new URL(etcd.url.replace('etcd://', 'http://')).port);
    for (const id of ['n1', 'n2', 'n3']) {
      const proxy = await FaultProxy.start(etcdPort);
      proxies.set(id, proxy);
      nodes.set(id, await startClusterNodeProcess(`etcd://127.0.0.1:${proxy.port}`, id, ['--engine', 'lmdb', '--durability', 'every-write', '--data-dir', join(dir, id)]));
    }
    const ports = [...nodes.values()].map((n) => n.port);
    await untilClusterOk(ports, 30_000);
    const load = startWorkload({ ports, clients: 6, keys: Array.from({ length: 12 }, (_, i) => `p:${i}`), writeShare: 0.5, commandTimeoutMs: 2_000 });
    await sleep(1_500);

    // n1 loses etcd entirely (connections cut, new ones refused); it still talks to peers and clients.
    proxies.get('n1')!.isolate();
    await sleep(5_000);
    proxies.get('n1')!.heal();
    await sleep(3_000);

    // n2's packets to etcd vanish (its keep-alives never arrive) while etcd's to n2 still flow.
    proxies.get('n2')!.blackhole('to-target');
    await sleep(5_000);
    proxies.get('n2')!.heal();
    proxies.get('n2')!.cutAll(); // the half-dead connection is reset, as a real network would eventually
    await sleep(3_000);

    await load.stop();
    await untilClusterOk(ports, 30_000);
    await load.finalReads(ports);
    const ops = load.history.operations;
    const result = checkHistory(ops);
    expect({ linearizable: result.ok, bad: result.keys.filter((k) => k.result !== 'ok').map((k) => k.key) }).toEqual({ linearizable: true, bad: [] });
    const acked = ops.filter((o) => o.input.kind === 'put' && o.returnMs !== undefined).length;
    expect(acked).toBeGreaterThan(300);
    // The isolated nodes really did lose their leases (and came back).
    expect(nodes.get('n1')!.output()).toMatch(/lease lost/);
    expect(nodes.get('n2')!.output()).toMatch(/lease lost/);
    expect([...nodes.values()].some((n) => /failover: \d+ partitions moved off/.test(n.output()))).toBe(true);
    process.stdout.write(`coordinator partitions: ${ops.length} operations, ${acked} acknowledged writes, errors ${JSON.stringify(Object.fromEntries(load.errors))}: linearizable\n`);
  }, 120_000);
});
