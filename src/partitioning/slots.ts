// Fixed hash slots grouped into partitions, as Redis Cluster (16384 slots) and Couchbase (vBuckets) do:
// the key-to-slot map never changes, so moving data means reassigning whole partitions, never rehashing keys.
import { PartitioningError } from '../errors.js';
import { REDIS_SLOT_COUNT, keySlot, type KeyInput } from './hash.js';
import { checkInt, type Partitioner, type PartitionId } from './types.js';

export interface SlotPartitionerOptions {
  /** Slot count: a power of two up to 16384 (so it agrees with Redis's CRC16 slots). Default 16384. */
  readonly slotCount?: number;
  /** Number of partitions, each a contiguous run of slots. Default: one per slot. */
  readonly partitions?: number;
}

/** Inclusive slot range [first, last]. */
export interface SlotRange {
  readonly first: number;
  readonly last: number;
}

export class SlotPartitioner implements Partitioner<KeyInput> {
  readonly kind = 'slots';
  readonly slotCount: number;
  readonly partitionCount: number;
  private readonly slotToPartition: Uint16Array;
  private readonly mask: number;

  constructor(options: SlotPartitionerOptions = {}) {
    const slotCount = checkInt(options.slotCount ?? REDIS_SLOT_COUNT, 'slotCount', 1, REDIS_SLOT_COUNT);
    if ((slotCount & (slotCount - 1)) !== 0) {
      throw new PartitioningError('BAD_ARGUMENT', `slotCount must be a power of two up to 16384, got ${slotCount}`);
    }
    this.slotCount = slotCount;
    this.mask = slotCount - 1;
    this.partitionCount = checkInt(options.partitions ?? slotCount, 'partitions', 1, slotCount);
    this.slotToPartition = new Uint16Array(slotCount);
    for (let p = 0; p < this.partitionCount; p++) {
      const { first, last } = this.slotRange(p);
      this.slotToPartition.fill(p, first, last + 1);
    }
  }

  /** The slot of a key, honouring `{hash tags}`; with 16384 slots this is exactly Redis's CLUSTER KEYSLOT. */
  slotFor(key: KeyInput): number {
    return keySlot(key) & this.mask;
  }

  partitionFor(key: KeyInput): PartitionId {
    return this.slotToPartition[keySlot(key) & this.mask]!;
  }

  partitionForSlot(slot: number): PartitionId {
    checkInt(slot, 'slot', 0, this.slotCount - 1);
    return this.slotToPartition[slot]!;
  }

  /** Slots of partition p: an even split in which partition sizes differ by at most one slot. */
  slotRange(p: PartitionId): SlotRange {
    checkInt(p, 'partition', 0, this.partitionCount - 1);
    const first = Math.floor((p * this.slotCount) / this.partitionCount);
    const next = Math.floor(((p + 1) * this.slotCount) / this.partitionCount);
    return { first, last: next - 1 };
  }

  partitionIds(): PartitionId[] {
    return Array.from({ length: this.partitionCount }, (_, i) => i);
  }
}
