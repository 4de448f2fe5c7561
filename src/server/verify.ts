// Replica validation on a partition's leader (`atoll verify`, and the controller after each rebalance move):
// hold the partition's commands, wait until every live replica is settled at the same sequence number, compare
// bucket digests (src/replication/verify.ts), repair differing buckets on a follower from the leader's entries,
// release. The hold lasts the settling (at most VERIFY_LIMITS.holdMsMax) and one round of digests and repairs
// (a repair sends at most VERIFY_LIMITS.repairBytesMax).
import { inSync, type ClusterNode, type PartitionMap } from '../cluster/map.js';
import { AtollError } from '../errors.js';
import type { ReplicationManager } from '../replication/replicator.js';
import { bucketOf, counts, differingBuckets, digestEntries, VERIFY_LIMITS, type PartitionDigest } from '../replication/verify.js';
import type { StorageEngine } from '../storage/engine.js';
import { fromWire, partitionEntries, partitionKeys, valueBytes, type WireEntry } from '../storage/wire.js';
import type { PeerClient } from '../transport/peer.js';

export type ReplicaVerdict = 'match' | 'mismatch' | 'repaired' | 'busy' | 'unreachable' | 'catching-up';

export interface PartitionVerdict {
  readonly partition: number;
  readonly leader: string;
  /** The sequence number every compared replica stood at. */
  readonly seq: number;
  readonly keys: number;
  readonly replicas: { id: string; verdict: ReplicaVerdict; buckets?: number[]; detail?: string }[];
  /** How long the partition's commands were held. */
  readonly holdMs: number;
}

export interface VerifierContext {
  readonly selfId: string;
  readonly engine: StorageEngine;
  readonly partitions: number;
  readonly replication: ReplicationManager;
  currentMap(): PartitionMap | undefined;
  isLive(id: string): boolean;
  hold(partition: number): () => void;
  peer(node: ClusterNode): PeerClient;
  nowMs(): number;
  sleep(ms: number): Promise<void>;
}

const POLL_MS = 2;

