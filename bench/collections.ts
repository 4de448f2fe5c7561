// Replicated writes to large collections: RPUSH to a list and XADD (MAXLEN ~) to a stream of 0, 1,000, 10,000
// and 50,000 elements, on a two-node cluster (etcd, the default 2048 partitions, 2 replicas, clients on one
// --forward node), replicated as deltas (now) and as whole values (ATOLL_REPLICATION_DELTAS=off, the previous
// behaviour), one client, 2 s per point. `npm run bench -- collections [--quick]`
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { formatTable, progress, startForwardPair, writeResults } from './lib.js';

function cluster(dir: string, deltas: boolean): Promise<{ port: number; stop(): Promise<void> }> {
  return startForwardPair(dir, { env: { ATOLL_REPLICATION_DELTAS: deltas ? 'on' : 'off' } });
}

async function measure(port: number, kind: 'list' | 'stream', size: number, seconds: number): Promise<number> {
  const r = new Redis({ port });
  await r.del('{c}l', '{c}s');
  for (let done = 0; done < size; done += 1_000) {
    const p = r.pipeline();
    for (let i = done; i < Math.min(size, done + 1_000); i++) {
      if (kind === 'list') p.rpush('{c}l', `x${i}`);
      else p.xadd('{c}s', '*', 'f', `v${i}`);
    }
    await p.exec();
  }
  await new Promise((res) => setTimeout(res, 500 + size / 25)); // the followers catch up before timing
  const t0 = Date.now();
  let n = 0;
  while (Date.now() - t0 < seconds * 1_000) {
    await (kind === 'list' ? r.rpush('{c}l', 'y') : r.xadd('{c}s', 'MAXLEN', '~', String(Math.max(size, 100)), '*', 'f', 'v'));
    n++;
  }
  r.disconnect();
  return n / ((Date.now() - t0) / 1_000);
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const sizes = quick ? [0, 1_000, 10_000] : [0, 1_000, 10_000, 50_000];
  const dir = mkdtempSync(join(tmpdir(), 'atoll-bench-coll-'));
  const results: Record<string, Record<string, number>> = {};
  try {
    for (const deltas of [true, false]) {
      const c = await cluster(dir, deltas);
      try {
        await measure(c.port, 'list', 0, 1); // warm-up (JIT), not reported
        for (const kind of ['list', 'stream'] as const) {
          for (const size of sizes) {
            progress(`${deltas ? 'deltas' : 'whole values'}: ${kind} of ${size}`);
            // Whole values at 50,000 elements run at about one write per second: fewer seconds there.
            (results[`${kind} ${size}`] ??= {})[deltas ? 'delta' : 'whole'] = await measure(c.port, kind, size, !deltas && size >= 50_000 ? 4 : 2);
          }
        }
      } finally {
        await c.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = Object.entries(results).map(([name, r]) => [name, Math.round(r.whole ?? 0), Math.round(r.delta ?? 0), (r.delta ?? 0) / Math.max(r.whole ?? 0, 0.001)] as (string | number)[]);
  process.stdout.write(`\nReplicated RPUSH / XADD (MAXLEN ~ size) on a collection of the given size, one client, 2 nodes, 2 replicas\n${formatTable(['collection', 'whole values ops/s', 'deltas ops/s', 'deltas/whole'], rows)}\n`);
  process.stdout.write(`\nwrote ${writeResults('collections', { sizes, results })}\n`);
}
