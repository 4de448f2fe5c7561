// Differential testing against Debian's redis-server: one redis-server and two Atoll nodes (memory and LMDB
// engines) receive the same commands; replies are compared after normalising (errors as text, set-valued
// replies sorted, since Redis's order is its hash table's).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { RespClient, RespErrorReply, respOnce, type RespValue } from '../src/client/resp-client.js';
import { freePort } from '../src/coordinator/etcd-process.js';
import { startNode, type RunningNode } from './helpers-process.js';

/** Commands whose reply is a set: compared sorted. */
const UNORDERED = new Set(['smembers', 'sinter', 'sunion', 'sdiff']);

export function norm(v: RespValue, unordered: boolean): unknown {
  if (v instanceof RespErrorReply) return `ERR: ${v.message}`;
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (Array.isArray(v)) {
    const items = v.map((x) => norm(x, false));
    return unordered ? items.map((x) => JSON.stringify(x)).sort() : items;
  }
  return v;
}

export interface Trio {
  readonly clients: Map<string, RespClient>;
  /** The three normalized replies to `args`. */
  all(args: string[]): Promise<Record<string, unknown>>;
  /** Asserts both Atoll nodes reply to `args` as redis-server does. */
  same(args: string[]): Promise<void>;
  /** Restarts the LMDB node on its data directory (what it holds must survive). */
  restartLmdb(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTrio(): Promise<Trio> {
  const redisPort = await freePort();
  const redis: ChildProcess = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && (await respOnce('127.0.0.1', redisPort, ['PING']).catch(() => undefined)) === undefined; i++) await new Promise((r) => setTimeout(r, 50));
  const dir = mkdtempSync(join(tmpdir(), 'atoll-diff-'));
  const lmdbArgs = ['--no-admin', '--engine', 'lmdb', '--data-dir', join(dir, 'lmdb.v1')];
  const nodes: RunningNode[] = [await startNode(['--no-admin']), await startNode(lmdbArgs)];
  const clients = new Map<string, RespClient>([
    ['redis', await RespClient.connect('127.0.0.1', redisPort)],
    ['memory', await RespClient.connect('127.0.0.1', nodes[0]!.port)],
    ['lmdb', await RespClient.connect('127.0.0.1', nodes[1]!.port)],
  ]);
  const all = async (args: string[]): Promise<Record<string, unknown>> => {
    const unordered = UNORDERED.has(args[0]!.toLowerCase());
    const out: Record<string, unknown> = {};
    for (const [name, c] of clients) out[name] = norm(await c.send(args), unordered);
    return out;
  };
  return {
    clients,
    all,
    async same(args) {
      const r = await all(args);
      expect({ args, memory: r.memory, lmdb: r.lmdb }).toEqual({ args, memory: r.redis, lmdb: r.redis });
    },
    async restartLmdb() {
      clients.get('lmdb')!.close();
      await nodes[1]!.stop();
      nodes[1] = await startNode(lmdbArgs);
      clients.set('lmdb', await RespClient.connect('127.0.0.1', nodes[1].port));
    },
    async stop() {
      for (const c of clients.values()) c.close();
      for (const n of nodes) await n.stop();
      redis.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a trio before the file's tests and stops it after; the getter returns it once started. */
export function useTrio(): () => Trio {
  let trio: Trio | undefined;
  beforeAll(async () => void (trio = await startTrio()), 30_000);
  afterAll(() => trio?.stop());
  return () => trio!;
}
