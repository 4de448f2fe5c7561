// Hostile clients at the client port, side by side with redis-server (both with a password): Redis's limits
// for unauthenticated clients (argument counts and bulk lengths, same texts), an AUTH pipelined with a large
// value in one write (accepted by both), silent connections bounded by maxclients (Redis's refusal text), and
// slow-loris clients dribbling partial commands while others are served without delay.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/coordinator/etcd-process.js';
import { startNode, type RunningNode } from '../helpers-process.js';
import { until } from '../helpers-cluster.js';
import { MemoryCoordinator } from '../../src/coordinator/memory.js';
import { startClusterNode } from '../../src/server/cluster-node.js';
import { systemClock } from '../../src/storage/engine.js';
import { MemoryEngine } from '../../src/storage/memory.js';

const PASSWORD = 'hostile-test-pw';
const MAXCLIENTS = 40;
let redis: ChildProcess | undefined;
let redisPort = 0;
let atoll: RunningNode | undefined;

beforeAll(async () => {
  redisPort = await freePort();
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', PASSWORD, '--maxclients', String(MAXCLIENTS)], { stdio: 'ignore' });
  atoll = await startNode(['--no-admin', '--requirepass', PASSWORD, '--maxclients', String(MAXCLIENTS)]);
  await until('redis-server', () => exchange(redisPort, Buffer.from('PING\r\n')).then((r) => (r.length > 0 ? true : undefined)), 10_000);
}, 30_000);

afterAll(async () => {
  redis?.kill('SIGKILL');
  await atoll?.stop();
});

/** Sends `bytes`, and resolves with what came back once the server closed, `enough` says so, or after `waitMs`. */
function exchange(port: number, bytes: Buffer, waitMs = 1_000, enough: (got: string) => boolean = () => false): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let got = '';
    const end = (): void => {
      s.destroy();
      resolve(got);
    };
    const timer = setTimeout(end, waitMs);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (enough(got)) end();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

const encode = (args: readonly string[]): Buffer => Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.flatMap((a) => [Buffer.from(`$${Buffer.byteLength(a)}\r\n${a}\r\n`)])]);

describe('hostile clients, compared with redis-server', () => {
  it('unauthenticated limits, and AUTH pipelined with a large value', async () => {
    const cases = [
      Buffer.from('*11\r\n'),
      Buffer.from('*2\r\n$16385\r\n'),
      Buffer.concat([encode(['GET', 'k'])]),
      Buffer.concat([encode(['AUTH', PASSWORD]), encode(['SET', 'big', 'v'.repeat(200_000)]), encode(['STRLEN', 'big'])]),
      Buffer.concat([encode(['AUTH', 'wrong']), encode(['SET', 'big', 'v'.repeat(20_000)])]),
    ];
    for (const c of cases) {
      const [r, a] = await Promise.all([exchange(redisPort, c), exchange(atoll!.port, c)]);
      expect(a, c.subarray(0, 30).toString()).toBe(r);
    }
  }, 30_000);

  it('silent connections count against maxclients; freed, the port serves again', async () => {
    const hold = async (port: number, n: number): Promise<net.Socket[]> => {
      const out: net.Socket[] = [];
      for (let i = 0; i < n; i++) {
        const s = net.connect({ host: '127.0.0.1', port });
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        out.push(s);
      }
      return out;
    };
    for (const port of [redisPort, atoll!.port]) {
      const silent = await hold(port, MAXCLIENTS);
      await new Promise((r) => setTimeout(r, 200));
      expect(await exchange(port, encode(['PING'])), `port ${port}`).toBe('-ERR max number of clients reached\r\n');
      for (const s of silent) s.destroy();
      await until('a free slot', async () => ((await exchange(port, encode(['AUTH', PASSWORD]), 500)) === '+OK\r\n' ? true : undefined), 5_000);
    }
  }, 30_000);

  it('a cluster node (whose port also takes peers) bounds silent connections the same way', async () => {
    const coordinator = new MemoryCoordinator(systemClock);
    await coordinator.createCluster({ clusterId: 'hostile', partitions: 4, replicas: 1, initialNodes: 1, createdMs: 0, ack: 'quorum', uncleanPromotion: false, replaceAfterMs: 0 });
    const node = await startClusterNode({ id: 'h1', host: '127.0.0.1', port: 0, adminPort: 0, zone: 'z', weight: 1, coordinator, engine: () => new MemoryEngine({ clock: systemClock }), clock: systemClock, mode: 'redirect', config: { maxclients: 10 } });
    const silent: net.Socket[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const s = net.connect({ host: '127.0.0.1', port: node.server.port });
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        silent.push(s);
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(await exchange(node.server.port, encode(['PING']))).toBe('-ERR max number of clients reached\r\n');
      for (const s of silent) s.destroy();
      await until('a free slot', async () => ((await exchange(node.server.port, encode(['PING']), 500, (g) => g.length > 0)) === '+PONG\r\n' ? true : undefined), 5_000);
    } finally {
      for (const s of silent) s.destroy();
      await node.close();
      await coordinator.close();
    }
  }, 30_000);

  it('slow-loris clients dribbling partial commands do not delay the others', async () => {
    const dribblers: net.Socket[] = [];
    const wire = Buffer.concat([encode(['AUTH', PASSWORD]), encode(['SET', 'slow', 'x'.repeat(2_000)])]);
    let stop = false;
    for (let i = 0; i < 20; i++) {
      const s = net.connect({ host: '127.0.0.1', port: atoll!.port });
      s.on('error', () => undefined);
      dribblers.push(s);
      let at = 0;
      const drip = (): void => {
        if (stop || at >= wire.length || s.destroyed) return;
        s.write(wire.subarray(at, at + 3));
        at += 3;
        setTimeout(drip, 20);
      };
      s.once('connect', drip);
    }
    try {
      const started = Date.now();
      const worst: number[] = [];
      while (Date.now() - started < 1_500) {
        const t = Date.now();
        expect(await exchange(atoll!.port, Buffer.concat([encode(['AUTH', PASSWORD]), encode(['PING'])]), 2_000, (got) => got.includes('+PONG'))).toBe('+OK\r\n+PONG\r\n');
        worst.push(Date.now() - t);
      }
      expect(worst.length).toBeGreaterThan(5);
      expect(Math.max(...worst)).toBeLessThan(500);
    } finally {
      stop = true;
      for (const s of dribblers) s.destroy();
    }
  }, 30_000);
});
