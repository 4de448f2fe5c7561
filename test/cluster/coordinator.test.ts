// One contract, two coordinators: the in-memory one and etcd (a real etcd process). Cluster creation,
// registration with leases, the map's epoch compare-and-set, controller election and hand-over, watches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCoordinator } from '../../src/coordinator/memory.js';
import { openCoordinator, parseCoordinatorUrl, type Coordinator } from '../../src/coordinator/coordinator.js';
import { initialMap, reassign, type ClusterMeta, type ClusterNode } from '../../src/cluster/map.js';
import { expectCode } from '../helpers.js';
import { startTestEtcd, until, type TestEtcd } from '../helpers-cluster.js';
import { AtollError } from '../../src/errors.js';

const meta: ClusterMeta = { clusterId: 'c1', partitions: 16, replicas: 1, initialNodes: 2, createdMs: 1, ack: 'quorum', uncleanPromotion: false, replaceAfterMs: 0 };
const node = (id: string, port: number): ClusterNode => ({ id, host: '127.0.0.1', port, adminPort: 0, zone: 'z', weight: 1 });

let etcd: TestEtcd;
beforeAll(async () => {
  etcd = await startTestEtcd();
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
});

const kinds: [string, () => Promise<Coordinator>][] = [
  ['memory', async () => new MemoryCoordinator({ nowMs: () => Date.now() })],
  ['etcd', async () => openCoordinator(etcd.url)],
];

describe.each(kinds)('%s coordinator', (kind, open) => {
  it('creates a cluster once; the same settings again are accepted, others refused', async () => {
    const c = await open();
    const m = { ...meta, clusterId: `create-${kind}` };
    expect((await c.snapshot()).meta).toBeUndefined();
    expect(await c.createCluster(m)).toEqual(m);
    expect(await c.createCluster({ ...m, createdMs: 99 })).toEqual(m);
    await expect(c.createCluster({ ...m, partitions: 32 })).rejects.toMatchObject({ code: 'CLUSTER_EXISTS' });
    await c.close();
  });

  it('registers nodes under leases, refuses a duplicate id, and forgets a closed registration', async () => {
    const c = await open();
    const a = await c.register(node(`${kind}-a`, 1), 2000);
    await expect(c.register(node(`${kind}-a`, 2), 2000)).rejects.toMatchObject({ code: 'NODE_ID_TAKEN' });
    expect((await c.snapshot()).nodes.map((n) => n.id)).toContain(`${kind}-a`);
    await a.close();
    expect((await c.snapshot()).nodes.map((n) => n.id)).not.toContain(`${kind}-a`);
    await c.close();
  });

  it('keeps named documents with compare-and-set writes and deletes, listed by prefix', async () => {
    const c = await open();
    const name = `docs-${kind}/a`;
    expect(await c.getDoc(name)).toBeUndefined();
    expect(await c.casDoc(name, undefined, 'one')).toBe(true);
    expect(await c.casDoc(name, undefined, 'again')).toBe(false);
    expect(await c.casDoc(name, 'wrong', 'two')).toBe(false);
    expect(await c.casDoc(name, 'one', 'two')).toBe(true);
    expect(await c.casDoc(`docs-${kind}/b`, undefined, 'b')).toBe(true);
    expect([...(await c.listDocs(`docs-${kind}/`)).entries()].sort()).toEqual([[name, 'two'], [`docs-${kind}/b`, 'b']]);
    expect(await c.deleteDoc(name, 'one')).toBe(false);
    expect(await c.deleteDoc(name, 'two')).toBe(true);
    expect(await c.getDoc(name)).toBeUndefined();
    expect([...(await c.listDocs(`docs-${kind}/`)).keys()]).toEqual([`docs-${kind}/b`]);
    await c.close();
  });

  it('writes the map per partition, each change guarded by the epoch its partitions had', async () => {
    const c = await open();
    expect((await c.snapshot()).map).toBeUndefined();
    const planned = initialMap(meta, [node('x', 1), node('y', 2)]);
    const first = await c.casMap(undefined, planned);
    expect(first?.partitions.map((e) => e.replicas)).toEqual(planned.partitions.map((e) => e.replicas));
    expect(await c.casMap(undefined, planned)).toBeUndefined();
    const second = await c.casMap(first, reassign(first!, 3, ['x'], []));
    expect(second?.partitions[3]!.replicas).toEqual(['x']);
    expect(second!.partitions[3]!.epoch).toBeGreaterThan(first!.epoch);
    expect(second!.epoch).toBe(second!.partitions[3]!.epoch);
    // Unchanged partitions keep their epoch; a writer still holding the old epoch of partition 3 loses.
    expect(second!.partitions[4]).toEqual(first!.partitions[4]);
    expect(await c.casMap(first, reassign(first!, 3, ['y'], []))).toBeUndefined();
    // Another partition changed from the same old map does not conflict with it.
    const third = await c.casMap(first, reassign(first!, 5, ['y'], []));
    expect(third?.partitions[5]!.replicas).toEqual(['y']);
    expect(third?.partitions[3]!.replicas).toEqual(['x']);
    expect((await c.snapshot()).map).toEqual(third);
    await c.close();
  });

  it('elects one controller and hands the role over when it leaves; watchers hear about it', async () => {
    const c = await open();
    let changes = 0;
    const unwatch = c.watch(() => changes++);
    const a = await c.register(node(`${kind}-ctl-a`, 1), 2000);
    const b = await c.register(node(`${kind}-ctl-b`, 2), 2000);
    c.campaign(a);
    c.campaign(b);
    const first = await until('a controller', async () => (await c.snapshot()).controller);
    expect([`${kind}-ctl-a`, `${kind}-ctl-b`]).toContain(first);
    await (first === `${kind}-ctl-a` ? a : b).close();
    const second = await until('a new controller', async () => {
      const now = (await c.snapshot()).controller;
      return now !== undefined && now !== first ? now : undefined;
    });
    expect(second).toBe(first === `${kind}-ctl-a` ? `${kind}-ctl-b` : `${kind}-ctl-a`);
    await until('watch events', () => (changes > 0 ? true : undefined));
    unwatch();
    await (first === `${kind}-ctl-a` ? b : a).close();
    await c.close();
  });
});

