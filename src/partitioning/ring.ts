// Consistent hash ring with virtual nodes, weights and zone-aware replica choice. Lookups hash the key,
// read a bucket index and search a few entries of a sorted Uint32Array, so they cost O(1) expected, O(log n) worst.
import { PartitioningError, assert } from '../errors.js';
import { fmix32, hash32, murmur3String, type KeyInput } from './hash.js';
import { seededRandom, shuffleInPlace } from './prng.js';
import {
  checkInt,
  checkWeight,
  normaliseNode,
  normaliseNodes,
  type Node,
  type NodeId,
  type NodeLocator,
  type NodeSpec,
  type Partitioner,
  type PartitionId,
} from './types.js';

const RING_SIZE = 0x1_0000_0000;

/**
 * How tokens are chosen. `balanced` (default) places them deliberately, as Cassandra's token allocator does:
 * evenly spaced when the ring is built, and when a node joins it takes its share from the most loaded nodes'
 * largest arcs. `random` hashes `id#i`, the classic scheme (and what npm hashring does), kept for comparison.
 */
export type TokenAllocation = 'balanced' | 'random';

export interface RingOptions {
  /** Virtual nodes (tokens) per unit of weight. Default 256. */
  readonly vnodes?: number;
  readonly tokenAllocation?: TokenAllocation;
  /** Seed of the key hash; rings that must agree must share it. Default 0. */
  readonly seed?: number;
  /** Prefer replicas in distinct zones in replicasFor. Default true. */
  readonly zoneAware?: boolean;
}

export const RING_DEFAULTS = Object.freeze({
  vnodes: 256,
  tokenAllocation: 'balanced' as TokenAllocation,
  seed: 0,
  zoneAware: true,
  /** Upper bound on tokens per node and on the whole ring, so arcs never shrink below 1024 positions. */
  vnodesPerNodeMax: 65_536,
  tokensMax: 1 << 22,
});

/** Serialisable ring state (stored in the coordinator so every process sees identical tokens). */
export interface RingState {
  readonly options: Required<RingOptions>;
  readonly nodes: Node[];
  /** Per node, in `nodes` order, its sorted tokens. */
  readonly tokens: number[][];
}

/** One owned stretch of the ring, (start, end], for pictures and analysis. */
export interface RingArc {
  readonly start: number;
  readonly end: number;
  readonly node: NodeId;
}

interface MutableArc {
  end: number;
  size: number;
  owner: number;
}

export class ConsistentHashRing implements NodeLocator, Partitioner<KeyInput> {
  readonly kind = 'ring';
  readonly options: Required<RingOptions>;
  private members: Node[] = [];
  private indexOf = new Map<NodeId, number>();
  private tokens = new Uint32Array(0);
  private owners = new Uint32Array(0);
  private bucketBits = 8;
  private buckets = new Uint32Array(257);
  private zoneCount = 1;

  constructor(nodes: readonly (NodeSpec | NodeId)[], options: RingOptions = {}) {
    this.options = {
      vnodes: checkInt(options.vnodes ?? RING_DEFAULTS.vnodes, 'vnodes', 1, RING_DEFAULTS.vnodesPerNodeMax),
      tokenAllocation: checkAllocation(options.tokenAllocation ?? RING_DEFAULTS.tokenAllocation),
      seed: checkInt(options.seed ?? RING_DEFAULTS.seed, 'seed', 0, 0xffffffff),
      zoneAware: options.zoneAware ?? RING_DEFAULTS.zoneAware,
    };
    const members = normaliseNodes(nodes);
    const counts = members.map((n) => this.tokenCountFor(n.weight));
    this.checkTotal(counts.reduce((a, b) => a + b, 0));
    this.members = members;
    this.reindexMembers();
    if (this.options.tokenAllocation === 'random') {
      const taken = new Set<number>();
      this.setArcs(members.flatMap((n, i) => randomTokens(n.id, counts[i]!, taken).map((t) => ({ end: t, size: 0, owner: i }))));
    } else {
      this.setArcs(evenTokens(members, counts, this.options.seed));
    }
  }

