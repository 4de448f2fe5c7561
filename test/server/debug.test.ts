// DEBUG SLEEP: refused as Redis refuses it unless enable-debug-command allows it; when allowed it stalls the
// whole server (the fault tests use it to freeze a node's event loop). The refusal is compared with redis-server.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { RespErrorReply, respOnce } from '../../src/client/resp-client.js';
import { freePort } from '../../src/coordinator/etcd-process.js';
import { startNode, type RunningNode } from '../helpers-process.js';

const started: RunningNode[] = [];
let redis: ChildProcess | undefined;
afterAll(async () => {
  for (const n of started) await n.stop();
  redis?.kill('SIGKILL');
});

async function redisReply(args: string[]): Promise<unknown> {
  const port = await freePort();
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const r = await respOnce('127.0.0.1', port, args).catch(() => undefined);
    if (r !== undefined) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('redis-server did not start');
}

describe('DEBUG SLEEP', () => {
  it('is refused by default with the words redis-server uses', async () => {
    const node = await startNode(['--log-level', 'warn']);
    started.push(node);
    const ours = await respOnce('127.0.0.1', node.port, ['DEBUG', 'SLEEP', '0']);
    const theirs = await redisReply(['DEBUG', 'SLEEP', '0']);
    expect(ours).toBeInstanceOf(RespErrorReply);
    expect((ours as RespErrorReply).message).toMatch(/^ERR DEBUG command not allowed/);
    expect(ours).toEqual(theirs);
  });

  it('stalls the whole server for the time asked when enabled for local clients', async () => {
    const node = await startNode(['--log-level', 'warn', '--enable-debug-command', 'local']);
    started.push(node);
    const t0 = Date.now();
    const sleeping = respOnce('127.0.0.1', node.port, ['DEBUG', 'SLEEP', '0.3']);
    await new Promise((r) => setTimeout(r, 50));
    // A PING sent while the server sleeps is answered only after it wakes.
    const pong = await respOnce('127.0.0.1', node.port, ['PING']);
    expect(String(pong)).toBe('PONG');
    expect(String(await sleeping)).toBe('OK');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(((await respOnce('127.0.0.1', node.port, ['DEBUG', 'SLEEP', '-1'])) as RespErrorReply).message).toMatch(/DEBUG SLEEP takes/);
  });
});
