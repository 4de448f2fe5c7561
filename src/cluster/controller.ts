// The controller's decisions, pure: from what the coordinator holds now, the next partition map (or none).
// The elected controller runs this on every change and writes the result with a compare-and-set on the epoch.
import { initialMap, withAddresses, type ClusterMeta, type ClusterNode, type PartitionMap } from './map.js';

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
