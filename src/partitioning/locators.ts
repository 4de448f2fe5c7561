// Key-to-node locators other than the ring: hash modulo N, jump consistent hash, weighted rendezvous (HRW)
// and Maglev. Each is a small immutable-style object over a checked node list; membership changes return
// the new locator's answers, and analysis.ts measures how many keys each change moves.
import { PartitioningError, assert } from '../errors.js';
import { fmix32, hash32, murmur3String, type KeyInput } from './hash.js';
import {
  checkInt,
  normaliseNode,
  normaliseNodes,
  type Node,
  type NodeId,
  type NodeLocator,
  type NodeSpec,
  type Partitioner,
  type PartitionId,
} from './types.js';

/** Shared member bookkeeping for the list-based locators. */
abstract class NodeListLocator implements NodeLocator, Partitioner<KeyInput> {
  abstract readonly kind: string;
  protected members: Node[];
  protected readonly seed: number;

  protected constructor(nodes: readonly (NodeSpec | NodeId)[], seed: number) {
    this.members = normaliseNodes(nodes);
    this.seed = checkInt(seed, 'seed', 0, 0xffffffff);
  }

  nodeIds(): NodeId[] {
    return this.members.map((n) => n.id);
  }

  nodes(): Node[] {
    return this.members.map((n) => ({ ...n }));
  }

  partitionIds(): PartitionId[] {
    return this.members.map((_, i) => i);
  }

  nodeFor(key: KeyInput): NodeId {
    return this.members[this.partitionFor(key)]!.id;
  }

  abstract partitionFor(key: KeyInput): PartitionId;

  /** Distinct nodes in the order the locator prefers them for this key. */
  replicasFor(key: KeyInput, n: number): NodeId[] {
    checkInt(n, 'n', 1, Number.MAX_SAFE_INTEGER);
    return this.preference(key, Math.min(n, this.members.length)).map((i) => this.members[i]!.id);
  }

  protected abstract preference(key: KeyInput, n: number): number[];

  addNode(spec: NodeSpec | NodeId): void {
    const node = normaliseNode(spec);
    if (this.members.some((m) => m.id === node.id)) {
      throw new PartitioningError('DUPLICATE_NODE', `node "${node.id}" is already a member`);
    }
    this.members = [...this.members, node];
    this.rebuild();
  }

  removeNode(id: NodeId): void {
    const index = this.indexOfNode(id);
    if (this.members.length === 1) throw new PartitioningError('EMPTY_NODES', `cannot remove "${id}", the last node`);
    this.members = this.withoutMember(index);
    this.rebuild();
  }

  protected withoutMember(index: number): Node[] {
    return this.members.filter((_, i) => i !== index);
  }

  protected indexOfNode(id: NodeId): number {
    const index = this.members.findIndex((m) => m.id === id);
    if (index < 0) throw new PartitioningError('UNKNOWN_NODE', `node "${String(id)}" is not a member`);
    return index;
  }

  protected rebuild(): void {}

  /** Fills `out` with distinct indices from `next()` draws, then tops up in index order (bounded). */
  protected distinctFrom(n: number, next: (attempt: number) => number): number[] {
    const out: number[] = [];
    const attemptsMax = 16 * n + 16;
    for (let a = 0; out.length < n && a < attemptsMax; a++) {
      const i = next(a);
      if (!out.includes(i)) out.push(i);
    }
    for (let i = 0; out.length < n; i++) if (!out.includes(i)) out.push(i);
    return out;
  }
}

/**
 * hash(key) mod N. Kept to show why it is not used: changing N moves about N/(N+1) of all keys.
 * Weights are ignored (documented); use rendezvous or the ring for weighted placement.
 */
export class ModuloLocator extends NodeListLocator {
  readonly kind = 'modulo';

  constructor(nodes: readonly (NodeSpec | NodeId)[], options: { seed?: number } = {}) {
    super(nodes, options.seed ?? 0);
  }

  partitionFor(key: KeyInput): PartitionId {
    return hash32(key, this.seed) % this.members.length;
  }

  protected preference(key: KeyInput, n: number): number[] {
    const first = this.partitionFor(key);
    return Array.from({ length: n }, (_, i) => (first + i) % this.members.length);
  }
}

const JUMP_LCG_HI = 0x27bb2ee6;
const JUMP_LCG_LO = 0x87b0b0fd;

/**
 * Jump consistent hash (Lamping and Veach, 2014) over a 64-bit key given as two 32-bit halves, bit-exact with
 * the paper's C++ (and Guava's) for the same 64-bit key. The 64-bit LCG step is done in 32-bit halves so no
 * BigInt is needed.
 */
