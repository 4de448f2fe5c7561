// Keyspace notifications (`notify-keyspace-events`, Redis's flag letters): after a write command changed keys,
// each changed key's event goes to `__keyspace@0__:<key>` (message: the event) and `__keyevent@0__:<event>`
// (message: the key), on this node's pub/sub, as Redis Cluster publishes them node by node. Expiry and eviction
// publish `expired` and `evicted`. Events are named as Redis names them for the commands below; a command
// changing several keys names each by its role (RENAME: rename_from/rename_to; LMOVE: the pop, then the push).
// Redis's extra events too: `expire` after SET with a TTL (SETEX, PSETEX), `del` after the event of a command
// that emptied a list, set, sorted set or hash, `del` instead of the event when a STORE command's result is
// empty or an EXPIRE lands in the past, and GETEX's `expire`/`persist`. Not reproduced: `new` (n) and key-miss
// (m) events.
import { COMMAND_CATEGORIES } from './acl-categories.js';
import type { PubSubHub } from './pubsub.js';

const FLAGS = { g: 1, $: 2, l: 4, s: 8, h: 16, z: 32, x: 64, e: 128, K: 256, E: 512, t: 1024, m: 2048, d: 4096, n: 8192 } as const;
type Flag = keyof typeof FLAGS;
const ALL = FLAGS.g | FLAGS.$ | FLAGS.l | FLAGS.s | FLAGS.h | FLAGS.z | FLAGS.x | FLAGS.e | FLAGS.t | FLAGS.d;

/** Parses Redis's flag letters; undefined when one is not a flag. */
export function parseNotifyFlags(text: string): number | undefined {
  let out = 0;
  for (const c of text) {
    if (c === 'A') out |= ALL;
    else if (c in FLAGS) out |= FLAGS[c as Flag];
    else return undefined;
  }
  return out;
}

/** The flags as Redis prints them (CONFIG GET): A for all classes, then K, E, m. */
export function notifyFlagsText(flags: number): string {
  let out = '';
  if ((flags & ALL) === ALL) out += 'A';
  else for (const c of ['g', '$', 'l', 's', 'h', 'z', 'x', 'e', 't', 'd', 'n'] as const) if (flags & FLAGS[c]) out += c;
  for (const c of ['K', 'E', 'm'] as const) if (flags & FLAGS[c]) out += c;
  return out;
}

/** Event names that are not the command's own name. */
const EVENT: Readonly<Record<string, string>> = {
  setnx: 'set', setex: 'set', psetex: 'set', getset: 'set', mset: 'set', msetnx: 'set', incr: 'incrby', decr: 'incrby', decrby: 'incrby',
  getdel: 'del', unlink: 'del', pexpire: 'expire', expireat: 'expire', pexpireat: 'expire', hmset: 'hset', hsetnx: 'hset',
  lpushx: 'lpush', rpushx: 'rpush', blpop: 'lpop', brpop: 'rpop', zincrby: 'zincr', bzpopmin: 'zpopmin', bzpopmax: 'zpopmax',
  bitop: 'set', bitfield: 'setbit', pfmerge: 'pfadd', copy: 'copy_to', sort: 'sortstore', georadius: 'georadiusstore', georadiusbymember: 'georadiusstore',
};

/** Commands whose keys play different roles: the event of each key in order. */
const ROLES: Readonly<Record<string, (args: Buffer[]) => string[]>> = {
  rename: () => ['rename_from', 'rename_to'],
  renamenx: () => ['rename_from', 'rename_to'],
  smove: () => ['srem', 'sadd'],
  rpoplpush: () => ['rpop', 'lpush'],
  brpoplpush: () => ['rpop', 'lpush'],
  lmove: (args) => [`${args[3]!.toString('latin1').toLowerCase() === 'left' ? 'l' : 'r'}pop`, `${args[4]!.toString('latin1').toLowerCase() === 'left' ? 'l' : 'r'}push`],
  blmove: (args) => [`${args[3]!.toString('latin1').toLowerCase() === 'left' ? 'l' : 'r'}pop`, `${args[4]!.toString('latin1').toLowerCase() === 'left' ? 'l' : 'r'}push`],
};

