// Replication of a node's partitions over the peer transport. As leader: writes staged by commands become
// log entries once the local transaction commits, stream to followers (batched across partitions, bounded in
// flight), commit under the cluster's ack mode, and release their clients' replies; lagging followers leave
// the in-sync set and caught-up ones rejoin, both by an epoch CAS on the map. As follower: apply entries in
// order, durably, then acknowledge; take snapshots in bounded chunks when the log cannot serve. Every message
// carries the partition's map epoch: a replica refuses anything older than it has seen (fencing).
import { strict as assert } from 'node:assert';
import type { Logger } from 'pino';
import { inSync, type PartitionEntry, type PartitionMap } from '../cluster/map.js';
import { AtollError } from '../errors.js';
import { keySlot } from '../partitioning/hash.js';
import { SlotPartitioner } from '../partitioning/slots.js';
import { fromWire, partitionKeys, toWire, valueBytes, type WireEntry } from '../storage/wire.js';
import { applyDelta, deltaBytes, deltaOf, isDelta, type DeltaEntry } from '../storage/delta.js';
import type { StorageEngine } from '../storage/engine.js';
import { ReplicaLog, type AckMode, type Effect, type Position, type TermStart } from './log.js';

export const REPLICATOR_LIMITS = Object.freeze({
  /** Requests in flight to one follower node. */
  inflightPerFollowerMax: 4,
  /** Entries and bytes in one replication request (all partitions together). */
  requestEntriesMax: 2_000,
  requestBytesMax: 1024 * 1024,
  snapshotChunkKeysMax: 1_000,
  snapshotChunkBytesMax: 1024 * 1024,
  /** A throttled copy may run ahead of its rate by this much time (one burst), so small chunks are not delayed. */
  copyBurstMs: 200,
  requestTimeoutMs: 2_000,
  /** After a failed request, wait this long before probing the follower again. */
  retryAfterMs: 200,
  /** The ISR is checked (and changed by CAS) at most this often. */
  isrCheckEveryMs: 250,
  /** A snapshot waits at most this long for its follower to leave the in-sync set before emptying its copy. */
  leaveIsrWaitMs: 10_000,
  /** A command waiting for its partition's leader to be ready (prior-term entries committed) waits this long. */
  readyWaitMs: 5_000,
  /** An idle follower hears from its leader at least this often (READONLY reads measure staleness by it). */
  heartbeatEveryMs: 250,
  /** Lag samples kept for INFO's quantiles. */
  lagSamplesMax: 10_000,
  /** The quantiles are over acknowledgements of the last this long (a stall ages out; it does not linger). */
  lagWindowMs: 30_000,
  /** Keys per scan page when a snapshot looks for its partition's keys (the scan yields between pages). */
  scanPageKeys: 2_000,
});

/**
 * ATOLL_REPLICATION_DELTAS=off replicates every write as whole values (the behaviour before deltas), for
 * comparison (`npm run bench -- collections`) and as an escape hatch.
 */
const DELTAS_ON = process.env.ATOLL_REPLICATION_DELTAS !== 'off';

/** A log entry's key state: the whole value, or the changes to it (storage/delta.ts). */
type Wire = WireEntry | DeltaEntry;

/** One partition's share of a replication request. */
type Part =
  | { p: number; epoch: number; kind: 'probe' }
  | { p: number; epoch: number; kind: 'beat'; lastSeq: number }
  | { p: number; epoch: number; kind: 'append'; prevSeq: number; prevTerm: string; entries: [number, string, Effect<Wire>[]][] }
  | { p: number; epoch: number; kind: 'snap-begin'; base: Position; history: TermStart[] }
  | { p: number; epoch: number; kind: 'snap-chunk'; entries: Wire[] }
  | { p: number; epoch: number; kind: 'snap-end' };

type PartResult = { ack: number } | { pos: Position } | { stale: number } | { ok: true } | { diverged: Position };

/** A request/reply link to another node (the peer transport, or a simulated network in tests). */
export interface PeerLink {
  request(body: unknown, timeoutMs: number): Promise<unknown>;
}

export interface ReplicationHost {
  readonly selfId: string;
  readonly engine: StorageEngine;
  readonly partitions: number;
  readonly ackMode: () => AckMode;
  nowMs(): number;
  newTerm(): string;
  peer(id: string): PeerLink | undefined;
  /** Runs `fn` after `delayMs` (0: after the current turn). Timers live at the edge (or in a simulator). */
  schedule(delayMs: number, fn: () => void): void;
  /** Runs `fn` every `everyMs` until the returned function is called. */
  every(everyMs: number, fn: () => void): () => void;
  /** Writes a map derived from the current one with an epoch CAS; resolves whether it was written and adopted. */
  updateMap(change: (map: PartitionMap) => PartitionMap | undefined): Promise<boolean>;
  /** A peer refused us with a newer epoch: re-read the map. */
  refresh(): void;
  /** Whether this node's coordinator lease can still be trusted (leaders stop serving when not). */
  leaseValid(): boolean;
  /** This node no longer holds partition `p` (it moved away): delete its keys. */
  dropPartition?(p: number): void;
  /** Bytes per second this node may spend copying snapshots (rebalance throttle); 0 or absent: unthrottled. */
  copyRateBytesPerSec?(): number;
  readonly log?: Logger;
}

interface Waiter {
  seq: number;
  resolve(): void;
  reject(e: Error): void;
}

interface ReplicaWaiter {
  p: number;
  seq: number;
  count: number;
  resolve(n: number): void;
}

interface Staged {
  p: number;
  effects: Effect<Wire>[];
  bytes: number;
  keys: string[];
  waiter: Waiter;
}

function effectBytes(effects: readonly Effect<Wire>[]): number {
  let n = 0;
  for (const [k, v] of effects) {
    n += k.length + 16;
    if (v !== null) n += isDelta(v) ? deltaBytes(v) : valueBytes(v);
  }
  return n;
}

