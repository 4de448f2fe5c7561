// Cluster mode of a node or router: routes each keyed command by the partition map (answer here, -MOVED, or
// forward to the owner and relay its reply), splits multi-key commands across owners, and answers CLUSTER.
import { keySlot } from '../partitioning/hash.js';
import { RoutingTable, type ClusterNode, type PartitionMap } from '../cluster/map.js';
import { AtollError } from '../errors.js';
import { PeerClient } from '../transport/peer.js';
import type { PeerTls } from '../transport/peer-tls.js';
import { ReplyError, intArg } from './args.js';
import { keyIndexes, lastKeyIndex, RetryAfter, type ClusterHooks, type RouteResult, type RoutedCommand, type ServerState, type Session } from './dispatch.js';
import { RespWriter } from './resp-writer.js';
import { BLOCKING_LIMITS, timeoutMsArg } from './blocking.js';
import { timeoutIndex } from './commands-blocking.js';
import { ProtocolError, RespParser } from './resp-parser.js';
import { blockReplies, type ReplyBlock } from './server.js';

/**
 * redirect: a key owned elsewhere gets -MOVED (Redis Cluster behaviour; cluster-aware clients).
 * forward: the node forwards it to the owner and relays the answer (any client works against any node).
 * proxy: the router, which owns nothing and forwards everything keyed.
 */
export type RoutingMode = 'redirect' | 'forward' | 'proxy';

/**
 * The peer message this module sends and serves: `n` commands as RESP multibulk requests back to back in
 * `data` (what a client would send), answered by their replies back to back with each one's length. One byte
 * string each way instead of one msgpack item per argument and per reply.
 */
export interface CommandsRequest {
  readonly op: 'cmds';
  readonly n: number;
  readonly data: Buffer;
  readonly resp: 2 | 3;
  /** A MULTI ... EXEC block: run on a session of its own, never interleaved with other forwarded commands. */
  readonly tx?: boolean;
}

/** Runs commands as their owner and answers with their replies (a node's runForPeer); `own`: on a fresh session. */
export type RunLocal = (commands: Buffer[][], version: 2 | 3, own?: boolean) => Promise<ReplyBlock>;

export const ROUTING_LIMITS = Object.freeze({
  /** Times a forwarded command follows a -MOVED (after refreshing the map) before giving the error back. */
  forwardRedirectsMax: 3,
  /** CLUSTER GETKEYSINSLOT count bound. */
  keysInSlotMax: 100_000,
  /** Commands held while their partition is handed off; more are refused with -TRYAGAIN. */
  heldMax: 100_000,
  /** READONLY reads are served by a follower whose copy was complete at most this long ago. */
  replicaReadStaleMsMax: 1_000,
  /** Forwarded commands bound for one node in one event-loop iteration travel in one request, up to these. */
  forwardBatchCommandsMax: 1_024,
  forwardBatchBytesMax: 1024 * 1024,
  /** PUBLISHed messages queued for one node in one event-loop turn; beyond, they are dropped (and counted). */
  publishQueueMax: 10_000,
  /** Their bytes (channel + message), kept well under the peer frame limit. */
  publishQueueBytesMax: 16 * 1024 * 1024,
});

/** Commands from many clients bound for one node (and RESP version), sent together at the end of the turn. */
interface OutgoingBatch {
  readonly node: ClusterNode;
  readonly resp: 2 | 3;
  /** The commands, RESP-encoded as they are queued. */
  readonly out: RespWriter;
  count: number;
  readonly waiters: Waiter[];
}

/** Whoever queued `count` commands of a batch: handed their replies, in order, or the batch's failure. */
interface Waiter {
  readonly count: number;
  deliver(replies: Buffer[]): void;
  fail(e: Error): void;
}

const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";
const NULL_ARRAY2 = Buffer.from('*-1\r\n');
const NULL3 = Buffer.from('_\r\n');
const NOT_SERVED = 'CLUSTERDOWN Hash slot not served';

/** Multi-key commands the forwarder splits per key and gathers: how to re-ask for one key, how to join. */
const SPLITTABLE: Record<string, 'array' | 'sum' | 'ok'> = { mget: 'array', del: 'sum', unlink: 'sum', exists: 'sum', touch: 'sum', mset: 'ok' };

