// A real 3-node cluster on a real etcd: ioredis Cluster and redis-cli -c over every slot, keys on their
// owners, CLUSTER SLOTS equal to the coordinator's map, -MOVED/-CROSSSLOT, a hand-off under load, bad input.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoutingTable } from '../../src/cluster/map.js';
import { openCoordinator } from '../../src/coordinator/coordinator.js';
import { keySlot } from '../../src/partitioning/hash.js';
import type { RunningNode } from '../helpers-process.js';
import { keyPerSlot, untilClusterOk, runAtoll, startClusterNodeProcess, startTestEtcd, until, type TestEtcd } from '../helpers-cluster.js';

let etcd: TestEtcd;
const nodes: RunningNode[] = [];
const dataRoot = mkdtempSync(join(tmpdir(), 'atoll-cluster-test-'));

async function table(): Promise<RoutingTable> {
  const c = await openCoordinator(etcd.url);
  try {
    const snap = await c.snapshot();
    return new RoutingTable(snap.map!);
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  etcd = await startTestEtcd();
  const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--partitions', '256', '--cluster-id', 'test-cluster']);
  expect(created.code, created.err).toBe(0);
  for (const id of ['n1', 'n2', 'n3']) nodes.push(await startClusterNodeProcess(etcd.url, id, ['--engine', 'lmdb', '--data-dir', join(dataRoot, id)]));
  await untilClusterOk(nodes.map((n) => n.port));
}, 90_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await etcd?.stop();
});

describe('3-node cluster on etcd', () => {
  it('ioredis Cluster writes and reads a key in every slot; each key is stored on its owner only', async () => {
    const keys = keyPerSlot();
    const c = new Cluster([{ host: '127.0.0.1', port: nodes[0]!.port }]);
    await Promise.all(keys.map((k, i) => c.set(k, `v${i}`)));
    const values = await Promise.all(keys.map((k) => c.get(k)));
    expect(values).toEqual(keys.map((_, i) => `v${i}`));
    await c.quit();
    const t = await table();
    let total = 0;
    for (const [i, n] of nodes.entries()) {
      const r = new Redis({ port: n.port });
      const stored = (await r.keys('k:*')) as string[];
      for (const k of stored) expect(t.leaderIdOfSlot(keySlot(k)), `${k} on n${i + 1}`).toBe(`n${i + 1}`);
      total += stored.length;
      r.disconnect();
    }
    expect(total).toBe(16384);
  }, 60_000);

  it('CLUSTER SLOTS on every node agrees with the map in etcd, slot by slot', async () => {
    const t = await table();
    for (const n of nodes) {
      const r = new Redis({ port: n.port });
      const slots = (await r.cluster('SLOTS')) as unknown as [number, number, [string, number, string]][];
      const owner = new Array<string>(16384);
      for (const [first, last, leader] of slots) for (let s = first; s <= last; s++) owner[s] = leader[2];
      for (let s = 0; s < 16384; s++) expect(owner[s]).toBe(t.leaderIdOfSlot(s));
      expect(await r.cluster('MYID')).toMatch(/^n[123]$/);
      r.disconnect();
    }
  });

  it('answers -MOVED for keys owned elsewhere and -CROSSSLOT for multi-key commands across slots', async () => {
    const t = await table();
    const r = new Redis({ port: nodes[0]!.port });
    const foreign = keyPerSlot().find((k) => t.leaderIdOfSlot(keySlot(k)) !== 'n1')!;
    const owner = t.leaderOfSlot(keySlot(foreign));
    await expect(r.get(foreign)).rejects.toThrow(`MOVED ${keySlot(foreign)} 127.0.0.1:${owner.port}`);
    await expect(r.mget('a', 'b')).rejects.toThrow("CROSSSLOT Keys in request don't hash to the same slot");
    // Commands whose keys follow a count (and a destination before it) are checked on every key, count skipped.
    await expect(r.call('ZUNIONSTORE', '{z}d', '2', '{z}a', 'b')).rejects.toThrow('CROSSSLOT');
    await expect(r.call('ZINTERCARD', '2', '{z}a', 'b')).rejects.toThrow('CROSSSLOT');
    const home = t.leaderOfSlot(keySlot('{z}'));
    const there = new Redis({ port: home.port });
    await there.zadd('{z}a', 1, 'x', 2, 'y');
    expect(await there.call('ZUNIONSTORE', '{z}d', '2', '{z}a', '{z}b', 'WEIGHTS', '2', '1')).toBe(2);
    expect(await there.zrange('{z}d', '0', '-1', 'WITHSCORES')).toEqual(['x', '2', 'y', '4']);
    there.disconnect();
    expect(await r.cluster('KEYSLOT', 'foo')).toBe(12182);
    r.disconnect();
  });

  it('redis-cli -c follows redirects from any node', () => {
    const input = Array.from({ length: 200 }, (_, i) => `SET cli:${i} x${i}`).join('\n');
    const set = spawnSync('redis-cli', ['-c', '-p', String(nodes[1]!.port)], { input, encoding: 'utf8', timeout: 30_000 });
    expect(set.stdout.trim().split('\n').filter((l) => l === 'OK')).toHaveLength(200);
    for (const n of nodes) {
      const get = spawnSync('redis-cli', ['-c', '-p', String(n.port), 'GET', 'cli:123'], { encoding: 'utf8', timeout: 10_000 });
      expect(get.stdout.trim()).toBe('x123');
    }
  });

  it('a partition moved by hand while clients run: clients follow -MOVED, no request fails, nothing is lost', async () => {
    const t = await table();
    const hot = '{hot}';
    const from = t.leaderIdOfSlot(keySlot(hot));
    const to = ['n1', 'n2', 'n3'].find((id) => id !== from)!;
    const c = new Cluster([{ host: '127.0.0.1', port: nodes[0]!.port }]);
    let running = true;
    let failures = 0;
    let acked = 0;
    const written = new Map<string, string>();
    const writer = (async () => {
      for (let i = 0; running; i++) {
        const k = `${hot}:${i % 500}`;
        const v = `w${i}`;
        try {
          await c.set(k, v);
          written.set(k, v);
          acked++;
        } catch {
          failures++;
        }
      }
    })();
    await until('some load', () => (acked > 200 ? true : undefined));
    const moved = await runAtoll(['cluster', 'move', '--coordinator', etcd.url, '--key', hot, '--to', to, '--json']);
    expect(moved.code, moved.err).toBe(0);
    const result = JSON.parse(moved.out) as { from: string; to: string; pauseMs: number };
    expect(result).toMatchObject({ from, to });
    const after = acked;
    await until('load after the move', () => (acked > after + 200 ? true : undefined));
    running = false;
    await writer;
    expect(failures).toBe(0);
    for (const [k, v] of written) expect(await c.get(k)).toBe(v);
    expect((await table()).leaderIdOfSlot(keySlot(hot))).toBe(to);
    await c.quit();
  }, 60_000);
});