export function createVerifier(ctx: VerifierContext): {
  verify(partitions: readonly number[], repair: boolean): Promise<PartitionVerdict[]>;
  digest(body: Record<string, unknown>): { seq?: number; digest?: PartitionDigest };
  repair(body: Record<string, unknown>): { seq?: number; digest?: PartitionDigest };
} {
  const entriesOf = (p: number): WireEntry[] => partitionEntries(ctx.engine, ctx.partitions, p);

  /** Leader side, one partition. */
  async function verifyOne(p: number, repair: boolean): Promise<PartitionVerdict> {
    const map = ctx.currentMap();
    const entry = map?.partitions[p];
    if (map === undefined || entry === undefined) throw new AtollError('UNKNOWN_PARTITION', `partition ${p} does not exist`);
    if (entry.replicas[0] !== ctx.selfId) throw new AtollError('STALE_EPOCH', `node ${ctx.selfId} does not lead partition ${p} (${entry.replicas[0]} does)`);
    const isr = inSync(entry);
    const followers = entry.replicas.slice(1);
    const replicas: PartitionVerdict['replicas'] = [];
    const log = ctx.replication.logOf(p);
    const compared = followers.filter((f) => isr.includes(f) && ctx.isLive(f));
    // First, without holding anyone, until the followers are close behind.
    const preDeadline = ctx.nowMs() + VERIFY_LIMITS.settleWaitMs;
    while (ctx.nowMs() < preDeadline && !compared.every((f) => (log?.followers.get(f)?.ackSeq ?? 0) >= (log?.lastSeq ?? 0))) await ctx.sleep(POLL_MS);
    const started = ctx.nowMs();
    const release = ctx.hold(p);
    let seq = 0;
    let keys = 0;
    try {
      // Commands already running finish; new ones wait. Then every in-sync follower catches up to the leader.
      const deadline = started + VERIFY_LIMITS.holdMsMax;
      for (;;) {
        const settled = ctx.replication.settledSeq(p);
        const caughtUp = settled !== undefined && compared.every((f) => (log?.followers.get(f)?.ackSeq ?? 0) >= settled);
        if (caughtUp) {
          seq = settled;
          break;
        }
        if (ctx.nowMs() > deadline) {
          for (const f of followers) replicas.push({ id: f, verdict: 'busy', detail: `replicas did not settle within ${VERIFY_LIMITS.holdMsMax} ms` });
          return { partition: p, leader: ctx.selfId, seq: settled ?? 0, keys: 0, replicas, holdMs: ctx.nowMs() - started };
        }
        await ctx.sleep(POLL_MS);
      }
      const refMs = ctx.nowMs();
      const mine = entriesOf(p);
      const digest = digestEntries(mine, refMs);
      keys = digest.keys;
      for (const f of followers) {
        if (!compared.includes(f)) {
          replicas.push({ id: f, verdict: ctx.isLive(f) ? 'catching-up' : 'unreachable' });
          continue;
        }
        const node = map.nodes[f];
        if (node === undefined) continue;
        try {
          const theirs = (await ctx.peer(node).request({ op: 'digest', partition: p, seq, refMs }, VERIFY_LIMITS.digestTimeoutMs)) as { seq?: number; digest?: PartitionDigest };
          if (theirs.digest === undefined) {
            replicas.push({ id: f, verdict: 'busy', detail: `follower at seq ${String(theirs.seq)}, leader at ${seq}` });
            continue;
          }
          const diff = differingBuckets(digest, theirs.digest);
          if (diff.length === 0) {
            replicas.push({ id: f, verdict: 'match' });
            continue;
          }
          if (!repair) {
            replicas.push({ id: f, verdict: 'mismatch', buckets: diff });
            continue;
          }
          const wanted = new Set(diff);
          const send = mine.filter((e) => wanted.has(bucketOf(e[0])));
          const bytes = send.reduce((a, e) => a + e[0].length + valueBytes(e), 0);
          if (bytes > VERIFY_LIMITS.repairBytesMax) {
            replicas.push({ id: f, verdict: 'mismatch', buckets: diff, detail: `repair needs ${bytes} bytes, more than ${VERIFY_LIMITS.repairBytesMax}; run atoll verify again per partition` });
            continue;
          }
          const after = (await ctx.peer(node).request({ op: 'repair', partition: p, seq, refMs, buckets: diff, entries: send }, VERIFY_LIMITS.digestTimeoutMs)) as { seq?: number; digest?: PartitionDigest };
          const left = after.digest === undefined ? diff : differingBuckets(digest, after.digest);
          replicas.push(left.length === 0 ? { id: f, verdict: 'repaired', buckets: diff } : { id: f, verdict: 'mismatch', buckets: left, detail: 'still differs after repair' });
        } catch (e) {
          replicas.push({ id: f, verdict: 'unreachable', detail: (e as Error).message });
        }
      }
    } finally {
      release();
    }
    return { partition: p, leader: ctx.selfId, seq, keys, replicas, holdMs: ctx.nowMs() - started };
  }

  /** Follower side: the digest at `seq`, or only our seq if we are not settled there. */
  function digestAt(body: Record<string, unknown>): { seq?: number; digest?: PartitionDigest } {
    const p = Number(body.partition);
    const seq = Number(body.seq);
    const refMs = Number(body.refMs);
    if (!Number.isInteger(p) || p < 0 || p >= ctx.partitions || !Number.isInteger(seq) || !Number.isFinite(refMs)) throw new AtollError('BAD_ARGUMENT', 'digest needs partition, seq and refMs');
    const settled = ctx.replication.settledSeq(p);
    if (settled !== seq) return settled === undefined ? {} : { seq: settled };
    return { seq, digest: digestEntries(entriesOf(p), refMs) };
  }

  return {
    async verify(partitions, repair) {
      const out: PartitionVerdict[] = [];
      for (const p of partitions) out.push(await verifyOne(p, repair));
      return out;
    },
    digest: digestAt,
    repair(body) {
      // Replace the named buckets by the leader's entries, at the same seq only, in one transaction.
      const p = Number(body.partition);
      const seq = Number(body.seq);
      if (!Number.isInteger(p) || p < 0 || p >= ctx.partitions || !Array.isArray(body.buckets) || !Array.isArray(body.entries)) throw new AtollError('BAD_ARGUMENT', 'repair needs partition, seq, buckets and entries');
      if (ctx.replication.settledSeq(p) !== seq) return digestAt(body);
      const buckets = new Set((body.buckets as unknown[]).map(Number));
      const incoming = (body.entries as unknown[]).map(fromWire);
      const keep = new Set(incoming.map((d) => d.key));
      const refMs = Number(body.refMs);
      const run = (): void => {
        for (const k of partitionKeys(ctx.engine, ctx.partitions, p)) {
          if (keep.has(k) || !buckets.has(bucketOf(Buffer.from(k, 'latin1')))) continue;
          // Keys about to expire are left to expiry: the leader left them out of its digest too.
          if (counts(ctx.engine.expiresAt(k) ?? 0, refMs)) ctx.engine.delete(k);
        }
        for (const d of incoming) ctx.engine.put(d.key, d.value, d.expiresAtMs);
      };
      if (ctx.engine.batch !== undefined) ctx.engine.batch(run);
      else run();
      return digestAt(body);
    },
  };
}

