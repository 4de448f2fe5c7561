// Replica validation: bucket digests (order-free, one bucket per difference, near-expiry keys left out), and
// with real processes: a follower's LMDB copy corrupted while it is stopped (a changed value, a lost key, a
// stray key) is found by `atoll verify --no-repair`, repaired from the leader by `atoll verify`, and matches after.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { bucketOf, differingBuckets, digestEntries, VERIFY_LIMITS } from '../../src/replication/verify.js';
import { LmdbEngine } from '../../src/storage/lmdb.js';
import { ZSet } from '../../src/storage/zset.js';
import { systemClock } from '../../src/storage/engine.js';
import type { WireEntry } from '../../src/storage/wire.js';
import type { RunningNode } from '../helpers-process.js';
import { runAtoll, startClusterNodeProcess, startTestEtcd, stopCluster, until, untilClusterOk, type TestEtcd } from '../helpers-cluster.js';

const s = (k: string, v: string, exp = 0): WireEntry => [Buffer.from(k), 's', Buffer.from(v), exp];

describe('bucket digests', () => {
  it('do not depend on entry or field order, and one changed key changes one bucket', () => {
    const entries: WireEntry[] = Array.from({ length: 200 }, (_, i) => s(`k${i}`, `v${i}`));
    entries.push([Buffer.from('h'), 'h', [Buffer.from('a'), Buffer.from('1'), Buffer.from('b'), Buffer.from('2')], 0]);
    const a = digestEntries(entries, 0);
    const shuffled = [...entries].reverse();
    shuffled[0] = [Buffer.from('h'), 'h', [Buffer.from('b'), Buffer.from('2'), Buffer.from('a'), Buffer.from('1')], 0];
    expect(digestEntries(shuffled, 0)).toEqual(a);
    expect(a.keys).toBe(201);
    const changed = entries.map((e) => (e[0].toString() === 'k7' ? s('k7', 'other') : e));
    expect(differingBuckets(a, digestEntries(changed, 0))).toEqual([bucketOf(Buffer.from('k7'))]);
    const missing = entries.filter((e) => e[0].toString() !== 'k9');
    expect(differingBuckets(a, digestEntries(missing, 0))).toEqual([bucketOf(Buffer.from('k9'))]);
    // An expiry is part of the entry.
    const expiring = entries.map((e) => (e[0].toString() === 'k3' ? s('k3', 'v3', 10_000_000) : e));
    expect(differingBuckets(a, digestEntries(expiring, 0))).toEqual([bucketOf(Buffer.from('k3'))]);
  });

  it('leave out keys expiring within the margin of the reference time on every side', () => {
    const now = 1_000_000;
    const soon = s('soon', 'x', now + VERIFY_LIMITS.expiryMarginMs - 1);
    expect(digestEntries([s('a', '1'), soon], now)).toEqual(digestEntries([s('a', '1')], now));
    expect(digestEntries([s('a', '1'), s('late', 'x', now + VERIFY_LIMITS.expiryMarginMs + 1)], now).keys).toBe(2);
  });
});

