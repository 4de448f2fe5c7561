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

describe('actions by ACL users (Basic auth), cluster-wide', () => {
  it('a user allowed CLUSTER SETSLOT acts on any node; others are refused and logged', async () => {
    const r = new Redis({ port: nodes[0]!.server.port, lazyConnect: true });
    await r.connect();
    expect(await r.call('ACL', 'SETUSER', 'ops', 'on', '>ops-password', '+@admin')).toBe('OK');
    expect(await r.call('ACL', 'SETUSER', 'reader', 'on', '>read-password', '+@read', '~*')).toBe('OK');
    expect(await r.call('ACL', 'SETUSER', 'open', 'on', 'nopass', '+@all')).toBe('OK');
    // Node b has no admin token: the users reach it through the coordinator, and its dashboard may now act.
    await until('users on b', async () => (((await (await fetch(url('b', '/api/cluster'))).json()) as { actions: boolean }).actions ? true : undefined));
    const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    const map = nodes[1]!.routing.map!;
    const p = map.partitions.findIndex((e) => e.replicas[0] === 'b');
    const move = (authorization: string | undefined): Promise<Response> =>
      fetch(url('b', `/api/partitions/${p}/move`), { method: 'POST', body: JSON.stringify({ to: 'a' }), headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) } });
    const none = await move(undefined);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await move(basic('ops', 'not-the-password'))).status).toBe(401);
    expect((await move(basic('open', 'anything'))).status).toBe(401); // nopass users cannot act over HTTP
    const reader = await move(basic('reader', 'read-password'));
    expect(reader.status).toBe(403);
    expect(((await reader.json()) as { error: string }).error).toContain('CLUSTER SETSLOT');
    const ok = await move(basic('ops', 'ops-password'));
    expect(ok.status).toBe(200);
    await until('map switch on b', () => (nodes[1]!.routing.map!.partitions[p]!.replicas[0] === 'a' ? true : undefined));
    // Refusals are in node b's ACL LOG, as Redis logs failed AUTHs and denied commands.
    const rb = new Redis({ port: nodes[1]!.server.port });
    const log = (await rb.call('ACL', 'LOG')) as unknown[][];
    const entries = log.map((e) => Object.fromEntries(Array.from({ length: e.length / 2 }, (_, i) => [String(e[2 * i]), e[2 * i + 1]])));
    expect(entries.map((e) => [e.reason, e.object, e.username])).toEqual(expect.arrayContaining([['auth', 'AUTH', 'ops'], ['auth', 'AUTH', 'open'], ['command', 'cluster|setslot', 'reader']]));
    // Taking the permission away takes effect for the next request.
    expect(await r.call('ACL', 'SETUSER', 'ops', '-@admin')).toBe('OK');
    await until('rule on b', async () => ((await move(basic('ops', 'ops-password'))).status === 403 ? true : undefined));
    r.disconnect();
    rb.disconnect();
  });
});

function findKeyInSlot(slot: number): string {
  for (let i = 0; ; i++) if (keySlot(`k${i}`) === slot) return `k${i}`;
}