/**
 * Verifies `partitions` across the cluster: asks each partition's leader (VERIFY_LIMITS.partitionsPerRequestMax
 * at a time), calling `progress` after each answer. A leader that cannot be asked gives 'unreachable' verdicts.
 */
export async function verifyAcross(
  map: PartitionMap,
  partitions: readonly number[],
  repair: boolean,
  request: (node: ClusterNode, body: Record<string, unknown>, timeoutMs: number) => Promise<unknown>,
  progress?: (done: number, total: number) => void,
): Promise<PartitionVerdict[]> {
  const byLeader = new Map<string, number[]>();
  for (const p of partitions) {
    const leader = map.partitions[p]!.replicas[0]!;
    byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
  }
  const out: PartitionVerdict[] = [];
  await Promise.all(
    [...byLeader].map(async ([leader, list]) => {
      for (let i = 0; i < list.length; i += VERIFY_LIMITS.partitionsPerRequestMax) {
        const chunk = list.slice(i, i + VERIFY_LIMITS.partitionsPerRequestMax);
        const node = map.nodes[leader];
        try {
          if (node === undefined) throw new AtollError('UNKNOWN_NODE', `leader ${leader} is not in the map`);
          out.push(...((await request(node, { op: 'verify', partitions: chunk, repair }, chunk.length * (VERIFY_LIMITS.settleWaitMs + VERIFY_LIMITS.holdMsMax + 2 * VERIFY_LIMITS.digestTimeoutMs))) as PartitionVerdict[]));
        } catch (e) {
          for (const p of chunk) out.push({ partition: p, leader, seq: 0, keys: 0, holdMs: 0, replicas: map.partitions[p]!.replicas.map((id) => ({ id, verdict: 'unreachable' as const, detail: (e as Error).message })) });
        }
        progress?.(out.length, partitions.length);
      }
    }),
  );
  return out.sort((a, b) => a.partition - b.partition);
}

/** Counts of verdicts over partitions' followers. */
export function tallyVerdicts(verdicts: readonly PartitionVerdict[]): Record<ReplicaVerdict, number> {
  const t: Record<ReplicaVerdict, number> = { match: 0, mismatch: 0, repaired: 0, busy: 0, unreachable: 0, 'catching-up': 0 };
  for (const v of verdicts) for (const r of v.replicas) t[r.verdict]++;
  return t;
}
