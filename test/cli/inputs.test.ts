// Bad input to this session's entry points gets a clear error naming what is wrong, never a crash:
// node config fields (alerts, admin token), cluster settings (--ack, --replace-after-ms), and malformed
// replication, verification and forwarded-command peer requests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterMetaFromFlags } from '../../src/cli/cluster.js';
import { resolveNodeConfig } from '../../src/cli/start.js';
import { ReplicationManager } from '../../src/replication/replicator.js';
import { createVerifier } from '../../src/server/verify.js';
import { systemClock } from '../../src/storage/engine.js';
import { MemoryEngine } from '../../src/storage/memory.js';
import { servePeerRequest } from '../../src/server/cluster.js';
import { startNodeServer } from '../../src/server/server.js';
import { runAtoll } from '../helpers-cluster.js';
import { expectCode } from '../helpers.js';

describe('configuration and flags', () => {
  it('alert thresholds and admin tokens are validated, naming the field', () => {
    expect(() => resolveNodeConfig({ adminToken: 'short' })).toThrow(/adminToken: admin tokens are at least 16 characters/);
    expect(resolveNodeConfig({ adminToken: 'a-long-enough-token' }).adminToken).toBe('a-long-enough-token');
    const dir = mkdtempSync(join(tmpdir(), 'atoll-config-'));
    try {
      const file = join(dir, 'node.json');
      writeFileSync(file, JSON.stringify({ alerts: { hotKeyShareMin: 2 } }));
      expect(() => resolveNodeConfig({ config: file })).toThrow(/alerts\.hotKeyShareMin/);
      writeFileSync(file, JSON.stringify({ alerts: { imbalanceMaxx: 0.2 } }));
      expect(() => resolveNodeConfig({ config: file })).toThrow(/imbalanceMaxx/);
      writeFileSync(file, JSON.stringify({ alerts: { imbalanceMax: 0.2 } }));
      expect(resolveNodeConfig({ config: file }).alerts).toMatchObject({ imbalanceMax: 0.2, hotKeyShareMin: 0.1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cluster settings refuse an unknown ack mode and a negative replace delay', () => {
    expectCode(() => clusterMetaFromFlags({ ack: 'eventually' }, 0), 'USAGE');
    expectCode(() => clusterMetaFromFlags({ replaceAfterMs: '-5' }, 0), 'USAGE');
    expect(clusterMetaFromFlags({ ack: 'sync', replaceAfterMs: '0' }, 0)).toMatchObject({ ack: 'sync', replaceAfterMs: 0 });
  });

  it('atoll cluster create --ack bogus exits 2 with the reason', async () => {
    const r = await runAtoll(['cluster', 'create', '--coordinator', 'etcd://127.0.0.1:1', '--ack', 'bogus']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--ack must be async, quorum, sync; got "bogus"');
  });
});

/** A replication manager over 4 partitions with no peers, timers or map updates: it only answers requests. */
function peerlessManager(selfId: string, engine: MemoryEngine, ack: 'quorum' | 'sync', nowMs: () => number): ReplicationManager {
  return new ReplicationManager({
    selfId,
    engine,
    partitions: 4,
    ackMode: () => ack,
    nowMs,
    newTerm: () => 't',
    peer: () => undefined,
    schedule: () => undefined,
    every: () => () => undefined,
    updateMap: async () => false,
    refresh: () => undefined,
    leaseValid: () => true,
  });
}

describe('replication peer requests', () => {
  const engine = new MemoryEngine({ clock: systemClock });
  const manager = peerlessManager('a', engine, 'quorum', () => 0);

  it('malformed requests are refused with BAD_ARGUMENT and change nothing', () => {
    expectCode(() => manager.handleRepl({ parts: 'x' }), 'BAD_ARGUMENT');
    expectCode(() => manager.handleRepl({ parts: [{ p: 99, epoch: 1, kind: 'probe' }] }), 'BAD_ARGUMENT');
    expectCode(() => manager.handleRepl({ parts: [{ p: 0, epoch: 1, kind: 'explode' }] }), 'BAD_ARGUMENT');
    expect(manager.handleRepl({ parts: [{ p: 0, epoch: 1, kind: 'probe' }] })).toEqual({ results: [{ pos: { term: '', seq: 0 } }] });
  });

  it('older epochs are refused after a fence', () => {
    expect(manager.fence(1, 5).epoch).toBe(5);
    expect(manager.handleRepl({ parts: [{ p: 1, epoch: 4, kind: 'probe' }] })).toEqual({ results: [{ stale: 5 }] });
  });
});

describe('verification peer requests', () => {
  const engine = new MemoryEngine({ clock: systemClock });
  engine.put('k', { type: 'string', value: Buffer.from('v') }, 0);
  const replication = peerlessManager('n2', engine, 'sync', () => Date.now());
  const verifier = createVerifier({
    selfId: 'n2',
    engine,
    partitions: 4,
    replication,
    currentMap: () => undefined,
    isLive: () => true,
    hold: () => () => undefined,
    peer: () => {
      throw new Error('no peers here');
    },
    nowMs: () => Date.now(),
    sleep: async () => undefined,
  });

  it('malformed digest, repair and verify requests are refused with clear errors and change nothing', async () => {
    expectCode(() => verifier.digest({}), 'BAD_ARGUMENT');
    expectCode(() => verifier.digest({ partition: 9, seq: 0, refMs: 0 }), 'BAD_ARGUMENT');
    expectCode(() => verifier.digest({ partition: 0, seq: 'x', refMs: 0 }), 'BAD_ARGUMENT');
    expectCode(() => verifier.repair({ partition: 0, seq: 0, refMs: 0, buckets: 'all', entries: [] }), 'BAD_ARGUMENT');
    expectCode(() => verifier.repair({ partition: 0, seq: 0, refMs: 0, buckets: [0], entries: [['not a key entry']] }), 'BAD_ARGUMENT');
    // A repair at another sequence number than ours changes nothing and only tells where we stand.
    expect(verifier.repair({ partition: 0, seq: 7, refMs: 0, buckets: [0], entries: [] })).toEqual({ seq: 0 });
    await expect(verifier.verify([0], true)).rejects.toMatchObject({ code: 'UNKNOWN_PARTITION' });
    expect(engine.get('k')?.type).toBe('string');
  });
});

describe('forwarded command requests', () => {
  it('answer RESP requests with their replies back to back; malformed ones get BAD_ARGUMENT and run nothing', async () => {
    const engine = new MemoryEngine({ clock: systemClock });
    const server = await startNodeServer({ engine, clock: systemClock, host: '127.0.0.1', port: 0 });
    const serve = (body: unknown) => servePeerRequest(body, (cmds, v) => server.runForPeer(cmds, v));
    try {
      const data = Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nNOPE\r\n');
      const ok = (await serve({ op: 'cmds', n: 3, data, resp: 2 })) as { data: Buffer; lengths: number[] };
      expect(ok.lengths).toEqual([5, 8, ok.data.length - 13]);
      expect(ok.data.toString('latin1')).toMatch(/^\+OK\r\n\$2\r\nv1\r\n-ERR unknown command 'NOPE'/);
      const before = engine.size();
      expectCode(() => serve({ op: 'cmds', n: 1, data: 'SET k v', resp: 2 }), 'BAD_ARGUMENT');
      expectCode(() => serve({ op: 'cmds', n: 0, data, resp: 2 }), 'BAD_ARGUMENT');
      expectCode(() => serve({ op: 'cmds', n: 2, data, resp: 2 }), 'BAD_ARGUMENT');
      expectCode(() => serve({ op: 'cmds', n: 1, data: Buffer.from('*2\r\n$3\r\nDEL\r\n$1\r\n'), resp: 2 }), 'BAD_ARGUMENT');
      expectCode(() => serve({ op: 'cmds', n: 1, data: Buffer.from('*1\r\n!3\r\nDEL\r\n'), resp: 2 }), 'BAD_ARGUMENT');
      expect(engine.size()).toBe(before);
      expect(engine.get('k')).toEqual({ type: 'string', value: Buffer.from('v1') });
    } finally {
      await server.close();
    }
  });
});