/** The engine record holding a partition's log position, written in the same transaction as its data. */
function positionRecord(p: number): string {
  return `replication-position:${p}`;
}

function encodePosition(pos: Position): Buffer {
  return Buffer.from(`${pos.seq}:${pos.term}`);
}

function decodePosition(b: Buffer): Position | undefined {
  const m = /^(\d+):(.*)$/s.exec(b.toString());
  return m === null ? undefined : { seq: Number(m[1]), term: m[2]! };
}

/** A write that may or may not survive: the client must treat its outcome as unknown. */
export function leadershipLost(p: number, why: string): AtollError {
  return new AtollError('LEADERSHIP_LOST', `TRYAGAIN partition ${p}: ${why}; the write may or may not have been applied`);
}

export class ReplicationManager {
  private readonly logs = new Map<number, ReplicaLog<Wire>>();
  private map: PartitionMap | undefined;
  private staged: Staged[] = [];
  private readonly waiters = new Map<number, Waiter[]>();
  /** Keys with writes not yet committed, per partition (key -> last seq): reads of them wait. */
  private readonly pendingKeys = new Map<number, Map<string, number>>();
  private readonly keyWaiters = new Map<number, { seq: number; resolve(): void }[]>();
  private readonly readyWaiters = new Map<number, (() => void)[]>();
  private readonly inflight = new Map<string, number>();
  private readonly retryAt = new Map<string, number>();
  private kickScheduled = false;
  private isrBusy = false;
  private readonly reasserting = new Set<number>();
  /** Follower: when each partition's leader last reached us with everything it had (local clock). */
  private readonly freshAt = new Map<number, number>();
  /** Leader: when each follower node was last sent anything. */
  private readonly sentAt = new Map<string, number>();
  /** Followers on their way into a partition's ISR (the map CAS is in flight). */
  private readonly joining = new Map<number, Set<string>>();
  private readonly replicaWaiters = new Set<ReplicaWaiter>();
  /** Follower: snapshots being received (their base position and the leader's terms). */
  private readonly incoming = new Map<number, { base: Position; history: TermStart[] }>();
  private readonly stopTicking: () => void;
  private readonly slots: SlotPartitioner;
  private closed = false;
  /** Recent replication lags (leader append to follower ack, ms), a bounded ring for quantiles. */
  private readonly lags = new Float64Array(REPLICATOR_LIMITS.lagSamplesMax);
  /** When each lag sample was taken (ms), for the window. */
  private readonly lagAt = new Float64Array(REPLICATOR_LIMITS.lagSamplesMax);
  private lagCount = 0;
  /** Figures for INFO and the dashboard. */
  readonly stats = { appended: 0, committed: 0, applied: 0, snapshotsSent: 0, snapshotsReceived: 0, staleRefused: 0, isrChanges: 0, deltaEffects: 0, wholeEffects: 0, deltaRefused: 0 };

  constructor(private readonly host: ReplicationHost) {
    this.slots = new SlotPartitioner({ partitions: host.partitions });
    this.stopTicking = host.every(REPLICATOR_LIMITS.isrCheckEveryMs, () => this.tick());
  }

  close(): void {
    this.closed = true;
    this.stopTicking();
    for (const p of this.logs.keys()) this.failWaiters(p, 'the node is shutting down');
  }

  /**
   * The sequence number this replica's copy of `p` stands at, when it is settled: a follower with no snapshot
   * coming in, or a leader with everything committed. Replicas settled at the same seq hold the same data.
   */
  settledSeq(p: number): number | undefined {
    const log = this.logs.get(p);
    if (log === undefined) return 0;
    if (log.role === 'leader') return log.commitSeq === log.lastSeq ? log.lastSeq : undefined;
    return this.incoming.has(p) ? undefined : log.lastSeq;
  }

  logOf(p: number): ReplicaLog<Wire> | undefined {
    return this.logs.get(p);
  }

  /** The partition's log, created on first use from the position stored with the data (after a restart). */
  private logFor(p: number): ReplicaLog<Wire> {
    let log = this.logs.get(p);
    if (log !== undefined) return log;
    log = new ReplicaLog<Wire>(p);
    const stored = this.host.engine.getMeta?.(positionRecord(p));
    const pos = stored === undefined ? undefined : decodePosition(stored);
    if (pos !== undefined) log.restore(pos);
    this.logs.set(p, log);
    return log;
  }

  private persistPosition(p: number, pos: Position): void {
    this.host.engine.putMeta?.(positionRecord(p), encodePosition(pos));
  }

  private entry(p: number): PartitionEntry | undefined {
    return this.map?.partitions[p];
  }

  private replicated(p: number): boolean {
    return (this.entry(p)?.replicas.length ?? 1) > 1;
  }