export interface ClusterRoutingOptions {
  readonly mode: RoutingMode;
  /** This node's id; undefined for the router. */
  readonly selfId?: string;
  /** Runs commands here, as the owner (the node's runForPeer); absent on the router. */
  readonly runLocal?: RunLocal;
  /** Re-reads the map from the coordinator (after a peer said -MOVED). */
  readonly refresh: () => Promise<void>;
  /** Counts keys in a slot (CLUSTER COUNTKEYSINSLOT/GETKEYSINSLOT); absent on the router. */
  readonly keysInSlot?: (slot: number, count: number) => { keys: string[]; total: number };
  /** Replication of the partitions this node leads; absent on the router. */
  readonly replication?: ReplicationGate;
  /** CLUSTER FAILOVER: take over, without losing a write, the partitions `leader` leads and this node follows. */
  readonly failover?: (leader: string) => Promise<void>;
  /** The cluster's peer key; connections to other nodes prove they hold it (src/transport/handshake.ts). */
  readonly peerKey?: Buffer;
  /** tls-cluster: connections to peers are mutual TLS with the cluster CA. */
  readonly peerTls?: PeerTls | undefined;
}

/** What routing needs from replication (src/replication/replicator.ts implements it). */
export interface ReplicationGate {
  adoptMap(map: PartitionMap): void;
  admit(partition: number, keys: readonly Buffer[], write: boolean): undefined | Promise<void> | string;
  stage(keys: readonly Buffer[]): Promise<{ partition: number; seq: number }> | undefined;
  waitReplicas(partition: number, seq: number, count: number, timeoutMs: number): Promise<number>;
  freshEnough(partition: number, staleMsMax: number): boolean;
  afterCommit(ok: boolean, failure?: Error): void;
  infoLines(): [string, string | number][];
  lagSummary(): { p50Ms: number | null; p99Ms: number | null; samples: number; followersBehind: number };
}

export class ClusterRouting implements ClusterHooks {
  private table: RoutingTable | undefined;
  private live = new Set<string>();
  private liveList: readonly ClusterNode[] = [];
  private readonly peers = new Map<string, PeerClient>();
  controller: string | undefined;
  /** Partitions whose commands are held (during a hand-off), with the promise that releases them. */
  private readonly held = new Map<number, Promise<void>>();
  private heldCount = 0;
  private readonly outgoing = new Map<string, OutgoingBatch>();
  private readonly encoders = new Map<string, RespWriter>();
  private outgoingScheduled = false;
  /** PUBLISHed messages waiting for this turn's broadcast, per destination node. */
  private readonly published = new Map<string, { items: [Buffer, Buffer][]; bytes: number }>();
  private publishScheduled = false;
  /** Messages not broadcast because a node's queue was full (pub/sub is at most once). */
  publishDropped = 0;
  forwarded = 0;
  redirected = 0;
  /** Some partition has more than one replica. */
  private replicated = false;

  constructor(private readonly options: ClusterRoutingOptions) {}

  get map(): PartitionMap | undefined {
    return this.table?.map;
  }

  get routingTable(): RoutingTable | undefined {
    return this.table;
  }

  /** Adopts a map if it is newer than the one in use; returns whether it did. */
  setMap(map: PartitionMap): boolean {
    if (this.table !== undefined && map.epoch <= this.table.epoch) return false;
    this.table = new RoutingTable(map, this.table);
    this.replicated = map.partitions.some((e) => e.replicas.length > 1);
    this.options.replication?.adoptMap(map);
    // Drop connections to nodes whose address changed or that left the map.
    for (const [id, peer] of this.peers) {
      const n = map.nodes[id];
      if (n === undefined || n.host !== peer.host || n.port !== peer.port) {
        peer.close();
        this.peers.delete(id);
        this.encoders.delete(batchKey(id, 2));
        this.encoders.delete(batchKey(id, 3));
      }
    }
    return true;
  }

  setLive(nodes: readonly ClusterNode[]): void {
    this.live = new Set(nodes.map((n) => n.id));
    this.liveList = nodes;
  }

  /** Registered nodes with their addresses, as last read from the coordinator. */
  get liveNodes(): readonly ClusterNode[] {
    return this.liveList;
  }

  isLive(id: string): boolean {
    return this.live.has(id);
  }

  close(): void {
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
  }

  /** Whether partitions have more than one replica (writes are replicated). */
  get replicating(): boolean {
    return this.replicated;
  }

