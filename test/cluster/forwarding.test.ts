// Plain (non-cluster) clients: a cluster of --forward nodes answers any key at any node, multi-key commands
// are split and gathered; `atoll router` does the same as a separate proxy. Also `atoll demo`'s contract.
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNode } from '../helpers-process.js';
import { ATOLL_BIN } from '../helpers-process.js';
import { keyPerSlot, untilClusterOk, runAtoll, startClusterNodeProcess, startTestEtcd, until, type TestEtcd } from '../helpers-cluster.js';
import { freeBasePort } from '../../src/coordinator/etcd-process.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let etcd: TestEtcd;
const nodes: RunningNode[] = [];
let router: { port: number; stop: () => Promise<void> };

async function startRouter(url: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [ATOLL_BIN, 'router', '--coordinator', url, '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const port = await until('router', () => {
    const m = /listening on [\d.]+:(\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { port, stop: async () => (child.kill('SIGTERM'), await exited) };
}

beforeAll(async () => {
  etcd = await startTestEtcd();
  expect((await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '3', '--partitions', '128'])).code).toBe(0);
  for (const id of ['f1', 'f2', 'f3']) nodes.push(await startClusterNodeProcess(etcd.url, id, ['--forward']));
  router = await startRouter(etcd.url);
  await untilClusterOk([...nodes.map((n) => n.port), router.port]);
}, 90_000);

afterAll(async () => {
  await router?.stop();
  await Promise.all(nodes.map((n) => n.stop()));
  await etcd?.stop();
});

async function roundTrip(port: number, prefix: string): Promise<void> {
  const keys = keyPerSlot(prefix).filter((_, i) => i % 4 === 0);
  const r = new Redis({ port });
  await Promise.all(keys.map((k) => r.set(k, k.toUpperCase())));
  expect(await Promise.all(keys.map((k) => r.get(k)))).toEqual(keys.map((k) => k.toUpperCase()));
  // Multi-key commands across slots: split per owner, gathered in order.
  expect(await r.mget(keys[0]!, 'missing-key', keys[1]!, keys[2]!)).toEqual([keys[0]!.toUpperCase(), null, keys[1]!.toUpperCase(), keys[2]!.toUpperCase()]);
  expect(await r.mset(`${prefix}-a`, '1', `${prefix}-b`, '2', `${prefix}-c`, '3')).toBe('OK');
  expect(await r.exists(`${prefix}-a`, `${prefix}-b`, `${prefix}-c`, 'nope')).toBe(3);
  expect(await r.del(`${prefix}-a`, `${prefix}-b`, 'nope')).toBe(2);
  await r.hset(`${prefix}-h`, 'f', 'v');
  expect(await r.hgetall(`${prefix}-h`)).toEqual({ f: 'v' });
  r.disconnect();
}

/** MULTI/EXEC on one slot led by another node: the block runs on the owner; WATCH there is refused with a reason. */
async function transaction(port: number, tag: string): Promise<void> {
  const r = new Redis({ port });
  const [a, b] = [`{${tag}}a`, `{${tag}}b`];
  const replies = (await r.multi().set(a, '1').incr(a).lpush(b, 'x').get(b).exec())!;
  expect(replies.map(([e, v]) => (e === null ? v : e.message))).toEqual(['OK', 2, 1, 'WRONGTYPE Operation against a key holding the wrong kind of value']);
  expect(await r.get(a)).toBe('2');
  await expect(r.multi().set(a, '1').set(`${tag}-elsewhere`, '2').exec()).rejects.toThrow(/EXECABORT/);
  r.disconnect();
}