  /** Follows a newly adopted map: become leader, step down, track followers, learn epochs. */
  adoptMap(map: PartitionMap): void {
    const prev = this.map;
    this.map = map;
    const now = this.host.nowMs();
    const self = this.host.selfId;
    // Maps from the coordinator's cache share unchanged entries, so only changed partitions are visited.
    const same = prev !== undefined && prev.partitions.length === map.partitions.length;
    const counts = { led: 0, steppedDown: 0, dropped: 0 };
    map.partitions.forEach((e, p) => {
      // An unchanged entry is skipped unless this replica's role no longer matches it (fenced, deposed).
      if (same && prev.partitions[p] === e && this.roleMatches(p, e)) return;
      if (!e.replicas.includes(self)) {
        const old = this.logs.get(p);
        if (old === undefined) return;
        if (old.role === 'leader') this.stepDown(p, old, e.epoch, 'the partition moved away', true);
        this.logs.delete(p);
        this.freshAt.delete(p);
        this.incoming.delete(p);
        this.persistPosition(p, { term: '', seq: 0 });
        this.host.dropPartition?.(p);
        counts.dropped++;
        return;
      }
      const log = this.logFor(p);
      const leads = e.replicas[0] === self;
      if (leads && log.role !== 'leader') {
        log.becomeLeader(Math.max(e.epoch, log.epoch), this.host.newTerm(), e.replicas.slice(1), now);
        counts.led++;
      } else if (leads) {
        log.epoch = Math.max(log.epoch, e.epoch);
        for (const f of e.replicas.slice(1)) if (!log.followers.has(f)) log.followers.set(f, { ackSeq: 0, nextSeq: log.lastSeq + 1, mode: 'probe', lastAckMs: now });
        for (const f of [...log.followers.keys()]) if (!e.replicas.includes(f)) log.followers.delete(f);
      } else if (log.role === 'leader') {
        this.stepDown(p, log, e.epoch, `${e.replicas[0]} leads it now`, true);
        counts.steppedDown++;
      } else log.epoch = Math.max(log.epoch, e.epoch);
      if (leads) this.advance(p);
    });
    // One line per map adopted, with counts, not one per partition.
    if (counts.led + counts.steppedDown + counts.dropped > 0) this.host.log?.info({ epoch: map.epoch, ...counts }, 'partition roles changed');
    this.kick();
  }

  private roleMatches(p: number, e: PartitionEntry): boolean {
    const log = this.logs.get(p);
    if (log === undefined) return !e.replicas.includes(this.host.selfId);
    return (log.role === 'leader') === (e.replicas[0] === this.host.selfId);
  }

  private stepDown(p: number, log: ReplicaLog<Wire>, epoch: number, why: string, quiet = false): void {
    log.becomeFollower(epoch);
    this.failWaiters(p, why);
    if (!quiet) this.host.log?.info({ partition: p, epoch }, `stepped down as leader: ${why}`);
  }

  private failWaiters(p: number, why: string): void {
    const list = this.waiters.get(p) ?? [];
    this.waiters.delete(p);
    for (const w of list) w.reject(leadershipLost(p, why));
    this.pendingKeys.delete(p);
    for (const k of this.keyWaiters.get(p) ?? []) k.resolve();
    this.keyWaiters.delete(p);
    for (const r of this.readyWaiters.get(p) ?? []) r();
    this.readyWaiters.delete(p);
  }

  /**
   * Before a command runs here as leader: undefined to go ahead, a promise to retry it after, or an error
   * text. Writes and reads wait while the leader has entries from earlier terms to commit; reads also wait
   * for uncommitted writes to their keys, so nothing uncommitted is ever read.
   */
  admit(p: number, keys: readonly Buffer[], write: boolean): undefined | Promise<void> | string {
    if (!this.replicated(p)) return undefined;
    const log = this.logs.get(p);
    if (log === undefined || log.role !== 'leader') return `TRYAGAIN partition ${p} is changing leader`;
    if (!this.host.leaseValid()) return `TRYAGAIN this node cannot confirm its coordinator lease; it does not serve partition ${p} until it can`;
    if (this.host.ackMode() !== 'async' && log.commitSeq < log.termStartSeq) {
      return this.waitReady(p);
    }
    if (write) return undefined;
    const pending = this.pendingKeys.get(p);
    if (pending === undefined || pending.size === 0) return undefined;
    let need = 0;
    for (const k of keys) need = Math.max(need, pending.get(k.toString('latin1')) ?? 0);
    if (need === 0 || need <= log.commitSeq) return undefined;
    return new Promise<void>((resolve) => {
      let list = this.keyWaiters.get(p);
      if (list === undefined) this.keyWaiters.set(p, (list = []));
      list.push({ seq: need, resolve });
    });
  }

