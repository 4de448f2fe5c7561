// Security benchmark: throughput over TLS against plain TCP for Atoll (memory engine) and redis-server, the same
// redis-benchmark run (SET and GET, -P 1 and -P 16, 50 clients) on each server's plain and TLS port, so the
// figure is Atoll's TLS/plain ratio next to Redis's TLS/plain ratio. Certificates are made with openssl. Also:
// the ACL check's cost, and node-to-node TLS (--tls-cluster) against plain peer connections on a two-node
// cluster at the default 2048 partitions with 2 replicas, clients on one --forward node (half the keys
// forwarded, every write replicated over the peer connections).
// `npm run bench -- security [--quick]`
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { formatTable, progress, startForwardPair, writeResults } from './lib.js';
import { runBenchmark, type Measured, type Target } from './server.js';

const ATOLL_BIN = join(import.meta.dirname, '../bin/atoll.js');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function until(port: number): Promise<void> {
  for (let i = 0; i < 150; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listening on ${port}`);
}

function certificates(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string): string => join(dir, n);
  const quiet = { stdio: 'ignore' as const };
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=bench-ca'], quiet);
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1');
  execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('s.key'), '-out', f('s.csr'), '-subj', '/CN=127.0.0.1'], quiet);
  execFileSync('openssl', ['x509', '-req', '-in', f('s.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('s.crt'), '-days', '2', '-extfile', f('san.ext')], quiet);
  return { ca: f('ca.crt'), cert: f('s.crt'), key: f('s.key') };
}

interface Pair {
  plain: Target;
  tlsPort: number;
}

async function startBoth(kind: 'atoll' | 'redis', c: { ca: string; cert: string; key: string }): Promise<Pair> {
  const [port, tlsPort] = [await freePort(), await freePort()];
  const args =
    kind === 'redis'
      ? ['--port', String(port), '--tls-port', String(tlsPort), '--tls-cert-file', c.cert, '--tls-key-file', c.key, '--tls-ca-cert-file', c.ca, '--tls-auth-clients', 'no', '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1']
      : [ATOLL_BIN, 'start', '--no-admin', '--port', String(port), '--tls-port', String(tlsPort), '--tls-cert-file', c.cert, '--tls-key-file', c.key, '--tls-auth-clients', 'no'];
  const child = spawn(kind === 'redis' ? 'redis-server' : process.execPath, args, { stdio: 'ignore' });
  await until(port);
  await until(tlsPort);
  // A user checked on every command: a command list, key patterns, no channels.
  const setup = spawn('redis-cli', ['-p', String(port), 'ACL', 'SETUSER', 'bench', 'on', '>pw', '~key:*', '~counter:*', '~mylist', '+@all', '-debug', '-flushall'], { stdio: 'ignore' });
  await new Promise((r) => setup.on('exit', r));
  return { plain: { name: kind, port, pid: child.pid!, child }, tlsPort };
}

/** Two --forward nodes, with or without --tls-cluster; node a's target. */
async function startPeerCluster(c: { ca: string; cert: string; key: string }, tlsCluster: boolean, dir: string): Promise<{ target: Target; stop(): Promise<void> }> {
  const tls = tlsCluster ? ['--tls-cluster', 'yes', '--tls-cert-file', c.cert, '--tls-key-file', c.key, '--tls-ca-cert-file', c.ca] : [];
  const pair = await startForwardPair(dir, { nodeArgs: tls });
  return { target: { name: tlsCluster ? 'tls-cluster' : 'plain peers', port: pair.port, pid: pair.pid, child: pair.child }, stop: pair.stop };
}

export async function run(args: string[]): Promise<void> {
  const requests = args.includes('--quick') ? 50_000 : 200_000;
  const dir = mkdtempSync(join(tmpdir(), 'atoll-bench-tls-'));
  const c = certificates(dir);
  const servers = { atoll: await startBoth('atoll', c), redis: await startBoth('redis', c) };
  const rows: { server: string; pipeline: number; test: string; plain: Measured; tls: Measured }[] = [];
  const aclRows: { server: string; pipeline: number; test: string; open: Measured; restricted: Measured }[] = [];
  try {
    for (const pipeline of [1, 16]) {
      for (const [name, s] of Object.entries(servers)) {
        progress(`${name} -P ${pipeline}`);
        const flags = ['-t', 'set,get', '-n', String(requests), '-c', '50', '-P', String(pipeline)];
        const plain = runBenchmark(s.plain, flags, requests);
        const tls = runBenchmark({ ...s.plain, port: s.tlsPort }, ['--tls', '--cacert', c.ca, ...flags], requests);
        plain.forEach((m, i) => rows.push({ server: name, pipeline, test: m.test, plain: m, tls: tls[i]! }));
        // ACL cost: the default user (checks skipped: it may do anything) against a user whose every command
        // is checked (commands, then key patterns).
        const restricted = runBenchmark(s.plain, ['--user', 'bench', '-a', 'pw', ...flags], requests);
        restricted.forEach((m, i) => aclRows.push({ server: name, pipeline, test: m.test, open: plain[i]!, restricted: m }));
      }
    }
  } finally {
    for (const s of Object.values(servers)) s.plain.child.kill('SIGTERM');
  }
  const peerRows: { pipeline: number; test: string; plain: Measured; tls: Measured }[] = [];
  try {
    const measured: Record<string, Measured[][]> = {};
    for (const tlsCluster of [false, true]) {
      progress(`cluster, ${tlsCluster ? 'tls-cluster' : 'plain peers'}`);
      const cluster = await startPeerCluster(c, tlsCluster, dir);
      try {
        measured[String(tlsCluster)] = [1, 16].map((pipeline) => runBenchmark(cluster.target, ['-t', 'set,get', '-n', String(requests), '-c', '50', '-P', String(pipeline), '-r', '100000'], requests));
      } finally {
        await cluster.stop();
      }
    }
    [1, 16].forEach((pipeline, i) => measured.false![i]!.forEach((m, j) => peerRows.push({ pipeline, test: m.test, plain: m, tls: measured.true![i]![j]! })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const table = formatTable(
    ['server', 'test', 'P', 'plain ops/s', 'TLS ops/s', 'TLS/plain'],
    rows.map((r) => [r.server, r.test, r.pipeline, Math.round(r.plain.rps), Math.round(r.tls.rps), r.tls.rps / r.plain.rps]),
  );
  const acl = formatTable(
    ['server', 'test', 'P', 'default user ops/s', 'restricted user ops/s', 'ratio'],
    aclRows.map((r) => [r.server, r.test, r.pipeline, Math.round(r.open.rps), Math.round(r.restricted.rps), r.restricted.rps / r.open.rps]),
  );
  process.stdout.write(`\nredis-benchmark -t set,get -n ${requests} -c 50, plain port vs TLS port (no client certificates)\n${table}\n`);
  process.stdout.write(`\nACL check cost: the default user vs a user with key patterns and a command list (every command checked)\n${acl}\n`);
  const peer = formatTable(
    ['test', 'P', 'plain peers ops/s', 'tls-cluster ops/s', 'ratio'],
    peerRows.map((r) => [r.test, r.pipeline, Math.round(r.plain.rps), Math.round(r.tls.rps), r.tls.rps / r.plain.rps]),
  );
  process.stdout.write(`\nNode-to-node TLS: 2 --forward nodes, 2048 partitions, 2 replicas, clients on one node (-r 100000)\n${peer}\n`);
  process.stdout.write(`\nwrote ${writeResults('security', { requests, rows, aclRows, peerRows })}\n`);
}
