// The real deployment at its defaults: a real etcd, node processes (LMDB), 2048 partitions, R = 3, ack sync.
// An idle cluster under a small steady load stays quiet (no failed request, no failover, no lease loss, no
// warning), and a 3 s stall of a node's event loop costs it no lease; a rebalance 3 -> 4 -> 3 nodes under a recorded load fails no request and stays linearizable; a
// leader and the controller killed with -9 and a node stopped past its lease lose no acknowledged write.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { respOnce } from '../../src/client/resp-client.js';
import { openCoordinator, type Coordinator } from '../../src/coordinator/coordinator.js';
import { checkHistory } from '../../src/testing/linearizability.js';
import { keySlot } from '../../src/partitioning/hash.js';
import type { RunningNode } from '../helpers-process.js';
import { runAtoll, startClusterNodeProcess, startTestEtcd, until, untilClusterOk, type TestEtcd } from '../helpers-cluster.js';
import { startWorkload } from '../helpers-workload.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
// Enough keys that none is hot (the hot-key alert fires above 10% of a node's traffic).
// Each test its own keys: a history starts from keys that were never written.
const keys = (prefix: string): string[] => Array.from({ length: 200 }, (_, i) => `${prefix}:${i}`);
/** Checks a history; a failing one is written out (the bad keys' operations) for a person to read. */
const verdicts = (ops: Parameters<typeof checkHistory>[0]): { ok: boolean; bad: string[] } => {
  const r = checkHistory(ops);
  const bad = r.keys.filter((k) => k.result !== 'ok').map((k) => k.key);
  if (bad.length > 0) {
    const file = join(tmpdir(), `atoll-defaults-history-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(ops.filter((o) => bad.includes(o.key)), null, 1));
    process.stdout.write(`non-linearizable keys ${bad.join(', ')}: operations in ${file}\n`);
  }
  return { ok: r.ok, bad: r.keys.filter((k) => k.result !== 'ok').map((k) => `${k.key}: ${k.result}`) };
};
let etcd: TestEtcd;
let dir: string;
let coord: Coordinator;
const nodes = new Map<string, RunningNode>();

async function start(id: string): Promise<RunningNode> {
  const n = await startClusterNodeProcess(etcd.url, id, ['--engine', 'lmdb', '--data-dir', join(dir, id), '--enable-debug-command', 'local']);
  nodes.set(id, n);
  return n;
}
const alive = (n: RunningNode): boolean => n.child.exitCode === null && n.child.signalCode === null;
const ports = (): number[] => [...nodes.values()].filter(alive).map((n) => n.port);
/** Lines at warn or error level that node processes printed after `from` (their output lengths then). */
const loudLines = (from: Map<string, number>): string[] =>
  [...nodes].flatMap(([id, n]) => n.output().slice(from.get(id) ?? 0).split('\n').filter((l) => /"level":(40|50|60)/.test(l)).map((l) => `${id} ${l}`));
/** Failed operations with their slot, and every node line logged within 3 s of each, for a person to read. */
const explain = (failures: { key: string; startMs: number; endMs: number; message: string }[]): string =>
  failures.map((f) => {
    const near = [...nodes].flatMap(([id, n]) => n.output().split('\n').filter((l) => {
      const t = /"time":(\d+)/.exec(l);
      return t !== null && Number(t[1]) >= f.startMs - 3_000 && Number(t[1]) <= f.endMs + 1_000;
    }).map((l) => `  ${id} ${l.slice(0, 300)}`));
    return `${f.key} (slot ${keySlot(f.key)}) ${f.startMs}..${f.endMs}: ${f.message}\n${near.join('\n')}`;
  }).join('\n');
const outputMarks = (): Map<string, number> => new Map([...nodes].map(([id, n]) => [id, n.output().length]));

beforeAll(async () => {
  // The files that ran before this one leave dirty pages the kernel writes back over the next half minute;
  // flushed first, so this cluster's every-write fsyncs (and its alerts) measure its own disk use.
  spawnSync('sync');
  etcd = await startTestEtcd();
  dir = mkdtempSync(join(tmpdir(), 'atoll-defaults-'));
  const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--replicas', '3', '--ack', 'sync']);
  expect(created.code, created.err).toBe(0);
  await Promise.all(['n1', 'n2', 'n3'].map(start));
  await untilClusterOk(ports(), 60_000);
  coord = await openCoordinator(etcd.url);
  expect((await coord.snapshot()).map!.partitions).toHaveLength(2048);
}, 120_000);

afterAll(async () => {
  if (process.env.ATOLL_TEST_DUMP !== undefined) for (const [id, n] of nodes) writeFileSync(join(process.env.ATOLL_TEST_DUMP, `${id}.log`), n.output());
  await coord?.close();
  for (const n of nodes.values()) {
    if (!alive(n)) continue;
    process.kill(n.pid, 'SIGCONT');
    await n.stop('SIGKILL');
  }
  await etcd?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('a cluster at the defaults (2048 partitions, R = 3, ack sync, real etcd and processes)', () => {
  it('stays quiet and healthy for 60 s under a small steady load', async () => {
    await sleep(3_000);
    const marks = outputMarks();
    const load = startWorkload({ ports: ports(), clients: 4, keys: keys('idle'), writeShare: 0.5, commandTimeoutMs: 2_000, pauseMs: 20 });
    await sleep(60_000);
    await load.stop();
    await load.finalReads(ports());
    const ops = load.history.operations;
    if (process.env.ATOLL_TEST_DUMP !== undefined) writeFileSync(join(process.env.ATOLL_TEST_DUMP, 'idle-ops.json'), JSON.stringify(ops));
    expect(Object.fromEntries(load.errors), explain(load.failures)).toEqual({});
    expect(ops.length).toBeGreaterThan(2_000);
    expect(loudLines(marks)).toEqual([]);
    const text = [...nodes.values()].map((n) => n.output()).join('');
    expect(text).not.toMatch(/lease lost|failover:/);
    expect(verdicts(ops)).toEqual({ ok: true, bad: [] });
  }, 120_000);

  it('a 3 s stall of the controller\'s event loop (DEBUG SLEEP 3) loses no lease and fails nothing over', async () => {
    const snap = await coord.snapshot();
    const id = snap.controller!;
    const leadersBefore = snap.map!.partitions.map((e) => e.replicas[0]);
    const marks = outputMarks();
    const reply = await respOnce('127.0.0.1', nodes.get(id)!.port, ['DEBUG', 'SLEEP', '3']);
    expect(String(reply)).toBe('OK');
    await sleep(3_000);
    const after = await coord.snapshot();
    expect(after.controller).toBe(id);
    expect(after.nodes.map((n) => n.id).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(after.map!.partitions.map((e) => e.replicas[0])).toEqual(leadersBefore);
    expect(loudLines(marks).filter((l) => /lease lost|failover/.test(l))).toEqual([]);
  }, 60_000);

  it('rebalances 3 -> 4 -> 3 nodes under a recorded load: no failed request, linearizable', async () => {
    const load = startWorkload({ ports: ports(), clients: 4, keys: keys('move'), writeShare: 0.5, commandTimeoutMs: 2_000, pauseMs: 5 });
    await start('n4');
    await until('n4 registered', async () => ((await coord.snapshot()).nodes.some((n) => n.id === 'n4') ? true : undefined), 30_000);
    for (const drain of [[], ['n4']]) {
      const planned = await runAtoll(['rebalance', 'plan', '--coordinator', etcd.url, '--json', ...(drain.length > 0 ? ['--drain', drain.join(',')] : [])]);
      expect(planned.code, planned.err).toBe(0);
      const plan = JSON.parse(planned.out) as { id: string; moves: unknown[] };
      expect(plan.moves.length).toBeGreaterThan(100);
      const applied = await runAtoll(['rebalance', 'apply', plan.id, '--wait', '--coordinator', etcd.url], 240_000);
      expect(applied.code, applied.err + applied.out).toBe(0);
    }
    const map = (await coord.snapshot()).map!;
    expect(map.partitions.every((e) => !e.replicas.includes('n4'))).toBe(true);
    await nodes.get('n4')!.stop('SIGTERM');
    nodes.delete('n4');
    await load.stop();
    await load.finalReads(ports());
    expect(verdicts(load.history.operations)).toEqual({ ok: true, bad: [] });
    expect(Object.fromEntries(load.errors), explain(load.failures)).toEqual({});
  }, 600_000);

  it('kill -9 of a leader and of the controller, SIGSTOP past the lease: no acknowledged write lost', async () => {
    const load = startWorkload({ ports: ports(), clients: 4, keys: keys('kill'), writeShare: 0.5, commandTimeoutMs: 2_000, pauseMs: 20 });
    const leaderOf = async (key: string): Promise<string> => {
      const map = (await coord.snapshot()).map!;
      return map.partitions[Math.floor(keySlot(key) / (16384 / map.partitions.length))]!.replicas[0]!;
    };
    /** A client that has written `key` once (so its slot map is warm), to time the key's return after a kill. */
    const probeClient = async (key: string): Promise<Cluster> => {
      const c = new Cluster(ports().map((port) => ({ host: '127.0.0.1', port })), { redisOptions: { commandTimeout: 500, maxRetriesPerRequest: 0 }, retryDelayOnMoved: 10, retryDelayOnTryAgain: 20, retryDelayOnClusterDown: 20 });
      c.on('error', () => undefined);
      await until('the key writable', async () => (await c.set(key, 'probe-0').then(() => true, () => undefined)), 20_000, 50);
      return c;
    };
    /** A key whose partition `id` leads, so its kill stops that key's writes until the failover. */
    const keyLedBy = async (id: string): Promise<string | undefined> => {
      const map = (await coord.snapshot()).map!;
      if (!map.partitions.some((e) => e.replicas[0] === id)) return undefined;
      for (let i = 0; i < 1_000_000; i++) if ((await leaderOf(`probe:${i}`)) === id) return `probe:${i}`;
      throw new Error(`no key found whose partition ${id} leads`);
    };
    const victims = [await leaderOf('probe'), (await coord.snapshot()).controller!];
    const pauses: number[] = [];
    for (const id of victims) {
      const before = nodes.get(id)!;
      if (!alive(before)) continue;
      await sleep(1_500);
      // A node restarted earlier in this test leads nothing until a rebalance: it is killed all the same.
      const key = await keyLedBy(id);
      const c = key === undefined ? undefined : await probeClient(key);
      await before.stop('SIGKILL');
      const killedAt = Date.now();
      if (c !== undefined && key !== undefined) {
        let lastError = '';
        try {
          pauses.push(await until('the key writable again', async () => (await c.set(key, `probe-${Date.now()}`).then(() => Date.now() - killedAt, (e: unknown) => void (lastError = (e as Error).message))), 20_000, 10));
        } catch (e) {
          // What the cluster did meanwhile, for a person to read: the key's partition now, the probe's last error,
          // and every node line since the kill.
          const entry = (await coord.snapshot()).map!.partitions[Math.floor(keySlot(key) / (16384 / 2048))];
          const lines = [...nodes].flatMap(([nid, n]) => n.output().split('\n').filter((l) => Number(/"time":(\d+)/.exec(l)?.[1] ?? 0) >= killedAt).map((l) => `${nid} ${l.slice(0, 400)}`));
          process.stdout.write(`after killing ${id}: ${key} partition ${JSON.stringify(entry)}, last error ${lastError}\n${lines.join('\n')}\n`);
          throw e;
        } finally {
          c.disconnect();
        }
      }
      try {
        await until(`${id} failed over`, async () => ((await coord.snapshot()).map!.partitions.some((e) => e.replicas[0] === id) ? undefined : true), 30_000);
      } catch (e) {
        // Who leads what now, who controls, and every node line since the kill, for a person to read.
        const snap = await coord.snapshot();
        const still = snap.map!.partitions.filter((e) => e.replicas[0] === id).length;
        const lines = [...nodes].flatMap(([nid, n]) => n.output().split('\n').filter((l) => Number(/"time":(\d+)/.exec(l)?.[1] ?? 0) >= killedAt).map((l) => `${nid} ${l.slice(0, 400)}`));
        process.stdout.write(`after killing ${id}: ${still} partitions still led by it, controller ${String(snap.controller)}, epoch ${snap.map!.epoch}\n${lines.join('\n')}\n`);
        throw e;
      }
      await start(id);
      await untilClusterOk(ports(), 60_000);
    }
    // SIGSTOP past the lease: the node is fenced while stopped and refuses its old role when it wakes.
    const stopped = nodes.get(await leaderOf('probe'))!;
    process.kill(stopped.pid, 'SIGSTOP');
    await sleep(4_000);
    process.kill(stopped.pid, 'SIGCONT');
    await untilClusterOk(ports(), 60_000);
    await load.stop();
    await load.finalReads(ports());
    const checkStarted = Date.now();
    expect(verdicts(load.history.operations)).toEqual({ ok: true, bad: [] });
    process.stdout.write(`defaults: history of ${load.history.operations.length} operations checked in ${Date.now() - checkStarted} ms\n`);
    // Goal 3 s on a quiet machine; the bound here leaves room for a loaded CI run.
    expect(pauses.length).toBeGreaterThan(0);
    for (const ms of pauses) expect(ms).toBeLessThan(8_000);
    process.stdout.write(`defaults: kill -9 -> writable in ${pauses.join(', ')} ms; ${load.history.operations.length} operations, linearizable\n`);
  }, 300_000);
});
