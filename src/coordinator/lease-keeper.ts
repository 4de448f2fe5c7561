// Keeps a node's etcd lease alive from a worker thread, so a busy data-plane event loop (a big snapshot, a
// burst of replication, a GC pause) cannot make the node miss keep-alives and be failed over while it is
// healthy. The main loop beats into shared memory; a loop stuck past `stallMaxMs` makes the worker revoke the
// lease at once, so a wedged node still loses its partitions (Kafka fences a broker whose heartbeats stop;
// CockroachDB's liveness record is heartbeated off the request path for the same reason).
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { AtollError } from '../errors.js';
import { etcd3Options, type EtcdAccess } from './etcd-access.js';

export const LEASE_KEEPER_LIMITS = Object.freeze({
  /** The main loop writes its heartbeat this often. */
  beatEveryMs: 100,
  /**
   * A main loop silent this long is taken as wedged and the lease is revoked. Above the 3 s stalls a loaded
   * 2-core machine can show (long GC, a large synchronous snapshot) so these cause no failover; a process
   * that is stopped (SIGSTOP) or killed stops its worker too, and its lease runs out after the TTL.
   */
  stallMaxMs: 5_000,
  /** Grant and revoke round trips from the worker. */
  opTimeoutMs: 5_000,
});

/** The worker's code, as plain JavaScript so it loads the same from the sources (tests) and from dist/. */
const WORKER_SOURCE = `
const { parentPort, workerData: w } = require('node:worker_threads');
const { Etcd3 } = require(w.etcd3Path);
const shared = new BigInt64Array(w.shared);
const toBuffer = (o) => { if (o.credentials) for (const k of Object.keys(o.credentials)) if (o.credentials[k] !== undefined) o.credentials[k] = Buffer.from(o.credentials[k]); return o; };
const client = new Etcd3(toBuffer(w.options));
const lease = client.lease(w.ttlSec);
const fired = [];
let done = false;
const stop = (type, reason) => {
  if (done) return;
  done = true;
  Atomics.store(shared, 1, 0n);
  clearInterval(check);
  const end = () => { parentPort.postMessage({ type, reason }); client.close(); };
  lease.revoke().then(end, end);
};
lease.on('keepaliveFired', () => { fired.push(Date.now()); if (fired.length > 64) fired.shift(); });
lease.on('keepaliveSucceeded', (res) => {
  const from = fired.shift();
  if (from !== undefined && Number(res.TTL) > 0 && !done) Atomics.store(shared, 1, BigInt(Math.floor(from + w.trustedMs)));
});
lease.on('lost', (err) => { if (!done) stop('lost', 'etcd lease lost: ' + err.message); });
const grantedFrom = Date.now();
const timer = setTimeout(() => stop('error', 'etcd did not grant a lease within ' + w.opTimeoutMs + ' ms'), w.opTimeoutMs);
lease.grant().then((id) => {
  clearTimeout(timer);
  if (done) return;
  Atomics.store(shared, 1, BigInt(Math.floor(grantedFrom + w.trustedMs)));
  parentPort.postMessage({ type: 'granted', leaseId: String(id) });
}, (err) => { clearTimeout(timer); stop('error', 'etcd refused a lease: ' + err.message); });
const check = setInterval(() => {
  const silentMs = Date.now() - Number(Atomics.load(shared, 0));
  if (silentMs > w.stallMaxMs) stop('lost', 'the main event loop was stuck for ' + silentMs + ' ms');
}, w.beatEveryMs);
parentPort.on('message', (m) => { if (m.type === 'revoke') stop('revoked', 'revoked'); });
`;

export interface LeaseKeeperOptions {
  readonly hosts: readonly string[];
  /** TLS and user of the etcd connection (etcd-access.ts). */
  readonly access?: EtcdAccess;
  readonly ttlMs: number;
  /** Share of the TTL the node counts on after a confirmed keep-alive (the rest covers clock drift). */
  readonly trustedShare: number;
  readonly stallMaxMs?: number;
}

/** A lease kept alive by a worker thread; `validUntilMs` reads the worker's latest confirmation. */
export class LeaseKeeper {
  private readonly shared = new BigInt64Array(new SharedArrayBuffer(16));
  private readonly worker: Worker;
  private readonly beat: NodeJS.Timeout;
  private lostHandlers: ((reason: string) => void)[] = [];
  private ended = false;
  private revoked: Promise<void> | undefined;
  readonly leaseId: Promise<string>;

  constructor(o: LeaseKeeperOptions) {
    Atomics.store(this.shared, 0, BigInt(Date.now()));
    this.beat = setInterval(() => Atomics.store(this.shared, 0, BigInt(Date.now())), LEASE_KEEPER_LIMITS.beatEveryMs);
    this.beat.unref();
    const etcd3Path = createRequire(import.meta.url).resolve('etcd3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        etcd3Path,
        options: etcd3Options(o.hosts, o.access ?? { tls: false }, LEASE_KEEPER_LIMITS.opTimeoutMs),
        ttlSec: Math.max(1, Math.ceil(o.ttlMs / 1000)),
        trustedMs: o.ttlMs * o.trustedShare,
        stallMaxMs: o.stallMaxMs ?? LEASE_KEEPER_LIMITS.stallMaxMs,
        beatEveryMs: LEASE_KEEPER_LIMITS.beatEveryMs,
        opTimeoutMs: LEASE_KEEPER_LIMITS.opTimeoutMs,
        shared: this.shared.buffer,
      },
    });
    this.worker.unref();
    this.leaseId = new Promise((resolve, reject) => {
      this.worker.on('message', (m: { type: string; leaseId?: string; reason?: string }) => {
        if (m.type === 'granted') resolve(m.leaseId!);
        else if (m.type === 'error') reject(new AtollError('COORDINATOR_UNAVAILABLE', m.reason ?? 'lease not granted'));
        else if (m.type === 'lost') this.lose(m.reason ?? 'lease lost');
        if (m.type !== 'granted') this.end();
      });
      this.worker.on('error', (e) => {
        reject(new AtollError('COORDINATOR_UNAVAILABLE', `lease keeper failed: ${e.message}`));
        this.lose(`lease keeper failed: ${e.message}`);
        this.end();
      });
    });
  }

  /** Local wall-clock ms until which the lease is known to be held (0 once lost). */
  validUntilMs(): number {
    return this.ended ? 0 : Number(Atomics.load(this.shared, 1));
  }

  onLost(h: (reason: string) => void): void {
    this.lostHandlers.push(h);
  }

  /** Revokes the lease (its keys vanish at once) and stops the worker. */
  revoke(): Promise<void> {
    this.revoked ??= (async () => {
      if (this.ended) return;
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      this.lostHandlers = [];
      this.worker.postMessage({ type: 'revoke' });
      const bound = new Promise<void>((resolve) => setTimeout(resolve, LEASE_KEEPER_LIMITS.opTimeoutMs).unref());
      await Promise.race([exited, bound]);
      this.end();
    })();
    return this.revoked;
  }

  private lose(reason: string): void {
    const handlers = this.lostHandlers;
    this.lostHandlers = [];
    for (const h of handlers) h(reason);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.beat);
    void this.worker.terminate();
  }
}
