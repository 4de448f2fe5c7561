// Replication and failover with real processes under faults: three LMDB nodes (every-write) on a real etcd,
// R = 3, recorded client histories while a nemesis kill -9s a node (and restarts it on its data directory)
// and SIGSTOPs another past its lease (it is fenced when it wakes). Under quorum and sync every history is
// linearizable, so no acknowledged write is lost, and collections of every type written before come back
// whole. Then the whole cluster is killed mid-write and restarted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHistory } from '../../src/testing/linearizability.js';
import type { RunningNode } from '../helpers-process.js';
import { Cluster, Redis } from 'ioredis';
import { keyPerSlot, runAtoll, startClusterNodeProcess, startTestEtcd, until, untilClusterOk, type TestEtcd } from '../helpers-cluster.js';
import { startWorkload } from '../helpers-workload.js';
import { readTypedKeys, writeTypedKeys } from '../helpers-types.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const KEYS = Array.from({ length: 12 }, (_, i) => `acct:${i}`);

interface TestCluster {
  etcd: TestEtcd;
  dir: string;
  nodes: Map<string, RunningNode>;
  start(id: string): Promise<RunningNode>;
  ports(): number[];
  stop(): Promise<void>;
}

async function startCluster(ack: 'quorum' | 'sync'): Promise<TestCluster> {
  const etcd = await startTestEtcd();
  const dir = mkdtempSync(join(tmpdir(), `atoll-faults-${ack}-`));
  const created = await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--partitions', '32', '--replicas', '3', '--ack', ack]);
  expect(created.code, created.err).toBe(0);
  const nodes = new Map<string, RunningNode>();
  const start = async (id: string): Promise<RunningNode> => {
    const n = await startClusterNodeProcess(etcd.url, id, ['--engine', 'lmdb', '--durability', 'every-write', '--data-dir', join(dir, id)]);
    nodes.set(id, n);
    return n;
  };
  await Promise.all(['n1', 'n2', 'n3'].map(start));
  const ports = (): number[] => [...nodes.values()].filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => n.port);
  await untilClusterOk(ports(), 30_000);
  return {
    etcd,
    dir,
    nodes,
    start,
    ports,
    async stop() {
      for (const n of nodes.values()) {
        if (n.child.exitCode === null && n.child.signalCode === null) {
          try {
            process.kill(n.pid, 'SIGCONT');
          } catch {
            // already gone
          }
          await n.stop('SIGKILL');
        }
      }
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const clusters: TestCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.stop();
});

