// Dashboard actions and the cluster view on in-process cluster nodes (memory coordinator): the view gathers
// every node's report over HTTP; POST actions are refused without the admin token and work with it.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCoordinator } from '../../src/coordinator/memory.js';
import { keySlot } from '../../src/partitioning/hash.js';
import { startAdmin, type AdminHandle } from '../../src/server/admin.js';
import { startClusterNode, type ClusterNodeHandle } from '../../src/server/cluster-node.js';
import { systemClock } from '../../src/storage/engine.js';
import { MemoryEngine } from '../../src/storage/memory.js';
import { until } from '../helpers-cluster.js';

const TOKEN = 'test-token-0123456789';
const coordinator = new MemoryCoordinator(systemClock);
const nodes: ClusterNodeHandle[] = [];
const admins = new Map<string, AdminHandle>();

beforeAll(async () => {
  await coordinator.createCluster({ clusterId: 'dash', partitions: 32, replicas: 1, initialNodes: 2, createdMs: 0, ack: 'quorum', uncleanPromotion: false, replaceAfterMs: 0 });
  for (const id of ['a', 'b']) {
    nodes.push(
      await startClusterNode({
        id,
        host: '127.0.0.1',
        port: 0,
        adminPort: 0,
        zone: 'z',
        weight: 1,
        coordinator,
        engine: () => new MemoryEngine({ clock: systemClock }),
        clock: systemClock,
        mode: 'redirect',
        beforeRegister: async (server, routing, meta) => {
          const admin = await startAdmin(server.state, { host: '127.0.0.1', port: 0, selfId: id, zone: 'z', routing, clusterId: meta.clusterId, replicas: meta.replicas, partitions: meta.partitions, adminToken: id === 'a' ? TOKEN : undefined });
          admins.set(id, admin);
          return admin.port;
        },
      }),
    );
  }
  await Promise.all(nodes.map((n) => n.ready()));
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await Promise.all([...admins.values()].map((a) => a.close()));
  await coordinator.close();
});

const url = (id: string, path: string): string => `http://127.0.0.1:${admins.get(id)!.port}${path}`;

describe('cluster view and actions', () => {
  it('any node serves the whole cluster view with every node report', async () => {
    const view = (await (await fetch(url('b', '/api/cluster'))).json()) as { epoch: number; nodes: { id: string; reachable: boolean; registered: boolean; led: number; report?: { id: string } }[]; partitions: string[][]; actions: boolean };
    expect(view.partitions).toHaveLength(32);
    expect(view.nodes.map((n) => [n.id, n.registered, n.reachable, n.report?.id])).toEqual([
      ['a', true, true, 'a'],
      ['b', true, true, 'b'],
    ]);
    expect(view.nodes[0]!.led + view.nodes[1]!.led).toBe(32);
    expect(view.actions).toBe(false);
    const svg = await (await fetch(url('a', '/api/ring.svg'))).text();
    expect(svg.match(/class="seg"/g)).toHaveLength(32);
  });

  it('moves a partition only with the admin token, and the map switches', async () => {
    const map = nodes[0]!.routing.map!;
    const p = map.partitions.findIndex((e) => e.replicas[0] === 'a');
    const body = JSON.stringify({ to: 'b' });
    const headers = { 'content-type': 'application/json' };
    expect((await fetch(url('b', `/api/partitions/${p}/move`), { method: 'POST', body, headers })).status).toBe(403);
    expect((await fetch(url('a', `/api/partitions/${p}/move`), { method: 'POST', body, headers: { ...headers, authorization: 'Bearer wrong' } })).status).toBe(401);
    const bad = await fetch(url('a', '/api/partitions/999/move'), { method: 'POST', body, headers: { ...headers, authorization: `Bearer ${TOKEN}` } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('does not exist');

    // A key in that partition survives the move.
    const slot = p * (16384 / 32);
    const key = findKeyInSlot(slot);
    const r = new Redis({ port: nodes[0]!.server.port, lazyConnect: true });
    await r.connect();
    await r.set(key, 'kept');
    const ok = await fetch(url('a', `/api/partitions/${p}/move`), { method: 'POST', body, headers: { ...headers, authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { to: string }).to).toBe('b');
    await until('map switch on a', () => (nodes[0]!.routing.map!.partitions[p]!.replicas[0] === 'b' ? true : undefined));
    await expect(r.get(key)).rejects.toThrow(/^MOVED/);
    r.disconnect();
    const rb = new Redis({ port: nodes[1]!.server.port });
    expect(await rb.get(key)).toBe('kept');
    rb.disconnect();
  });
});

function findKeyInSlot(slot: number): string {
  for (let i = 0; ; i++) if (keySlot(`k${i}`) === slot) return `k${i}`;
}
