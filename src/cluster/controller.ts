// The controller's decisions, pure: from what the coordinator holds now, the next partition map (or none).
// The elected controller runs this on every change and writes the result with a compare-and-set on the epoch.
import { inSync, initialMap, withAddresses, type ClusterMeta, type ClusterNode, type PartitionEntry, type PartitionMap } from './map.js';

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