/** Commands that store a computed result: an empty one deletes the destination, announced as `del` alone. */
const STORES = new Set(['sinterstore', 'sunionstore', 'sdiffstore', 'zunionstore', 'zinterstore', 'zdiffstore', 'zrangestore', 'geosearchstore', 'georadius', 'georadiusbymember', 'sort']);
/** Commands whose key is gone afterwards when the time given is already past: `del` instead of their event. */
const EXPIRING = new Set(['expire', 'pexpire', 'expireat', 'pexpireat', 'getex']);
const TTL_WORDS = new Set(['ex', 'px', 'exat', 'pxat']);

/** GETEX's event: `expire` with a TTL, `persist` with PERSIST. */
function getexEvent(args: Buffer[]): string {
  return args.slice(2).some((a) => a.toString('latin1').toLowerCase() === 'persist') ? 'persist' : 'expire';
}

/** Whether a SET-family command gave a TTL (SET ... EX/PX/EXAT/PXAT, SETEX, PSETEX): Redis adds `expire`. */
function setsTtl(name: string, args: Buffer[]): boolean {
  if (name === 'setex' || name === 'psetex') return true;
  return name === 'set' && args.slice(3).some((a) => TTL_WORDS.has(a.toString('latin1').toLowerCase()));
}

/** The class flag of a command's events, from its ACL categories. */
function classOf(name: string): number {
  const cats = COMMAND_CATEGORIES[name] ?? '';
  for (const [cat, flag] of [['string', FLAGS.$], ['bitmap', FLAGS.$], ['hyperloglog', FLAGS.$], ['list', FLAGS.l], ['set', FLAGS.s], ['hash', FLAGS.h], ['sortedset', FLAGS.z], ['stream', FLAGS.t]] as const) {
    if (cats.includes(cat)) return flag;
  }
  return FLAGS.g;
}

export class KeyspaceNotifier {
  flags = 0;

  constructor(private readonly hub: PubSubHub) {}

  private publish(flag: number, event: string, key: string): void {
    if ((this.flags & flag) === 0) return;
    const k = Buffer.from(key, 'latin1');
    if (this.flags & FLAGS.K) this.hub.publish(Buffer.concat([Buffer.from('__keyspace@0__:'), k]), Buffer.from(event));
    if (this.flags & FLAGS.E) this.hub.publish(Buffer.from(`__keyevent@0__:${event}`), k);
  }

  /** A write command `name` changed `changed` (of its `keys`, in order); `exists` tells which keys are left. */
  command(name: string, args: Buffer[], keys: readonly Buffer[], changed: ReadonlySet<string>, exists: (key: string) => boolean = () => true): void {
    const roles = ROLES[name]?.(args);
    const generic = ['del', 'unlink', 'expire', 'pexpire', 'expireat', 'pexpireat', 'persist', 'rename', 'renamenx', 'copy', 'restore', 'sort', 'getdel'].includes(name);
    const flag = generic ? FLAGS.g : classOf(name);
    const seen = new Set<string>();
    // A list move announces its push before its pop, as Redis does.
    const order = (roles !== undefined && name.includes('lmove')) || name === 'rpoplpush' || name === 'brpoplpush' ? [1, 0] : keys.map((_, i) => i);
    order.forEach((i) => {
      const kb = keys[i];
      if (kb === undefined) return;
      const key = kb.toString('latin1');
      if (!changed.has(key) || (roles === undefined && seen.has(key))) return;
      seen.add(key);
      const keyFlag = roles === undefined ? flag : name === 'smove' ? FLAGS.s : name.startsWith('rename') ? FLAGS.g : FLAGS.l;
      const gone = !exists(key);
      if (gone && (STORES.has(name) || EXPIRING.has(name))) return this.publish(FLAGS.g, 'del', key);
      this.publish(name === 'getex' ? FLAGS.g : keyFlag, name === 'getex' ? getexEvent(args) : (roles?.[i] ?? EVENT[name] ?? name), key);
      if (gone && (keyFlag & (FLAGS.l | FLAGS.s | FLAGS.z | FLAGS.h)) !== 0) this.publish(FLAGS.g, 'del', key);
      else if (setsTtl(name, args)) this.publish(FLAGS.g, 'expire', key);
    });
  }

  removed(key: string, why: 'expired' | 'evicted'): void {
    this.publish(why === 'expired' ? FLAGS.x : FLAGS.e, why, key);
  }
}
