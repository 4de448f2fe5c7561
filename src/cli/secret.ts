// Where a process finds the cluster secret: a file (--cluster-secret-file), the config file's clusterSecret,
// or ATOLL_CLUSTER_SECRET, in that order. The secret is never logged and never written to the coordinator;
// only keys derived from it are used (src/transport/handshake.ts).
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { nodePeerKey } from '../transport/handshake.js';

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