  /** Rebuilds a ring from saved state, token for token. */
  static fromState(state: RingState): ConsistentHashRing {
    const ring = new ConsistentHashRing(state.nodes, { ...state.options });
    if (!Array.isArray(state.tokens) || state.tokens.length !== ring.members.length) {
      throw new PartitioningError('BAD_ARGUMENT', 'ring state must hold one token list per node');
    }
    const arcs: MutableArc[] = [];
    const seen = new Set<number>();
    state.tokens.forEach((list, owner) => {
      if (!Array.isArray(list) || list.length === 0) {
        throw new PartitioningError('BAD_ARGUMENT', `ring state: node "${ring.members[owner]!.id}" has no tokens`);
      }
      for (const t of list) {
        if (!Number.isInteger(t) || t < 0 || t >= RING_SIZE || seen.has(t)) {
          throw new PartitioningError('BAD_ARGUMENT', `ring state: token ${String(t)} is out of range or repeated`);
        }
        seen.add(t);
        arcs.push({ end: t, size: 0, owner });
      }
    });
    ring.checkTotal(arcs.length);
    ring.setArcs(arcs);
    return ring;
  }

  toState(): RingState {
    const tokens: number[][] = this.members.map(() => []);
    for (let i = 0; i < this.tokens.length; i++) tokens[this.owners[i]!]!.push(this.tokens[i]!);
    return { options: { ...this.options }, nodes: this.members.map((n) => ({ ...n })), tokens };
  }

  nodeIds(): NodeId[] {
    return this.members.map((n) => n.id);
  }

  nodes(): Node[] {
    return this.members.map((n) => ({ ...n }));
  }

  /** Owner index (into nodeIds()) of each token in ring order; a read-only view for walkers. */
  toOwnerWalk(): Readonly<Uint32Array> {
    return this.owners;
  }

  get tokenCount(): number {
    return this.tokens.length;
  }

  /** The node owning a key: the owner of the first token at or after the key's hash, wrapping round. */
  nodeFor(key: KeyInput): NodeId {
    return this.members[this.owners[this.tokenIndexForHash(this.hashKey(key))]!]!.id;
  }

  /** Partition id of a key on a ring is the owning node's index in nodeIds(). */
  partitionFor(key: KeyInput): PartitionId {
    return this.owners[this.tokenIndexForHash(this.hashKey(key))]!;
  }

  partitionIds(): PartitionId[] {
    return this.members.map((_, i) => i);
  }

  hashKey(key: KeyInput): number {
    return hash32(key, this.options.seed);
  }