export function jumpHash(keyHi: number, keyLo: number, buckets: number): number {
  let hi = keyHi >>> 0;
  let lo = keyLo >>> 0;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    // key = key * 2862933555777941757 + 1 (mod 2^64), in 16-bit limbs for the low product.
    const a0 = lo & 0xffff;
    const a1 = lo >>> 16;
    const c0 = JUMP_LCG_LO & 0xffff;
    const c1 = JUMP_LCG_LO >>> 16;
    const p00 = a0 * c0;
    const mid = a1 * c0 + (p00 >>> 16);
    const mid2 = (mid & 0xffff) + a0 * c1;
    const newLo = ((mid2 & 0xffff) << 16) | (p00 & 0xffff);
    const carry = a1 * c1 + Math.floor(mid / 0x10000) + Math.floor(mid2 / 0x10000);
    let newHi = (carry + Math.imul(hi, JUMP_LCG_LO) + Math.imul(lo, JUMP_LCG_HI)) >>> 0;
    let outLo = (newLo >>> 0) + 1;
    if (outLo > 0xffffffff) {
      outLo = 0;
      newHi = (newHi + 1) >>> 0;
    }
    hi = newHi;
    lo = outLo >>> 0;
    // j = (b + 1) * (2^31 / ((key >>> 33) + 1))
    j = Math.floor((b + 1) * (0x80000000 / ((hi >>> 1) + 1)));
  }
  return b;
}

/**
 * Jump consistent hash over an ordered node list: no memory per node, perfect balance, and adding a node at
 * the end moves exactly the ~1/(n+1) of keys it takes. Its limits: weights are not supported, and removing
 * a node that is not last moves its keys to the last node, whose keys are then spread (about 2/n moved);
 * use the ring or rendezvous when arbitrary removal matters.
 */
export class JumpLocator extends NodeListLocator {
  readonly kind = 'jump';

  constructor(nodes: readonly (NodeSpec | NodeId)[], options: { seed?: number } = {}) {
    super(nodes, options.seed ?? 0);
  }

  partitionFor(key: KeyInput): PartitionId {
    const h = hash32(key, this.seed);
    return jumpHash(fmix32(h ^ 0x9e3779b9), h, this.members.length);
  }

  protected preference(key: KeyInput, n: number): number[] {
    const h = hash32(key, this.seed);
    const size = this.members.length;
    // Attempt 0 is the primary; later attempts re-key the 64-bit input so each is an independent draw.
    return this.distinctFrom(n, (a) => (a === 0 ? jumpHash(fmix32(h ^ 0x9e3779b9), h, size) : jumpHash(fmix32(h ^ (0x9e3779b9 + a)), fmix32(h + a), size)));
  }

  /** The last node takes over the removed node's bucket, so only two nodes' keys move. */
  protected override withoutMember(index: number): Node[] {
    const last = this.members[this.members.length - 1]!;
    const out = this.members.slice(0, -1);
    if (index < out.length) out[index] = last;
    return out;
  }
}

/**
 * Weighted rendezvous (highest random weight) hashing: each node scores -w / ln(u) with u uniform from
 * hash(key, node); the best score wins. Minimal movement for any change and exact weights, at O(n) per lookup.
 */
export class RendezvousLocator extends NodeListLocator {
  readonly kind = 'rendezvous';
  private seeds = new Uint32Array(0);
  private weights = new Float64Array(0);
  private uniform = true;

  constructor(nodes: readonly (NodeSpec | NodeId)[], options: { seed?: number } = {}) {
    super(nodes, options.seed ?? 0);
    this.rebuild();
  }

  protected override rebuild(): void {
    this.seeds = Uint32Array.from(this.members, (m) => murmur3String(m.id, 0x5bd1e995));
    this.weights = Float64Array.from(this.members, (m) => m.weight);
    this.uniform = this.members.every((m) => m.weight === this.members[0]!.weight);
  }

  setWeight(id: NodeId, weight: number): void {
    const index = this.indexOfNode(id);
    const node = normaliseNode({ ...this.members[index]!, weight });
    this.members = this.members.map((m, i) => (i === index ? node : m));
    this.rebuild();
  }

  partitionFor(key: KeyInput): PartitionId {
    const h = hash32(key, this.seed);
    const seeds = this.seeds;
    let best = 0;
    if (this.uniform) {
      // Equal weights: -w/ln(u) is increasing in u, so the largest hash wins; no logarithms needed.
      let top = -1;
      for (let i = 0; i < seeds.length; i++) {
        const s = fmix32(h ^ seeds[i]!);
        if (s > top) {
          top = s;
          best = i;
        }
      }
      return best;
    }
    let top = -Infinity;
    for (let i = 0; i < seeds.length; i++) {
      const score = this.score(h, i);
      if (score > top) {
        top = score;
        best = i;
      }
    }
    return best;
  }