  route(session: Session, cmd: RoutedCommand, args: Buffer[]): RouteResult {
    const table = this.table;
    if (cmd.firstKey === 0) {
      // Keyless data commands (KEYS, SCAN, DBSIZE, RANDOMKEY) act on this node's keys, as in Redis Cluster.
      if (this.options.mode === 'proxy') return { error: `ERR ${cmd.name.toUpperCase()} is not supported by the router; send it to a node` };
      if (cmd.write && this.replicated) return { error: `ERR ${cmd.name.toUpperCase()} is not supported on a replicated cluster` };
      return undefined;
    }
    if (table === undefined) return { error: NOT_SERVED };
    const at = keyIndexes(cmd, args);
    // A keyed command naming no key (EVAL with numkeys 0) runs where it was sent, as in Redis Cluster.
    if (at.length === 0) return undefined;
    const slot = keySlot(args[at[0]!]!);
    session.slot = slot;
    let sameSlot = true;
    for (let j = 1; j < at.length; j++) {
      if (keySlot(args[at[j]!]!) !== slot) {
        sameSlot = false;
        break;
      }
    }
    const forwarding = this.options.mode !== 'redirect' && session.fromPeer !== true;
    if (!sameSlot) {
      if (forwarding && SPLITTABLE[cmd.name] !== undefined) return this.splitAndGather(session, cmd, args, lastKeyIndex(cmd, args));
      return { error: CROSSSLOT };
    }
    const owner = table.leaderIdOfSlot(slot);
    if (owner === this.options.selfId) {
      const gate = this.replicated ? this.options.replication : undefined;
      if (this.held.size === 0) return gate === undefined ? undefined : this.admit(gate, table.partitionOfSlot(slot), cmd, args, at);
      const release = this.held.get(table.partitionOfSlot(slot));
      if (release === undefined) return gate === undefined ? undefined : this.admit(gate, table.partitionOfSlot(slot), cmd, args, at);
      if (this.heldCount >= ROUTING_LIMITS.heldMax) return { error: 'TRYAGAIN the partition is being moved; retry shortly' };
      this.heldCount++;
      return release.then(() => {
        this.heldCount--;
        return this.reroute(session, cmd, args);
      });
    }
    // READONLY: a follower answers reads from its copy when it is fresh enough; otherwise the leader does.
    if (session.readonly === true && !cmd.write && this.replicated && this.options.replication !== undefined) {
      const p = table.partitionOfSlot(slot);
      if (table.map.partitions[p]!.replicas.includes(this.options.selfId ?? '') && this.options.replication.freshEnough(p, ROUTING_LIMITS.replicaReadStaleMsMax)) return undefined;
    }
    if (!forwarding) {
      this.redirected++;
      const n = table.leaderOfSlot(slot);
      return { error: `MOVED ${slot} ${n.host}:${portFor(n, session)}` };
    }
    this.forwarded++;
    if (cmd.blocking === true) return this.forwardBlocking(args, slot, session.resp, cmd.name);
    return this.forwardOne(args, slot, session.resp);
  }

  /**
   * A blocking command (BLPOP...) for another node: sent alone (it blocks a session of its own there, not the
   * peer batch), its timeout cut into slices a peer request can wait for, until it gets data or times out.
   */
  private async forwardBlocking(args: Buffer[], slot: number, resp: 2 | 3, name: string): Promise<Buffer> {
    const at = timeoutIndex(name, args);
    let totalMs: number;
    try {
      totalMs = timeoutMsArg(args[at]!);
    } catch {
      return this.forwardBlock(slot, [args], resp); // the owner answers the bad timeout with Redis's error
    }
    const deadline = totalMs === 0 ? 0 : Date.now() + totalMs;
    for (;;) {
      const sliceMs = deadline === 0 ? BLOCKING_LIMITS.forwardSliceMs : Math.max(1, Math.min(BLOCKING_LIMITS.forwardSliceMs, deadline - Date.now()));
      const sliced = [...args];
      sliced[at] = Buffer.from((sliceMs / 1000).toFixed(3));
      const reply = await this.forwardBlock(slot, [sliced], resp);
      const timedOut = reply.equals(NULL_ARRAY2) || reply.equals(NULL3);
      if (!timedOut || (deadline !== 0 && Date.now() >= deadline)) return reply;
    }
  }

  /**
   * One command to its owner: a single promise on the common path (queued with the turn's other commands for
   * that node); a -MOVED reply takes the general path, which refreshes the map and follows it.
   */
  private forwardOne(args: Buffer[], slot: number, resp: 2 | 3): Promise<Buffer> {
    const node = this.table!.leaderOfSlot(slot);
    return new Promise<Buffer>((resolve, reject) => {
      this.enqueue(node, [args], resp, {
        count: 1,
        deliver: (replies) => {
          const reply = replies[0]!;
          if (!isMoved(reply)) return resolve(reply);
          this.options
            .refresh()
            .then(() => this.forward([args], slot, resp, 1))
            .then((r) => resolve(r[0]!), reject);
        },
        fail: reject,
      });
    });
  }

  private admit(gate: ReplicationGate, partition: number, cmd: RoutedCommand, args: Buffer[], at: readonly number[]): RouteResult {
    const keys = at.map((i) => args[i]!);
    const r = gate.admit(partition, keys, cmd.write);
    if (r === undefined) return undefined;
    if (typeof r === 'string') return { error: r };
    return new RetryAfter(r);
  }