describe('forwarding and the router', () => {
  it('PUBLISH on any node or the router reaches subscribers on every node; SPUBLISH reaches its shard\'s subscribers', async () => {
    const got = new Map<number, string[]>();
    const subs = await Promise.all(
      nodes.map(async (n) => {
        const r = new Redis({ port: n.port });
        got.set(n.port, []);
        r.on('message', (ch: string, msg: string) => got.get(n.port)!.push(`${ch}:${msg}`));
        r.on('pmessage', (_p: string, ch: string, msg: string) => got.get(n.port)!.push(`p:${ch}:${msg}`));
        await r.subscribe('news');
        await r.psubscribe('al*');
        return r;
      }),
    );
    const sent: string[] = [];
    for (const [i, n] of [...nodes, router].entries()) {
      const p = new Redis({ port: n.port });
      expect(await p.publish('news', `m${i}`)).toBe(i < nodes.length ? 1 : 0); // this node's own subscribers only
      await p.publish('alerts', `a${i}`);
      sent.push(`news:m${i}`, `p:alerts:a${i}`);
      p.disconnect();
    }
    await until('every node delivered every message', () => ([...got.values()].every((l) => l.length === sent.length) ? true : undefined), 10_000);
    for (const list of got.values()) expect([...list].sort()).toEqual([...sent].sort());
    for (const r of subs) r.disconnect();
    // Sharded: SSUBSCRIBE on the channel's leader; SPUBLISH from anywhere is routed there.
    let leaderPort = 0;
    for (const n of nodes) {
      const probe = new Redis({ port: n.port });
      try {
        await probe.call('SSUBSCRIBE', '{shard}ch');
        leaderPort = n.port;
      } catch (e) {
        expect((e as Error).message).toMatch(/^MOVED/);
      }
      probe.disconnect();
    }
    expect(leaderPort).toBeGreaterThan(0);
    const ss = new Redis({ port: leaderPort });
    const shardGot: string[] = [];
    ss.on('smessage', (ch: string, msg: string) => shardGot.push(`${ch}:${msg}`));
    await ss.call('SSUBSCRIBE', '{shard}ch');
    for (const n of [...nodes, router]) {
      const p = new Redis({ port: n.port });
      await p.call('SPUBLISH', '{shard}ch', String(n.port));
      p.disconnect();
    }
    await until('sharded messages', () => (shardGot.length === nodes.length + 1 ? true : undefined), 10_000);
    ss.disconnect();
  }, 60_000);

  it('BLPOP through every --forward node and the router blocks on the leader and wakes on a push from any node', async () => {
    for (const [i, n] of [...nodes, router].entries()) {
      const blocked = new Redis({ port: n.port });
      const pusher = new Redis({ port: nodes[(i + 1) % nodes.length]!.port });
      const key = `{bq${i}}q`;
      const popped = blocked.blpop(key, 10);
      await sleep(100);
      const t0 = Date.now();
      await pusher.rpush(key, `v${i}`);
      expect(await popped).toEqual([key, `v${i}`]);
      expect(Date.now() - t0).toBeLessThan(1_000);
      // A timeout longer than one forwarded slice still answers null at about its time.
      if (i === 0) {
        const t1 = Date.now();
        expect(await blocked.blpop(`{bq${i}}never`, 3.5)).toBeNull();
        expect(Date.now() - t1).toBeGreaterThanOrEqual(3_400);
      }
      blocked.disconnect();
      pusher.disconnect();
    }
  }, 60_000);

  it('ACL users are the cluster\'s: a change on one node applies on every node and the router within a second, forwarded commands included, and survives a restart', async () => {
    const admin = new Redis({ port: nodes[0]!.port });
    expect(await admin.call('ACL', 'SETUSER', 'dana', 'on', '>pw', '~dana:*', '+@all', '-flushall')).toBe('OK');
    const t0 = Date.now();
    const everywhere = [...nodes, router];
    await until('the user on every node and the router', async () => {
      for (const n of everywhere) {
        const r = new Redis({ port: n.port, lazyConnect: true });
        await r.connect();
        const ok = await r.call('AUTH', 'dana', 'pw').then(() => true, () => false);
        r.disconnect();
        if (!ok) return undefined;
      }
      return true;
    }, 5_000, 50);
    expect(Date.now() - t0).toBeLessThan(1_000);
    for (const n of everywhere) {
      const r = new Redis({ port: n.port, username: 'dana', password: 'pw' });
      // Keys in every slot: most are led by another node, so these are forwarded after the check here.
      for (let i = 0; i < 20; i++) expect(await r.set(`dana:${i}`, 'v')).toBe('OK');
      await expect(r.set('other:1', 'v')).rejects.toThrow('NOPERM this user has no permissions to access one of the keys used as arguments');
      await expect(r.flushall()).rejects.toThrow("NOPERM this user has no permissions to run the 'flushall' command");
      r.disconnect();
    }
    // A node restarted on the same cluster still knows the user (it lives in the coordinator).
    const restartedId = 'f3';
    await nodes[2]!.stop();
    nodes[2] = await startClusterNodeProcess(etcd.url, restartedId, ['--forward']);
    await untilClusterOk([nodes[2]!.port]);
    const again = new Redis({ port: nodes[2]!.port, username: 'dana', password: 'pw' });
    expect(await again.get('dana:1')).toBe('v');
    again.disconnect();
    expect(await admin.call('ACL', 'DELUSER', 'dana')).toBe(1);
    await until('the user gone everywhere', async () => {
      const r = new Redis({ port: router.port, lazyConnect: true });
      await r.connect();
      const ok = await r.call('AUTH', 'dana', 'pw').then(() => true, () => false);
      r.disconnect();
      return ok ? undefined : true;
    }, 5_000, 50);
    admin.disconnect();
  }, 60_000);

  it('MULTI/EXEC through every --forward node and the router runs on the keys\' leader', async () => {
    for (const [i, n] of [...nodes, router].entries()) {
      for (let t = 0; t < 6; t++) await transaction(n.port, `tx${i}-${t}`);
    }
  }, 60_000);

  it('a plain client reads and writes every key through any --forward node', async () => {
    for (const [i, n] of nodes.entries()) await roundTrip(n.port, `fw${i}`);
  }, 60_000);

  it('a plain client does the same through atoll router; keyless commands get a clear error there', async () => {
    await roundTrip(router.port, 'rt');
    const r = new Redis({ port: router.port });
    await expect(r.keys('*')).rejects.toThrow(/not supported by the router/);
    await expect(r.dbsize()).rejects.toThrow(/not supported by the router/);
    r.disconnect();
  }, 60_000);
});

describe('atoll demo', () => {
  it('prints the contract line once every slot is served, serves redis clients, stops on SIGTERM', async () => {
    const base = await freeBasePort(3);
    const child = spawn(process.execPath, [ATOLL_BIN, 'demo', '--nodes', '3', '--base-port', String(base), '--partitions', '64', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const line = await until('demo contract line', () => (out.includes('\n') ? out.split('\n')[0]! : undefined), 30_000);
    const info = JSON.parse(line) as { coordinator: string; nodes: { id: string; port: number; adminPort: number; pid: number }[] };
    expect(info.coordinator).toBe('memory');
    expect(info.nodes.map((n) => n.port)).toEqual([base, base + 1, base + 2]);
    expect(info.nodes.every((n) => n.pid === child.pid && n.adminPort > 0)).toBe(true);
    const r = new Redis({ port: base + 1 });
    expect(String(await r.cluster('INFO'))).toContain('cluster_state:ok');
    r.disconnect();
    const health = await fetch(`http://127.0.0.1:${info.nodes[0]!.adminPort}/healthz`);
    expect(health.ok).toBe(true);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});