  private score(h: number, i: number): number {
    const u = (fmix32(h ^ this.seeds[i]!) + 0.5) / 0x1_0000_0000;
    return -this.weights[i]! / Math.log(u);
  }

  protected preference(key: KeyInput, n: number): number[] {
    const h = hash32(key, this.seed);
    const scored = this.members.map((_, i) => ({ i, s: this.score(h, i) }));
    scored.sort((a, b) => b.s - a.s || a.i - b.i);
    return scored.slice(0, n).map((x) => x.i);
  }
}

/** Default table sizes: primes near powers of two, so the table is resized (and keys reshuffled) rarely. */
export const MAGLEV_TABLE_SIZES = Object.freeze([65_537, 131_071, 262_147, 524_287, 1_048_573, 2_097_143, 4_194_301, 8_388_593, 16_777_213]);

export interface MaglevOptions {
  /**
   * Lookup table size; must be prime. Default: the first size on MAGLEV_TABLE_SIZES that is at least
   * 100 x nodes. The table only grows in those steps because a change of size reshuffles almost every key;
   * pin tableSize for a cluster that may cross a step.
   */
  readonly tableSize?: number;
  readonly seed?: number;
}

/**
 * Maglev hashing (Eisenbud et al., NSDI 2016): each node fills a prime-sized table by its own permutation,
 * in turns proportional to weight; lookup is one table read. Balance is near perfect and a change moves
 * little more than the minimum. Nodes fill in id order so every process builds the same table.
 */
export class MaglevLocator extends NodeListLocator {
  readonly kind = 'maglev';
  private table: Uint32Array = new Uint32Array(0);
  private fixedSize: number | undefined;
  private size = 0;

  constructor(nodes: readonly (NodeSpec | NodeId)[], options: MaglevOptions = {}) {
    super(nodes, options.seed ?? 0);
    if (options.tableSize !== undefined) {
      checkInt(options.tableSize, 'tableSize', 3, 1 << 24);
      if (!isPrime(options.tableSize)) throw new PartitioningError('BAD_ARGUMENT', `tableSize ${options.tableSize} is not prime`);
      this.fixedSize = options.tableSize;
    }
    this.rebuild();
  }

  get tableSize(): number {
    return this.size;
  }

  /** The lookup table: slot -> index into nodeIds(). A read-only view, for pictures and references. */
  lookupTable(): Readonly<Uint32Array> {
    return this.table;
  }

  protected override rebuild(): void {
    const size = this.fixedSize ?? MAGLEV_TABLE_SIZES.find((p) => p >= 100 * this.members.length) ?? MAGLEV_TABLE_SIZES[MAGLEV_TABLE_SIZES.length - 1]!;
    if (size < this.members.length) {
      throw new PartitioningError('BAD_ARGUMENT', `tableSize ${size} is smaller than the ${this.members.length} nodes`);
    }
    this.size = size;
    this.table = maglevTable(this.members, size);
  }

  partitionFor(key: KeyInput): PartitionId {
    return this.table[hash32(key, this.seed) % this.size]!;
  }

  protected preference(key: KeyInput, n: number): number[] {
    const h = hash32(key, this.seed);
    return this.distinctFrom(n, (a) => this.table[(h + Math.imul(a, 0x9e3779b1) + a) % this.size]! >>> 0);
  }
}

function maglevTable(members: readonly Node[], size: number): Uint32Array {
  const order = members.map((m, i) => ({ m, i })).sort((a, b) => (a.m.id < b.m.id ? -1 : a.m.id > b.m.id ? 1 : 0));
  const offsets = order.map(({ m }) => murmur3String(m.id, 0xb0f57ee3) % size);
  const skips = order.map(({ m }) => (murmur3String(m.id, 0x1b873593) % (size - 1)) + 1);
  const next = new Array<number>(order.length).fill(0);
  const maxWeight = Math.max(...order.map(({ m }) => m.weight));
  const credit = new Float64Array(order.length);
  const table = new Uint32Array(size).fill(0xffffffff);
  let filled = 0;
  // Every round each node earns weight/maxWeight of a turn; a turn claims its next free preferred slot.
  // Bounded: each round at least the heaviest node claims one slot.
  for (let round = 0; filled < size; round++) {
    assert(round <= size, 'maglev population did not terminate');
    for (let k = 0; k < order.length && filled < size; k++) {
      credit[k]! += order[k]!.m.weight / maxWeight;
      if (credit[k]! < 1) continue;
      credit[k]! -= 1;
      let slot = (offsets[k]! + next[k]! * skips[k]!) % size;
      while (table[slot] !== 0xffffffff) {
        next[k]!++;
        slot = (offsets[k]! + next[k]! * skips[k]!) % size;
      }
      table[slot] = order[k]!.i;
      next[k]!++;
      filled++;
    }
  }
  return table;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