describe('memory coordinator leases', () => {
  it('expires the lease of a node that stops keeping it alive, and its controller role with it', async () => {
    let now = 0;
    const c = new MemoryCoordinator({ nowMs: () => now });
    const a = await c.register(node('a', 1), 1000);
    let lost = '';
    a.onLost((r) => (lost = r));
    c.campaign(a);
    expect((await c.snapshot()).controller).toBe('a');
    c.paused.add('a');
    now += 999;
    c.tick();
    expect((await c.snapshot()).nodes).toHaveLength(1);
    now += 2;
    c.tick();
    expect((await c.snapshot()).nodes).toHaveLength(0);
    expect((await c.snapshot()).controller).toBeUndefined();
    expect(lost).toMatch(/expired/);
    await c.close();
  });
});

describe('coordinator URLs', () => {
  it('accepts memory and etcd://host:port lists (etcds:// for TLS), refuses the rest', () => {
    expect(parseCoordinatorUrl('memory')).toEqual({ kind: 'memory' });
    expect(parseCoordinatorUrl('etcd://127.0.0.1:2379,localhost:2380')).toEqual({ kind: 'etcd', hosts: ['127.0.0.1:2379', 'localhost:2380'], tls: false });
    expect(parseCoordinatorUrl('etcds://etcd-1:2379')).toEqual({ kind: 'etcd', hosts: ['etcd-1:2379'], tls: true });
    for (const bad of ['etcd://', 'etcdss://h:1', 'http://127.0.0.1:2379', 'etcd://host', 'etcd://h:99999', 'zk://x:1']) expectCode(() => parseCoordinatorUrl(bad), 'BAD_COORDINATOR_URL');
  });

  it('reports an etcd that is not there as COORDINATOR_UNAVAILABLE, quickly', async () => {
    const started = Date.now();
    const e = await openCoordinator('etcd://127.0.0.1:1').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AtollError);
    expect((e as AtollError).code).toBe('COORDINATOR_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 20_000);
});
