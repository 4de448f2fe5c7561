// The routing tier (`atoll router`): a stateless RESP proxy that watches the partition map in the
// coordinator and forwards every keyed command to the partition's leader, so plain clients need no cluster
// support. Holds no data; several can run side by side.
import type { PeerTls } from '../transport/peer-tls.js';
import type { Logger } from 'pino';
import type { Coordinator } from '../coordinator/coordinator.js';
import { MemoryEngine } from '../storage/memory.js';
import type { Clock } from '../storage/engine.js';
import { ClusterRouting } from './cluster.js';
import { COMMAND_NAMES, type LiveConfig } from './dispatch.js';
import { followClusterAcl } from './acl-sync.js';
import { startNodeServer, type NodeServer } from './server.js';

export const ROUTER_LIMITS = Object.freeze({ pollEveryMs: 2_000 });

export interface RouterHandle {
  readonly server: NodeServer;
  readonly routing: ClusterRouting;
  /** Resolves once a map is known. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export async function startRouter(o: { coordinator: Coordinator; host: string; port: number; clock: Clock; config?: Partial<LiveConfig>; log?: Logger; peerKey?: Buffer; peerTls?: PeerTls | undefined }): Promise<RouterHandle> {
  let refreshing: Promise<void> | undefined;
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  const sync = async (): Promise<void> => {
    const snap = await o.coordinator.snapshot();
    routing.setLive(snap.nodes);
    routing.controller = snap.controller;
    if (snap.map !== undefined) {
      if (routing.setMap(snap.map)) o.log?.info({ epoch: snap.map.epoch }, 'router adopted partition map');
      readyResolve();
    }
  };
  const refresh = (): Promise<void> => (refreshing ??= sync().finally(() => (refreshing = undefined)));
  const routing = new ClusterRouting({ mode: 'proxy', refresh, peerKey: o.peerKey, peerTls: o.peerTls });
  // The engine only satisfies the server's interface: the router never stores a key (route() forwards or refuses).
  const server = await startNodeServer({ engine: new MemoryEngine({ clock: o.clock }), clock: o.clock, host: o.host, port: o.port, config: o.config, cluster: routing });
  const acl = followClusterAcl(o.coordinator, server.state, COMMAND_NAMES);
  const onChange = (): void => {
    void refresh().catch((e: unknown) => o.log?.warn({ err: (e as Error).message }, 'coordinator read failed; will retry'));
    void acl.refresh().catch((e: unknown) => o.log?.warn({ err: (e as Error).message }, 'ACL users not loaded; will retry'));
  };
  const unwatch = o.coordinator.watch(onChange);
  const poll = setInterval(onChange, ROUTER_LIMITS.pollEveryMs);
  poll.unref();
  onChange();
  return {
    server,
    routing,
    ready: () => ready,
    async close() {
      clearInterval(poll);
      unwatch();
      routing.close();
      await server.close();
    },
  };
}
