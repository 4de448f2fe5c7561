// Node-to-node authentication: before any frame is served, both ends of a peer connection prove they hold
// the cluster secret with a mutual challenge-response over fresh nonces (HMAC-SHA256, keys derived from the
// secret with a fixed label, compared in constant time). The secret never crosses the wire. Pure functions
// plus two small byte-stream state machines; sockets stay in peer.ts and server.ts.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const PEER_AUTH = Object.freeze({
  nonceBytes: 32,
  macBytes: 32,
  /** A connection that has not finished the handshake within this is closed. */
  handshakeTimeoutMs: 2_000,
});

/** Magic of an authenticated peer connection (version 2); version 1 (no handshake) is PEER_MAGIC in frames.ts. */
export const PEER_MAGIC_AUTH = Buffer.from([0x00, 0x41, 0x54, 0x4c, 0x02]);

/** The key both ends use, derived from the secret (so the secret itself is never used as a MAC key). */
export function peerKey(secret: string | Buffer): Buffer {
  return createHmac('sha256', secret).update('atoll cluster peer authentication v1').digest();
}

/**
 * The key a node without a cluster secret but with `requirepass` uses: its peer port is then closed to
 * anyone who does not know the password. No secret and no password: no key (loopback-only clusters).
 */
export function nodePeerKey(clusterSecret: string | undefined, requirepass: string): Buffer | undefined {
  if (clusterSecret !== undefined && clusterSecret !== '') return peerKey(clusterSecret);
  if (requirepass !== '') return peerKey(`requirepass:${requirepass}`);
  return undefined;
}

const mac = (key: Buffer, role: 'C' | 'S', a: Buffer, b: Buffer): Buffer => createHmac('sha256', key).update(role).update(a).update(b).digest();

function sameMac(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The outcome of feeding bytes to a handshake: more needed, bytes to send, done (with leftover bytes), or refused. */
export type HandshakeStep = { readonly kind: 'more' } | { readonly kind: 'send'; readonly bytes: Buffer } | { readonly kind: 'done'; readonly rest: Buffer; readonly send?: Buffer } | { readonly kind: 'refused'; readonly why: string };

/**
 * Server side, after the magic: sends a challenge, expects the client's nonce and its MAC over both nonces,
 * answers with its own MAC (so the client knows the server holds the key too), then frames follow.
 */
export class ServerHandshake {
  private readonly serverNonce: Buffer;
  private buffered = Buffer.alloc(0);

  constructor(
    private readonly key: Buffer,
    nonce: Buffer = randomBytes(PEER_AUTH.nonceBytes),
  ) {
    this.serverNonce = nonce;
  }

  /** The challenge to send right after the magic was read. */
  challenge(): Buffer {
    return this.serverNonce;
  }

  feed(chunk: Buffer): HandshakeStep {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const need = PEER_AUTH.nonceBytes + PEER_AUTH.macBytes;
    if (this.buffered.length < need) return { kind: 'more' };
    const clientNonce = this.buffered.subarray(0, PEER_AUTH.nonceBytes);
    const proof = this.buffered.subarray(PEER_AUTH.nonceBytes, need);
    if (!sameMac(proof, mac(this.key, 'C', this.serverNonce, clientNonce))) return { kind: 'refused', why: 'the peer does not hold the cluster secret' };
    return { kind: 'done', rest: this.buffered.subarray(need), send: mac(this.key, 'S', clientNonce, this.serverNonce) };
  }
}

/** Client side, after sending the magic: answers the challenge, then checks the server's MAC. */
export class ClientHandshake {
  private readonly clientNonce: Buffer;
  private buffered = Buffer.alloc(0);
  private expected: Buffer | undefined;

  constructor(
    private readonly key: Buffer,
    nonce: Buffer = randomBytes(PEER_AUTH.nonceBytes),
  ) {
    this.clientNonce = nonce;
  }

  feed(chunk: Buffer): HandshakeStep {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    if (this.expected === undefined) {
      if (this.buffered.length < PEER_AUTH.nonceBytes) return { kind: 'more' };
      const serverNonce = this.buffered.subarray(0, PEER_AUTH.nonceBytes);
      this.buffered = this.buffered.subarray(PEER_AUTH.nonceBytes);
      this.expected = mac(this.key, 'S', this.clientNonce, serverNonce);
      // The server's proof depends on our nonce, so nothing more can have arrived yet.
      return { kind: 'send', bytes: Buffer.concat([this.clientNonce, mac(this.key, 'C', serverNonce, this.clientNonce)]) };
    }
    if (this.buffered.length < PEER_AUTH.macBytes) return { kind: 'more' };
    if (!sameMac(this.buffered.subarray(0, PEER_AUTH.macBytes), this.expected)) return { kind: 'refused', why: 'the peer does not hold the cluster secret' };
    return { kind: 'done', rest: this.buffered.subarray(PEER_AUTH.macBytes) };
  }
}
