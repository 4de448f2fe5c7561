// Admin HTTP by injection (no socket), metrics through a real process, and `atoll start` config validation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { buildAdminApp } from '../../src/server/admin.js';
import { createNodeMetrics } from '../../src/server/metrics.js';
import { startNodeServer, type NodeServer } from '../../src/server/server.js';
import { MemoryEngine } from '../../src/storage/memory.js';
import { systemClock } from '../../src/storage/engine.js';
import { main } from '../../src/cli/main.js';
import { startNode } from '../helpers-process.js';

let server: NodeServer;

beforeAll(async () => {
  server = await startNodeServer({ engine: new MemoryEngine({ clock: systemClock }), clock: systemClock, port: 0 });
});
afterAll(async () => server.close());

describe('admin API (injected)', () => {
  it('serves /healthz, /info and /metrics with command counts and latency', async () => {
    const metrics = createNodeMetrics(server.state);
    server.state.observe = metrics.observe;
    const app = buildAdminApp(server.state, metrics);
    const c = new Redis({ port: server.port, lazyConnect: true, maxRetriesPerRequest: 0 });
    await c.connect();
    await c.set('a', '1');
    await c.get('a');
    await c.get('missing');
    const p = c.pipeline();
    for (let i = 0; i < 64; i++) p.set(`k${i}`, 'v');
    await p.exec();
    c.disconnect();
    expect((await app.inject({ url: '/healthz' })).json()).toMatchObject({ status: 'ok' });
    const info = (await app.inject({ url: '/info' })).json() as { keyspace: Record<string, string>; stats: Record<string, number> };
    expect(info.keyspace.db0).toMatch(/^keys=65,/);
    expect(info.stats.keyspace_misses).toBe(1);
    const text = (await app.inject({ url: '/metrics' })).body;
    expect(text).toMatch(/atoll_commands_total\{command="get"\} 2/);
    expect(text).toMatch(/atoll_commands_total\{command="set"\} 65/);
    // One command in 16 is timed: 67 commands give 4 or 5 samples, most of them SETs.
    const sampled = [...text.matchAll(/atoll_command_duration_seconds_count\{command="\w+"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(sampled).toBeGreaterThanOrEqual(4);
    expect(sampled).toBeLessThanOrEqual(5);
    expect(text).toMatch(/atoll_keys 65/);
    expect(text).toMatch(/atoll_keyspace_misses_total 1/);
    expect((await app.inject({ url: '/nope' })).statusCode).toBe(404);
    await app.close();
  });
});

describe('atoll start', () => {
  it('serves metrics on its admin port', async () => {
    const node = await startNode(['--admin-port', '0']);
    const m = /admin http:\/\/[\d.]+:(\d+)/.exec(node.output());
    expect(m).not.toBeNull();
    const res = await fetch(`http://127.0.0.1:${m![1]}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/atoll_connected_clients/);
    expect(await node.stop()).toBe(0);
  });

  it('rejects bad configuration naming the field, with exit code 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atoll-cfg-'));
    const cases: [string[], RegExp][] = [
      [['start', '--port', 'abc'], /port/],
      [['start', '--port', '70000'], /port/],
      [['start', '--maxmemory', 'lots'], /maxmemory/],
      [['start', '--maxmemory-policy', 'lru'], /maxmemoryPolicy/],
      [['start', '--engine', 'rocksdb'], /engine/],
      [['start', '--config', join(dir, 'missing.json')], /cannot read config file/],
    ];
    writeFileSync(join(dir, 'bad.json'), '{"port": 7000, "colour": "blue"}');
    cases.push([['start', '--config', join(dir, 'bad.json')], /colour/]);
    writeFileSync(join(dir, 'broken.json'), '{"port": ');
    cases.push([['start', '--config', join(dir, 'broken.json')], /not valid JSON/]);
    writeFileSync(join(dir, 'type.json'), '{"maxclients": "many"}');
    cases.push([['start', '--config', join(dir, 'type.json')], /maxclients/]);
    for (const [args, message] of cases) {
      let err = '';
      const code = await main(args, { out: () => undefined, err: (t) => (err += t) });
      expect(code, args.join(' ')).toBe(2);
      expect(err, args.join(' ')).toMatch(message);
    }
  });
});
