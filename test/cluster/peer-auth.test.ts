// Node-to-node authentication: the handshake (pure: right keys agree, a wrong key is refused on either side,
// random and mutated bytes never crash it), PeerClient against acceptPeer over real sockets, and real node
// processes: a raw socket that sends the peer magic and a forwarded SET to a node with a cluster secret, or
// with only requirepass, changes nothing and is closed; a node with the wrong secret cannot forward.
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { ClientHandshake, nodePeerKey, PEER_AUTH, PEER_MAGIC_AUTH, peerKey, ServerHandshake } from '../../src/transport/handshake.js';
import { FRAME_KIND, PEER_MAGIC, encodeFrame } from '../../src/transport/frames.js';
import { acceptPeer, PeerClient } from '../../src/transport/peer.js';
import { respOnce } from '../../src/client/resp-client.js';
import type { RunningNode } from '../helpers-process.js';
import { runAtoll, startClusterNodeProcess, startTestEtcd, until, untilClusterOk, type TestEtcd } from '../helpers-cluster.js';

/** Runs a client and a server handshake against each other; the outcome on each side. */
function meet(clientKey: Buffer, serverKey: Buffer): { client: string; server: string } {
  const server = new ServerHandshake(serverKey);
  const client = new ClientHandshake(clientKey);
  let c = client.feed(server.challenge());
  if (c.kind !== 'send') return { client: c.kind, server: 'waiting' };
  const s = server.feed(c.bytes);
  if (s.kind !== 'done') return { client: 'waiting', server: s.kind };
  c = client.feed(s.send!);
  return { client: c.kind, server: s.kind };
}

describe('peer handshake', () => {
  const a = peerKey('correct horse battery staple');
  const b = peerKey('another secret entirely!');
  it('agrees when both hold the key, and refuses a client or a server without it', () => {
    expect(meet(a, a)).toEqual({ client: 'done', server: 'done' });
    expect(meet(b, a)).toEqual({ client: 'waiting', server: 'refused' });
    // A server that does not hold the key cannot prove it: the client refuses its answer.
    const server = new ServerHandshake(b);
    const client = new ClientHandshake(a);
    const answer = client.feed(server.challenge());
    expect(answer.kind).toBe('send');
    const forged = new ServerHandshake(b).feed((answer as { bytes: Buffer }).bytes);
    expect(forged.kind).toBe('refused');
    expect(client.feed(Buffer.alloc(PEER_AUTH.macBytes, 7)).kind).toBe('refused');
  });

  it('keys come from the secret, else from requirepass, else none', () => {
    expect(nodePeerKey('s'.repeat(20), 'pw')).toEqual(peerKey('s'.repeat(20)));
    expect(nodePeerKey(undefined, 'pw')).toEqual(peerKey('requirepass:pw'));
    expect(nodePeerKey(undefined, '')).toBeUndefined();
  });

  it('random or mutated client bytes never throw and are refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.integer({ min: 1, max: 80 }), (bytes, cut) => {
        const s = new ServerHandshake(a);
        const buf = Buffer.from(bytes);
        const first = s.feed(buf.subarray(0, cut));
        const step = first.kind === 'more' ? s.feed(buf.subarray(cut)) : first;
        expect(step.kind).toBe(buf.length >= PEER_AUTH.nonceBytes + PEER_AUTH.macBytes ? 'refused' : 'more');
      }),
    );
  });
});

describe('PeerClient against acceptPeer', () => {
  const serve = async (key: Buffer | undefined): Promise<{ port: number; refused: string[]; close(): void }> => {
    const refused: string[] = [];
    const server = net.createServer((socket) => socket.once('data', (first: Buffer) => acceptPeer(socket, first, { key }, (body) => ({ echo: body }), (why) => refused.push(why))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as net.AddressInfo).port, refused, close: () => server.close() };
  };

  it('serves a client with the key; refuses one with another key, without one, or an unauthenticated server', async () => {
    const key = peerKey('the cluster secret 123');
    const s = await serve(key);
    const ok = new PeerClient('127.0.0.1', s.port, { key });
    expect(await ok.request({ x: 1 })).toEqual({ echo: { x: 1 } });
    const wrong = new PeerClient('127.0.0.1', s.port, { key: peerKey('not the cluster secret') });
    await expect(wrong.request({ x: 2 })).rejects.toThrow(/cluster secret differs/);
    const none = new PeerClient('127.0.0.1', s.port);
    await expect(none.request({ x: 3 })).rejects.toThrow(/lost|closed/);
    expect(s.refused).toEqual(['the peer does not hold the cluster secret', 'an unauthenticated peer connection (this node requires the cluster secret)']);
    const open = await serve(undefined);
    await expect(new PeerClient('127.0.0.1', open.port, { key }).request({ x: 4 })).rejects.toThrow(/cluster secret differs/);
    for (const c of [ok, wrong, none]) c.close();
    s.close();
    open.close();
  });
});

/** Opens a raw socket, sends `bytes`, and resolves with what came back once the node closed it (or after 3 s). */
function rawExchange(port: number, bytes: Buffer): Promise<{ closed: boolean; received: Buffer }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, received: Buffer.concat(chunks) });
    }, 3_000);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received: Buffer.concat(chunks) });
    });
  });
}