  localCheck(session: Session, keys: readonly Buffer[], admit: boolean, remoteOk: boolean): { slot: number; remote: boolean } | { error: string } | RetryAfter {
    const table = this.table;
    if (table === undefined) return { error: NOT_SERVED };
    const slot = keySlot(keys[0]!);
    for (const k of keys) if (keySlot(k) !== slot) return { error: CROSSSLOT };
    if (table.leaderIdOfSlot(slot) !== this.options.selfId) {
      if (remoteOk) return { slot, remote: true };
      const n = table.leaderOfSlot(slot);
      return { error: `MOVED ${slot} ${n.host}:${portFor(n, session)}` };
    }
    const p = table.partitionOfSlot(slot);
    const release = this.held.get(p);
    if (release !== undefined) return new RetryAfter(release);
    const gate = this.replicated ? this.options.replication : undefined;
    if (admit && gate !== undefined) {
      const r = gate.admit(p, keys, true);
      if (typeof r === 'string') return { error: r };
      if (r !== undefined) return new RetryAfter(r);
    }
    session.slot = slot;
    return { slot, remote: false };
  }

  broadcastPublish(channel: Buffer, message: Buffer): void {
    const self = this.options.selfId;
    for (const n of this.liveList) {
      if (n.id === self) continue;
      let q = this.published.get(n.id);
      if (q === undefined) this.published.set(n.id, (q = { items: [], bytes: 0 }));
      const bytes = channel.length + message.length;
      if (q.items.length >= ROUTING_LIMITS.publishQueueMax || q.bytes + bytes > ROUTING_LIMITS.publishQueueBytesMax) {
        this.publishDropped++;
        continue;
      }
      q.items.push([Buffer.from(channel), Buffer.from(message)]);
      q.bytes += bytes;
    }
    if (this.publishScheduled) return;
    this.publishScheduled = true;
    // One 'publish' request per node per event-loop turn, however many messages the turn published.
    setImmediate(() => {
      this.publishScheduled = false;
      for (const [id, { items }] of this.published) {
        const node = this.liveList.find((n) => n.id === id);
        if (node === undefined) continue;
        this.peer(node)
          .request({ op: 'publish', items })
          .catch(() => (this.publishDropped += items.length));
      }
      this.published.clear();
    });
  }

  /** A MULTI ... EXEC block to `slot`'s leader, alone in its request (so it runs on a session of its own). */
  async forwardBlock(slot: number, cmds: Buffer[][], resp: 2 | 3): Promise<Buffer> {
    const table = this.table;
    if (table === undefined) throw new Error(NOT_SERVED);
    if (table.leaderIdOfSlot(slot) === this.options.selfId && this.options.runLocal !== undefined) return blockReplies(await this.options.runLocal(cmds, resp, true)).at(-1)!;
    const out = new RespWriter();
    for (const c of cmds) {
      out.arrayHeader(c.length);
      for (const a of c) out.bulk(a);
    }
    const body = await this.peer(table.leaderOfSlot(slot)).request({ op: 'cmds', n: cmds.length, data: out.take(), resp, tx: true } satisfies CommandsRequest);
    return repliesOf(body, cmds.length).at(-1)!;
  }

  replicate(keys: Buffer[]): Promise<{ partition: number; seq: number }> | undefined {
    return this.replicated ? this.options.replication?.stage(keys) : undefined;
  }

  waitReplicas(session: Session, count: number, timeoutMs: number): Promise<number> {
    const gate = this.options.replication;
    const last = session.lastWrite;
    if (gate === undefined || last === undefined) return Promise.resolve(0);
    return gate.waitReplicas(last.partition, last.seq, count, timeoutMs);
  }

  afterCommit(ok: boolean, failure?: Error): void {
    this.options.replication?.afterCommit(ok, failure);
  }

  /** Replication lag figures for the monitor, when partitions are replicated. */
  lagSummary(): { p99Ms: number | null; followersBehind: number } | undefined {
    return this.replicated ? this.options.replication?.lagSummary() : undefined;
  }

  replicationSection(): [string, string | number][] {
    const lines = this.options.replication?.infoLines() ?? [];
    const table = this.table;
    const self = this.options.selfId;
    const mine = table === undefined || self === undefined ? { led: 0, followed: 0 } : table.partitionsOf(self);
    return [['role', mine.led > 0 ? 'master' : 'slave'], ['partitions_led', mine.led], ['partitions_followed', mine.followed], ...lines];
  }

  /** Holds commands for `partition` until the returned function is called; they are then routed afresh. */
  hold(partition: number): () => void {
    let release: () => void = () => undefined;
    this.held.set(partition, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.held.delete(partition);
      release();
    };
  }

  /** Routes a held command again once its partition is released: here, -MOVED, or forwarded. */
  private async reroute(session: Session, cmd: RoutedCommand, args: Buffer[]): Promise<Buffer> {
    const again = this.route(session, cmd, args);
    if (again === undefined) {
      if (this.options.runLocal === undefined) throw new Error(NOT_SERVED);
      return blockReplies(await this.options.runLocal([args], session.resp))[0]!;
    }
    if (again instanceof Promise) return again;
    if (again instanceof RetryAfter) {
      await again.wait;
      return this.reroute(session, cmd, args);
    }
    return Buffer.from(`-${again.error}\r\n`);
  }