  /** Index of the first token >= hash (wrapping to 0). */
  tokenIndexForHash(hash: number): number {
    const tokens = this.tokens;
    const b = hash >>> (32 - this.bucketBits);
    let lo = this.buckets[b]!;
    let hi = this.buckets[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (tokens[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === tokens.length ? 0 : lo;
  }

  /**
   * n distinct nodes for a key, walking clockwise. Zone-aware (default): nodes from zones not yet used come
   * first; nodes skipped for their zone fill the remaining places in ring order.
   */
  replicasFor(key: KeyInput, n: number): NodeId[] {
    checkInt(n, 'n', 1, Number.MAX_SAFE_INTEGER);
    const want = Math.min(n, this.members.length);
    const start = this.tokenIndexForHash(this.hashKey(key));
    const chosen: number[] = [];
    const skipped: number[] = [];
    const zonesUsed: string[] = [];
    const zoneAware = this.options.zoneAware && this.zoneCount > 1;
    const total = this.tokens.length;
    for (let step = 0; step < total && chosen.length < want; step++) {
      const owner = this.owners[(start + step) % total]!;
      if (chosen.includes(owner) || skipped.includes(owner)) continue;
      const zone = this.members[owner]!.zone;
      if (zoneAware && zonesUsed.includes(zone)) {
        skipped.push(owner);
        if (zonesUsed.length === this.zoneCount && chosen.length + skipped.length >= want) break;
        continue;
      }
      chosen.push(owner);
      zonesUsed.push(zone);
    }
    for (let i = 0; chosen.length < want && i < skipped.length; i++) chosen.push(skipped[i]!);
    assert(chosen.length === want, () => `replicasFor found ${chosen.length} of ${want} nodes`);
    return chosen.map((i) => this.members[i]!.id);
  }

  /** Adds a node; with balanced tokens it takes its share from the most loaded nodes, and only keys move to it. */
  addNode(spec: NodeSpec | NodeId): void {
    const node = normaliseNode(spec);
    if (this.indexOf.has(node.id)) throw new PartitioningError('DUPLICATE_NODE', `node "${node.id}" is already on the ring`);
    const count = this.tokenCountFor(node.weight);
    this.checkTotal(this.tokens.length + count);
    const owner = this.members.length;
    this.members = [...this.members, node];
    this.reindexMembers();
    this.insertTokens(owner, count);
  }

  /**
   * Removes a node; only its keys move. With balanced tokens its tokens are handed, largest arc first, to
   * the least loaded nodes (so balance holds); with random tokens its arcs pass to the following tokens.
   */
  removeNode(id: NodeId): void {
    const index = this.requireNode(id);
    if (this.members.length === 1) throw new PartitioningError('EMPTY_NODES', `cannot remove "${id}", the last node on the ring`);
    const arcs = this.currentArcs();
    if (this.options.tokenAllocation === 'balanced') handOverArcs(arcs, this.members, index);
    const kept = arcs.filter((a) => a.owner !== index);
    for (const arc of kept) if (arc.owner > index) arc.owner--;
    this.members = this.members.filter((_, i) => i !== index);
    this.reindexMembers();
    this.setArcs(kept);
  }

  /** Changes a node's weight by adding or retiring its tokens; keys move only to or from that node. */
  setWeight(id: NodeId, weight: number): void {
    const index = this.requireNode(id);
    checkWeight(weight, id);
    const node = this.members[index]!;
    const have = this.tokensOf(index).length;
    // Scale the tokens it holds now (which may include ones inherited from removed nodes) by the change.
    const want = Math.max(1, Math.min(RING_DEFAULTS.vnodesPerNodeMax, Math.round((have * weight) / node.weight)));
    this.checkTotal(this.tokens.length - have + want);
    this.members = this.members.map((m, i) => (i === index ? { ...node, weight } : m));
    if (want > have) this.insertTokens(index, want - have);
    else if (want < have) this.retireTokens(index, have - want);
  }

  /** Fraction of the hash space each node owns (sums to 1). */
  ownership(): Map<NodeId, number> {
    const share = new Float64Array(this.members.length);
    for (const arc of this.currentArcs()) share[arc.owner]! += arc.size / RING_SIZE;
    return new Map(this.members.map((n, i) => [n.id, share[i]!]));
  }

  /** Every arc in ring order, for drawing the ring and for analysis. */
  arcs(): RingArc[] {
    const n = this.tokens.length;
    const out: RingArc[] = [];
    for (let i = 0; i < n; i++) {
      const prev = this.tokens[(i + n - 1) % n]!;
      out.push({ start: prev, end: this.tokens[i]!, node: this.members[this.owners[i]!]!.id });
    }
    return out;
  }

  private tokenCountFor(weight: number): number {
    return Math.max(1, Math.min(RING_DEFAULTS.vnodesPerNodeMax, Math.round(this.options.vnodes * weight)));
  }

  private checkTotal(total: number): void {
    if (total > RING_DEFAULTS.tokensMax) {
      throw new PartitioningError('BAD_ARGUMENT', `the ring would hold ${total} tokens, more than ${RING_DEFAULTS.tokensMax}`);
    }
  }

  private requireNode(id: NodeId): number {
    const index = this.indexOf.get(id);
    if (index === undefined) throw new PartitioningError('UNKNOWN_NODE', `node "${String(id)}" is not on the ring`);
    return index;
  }

  private reindexMembers(): void {
    this.indexOf = new Map(this.members.map((n, i) => [n.id, i]));
    this.zoneCount = new Set(this.members.map((n) => n.zone)).size;
  }

  private tokensOf(owner: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.tokens.length; i++) if (this.owners[i] === owner) out.push(this.tokens[i]!);
    return out;
  }

  /** Arcs with their sizes: token i owns (token i-1, token i]. */
  private currentArcs(): MutableArc[] {
    const n = this.tokens.length;
    const arcs: MutableArc[] = new Array<MutableArc>(n);
    for (let i = 0; i < n; i++) {
      const prev = this.tokens[(i + n - 1) % n]!;
      const end = this.tokens[i]!;
      const size = n === 1 ? RING_SIZE : (end - prev + RING_SIZE) % RING_SIZE;
      arcs[i] = { end, size, owner: this.owners[i]! };
    }
    return arcs;
  }

  private insertTokens(owner: number, count: number): void {
    const arcs = this.currentArcs();
    if (this.options.tokenAllocation === 'random') {
      const taken = new Set(arcs.map((a) => a.end));
      const have = arcs.filter((a) => a.owner === owner).length;
      const fresh = randomTokens(this.members[owner]!.id, have + count, taken).slice(have);
      this.setArcs([...arcs, ...fresh.map((t) => ({ end: t, size: 0, owner }))]);
      return;
    }
    this.setArcs([...arcs, ...stealArcs(arcs, this.members, owner, count)]);
  }

  /** Retires tokens whose arcs pass to the least loaded neighbours first. */
  private retireTokens(owner: number, count: number): void {
    let arcs = this.currentArcs();
    const loads = loadsOf(arcs, this.members.length);
    for (let k = 0; k < count; k++) {
      const n = arcs.length;
      let best = -1;
      let bestRatio = Infinity;
      for (let i = 0; i < n; i++) {
        if (arcs[i]!.owner !== owner) continue;
        const heir = arcs[(i + 1) % n]!.owner;
        const ratio = heir === owner ? Infinity : loads[heir]! / this.members[heir]!.weight;
        if (best === -1 || ratio < bestRatio) {
          best = i;
          bestRatio = ratio;
        }
      }
      assert(best >= 0, 'retireTokens: node has no token left to retire');
      const heirArc = arcs[(best + 1) % n]!;
      heirArc.size += arcs[best]!.size;
      loads[heirArc.owner]! += arcs[best]!.size;
      loads[owner]! -= arcs[best]!.size;
      arcs = arcs.filter((_, i) => i !== best);
    }
    this.setArcs(arcs);
  }

  private setArcs(arcs: MutableArc[]): void {
    arcs.sort((a, b) => a.end - b.end);
    const n = arcs.length;
    assert(n > 0, 'ring has no tokens');
    this.tokens = new Uint32Array(n);
    this.owners = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      this.tokens[i] = arcs[i]!.end;
      this.owners[i] = arcs[i]!.owner;
      assert(i === 0 || this.tokens[i]! > this.tokens[i - 1]!, 'ring tokens must be unique');
    }
    this.buildBuckets();
  }

  /** buckets[b] = first token index whose token >= b << (32 - bits); the lookup searches one bucket. */
  private buildBuckets(): void {
    const n = this.tokens.length;
    const bits = Math.min(18, Math.max(8, Math.ceil(Math.log2(n + 1)) + 1));
    const shift = 32 - bits;
    const count = 1 << bits;
    const buckets = new Uint32Array(count + 1);
    let t = 0;
    for (let b = 0; b <= count; b++) {
      const floor = b * 2 ** shift;
      while (t < n && this.tokens[t]! < floor) t++;
      buckets[b] = t;
    }
    this.bucketBits = bits;
    this.buckets = buckets;
  }
}

function checkAllocation(value: TokenAllocation): TokenAllocation {
  if (value !== 'balanced' && value !== 'random') {
    throw new PartitioningError('BAD_ARGUMENT', `tokenAllocation must be "balanced" or "random", got ${String(value)}`);
  }
  return value;
}

function loadsOf(arcs: readonly MutableArc[], members: number): Float64Array {
  const loads = new Float64Array(members);
  for (const arc of arcs) loads[arc.owner]! += arc.size;
  return loads;
}

/** Tokens from hashing `id#i` (rehashing on collisions), as classic rings do. */
function randomTokens(id: NodeId, count: number, taken: Set<number>): number[] {
  const out: number[] = [];
  for (let i = 0, salt = 0; out.length < count; i++) {
    let t = murmur3String(`${id}#${i}`, salt);
    while (taken.has(t)) t = murmur3String(`${id}#${i}`, ++salt);
    taken.add(t);
    out.push(t);
  }
  return out;
}

/** Evenly spaced tokens with owners in a seeded shuffle: every node's share is exactly count/total. */
function evenTokens(members: readonly Node[], counts: readonly number[], seed: number): MutableArc[] {
  const owners: number[] = [];
  counts.forEach((c, i) => {
    for (let k = 0; k < c; k++) owners.push(i);
  });
  let mix = seed;
  for (const m of members) mix = fmix32(mix ^ murmur3String(m.id));
  shuffleInPlace(owners, seededRandom(mix));
  const total = owners.length;
  const step = RING_SIZE / total;
  return owners.map((owner, j) => ({ end: Math.floor((j + 1) * step) - 1, size: step, owner }));
}

/** Gives each arc of `leaving` to the node furthest below its fair share at that moment. */
function handOverArcs(arcs: MutableArc[], members: readonly Node[], leaving: number): void {
  const loads = loadsOf(arcs, members.length);
  const mine = arcs.filter((a) => a.owner === leaving).sort((a, b) => b.size - a.size || a.end - b.end);
  for (const arc of mine) {
    let heir = -1;
    let lowest = Infinity;
    for (let d = 0; d < members.length; d++) {
      if (d === leaving) continue;
      const ratio = loads[d]! / members[d]!.weight;
      if (ratio < lowest) {
        lowest = ratio;
        heir = d;
      }
    }
    assert(heir >= 0, 'handOverArcs: no node left to inherit');
    arc.owner = heir;
    loads[heir]! += arc.size;
  }
}

/**
 * Places `count` new tokens for `owner`, each cutting a piece off the largest arc of the node that is
 * furthest above its fair share, so the newcomer's share comes from where there is most to spare. Every new
 * token lies strictly inside an existing arc, so keys move only from the donor to the newcomer.
 */
function stealArcs(arcs: MutableArc[], members: readonly Node[], owner: number, count: number): MutableArc[] {
  const totalWeight = members.reduce((s, m) => s + m.weight, 0);
  const loads = loadsOf(arcs, members.length);
  const ideal = members.map((m) => (RING_SIZE * m.weight) / totalWeight);
  const byOwner: MutableArc[][] = members.map(() => []);
  for (const arc of arcs) byOwner[arc.owner]!.push(arc);
  const created: MutableArc[] = [];
  let remaining = Math.max(0, ideal[owner]! - loads[owner]!);
  for (let i = 0; i < count; i++) {
    const quota = Math.max(1, Math.floor(remaining / (count - i)));
    let donor = -1;
    let worst = -Infinity;
    for (let d = 0; d < members.length; d++) {
      if (d === owner || byOwner[d]!.length === 0) continue;
      const excess = (loads[d]! - ideal[d]!) / members[d]!.weight;
      if (excess > worst) {
        worst = excess;
        donor = d;
      }
    }
    if (donor === -1) break;
    let arc: MutableArc | undefined;
    for (const a of byOwner[donor]!) if (arc === undefined || a.size > arc.size) arc = a;
    if (arc === undefined || arc.size < 2) break;
    // Taking more than the donor's excess is fine: it then ranks last as a donor until others catch up.
    const take = Math.min(quota, arc.size - 1);
    const start = (arc.end - arc.size + RING_SIZE) % RING_SIZE;
    const piece: MutableArc = { end: (start + take) % RING_SIZE, size: take, owner };
    arc.size -= take;
    loads[donor]! -= take;
    loads[owner]! += take;
    remaining -= take;
    created.push(piece);
    byOwner[owner]!.push(piece);
  }
  return created;
}
