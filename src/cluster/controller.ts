// The controller's decisions, pure: from what the coordinator holds now and the time, the next state and the
// actions to carry out (compact, publish a map change, fence for a failover). The elected controller's edge
// loop (src/server/cluster-node.ts) runs controllerStep on every change and executes what it returns.
import { inSync, initialMap, withAddresses, type ClusterMeta, type ClusterNode, type PartitionEntry, type PartitionMap } from './map.js';
import { failoverMap, fenceRequests, type FailoverPlan } from '../replication/failover.js';
import type { Position } from '../replication/log.js';

export interface ControllerView {
  readonly meta: ClusterMeta | undefined;
  readonly nodes: readonly ClusterNode[];
  readonly map: PartitionMap | undefined;
}

/**
 * - No map yet and enough nodes registered: place every partition over the registered nodes (epoch 1).
 * - A map exists: refresh the address of any node that came back on another host or port (epoch + 1).
 * Moving partitions to new or away from lost nodes is a rebalancing plan or a failover, not done here.
 */
export function nextMap(view: ControllerView): PartitionMap | undefined {
  const { meta, nodes, map } = view;
  if (meta === undefined) return undefined;
  if (map === undefined) {
    if (nodes.length < meta.initialNodes) return undefined;
    const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return initialMap(meta, sorted);
  }
  return withAddresses(map, nodes);
}

/**
 * Replicas on nodes that are `gone` move to live nodes: for each partition whose leader is live, each gone
 * follower is replaced by the live node holding the fewest replicas among those not already holding this
 * partition, preferring a zone the partition does not use yet. The newcomer starts outside the in-sync set
 * and is filled by a snapshot. Gone leaders are left to failover. Returns undefined when nothing changes.
 */
export function replaceReplicas(map: PartitionMap, live: readonly ClusterNode[], gone: ReadonlySet<string>): PartitionMap | undefined {
  if (gone.size === 0 || live.length === 0) return undefined;
  const liveIds = new Set(live.map((n) => n.id));
  const load = new Map<string, number>(live.map((n) => [n.id, 0]));
  for (const e of map.partitions) for (const id of e.replicas) if (load.has(id)) load.set(id, load.get(id)! + 1);
  const zoneOf = new Map<string, string>([...Object.values(map.nodes), ...live].map((n) => [n.id, n.zone]));
  const epoch = map.epoch + 1;
  let changed = false;
  const partitions = map.partitions.map((e): PartitionEntry => {
    if (!liveIds.has(e.replicas[0]!) || !e.replicas.some((id) => gone.has(id))) return e;
    const replicas = [...e.replicas];
    let isr = [...inSync(e)];
    for (let i = 1; i < replicas.length; i++) {
      if (!gone.has(replicas[i]!)) continue;
      const zones = new Set(replicas.filter((id) => !gone.has(id)).map((id) => zoneOf.get(id)));
      const candidates = live
        .map((n) => n.id)
        .filter((id) => !replicas.includes(id))
        .sort((a, b) => Number(zones.has(zoneOf.get(a))) - Number(zones.has(zoneOf.get(b))) || load.get(a)! - load.get(b)! || (a < b ? -1 : 1));
      const pick = candidates[0];
      if (pick === undefined) continue;
      isr = isr.filter((id) => id !== replicas[i]);
      load.set(pick, load.get(pick)! + 1);
      replicas[i] = pick;
      changed = true;
    }
    if (!changed) return e;
    return { replicas, epoch, ...(isr.length === replicas.length ? {} : { isr }) };
  });
  if (!changed) return undefined;
  const named = new Set(partitions.flatMap((e) => e.replicas));
  const nodes = Object.fromEntries([...Object.entries(map.nodes), ...live.map((n) => [n.id, n] as const)].filter(([id]) => named.has(id)));
  return { ...map, epoch, partitions, nodes };
}

