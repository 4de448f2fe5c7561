// Hot-key detection on a real node: a uniform workload raises no hot-key alert; a skewed one (one key at
// 30% of requests) is reported first by CLUSTER HOTKEYS, `atoll hotkeys` and /api/alerts within seconds.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type RunningNode } from '../helpers-process.js';
import { runAtoll, until } from '../helpers-cluster.js';

let node: RunningNode;
let adminPort: number;
let redis: Redis;

beforeAll(async () => {
  node = await startNode(['--admin-port', '0']);
  adminPort = Number(/admin http:\/\/[\d.]+:(\d+)/.exec(node.output())![1]);
  redis = new Redis({ port: node.port, lazyConnect: true });
  await redis.connect();
});

afterAll(async () => {
  redis?.disconnect();
  await node?.stop();
});

/** Pipelined GET/SET batches for `ms` (or until `stop()` says so); `pick(i)` names the key of request i. */
async function load(ms: number, pick: (i: number) => string, stop: () => boolean = () => false): Promise<number> {
  const end = Date.now() + ms;
  let i = 0;
  while (Date.now() < end && !stop()) {
    const p = redis.pipeline();
    for (let j = 0; j < 200; j++, i++) {
      const key = pick(i);
      if (i % 5 === 0) p.set(key, 'v');
      else p.get(key);
    }
    await p.exec();
  }
  return i;
}

async function alerts(): Promise<{ rule: string; subject: string }[]> {
  return (await (await fetch(`http://127.0.0.1:${adminPort}/api/alerts`)).json()) as { rule: string; subject: string }[];
}

describe('hot keys', () => {
  it('a uniform workload raises no hot-key alert', async () => {
    const sent = await load(2_500, (i) => `user:${(i * 7919) % 50_000}`);
    expect(sent).toBeGreaterThan(2_000);
    await new Promise((r) => setTimeout(r, 1_100)); // one tick so the window holds the load
    expect((await alerts()).filter((a) => a.rule === 'hot-key')).toEqual([]);
    const top = (await redis.call('CLUSTER', 'HOTKEYS', 'COUNT', '3')) as [string, number, string][];
    expect(Number(top[0]![2])).toBeLessThan(0.01);
  });

  it('a key taking 30% of requests is the top key and raises an alert within seconds', async () => {
    // The load runs while we poll: detection time is from the first skewed request to the alert.
    const started = Date.now();
    let detected = false;
    const running = load(15_000, (i) => (i % 10 < 3 ? 'celebrity' : `user:${(i * 7919) % 50_000}`), () => detected);
    await until('hot-key alert', async () => ((await alerts()).some((a) => a.rule === 'hot-key' && a.subject === 'celebrity') ? true : undefined), 10_000, 200);
    const detectedMs = Date.now() - started;
    const top = (await redis.call('CLUSTER', 'HOTKEYS')) as [string, number, string][];
    detected = true;
    await running;
    expect(top[0]![0]).toBe('celebrity');
    expect(Number(top[0]![2])).toBeGreaterThan(0.1);
    expect(detectedMs).toBeLessThan(8_000);
    const cli = await runAtoll(['hotkeys', '--port', String(node.port), '--count', '3', '--json']);
    expect(cli.code).toBe(0);
    const rows = JSON.parse(cli.out) as { key: string; share: number }[];
    expect(rows[0]!.key).toBe('celebrity');
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    expect(metrics).toMatch(/atoll_alerts_active\{rule="hot-key"\} 1/);
    expect(Number(/^atoll_hot_key_share (\S+)$/m.exec(metrics)![1])).toBeGreaterThan(0.1);
  });

  it('bad CLUSTER HOTKEYS arguments get clear errors', async () => {
    await expect(redis.call('CLUSTER', 'HOTKEYS', 'COUNT', '0')).rejects.toThrow('ERR COUNT must be between 1 and 64');
    await expect(redis.call('CLUSTER', 'HOTKEYS', 'BOGUS')).rejects.toThrow('ERR syntax error');
    const bad = await runAtoll(['hotkeys', '--port', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--port must be a port number');
  });
});
