// Pub/sub commands with Redis 7.0 replies: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, and the
// sharded SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH; PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB. In cluster
// mode PUBLISH is broadcast to every node (each delivers to its own subscribers; the reply counts this node's,
// as Redis Cluster's does); SPUBLISH is routed to the channel's slot leader, where SSUBSCRIBE must be sent.
import { ReplyError } from './args.js';
import type { RespWriter } from './resp-writer.js';
import { RetryAfter, type ExecuteResult, type ServerState, type Session } from './dispatch.js';
import { confirmation, type PubSubHub, type Subscriber } from './pubsub.js';

const k = (b: Buffer): string => b.toString('latin1');

/** Commands a RESP2 connection may send while it has subscriptions. */
export const SUBSCRIBED_CONTEXT: ReadonlySet<string> = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'ping', 'quit', 'reset']);

export const subscribedContextError = (name: string): string => `ERR Can't execute '${name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`;

/** Whether a session has any subscription (RESP2 then limits what it may send). */
export function subscribed(session: Session): boolean {
  const s = session.sub;
  return s !== undefined && s.channels.size + s.patterns.size + s.shardChannels.size > 0;
}

function hubOf(state: ServerState): PubSubHub {
  const hub = state.pubsub;
  if (hub === undefined) throw new Error('invariant: a server without a pub/sub hub');
  return hub;
}

function subscriberOf(session: Session): Subscriber {
  if (session.sub !== undefined) return session.sub;
  const push = session.push;
  if (push === undefined) throw new ReplyError('ERR this connection cannot subscribe (forwarded commands cannot)');
  session.sub = { id: session.id, resp: () => session.resp, push, channels: new Set(), patterns: new Set(), shardChannels: new Set() };
  return session.sub;
}

type Kind = 'channel' | 'pattern' | 'shard';
const WORDS: Record<Kind, [string, string]> = { channel: ['subscribe', 'unsubscribe'], pattern: ['psubscribe', 'punsubscribe'], shard: ['ssubscribe', 'sunsubscribe'] };

/** The count a confirmation carries: channels + patterns, or shard channels alone (as Redis counts them). */
const countOf = (s: Subscriber, kind: Kind): number => (kind === 'shard' ? s.shardChannels.size : s.channels.size + s.patterns.size);

/** SSUBSCRIBE/SUNSUBSCRIBE channels: in one slot this node leads (a subscription cannot be forwarded). */
function checkShard(state: ServerState, session: Session, channels: Buffer[]): RetryAfter | undefined {
  const r = state.cluster?.localCheck?.(session, channels, false, false);
  if (r === undefined) return undefined;
  if (r instanceof RetryAfter) return r;
  if ('error' in r) throw new ReplyError(r.error);
  return undefined;
}

function subscribe(kind: Kind) {
  return (state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
    if (kind === 'shard') {
      const wait = checkShard(state, session, args.slice(1));
      if (wait !== undefined) return wait;
    }
    const hub = hubOf(state);
    const s = subscriberOf(session);
    for (let i = 1; i < args.length; i++) {
      const name = k(args[i]!);
      hub.add(s, kind, name);
      w.raw(confirmation(session.resp, WORDS[kind][0], name, countOf(s, kind)));
    }
  };
}

function unsubscribe(kind: Kind) {
  return (state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
    const hub = hubOf(state);
    const s = session.sub;
    const mine = s === undefined ? [] : [...(kind === 'channel' ? s.channels : kind === 'pattern' ? s.patterns : s.shardChannels)];
    const names = args.length > 1 ? args.slice(1).map(k) : mine;
    if (names.length === 0) return w.raw(confirmation(session.resp, WORDS[kind][1], undefined, s === undefined ? 0 : countOf(s, kind)));
    for (const name of names) {
      if (s !== undefined) hub.remove(s, kind, name);
      w.raw(confirmation(session.resp, WORDS[kind][1], name, s === undefined ? 0 : countOf(s, kind)));
    }
  };
}

const publish = (state: ServerState, _session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
  const n = hubOf(state).publish(args[1]!, args[2]!);
  state.cluster?.broadcastPublish?.(args[1]!, args[2]!);
  w.integer(n);
};

/** SPUBLISH runs on the channel's slot leader (routed like a key): its shard subscribers are there. */
const spublish = (state: ServerState, _session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
  w.integer(hubOf(state).spublish(args[1]!, args[2]!));
};

function pubsubCmd(state: ServerState, _session: Session, args: Buffer[], w: RespWriter): ExecuteResult {
  const hub = hubOf(state);
  const sub = k(args[1]!).toLowerCase();
  const arity = (): ReplyError => new ReplyError(`ERR wrong number of arguments for 'pubsub|${sub}' command`);
  if (sub === 'channels' || sub === 'shardchannels') {
    if (args.length > 3) throw arity();
    const names = hub.names(sub === 'channels' ? 'channel' : 'shard', args[2] === undefined ? undefined : k(args[2]));
    w.arrayHeader(names.length);
    for (const n of names) w.bulkLatin1(n);
    return;
  }
  if (sub === 'numsub' || sub === 'shardnumsub') {
    w.mapHeader(args.length - 2);
    for (let i = 2; i < args.length; i++) {
      w.bulk(args[i]!);
      w.integer(hub.count(sub === 'numsub' ? 'channel' : 'shard', k(args[i]!)));
    }
    return;
  }
  if (sub === 'numpat') {
    if (args.length !== 2) throw arity();
    return w.integer(hub.patternCount);
  }
  throw new ReplyError(`ERR unknown subcommand '${k(args[1]!).slice(0, 128)}'. Try PUBSUB HELP.`);
}

/** name -> [arity, flags, handler]; SPUBLISH is keyed (its channel routes it) and listed with the data commands. */
export const PUBSUB_COMMANDS = {
  subscribe: [-2, ['pubsub'], subscribe('channel')],
  psubscribe: [-2, ['pubsub'], subscribe('pattern')],
  ssubscribe: [-2, ['pubsub'], subscribe('shard')],
  unsubscribe: [-1, ['pubsub'], unsubscribe('channel')],
  punsubscribe: [-1, ['pubsub'], unsubscribe('pattern')],
  sunsubscribe: [-1, ['pubsub'], unsubscribe('shard')],
  publish: [3, ['pubsub', 'fast'], publish],
  pubsub: [-2, ['pubsub'], pubsubCmd],
} as const;

export { spublish };
