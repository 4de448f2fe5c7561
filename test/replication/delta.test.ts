// Collections replicate as their changes: on two in-process nodes (memory coordinator, 2 replicas, sync acks),
// pushes to a 5,000-element list, XADDs with MAXLEN to a 5,000-entry stream, set/hash/sorted-set writes, an EXEC
// and a script are shipped as deltas (INFO replication counts them) and the follower's copies equal the
// leader's; a follower whose copy no longer fits a delta (a key deleted behind the leader's back) is copied
// again and ends equal.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCoordinator } from '../../src/coordinator/memory.js';
import { startClusterNode, type ClusterNodeHandle } from '../../src/server/cluster-node.js';
import { systemClock } from '../../src/storage/engine.js';
import { MemoryEngine } from '../../src/storage/memory.js';
import { toWire } from '../../src/storage/wire.js';
import { keySlot } from '../../src/partitioning/hash.js';
import { until } from '../helpers-cluster.js';

const coordinator = new MemoryCoordinator(systemClock);
const nodes: ClusterNodeHandle[] = [];

beforeAll(async () => {
  await coordinator.createCluster({ clusterId: 'delta', partitions: 16, replicas: 2, initialNodes: 2, createdMs: 0, ack: 'sync', uncleanPromotion: false, replaceAfterMs: 0 });
  for (const id of ['a', 'b']) {
    nodes.push(
      await startClusterNode({ id, host: '127.0.0.1', port: 0, adminPort: 0, zone: 'z', weight: 1, coordinator, engine: () => new MemoryEngine({ clock: systemClock }), clock: systemClock, mode: 'forward' }),
    );
  }
  await Promise.all(nodes.map((n) => n.ready()));
}, 30_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await coordinator.close();
});

const info = async (r: Redis): Promise<Record<string, number>> =>
  Object.fromEntries(
    String(await r.info('replication'))
      .split('\r\n')
      .map((l) => l.split(':'))
      .filter((kv) => kv.length === 2)
      .map(([k, v]) => [k!, Number(v)]),
  );

/** Every key's wire form on a node (type, elements, expiry): the two copies must be equal. */
const copyOf = (n: ClusterNodeHandle, keys: string[]): unknown[] => keys.map((k) => {
  const v = n.server.state.engine.get(k);
  return v === undefined ? null : toWire(k, v, 0);
});

describe('collections replicate as deltas', () => {
  it('big lists and streams, sets, hashes, sorted sets, EXEC and scripts: deltas, equal copies', async () => {
    const r = new Redis({ port: nodes[0]!.server.port });
    const keys = ['{d}list', '{d}stream', '{d}set', '{d}hash', '{d}zset'];
    await r.rpush('{d}list', ...Array.from({ length: 5_000 }, (_, i) => `e${i}`));
    for (let i = 0; i < 5_000; i += 500) await r.call('XADD', '{d}stream', '*', ...Array.from({ length: 2 }, () => ['f', `v${i}`]).flat());
    const pipe = r.pipeline();
    for (let i = 0; i < 5_000; i++) pipe.xadd('{d}stream', 'MAXLEN', '~', '4000', '*', 'f', `v${i}`);
    await pipe.exec();
    const before = await info(r);
    for (let i = 0; i < 200; i++) {
      await r.lpush('{d}list', `new${i}`);
      await r.rpop('{d}list');
      await r.xadd('{d}stream', 'MAXLEN', '~', '4000', '*', 'f', `x${i}`);
      await r.sadd('{d}set', `m${i}`);
      await r.hset('{d}hash', `f${i}`, `v${i}`);
      await r.zadd('{d}zset', i, `z${i}`);
    }
    await r.multi().lpush('{d}list', 'tx1').sadd('{d}set', 'tx').zincrby('{d}zset', 5, 'z1').exec();
    await r.eval("redis.call('RPUSH', KEYS[1], 'lua'); redis.call('HDEL', KEYS[2], 'f3'); return 1", 2, '{d}list', '{d}hash');
    await r.srem('{d}set', 'm0');
    const after = await info(r);
    // Leadership of {d} may be on either node: count on both.
    const r2 = new Redis({ port: nodes[1]!.server.port });
    const other = await info(r2);
    const deltas = after.effects_delta! - before.effects_delta! + other.effects_delta!;
    expect(deltas).toBeGreaterThan(1_000);
    await until('copies equal', () => (JSON.stringify(copyOf(nodes[0]!, keys)) === JSON.stringify(copyOf(nodes[1]!, keys)) ? true : undefined), 10_000);
    expect(await r.llen('{d}list')).toBe(5_002);
    r.disconnect();
    r2.disconnect();
  }, 60_000);

  it('a follower copy that no longer fits a delta is copied again', async () => {
    const r = new Redis({ port: nodes[0]!.server.port });
    await r.rpush('{e}q', 'a', 'b', 'c');
    // Damage the follower's copy behind the leader's back.
    const slotLeader = nodes.find((n) => n.routing.routingTable!.leaderIdOfSlot(keySlot('{e}q')) === n.id)!;
    const follower = nodes.find((n) => n !== slotLeader)!;
    await until('follower has the list', () => (follower.server.state.engine.get('{e}q') !== undefined ? true : undefined), 5_000);
    follower.server.state.engine.delete('{e}q');
    await r.rpush('{e}q', 'd'); // its delta cannot apply on the damaged copy: the partition is copied again
    await until('copy repaired', () => {
      const v = follower.server.state.engine.get('{e}q');
      return v !== undefined && v.type === 'list' && v.value.length === 4 ? true : undefined;
    }, 10_000);
    const clients = nodes.map((n) => new Redis({ port: n.server.port }));
    const infos = await Promise.all(clients.map(info));
    for (const c of clients) c.disconnect();
    expect(infos.some((i) => (i.deltas_refused ?? 0) >= 1)).toBe(true);
    r.disconnect();
  }, 30_000);
});