  /** Sends commands (all for `slot`) to its owner; follows -MOVED a bounded number of times (`attempt` made already). */
  private async forward(cmds: Buffer[][], slot: number, resp: 2 | 3, attempt = 0): Promise<Buffer[]> {
    for (; ; attempt++) {
      const table = this.table;
      if (table === undefined) throw new Error(NOT_SERVED);
      const owner = table.leaderIdOfSlot(slot);
      let replies: Buffer[];
      if (owner === this.options.selfId && this.options.runLocal !== undefined) replies = blockReplies(await this.options.runLocal(cmds, resp));
      else replies = await this.sendBatched(table.leaderOfSlot(slot), cmds, resp);
      if (!replies.some(isMoved) || attempt >= ROUTING_LIMITS.forwardRedirectsMax) return replies;
      await this.options.refresh();
    }
  }

  private sendBatched(node: ClusterNode, cmds: Buffer[][], resp: 2 | 3): Promise<Buffer[]> {
    return new Promise<Buffer[]>((resolve, reject) => this.enqueue(node, cmds, resp, { count: cmds.length, deliver: resolve, fail: reject }));
  }

  /**
   * Queues commands for `node`; every command queued for it in this event-loop iteration goes in one 'cmds'
   * request (fewer frames, encodes and writes than one per command). Each waiter gets its own replies back.
   */
  private enqueue(node: ClusterNode, cmds: Buffer[][], resp: 2 | 3, waiter: Waiter): void {
    const key = batchKey(node.id, resp);
    let batch = this.outgoing.get(key);
    if (batch === undefined) {
      // One encoder per destination, kept: take() copies the bytes out, and a fresh 16 KB buffer per batch
      // cost more than the encoding when batches are small (no pipelining).
      let out = this.encoders.get(key);
      if (out === undefined) {
        out = new RespWriter();
        this.encoders.set(key, out);
      }
      batch = { node, resp, out, count: 0, waiters: [] };
      this.outgoing.set(key, batch);
      if (!this.outgoingScheduled) {
        this.outgoingScheduled = true;
        setImmediate(() => {
          this.outgoingScheduled = false;
          for (const k of [...this.outgoing.keys()]) this.flushOutgoing(k);
        });
      }
    }
    batch.waiters.push(waiter);
    const out = batch.out;
    for (const c of cmds) {
      out.arrayHeader(c.length);
      for (const a of c) out.bulk(a);
    }
    batch.count += cmds.length;
    if (batch.count >= ROUTING_LIMITS.forwardBatchCommandsMax || out.length >= ROUTING_LIMITS.forwardBatchBytesMax) this.flushOutgoing(key);
  }

  private flushOutgoing(key: string): void {
    const b = this.outgoing.get(key);
    if (b === undefined) return;
    this.outgoing.delete(key);
    this.peer(b.node)
      .request({ op: 'cmds', n: b.count, data: b.out.take(), resp: b.resp } satisfies CommandsRequest)
      .then(
        (body) => {
          const replies = repliesOf(body, b.count);
          let from = 0;
          for (const w of b.waiters) {
            w.deliver(replies.slice(from, from + w.count));
            from += w.count;
          }
        },
        (e: unknown) => {
          for (const w of b.waiters) w.fail(e as Error);
        },
      );
  }

  peer(node: ClusterNode): PeerClient {
    let p = this.peers.get(node.id);
    if (p === undefined) {
      p = new PeerClient(node.host, node.port, { key: this.options.peerKey, tls: this.options.peerTls });
      this.peers.set(node.id, p);
    }
    return p;
  }

  /** MGET/MSET/DEL/UNLINK/EXISTS across slots: one sub-command per key, sent to its owner, joined in order. */
  private async splitAndGather(session: Session, cmd: RoutedCommand, args: Buffer[], last: number): Promise<Buffer> {
    const name = Buffer.from(cmd.name);
    const subs: { slot: number; args: Buffer[] }[] = [];
    for (let i = cmd.firstKey; i <= last; i += cmd.keyStep) {
      subs.push({ slot: keySlot(args[i]!), args: [name, ...args.slice(i, i + cmd.keyStep)] });
    }
    const bySlot = new Map<number, number[]>();
    subs.forEach((s, i) => {
      const list = bySlot.get(s.slot);
      if (list === undefined) bySlot.set(s.slot, [i]);
      else list.push(i);
    });
    const replies: Buffer[] = new Array<Buffer>(subs.length);
    await Promise.all(
      [...bySlot].map(async ([slot, idx]) => {
        const r = await this.forward(
          idx.map((i) => subs[i]!.args),
          slot,
          session.resp,
        );
        idx.forEach((i, k) => (replies[i] = r[k]!));
      }),
    );
    const error = replies.find((r) => r[0] === 0x2d); // '-'
    if (error !== undefined) return error;
    const how = SPLITTABLE[cmd.name]!;
    if (how === 'ok') return Buffer.from('+OK\r\n');
    if (how === 'sum') return Buffer.from(`:${replies.reduce((n, r) => n + Number(r.subarray(1, r.length - 2).toString('latin1')), 0)}\r\n`);
    // MGET of one key answers "*1\r\n<element>": strip the header and join the elements.
    return Buffer.concat([Buffer.from(`*${replies.length}\r\n`), ...replies.map((r) => r.subarray(4))]);
  }

