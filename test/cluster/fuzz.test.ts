// Hostile input at every door, for a bounded time: a cluster node (with a cluster secret) is fed random and
// mutated node-to-node frames over authenticated peer connections and over unauthenticated ones, and random and
// mutated RESP on its client port; it must answer or close each connection, never crash, and keep its memory
// bounded; afterwards it still serves clients. A node started with an unreadable or empty --cluster-secret-file
// refuses to start, saying why.
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ClientHandshake, PEER_MAGIC_AUTH, peerKey } from '../../src/transport/handshake.js';
import { FRAME_KIND, encodeFrame } from '../../src/transport/frames.js';
import { encodeCommand } from '../../src/client/resp-client.js';
import { seededRandom } from '../../src/partitioning/prng.js';
import type { RunningNode } from '../helpers-process.js';
import { runAtoll, startClusterNodeProcess, startTestEtcd, untilClusterOk, type TestEtcd } from '../helpers-cluster.js';

const SECRET = 'fuzz-secret-0123456789abcdef';
const FUZZ_MS = Number(process.env.ATOLL_FUZZ_MS ?? 8_000);
let etcd: TestEtcd;
let node: RunningNode;
let dir = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atoll-fuzz-'));
  etcd = await startTestEtcd();
  expect((await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '1', '--partitions', '16'])).code).toBe(0);
  writeFileSync(join(dir, 'secret'), SECRET);
  node = await startClusterNodeProcess(etcd.url, 'z1', ['--cluster-secret-file', join(dir, 'secret')]);
  await untilClusterOk([node.port]);
}, 60_000);

afterAll(async () => {
  await node?.stop();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const rssKb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
};

/** Opens a peer connection and completes the handshake; resolves with the socket (or undefined if refused). */
function authenticatedPeer(port: number): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const hs = new ClientHandshake(peerKey(SECRET));
    s.on('error', () => resolve(undefined));
    s.on('connect', () => s.write(PEER_MAGIC_AUTH));
    const onData = (d: Buffer): void => {
      const step = hs.feed(d);
      if (step.kind === 'send') s.write(step.bytes);
      else if (step.kind === 'done') {
        s.off('data', onData);
        resolve(s);
      } else if (step.kind === 'refused') resolve(undefined);
    };
    s.on('data', onData);
  });
}

/** A random frame body: real ops with random fields, or junk. */
function randomFrame(r: ReturnType<typeof seededRandom>): Buffer {
  const ops = ['cmds', 'repl', 'publish', 'map', 'load', 'drop', 'handoff', 'verify', 'digest', 'repair', 'fence', 'transfer', 'partition-stats', 'nope'];
  const junk = (): unknown => [r.nextInt(1000), 'x'.repeat(r.nextInt(50)), Buffer.alloc(r.nextInt(64), r.nextInt(256)), null, { a: r.nextInt(9) }, -1][r.nextInt(6)];
  const body: Record<string, unknown> = { op: ops[r.nextInt(ops.length)] };
  for (const f of ['n', 'data', 'resp', 'partition', 'items', 'map', 'entries', 'seq', 'to', 'epoch']) if (r.nextInt(2) === 0) body[f] = junk();
  const frame = encodeFrame({ kind: [FRAME_KIND.request, FRAME_KIND.reply, FRAME_KIND.failure][r.nextInt(3)]!, id: r.nextInt(100), body });
  // Sometimes mutate bytes, truncate, or claim a huge length.
  const roll = r.nextInt(10);
  if (roll === 0) frame[4 + r.nextInt(Math.max(1, frame.length - 4))] = r.nextInt(256);
  if (roll === 1) return frame.subarray(0, r.nextInt(frame.length));
  if (roll === 2) frame.writeUInt32BE(0xfffffff0, 0);
  return frame;
}

function randomResp(r: ReturnType<typeof seededRandom>): Buffer {
  const cmds = [['SET', 'k', 'v'], ['GET', 'k'], ['ZADD', 'z', '1', 'm'], ['XADD', 's', '*', 'f', 'v'], ['EVAL', 'return 1', '0'], ['MULTI'], ['EXEC'], ['SUBSCRIBE', 'c'], ['ACL', 'SETUSER', 'u', 'on'], ['BLPOP', 'q', '0.01']];
  const b = Buffer.from(encodeCommand(cmds[r.nextInt(cmds.length)]!));
  const roll = r.nextInt(6);
  if (roll === 0) b[r.nextInt(b.length)] = r.nextInt(256);
  if (roll === 1) return Buffer.from(Array.from({ length: r.nextInt(200) }, () => r.nextInt(256)));
  if (roll === 2) return Buffer.from(`*${r.nextInt(5)}\r\n$${r.nextInt(2 ** 31)}\r\n`);
  if (roll === 3) return Buffer.from('*1\r\n'.repeat(r.nextInt(500)));
  return b;
}

describe('fuzzing a node for a bounded time', () => {
  it('survives random and mutated peer frames (authenticated and not) and RESP, with bounded memory', async () => {
    const seed = Number(process.env.ATOLL_SEED ?? Date.now() % 1_000_000);
    const r = seededRandom(seed);
    const before = rssKb(node.pid);
    const deadline = Date.now() + FUZZ_MS;
    let peers = 0;
    let frames = 0;
    let resp = 0;
    while (Date.now() < deadline) {
      const mode = r.nextInt(3);
      const s = mode === 0 ? await authenticatedPeer(node.port) : net.connect(node.port, '127.0.0.1');
      if (s === undefined) continue;
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      if (mode === 0) peers++;
      if (mode === 1) s.write(Buffer.concat([PEER_MAGIC_AUTH, Buffer.from(Array.from({ length: r.nextInt(80) }, () => r.nextInt(256)))]));
      for (let i = 0; i < 20; i++) {
        if (s.destroyed) break;
        if (mode === 2) {
          s.write(randomResp(r));
          resp++;
        } else {
          s.write(randomFrame(r));
          frames++;
        }
      }
      await new Promise((res) => setTimeout(res, 5));
      s.destroy();
    }
    expect(node.child.exitCode, `seed ${seed}: the node exited`).toBeNull();
    const client = new Redis({ port: node.port });
    expect(await client.ping()).toBe('PONG');
    expect(await client.set('after-fuzz', 'ok')).toBe('OK');
    client.disconnect();
    const grownMb = (rssKb(node.pid) - before) / 1024;
    console.log(`fuzz: seed ${seed}, ${peers} authenticated peer connections, ${frames} frames, ${resp} RESP requests, RSS grew ${grownMb.toFixed(1)} MB`);
    expect(grownMb, `seed ${seed}`).toBeLessThan(300);
  }, 60_000);

  it('an unreadable or empty --cluster-secret-file stops the start with the reason', async () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    const missing = await runAtoll(['start', '--port', '0', '--cluster', '--coordinator', etcd.url, '--id', 'z9', '--cluster-secret-file', join(dir, 'nope')], 30_000);
    expect(missing.code).not.toBe(0);
    expect(missing.err + missing.out).toMatch(/nope/);
    const blank = await runAtoll(['start', '--port', '0', '--cluster', '--coordinator', etcd.url, '--id', 'z9', '--cluster-secret-file', empty], 30_000);
    expect(blank.code).not.toBe(0);
    expect(blank.err + blank.out).toMatch(/secret/i);
  }, 60_000);
});
