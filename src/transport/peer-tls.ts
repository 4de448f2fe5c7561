// TLS for node-to-node connections (Redis's `tls-cluster yes`): mutual TLS with a cluster CA. A peer
// connection still opens on the client port with a magic, so nodes keep one address; the magic below asks
// the server to switch the socket to TLS, and everything after it (the cluster-secret handshake, the frames)
// is encrypted. Both ends present the node certificate and accept only certificates the cluster CA signed;
// host names are not checked (nodes are addressed by IP, and membership is what the CA vouches for).
import tls from 'node:tls';
import type net from 'node:net';
import { secureOptions } from '../server/tls.js';

/** Magic of a TLS peer connection (version 3); answered with one PEER_TLS_GO byte, then the TLS handshake. */
export const PEER_MAGIC_TLS = Buffer.from([0x00, 0x41, 0x54, 0x4c, 0x03]);
export const PEER_TLS_GO = 0x06;

export const PEER_TLS_LIMITS = Object.freeze({
  /** A TLS peer connection that has not finished its TLS handshake within this is closed. */
  handshakeTimeoutMs: 5_000,
});

/** Where a node's peer certificates come from; re-read on reload (SIGHUP) for new connections. */
export interface PeerTls {
  /** The node certificate, its key and the cluster CA, as read last. */
  options(): tls.SecureContextOptions;
  reload(): void;
}

/** Certificate, key and cluster CA from PEM files (read now and on every reload; a bad file throws). */
export function peerTlsFromFiles(files: { certFile: string; keyFile: string; caFile: string }): PeerTls {
  const read = (): tls.SecureContextOptions => secureOptions({ port: 0, ...files, authClients: 'yes' });
  let options = read();
  return {
    options: () => options,
    reload: () => {
      options = read();
    },
  };
}

/** The client end: wraps a connected socket that has received PEER_TLS_GO; `ready` runs once verified. */
export function startPeerTlsClient(socket: net.Socket, peerTls: PeerTls, ready: (secure: tls.TLSSocket) => void): tls.TLSSocket {
  // Host names are not checked: the chain to the cluster CA is (rejectUnauthorized).
  const secure = tls.connect({ socket, ...peerTls.options(), rejectUnauthorized: true, checkServerIdentity: () => undefined });
  secure.setTimeout(PEER_TLS_LIMITS.handshakeTimeoutMs, () => secure.destroy());
  secure.once('secureConnect', () => {
    secure.setTimeout(0);
    ready(secure);
  });
  return secure;
}

/**
 * The server end, after the magic was read and nothing else: answers PEER_TLS_GO and runs the TLS handshake,
 * requiring a client certificate the cluster CA signed. `ready` gets the TLS socket; `refuse` says why not.
 * The socket is handed to a tls.Server of its own (never listening), which enforces the client's verification
 * as a listening one would (a hand-built server-side TLSSocket only reports it).
 */
export function acceptPeerTls(socket: net.Socket, peerTls: PeerTls, ready: (secure: tls.TLSSocket) => void, refuse: (why: string) => void): void {
  const server = tls.createServer({ ...peerTls.options(), requestCert: true, rejectUnauthorized: true, handshakeTimeout: PEER_TLS_LIMITS.handshakeTimeoutMs }, ready);
  server.on('tlsClientError', (e: Error) => refuse(`a TLS peer that failed the handshake (${e.message})`));
  // The client sends nothing after the magic until it reads this byte, so no TLS byte can have been read yet.
  socket.write(Buffer.from([PEER_TLS_GO]));
  server.emit('connection', socket);
}
