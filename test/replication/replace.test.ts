// Rebuilding replicas: in a 4-node cluster with R = 3, a node that stays gone past replaceAfterMs has its
// replicas moved to the other nodes, which are filled by snapshots; every partition is back to 3 live
// replicas holding the same keys as its leader, and no key was lost.
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningNode } from '../helpers-process.js';
import { clusterStatusRows, keyPerSlot, runAtoll, stopCluster, startClusterNodeProcess, startTestEtcd, until, untilClusterOk, type TestEtcd } from '../helpers-cluster.js';

let etcd: TestEtcd;
const nodes = new Map<string, RunningNode>();

afterAll(() => stopCluster(nodes, etcd));

describe('replicas of a node gone past replaceAfterMs', () => {
  it('are rebuilt on live nodes by snapshot, and hold the leader\'s keys', async () => {
    etcd = await startTestEtcd();
    const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '4', '--partitions', '16', '--replicas', '3', '--ack', 'quorum', '--replace-after-ms', '1500']);
    expect(created.code, created.err).toBe(0);
    for (const id of ['n1', 'n2', 'n3', 'n4']) nodes.set(id, await startClusterNodeProcess(etcd.url, id, ['--engine', 'memory']));
    const ports = (): number[] => [...nodes.values()].filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => n.port);
    await untilClusterOk(ports(), 30_000);
    const client = new Cluster(ports().map((port) => ({ host: '127.0.0.1', port })));
    client.on('error', () => undefined);
    const keys = keyPerSlot('r').filter((_, slot) => slot % 64 === 0);
    for (const k of keys) await client.set(k, `v-${k}`);

    await nodes.get('n4')!.stop('SIGKILL');
    // n4 disappears from the map once its replicas are rebuilt elsewhere.
    await until(
      'n4 replaced',
      async () => {
        const s = await clusterStatusRows(etcd.url);
        return s.nodes.some((n) => n.id === 'n4') ? undefined : s;
      },
      30_000,
      250,
    );
    await untilClusterOk(ports(), 30_000);
    // Every slot's replicas are live, and each follower holds exactly the leader's keys for the slot.
    const probe = new Redis({ port: ports()[0]! });
    const ranges = await probe.cluster('SLOTS');
    probe.disconnect();
    const livePorts = new Set(ports());
    await until(
      'followers filled',
      async () => {
        for (const range of ranges) {
          const replicaPorts = range.slice(2).map((n) => (n as [string, number, string, unknown[]])[1]);
          if (replicaPorts.length !== 3 || !replicaPorts.every((p) => livePorts.has(p))) return undefined;
          const slot = Number(range[0]);
          const perNode = await Promise.all(
            replicaPorts.map(async (port) => {
              const r = new Redis({ port });
              try {
                return ((await r.cluster('GETKEYSINSLOT', slot, 100)) as string[]).sort().join(',');
              } finally {
                r.disconnect();
              }
            }),
          );
          if (new Set(perNode).size !== 1) return undefined;
        }
        return true;
      },
      20_000,
      250,
    );
    for (const k of keys) expect(await client.get(k)).toBe(`v-${k}`);
    client.disconnect();
    const info = await Promise.all(
      ports().map(async (port) => {
        const r = new Redis({ port });
        try {
          return String(await r.info('replication'));
        } finally {
          r.disconnect();
        }
      }),
    );
    expect(info.some((t) => /snapshots_received:[1-9]/.test(t))).toBe(true);
  }, 90_000);
});
