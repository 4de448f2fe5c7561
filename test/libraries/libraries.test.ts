// Real libraries, unchanged, against `atoll dev` (etcd and three node processes at the defaults): a BullMQ
// queue whose worker processes every job (the queue name hash-tagged, as BullMQ documents for Redis Cluster),
// with delayed jobs, retries and the queue's event stream; ioredis pub/sub across nodes; Socket.IO servers on
// different nodes sharing rooms through @socket.io/redis-adapter (broadcasts, fetchSockets, serverSideEmit);
// and rate-limiter-flexible's Redis limiter (its Lua script through a cluster client).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketServer } from 'socket.io';
import { io as ioClient } from 'socket.io-client';
import { createAdapter } from '@socket.io/redis-adapter';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATOLL_BIN } from '../helpers-process.js';
import { until } from '../helpers-cluster.js';
import { freeBasePort } from '../../src/coordinator/etcd-process.js';

let dev: ChildProcess | undefined;
let dir = '';
let ports: number[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atoll-libs-'));
  const base = await freeBasePort(3);
  dev = spawn(process.execPath, [ATOLL_BIN, 'dev', '--json', '--nodes', '3', '--base-port', String(base), '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  dev.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  dev.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const contract = await until('atoll dev contract line', () => {
    const line = out.split('\n').find((l) => l.startsWith('{"coordinator"'));
    return line === undefined ? undefined : (JSON.parse(line) as { nodes: { port: number }[] });
  }, 90_000, 100);
  ports = contract.nodes.map((n) => n.port);
}, 120_000);

