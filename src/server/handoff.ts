// Hand-off of one partition from its leader to another node (`atoll cluster move`): hold the partition's
// commands, copy its keys in bounded chunks, switch the map with one epoch CAS, then release the held
// commands, which now follow -MOVED (or are forwarded) to the new owner. The pause is measured.
import { reassign, type PartitionMap } from '../cluster/map.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { AtollError } from '../errors.js';
import type { StorageEngine } from '../storage/engine.js';
import { fromWire, partitionKeys, toWire, valueBytes, type WireEntry } from '../storage/wire.js';

export { fromWire, partitionKeys, toWire, type WireEntry };
import type { PeerClient } from '../transport/peer.js';

export const HANDOFF_LIMITS = Object.freeze({ chunkKeysMax: 1_000, chunkBytesMax: 1024 * 1024 });

export interface HandoffResult {
  readonly partition: number;
  readonly from: string;
  readonly to: string;
  readonly keys: number;
  readonly bytes: number;
  /** How long the partition's commands were held (copy + map switch). */
  readonly pauseMs: number;
  readonly epoch: number;
}

/** Writes received entries in one transaction (durable engines) or directly. */
export function loadEntries(engine: StorageEngine, entries: unknown): number {
  if (!Array.isArray(entries)) throw new AtollError('BAD_ARGUMENT', 'entries must be an array');
  const decoded = entries.map(fromWire);
  const run = (): void => {
    for (const d of decoded) engine.put(d.key, d.value, d.expiresAtMs);
  };
  if (engine.batch !== undefined) engine.batch(run);
  else run();
  return decoded.length;
}

export function dropKeys(engine: StorageEngine, keys: readonly string[]): void {
  const run = (): void => {
    for (const k of keys) engine.delete(k);
  };
  if (engine.batch !== undefined) engine.batch(run);
  else run();
}

export interface HandoffContext {
  readonly selfId: string;
  readonly engine: StorageEngine;
  readonly coordinator: Coordinator;
  readonly currentMap: () => PartitionMap | undefined;
  readonly adoptMap: (map: PartitionMap) => void;
  /** Holds the partition's commands until the returned release() is called. */
  readonly hold: (partition: number) => () => void;
  readonly peerOf: (id: string) => PeerClient;
  readonly nowMs: () => number;
}

export async function handOff(ctx: HandoffContext, partition: number, to: string): Promise<HandoffResult> {
  const map = ctx.currentMap();
  if (map === undefined) throw new AtollError('NO_CLUSTER', 'this node has no partition map yet');
  const entry = map.partitions[partition];
  if (entry === undefined) throw new AtollError('UNKNOWN_PARTITION', `partition ${partition} does not exist (the map has ${map.partitions.length})`);
  if (entry.replicas[0] !== ctx.selfId) throw new AtollError('STALE_EPOCH', `node ${ctx.selfId} does not lead partition ${partition} at epoch ${map.epoch} (${entry.replicas[0]} does)`);
  if (to === ctx.selfId) throw new AtollError('BAD_ARGUMENT', `partition ${partition} is already on ${to}`);
  const snap = await ctx.coordinator.snapshot();
  const target = snap.nodes.find((n) => n.id === to);
  if (target === undefined) throw new AtollError('UNKNOWN_NODE', `node ${to} is not registered (live) in the cluster`);
  const planned = reassign(map, partition, [to, ...entry.replicas.slice(1).filter((id) => id !== to)], snap.nodes);

  const started = ctx.nowMs();
  const release = ctx.hold(partition);
  let switched = false;
  let next = planned;
  let keys: string[] = [];
  let bytes = 0;
  try {
    // Let commands already run in this event-loop turn commit (group commit) before reading the partition.
    await new Promise((r) => setImmediate(r));
    keys = partitionKeys(ctx.engine, map.partitions.length, partition);
    const peer = ctx.peerOf(to);
    let chunk: WireEntry[] = [];
    let chunkBytes = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      await peer.request({ op: 'load', partition, entries: chunk });
      chunk = [];
      chunkBytes = 0;
    };
    for (const k of keys) {
      const value = ctx.engine.get(k);
      if (value === undefined) continue;
      const wire = toWire(k, value, ctx.engine.expiresAt(k) ?? 0);
      const size = wire[0].length + valueBytes(wire);
      chunk.push(wire);
      chunkBytes += size;
      bytes += size;
      if (chunk.length >= HANDOFF_LIMITS.chunkKeysMax || chunkBytes >= HANDOFF_LIMITS.chunkBytesMax) await flush();
    }
    await flush();
    const written = await ctx.coordinator.casMap(map, planned);
    if (written === undefined) throw new AtollError('STALE_EPOCH', `the map changed during the move (was epoch ${map.epoch}); nothing was switched`);
    next = written;
    switched = true;
    // The target must route by the new map before clients are sent to it, or it would send them back.
    await peer.request({ op: 'map', map: next });
    ctx.adoptMap(next);
  } catch (e) {
    if (!switched) await ctx.peerOf(to).request({ op: 'drop', partition, partitions: map.partitions.length }).catch(() => undefined);
    throw e;
  } finally {
    release();
  }
  const pauseMs = ctx.nowMs() - started;
  dropKeys(ctx.engine, keys);
  return { partition, from: ctx.selfId, to, keys: keys.length, bytes, pauseMs, epoch: next.epoch };
}

