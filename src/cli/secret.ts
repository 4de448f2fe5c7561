// Where a process finds the cluster secret: a file (--cluster-secret-file), the config file's clusterSecret,
// or ATOLL_CLUSTER_SECRET, in that order. The secret is never logged and never written to the coordinator;
// only keys derived from it are used (src/transport/handshake.ts).
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { nodePeerKey } from '../transport/handshake.js';
import { peerTlsFromFiles, type PeerTls } from '../transport/peer-tls.js';

export const SECRET_LIMITS = Object.freeze({ secretCharsMin: 16, secretCharsMax: 4096 });

export const CLUSTER_SECRET_ENV = 'ATOLL_CLUSTER_SECRET';
/** A file holding the secret, for tools (atoll dev writes one and prints this variable). */
export const CLUSTER_SECRET_FILE_ENV = 'ATOLL_CLUSTER_SECRET_FILE';

/** The cluster secret from a file, the config, or the environment; undefined when none is given. */
export function resolveClusterSecret(o: { file?: string; fromConfig?: string } = {}): string | undefined {
  let secret: string | undefined;
  if (o.file !== undefined) {
    try {
      secret = readFileSync(o.file, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`cannot read the cluster secret file ${o.file}: ${(e as Error).message}`);
    }
    // A file given but empty is a mistake (a secret not yet written), not a request to run without one.
    if (secret === '') throw new UsageError(`the cluster secret file ${o.file} is empty`);
  } else if (o.fromConfig === undefined && process.env[CLUSTER_SECRET_ENV] === undefined && process.env[CLUSTER_SECRET_FILE_ENV] !== undefined) {
    return resolveClusterSecret({ file: process.env[CLUSTER_SECRET_FILE_ENV] });
  } else secret = o.fromConfig ?? process.env[CLUSTER_SECRET_ENV];
  if (secret === undefined || secret === '') return undefined;
  if (secret.length < SECRET_LIMITS.secretCharsMin || secret.length > SECRET_LIMITS.secretCharsMax) {
    throw new UsageError(`the cluster secret must be ${SECRET_LIMITS.secretCharsMin}-${SECRET_LIMITS.secretCharsMax} characters (got ${secret.length})`);
  }
  return secret;
}

/** The peer key of tools and routers: from the cluster secret, else from the nodes' requirepass if given. */
export function toolPeerKey(requirepass = ''): Buffer | undefined {
  return nodePeerKey(resolveClusterSecret(), requirepass);
}

/** Whether `host` is a loopback address (a node bound there is reachable from this machine only). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Where tools find the certificates of a tls-cluster cluster (the same files as the nodes' --tls-* flags). */
export const PEER_TLS_ENV = Object.freeze({ cert: 'ATOLL_TLS_CERT_FILE', key: 'ATOLL_TLS_KEY_FILE', ca: 'ATOLL_TLS_CA_CERT_FILE' });

/**
 * Node-to-node TLS for routers and tools: from the given files, else from the environment; none when no
 * certificate is named. A certificate without its key and cluster CA is a usage error.
 */
export function resolvePeerTls(o: { certFile?: string | undefined; keyFile?: string | undefined; caFile?: string | undefined } = {}): PeerTls | undefined {
  const certFile = o.certFile ?? process.env[PEER_TLS_ENV.cert];
  const keyFile = o.keyFile ?? process.env[PEER_TLS_ENV.key];
  const caFile = o.caFile ?? process.env[PEER_TLS_ENV.ca];
  if (certFile === undefined && keyFile === undefined && caFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined || caFile === undefined) throw new UsageError(`node-to-node TLS needs a certificate, its key and the cluster CA (--tls-cert-file, --tls-key-file, --tls-ca-cert-file or ${PEER_TLS_ENV.cert}, ${PEER_TLS_ENV.key}, ${PEER_TLS_ENV.ca})`);
  try {
    return peerTlsFromFiles({ certFile, keyFile, caFile });
  } catch (e) {
    throw new UsageError(`node-to-node TLS: ${(e as Error).message}`);
  }
}