afterAll(async () => {
  for (const c of made) c.disconnect();
  if (dev !== undefined && dev.exitCode === null) {
    const exited = new Promise((r) => dev!.once('exit', r));
    dev.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Cluster clients made here, closed before `atoll dev` stops (libraries leave the connections given them open). */
const made: Cluster[] = [];
const cluster = (): Cluster => {
  const c = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), { redisOptions: { maxRetriesPerRequest: null } });
  made.push(c);
  return c;
};

describe('libraries against atoll dev', () => {
  it('BullMQ: a worker processes every job, delayed jobs wait, failed jobs retry, events are streamed', async () => {
    const connection = cluster();
    const queue = new Queue('{jobs}', { connection });
    const events = new QueueEvents('{jobs}', { connection: cluster() });
    await events.waitUntilReady();
    const completedEvents: string[] = [];
    events.on('completed', ({ jobId }) => completedEvents.push(jobId));
    const attempts = new Map<string, number>();
    const results = new Map<string, number>();
    const worker = new Worker(
      '{jobs}',
      async (job) => {
        const n = (attempts.get(job.id!) ?? 0) + 1;
        attempts.set(job.id!, n);
        if (job.data.flaky === true && n === 1) throw new Error('first attempt fails');
        return (job.data.n as number) * 2;
      },
      { connection: cluster(), concurrency: 4 },
    );
    worker.on('completed', (job, r: number) => results.set(job.id!, r));
    const added = [];
    for (let i = 0; i < 40; i++) added.push(await queue.add('double', { n: i, flaky: i % 10 === 0 }, { attempts: 2, backoff: { type: 'fixed', delay: 50 } }));
    const delayed = await queue.add('later', { n: 1000 }, { delay: 800 });
    const t0 = Date.now();
    await until('every job completed', () => (results.size === 41 ? true : undefined), 30_000, 100);
    expect(results.get(delayed.id!)).toBe(2000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
    for (const job of added) expect(results.get(job.id!)).toBe((job.data.n as number) * 2);
    expect([...attempts.entries()].filter(([, n]) => n === 2).length).toBe(4);
    const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'delayed', 'active');
    expect(counts).toEqual({ completed: 41, failed: 0, waiting: 0, delayed: 0, active: 0 });
    await until('completed events', () => (completedEvents.length >= 41 ? true : undefined), 10_000, 100);
    await worker.close();
    await events.close();
    await queue.close();
    connection.disconnect();
  }, 90_000);

  it('ioredis pub/sub: a message published on any node reaches subscribers on every node', async () => {
    const got = new Map<number, string[]>();
    const subs = await Promise.all(
      ports.map(async (port) => {
        const r = new Redis({ port });
        got.set(port, []);
        r.on('message', (_ch: string, m: string) => got.get(port)!.push(m));
        await r.subscribe('fanout');
        return r;
      }),
    );
    for (const port of ports) {
      const p = new Redis({ port });
      await p.publish('fanout', `from-${port}`);
      p.disconnect();
    }
    await until('fan-out', () => ([...got.values()].every((l) => l.length === ports.length) ? true : undefined), 10_000);
    for (const l of got.values()) expect([...l].sort()).toEqual(ports.map((p) => `from-${p}`).sort());
    for (const s of subs) s.disconnect();
  }, 30_000);

  it('Socket.IO with @socket.io/redis-adapter: two servers share broadcasts, rooms and fetchSockets', async () => {
    const servers: { io: SocketServer; http: HttpServer; port: number; redis: Cluster[] }[] = [];
    for (const nodePort of ports.slice(0, 2)) {
      // Cluster clients, as the adapter documents for Redis Cluster: it sums PUBSUB NUMSUB over the nodes to
      // count servers (PUBSUB is per node, as in Redis Cluster; PUBLISH reaches every node).
      const pub = new Cluster([{ host: '127.0.0.1', port: nodePort }]);
      const sub = pub.duplicate();
      const http = createServer();
      const io = new SocketServer(http, { adapter: createAdapter(pub, sub, { requestsTimeout: 3_000 }) });
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
      servers.push({ io, http, port: (http.address() as AddressInfo).port, redis: [pub, sub] });
    }
    const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
    a.io.on('connection', (socket) => void socket.join('room-1'));
    b.io.on('connection', (socket) => void socket.join('room-2'));
    const clients = [ioClient(`http://127.0.0.1:${a.port}`, { transports: ['websocket'] }), ioClient(`http://127.0.0.1:${b.port}`, { transports: ['websocket'] })];
    const received: string[][] = [[], []];
    clients.forEach((c, i) => c.on('news', (m: string) => received[i]!.push(m)));
    await Promise.all(clients.map((c) => new Promise<void>((r) => c.on('connect', () => r()))));
    await new Promise((r) => setTimeout(r, 200)); // the adapters' subscriptions are in place
    a.io.emit('news', 'to-all-from-a'); // reaches the client on server b through the nodes' pub/sub
    b.io.to('room-1').emit('news', 'to-room-1-from-b'); // only the client on server a is in room-1
    await until('broadcasts delivered', () => (received[0]!.length === 2 && received[1]!.length === 1 ? true : undefined), 10_000);
    expect(received).toEqual([['to-all-from-a', 'to-room-1-from-b'], ['to-all-from-a']]);
    // Requests across servers (PUBSUB NUMSUB counts the servers, replies come back on their own channels).
    const sockets = await a.io.fetchSockets();
    expect(sockets.map((s) => [...s.rooms].filter((r) => r.startsWith('room-'))).sort()).toEqual([['room-1'], ['room-2']]);
    b.io.on('ping', (reply: (r: string) => void) => reply('pong-b'));
    expect(await a.io.serverSideEmitWithAck('ping')).toEqual(['pong-b']);
    for (const c of clients) c.disconnect();
    for (const s of servers) {
      s.io.close();
      for (const r of s.redis) r.disconnect();
    }
  }, 30_000);

  it('rate-limiter-flexible: RateLimiterRedis through a cluster client allows the points, then refuses', async () => {
    const storeClient = cluster();
    const limiter = new RateLimiterRedis({ storeClient, keyPrefix: 'rl', points: 5, duration: 10 });
    for (let i = 1; i <= 5; i++) expect((await limiter.consume('user-1')).remainingPoints).toBe(5 - i);
    const refused = (await limiter.consume('user-1').catch((e: unknown) => e)) as RateLimiterRes;
    expect(refused).toBeInstanceOf(RateLimiterRes);
    expect(refused.remainingPoints).toBe(0);
    expect(refused.msBeforeNext).toBeGreaterThan(8_000);
    expect((await limiter.consume('user-2')).remainingPoints).toBe(4); // another key, another slot
    await limiter.delete('user-1');
    expect((await limiter.consume('user-1')).remainingPoints).toBe(4);
    storeClient.disconnect();
  }, 30_000);
});
