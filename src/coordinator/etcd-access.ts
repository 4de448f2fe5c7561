// How a process reaches etcd: plain (etcd://) or TLS (etcds://, as rediss:// names Redis over TLS), with the
// CA, an optional client certificate, and an optional etcd user, all from the environment so every command
// (start, router, cluster, rebalance, verify) reads them the same way and no password appears in a process
// list. The same settings go to the lease keeper's worker thread.
import { readFileSync } from 'node:fs';
import type { IOptions } from 'etcd3';
import { AtollError } from '../errors.js';

/** Environment variables, named after etcdctl's flags (--cacert, --cert, --key, --user). */
export const ETCD_ENV = Object.freeze({
  ca: 'ATOLL_ETCD_CACERT',
  cert: 'ATOLL_ETCD_CERT',
  key: 'ATOLL_ETCD_KEY',
  user: 'ATOLL_ETCD_USER',
  password: 'ATOLL_ETCD_PASSWORD',
  passwordFile: 'ATOLL_ETCD_PASSWORD_FILE',
});

/** What the etcd3 client needs beyond the hosts; plain data, so it crosses into a worker thread. */
export interface EtcdAccess {
  readonly tls: boolean;
  readonly ca?: Uint8Array | undefined;
  readonly cert?: Uint8Array | undefined;
  readonly key?: Uint8Array | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
}

function readEnvFile(variable: string, what: string, env: NodeJS.ProcessEnv): Buffer | undefined {
  const path = env[variable];
  if (path === undefined || path === '') return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new AtollError('BAD_ARGUMENT', `cannot read the etcd ${what} ${path} (${variable}): ${(e as Error).message}`);
  }
}

/** The access settings for a URL's scheme, from the environment. Certificates only make sense with etcds://. */
export function etcdAccessFromEnv(tls: boolean, env: NodeJS.ProcessEnv = process.env): EtcdAccess {
  const ca = readEnvFile(ETCD_ENV.ca, 'CA certificate', env);
  const cert = readEnvFile(ETCD_ENV.cert, 'client certificate', env);
  const key = readEnvFile(ETCD_ENV.key, 'client key', env);
  if (!tls && (ca !== undefined || cert !== undefined)) throw new AtollError('BAD_ARGUMENT', `${ETCD_ENV.ca}/${ETCD_ENV.cert} are set but the coordinator URL is etcd:// (plain): use etcds://host:port for TLS`);
  if (cert !== undefined && ca === undefined) throw new AtollError('BAD_ARGUMENT', `an etcd client certificate (${ETCD_ENV.cert}) needs the CA that signed etcd's (${ETCD_ENV.ca})`);
  if ((cert === undefined) !== (key === undefined)) throw new AtollError('BAD_ARGUMENT', `an etcd client certificate needs both ${ETCD_ENV.cert} and ${ETCD_ENV.key}`);
  const user = env[ETCD_ENV.user] === '' ? undefined : env[ETCD_ENV.user];
  let password = env[ETCD_ENV.password];
  const passwordFile = readEnvFile(ETCD_ENV.passwordFile, 'password file', env);
  if (passwordFile !== undefined) password = passwordFile.toString('utf8').trim();
  if (user !== undefined && (password === undefined || password === '')) throw new AtollError('BAD_ARGUMENT', `${ETCD_ENV.user} is set without ${ETCD_ENV.password} or ${ETCD_ENV.passwordFile}`);
  return { tls, ca, cert, key, user, password: user === undefined ? undefined : password };
}

/** etcd3 client options for `hosts` (host:port) with these settings. */
export function etcd3Options(hosts: readonly string[], access: EtcdAccess, dialTimeoutMs: number): IOptions {
  const scheme = access.tls ? 'https' : 'http';
  const options: IOptions = { hosts: hosts.map((h) => `${scheme}://${h}`), dialTimeout: dialTimeoutMs };
  // Without a CA file, the system's roots check etcd's certificate (etcd3 picks them for https hosts).
  if (access.tls && access.ca !== undefined) {
    const buf = (b: Uint8Array | undefined): Buffer | undefined => (b === undefined ? undefined : Buffer.from(b));
    options.credentials = { rootCertificate: Buffer.from(access.ca), privateKey: buf(access.key), certChain: buf(access.cert) };
  }
  if (access.user !== undefined && access.password !== undefined) options.auth = { username: access.user, password: access.password };
  return options;
}