  infoSection(): [string, string | number][] {
    return [['cluster_enabled', 1]];
  }

  clusterCommand(state: ServerState, session: Session, args: Buffer[], w: RespWriter): void | Promise<Buffer> {
    const sub = args[1]!.toString('latin1').toLowerCase();
    const table = this.table;
    switch (sub) {
      case 'info':
        return w.verbatim(this.infoText());
      case 'myid':
        if (this.options.selfId === undefined) throw new ReplyError('ERR the router is not a cluster node');
        return w.bulk(this.options.selfId);
      case 'keyslot':
        if (args.length !== 3) throw arity(sub);
        return w.integer(keySlot(args[2]!));
      case 'slots':
        return this.slotsReply(w, session);
      case 'shards':
        return this.shardsReply(w);
      case 'nodes':
        return w.verbatim(this.nodesText(session));
      case 'replicas':
      case 'slaves': {
        if (args.length !== 3) throw arity(sub);
        const id = args[2]!.toString();
        if (table?.map.nodes[id] === undefined) throw new ReplyError(`ERR Unknown node ${id}`);
        const lines = this.nodeLines().filter((l) => l.followerOf === id);
        w.arrayHeader(lines.length);
        for (const l of lines) w.bulk(l.text);
        return;
      }
      case 'countkeysinslot': {
        if (args.length !== 3) throw arity(sub);
        const slot = slotArg(args[2]!);
        return w.integer(this.keysIn(slot, 0).total);
      }
      case 'getkeysinslot': {
        if (args.length !== 4) throw arity(sub);
        const slot = slotArg(args[2]!);
        const count = intArg(args[3]);
        if (count < 0 || count > ROUTING_LIMITS.keysInSlotMax) throw new ReplyError('ERR Invalid number of keys');
        const { keys } = this.keysIn(slot, count);
        w.arrayHeader(keys.length);
        for (const k of keys) w.bulkLatin1(k);
        return;
      }
      case 'failover': {
        if (args.length > 3) throw arity('failover');
        const option = args[2]?.toString('latin1').toUpperCase();
        if (option !== undefined && option !== 'FORCE' && option !== 'TAKEOVER') throw new ReplyError('ERR Invalid CLUSTER FAILOVER option.');
        if (option !== undefined) throw new ReplyError(`ERR CLUSTER FAILOVER ${option} is not supported: failover here never skips the leader's hand-over; use a plain CLUSTER FAILOVER`);
        const self = this.options.selfId;
        const line = this.nodeLines().find((l) => l.id === self);
        if (this.options.failover === undefined || line?.followerOf === undefined) throw new ReplyError('ERR You should send CLUSTER FAILOVER to a replica');
        const version = w.version;
        return this.options.failover(line.followerOf).then(
          () => {
            const out = new RespWriter();
            out.version = version;
            out.ok();
            return out.take();
          },
          (e: unknown) => Buffer.from(`-ERR failover failed: ${(e as Error).message.replace(/[\r\n]+/g, ' ')}\r\n`),
        );
      }
      case 'help':
        w.arrayHeader(CLUSTER_HELP.length);
        for (const line of CLUSTER_HELP) w.simple(line);
        return;
      default:
        void state;
        void session;
        throw new ReplyError(`ERR unknown subcommand '${args[1]!.toString()}'. Try CLUSTER HELP.`);
    }
  }

  private keysIn(slot: number, count: number): { keys: string[]; total: number } {
    if (this.options.keysInSlot === undefined) throw new ReplyError('ERR the router holds no keys');
    return this.options.keysInSlot(slot, count);
  }

