// Node-to-node TLS (--tls-cluster yes, mutual TLS with a cluster CA): PeerClient against acceptPeer over real
// sockets (the cluster CA's certificates are served; a certificate from another CA, a plain peer, or a TLS
// peer to a node without tls-cluster are refused), and real node processes whose peer traffic passes through
// capturing proxies (--cluster-announce-port): with tls-cluster, no key or value crosses the wire in the clear;
// without it (the control), they do. The router reaches tls-cluster nodes with the same certificates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/coordinator/etcd-process.js';
import { FaultProxy } from '../../src/testing/fault-proxy.js';
import { peerKey } from '../../src/transport/handshake.js';
import { acceptPeer, PeerClient } from '../../src/transport/peer.js';
import { peerTlsFromFiles, type PeerTls } from '../../src/transport/peer-tls.js';
import { ATOLL_BIN, type RunningNode } from '../helpers-process.js';
import { runAtoll, startClusterNodeProcess, startTestEtcd, until, untilClusterOk } from '../helpers-cluster.js';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

let dir = '';
const f = (name: string): string => join(dir, name);
const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });

/** A CA named `ca`, and a certificate `name` it signs (EC P-256: quick to make). */
function makeCa(ca: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${ca}.key`), '-out', f(`${ca}.crt`), '-days', '2', '-subj', `/CN=${ca}`]);
}
function issue(ca: string, name: string): void {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.crt`), '-CAkey', f(`${ca}.key`), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f('san.ext')]);
}
const tlsOf = (name: string, ca = 'cluster-ca'): PeerTls => peerTlsFromFiles({ certFile: f(`${name}.crt`), keyFile: f(`${name}.key`), caFile: f(`${ca}.crt`) });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'atoll-peer-tls-'));
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1');
  makeCa('cluster-ca');
  makeCa('rogue-ca');
  issue('cluster-ca', 'node-a');
  issue('cluster-ca', 'node-b');
  issue('rogue-ca', 'intruder');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PeerClient against acceptPeer with tls-cluster', () => {
  const serve = async (guard: { key?: Buffer; tls?: PeerTls }): Promise<{ port: number; refused: string[]; close(): void }> => {
    const refused: string[] = [];
    const server = net.createServer((socket) => socket.once('data', (first: Buffer) => acceptPeer(socket, first, guard, (body) => ({ echo: body }), (why) => refused.push(why))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as net.AddressInfo).port, refused, close: () => server.close() };
  };

  it('serves a peer with a cluster-CA certificate (and the secret inside TLS); refuses the others', async () => {
    const key = peerKey('a secret for the tls tests');
    const s = await serve({ key, tls: tlsOf('node-a') });
    const ok = new PeerClient('127.0.0.1', s.port, { key, tls: tlsOf('node-b') });
    expect(await ok.request({ x: 1 })).toEqual({ echo: { x: 1 } });
    expect(await ok.request({ x: 2 })).toEqual({ echo: { x: 2 } });
    const plain = new PeerClient('127.0.0.1', s.port, { key });
    await expect(plain.request({ x: 3 })).rejects.toThrow(/lost|closed/);
    const rogue = new PeerClient('127.0.0.1', s.port, { key, tls: tlsOf('intruder', 'rogue-ca') });
    await expect(rogue.request({ x: 4 })).rejects.toThrow(/before TLS was set up/);
    // Right certificate, wrong secret: TLS is not enough.
    const wrongKey = new PeerClient('127.0.0.1', s.port, { key: peerKey('some other cluster secret'), tls: tlsOf('node-b') });
    await expect(wrongKey.request({ x: 5 })).rejects.toThrow(/cluster secret differs/);
    await until('refusals counted', () => (s.refused.length >= 3 ? true : undefined), 5_000);
    expect(s.refused[0]).toBe('a peer connection without TLS (this node uses tls-cluster)');
    expect(s.refused[1]).toMatch(/TLS peer/);
    expect(s.refused[2]).toBe('the peer does not hold the cluster secret');
    const noTls = await serve({ key });
    await expect(new PeerClient('127.0.0.1', noTls.port, { key, tls: tlsOf('node-b') }).request({ x: 6 })).rejects.toThrow(/before TLS was set up/);
    expect(noTls.refused).toEqual(['a TLS peer connection, but this node does not use tls-cluster']);
    for (const c of [ok, plain, rogue, wrongKey]) c.close();
    s.close();
    noTls.close();
  });
});

interface Captured {
  nodes: RunningNode[];
  wire: Buffer;
}

const marker = 'plaintext-marker-4711';
const tlsArgs = (name: string): string[] => ['--tls-cluster', 'yes', '--tls-cert-file', f(`${name}.crt`), '--tls-key-file', f(`${name}.key`), '--tls-ca-cert-file', f('cluster-ca.crt')];
/** Clients over TLS too (the client port's certificate checks with the same CA; no client certificates). */
const clientTlsArgs = ['--tls-port', '0', '--tls-auth-clients', 'no'];
const tlsPortOf = (n: RunningNode): number => Number(/tls [\d.]+:(\d+)/.exec(n.output())![1]);

/**
 * Two replicated nodes whose peer traffic goes through capturing proxies (each announces its proxy's port);
 * 60 keys written through node a's own port (it forwards what node b leads, and both replicate). Returns the
 * bytes the proxies saw. `check` runs against the live cluster before it is stopped.
 */
