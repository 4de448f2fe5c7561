// What one node knows about its own load: per-partition request rates, latency quantiles, ops/s history
// and hot keys, all in fixed memory. The dispatcher feeds it; a one-second tick at the edge rotates it.
import { keySlot } from '../partitioning/hash.js';
import { SlotPartitioner } from '../partitioning/slots.js';
import { HotKeyTracker, type HotKey } from './hotkeys.js';
import { Series, WindowedCounters, WindowedLatency } from './window.js';

export const MONITOR_LIMITS = Object.freeze({
  tickMs: 1_000,
  /** Per-partition rates and latency quantiles cover this many ticks. */
  windowTicks: 10,
  /** Points kept for the live charts. */
  seriesTicks: 60,
  /** One data command in this many feeds the hot-key sketch (a power of two). */
  hotKeySampleEvery: 4,
  hotKeyCapacity: 64,
  /** Each hot-key window lasts this many ticks; the answer covers two. */
  hotKeyWindowTicks: 5,
  hotKeysReported: 10,
});

export interface NodeReport {
  readonly id: string;
  readonly zone: string;
  readonly uptimeMs: number;
  readonly keys: number;
  readonly usedBytes: number;
  readonly connectedClients: number;
  readonly commandsTotal: number;
  readonly opsPerSec: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Oldest first, one point per tick. */
  readonly opsSeries: number[];
  readonly p99Series: (number | null)[];
  /** Requests per second over the window for each partition this node served (index = partition). */
  readonly partitionOps: number[];
  readonly hotKeys: HotKey[];
  /** Sampled hits behind `hotKeys` (their shares are of this). */
  readonly hotKeySamples: number;
  /** Leader append to follower acknowledgement, p99 over recent acks (null: nothing replicated here). */
  readonly replicationLagP99Ms: number | null;
  /** Followers (per partition led here) missing entries right now. */
  readonly followersBehind: number;
}

export interface MonitorSource {
  readonly id: string;
  readonly zone: string;
  uptimeMs(): number;
  commandsTotal(): number;
  keys(): number;
  usedBytes(): number;
  connectedClients(): number;
  replication?(): { p99Ms: number | null; followersBehind: number } | undefined;
}

export class NodeMonitor {
  private readonly slots: SlotPartitioner;
  private readonly partitionHits: WindowedCounters;
  private readonly latency = new WindowedLatency(MONITOR_LIMITS.windowTicks);
  private readonly hot = new HotKeyTracker(MONITOR_LIMITS.hotKeyCapacity);
  private readonly ops = new Series(MONITOR_LIMITS.seriesTicks);
  private readonly p99 = new Series<number | null>(MONITOR_LIMITS.seriesTicks);
  private sampleCounter = 0;
  private ticks = 0;
  private lastCommands: number;
  private lastOpsPerSec = 0;

  constructor(
    private readonly source: MonitorSource,
    readonly partitions: number,
  ) {
    this.slots = new SlotPartitioner({ partitions });
    this.partitionHits = new WindowedCounters(partitions, MONITOR_LIMITS.windowTicks + 1);
    this.lastCommands = source.commandsTotal();
  }

  /** A data command served here for `key` (the client's bytes), with its slot when the router knows it. */
  recordKey(key: Buffer, slot?: number): void {
    // A standalone node has one partition: no need to hash the key for it.
    this.partitionHits.add(this.partitions === 1 ? 0 : this.slots.partitionForSlot(slot ?? keySlot(key)));
    if ((++this.sampleCounter & (MONITOR_LIMITS.hotKeySampleEvery - 1)) === 0) this.hot.offer(key.toString('latin1'));
  }

  observeLatency(seconds: number): void {
    this.latency.observe(seconds);
  }

  /** Called every MONITOR_LIMITS.tickMs. */
  tick(): void {
    const commands = this.source.commandsTotal();
    this.lastOpsPerSec = Math.max(0, commands - this.lastCommands) / (MONITOR_LIMITS.tickMs / 1000);
    this.lastCommands = commands;
    this.ops.push(this.lastOpsPerSec);
    this.latency.rotate();
    this.p99.push(this.latency.quantileMs(0.99) ?? null);
    this.partitionHits.rotate();
    if (++this.ticks % MONITOR_LIMITS.hotKeyWindowTicks === 0) this.hot.rotate();
  }

  hotKeys(count: number = MONITOR_LIMITS.hotKeysReported): HotKey[] {
    return this.hot.top(count);
  }

  report(): NodeReport {
    const { sums, buckets } = this.partitionHits.totals();
    const seconds = Math.max(1, buckets) * (MONITOR_LIMITS.tickMs / 1000);
    return {
      id: this.source.id,
      zone: this.source.zone,
      uptimeMs: this.source.uptimeMs(),
      keys: this.source.keys(),
      usedBytes: this.source.usedBytes(),
      connectedClients: this.source.connectedClients(),
      commandsTotal: this.source.commandsTotal(),
      opsPerSec: this.lastOpsPerSec,
      p50Ms: this.latency.quantileMs(0.5) ?? null,
      p99Ms: this.latency.quantileMs(0.99) ?? null,
      opsSeries: this.ops.toArray(),
      p99Series: this.p99.toArray(),
      partitionOps: Array.from(sums, (s) => Math.round((s / seconds) * 10) / 10),
      hotKeys: this.hotKeys(),
      hotKeySamples: this.hot.total,
      replicationLagP99Ms: this.source.replication?.()?.p99Ms ?? null,
      followersBehind: this.source.replication?.()?.followersBehind ?? 0,
    };
  }
}
