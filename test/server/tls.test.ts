// TLS on the client port (Redis's option names): redis-cli --tls and ioredis with TLS talk to a node; client
// certificates are required, optional or not asked for as --tls-auth-clients says; plain text on the TLS port
// only closes that connection; SIGHUP re-reads the certificate (new connections get the new one, open ones
// carry on); a missing certificate file stops the node from starting, naming the file.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type RunningNode } from '../helpers-process.js';

let dir = '';
const f = (name: string): string => join(dir, name);

/** A certificate for `cn` signed by the test CA (EC P-256: quick to make). */
function issue(name: string, cn: string): void {
  execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f('san.ext')], { stdio: 'ignore' });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'atoll-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=atoll-test-ca'], { stdio: 'ignore' });
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1' > ${f('san.ext')}`]);
  issue('server', '127.0.0.1');
  issue('server2', '127.0.0.1');
  issue('client', 'client');
  copyFileSync(f('server.crt'), f('live.crt'));
  copyFileSync(f('server.key'), f('live.key'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tlsArgs = (auth: string): string[] => ['--no-admin', '--tls-port', '0', '--tls-cert-file', f('live.crt'), '--tls-key-file', f('live.key'), '--tls-ca-cert-file', f('ca.crt'), '--tls-auth-clients', auth];
const tlsPortOf = (n: RunningNode): number => Number(/tls [\d.]+:(\d+)/.exec(n.output())![1]);
const cli = (port: number, extra: string[], ...cmd: string[]): { out: string; code: number | null } => {
  const r = spawnSync('redis-cli', ['--tls', '--cacert', f('ca.crt'), ...extra, '-p', String(port), ...cmd], { encoding: 'utf8', timeout: 10_000 });
  return { out: (r.stdout + r.stderr).trim(), code: r.status };
};
const clientCert = (): string[] => ['--cert', f('client.crt'), '--key', f('client.key')];

describe('TLS on the client port', () => {
  it('redis-cli and ioredis over TLS; client certificates required by default', async () => {
    const node = await startNode(tlsArgs('yes'));
    try {
      const port = tlsPortOf(node);
      expect(cli(port, clientCert(), 'SET', 'k', 'over-tls').out).toBe('OK');
      expect(cli(port, clientCert(), 'GET', 'k').out).toBe('over-tls');
      expect(cli(port, [], 'PING').out).not.toBe('PONG'); // no client certificate: refused
      const r = new Redis({ host: '127.0.0.1', port, tls: { ca: readFileSync(f('ca.crt')), cert: readFileSync(f('client.crt')), key: readFileSync(f('client.key')) } });
      expect(await r.get('k')).toBe('over-tls');
      r.disconnect();
      // Plain text on the TLS port closes that connection only; the plain port still serves.
      const plain = net.connect(port, '127.0.0.1');
      plain.write('PING\r\n');
      await new Promise((resolve) => plain.on('close', resolve));
      const p = new Redis({ port: node.port });
      expect(await p.get('k')).toBe('over-tls');
      p.disconnect();
    } finally {
      await node.stop();
    }
  }, 30_000);

  it('--tls-auth-clients no and optional', async () => {
    for (const mode of ['no', 'optional']) {
      const node = await startNode(tlsArgs(mode));
      try {
        expect(cli(tlsPortOf(node), [], 'PING').out).toBe('PONG');
        expect(cli(tlsPortOf(node), clientCert(), 'PING').out).toBe('PONG');
      } finally {
        await node.stop();
      }
    }
  }, 30_000);

  it('SIGHUP reloads the certificate for new connections; open connections carry on', async () => {
    copyFileSync(f('server.crt'), f('live.crt'));
    copyFileSync(f('server.key'), f('live.key'));
    const node = await startNode(tlsArgs('no'));
    const serial = (port: number): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ port, host: '127.0.0.1', ca: readFileSync(f('ca.crt')) }, () => {
          resolve(s.getPeerCertificate().serialNumber);
          s.end();
        });
        s.on('error', reject);
      });
    try {
      const port = tlsPortOf(node);
      const before = await serial(port);
      const open = new Redis({ host: '127.0.0.1', port, tls: { ca: readFileSync(f('ca.crt')) } });
      await open.set('x', '1');
      copyFileSync(f('server2.crt'), f('live.crt'));
      copyFileSync(f('server2.key'), f('live.key'));
      process.kill(node.pid, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      const after = await serial(port);
      expect(after).not.toBe(before);
      expect(await open.get('x')).toBe('1');
      open.disconnect();
    } finally {
      await node.stop();
    }
  }, 30_000);

  it('--admin-tls yes: the admin API over HTTPS only; SIGHUP swaps its certificate too', async () => {
    copyFileSync(f('server.crt'), f('live.crt'));
    copyFileSync(f('server.key'), f('live.key'));
    const node = await startNode(['--admin-port', '0', '--admin-tls', 'yes', '--tls-cert-file', f('live.crt'), '--tls-key-file', f('live.key')]);
    const port = Number(/admin https:\/\/[\d.]+:(\d+)/.exec(node.output())![1]);
    const get = (path: string): Promise<{ status: number; serial: string; body: string }> =>
      new Promise((resolve, reject) => {
        const req = https.get({ host: '127.0.0.1', port, path, ca: readFileSync(f('ca.crt')), agent: false }, (res) => {
          let body = '';
          const serial = (res.socket as tls.TLSSocket).getPeerCertificate().serialNumber;
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, serial, body }));
        });
        req.on('error', reject);
      });
    try {
      const first = await get('/healthz');
      expect(first.status).toBe(200);
      expect(JSON.parse(first.body)).toMatchObject({ status: 'ok' });
      expect((await get('/metrics')).body).toContain('atoll_');
      // Plain HTTP on the HTTPS port gets no admin answer.
      await expect(fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3_000) })).rejects.toThrow();
      copyFileSync(f('server2.crt'), f('live.crt'));
      copyFileSync(f('server2.key'), f('live.key'));
      process.kill(node.pid, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      const after = await get('/healthz');
      expect(after.status).toBe(200);
      expect(after.serial).not.toBe(first.serial);
    } finally {
      await node.stop();
    }
    await expect(startNode(['--admin-tls', 'yes'])).rejects.toThrow(/--admin-tls yes needs --tls-cert-file and --tls-key-file/);
  }, 30_000);

  it('a missing certificate file, or auth without a CA, stops the node from starting with the reason', async () => {
    await expect(startNode(['--no-admin', '--tls-port', '0', '--tls-cert-file', f('nope.crt'), '--tls-key-file', f('server.key'), '--tls-auth-clients', 'no'])).rejects.toThrow(/cannot read the TLS certificate .*nope\.crt/);
    await expect(startNode(['--no-admin', '--tls-port', '0', '--tls-cert-file', f('server.crt'), '--tls-key-file', f('server.key')])).rejects.toThrow(/needs --tls-ca-cert-file/);
  }, 30_000);
});