  private infoText(): string {
    const table = this.table;
    const assigned = table === undefined ? 0 : 16384;
    const down = table === undefined ? 0 : table.map.partitions.filter((e) => !this.live.has(e.replicas[0]!)).length;
    const slotsFail = table === undefined ? 0 : Math.round((down / table.map.partitions.length) * 16384);
    const myEpoch = table === undefined || this.options.selfId === undefined ? 0 : Math.max(0, ...table.map.partitions.filter((e) => e.replicas[0] === this.options.selfId).map((e) => e.epoch));
    const fields: [string, string | number][] = [
      ['cluster_state', table !== undefined && down === 0 ? 'ok' : 'fail'],
      ['cluster_slots_assigned', assigned],
      ['cluster_slots_ok', assigned - slotsFail],
      ['cluster_slots_pfail', 0],
      ['cluster_slots_fail', slotsFail],
      ['cluster_known_nodes', table === undefined ? 0 : table.nodeIds.length],
      ['cluster_size', table === undefined ? 0 : new Set(table.leaders).size],
      ['cluster_current_epoch', table?.epoch ?? 0],
      ['cluster_my_epoch', myEpoch],
      ['cluster_partitions', table?.map.partitions.length ?? 0],
      ['cluster_controller', this.controller ?? ''],
      ['cluster_stats_forwarded', this.forwarded],
      ['cluster_stats_redirected', this.redirected],
    ];
    return fields.map(([k, v]) => `${k}:${v}\r\n`).join('');
  }

  private slotsReply(w: RespWriter, session: Session): void {
    const table = this.table;
    if (table === undefined) return w.arrayHeader(0);
    const runs = table.slotRuns();
    w.arrayHeader(runs.length);
    for (const run of runs) {
      w.arrayHeader(2 + run.replicas.length);
      w.integer(run.first);
      w.integer(run.last);
      for (const id of run.replicas) {
        const n = table.map.nodes[id]!;
        w.arrayHeader(4);
        w.bulk(n.host);
        w.integer(portFor(n, session));
        w.bulk(id);
        w.mapHeader(0);
      }
    }
  }

  private shardsReply(w: RespWriter): void {
    const table = this.table;
    if (table === undefined) return w.arrayHeader(0);
    // A shard is a set of nodes with the same replica list; its slots are the ranges they hold.
    const shards = new Map<string, { replicas: readonly string[]; ranges: { first: number; last: number }[] }>();
    for (const run of table.slotRuns()) {
      const key = run.replicas.join(' ');
      const s = shards.get(key) ?? { replicas: run.replicas, ranges: [] };
      s.ranges.push({ first: run.first, last: run.last });
      shards.set(key, s);
    }
    // A follower out of the in-sync set of any of the shard's partitions is still catching up: 'loading'.
    const outOfSync = new Map<string, Set<string>>();
    for (const e of table.map.partitions) {
      if (e.isr === undefined) continue;
      const key = e.replicas.join(' ');
      const set = outOfSync.get(key) ?? new Set<string>();
      for (const id of e.replicas) if (!e.isr.includes(id)) set.add(id);
      outOfSync.set(key, set);
    }
    w.arrayHeader(shards.size);
    for (const [shardKey, s] of shards) {
      w.mapHeader(2);
      w.bulk('slots');
      w.arrayHeader(s.ranges.length * 2);
      for (const r of s.ranges) {
        w.integer(r.first);
        w.integer(r.last);
      }
      w.bulk('nodes');
      w.arrayHeader(s.replicas.length);
      s.replicas.forEach((id, i) => {
        const n = table.map.nodes[id]!;
        // Redis 7 names the plain port 'port' and the TLS one 'tls-port', when there is one.
        w.mapHeader(n.tlsPort === undefined ? 7 : 8);
        w.bulk('id');
        w.bulk(id);
        w.bulk('port');
        w.integer(n.port);
        if (n.tlsPort !== undefined) {
          w.bulk('tls-port');
          w.integer(n.tlsPort);
        }
        w.bulk('ip');
        w.bulk(n.host);
        w.bulk('endpoint');
        w.bulk(n.host);
        w.bulk('role');
        w.bulk(i === 0 ? 'master' : 'replica');
        w.bulk('replication-offset');
        w.integer(0);
        w.bulk('health');
        w.bulk(!this.live.has(id) ? 'failed' : outOfSync.get(shardKey)?.has(id) === true ? 'loading' : 'online');
      });
    }
  }