/** A forwarded `SET key value`, as a peer would send it. */
const forwardedSet = (key: string): Buffer => {
  const resp = Buffer.from(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$6\r\nhacked\r\n`);
  return encodeFrame({ kind: FRAME_KIND.request, id: 1, body: { op: 'cmds', n: 1, data: resp, resp: 2 } });
};

describe('node processes with a cluster secret', () => {
  let etcd: TestEtcd;
  const nodes: RunningNode[] = [];
  const withSecret = async (secret: string | undefined, f: () => Promise<RunningNode>): Promise<RunningNode> => {
    const before = process.env.ATOLL_CLUSTER_SECRET;
    if (secret === undefined) delete process.env.ATOLL_CLUSTER_SECRET;
    else process.env.ATOLL_CLUSTER_SECRET = secret;
    try {
      const n = await f();
      nodes.push(n);
      return n;
    } finally {
      if (before === undefined) delete process.env.ATOLL_CLUSTER_SECRET;
      else process.env.ATOLL_CLUSTER_SECRET = before;
    }
  };
  afterAll(async () => {
    for (const n of nodes) await n.stop('SIGKILL');
    await etcd?.stop();
  });

  it('serves its cluster, refuses raw peer frames and a node with the wrong secret', async () => {
    etcd = await startTestEtcd();
    expect((await runAtoll(['cluster', 'create', '--coordinator', etcd.url, '--nodes', '2', '--partitions', '16'])).code).toBe(0);
    const secret = 'a cluster secret of some length';
    const n1 = await withSecret(secret, () => startClusterNodeProcess(etcd.url, 'n1', ['--forward']));
    const n2 = await withSecret(secret, () => startClusterNodeProcess(etcd.url, 'n2', ['--forward']));
    await untilClusterOk([n1.port, n2.port]);
    // Forwarding between the two nodes works: every key through n1.
    const c = new Redis({ port: n1.port, lazyConnect: true });
    await c.connect();
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    for (const k of keys) expect(await c.set(k, 'v')).toBe('OK');
    for (const k of keys) expect(await c.get(k)).toBe('v');
    // A raw socket with the plain peer magic and a forwarded SET: closed, nothing written, counted.
    for (const n of [n1, n2]) {
      const r = await rawExchange(n.port, Buffer.concat([PEER_MAGIC, forwardedSet('k1')]));
      expect(r).toEqual({ closed: true, received: Buffer.alloc(0) });
      // The authenticated magic with a made-up proof: a challenge comes back, then the socket is closed.
      const forged = await rawExchange(n.port, Buffer.concat([PEER_MAGIC_AUTH, Buffer.alloc(64, 1), forwardedSet('k2')]));
      expect(forged.closed).toBe(true);
      expect(forged.received.length).toBe(PEER_AUTH.nonceBytes);
    }
    expect(await c.get('k1')).toBe('v');
    expect(await c.get('k2')).toBe('v');
    const info = String(await respOnce('127.0.0.1', n1.port, ['INFO', 'stats']));
    expect(info).toMatch(/atoll_peer_connections_refused:2\r\n/);
    // A node with the wrong secret joins the registry but cannot forward to the others.
    const n3 = await withSecret('the wrong cluster secret!!', () => startClusterNodeProcess(etcd.url, 'n3', ['--forward']));
    const bad = new Redis({ port: n3.port, lazyConnect: true, maxRetriesPerRequest: 0 });
    await bad.connect();
    await expect(bad.set('wrong-secret-key', 'x')).rejects.toThrow(/cluster secret differs/);
    expect(await c.get('wrong-secret-key')).toBeNull();
    c.disconnect();
    bad.disconnect();
  }, 60_000);

  it('a cluster node with only requirepass closes raw peer connections too', async () => {
    const e2 = await startTestEtcd();
    try {
      expect((await runAtoll(['cluster', 'create', '--coordinator', e2.url, '--nodes', '1', '--partitions', '4'])).code).toBe(0);
      const n = await withSecret(undefined, () => startClusterNodeProcess(e2.url, 'solo', ['--requirepass', 'pw']));
      const r = await rawExchange(n.port, Buffer.concat([PEER_MAGIC, forwardedSet('x')]));
      expect(r).toEqual({ closed: true, received: Buffer.alloc(0) });
      const c = new Redis({ port: n.port, password: 'pw', lazyConnect: true });
      await c.connect();
      // The node serves once its one-node map is placed.
      await until('the map', async () => ((await c.get('x').catch(() => 'down')) === null ? true : undefined));
      expect(await c.get('x')).toBeNull();
      c.disconnect();
    } finally {
      await e2.stop();
    }
  }, 60_000);

  it('refuses to start a cluster node on a non-loopback address without a secret, unless --insecure', async () => {
    const r = await runAtoll(['start', '--cluster', '--coordinator', 'etcd://127.0.0.1:1', '--id', 'x', '--host', '0.0.0.0', '--port', '0'], 20_000);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/needs a cluster secret: --cluster-secret-file <file> or ATOLL_CLUSTER_SECRET; --insecure runs without one/);
  }, 30_000);
});
