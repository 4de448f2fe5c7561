// Pub/sub on one node: who is subscribed to which channel, pattern or shard channel, and delivery of a message
// to them encoded in each subscriber's RESP version (RESP3 as push frames). Delivery is at most once, as in
// Redis: a subscriber whose output backs up past the pub/sub output-buffer limits is disconnected (Redis's
// `client-output-buffer-limit pubsub 32mb 8mb 60`). Cluster-wide fan-out (PUBLISH reaching every node) is the
// cluster layer's; this hub only delivers what it is given.
import { globToRegExp } from './args.js';

export const PUBSUB_LIMITS = Object.freeze({
  /** A subscriber whose unsent output passes this is disconnected at once. */
  outputHardBytes: 32 * 1024 * 1024,
  /** ...or stays above this for outputSoftMs. */
  outputSoftBytes: 8 * 1024 * 1024,
  outputSoftMs: 60_000,
});

/** A connection as pub/sub sees it. */
export interface Subscriber {
  readonly id: number;
  /** RESP version of its connection (read at delivery). */
  resp(): 2 | 3;
  /** Writes bytes to the connection (after any reply being built for it). */
  push(bytes: Buffer): void;
  readonly channels: Set<string>;
  readonly patterns: Set<string>;
  readonly shardChannels: Set<string>;
}

type Kind = 'channel' | 'pattern' | 'shard';

function frame(resp: 2 | 3, parts: readonly (string | Buffer)[]): Buffer {
  const chunks: Buffer[] = [Buffer.from(`${resp === 3 ? '>' : '*'}${parts.length}\r\n`)];
  for (const p of parts) {
    const b = typeof p === 'string' ? Buffer.from(p, 'latin1') : p;
    chunks.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(chunks);
}

export class PubSubHub {
  private readonly channels = new Map<string, Set<Subscriber>>();
  private readonly patterns = new Map<string, { re: RegExp; subs: Set<Subscriber> }>();
  private readonly shard = new Map<string, Set<Subscriber>>();
  /** Messages delivered (local receivers), for INFO. */
  delivered = 0;

  private table(kind: Kind): Map<string, Set<Subscriber>> {
    return kind === 'channel' ? this.channels : this.shard;
  }

  private own(s: Subscriber, kind: Kind): Set<string> {
    return kind === 'channel' ? s.channels : kind === 'pattern' ? s.patterns : s.shardChannels;
  }

  /** Adds a subscription (idempotent). */
  add(s: Subscriber, kind: Kind, name: string): void {
    const mine = this.own(s, kind);
    if (mine.has(name)) return;
    mine.add(name);
    if (kind === 'pattern') {
      let p = this.patterns.get(name);
      if (p === undefined) this.patterns.set(name, (p = { re: globToRegExp(name), subs: new Set() }));
      p.subs.add(s);
      return;
    }
    const t = this.table(kind);
    let set = t.get(name);
    if (set === undefined) t.set(name, (set = new Set()));
    set.add(s);
  }

  /** Removes a subscription; false when it was not there. */
  remove(s: Subscriber, kind: Kind, name: string): boolean {
    if (!this.own(s, kind).delete(name)) return false;
    if (kind === 'pattern') {
      const p = this.patterns.get(name)!;
      p.subs.delete(s);
      if (p.subs.size === 0) this.patterns.delete(name);
      return true;
    }
    const t = this.table(kind);
    const set = t.get(name)!;
    set.delete(s);
    if (set.size === 0) t.delete(name);
    return true;
  }

  /** Drops every subscription of a closing connection. */
  forget(s: Subscriber): void {
    for (const c of [...s.channels]) this.remove(s, 'channel', c);
    for (const p of [...s.patterns]) this.remove(s, 'pattern', p);
    for (const c of [...s.shardChannels]) this.remove(s, 'shard', c);
  }

  /** Delivers a PUBLISH to channel and pattern subscribers here; returns how many received it. */
  publish(channel: Buffer, message: Buffer): number {
    const name = channel.toString('latin1');
    let n = 0;
    const encoded: (Buffer | undefined)[] = [undefined, undefined];
    for (const s of this.channels.get(name) ?? []) {
      const v = s.resp();
      s.push((encoded[v - 2] ??= frame(v, ['message', channel, message])));
      n++;
    }
    for (const [pattern, p] of this.patterns) {
      if (!p.re.test(name)) continue;
      for (const s of p.subs) {
        s.push(frame(s.resp(), ['pmessage', pattern, channel, message]));
        n++;
      }
    }
    this.delivered += n;
    return n;
  }

  /** Delivers an SPUBLISH to shard-channel subscribers here. */
  spublish(channel: Buffer, message: Buffer): number {
    let n = 0;
    for (const s of this.shard.get(channel.toString('latin1')) ?? []) {
      s.push(frame(s.resp(), ['smessage', channel, message]));
      n++;
    }
    this.delivered += n;
    return n;
  }

  /** Channel names with subscribers here (optionally matching a glob), for PUBSUB CHANNELS / SHARDCHANNELS. */
  names(kind: 'channel' | 'shard', pattern?: string): string[] {
    const re = pattern === undefined ? undefined : globToRegExp(pattern);
    return [...this.table(kind).keys()].filter((c) => re === undefined || re.test(c));
  }

  count(kind: 'channel' | 'shard', name: string): number {
    return this.table(kind).get(name)?.size ?? 0;
  }

  get patternCount(): number {
    return this.patterns.size;
  }
}

/** The confirmation frame of a (un)subscribe: [kind, name or nil, count], a push in RESP3. */
export function confirmation(resp: 2 | 3, kind: string, name: string | undefined, count: number): Buffer {
  const head = `${resp === 3 ? '>' : '*'}3\r\n$${kind.length}\r\n${kind}\r\n`;
  const mid = name === undefined ? (resp === 3 ? '_\r\n' : '$-1\r\n') : `$${Buffer.byteLength(name, 'latin1')}\r\n`;
  return Buffer.concat([Buffer.from(head + mid, 'latin1'), name === undefined ? Buffer.alloc(0) : Buffer.from(`${name}\r\n`, 'latin1'), Buffer.from(`:${count}\r\n`)]);
}