describe('bad input', () => {
  it('unknown coordinator URL, etcd down, duplicate id, wrong cluster id, foreign data directory', async () => {
    const badUrl = await runAtoll(['start', '--cluster', '--coordinator', 'zk://127.0.0.1:1', '--id', 'x', '--port', '0']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.err).toMatch(/BAD_COORDINATOR_URL/);
    const down = await runAtoll(['start', '--cluster', '--coordinator', 'etcd://127.0.0.1:1', '--id', 'x', '--port', '0']);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/COORDINATOR_UNAVAILABLE/);
    const dup = await runAtoll(['start', '--cluster', '--coordinator', etcd.url, '--id', 'n1', '--port', '0', '--admin-port', '0', '--lease-ttl-ms', '500']);
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/NODE_ID_TAKEN/);
    const wrong = await runAtoll(['start', '--cluster', '--coordinator', etcd.url, '--id', 'n9', '--port', '0', '--cluster-id', 'other']);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/WRONG_CLUSTER/);
    const foreignDir = await runAtoll(['start', '--cluster', '--coordinator', etcd.url, '--id', 'n9', '--port', '0', '--engine', 'lmdb', '--data-dir', join(dataRoot, 'n1')]);
    expect(foreignDir.code).toBe(1);
    expect(foreignDir.err).toMatch(/WRONG_CLUSTER/);
    const noCoord = await runAtoll(['start', '--cluster', '--id', 'x']);
    expect(noCoord.code).toBe(2);
    expect(noCoord.err).toMatch(/coordinator/);
  }, 60_000);
});