/** What the controller remembers between steps (controller-local: a new controller starts from `initialControllerState`). */
export interface ControllerState {
  /** Nodes the map names that are not registered, and since when (for replica rebuilds). */
  readonly downSinceMs: ReadonlyMap<string, number>;
  readonly lastCompactMs: number;
}

export const initialControllerState = (nowMs: number): ControllerState => ({ downSinceMs: new Map(), lastCompactMs: nowMs });

/** What the controller sees at one step: the coordinator's snapshot and the time. */
export interface ControllerObservation extends ControllerView {
  readonly nowMs: number;
  /** How often the coordinator's history is compacted (0: never). */
  readonly compactEveryMs: number;
}

/**
 * What the edge loop does for a step, in order. `fence` is answered with the replicas' log positions, which
 * go into `failoverStep`; `publish` is one guarded map write (`why` is for the log line).
 */
export type ControllerAction =
  | { readonly kind: 'compact' }
  | { readonly kind: 'publish'; readonly base: PartitionMap | undefined; readonly next: PartitionMap; readonly why: 'first-map' | 'addresses' | 'replace' }
  | { readonly kind: 'fence'; readonly map: PartitionMap; readonly epoch: number; readonly asks: ReadonlyMap<string, readonly number[]>; readonly orphaned: readonly number[] };

/**
 * One controller decision from what the coordinator holds now. A first map or moved addresses go out alone;
 * otherwise partitions whose leader is not registered are fenced (and then failed over by failoverStep from
 * the answers, all in one write), and replicas of nodes gone past `replaceAfterMs` are rebuilt elsewhere.
 */
export function controllerStep(state: ControllerState, obs: ControllerObservation): { state: ControllerState; actions: ControllerAction[] } {
  const actions: ControllerAction[] = [];
  let lastCompactMs = state.lastCompactMs;
  if (obs.compactEveryMs > 0 && obs.nowMs - lastCompactMs >= obs.compactEveryMs) {
    lastCompactMs = obs.nowMs;
    actions.push({ kind: 'compact' });
  }
  const planned = nextMap(obs);
  if (planned !== undefined) {
    actions.push({ kind: 'publish', base: obs.map, next: planned, why: obs.map === undefined ? 'first-map' : 'addresses' });
    return { state: { ...state, lastCompactMs }, actions };
  }
  const map = obs.map;
  if (map === undefined || obs.meta === undefined) return { state: { ...state, lastCompactMs }, actions };
  const live = new Set(obs.nodes.map((n) => n.id));
  const { orphaned, asks } = fenceRequests(map, live);
  if (orphaned.length > 0) actions.push({ kind: 'fence', map, epoch: map.epoch + 1, asks, orphaned });
  const downSinceMs = new Map(state.downSinceMs);
  for (const id of Object.keys(map.nodes)) {
    if (live.has(id)) downSinceMs.delete(id);
    else if (!downSinceMs.has(id)) downSinceMs.set(id, obs.nowMs);
  }
  for (const id of [...downSinceMs.keys()]) if (map.nodes[id] === undefined) downSinceMs.delete(id);
  const after = obs.meta.replaceAfterMs;
  if (after > 0) {
    const gone = new Set([...downSinceMs].filter(([, since]) => obs.nowMs - since >= after).map(([id]) => id));
    const replaced = replaceReplicas(map, obs.nodes, gone);
    if (replaced !== undefined) actions.push({ kind: 'publish', base: map, next: replaced, why: 'replace' });
  }
  return { state: { downSinceMs, lastCompactMs }, actions };
}

/** The failover write after a fence: the new leaders chosen from the replicas' answers (see failoverMap). */
export function failoverStep(fence: Extract<ControllerAction, { kind: 'fence' }>, live: ReadonlySet<string>, answers: ReadonlyMap<number, ReadonlyMap<string, Position>>, meta: ClusterMeta): FailoverPlan {
  return failoverMap(fence.map, live, answers, meta.ack, meta.uncleanPromotion);
}
