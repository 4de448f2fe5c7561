// Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2016): a key goes to the first
// node clockwise on the ring whose load is under ceil(c * (m + 1) * w / W), so no node ever holds more than
// about c times its fair share. It is stateful by nature: it remembers which keys it placed, up to keysMax.
import { PartitioningError } from '../errors.js';
import type { KeyInput } from './hash.js';
import { ConsistentHashRing, type RingOptions } from './ring.js';
import { checkInt, checkNumber, type NodeId, type NodeSpec } from './types.js';

export interface BoundedLoadOptions extends RingOptions {
  /** Load bound factor c > 1: a node holds at most ceil(c * fair share). Default 1.25 (as Vimeo/HAProxy use). */
  readonly balanceFactor?: number;
  /** Most keys it will track at once. Default 10,000,000. */
  readonly keysMax?: number;
}

export const BOUNDED_LOAD_DEFAULTS = Object.freeze({ balanceFactor: 1.25, keysMax: 10_000_000 });

export class BoundedLoadLocator {
  readonly kind = 'bounded';
  readonly balanceFactor: number;
  readonly keysMax: number;
  private readonly ring: ConsistentHashRing;
  private readonly placed = new Map<string, number>();
  private loads: Uint32Array;
  private ids: NodeId[];
  private weightShare: Float64Array;
  private total = 0;

  constructor(nodes: readonly (NodeSpec | NodeId)[], options: BoundedLoadOptions = {}) {
    this.balanceFactor = checkNumber(options.balanceFactor ?? BOUNDED_LOAD_DEFAULTS.balanceFactor, 'balanceFactor', 1.000001, 100);
    this.keysMax = checkInt(options.keysMax ?? BOUNDED_LOAD_DEFAULTS.keysMax, 'keysMax', 1, 1e9);
    this.ring = new ConsistentHashRing(nodes, options);
    this.ids = this.ring.nodeIds();
    this.loads = new Uint32Array(this.ids.length);
    const nodeList = this.ring.nodes();
    const weightSum = nodeList.reduce((s, n) => s + n.weight, 0);
    this.weightShare = Float64Array.from(nodeList, (n) => n.weight / weightSum);
  }

  nodeIds(): NodeId[] {
    return [...this.ids];
  }

  get size(): number {
    return this.total;
  }

  /** Where the key is (if placed) or would go now, without placing it. */
  nodeFor(key: KeyInput): NodeId {
    const at = this.placed.get(keyString(key));
    return this.ids[at ?? this.pick(key)]!;
  }

  /** Places a key (idempotent for a placed key) and returns its node. */
  assign(key: KeyInput): NodeId {
    const k = keyString(key);
    const at = this.placed.get(k);
    if (at !== undefined) return this.ids[at]!;
    if (this.total >= this.keysMax) {
      throw new PartitioningError('CAPACITY_EXCEEDED', `bounded-load locator already tracks keysMax=${this.keysMax} keys`);
    }
    const node = this.pick(key);
    this.placed.set(k, node);
    this.loads[node]!++;
    this.total++;
    return this.ids[node]!;
  }

  /** Forgets a key; returns whether it was placed. */
  release(key: KeyInput): boolean {
    const k = keyString(key);
    const at = this.placed.get(k);
    if (at === undefined) return false;
    this.placed.delete(k);
    this.loads[at]!--;
    this.total--;
    return true;
  }

  /** Current number of keys per node. */
  loadByNode(): Map<NodeId, number> {
    return new Map(this.ids.map((id, i) => [id, this.loads[i]!]));
  }

  /** Capacity of node i with one more key placed. */
  capacity(i: number): number {
    return Math.ceil(this.balanceFactor * (this.total + 1) * this.weightShare[i]!);
  }

  private pick(key: KeyInput): number {
    const start = this.ring.tokenIndexForHash(this.ring.hashKey(key));
    const owners = this.ring.toOwnerWalk();
    const n = owners.length;
    for (let step = 0; step < n; step++) {
      const i = owners[(start + step) % n]!;
      if (this.loads[i]! < this.capacity(i)) return i;
    }
    // Unreachable while c > 1: the capacities sum to more than total + 1. Kept as a typed error, not a crash.
    throw new PartitioningError('CAPACITY_EXCEEDED', 'every node is at its load bound');
  }
}

function keyString(key: KeyInput): string {
  return typeof key === 'string' ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}
