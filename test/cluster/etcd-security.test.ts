// etcd over TLS with client certificates and etcd's own users (etcds://, ATOLL_ETCD_* variables): a cluster is
// created, a node joins and serves, and the router routes, all through an etcd that requires both; a wrong
// password, a missing client certificate, a plain etcd:// URL, and a user without rights on Atoll's keys are
// each refused with a clear error.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdProcess } from '../../src/coordinator/etcd-process.js';
import type { RunningNode } from '../helpers-process.js';
import { runAtoll, startClusterNodeProcess, untilClusterOk } from '../helpers-cluster.js';

let dir = '';
let etcd: EtcdProcess | undefined;
const f = (name: string): string => join(dir, name);
const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });

function issue(name: string, cn: string): void {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`]);
  openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f('san.ext')]);
}

const endpoint = (): string => etcd!.url.replace('etcds://', 'https://');
const etcdctl = (...args: string[]): string =>
  execFileSync('etcdctl', ['--endpoints', endpoint(), '--cacert', f('ca.crt'), '--cert', f('client.crt'), '--key', f('client.key'), ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });

/** Runs `body` with these ATOLL_ETCD_* variables set (children inherit them), restoring the others after. */
async function withEnv<T>(vars: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>): void => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  set(vars);
  try {
    return await body();
  } finally {
    set(before);
  }
}

const access = (over: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({
  ATOLL_ETCD_CACERT: f('ca.crt'),
  ATOLL_ETCD_CERT: f('client.crt'),
  ATOLL_ETCD_KEY: f('client.key'),
  ATOLL_ETCD_USER: 'atoll',
  ATOLL_ETCD_PASSWORD_FILE: f('atoll.password'),
  ATOLL_ETCD_PASSWORD: undefined,
  ...over,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atoll-etcd-tls-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=etcd-test-ca']);
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1');
  issue('server', '127.0.0.1');
  issue('client', 'root');
  writeFileSync(f('atoll.password'), 'atoll-etcd-password\n', { mode: 0o600 });
  etcd = await startEtcd({ dataDir: join(dir, 'etcd'), tls: { certFile: f('server.crt'), keyFile: f('server.key'), caFile: f('ca.crt'), clientCertAuth: true } });
  // etcd's users: root (to enable auth), atoll with read-write on Atoll's prefix, and outsider with rights elsewhere.
  etcdctl('user', 'add', 'root', '--new-user-password', 'root-password');
  etcdctl('user', 'grant-role', 'root', 'root');
  etcdctl('role', 'add', 'atoll-role');
  etcdctl('role', 'grant-permission', 'atoll-role', '--prefix=true', 'readwrite', 'atoll/');
  etcdctl('user', 'add', 'atoll', '--new-user-password', 'atoll-etcd-password');
  etcdctl('user', 'grant-role', 'atoll', 'atoll-role');
  etcdctl('role', 'add', 'other-role');
  etcdctl('role', 'grant-permission', 'other-role', '--prefix=true', 'readwrite', 'other/');
  etcdctl('user', 'add', 'outsider', '--new-user-password', 'outsider-password');
  etcdctl('user', 'grant-role', 'outsider', 'other-role');
  etcdctl('auth', 'enable');
}, 60_000);

afterAll(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('etcd with TLS, client certificates and users', () => {
  it('a cluster is created, joined and served through it', async () => {
    const nodes: RunningNode[] = [];
    try {
      await withEnv(access(), async () => {
        const created = await runAtoll(['cluster', 'create', '--coordinator', etcd!.url, '--nodes', '1', '--partitions', '16']);
        // (@grpc/grpc-js names an IP address as the TLS server name: Node warns once, DEP0123; nothing else.)
        expect(created.err.replace(/.*DEP0123.*\n|.*trace-deprecation.*\n/g, '').trim()).toBe('');
        expect(created.code).toBe(0);
        nodes.push(await startClusterNodeProcess(etcd!.url, 'secure-1'));
        await untilClusterOk([nodes[0]!.port]);
        const c = new Redis({ port: nodes[0]!.port });
        expect(await c.set('through-secure-etcd', 'yes')).toBe('OK');
        expect(await c.get('through-secure-etcd')).toBe('yes');
        c.disconnect();
        const status = await runAtoll(['cluster', 'status', '--coordinator', etcd!.url]);
        expect(status.code).toBe(0);
        expect(status.out).toContain('secure-1');
      });
      // Atoll's keys are in etcd under its prefix, readable by etcd's own tools with the same credentials.
      expect(etcdctl('--user', 'atoll:atoll-etcd-password', 'get', '--prefix', '--keys-only', 'atoll/')).toContain('atoll/');
    } finally {
      for (const n of nodes) await n.stop('SIGKILL');
    }
  }, 90_000);

  it('refuses a wrong password, no client certificate, a plain URL, and a user without rights', async () => {
    const status = (vars: Record<string, string | undefined>, url = etcd!.url): Promise<{ code: number; err: string }> => withEnv(vars, () => runAtoll(['cluster', 'status', '--coordinator', url], 30_000));
    const wrong = await status(access({ ATOLL_ETCD_PASSWORD_FILE: undefined, ATOLL_ETCD_PASSWORD: 'not-the-password' }));
    expect(wrong.code).not.toBe(0);
    expect(wrong.err).toMatch(/authentication failed|invalid user ID or password/i);
    const noCert = await status(access({ ATOLL_ETCD_CERT: undefined, ATOLL_ETCD_KEY: undefined }));
    expect(noCert.code).not.toBe(0);
    const plain = await status(access(), etcd!.url.replace('etcds://', 'etcd://'));
    expect(plain.code).toBe(2);
    expect(plain.err).toContain('use etcds://host:port for TLS');
    const outsider = await status(access({ ATOLL_ETCD_USER: 'outsider', ATOLL_ETCD_PASSWORD_FILE: undefined, ATOLL_ETCD_PASSWORD: 'outsider-password' }));
    expect(outsider.code).not.toBe(0);
    expect(outsider.err).toMatch(/permission denied/i);
    const noPassword = await status(access({ ATOLL_ETCD_PASSWORD_FILE: undefined }));
    expect(noPassword.code).toBe(2);
    expect(noPassword.err).toContain('ATOLL_ETCD_USER is set without ATOLL_ETCD_PASSWORD');
  }, 90_000);
});
