// Node-to-node frames (byte layout pinned) and peer connections: multiplexing, timeouts, bounded in-flight
// requests, typed failures, and reconnecting after the peer restarts.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FRAME_KIND, FrameDecoder, PEER_MAGIC, encodeFrame } from '../../src/transport/frames.js';
import { PeerClient, servePeer } from '../../src/transport/peer.js';
import { AtollError } from '../../src/errors.js';

describe('frames', () => {
  it('encodes a forwarded GET to these exact bytes', () => {
    // The command travels as the RESP request a client would send: *2 $3 GET $1 k.
    const frame = encodeFrame({ kind: FRAME_KIND.request, id: 7, body: { op: 'cmds', n: 1, data: Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n'), resp: 2 } });
    expect(frame.toString('hex')).toBe('00000032' + '930107de0004a26f70a4636d6473a16e01a464617461c4142a320d0a24330d0a4745540d0a24310d0a6b0d0aa47265737002');
    expect(PEER_MAGIC.toString('hex')).toBe('0041544c01');
  });

  it('decodes any split of a stream of frames into the same frames, with byte strings as Buffers', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.uint8Array({ maxLength: 300 })), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }), (items, cuts) => {
        const stream = Buffer.concat(items.map(([id, bytes]) => encodeFrame({ kind: FRAME_KIND.reply, id, body: { b: Buffer.from(bytes) } })));
        const d = new FrameDecoder();
        const got: { id: number; body: unknown }[] = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const step = cuts[i % cuts.length]!;
          got.push(...d.feed(stream.subarray(at, at + step)));
          at += step;
        }
        expect(got.map((f) => f.id)).toEqual(items.map(([id]) => id));
        got.forEach((f, i) => {
          const b = (f.body as { b: Buffer }).b;
          expect(Buffer.isBuffer(b)).toBe(true);
          expect(b.equals(Buffer.from(items[i]![1]))).toBe(true);
        });
      }),
    );
  });

  it('refuses frames over the size limit on both sides', () => {
    expect(() => encodeFrame({ kind: FRAME_KIND.request, id: 1, body: Buffer.alloc(100) }, 50)).toThrow(AtollError);
    const d = new FrameDecoder(50);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1000);
    expect(() => d.feed(header)).toThrowError(/limit is 50/);
  });

  it('refuses a frame that is not [kind, id, body]', () => {
    const d = new FrameDecoder();
    const bad = Buffer.from([0, 0, 0, 1, 0xc0]); // msgpack nil
    expect(() => d.feed(bad)).toThrow(AtollError);
  });
});

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function peerServer(handle: (body: unknown) => unknown, port = 0): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      expect(first.subarray(0, PEER_MAGIC.length).equals(PEER_MAGIC)).toBe(true);
      servePeer(socket, first.subarray(PEER_MAGIC.length), handle);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { server, port: (server.address() as net.AddressInfo).port, sockets };
}

describe('peer connections', () => {
  it('multiplexes requests answered out of order', async () => {
    const { port } = await peerServer((body) => {
      const n = (body as { n: number }).n;
      return new Promise((resolve) => setTimeout(() => resolve({ n: n * 2 }), (10 - n) * 5));
    });
    const c = new PeerClient('127.0.0.1', port);
    const replies = await Promise.all(Array.from({ length: 10 }, (_, n) => c.request({ n })));
    expect(replies).toEqual(Array.from({ length: 10 }, (_, n) => ({ n: n * 2 })));
    c.close();
  });

  it('keeps the code of a typed failure and times out a silent peer', async () => {
    const { port } = await peerServer((body) => {
      if ((body as { op: string }).op === 'fail') throw new AtollError('UNKNOWN_NODE', 'no such node');
      return new Promise(() => undefined);
    });
    const c = new PeerClient('127.0.0.1', port, { requestTimeoutMs: 100 });
    await expect(c.request({ op: 'fail' })).rejects.toMatchObject({ code: 'UNKNOWN_NODE', message: 'no such node' });
    await expect(c.request({ op: 'hang' })).rejects.toMatchObject({ code: 'PEER_TIMEOUT' });
    expect(c.inflight).toBe(0);
    c.close();
  });

  it('bounds requests in flight', async () => {
    const { port } = await peerServer(() => new Promise(() => undefined));
    const c = new PeerClient('127.0.0.1', port, { inflightMax: 3, requestTimeoutMs: 200 });
    const pending = [c.request(1), c.request(2), c.request(3)];
    await expect(c.request(4)).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    await Promise.allSettled(pending);
    c.close();
  });

  it('fails fast while the peer is down and reconnects once it is back', async () => {
    const first = await peerServer(() => ({ ok: 1 }));
    const port = first.port;
    const c = new PeerClient('127.0.0.1', port);
    expect(await c.request({})).toEqual({ ok: 1 });
    // Stop the peer: in-flight and new requests fail with PEER_UNAVAILABLE instead of hanging.
    await new Promise<void>((resolve) => {
      first.server.close(() => resolve());
      for (const s of first.sockets) s.destroy();
    });
    await expect(c.request({})).rejects.toMatchObject({ code: 'PEER_UNAVAILABLE' });
    await peerServer(() => ({ ok: 2 }), port);
    let reply: unknown;
    for (let i = 0; i < 50 && reply === undefined; i++) {
      reply = await c.request({}).catch(() => undefined);
      if (reply === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(reply).toEqual({ ok: 2 });
    c.close();
  });
});
