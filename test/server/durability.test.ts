// Durability of the LMDB engine under every-write: kill -9 a node at random moments during a write load,
// restart it on the same data directory, and check that every acknowledged write is there.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { seededRandom } from '../../src/partitioning/prng.js';
import { startNode } from '../helpers-process.js';

const ROUNDS = 20;
const WRITERS = 8;
const dataDir = mkdtempSync(join(tmpdir(), 'atoll-durability-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));


function client(port: number): Redis {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  c.on('error', () => undefined); // resets after kill -9 are expected; the writes in flight are unknown outcomes
  return c;
}

// batched and none flush later, but a process crash (unlike a power failure) still loses nothing they
// acknowledged: each commit is in the OS page cache before its replies leave. Both are checked too.
describe.each([
  ['every-write', ROUNDS],
  ['batched', 8],
  ['none', 4],
] as const)('durability %s under kill -9', (durability, rounds) => {
  const nodeArgs = ['--engine', 'lmdb', '--durability', durability, '--data-dir', join(dataDir, durability), '--no-admin'];
  it(`loses no acknowledged write across ${rounds} kill -9 at random points`, async () => {
    const seed = Number(process.env.ATOLL_SEED ?? Date.now() % 1_000_000);
    const random = seededRandom(seed);
    const acked = new Map<string, string>();
    let totalAcked = 0;
    for (let round = 0; round < rounds; round++) {
      const node = await startNode(nodeArgs);
      const clients = Array.from({ length: WRITERS }, () => client(node.port));
      await Promise.all(clients.map((c) => c.connect()));
      let stop = false;
      const loops = clients.map(async (c, w) => {
        for (let i = 0; !stop && i < 100_000; i++) {
          const key = `r${round}:w${w}:${i}`;
          const value = `${seed}:${round}:${w}:${i}`;
          try {
            const reply = i % 5 === 4 ? await c.hset(`h:${key}`, 'f', value) : await c.set(key, value);
            if (reply === 'OK' || reply === 1) acked.set(i % 5 === 4 ? `h:${key}` : key, value);
          } catch {
            return; // connection gone: the outcome of this write is unknown, so it is not counted
          }
        }
      });
      await new Promise((r) => setTimeout(r, 40 + random.nextInt(300)));
      process.kill(node.pid, 'SIGKILL');
      stop = true;
      await node.stop('SIGKILL');
      await Promise.all(loops);
      clients.forEach((c) => c.disconnect());
      totalAcked = acked.size;
    }
    // Restart once more and read back everything ever acknowledged.
    const node = await startNode(nodeArgs);
    const reader = client(node.port);
    await reader.connect();
    const missing: string[] = [];
    const keys = [...acked.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const pipe = reader.pipeline();
      for (const k of chunk) {
        if (k.startsWith('h:')) pipe.hget(k, 'f');
        else pipe.get(k);
      }
      const res = (await pipe.exec()) ?? [];
      res.forEach(([err, v], j) => {
        if (err !== null || v !== acked.get(chunk[j]!)) missing.push(chunk[j]!);
      });
    }
    reader.disconnect();
    console.log(`durability ${durability}: ${acked.size} acknowledged writes checked after ${rounds} kill -9, seed ${seed}, ${missing.length} missing`);
    expect(await node.stop()).toBe(0);
    expect(totalAcked, 'the load must have written something').toBeGreaterThan(rounds * 10);
    expect(missing, `seed ${seed}: acknowledged writes lost`).toEqual([]);
  }, 180_000);
});

describe('durability of collections under kill -9 (every-write)', () => {
  const nodeArgs = ['--engine', 'lmdb', '--durability', 'every-write', '--data-dir', join(dataDir, 'collections'), '--no-admin'];
  it('loses no acknowledged element of a list, set, sorted set or stream', async () => {
    const seed = Number(process.env.ATOLL_SEED ?? Date.now() % 1_000_000);
    const random = seededRandom(seed);
    /** key -> elements acknowledged, in order. */
    const acked = new Map<string, string[]>();
    const note = (key: string, el: string): void => void (acked.get(key) ?? acked.set(key, []).get(key)!).push(el);
    for (let round = 0; round < 8; round++) {
      const node = await startNode(nodeArgs);
      const clients = Array.from({ length: 4 }, () => client(node.port));
      await Promise.all(clients.map((c) => c.connect()));
      let stop = false;
      const loops = clients.map(async (c, w) => {
        const [l, s, z, x] = ['l', 's', 'z', 'x'].map((t) => `${t}:r${round}:w${w}`) as [string, string, string, string];
        for (let i = 0; !stop && i < 100_000; i++) {
          try {
            const kind = i % 4;
            if (kind === 0 && (await c.rpush(l, String(i))) > 0) note(l, String(i));
            if (kind === 1 && (await c.sadd(s, String(i))) === 1) note(s, String(i));
            if (kind === 2 && (await c.zadd(z, i, String(i))) === 1) note(z, String(i));
            if (kind === 3 && (await c.xadd(x, `${i}-1`, 'f', String(i))) === `${i}-1`) note(x, `${i}-1`);
          } catch {
            return; // the connection went with the process: this write's outcome is unknown
          }
        }
      });
      await new Promise((r) => setTimeout(r, 60 + random.nextInt(300)));
      process.kill(node.pid, 'SIGKILL');
      stop = true;
      await node.stop('SIGKILL');
      await Promise.all(loops);
      clients.forEach((c) => c.disconnect());
    }
    const node = await startNode(nodeArgs);
    const reader = client(node.port);
    await reader.connect();
    const lost: string[] = [];
    for (const [key, els] of acked) {
      const present = new Set(
        key.startsWith('l:') ? await reader.lrange(key, 0, -1) : key.startsWith('s:') ? await reader.smembers(key) : key.startsWith('z:') ? await reader.zrange(key, '0', '-1') : (await reader.xrange(key, '-', '+')).map(([id]) => id),
      );
      for (const el of els) if (!present.has(el)) lost.push(`${key}/${el}`);
    }
    reader.disconnect();
    const total = [...acked.values()].reduce((n, l) => n + l.length, 0);
    console.log(`durability collections: ${total} acknowledged elements in ${acked.size} collections after 8 kill -9, seed ${seed}, ${lost.length} lost`);
    expect(await node.stop()).toBe(0);
    expect(total).toBeGreaterThan(100);
    expect(lost, `seed ${seed}: acknowledged elements lost`).toEqual([]);
  }, 180_000);
});