  private waitReady(p: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let list = this.readyWaiters.get(p);
      if (list === undefined) this.readyWaiters.set(p, (list = []));
      list.push(resolve);
      this.host.schedule(REPLICATOR_LIMITS.readyWaitMs, resolve);
    });
  }

  /**
   * Inside the command's transaction, after it ran: records the resulting state of its keys as a log entry to
   * be appended once the transaction commits. Resolves when the entry is committed under the ack mode.
   */
  stage(keys: readonly Buffer[]): Promise<{ partition: number; seq: number }> | undefined {
    if (keys.length === 0) return undefined;
    const p = this.slots.partitionForSlot(keySlot(keys[0]!));
    if (!this.replicated(p)) return undefined;
    const engine = this.host.engine;
    // Deltas only while no follower of the partition is being sent a snapshot: a snapshot reads values over
    // time, and the log after its base is replayed on top of them, which only converges for whole values (a
    // delta applied to a value read after it would apply twice).
    const leaderLog = this.logs.get(p);
    const deltas = DELTAS_ON && leaderLog !== undefined && leaderLog.role === 'leader' && ![...leaderLog.followers.values()].some((f) => f.mode === 'snapshot');
    const effects: Effect<Wire>[] = keys.map((kb) => {
      const key = kb.toString('latin1');
      const value = engine.get(key);
      if (value === undefined) return [kb, null];
      const expiresAtMs = engine.expiresAt(key) ?? 0;
      // The changes the journal recorded for a collection, when it recorded them all; else the whole value.
      const delta = deltas ? deltaOf(key, value, expiresAtMs) : undefined;
      if (delta !== undefined) this.stats.deltaEffects++;
      else this.stats.wholeEffects++;
      return [kb, delta ?? toWire(key, value, expiresAtMs)];
    });
    // The entry's seq is fixed now, and recorded with the data in this same transaction.
    const log = this.logs.get(p);
    let seq = 0;
    if (log !== undefined && log.role === 'leader') {
      seq = log.lastSeq + 1;
      for (const s of this.staged) if (s.p === p) seq++;
      this.persistPosition(p, { term: log.term, seq });
    }
    return new Promise<{ partition: number; seq: number }>((resolve, reject) => {
      const waiter: Waiter = { seq, resolve: () => resolve({ partition: p, seq: waiter.seq }), reject };
      this.staged.push({ p, effects, bytes: effectBytes(effects), keys: keys.map((k) => k.toString('latin1')), waiter });
      // Engines without transactions have committed already.
      if (engine.batch === undefined) this.afterCommit(true);
    });
  }

  /** The transaction holding the staged writes committed (or rolled back). */
  afterCommit(ok: boolean, failure?: Error): void {
    const staged = this.staged;
    if (staged.length === 0) return;
    this.staged = [];
    const now = this.host.nowMs();
    for (const s of staged) {
      if (!ok) {
        s.waiter.reject(failure ?? new Error('storage failure'));
        continue;
      }
      const log = this.logs.get(s.p);
      if (log === undefined || log.role !== 'leader') {
        s.waiter.reject(leadershipLost(s.p, 'leadership changed while the write ran'));
        continue;
      }
      const seq = log.append(s.effects, s.bytes, now);
      assert(s.waiter.seq === 0 || s.waiter.seq === seq, `partition ${s.p}: staged as ${s.waiter.seq}, appended as ${seq}`);
      this.stats.appended++;
      s.waiter.seq = seq;
      let list = this.waiters.get(s.p);
      if (list === undefined) this.waiters.set(s.p, (list = []));
      list.push(s.waiter);
      let pending = this.pendingKeys.get(s.p);
      if (pending === undefined) this.pendingKeys.set(s.p, (pending = new Map()));
      for (const k of s.keys) pending.set(k, seq);
      this.advance(s.p);
    }
    this.kick();
  }

  /** Recomputes a led partition's commit point and releases what it covers. */
  private advance(p: number): void {
    const log = this.logs.get(p);
    const e = this.entry(p);
    if (log === undefined || e === undefined || log.role !== 'leader') return;
    const before = log.commitSeq;
    // Followers being added to the ISR count as in-sync already: nothing commits without them from the moment
    // they were found caught up, so once the new set is published every member holds every committed write.
    const joining = this.joining.get(p);
    const isr = joining === undefined ? inSync(e) : [...new Set([...inSync(e), ...joining])];
    const commit = log.computeCommit(this.host.ackMode(), e.replicas, isr);
    if (commit >= log.termStartSeq) {
      const ready = this.readyWaiters.get(p);
      if (ready !== undefined) {
        this.readyWaiters.delete(p);
        for (const r of ready) r();
      }
    }
    if (commit === before && before !== 0) return;
    const list = this.waiters.get(p);
    if (list !== undefined) {
      let i = 0;
      while (i < list.length && list[i]!.seq <= commit) list[i++]!.resolve();
      this.stats.committed += i;
      if (i > 0) list.splice(0, i);
    }
    const pending = this.pendingKeys.get(p);
    if (pending !== undefined) for (const [k, seq] of pending) if (seq <= commit) pending.delete(k);
    const kw = this.keyWaiters.get(p);
    if (kw !== undefined) {
      const rest = kw.filter((w) => {
        if (w.seq > commit) return true;
        w.resolve();
        return false;
      });
      if (rest.length === 0) this.keyWaiters.delete(p);
      else this.keyWaiters.set(p, rest);
    }
  }

  /** Schedules a send round to every follower node. */
  private kick(): void {
    if (this.kickScheduled || this.closed) return;
    this.kickScheduled = true;
    this.host.schedule(0, () => {
      this.kickScheduled = false;
      if (this.closed) return;
      const followers = new Set<string>();
      for (const log of this.logs.values()) if (log.role === 'leader') for (const f of log.followers.keys()) followers.add(f);
      for (const f of followers) this.send(f);
    });
  }

  /** Builds and sends one request to follower node `f` with what each partition it follows from us needs. */
  private send(f: string): void {
    if ((this.inflight.get(f) ?? 0) >= REPLICATOR_LIMITS.inflightPerFollowerMax) return;
    if ((this.retryAt.get(f) ?? 0) > this.host.nowMs()) return;
    const peer = this.host.peer(f);
    if (peer === undefined) return;
    const parts: Part[] = [];
    // A request to an idle follower carries a beat per partition, so it knows it is current.
    const beat = this.host.nowMs() - (this.sentAt.get(f) ?? 0) >= REPLICATOR_LIMITS.heartbeatEveryMs;
    let entries = 0;
    let bytes = 0;
    for (const log of this.logs.values()) {
      if (log.role !== 'leader') continue;
      const prog = log.followers.get(f);
      if (prog === undefined) continue;
      if (prog.mode === 'probe') {
        prog.mode = 'probing';
        parts.push({ p: log.partition, epoch: log.epoch, kind: 'probe' });
        continue;
      }
      if (prog.mode === 'log' && prog.nextSeq > log.lastSeq && beat) {
        parts.push({ p: log.partition, epoch: log.epoch, kind: 'beat', lastSeq: log.lastSeq });
        continue;
      }
      if (prog.mode !== 'log' || prog.nextSeq > log.lastSeq || entries >= REPLICATOR_LIMITS.requestEntriesMax || bytes >= REPLICATOR_LIMITS.requestBytesMax) continue;
      const list = log.entriesFrom(prog.nextSeq, REPLICATOR_LIMITS.requestEntriesMax - entries, REPLICATOR_LIMITS.requestBytesMax - bytes);
      if (list === undefined) {
        void this.sendSnapshot(f, log);
        continue;
      }
      if (list.length === 0) continue;
      const prevSeq = prog.nextSeq - 1;
      parts.push({ p: log.partition, epoch: log.epoch, kind: 'append', prevSeq, prevTerm: log.termOf(prevSeq) ?? '', entries: list.map((e) => [e.seq, e.term, e.effects as Effect<Wire>[]]) });
      for (const e of list) bytes += e.bytes;
      entries += list.length;
      prog.nextSeq = list[list.length - 1]!.seq + 1;
    }
    if (parts.length === 0) return;
    // Beats alone only when the follower has heard nothing for a heartbeat period.
    if (!beat && parts.every((x) => x.kind === 'beat')) return;
    this.sentAt.set(f, this.host.nowMs());
    this.inflight.set(f, (this.inflight.get(f) ?? 0) + 1);
    peer.request({ op: 'repl', from: this.host.selfId, parts }, REPLICATOR_LIMITS.requestTimeoutMs).then(
      (reply) => {
        this.inflight.set(f, (this.inflight.get(f) ?? 1) - 1);
        const results = (reply as { results: PartResult[] }).results;
        parts.forEach((part, i) => this.onResult(f, part, results[i]));
        this.kick();
      },
      (e: unknown) => {
        this.inflight.set(f, (this.inflight.get(f) ?? 1) - 1);
        this.retryAt.set(f, this.host.nowMs() + REPLICATOR_LIMITS.retryAfterMs);
        // Everything sent in this request is uncertain: probe again.
        for (const part of parts) {
          const prog = this.logs.get(part.p)?.followers.get(f);
          if (prog !== undefined && (prog.mode === 'log' || prog.mode === 'probing')) prog.mode = 'probe';
        }
        this.host.log?.debug({ follower: f, err: (e as Error).message }, 'replication request failed');
        this.host.schedule(REPLICATOR_LIMITS.retryAfterMs, () => this.kick());
      },
    );
  }

  private onResult(f: string, part: Part, r: PartResult | undefined): void {
    if (this.closed) return;
    const log = this.logs.get(part.p);
    if (log === undefined || log.role !== 'leader' || r === undefined) return;
    const prog = log.followers.get(f);
    if (prog === undefined) return;
    const now = this.host.nowMs();
    if ('stale' in r) {
      this.stats.staleRefused++;
      prog.mode = 'probe';
      if (r.stale > log.epoch) {
        this.host.refresh();
        this.reassert(part.p, r.stale);
      }
      return;
    }
    if ('diverged' in r) {
      void this.sendSnapshot(f, log);
      return;
    }
    if ('pos' in r) {
      // A probe answer or a refused append: continue from the log if the follower's history is ours.
      if (log.canContinue(r.pos)) {
        prog.mode = 'log';
        prog.ackSeq = r.pos.seq;
        prog.nextSeq = r.pos.seq + 1;
        prog.lastAckMs = now;
        this.advance(part.p);
      } else void this.sendSnapshot(f, log);
      return;
    }
    if ('ack' in r) {
      const appended = log.appendedAt(r.ack);
      if (appended !== undefined && r.ack > prog.ackSeq) {
        this.lagAt[this.lagCount % this.lags.length] = now;
        this.lags[this.lagCount++ % this.lags.length] = now - appended;
      }
      log.onAck(f, r.ack, now);
      this.advance(part.p);
      if (this.replicaWaiters.size > 0) this.checkReplicaWaiters(part.p);
    }
  }

  /**
   * A follower was fenced at `fenced` by a failover that was not published (no safe leader was found), so it
   * refuses us although the map still names us leader. If it still does, re-publish our entry at a new map
   * epoch (at least the fence's) so followers take our messages again; if not, the refresh deposes us.
   */
  private reassert(p: number, fenced: number): void {
    if (this.reasserting.has(p)) return;
    this.reasserting.add(p);
    const self = this.host.selfId;
    this.host
      .updateMap((m) => {
        const e = m.partitions[p];
        if (e === undefined || e.replicas[0] !== self || m.epoch + 1 < fenced || !this.host.leaseValid()) return undefined;
        const epoch = m.epoch + 1;
        return { ...m, epoch, partitions: m.partitions.map((x, i) => (i === p ? { ...x, epoch } : x)) };
      })
      .catch((e: unknown) => this.host.log?.warn({ partition: p, err: (e as Error).message }, 'could not re-assert leadership'))
      .finally(() => this.reasserting.delete(p));
  }

  /** When the node's copy budget is next free (virtual time of a token bucket shared by every snapshot sent). */
  private copyFreeAtMs = 0;

  /** Waits until `bytes` more of snapshot copy fit the node's copy rate. */
  private async throttleCopy(bytes: number): Promise<void> {
    const rate = this.host.copyRateBytesPerSec?.() ?? 0;
    if (!(rate > 0)) return;
    const now = this.host.nowMs();
    this.copyFreeAtMs = Math.max(this.copyFreeAtMs, now - REPLICATOR_LIMITS.copyBurstMs) + (bytes / rate) * 1000;
    const waitMs = this.copyFreeAtMs - now;
    if (waitMs > 0) await new Promise<void>((r) => this.host.schedule(Math.ceil(waitMs), r));
  }

  /** Streams partition `log.partition` to follower `f`: clear, chunks of keys, then the log continues. */
  private async sendSnapshot(f: string, log: ReplicaLog<Wire>): Promise<void> {
    const prog = log.followers.get(f);
    const peer = this.host.peer(f);
    if (prog === undefined || peer === undefined || prog.mode === 'snapshot') return;
    // The snapshot's first step empties the follower's copy: a hand-over must not pick it until the snapshot ends
    // (transferLeadership requires the target in 'log' mode; picking it switched to an emptied copy and reads of
    // acknowledged keys came back nil). Its old ack still counts for commits meanwhile, as before: resetting it
    // held sync-mode writes on the initial snapshots of a starting cluster (2.8 s timeouts in the defaults test).
    const p = log.partition;
    // A staged entry (applied here, not yet in the log) may be a delta the snapshot's base would not cover:
    // start once it is appended.
    if (this.staged.some((s) => s.p === p)) {
      this.host.schedule(1, () => this.kick());
      return;
    }
    prog.mode = 'snapshot';
    const epoch = log.epoch;
    const base = log.position;
    /** Sends parts of this snapshot in one request (one transaction on the follower); returns the last result. */
    const call = async (...parts: Part[]): Promise<PartResult> => {
      const reply = (await peer.request({ op: 'repl', from: this.host.selfId, parts }, REPLICATOR_LIMITS.requestTimeoutMs)) as { results: PartResult[] };
      parts.forEach((part, i) => {
        const r = reply.results[i]!;
        if ('stale' in r) throw new AtollError('STALE_EPOCH', `follower ${f} refused the snapshot of partition ${p}: epoch ${r.stale}`);
        if (part.kind !== 'snap-begin' && 'pos' in r) throw new AtollError('PEER_UNAVAILABLE', `follower ${f} lost the snapshot of partition ${p} in progress`);
      });
      return reply.results[parts.length - 1]!;
    };
    try {
      // Read inside the try: the engine may be closing (node shutdown) and reads then throw.
      const keys = await this.keysOf(p);
      // The copy's first step empties the follower's copy: while it is in the published in-sync set it could be
      // promoted and must keep the writes it acknowledged, so wait until the set no longer has it (the snapshot
      // mode makes it a laggard: the next check removes it). An empty partition has nothing to lose.
      if (keys.length > 0) await this.untilOutOfSync(p, f);
      const begin: Part = { p, epoch, kind: 'snap-begin', base, history: [...log.terms] };
      // An empty partition (every partition of a new cluster) is copied in one request, not three: a node
      // starting with 2048 partitions to follow would otherwise wait on thousands more round trips.
      const end = keys.length === 0 ? await call(begin, { p, epoch, kind: 'snap-end' }) : await this.copyKeys(keys, begin, call, p, epoch);
      this.stats.snapshotsSent++;
      if (log.role !== 'leader' || log.followers.get(f) !== prog) return;
      prog.mode = 'log';
      prog.ackSeq = 'ack' in end ? end.ack : 0;
      prog.nextSeq = prog.ackSeq + 1;
      prog.lastAckMs = this.host.nowMs();
      // Writes during the copy are in the log after `base` (values read late are only newer: replaying converges).
      this.advance(p);
      // A filled replica may join the in-sync set now rather than at the next periodic check (rebalance moves wait on it).
      this.host.schedule(0, () => this.tick());
    } catch (e) {
      if (this.closed) return;
      this.host.log?.debug({ partition: p, follower: f, err: (e as Error).message }, 'snapshot failed; will retry');
      prog.mode = 'probe';
      this.retryAt.set(f, this.host.nowMs() + REPLICATOR_LIMITS.retryAfterMs);
      this.host.schedule(REPLICATOR_LIMITS.retryAfterMs, () => this.kick());
    } finally {
      this.kick();
    }
  }

  /** Resolves once `f` is not in the published in-sync set of `p`; throws after REPLICATOR_LIMITS.leaveIsrWaitMs. */
  private async untilOutOfSync(p: number, f: string): Promise<void> {
    const deadline = this.host.nowMs() + REPLICATOR_LIMITS.leaveIsrWaitMs;
    for (;;) {
      const e = this.entry(p);
      if (e === undefined || !inSync(e).includes(f)) return;
      if (this.closed || this.host.nowMs() > deadline) throw new AtollError('PEER_UNAVAILABLE', `follower ${f} of partition ${p} is still in its in-sync set`);
      await new Promise<void>((r) => this.host.schedule(REPLICATOR_LIMITS.isrCheckEveryMs, r));
    }
  }

  /** The snapshot of a partition with keys: begin, chunks within the copy rate, end; returns the end's result. */
  private async copyKeys(keys: readonly string[], begin: Part, call: (...parts: Part[]) => Promise<PartResult>, p: number, epoch: number): Promise<PartResult> {
    await call(begin);
    let chunk: Wire[] = [];
    let chunkBytes = 0;
    for (const k of keys) {
      const value = this.host.engine.get(k);
      if (value === undefined) continue;
      const wire = toWire(k, value, this.host.engine.expiresAt(k) ?? 0);
      chunk.push(wire);
      chunkBytes += effectBytes([[wire[0], wire]]);
      if (chunk.length >= REPLICATOR_LIMITS.snapshotChunkKeysMax || chunkBytes >= REPLICATOR_LIMITS.snapshotChunkBytesMax) {
        await this.throttleCopy(chunkBytes);
        await call({ p, epoch, kind: 'snap-chunk', entries: chunk });
        chunk = [];
        chunkBytes = 0;
      }
    }
    if (chunk.length > 0) {
      await this.throttleCopy(chunkBytes);
      return call({ p, epoch, kind: 'snap-chunk', entries: chunk }, { p, epoch, kind: 'snap-end' });
    }
    return call({ p, epoch, kind: 'snap-end' });
  }

  /**
   * A partition's keys for a snapshot: straight from an engine that indexes partitions (LMDB), else by a
   * scan that yields between pages, so a large keyspace never blocks the node (and its lease) for long.
   */
  private async keysOf(p: number): Promise<string[]> {
    const engine = this.host.engine;
    const direct = engine.keysOfPartition?.(p, this.host.partitions);
    if (direct !== undefined) return direct;
    const keys: string[] = [];
    let cursor = 0;
    do {
      const page = engine.scan(cursor, REPLICATOR_LIMITS.scanPageKeys);
      cursor = page.cursor;
      for (const k of page.keys) if (this.slots.partitionForSlot(keySlot(Buffer.from(k, 'latin1'))) === p) keys.push(k);
      if (cursor !== 0) await new Promise<void>((r) => this.host.schedule(0, r));
    } while (cursor !== 0 && !this.closed);
    return keys;
  }

  /** Follower side of 'repl': applies every part (one durable transaction), then answers each. */
  handleRepl(body: { from?: unknown; parts?: unknown }): { results: PartResult[] } {
    if (!Array.isArray(body.parts)) throw new AtollError('BAD_ARGUMENT', 'repl needs parts');
    const parts = body.parts as Part[];
    const results: PartResult[] = new Array<PartResult>(parts.length);
    const engine = this.host.engine;
    const now = this.host.nowMs();
    const run = (): void => {
      parts.forEach((part, i) => {
        const p = part.p;
        if (!Number.isInteger(p) || p < 0 || p >= this.host.partitions) throw new AtollError('BAD_ARGUMENT', `no partition ${String(p)}`);
        const log = this.logFor(p);
        if (part.epoch < log.epoch || (part.epoch === log.epoch && log.role === 'leader')) {
          results[i] = { stale: log.epoch };
          return;
        }
        if (log.role === 'leader') {
          // A newer epoch from another leader: we were deposed and did not know yet.
          this.stepDown(p, log, part.epoch, 'a replica with a newer epoch leads it');
          this.host.refresh();
        }
        log.epoch = part.epoch;
        switch (part.kind) {
          case 'probe':
            results[i] = { pos: log.position };
            return;
          case 'beat':
            if (part.lastSeq === log.lastSeq && !this.incoming.has(p)) this.freshAt.set(p, now);
            results[i] = { ack: log.lastSeq };
            return;
          case 'append': {
            if (this.incoming.has(p)) this.incoming.delete(p); // an abandoned copy: the append will be refused below
            if (part.prevSeq !== log.lastSeq || (part.prevSeq > 0 && log.termOf(part.prevSeq) !== part.prevTerm)) {
              results[i] = { pos: log.position };
              return;
            }
            if (!this.applyEntries(part.entries)) {
              // A delta did not fit this copy (it expired or evicted a key the leader still has): the leader must
              // copy the partition again. The copy is kept until then: while the follower is in the published
              // in-sync set it may be promoted, and it still holds every write it acknowledged.
              this.stats.deltaRefused++;
              this.host.log?.warn({ partition: p }, 'replica copy differs from its leader; asking for a new copy');
              results[i] = { diverged: log.position };
              return;
            }
            log.acceptEntries(
              part.entries.map(([seq, term, effects]) => ({ seq, term, effects, bytes: effectBytes(effects) })),
              now,
            );
            log.compact();
            this.persistPosition(p, log.position);
            this.freshAt.set(p, now);
            this.stats.applied += part.entries.length;
            results[i] = { ack: log.lastSeq };
            return;
          }
          case 'snap-begin':
            for (const k of partitionKeys(engine, this.host.partitions, p)) engine.delete(k);
            // The position stays 0 until the last chunk is in: an interrupted copy is never taken as whole.
            log.beginSnapshot();
            this.persistPosition(p, { term: '', seq: 0 });
            this.incoming.set(p, { base: part.base, history: part.history });
            results[i] = { ok: true };
            return;
          case 'snap-chunk':
            if (!this.incoming.has(p)) {
              results[i] = { pos: log.position };
              return;
            }
            for (const e of part.entries) {
              const d = fromWire(e);
              engine.put(d.key, d.value, d.expiresAtMs);
            }
            results[i] = { ok: true };
            return;
          case 'snap-end': {
            const snap = this.incoming.get(p);
            if (snap === undefined) {
              results[i] = { pos: log.position };
              return;
            }
            this.incoming.delete(p);
            log.resetTo(snap.base, snap.history);
            this.persistPosition(p, log.position);
            this.stats.snapshotsReceived++;
            results[i] = { ack: log.lastSeq };
            return;
          }
          default:
            throw new AtollError('BAD_ARGUMENT', `unknown repl part kind ${String((part as { kind: unknown }).kind)}`);
        }
      });
    };
    if (engine.batch !== undefined) engine.batch(run);
    else run();
    return { results };
  }

  /** Applies log entries' effects to this copy; false when a delta did not fit it. */
  private applyEntries(entries: readonly [number, string, Effect<Wire>[]][]): boolean {
    const engine = this.host.engine;
    for (const [, , effects] of entries) {
      for (const [kb, v] of effects) {
        if (v === null) engine.delete(kb.toString('latin1'));
        else if (isDelta(v)) {
          if (!applyDelta(engine, v)) return false;
        } else {
          const d = fromWire(v);
          engine.put(d.key, d.value, d.expiresAtMs);
        }
      }
    }
    return true;
  }

  /** Fencing for a failover: refuse the partition's older epochs from now on; answer where we stand. */
  fence(p: number, epoch: number): { pos: Position; epoch: number } {
    const log = this.logFor(p);
    if (epoch > log.epoch) {
      if (log.role === 'leader') this.stepDown(p, log, epoch, 'fenced by the controller for a failover');
      log.epoch = epoch;
    }
    return { pos: log.position, epoch: log.epoch };
  }

  /**
   * READONLY reads on a follower: whether its copy of partition `p` was complete (every entry the leader had)
   * no more than `staleMsMax` ago by the local clock.
   */
  freshEnough(p: number, staleMsMax: number): boolean {
    const log = this.logs.get(p);
    const at = this.freshAt.get(p);
    return log !== undefined && log.role === 'follower' && at !== undefined && this.host.nowMs() - at <= staleMsMax;
  }

  /** Followers of a partition led here that hold `seq`. */
  private holding(p: number, seq: number): number {
    const log = this.logs.get(p);
    if (log === undefined || log.role !== 'leader') return 0;
    let n = 0;
    for (const f of log.followers.values()) if (f.ackSeq >= seq) n++;
    return n;
  }


  /** WAIT: resolves with how many followers hold `seq` once `count` do, or when `timeoutMs` passes (0: never). */
  waitReplicas(p: number, seq: number, count: number, timeoutMs: number): Promise<number> {
    const now = this.holding(p, seq);
    if (now >= count) return Promise.resolve(now);
    return new Promise<number>((resolve) => {
      const w: ReplicaWaiter = { p, seq, count, resolve };
      this.replicaWaiters.add(w);
      if (timeoutMs > 0) {
        this.host.schedule(timeoutMs, () => {
          if (this.replicaWaiters.delete(w)) resolve(this.holding(p, seq));
        });
      }
    });
  }

  private checkReplicaWaiters(p: number): void {
    for (const w of this.replicaWaiters) {
      if (w.p !== p) continue;
      const n = this.holding(p, w.seq);
      if (n >= w.count) {
        this.replicaWaiters.delete(w);
        w.resolve(n);
      }
    }
  }

  /** Lag quantiles over the acknowledgements of the last lagWindowMs (null without any) and followers now behind. */
  lagSummary(): { p50Ms: number | null; p99Ms: number | null; samples: number; followersBehind: number } {
    const q = lagQuantiles(this.lags, this.lagAt, Math.min(this.lagCount, this.lags.length), this.host.nowMs() - REPLICATOR_LIMITS.lagWindowMs);
    let behind = 0;
    for (const log of this.logs.values()) if (log.role === 'leader') for (const f of log.followers.values()) if (f.ackSeq < log.lastSeq) behind++;
    return { ...q, followersBehind: behind };
  }

  /** INFO replication lines: ack mode, partitions by role, lag quantiles, counters. */
  infoLines(): [string, string | number][] {
    const lag = this.lagSummary();
    return [
      ['ack_mode', this.host.ackMode()],
      ['replication_lag_p50_ms', (lag.p50Ms ?? 0).toFixed(2)],
      ['replication_lag_p99_ms', (lag.p99Ms ?? 0).toFixed(2)],
      ['replication_lag_samples', lag.samples],
      ['followers_behind', lag.followersBehind],
      ['entries_appended', this.stats.appended],
      ['entries_committed', this.stats.committed],
      ['entries_applied', this.stats.applied],
      ['snapshots_sent', this.stats.snapshotsSent],
      ['snapshots_received', this.stats.snapshotsReceived],
      ['stale_refusals', this.stats.staleRefused],
      ['isr_changes', this.stats.isrChanges],
      ['effects_delta', this.stats.deltaEffects],
      ['effects_whole', this.stats.wholeEffects],
      ['deltas_refused', this.stats.deltaRefused],
    ];
  }

  /** Leader housekeeping: ISR shrink/expand by CAS, log compaction, retries. */
  private tick(): void {
    if (this.closed) return;
    const map = this.map;
    const now = this.host.nowMs();
    if (map === undefined) return;
    const changes = new Map<number, { replicas: readonly string[]; isr: readonly string[] }>();
    for (const log of this.logs.values()) {
      if (log.role !== 'leader') continue;
      log.compact();
      const e = map.partitions[log.partition];
      if (e === undefined || e.replicas.length < 2) continue;
      const isr = inSync(e);
      const lagging = log.laggards(isr.slice(1), now);
      const back = log.caughtUp(e.replicas, isr);
      if (lagging.length === 0 && back.length === 0) continue;
      const next = e.replicas.filter((id) => id === e.replicas[0] || (isr.includes(id) && !lagging.includes(id)) || back.includes(id));
      changes.set(log.partition, { replicas: e.replicas, isr: next });
    }
    if (changes.size > 0 && !this.isrBusy) {
      this.isrBusy = true;
      for (const [p, c] of changes) {
        const isr = inSync(map.partitions[p]!);
        const joiners = c.isr.filter((id) => !isr.includes(id));
        if (joiners.length > 0) this.joining.set(p, new Set(joiners));
      }
      this.host
        .updateMap((m) => {
          // Other partitions' changes since we looked do not matter: ours apply where the partition's own
          // epoch is still the one we judged (same replicas, same leader, same in-sync set).
          const epoch = m.epoch + 1;
          let applied = 0;
          const partitions = m.partitions.map((e, p) => {
            const c = changes.get(p);
            if (c === undefined || e.epoch !== map.partitions[p]!.epoch) return e;
            applied++;
            const same = c.isr.length === c.replicas.length;
            return { replicas: [...c.replicas], epoch, ...(same ? {} : { isr: [...c.isr] }) };
          });
          return applied === 0 ? undefined : { ...m, epoch, partitions };
        })
        .then((ok) => {
          if (ok) {
            this.stats.isrChanges += changes.size;
            this.host.log?.info({ partitions: [...changes.keys()].slice(0, 16), count: changes.size }, 'in-sync sets changed');
          }
        })
        .catch((e: unknown) => this.host.log?.warn({ err: (e as Error).message }, 'ISR update failed'))
        .finally(() => {
          this.isrBusy = false;
          for (const p of changes.keys()) this.joining.delete(p);
        });
    }
    this.kick();
  }
}

/** p50 and p99 (2 decimals; null without samples) of the first `filled` lags taken at or after `sinceMs`. */
export function lagQuantiles(lags: Float64Array, at: Float64Array, filled: number, sinceMs: number): { p50Ms: number | null; p99Ms: number | null; samples: number } {
  const recent: number[] = [];
  for (let i = 0; i < filled; i++) if (at[i]! >= sinceMs) recent.push(lags[i]!);
  const n = recent.length;
  const sorted = recent.sort((a, b) => a - b);
  const q = (x: number): number | null => (n === 0 ? null : Math.round(sorted[Math.min(n - 1, Math.floor(x * n))]! * 100) / 100);
  return { p50Ms: q(0.5), p99Ms: q(0.99), samples: n };
}
