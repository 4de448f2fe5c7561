// Redis ACL users, pure: the rules of ACL SETUSER (on/off, passwords as SHA-256, key patterns with %R~/%W~,
// channel patterns, commands and @categories, reset), permission checks for a command with its keys and
// channels, and Redis 7.0's description of a user (ACL LIST, ACL GETUSER), which rebuilds the command rules
// from the set of allowed commands: categories first (best fit, in Redis's category order), then single
// commands. The command universe and categories come from the caller (the dispatch table).
import { createHash } from 'node:crypto';
import { globToRegExp } from './args.js';
import { ACL_CATEGORIES, COMMAND_CATEGORIES, REDIS_CATEGORY_SIZES } from './acl-categories.js';

export const sha256 = (s: Buffer | string): string => createHash('sha256').update(s).digest('hex');

interface KeyPattern {
  readonly pattern: string;
  readonly read: boolean;
  readonly write: boolean;
  readonly match: (key: string) => boolean;
}

/** A glob as a test: a prefix (`app:*`) or a literal is compared directly, other patterns go through a RegExp. */
export function globMatcher(pattern: string): (s: string) => boolean {
  const glob = /[*?[\\]/;
  if (pattern === '*') return () => true;
  if (pattern.endsWith('*') && !glob.test(pattern.slice(0, -1))) {
    const prefix = pattern.slice(0, -1);
    return (s) => s.startsWith(prefix);
  }
  if (!glob.test(pattern)) return (s) => s === pattern;
  const re = globToRegExp(pattern);
  return (s) => re.test(s);
}

export interface AclUser {
  readonly name: string;
  enabled: boolean;
  nopass: boolean;
  passwords: string[];
  keys: KeyPattern[];
  channels: { pattern: string; match: (channel: string) => boolean }[];
  allChannels: boolean;
  /** +@all was the base: commands added later are allowed too (Redis's "future commands" bit). */
  allowAll: boolean;
  allowed: Set<string>;
  /** First-argument allowances (+config|get), for commands not allowed whole. */
  subcommands: Set<string>;
  /** Per category, whether Redis's commands Atoll lacks would be allowed (the last rule that reached them). */
  unserved: Map<string, boolean>;
  /** Redis's RESTORE payload flag (kept and shown; Atoll's RESTORE always checks its payloads). */
  payload: 'unset' | 'sanitize-payload' | 'skip-sanitize-payload';
}

export class AclRuleError extends Error {
  constructor(
    readonly op: string,
    readonly why: string,
  ) {
    super(`ERR Error in ACL SETUSER modifier '${op}': ${why}`);
  }
}

/** The commands each category holds, among `commands`. */
function categoryMembers(commands: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>(ACL_CATEGORIES.map((c) => [c, new Set<string>()]));
  for (const name of commands) for (const c of (COMMAND_CATEGORIES[name] ?? 'slow').split(' ')) out.get(c)?.add(name);
  return out;
}

export function newUser(name: string): AclUser {
  return { name, enabled: false, nopass: false, passwords: [], keys: [], channels: [], allChannels: false, allowAll: false, allowed: new Set(), subcommands: new Set(), unserved: new Map(), payload: 'unset' };
}

function cloneUser(u: AclUser): AclUser {
  return { ...u, passwords: [...u.passwords], keys: [...u.keys], channels: [...u.channels], allowed: new Set(u.allowed), subcommands: new Set(u.subcommands), unserved: new Map(u.unserved) };
}

const HASH = /^[0-9a-f]{64}$/;

/** Applies one ACL SETUSER rule to `u` (throws AclRuleError with Redis's reason). */
function applyRule(u: AclUser, op: string, commands: readonly string[], members: Map<string, Set<string>>): void {
  const lower = op.toLowerCase();
  if (lower === 'on' || lower === 'off') u.enabled = lower === 'on';
  else if (lower === 'sanitize-payload' || lower === 'skip-sanitize-payload') u.payload = lower;
  else if (lower === 'nopass') {
    u.nopass = true;
    u.passwords = [];
  } else if (lower === 'resetpass') {
    u.nopass = false;
    u.passwords = [];
  } else if (op.startsWith('>') || op.startsWith('#')) {
    const hash = op.startsWith('>') ? sha256(op.slice(1)) : op.slice(1);
    if (!HASH.test(hash)) throw new AclRuleError(op, 'The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters');
    if (!u.passwords.includes(hash)) u.passwords.push(hash);
    u.nopass = false;
  } else if (op.startsWith('<') || op.startsWith('!')) {
    const hash = op.startsWith('<') ? sha256(op.slice(1)) : op.slice(1);
    if (!u.passwords.includes(hash)) throw new AclRuleError(op, 'The password you are trying to remove from the user does not exist');
    u.passwords = u.passwords.filter((p) => p !== hash);
  } else if (applyKeyOrChannel(u, op, lower)) return;
  else applyCommandRule(u, op, lower, commands, members);
}

/** Key and channel rules; false when `op` is not one. */
function applyKeyOrChannel(u: AclUser, op: string, lower: string): boolean {
  const keyRule = /^(~|%(R|W|RW)~)(.*)$/i.exec(op);
  if (keyRule !== null || lower === 'allkeys') {
    const pattern = keyRule?.[3] ?? '*';
    const flags = (keyRule?.[2] ?? 'RW').toUpperCase();
    if (u.keys.some((k) => k.pattern === '*' && k.read && k.write) && pattern !== '*') {
      throw new AclRuleError(op, "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns");
    }
    if (pattern === '*' && flags === 'RW') u.keys = [];
    u.keys.push({ pattern, read: flags.includes('R'), write: flags.includes('W'), match: globMatcher(pattern) });
    return true;
  }
  if (lower === 'resetkeys') u.keys = [];
  else if (op.startsWith('&') || lower === 'allchannels') {
    const pattern = op.startsWith('&') ? op.slice(1) : '*';
    if (u.allChannels && pattern !== '*') throw new AclRuleError(op, "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels");
    if (pattern === '*') {
      u.allChannels = true;
      u.channels = [];
    } else u.channels.push({ pattern, match: globMatcher(pattern) });
  } else if (lower === 'resetchannels') {
    u.allChannels = false;
    u.channels = [];
  } else return false;
  return true;
}

function applyCommandRule(u: AclUser, op: string, lower: string, commands: readonly string[], members: Map<string, Set<string>>): void {
  if (lower === 'reset') {
    Object.assign(u, { enabled: false, nopass: false, passwords: [], keys: [], channels: [], allChannels: false, allowAll: false, allowed: new Set(), subcommands: new Set(), unserved: new Map(), payload: 'sanitize-payload' });
    return;
  }
  const all = lower === 'allcommands' || lower === '+@all';
  if (all || lower === 'nocommands' || lower === '-@all') {
    u.allowAll = all;
    u.allowed = new Set(all ? commands : []);
    u.subcommands = new Set();
    u.unserved = new Map();
    return;
  }
  const m = /^([+-])(@?)([^|]+)(?:\|(.+))?$/.exec(lower);
  if (m === null) throw new AclRuleError(op, 'Syntax error');
  const [, sign, at, name, sub] = m as unknown as [string, string, string, string, string | undefined];
  const unknown = new AclRuleError(op, 'Unknown command or category name in ACL');
  if (at === '@') {
    const set = members.get(name);
    if (set === undefined || sub !== undefined) throw unknown;
    u.unserved.set(name, sign === '+');
    for (const c of set) {
      if (sign === '+') u.allowed.add(c);
      else u.allowed.delete(c);
    }
    return;
  }
  if (!commands.includes(name)) throw unknown;
  if (sub !== undefined) {
    if (sign === '-') throw new AclRuleError(op, 'Allowing first-arg of a subcommand is not supported');
    u.subcommands.add(`${name}|${sub}`);
    return;
  }
  if (sign === '+') u.allowed.add(name);
  else u.allowed.delete(name);
  for (const s of [...u.subcommands]) if (s.startsWith(`${name}|`)) u.subcommands.delete(s);
}

/** The users of one node (or of the cluster, copied to every node), with the default user. */
export class AclStore {
  private readonly users = new Map<string, AclUser>();
  private readonly members: Map<string, Set<string>>;

  get commandNames(): readonly string[] {
    return this.commands;
  }

  constructor(private readonly commands: readonly string[]) {
    this.members = categoryMembers(commands);
    const d = newUser('default');
    for (const op of ['on', 'nopass', '~*', '&*', '+@all']) applyRule(d, op, commands, this.members);
    this.users.set('default', d);
  }

  get(name: string): AclUser | undefined {
    return this.users.get(name);
  }

  names(): string[] {
    return [...this.users.keys()].sort();
  }

  /** ACL SETUSER: all rules apply, or none (the first bad one is reported). */
  setUser(name: string, ops: readonly string[]): void {
    const u = cloneUser(this.users.get(name) ?? newUser(name));
    for (const op of ops) applyRule(u, op, this.commands, this.members);
    this.users.set(name, u);
  }

  deleteUser(name: string): boolean {
    return this.users.delete(name);
  }

  /** Every user as JSON (password hashes only), for the coordinator: users are the cluster's, not a node's. */
  serialize(): string {
    const users = [...this.users.values()].map((u) => ({
      ...u,
      keys: u.keys.map(({ pattern, read, write }) => ({ pattern, read, write })),
      channels: u.channels.map((c) => c.pattern),
      // A +@all user is stored by what it lacks (commands a newer node adds stay allowed), others by what they have.
      allowed: u.allowAll ? [] : [...u.allowed],
      denied: u.allowAll ? this.commands.filter((c) => !u.allowed.has(c)) : [],
      subcommands: [...u.subcommands],
      unserved: [...u.unserved],
    }));
    return JSON.stringify({ version: 1, users });
  }

  /** Replaces every user with those of `serialize()`'s output (commands this node lacks are left out). */
  load(json: string): void {
    type Stored = Omit<AclUser, 'keys' | 'channels' | 'allowed' | 'subcommands' | 'unserved'> & { keys: { pattern: string; read: boolean; write: boolean }[]; channels: string[]; allowed: string[]; denied: string[]; subcommands: string[]; unserved: [string, boolean][] };
    const doc = JSON.parse(json) as { version: number; users: Stored[] };
    if (doc.version !== 1 || !Array.isArray(doc.users)) throw new Error(`unknown ACL document version ${String(doc.version)}`);
    const known = new Set(this.commands);
    this.users.clear();
    for (const { denied, ...u } of doc.users) {
      const lacks = new Set(denied);
      this.users.set(u.name, {
        ...u,
        keys: u.keys.map((k) => ({ ...k, match: globMatcher(k.pattern) })),
        channels: u.channels.map((pattern) => ({ pattern, match: globMatcher(pattern) })),
        allowed: new Set(u.allowAll ? this.commands.filter((c) => !lacks.has(c)) : u.allowed.filter((c) => known.has(c))),
        subcommands: new Set(u.subcommands),
        unserved: new Map(u.unserved),
      });
    }
    if (!this.users.has('default')) throw new Error('an ACL document without the default user');
  }

  /** requirepass: the default user's only password ('' makes it nopass again), as Redis keeps them tied. */
  setRequirepass(pass: string): void {
    const d = this.users.get('default')!;
    d.passwords = pass === '' ? [] : [sha256(pass)];
    d.nopass = pass === '';
  }

  /** Whether `name`/`pass` authenticate (an enabled user whose password matches, or nopass). */
  check(name: string, pass: Buffer): AclUser | undefined {
    const u = this.users.get(name);
    if (u === undefined || !u.enabled) return undefined;
    return u.nopass || u.passwords.includes(sha256(pass)) ? u : undefined;
  }

  categories(): readonly string[] {
    return ACL_CATEGORIES;
  }

  membersOf(category: string): string[] | undefined {
    const s = this.members.get(category);
    return s === undefined ? undefined : [...s];
  }

  /**
   * Redis 7.0's command rules text: +@all or -@all, then, in Redis's category order, each category that covers
   * more of what the user has (and the rules so far do not) than it would wrongly change, then single commands.
   */
  describeCommands(u: AclUser): string {
    const rules = [u.allowAll ? '+@all' : '-@all'];
    const fake = new Set<string>(u.allowAll ? this.commands : []);
    for (const cat of ACL_CATEGORIES) {
      const members = [...(this.members.get(cat) ?? [])];
      // Redis counts its whole category: commands Atoll does not serve follow the user's last rule on it.
      const unserved = Math.max(0, REDIS_CATEGORY_SIZES[cat] - members.length);
      const userUnserved = u.unserved.get(cat) ?? u.allowAll;
      if (!u.allowAll) {
        const on = members.filter((c) => u.allowed.has(c) && !fake.has(c)).length + (userUnserved ? unserved : 0);
        const off = members.filter((c) => !u.allowed.has(c)).length + (userUnserved ? 0 : unserved);
        if (on <= off) continue;
        rules.push(`+@${cat}`);
        for (const c of members) fake.add(c);
      } else {
        const off = members.filter((c) => !u.allowed.has(c) && fake.has(c)).length + (userUnserved ? 0 : unserved);
        const on = members.filter((c) => u.allowed.has(c)).length + (userUnserved ? unserved : 0);
        if (off <= on) continue;
        rules.push(`-@${cat}`);
        for (const c of members) fake.delete(c);
      }
    }
    for (const c of this.commands) if (u.allowed.has(c) !== fake.has(c)) rules.push(`${u.allowed.has(c) ? '+' : '-'}${c}`);
    for (const s of u.subcommands) rules.push(`+${s}`);
    return rules.join(' ');
  }

  describeKeys(u: AclUser): string {
    return u.keys.map((k) => `${k.read && k.write ? '' : k.read ? '%R' : '%W'}~${k.pattern}`).join(' ');
  }

  describeChannels(u: AclUser): string {
    return u.allChannels ? '&*' : u.channels.map((c) => `&${c.pattern}`).join(' ');
  }

  /** One ACL LIST line. */
  describe(u: AclUser): string {
    const parts = [`user ${u.name}`, u.enabled ? 'on' : 'off'];
    if (u.nopass) parts.push('nopass');
    if (u.payload !== 'unset') parts.push(u.payload);
    for (const p of u.passwords) parts.push(`#${p}`);
    const keys = this.describeKeys(u);
    if (keys !== '') parts.push(keys);
    parts.push(u.allChannels ? '&*' : ['resetchannels', this.describeChannels(u)].filter((s) => s !== '').join(' '));
    parts.push(this.describeCommands(u));
    return parts.join(' ');
  }
}

/** What a denial was about: Redis's ACL LOG reasons. */
export type Denial = { reason: 'command'; object: string } | { reason: 'key'; object: string } | { reason: 'channel'; object: string };

/** Whether `u` may run `name` (first argument `sub` for subcommand rules). */
export function mayRun(u: AclUser, name: string, sub: string | undefined): boolean {
  return u.allowed.has(name) || (sub !== undefined && u.subcommands.has(`${name}|${sub.toLowerCase()}`));
}

/** The first key `u` may not touch for this access, if any. */
export function deniedKey(u: AclUser, keys: readonly Buffer[], read: boolean, write: boolean): string | undefined {
  for (const kb of keys) {
    const k = kb.toString('latin1');
    const ok = u.keys.some((p) => (!read || p.read) && (!write || p.write) && p.match(k)) || (read && write && u.keys.some((p) => p.read && p.match(k)) && u.keys.some((p) => p.write && p.match(k)));
    if (!ok) return k;
  }
  return undefined;
}

/** The first channel `u` may not use; patterns (PSUBSCRIBE) must equal an allowed pattern literally. */
export function deniedChannel(u: AclUser, channels: readonly Buffer[], literal: boolean): string | undefined {
  if (u.allChannels) return undefined;
  for (const cb of channels) {
    const c = cb.toString('latin1');
    const ok = u.channels.some((p) => (literal ? p.pattern === c : p.match(c)));
    if (!ok) return c;
  }
  return undefined;
}
