// Starts and stops a single-member etcd (Debian's etcd-server package) on loopback, for `atoll dev` and
// tests. Waits until it answers; stops it by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { AtollError } from '../errors.js';

export interface EtcdProcess {
  readonly url: string;
  readonly clientPort: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export const ETCD_START_TIMEOUT_MS = 20_000;

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((resolve) => server.close(() => resolve()));
  return ok;
}

/**
 * A base port for `count` consecutive client ports whose admin ports (+10000) are free too, below Linux's
 * ephemeral range (32768+) so no outgoing connection takes one meanwhile. For tests and benchmarks.
 */
export async function freeBasePort(count: number, attemptsMax = 50): Promise<number> {
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * (9_000 - count));
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = (await canListen(base + i)) && (await canListen(base + i + 10_000));
    if (ok) return base;
  }
  throw new Error(`no ${count} free consecutive ports (with admin ports) found`);
}

/** TLS on etcd's client port (tests of etcds://): its certificate, key, and the CA client certificates need. */
export interface EtcdTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** etcd's --client-cert-auth: clients must present a certificate the CA signed. */
  readonly clientCertAuth: boolean;
}

/** Whether etcd answers /health (over TLS with the CA when it serves TLS). */
async function healthy(client: string, tlsOptions: EtcdTls | undefined): Promise<boolean> {
  if (tlsOptions === undefined) return (await fetch(`${client}/health`)).ok;
  const { default: https } = await import('node:https');
  // etcd's /health needs no client certificate, even with --client-cert-auth (it sits on the HTTP side).
  return new Promise((resolve) => {
    const req = https.get(`${client}/health`, { ca: readFileSync(tlsOptions.caFile), cert: readFileSync(tlsOptions.certFile), key: readFileSync(tlsOptions.keyFile) }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

export async function startEtcd(options: { dataDir: string; clientPort?: number; peerPort?: number; binary?: string; tls?: EtcdTls }): Promise<EtcdProcess> {
  const clientPort = options.clientPort ?? (await freePort());
  const peerPort = options.peerPort ?? (await freePort());
  mkdirSync(options.dataDir, { recursive: true });
  const t = options.tls;
  const client = `${t === undefined ? 'http' : 'https'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'atoll-dev', '--data-dir', options.dataDir,
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `atoll-dev=${peer}`, '--log-level', 'error',
    ...(t === undefined ? [] : ['--cert-file', t.certFile, '--key-file', t.keyFile, '--trusted-ca-file', t.caFile, ...(t.clientCertAuth ? ['--client-cert-auth'] : [])]),
  ];
  let child: ChildProcess;
  try {
    child = spawn(options.binary ?? 'etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new AtollError('COORDINATOR_UNAVAILABLE', `cannot run etcd (install Debian's etcd-server: npm run setup): ${(e as Error).message}`);
  }
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (e) => reject(new AtollError('COORDINATOR_UNAVAILABLE', `cannot run etcd (install Debian's etcd-server: npm run setup): ${e.message}`))),
  );
  const deadline = Date.now() + ETCD_START_TIMEOUT_MS;
  const ready = (async () => {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new AtollError('COORDINATOR_UNAVAILABLE', `etcd exited with ${child.exitCode}: ${stderr}`);
      try {
        if (await healthy(client, t)) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new AtollError('COORDINATOR_UNAVAILABLE', `etcd did not become healthy within ${ETCD_START_TIMEOUT_MS} ms: ${stderr}`);
  })();
  try {
    await Promise.race([ready, spawnError]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    url: `${t === undefined ? 'etcd' : 'etcds'}://127.0.0.1:${clientPort}`,
    clientPort,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
