// TLS for the client port, named as Redis names it: --tls-port, --tls-cert-file, --tls-key-file,
// --tls-ca-cert-file, --tls-auth-clients yes|no|optional. Certificates are read from files at start and again on
// reload (SIGHUP): new connections get the new certificate, connections already open keep theirs.
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import tls from 'node:tls';
import type net from 'node:net';
import { AtollError } from '../errors.js';

export interface TlsSettings {
  /** 0 picks a free port. */
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile?: string | undefined;
  /** yes: clients must present a certificate the CA signed; optional: checked when presented; no: not asked. */
  readonly authClients: 'yes' | 'no' | 'optional';
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new AtollError('BAD_ARGUMENT', `cannot read the TLS ${what} ${path}: ${(e as Error).message}`);
  }
}

/** The secure-context options for the settings' files (read now). */
export function secureOptions(s: TlsSettings): tls.SecureContextOptions {
  const out: tls.SecureContextOptions = { cert: read(s.certFile, 'certificate'), key: read(s.keyFile, 'key') };
  if (s.caFile !== undefined) out.ca = read(s.caFile, 'CA certificate');
  try {
    tls.createSecureContext(out);
  } catch (e) {
    throw new AtollError('BAD_ARGUMENT', `the TLS certificate or key is not usable: ${(e as Error).message}`);
  }
  return out;
}

export interface TlsListener {
  readonly port: number;
  /** Re-reads the certificate files for new connections; throws (keeping the old ones) when they are bad. */
  reload(): void;
  close(): Promise<void>;
}

/** Checks the settings and their files before anything listens (a bad file must stop the start cleanly). */
export function checkTls(s: TlsSettings): void {
  if (s.authClients !== 'no' && s.caFile === undefined) throw new AtollError('BAD_ARGUMENT', '--tls-auth-clients yes|optional needs --tls-ca-cert-file to check client certificates');
  secureOptions(s);
}

/** Listens for TLS clients; each socket is handed over once its handshake is done. */
export async function listenTls(host: string, s: TlsSettings, onSocket: (socket: net.Socket) => void): Promise<TlsListener> {
  checkTls(s);
  const server = tls.createServer({ ...secureOptions(s), requestCert: s.authClients !== 'no', rejectUnauthorized: s.authClients === 'yes' }, onSocket);
  // A failed handshake (no client certificate, a bad one, plain text) only closes that connection.
  server.on('tlsClientError', () => undefined);
  server.listen(s.port, host);
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    reload: () => server.setSecureContext(secureOptions(s)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