  /** CLUSTER NODES lines: `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slots...>`. */
  private nodeLines(session?: Session): { id: string; followerOf: string | undefined; text: string }[] {
    const table = this.table;
    if (table === undefined) return [];
    return table.nodeIds.map((id) => {
      const n = table.map.nodes[id]!;
      const ranges = table.rangesLedBy(id);
      // A node that leads nothing but follows partitions is shown as a replica of the leader it follows most.
      const counts = new Map<string, number>();
      for (const e of table.map.partitions) if (e.replicas[0] !== id && e.replicas.includes(id)) counts.set(e.replicas[0]!, (counts.get(e.replicas[0]!) ?? 0) + 1);
      const followerOf = ranges.length === 0 && counts.size > 0 ? [...counts].sort((a, b) => b[1] - a[1])[0]![0] : undefined;
      const flags = [id === this.options.selfId ? 'myself' : undefined, followerOf === undefined ? 'master' : 'slave', this.live.has(id) ? undefined : 'fail'].filter((f) => f !== undefined).join(',');
      const epoch = Math.max(0, ...table.map.partitions.filter((e) => e.replicas.includes(id)).map((e) => e.epoch));
      const slots = ranges.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`));
      const link = this.live.has(id) ? 'connected' : 'disconnected';
      const port = session === undefined ? n.port : portFor(n, session);
      const text = [id, `${n.host}:${port}@${n.port}`, flags, followerOf ?? '-', 0, 0, epoch, link, ...slots].join(' ');
      return { id, followerOf, text };
    });
  }

  private nodesText(session: Session): string {
    return this.nodeLines(session)
      .map((l) => `${l.text}\n`)
      .join('');
  }
}

const CLUSTER_HELP = [
  'CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'INFO, MYID, NODES, SLOTS, SHARDS, REPLICAS <node-id>, KEYSLOT <key>,',
  'COUNTKEYSINSLOT <slot>, GETKEYSINSLOT <slot> <count>, HOTKEYS [COUNT <n>], FAILOVER, HELP',
];

function arity(sub: string): ReplyError {
  return new ReplyError(`ERR unknown subcommand or wrong number of arguments for '${sub}'. Try CLUSTER HELP.`);
}

function slotArg(b: Buffer): number {
  const text = b.toString();
  const n = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n >= 16384) throw new ReplyError('ERR Invalid or out of range slot');
  return n;
}

/** Answers a peer's request against this node (or throws for an unknown op). */
export function servePeerRequest(body: unknown, runLocal: RunLocal, other?: (op: string, body: Record<string, unknown>) => unknown): Promise<unknown> | unknown {
  const req = body as { op?: string };
  if (req.op === 'cmds') {
    const r = body as Partial<CommandsRequest>;
    if (!Buffer.isBuffer(r.data) || !Number.isInteger(r.n) || r.n! < 1 || r.n! > ROUTING_LIMITS.forwardBatchCommandsMax) throw new AtollError('BAD_ARGUMENT', `cmds needs data (RESP requests) and n (1 to ${ROUTING_LIMITS.forwardBatchCommandsMax})`);
    const parser = new RespParser();
    let cmds: Buffer[][];
    try {
      cmds = parser.feed(r.data);
    } catch (e) {
      if (e instanceof ProtocolError) throw new AtollError('BAD_ARGUMENT', `cmds data is not RESP: ${e.reply}`);
      throw e;
    }
    if (cmds.length !== r.n || parser.bufferedBytes > 0) throw new AtollError('BAD_ARGUMENT', `cmds data holds ${cmds.length} complete requests${parser.bufferedBytes > 0 ? ' and a partial one' : ''}, not ${r.n}`);
    return runLocal(cmds, r.resp === 3 ? 3 : 2, r.tx === true).then((block) => ({ data: block.data, lengths: block.lengths }));
  }
  if (typeof req.op === 'string' && other !== undefined) return other(req.op, body as Record<string, unknown>);
  throw new AtollError('BAD_ARGUMENT', `unknown peer op ${String(req.op)}`);
}

/** Outgoing batches and their encoders are kept per destination node and RESP version. */
function batchKey(nodeId: string, resp: 2 | 3): string {
  return resp === 2 ? nodeId : `${nodeId}\u0000${resp}`;
}

/** The client port to tell `session` for node `n`: its TLS port to a client connected over TLS (Redis 7.2). */
function portFor(n: ClusterNode, session: Session): number {
  return session.tls === true && n.tlsPort !== undefined ? n.tlsPort : n.port;
}

/** A -MOVED reply (the owner changed under the map this node or router used). */
function isMoved(reply: Buffer): boolean {
  return reply.length > 6 && reply[0] === 0x2d && reply[1] === 0x4d && reply.subarray(0, 6).toString('latin1') === '-MOVED';
}

/** The replies in a peer's answer to a 'cmds' request, checked against the number of commands sent. */
function repliesOf(body: unknown, count: number): Buffer[] {
  const r = body as { data?: unknown; lengths?: unknown };
  const lengths = r.lengths;
  if (!Buffer.isBuffer(r.data) || !Array.isArray(lengths) || lengths.length !== count) throw new AtollError('BAD_ARGUMENT', `peer answered ${count} commands with a malformed reply block`);
  let total = 0;
  for (const n of lengths) {
    if (!Number.isInteger(n) || (n as number) < 0) throw new AtollError('BAD_ARGUMENT', 'peer sent a negative or fractional reply length');
    total += n as number;
  }
  if (total !== r.data.length) throw new AtollError('BAD_ARGUMENT', `peer's reply lengths add up to ${total} bytes, not ${r.data.length}`);
  return blockReplies({ data: r.data, lengths: lengths as number[] });
}
