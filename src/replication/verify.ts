// Replica validation, pure: a partition's contents summed up as a fixed number of bucket digests (a one-level
// Merkle tree: keys fall into buckets by hash, each bucket is the SHA-256 of its entries in key order), so two
// replicas compare in a few hundred bytes and a mismatch names the buckets to repair rather than the partition.
import { createHash } from 'node:crypto';
import type { WireEntry } from '../storage/wire.js';

export const VERIFY_LIMITS = Object.freeze({
  /** Buckets per partition digest. */
  buckets: 32,
  /** Keys expiring within this much of the reference time are left out on every replica (they may be gone on some). */
  expiryMarginMs: 5_000,
  /** A follower's digest or repair answers within this. */
  digestTimeoutMs: 5_000,
  /** Bytes of entries one repair may send; larger differences are reported, not repaired in one go. */
  repairBytesMax: 8 * 1024 * 1024,
  /** How long a verification waits, holding nothing, for the followers to come close behind the leader. */
  settleWaitMs: 1_000,
  /** How long it then holds the partition's commands at most for the replicas to settle (digests come after). */
  holdMsMax: 100,
  /** Partitions per verify request to one leader. */
  partitionsPerRequestMax: 64,
});

export function bucketOf(key: Buffer): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 16777619) >>> 0;
  return h % VERIFY_LIMITS.buckets;
}

/** Whether an entry counts in a digest made at `refMs` (not expiring soon enough to differ between replicas). */
export function counts(expiresAtMs: number, refMs: number): boolean {
  return expiresAtMs === 0 || expiresAtMs > refMs + VERIFY_LIMITS.expiryMarginMs;
}

export interface PartitionDigest {
  /** Hex SHA-256 per bucket. */
  readonly buckets: string[];
  readonly keys: number;
}

/** The digest of a partition's entries; order of `entries` does not matter. Hash fields are taken in sorted order. */
export function digestEntries(entries: readonly WireEntry[], refMs: number): PartitionDigest {
  const byBucket: WireEntry[][] = Array.from({ length: VERIFY_LIMITS.buckets }, () => []);
  let keys = 0;
  for (const e of entries) {
    if (!counts(e[3], refMs)) continue;
    byBucket[bucketOf(e[0])]!.push(e);
    keys++;
  }
  const buckets = byBucket.map((list) => {
    const h = createHash('sha256');
    list.sort((a, b) => Buffer.compare(a[0], b[0]));
    for (const e of list) {
      // Length-prefixed fields: no two different entries hash the same bytes.
      const part = (b: Buffer): void => {
        const len = Buffer.allocUnsafe(4);
        len.writeUInt32BE(b.length);
        h.update(len);
        h.update(b);
      };
      part(e[0]);
      h.update(e[1]);
      const exp = Buffer.allocUnsafe(8);
      exp.writeDoubleBE(e[3]);
      h.update(exp);
      if (e[1] === 's' || e[1] === 'x') part(e[2]);
      // Lists in their order; sorted sets in theirs (score then member), the same on every replica.
      else if (e[1] === 'l' || e[1] === 'z') for (const m of e[2]) part(m);
      else if (e[1] === 'S') {
        // Members in byte order: replicas may hold the same set in different insertion orders.
        for (const m of [...e[2]].sort(Buffer.compare)) part(m);
      } else {
        const pairs: [Buffer, Buffer][] = [];
        for (let i = 0; i < e[2].length; i += 2) pairs.push([e[2][i]!, e[2][i + 1]!]);
        pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
        for (const [f, v] of pairs) {
          part(f);
          part(v);
        }
      }
    }
    return h.digest('hex');
  });
  return { buckets, keys };
}

/** Buckets whose digests differ. */
export function differingBuckets(a: PartitionDigest, b: PartitionDigest): number[] {
  const out: number[] = [];
  for (let i = 0; i < VERIFY_LIMITS.buckets; i++) if (a.buckets[i] !== b.buckets[i]) out.push(i);
  return out;
}