let etcd: TestEtcd;
const nodes = new Map<string, RunningNode>();
const dirs: string[] = [];
afterAll(async () => {
  await stopCluster(nodes, etcd);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('atoll verify', () => {
  it('finds a corrupted follower copy, repairs it from the leader, and matches after', async () => {
    etcd = await startTestEtcd();
    const partitions = 16;
    const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--partitions', String(partitions), '--replicas', '3', '--ack', 'sync']);
    expect(created.code, created.err).toBe(0);
    const dataDir = new Map<string, string>();
    const start = async (id: string): Promise<void> => {
      if (!dataDir.has(id)) {
        const d = mkdtempSync(join(tmpdir(), `atoll-verify-${id}-`));
        dirs.push(d);
        dataDir.set(id, d);
      }
      nodes.set(id, await startClusterNodeProcess(etcd.url, id, ['--engine', 'lmdb', '--data-dir', dataDir.get(id)!]));
    };
    await Promise.all(['n1', 'n2', 'n3'].map(start));
    const ports = (): number[] => [...nodes.values()].filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => n.port);
    await untilClusterOk(ports(), 30_000);
    const client = new Cluster(ports().map((port) => ({ host: '127.0.0.1', port })));
    for (let i = 0; i < 300; i++) await client.set(`v:${i}`, `value-${i}`);
    await client.hset('v:hash', 'a', '1', 'b', '2');
    await client.sadd('v:set', 'x', 'y', 'z');
    await client.zadd('v:zset', 1.5, 'a', 2, 'b');
    await client.set('v:ttl', 'x', 'EX', 3600);
    client.disconnect();

    const clean = await runAtoll(['verify', '--coordinator', etcd.url, '--json']);
    expect(clean.code, clean.err + clean.out).toBe(0);
    const first = JSON.parse(clean.out) as { tally: Record<string, number>; verdicts: { keys: number }[] };
    expect(first.tally, clean.out.slice(0, 3000)).toMatchObject({ match: partitions * 2, mismatch: 0, repaired: 0 });
    expect(first.verdicts.reduce((a, v) => a + v.keys, 0)).toBe(304);

    // Corrupt n2's copy while it is stopped: a changed value, a lost key, a stray key.
    await nodes.get('n2')!.stop('SIGTERM');
    const engine = new LmdbEngine({ path: dataDir.get('n2')!, clock: systemClock, partitions });
    engine.batch(() => {
      engine.put('v:1', { type: 'string', value: Buffer.from('corrupted') }, 0);
      engine.delete('v:2');
      engine.put('stray', { type: 'string', value: Buffer.from('nobody wrote me') }, 0);
      // A set that lost a member: compared and repaired like any value.
      engine.put('v:set', { type: 'set', value: new Set(['x', 'y']) }, 0);
      // A sorted set with one score changed.
      engine.put('v:zset', { type: 'zset', value: new ZSet([['a', 1.5], ['b', 3]]) }, 0);
    });
    await engine.close();
    await start('n2');
    await untilClusterOk(ports(), 30_000);
    // n2 back in sync everywhere (no catch-up left), then compare.
    const report = await until(
      'n2 settled',
      async () => {
        const r = await runAtoll(['verify', '--coordinator', etcd.url, '--no-repair', '--json']);
        const j = JSON.parse(r.out) as { tally: Record<string, number> };
        return j.tally['catching-up'] === 0 && j.tally.busy === 0 && j.tally.unreachable === 0 ? { r, j } : undefined;
      },
      30_000,
      500,
    );
    expect(report.r.code).toBe(1);
    const corrupted = JSON.parse(report.r.out) as { tally: Record<string, number>; verdicts: { partition: number; replicas: { id: string; verdict: string; buckets?: number[] }[] }[] };
    const bad = corrupted.verdicts.flatMap((v) => v.replicas.filter((r) => r.verdict === 'mismatch').map((r) => ({ p: v.partition, ...r })));
    expect(bad.length).toBeGreaterThanOrEqual(1);
    expect(bad.length).toBeLessThanOrEqual(5);
    expect(bad.every((b) => b.id === 'n2')).toBe(true);
    expect(bad.flatMap((b) => b.buckets ?? []).sort()).toEqual(['v:1', 'v:2', 'stray', 'v:set', 'v:zset'].map((k) => bucketOf(Buffer.from(k))).sort());

    const repaired = await runAtoll(['verify', '--coordinator', etcd.url]);
    expect(repaired.code, repaired.err + repaired.out).toBe(0);
    expect(repaired.out).toMatch(/[12345] repaired, 0 differ/);
    const after = await runAtoll(['verify', '--coordinator', etcd.url, '--json']);
    expect(after.code).toBe(0);
    expect((JSON.parse(after.out) as { tally: Record<string, number> }).tally).toMatchObject({ match: partitions * 2, mismatch: 0, repaired: 0 });
    // The repaired follower holds the leader's set: read it there with READONLY.
    const reader = new Cluster(ports().map((port) => ({ host: '127.0.0.1', port })), { scaleReads: 'slave' });
    expect((await reader.smembers('v:set')).sort()).toEqual(['x', 'y', 'z']);
    expect(await reader.zrange('v:zset', '0', '-1', 'WITHSCORES')).toEqual(['a', '1.5', 'b', '2']);
    reader.disconnect();
    // One partition alone, and a partition that does not exist.
    const bad1 = await runAtoll(['verify', '7', '--coordinator', etcd.url, '--no-repair']);
    expect(bad1.code).toBe(0);
    expect((await runAtoll(['verify', '99', '--coordinator', etcd.url])).code).toBe(2);
  }, 120_000);
});