async function captureCluster(withTls: boolean, check: (url: string, nodes: RunningNode[]) => Promise<void> = async () => undefined, extra: string[] = []): Promise<Captured> {
  const etcd = await startTestEtcd();
  const nodes: RunningNode[] = [];
  const proxies: FaultProxy[] = [];
  const chunks: Buffer[] = [];
  const before = process.env.ATOLL_CLUSTER_SECRET;
  process.env.ATOLL_CLUSTER_SECRET = 'the peer tls test secret';
  try {
    expect((await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '2', '--replicas', '2', '--partitions', '16'])).code).toBe(0);
    for (const name of ['node-a', 'node-b']) {
      const port = await freePort();
      const proxy = await FaultProxy.start(port);
      proxy.onChunk = (_dir, chunk) => chunks.push(Buffer.from(chunk));
      proxies.push(proxy);
      nodes.push(await startClusterNodeProcess(etcd.url, name, ['--forward', '--port', String(port), '--cluster-announce-port', String(proxy.port), ...(withTls ? tlsArgs(name) : []), ...extra]));
    }
    await untilClusterOk(nodes.map((n) => n.port));
    const c = new Redis({ port: nodes[0]!.port, lazyConnect: true });
    await c.connect();
    for (let i = 0; i < 60; i++) expect(await c.set(`${marker}-key-${i}`, `${marker}-value-${i}`)).toBe('OK');
    for (let i = 0; i < 60; i++) expect(await c.get(`${marker}-key-${i}`)).toBe(`${marker}-value-${i}`);
    c.disconnect();
    await check(etcd.url, nodes);
    return { nodes, wire: Buffer.concat(chunks) };
  } finally {
    if (before === undefined) delete process.env.ATOLL_CLUSTER_SECRET;
    else process.env.ATOLL_CLUSTER_SECRET = before;
    for (const n of nodes) await n.stop('SIGKILL');
    for (const p of proxies) await p.close();
    await etcd.stop();
  }
}

/** `atoll router` with the given flags, until it prints its port; stopped by the caller. */
async function startRouterProcess(args: string[]): Promise<{ port: number; stop(): void }> {
  const child = spawn(process.execPath, [ATOLL_BIN, 'router', '--port', '0', '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const port = await until('the router to listen', () => {
    const m = /router listening on [\d.]+:(\d+)/.exec(out);
    return m === null ? undefined : Number(m[1]);
  });
  return { port, stop: () => void child.kill('SIGKILL') };
}

describe('node processes with --tls-cluster yes', () => {
  it('peer traffic captured on the wire holds no key or value; the router reaches the nodes over TLS', async () => {
    const { wire } = await captureCluster(true, async (url) => {
      const router = await startRouterProcess(['--coordinator', url, ...tlsArgs('node-a')]);
      try {
        const r = new Redis({ port: router.port, lazyConnect: true });
        await r.connect();
        await until('the router to route', async () => ((await r.get(`${marker}-key-7`).catch(() => undefined)) === `${marker}-value-7` ? true : undefined));
        expect(await r.set('through-router', 'yes')).toBe('OK');
        r.disconnect();
      } finally {
        router.stop();
      }
    });
    // Forwarded commands and replication crossed the proxies (a few KB at least), all of it TLS records.
    expect(wire.length).toBeGreaterThan(4_000);
    expect(wire.includes(Buffer.from(marker))).toBe(false);
    expect(wire.includes(Buffer.from([0x17, 0x03, 0x03]))).toBe(true); // TLS 1.2+ application data records
  }, 90_000);

  it('clients over TLS: ioredis Cluster and redis-cli -c --tls are told TLS ports; plain clients plain ones', async () => {
    await captureCluster(
      true,
      async (_url, nodes) => {
        const [a, b] = nodes as [RunningNode, RunningNode];
        const tls = { ca: readFileSync(f('cluster-ca.crt')) };
        const plain = new Redis({ port: a.port });
        const plainSlots = (await plain.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        plain.disconnect();
        expect(plainSlots.flatMap((s) => s.slice(2).map((n) => (n as [string, number])[1]))).not.toContain(tlsPortOf(a));
        const direct = new Redis({ host: '127.0.0.1', port: tlsPortOf(a), tls });
        const slots = (await direct.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        expect(new Set(slots.flatMap((s) => s.slice(2).map((n) => (n as [string, number])[1])))).toEqual(new Set([tlsPortOf(a), tlsPortOf(b)]));
        direct.disconnect();
        const cluster = new Redis.Cluster([{ host: '127.0.0.1', port: tlsPortOf(b) }], { redisOptions: { tls }, slotsRefreshTimeout: 5_000 });
        for (let i = 0; i < 40; i++) expect(await cluster.set(`tls-client-${i}`, `v${i}`)).toBe('OK');
        for (let i = 0; i < 40; i++) expect(await cluster.get(`tls-client-${i}`)).toBe(`v${i}`);
        cluster.disconnect();
        // redis-cli -c --tls: every key answered from either node's TLS port (run without blocking this
        // process: the proxies between the nodes live in it).
        for (const n of [a, b]) {
          for (let i = 0; i < 40; i += 7) {
            const { stdout } = await execFileAsync('redis-cli', ['--tls', '--cacert', f('cluster-ca.crt'), '-c', '-p', String(tlsPortOf(n)), 'GET', `tls-client-${i}`], { encoding: 'utf8' });
            expect(stdout.trim()).toBe(`v${i}`);
          }
        }
      },
      clientTlsArgs,
    );
  }, 90_000);

  it('the control: without tls-cluster the same traffic shows keys and values', async () => {
    const { wire } = await captureCluster(false);
    expect(wire.includes(Buffer.from(`${marker}-value-`))).toBe(true);
  }, 90_000);
});
