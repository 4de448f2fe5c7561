// A fault-injecting TCP proxy for tests: forwards a listening port to a target and can, on command, delay
// bytes, drop them silently in either direction (a black hole: connections stay open, nothing arrives),
// refuse new connections, or cut existing ones. Bound to 127.0.0.1; stopped by close().
import net from 'node:net';
import { once } from 'node:events';

export type Direction = 'to-target' | 'from-target';

export interface FaultState {
  /** Milliseconds added before forwarding each chunk. */
  delayMs: number;
  /** Directions whose bytes are silently discarded. */
  blackhole: Set<Direction>;
  /** New connections are accepted and closed at once. */
  refuse: boolean;
}

export const FAULT_PROXY_LIMITS = Object.freeze({ connectionsMax: 1_024, delayMsMax: 60_000 });

export class FaultProxy {
  readonly faults: FaultState = { delayMs: 0, blackhole: new Set(), refuse: false };
  /** Sees every chunk forwarded, in either direction (a capture of the wire, for tests that inspect it). */
  onChunk: ((dir: Direction, chunk: Buffer) => void) | undefined;
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = net.createServer((client) => this.accept(client));
    this.server.maxConnections = FAULT_PROXY_LIMITS.connectionsMax;
  }

  static async start(targetPort: number, targetHost = '127.0.0.1', listenPort = 0): Promise<FaultProxy> {
    const p = new FaultProxy(targetHost, targetPort);
    p.server.listen(listenPort, '127.0.0.1');
    await once(p.server, 'listening');
    p.port = (p.server.address() as net.AddressInfo).port;
    return p;
  }

  private accept(client: net.Socket): void {
    if (this.faults.refuse) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket, dir: Direction): void => {
      from.on('data', (chunk: Buffer) => {
        if (this.faults.blackhole.has(dir)) return;
        this.onChunk?.(dir, chunk);
        const send = (): void => void (to.destroyed ? undefined : to.write(chunk));
        if (this.faults.delayMs > 0) setTimeout(send, Math.min(this.faults.delayMs, FAULT_PROXY_LIMITS.delayMsMax));
        else send();
      });
    };
    forward(client, upstream, 'to-target');
    forward(upstream, client, 'from-target');
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  }

  /** Drops every open connection (both ends see a reset). */
  cutAll(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  /** Partitions the target off: no new connections, open ones cut. */
  isolate(): void {
    this.faults.refuse = true;
    this.cutAll();
  }

  /** Black-holes one direction (or both) on open and new connections: the TCP sessions stay up. */
  blackhole(...dirs: Direction[]): void {
    for (const d of dirs) this.faults.blackhole.add(d);
  }

  heal(): void {
    this.faults.refuse = false;
    this.faults.blackhole.clear();
    this.faults.delayMs = 0;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
