// Writes to large collections on the LMDB engine: RPUSH, SADD, HSET, ZADD (a new element each) and XADD
// (MAXLEN ~ size) on a collection of 1,000 to 100,000 elements, one client, 2 s per point, on
// `atoll start --engine lmdb --durability batched` with chunked records (now), the same with
// ATOLL_LMDB_CHUNKS=off (each collection one record, rewritten whole per write: the previous Atoll), and
// redis-server with appendonly everysec (its nearest durability). `npm run bench -- lmdb-collections [--quick]`
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { formatTable, progress, writeResults } from './lib.js';
import { startAtoll, startRedis, type Target } from './server.js';

type Kind = 'list' | 'set' | 'hash' | 'zset' | 'stream';
const KINDS: readonly Kind[] = ['list', 'set', 'hash', 'zset', 'stream'];
/** Elements per filling command (one command each, so the whole-record anchor encodes once per thousand). */
const FILL_BATCH = 1_000;

function write(r: Redis, kind: Kind, i: number, size: number): Promise<unknown> {
  if (kind === 'list') return r.rpush('l', `y${i}`);
  if (kind === 'set') return r.sadd('s', `n${i}`);
  if (kind === 'hash') return r.hset('h', `n${i}`, 'v');
  if (kind === 'zset') return r.zadd('z', i, `n${i}`);
  return r.xadd('x', 'MAXLEN', '~', String(Math.max(size, 100)), '*', 'f', 'v');
}

async function fill(r: Redis, kind: Kind, size: number): Promise<void> {
  await r.del('l', 's', 'h', 'z', 'x');
  for (let done = 0; done < size; done += FILL_BATCH) {
    const ids = Array.from({ length: Math.min(FILL_BATCH, size - done) }, (_, i) => `x${done + i}`);
    if (kind === 'list') await r.rpush('l', ...ids);
    else if (kind === 'set') await r.sadd('s', ...ids);
    else if (kind === 'hash') await r.hset('h', ...ids.flatMap((id) => [id, 'v']));
    else if (kind === 'zset') await r.zadd('z', ...ids.flatMap((id, i) => [String(done + i), id]));
    else {
      // XADD takes one entry: a pipeline of them (one client batch; the anchor encodes per entry).
      const p = r.pipeline();
      for (const id of ids) p.xadd('x', '*', 'f', id);
      await p.exec();
    }
  }
}

async function measure(t: Target, kind: Kind, size: number, seconds: number): Promise<number> {
  const r = new Redis({ port: t.port });
  await fill(r, kind, size);
  const t0 = Date.now();
  let n = 0;
  while (Date.now() - t0 < seconds * 1_000) await write(r, kind, n++, size);
  const rate = n / ((Date.now() - t0) / 1_000);
  r.disconnect();
  return rate;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const sizes = quick ? [1_000, 10_000] : [1_000, 10_000, 100_000];
  const dir = mkdtempSync(join(tmpdir(), 'atoll-bench-lmdbc-'));
  const results: Record<string, Record<string, number>> = {};
  const targets: [string, () => Promise<Target>][] = [
    ['chunks', () => startAtoll(['--engine', 'lmdb', '--durability', 'batched', '--data-dir', join(dir, 'chunks')])],
    ['whole', () => startAtoll(['--engine', 'lmdb', '--durability', 'batched', '--data-dir', join(dir, 'whole')], { ATOLL_LMDB_CHUNKS: 'off' })],
    ['redis', () => startRedis(['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir])],
  ];
  try {
    for (const [name, start] of targets) {
      const t = await start();
      try {
        await measure(t, 'list', 1_000, 1); // warm-up (JIT), not reported
        for (const kind of KINDS) {
          for (const size of sizes) {
            // Filling a 100,000-entry stream entry by entry under whole records takes hours: not measured.
            if (name === 'whole' && kind === 'stream' && size > 10_000) continue;
            progress(`${name}: ${kind} of ${size}`);
            (results[`${kind} ${size}`] ??= {})[name] = await measure(t, kind, size, 2);
          }
        }
      } finally {
        t.child.kill('SIGKILL');
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cell = (x: number | undefined): number | string => (x === undefined ? '-' : Math.round(x));
  const ratio = (a: number | undefined, b: number | undefined): number | string => (a === undefined || b === undefined ? '-' : a / b);
  const rows = Object.entries(results).map(([name, r]) => [name, cell(r.whole), cell(r.chunks), cell(r.redis), ratio(r.chunks, r.whole), ratio(r.chunks, r.redis)]);
  process.stdout.write(
    `\nOne write (a new element) to a collection of the given size, one client, LMDB batched durability vs redis-server appendfsync everysec\n${formatTable(['collection', 'whole records ops/s', 'chunks ops/s', 'redis ops/s', 'chunks/whole', 'chunks/redis'], rows)}\n`,
  );
  process.stdout.write(`\nwrote ${writeResults('lmdb-collections', { sizes, results })}\n`);
}