for (const ack of ['quorum', 'sync'] as const) {
  describe(`replication faults, ack=${ack}`, () => {
    it('kill -9 a node and restart it, SIGSTOP another past its lease: linearizable, nothing acknowledged lost', async () => {
      const c = await startCluster(ack);
      clusters.push(c);
      // Collections of every type, acknowledged before the faults: read back whole after them.
      const typed = new Cluster(c.ports().map((port) => ({ host: '127.0.0.1', port })));
      await writeTypedKeys(typed, 'faults');
      const typedBefore = await readTypedKeys(typed, 'faults');
      typed.disconnect();
      const load = startWorkload({ ports: c.ports(), clients: 6, keys: KEYS, writeShare: 0.5, commandTimeoutMs: 2_000 });
      await sleep(1_500);
      // kill -9: its partitions fail over after the lease (2 s); it comes back on its data directory.
      await c.nodes.get('n1')!.stop('SIGKILL');
      await sleep(4_000);
      await c.start('n1');
      await sleep(2_500);
      // SIGSTOP past the lease: the others fail it over; when it wakes it must not serve or commit anything.
      process.kill(c.nodes.get('n2')!.pid, 'SIGSTOP');
      await sleep(4_500);
      process.kill(c.nodes.get('n2')!.pid, 'SIGCONT');
      await sleep(3_000);
      await load.stop();
      await untilClusterOk(c.ports(), 30_000);
      await load.finalReads(c.ports());
      const ops = load.history.operations;
      const acked = ops.filter((o) => o.input.kind === 'put' && o.returnMs !== undefined).length;
      const unknown = ops.filter((o) => o.returnMs === undefined).length;
      const result = checkHistory(ops);
      const bad = result.keys.filter((k) => k.result !== 'ok').map((k) => k.key);
      expect({ linearizable: result.ok, incomplete: result.incomplete, bad }).toEqual({ linearizable: true, incomplete: false, bad: [] });
      expect(acked).toBeGreaterThan(300);
      const typedAfter = new Cluster(c.ports().map((port) => ({ host: '127.0.0.1', port })));
      expect(await readTypedKeys(typedAfter, 'faults')).toEqual(typedBefore);
      typedAfter.disconnect();
      process.stdout.write(`faults ack=${ack}: ${ops.length} operations, ${acked} acknowledged writes, ${unknown} unknown outcomes, errors ${JSON.stringify(Object.fromEntries(load.errors))}: linearizable\n`);
    }, 120_000);

    it('whole-cluster kill -9 mid-write, restart on the same data: every acknowledged write is there', async () => {
      const c = clusters[clusters.length - 1]!;
      // Fresh keys: the history starts from empty values.
      const load = startWorkload({ ports: c.ports(), clients: 6, keys: KEYS.map((k) => `${k}:restart`), writeShare: 0.8, commandTimeoutMs: 2_000 });
      await sleep(2_000);
      await Promise.all([...c.nodes.values()].map((n) => n.stop('SIGKILL')));
      const t0 = Date.now();
      const mark = (what: string): void => void (process.env.FAULTS_DEBUG && process.stdout.write(`${Date.now() - t0} ms: ${what}\n`));
      await load.stop();
      mark('load stopped');
      await Promise.all(['n1', 'n2', 'n3'].map((id) => c.start(id)));
      mark('restarted');
      await untilClusterOk(c.ports(), 30_000);
      mark('cluster ok');
      await load.finalReads(c.ports());
      mark('final reads');
      const result = checkHistory(load.history.operations);
      if (!result.ok && process.env.FAULTS_DEBUG) {
        const key = result.keys.find((k) => k.result !== 'ok')!.key;
        const ops = load.history.operations.filter((o) => o.key === key).sort((a, b) => a.callMs - b.callMs);
        for (const o of ops.slice(-12)) process.stdout.write(`${key} c${o.client} ${JSON.stringify(o.input)} -> ${JSON.stringify(o.output)} [${o.callMs - t0}, ${o.returnMs === undefined ? '?' : o.returnMs - t0}]\n`);
      }
      expect(result.ok).toBe(true);
      expect(load.ackedAt.length).toBeGreaterThan(100);
    }, 120_000);

    it('MULTI/EXEC under kill -9 of a leader: every transaction applied whole or not at all, acknowledged ones kept', async () => {
      const c = clusters[clusters.length - 1]!;
      const tags = Array.from({ length: 6 }, (_, i) => `tx${i}`);
      const acked = new Map<string, number[]>(tags.map((t) => [t, []]));
      let running = true;
      const loop = async (tag: string): Promise<void> => {
        const client = new Cluster(c.ports().map((port) => ({ host: '127.0.0.1', port })), { redisOptions: { commandTimeout: 2_000, maxRetriesPerRequest: 1 }, clusterRetryStrategy: () => 100, retryDelayOnTryAgain: 50, retryDelayOnClusterDown: 100, retryDelayOnFailover: 100 });
        client.on('error', () => undefined);
        for (let i = 0; running; i++) {
          try {
            const r = await client.multi().set(`{${tag}}a:${i}`, String(i)).set(`{${tag}}b:${i}`, String(i)).sadd(`{${tag}}done`, String(i)).exec();
            if (r !== null && r.every(([e]) => e === null)) acked.get(tag)!.push(i);
          } catch {
            // unknown outcome: checked below for all-or-nothing only
          }
        }
        client.disconnect();
        return undefined;
      };
      const loops = tags.map((t) => loop(t));
      await sleep(1_500);
      await c.nodes.get('n3')!.stop('SIGKILL');
      await sleep(4_000);
      await c.start('n3');
      await sleep(1_500);
      running = false;
      await Promise.all(loops);
      await untilClusterOk(c.ports(), 30_000);
      const reader = new Cluster(c.ports().map((port) => ({ host: '127.0.0.1', port })));
      for (const tag of tags) {
        const last = Math.max(-1, ...acked.get(tag)!) + 50;
        const present: number[] = [];
        for (let i = 0; i <= last; i++) {
          const [a, b] = await Promise.all([reader.get(`{${tag}}a:${i}`), reader.get(`{${tag}}b:${i}`)]);
          expect({ tag, i, a, b }).toEqual({ tag, i, a: b, b });
          if (a !== null) present.push(i);
        }
        expect(present).toEqual(expect.arrayContaining(acked.get(tag)!));
        // A set, not a counter: a client may resend a transaction whose reply was lost, which must not count twice.
        expect((await reader.smembers(`{${tag}}done`)).map(Number).sort((x, y) => x - y)).toEqual(present);
      }
      reader.disconnect();
      expect([...acked.values()].reduce((n, l) => n + l.length, 0)).toBeGreaterThan(100);
    }, 90_000);

    it('manual failover of every partition a node leads, under load: only redirects, nothing lost', async () => {
      const c = clusters[clusters.length - 1]!;
      const load = startWorkload({ ports: c.ports(), clients: 4, keys: KEYS.map((k) => `${k}:manual`), writeShare: 0.5, commandTimeoutMs: 2_000 });
      await sleep(1_000);
      // The node that leads the most partitions hands all of them over.
      const rows = JSON.parse((await runAtoll(['cluster', 'nodes', '--coordinator', c.etcd.url, '--json'])).out) as { id: string; led: number }[];
      const busiest = rows.sort((a, b) => b.led - a.led)[0]!.id;
      const r = await runAtoll(['failover', '--coordinator', c.etcd.url, '--node', busiest, '--json']);
      expect(r.code, r.err).toBe(0);
      const moved = JSON.parse(r.out) as { from: string; to: string; pauseMs: number }[];
      expect(moved.length).toBeGreaterThan(0);
      expect(moved.every((m) => m.from === busiest && m.to !== busiest)).toBe(true);
      await sleep(1_000);
      await load.stop();
      await load.finalReads(c.ports());
      const ops = load.history.operations;
      expect(checkHistory(ops).ok).toBe(true);
      expect(ops.filter((o) => o.returnMs === undefined)).toEqual([]); // no write with an unknown outcome
      // It leads nothing now, so it shows as a replica: CLUSTER FAILOVER there takes partitions back.
      const back = new Redis({ port: c.nodes.get(busiest)!.port });
      await expect(back.cluster('FAILOVER', 'FORCE')).rejects.toThrow('not supported');
      expect(await back.cluster('FAILOVER')).toBe('OK');
      // Now it leads again, so it is no replica any more.
      await expect(back.cluster('FAILOVER')).rejects.toThrow('ERR You should send CLUSTER FAILOVER to a replica');
      back.disconnect();
    }, 60_000);

    it('READONLY reads are served by a fresh follower, and sent to the leader once the follower is stale', async () => {
      const c = clusters[clusters.length - 1]!;
      const probe = new Redis({ port: c.ports()[0]! });
      // The last range: earlier tests may have left one node leading every partition (one range only).
      const range = (await probe.cluster('SLOTS')).at(-1)!;
      probe.disconnect();
      const key = keyPerSlot('ro')[range[0]]!;
      const leader = range[2]!;
      const follower = range[3]!;
      const w = new Redis({ port: leader[1] });
      await w.set(key, 'fresh');
      const r = new Redis({ port: follower[1] });
      await expect(r.get(key)).rejects.toThrow(/^MOVED/);
      await r.call('READONLY');
      await until('follower copy', async () => ((await r.get(key)) === 'fresh' ? true : undefined), 5_000);
      const paused = [...c.nodes.values()].find((n) => n.port === leader[1])!;
      process.kill(paused.pid, 'SIGSTOP');
      try {
        await sleep(1_300); // past the staleness bound (1 s): no word from the leader
        await expect(r.get(key)).rejects.toThrow(/^MOVED/);
      } finally {
        process.kill(paused.pid, 'SIGCONT');
        r.disconnect();
        w.disconnect();
      }
    }, 60_000);

    it('WAIT counts the followers holding the connection\'s last write, and times out with fewer', async () => {
      const c = clusters[clusters.length - 1]!;
      const probe = new Redis({ port: c.ports()[0]! });
      const range = (await probe.cluster('SLOTS'))[0]!;
      probe.disconnect();
      // A key in the first range, on a connection to its leader.
      const leader = range[2]!;
      const follower = range[3]!;
      const key = keyPerSlot('w')[range[0]]!;
      const r = new Redis({ port: leader[1] });
      expect(await r.call('WAIT', '2', '1000')).toBe(0); // nothing written on this connection yet
      await r.set(key, 'v1');
      expect(await r.call('WAIT', '2', '1000')).toBe(2);
      const paused = [...c.nodes.values()].find((n) => n.port === follower[1])!;
      process.kill(paused.pid, 'SIGSTOP');
      try {
        await r.set(key, 'v2'); // a majority (leader + the other follower) still acknowledges
        const started = Date.now();
        expect(await r.call('WAIT', '2', '300')).toBe(1);
        expect(Date.now() - started).toBeGreaterThanOrEqual(250);
        await expect(r.call('WAIT', 'x', '1')).rejects.toThrow('ERR value is not an integer or out of range');
      } finally {
        process.kill(paused.pid, 'SIGCONT');
        r.disconnect();
      }
    }, 60_000);
  });
}
