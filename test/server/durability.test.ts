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


const keysOf = (w: number): [string, string, string, string, string] => ['l', 's', 'h', 'z', 'x'].map((t) => `${t}:w${w}`) as [string, string, string, string, string];

/** 300 elements in each of a writer's collections, acknowledged before the first kill. */
async function prefill(c: Redis, w: number, note: (key: string, el: string) => void): Promise<void> {
  const [l, s, h, z, x] = keysOf(w);
  const els = Array.from({ length: 300 }, (_, i) => String(i + 1));
  await c.rpush(l, ...els);
  await c.sadd(s, ...els);
  await c.hset(h, ...els.flatMap((e) => [e, 'v']));
  await c.zadd(z, ...els.flatMap((e) => [e, e]));
  const p = c.pipeline();
  for (const e of els) p.xadd(x, `${e}-1`, 'f', e);
  await p.exec();
  for (const key of [l, s, h, z]) for (const e of els) note(key, e);
  for (const e of els) note(x, `${e}-1`);
}

describe('durability of collections under kill -9 (every-write)', () => {
  const nodeArgs = ['--engine', 'lmdb', '--durability', 'every-write', '--data-dir', join(dataDir, 'collections'), '--no-admin'];
  // The collections outlive the rounds and start at 300 elements, so they are kept as chunk records
  // (src/storage/lmdb-chunks.ts) and each write rewrites a chunk or two while the process may die.
  it('loses no acknowledged element of a list, set, hash, sorted set or stream', async () => {
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
      if (round === 0) await Promise.all(clients.map((c, w) => prefill(c, w, note)));
      const loops = clients.map(async (c, w) => {
        const [l, s, h, z, x] = keysOf(w);
        for (let i = 0; !stop && i < 100_000; i++) {
          const el = String((round + 1) * 1_000_000 + i);
          try {
            const kind = i % 5;
            if (kind === 0 && (await c.rpush(l, el)) > 0) note(l, el);
            if (kind === 1 && (await c.sadd(s, el)) === 1) note(s, el);
            if (kind === 2 && (await c.hset(h, el, 'v')) === 1) note(h, el);
            if (kind === 3 && (await c.zadd(z, i, el)) === 1) note(z, el);
            if (kind === 4 && (await c.xadd(x, `${el}-1`, 'f', el)) === `${el}-1`) note(x, `${el}-1`);
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
      // Each element was written once: a list or stream holding one twice was put together wrongly on reopen.
      const listed = key.startsWith('l:') ? await reader.lrange(key, 0, -1) : key.startsWith('x:') ? (await reader.xrange(key, '-', '+')).map(([id]) => id) : [];
      if (new Set(listed).size !== listed.length) lost.push(`${key}: duplicates`);
      const present = new Set(
        key.startsWith('l:')
          ? await reader.lrange(key, 0, -1)
          : key.startsWith('s:')
            ? await reader.smembers(key)
            : key.startsWith('h:')
              ? await reader.hkeys(key)
              : key.startsWith('z:')
                ? await reader.zrange(key, '0', '-1')
                : (await reader.xrange(key, '-', '+')).map(([id]) => id),
      );
      for (const el of els) if (!present.has(el)) lost.push(`${key}/${el}`);
    }
    reader.disconnect();
    const total = [...acked.values()].reduce((n, l) => n + l.length, 0);
    console.log(`durability collections: ${total} acknowledged elements in ${acked.size} collections after 8 kill -9, seed ${seed}, ${lost.length} lost`);
    expect(await node.stop()).toBe(0);
    expect(total).toBeGreaterThan(4 * 5 * 300);
    expect(lost, `seed ${seed}: acknowledged elements lost`).toEqual([]);
  }, 180_000);
});
