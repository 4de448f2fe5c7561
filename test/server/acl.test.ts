// ACL users differentially against redis-server: ACL SETUSER rules and their errors, ACL LIST / GETUSER
// (Redis 7.0 rebuilds command rules from the allowed set: categories first, then single commands), USERS,
// WHOAMI, CAT, DELUSER, DRYRUN; AUTH user pass and HELLO AUTH; -NOPERM for commands, keys and channels,
// inside MULTI (EXECABORT) and scripts; ACL LOG records denials and failed AUTHs.
import { describe, expect, it } from 'vitest';
import { RespClient } from '../../src/client/resp-client.js';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);

/**
 * Redis lists a user's single-command rules (after +@all/-@all and the categories, whose order is fixed) in its
 * command table's hash order, which differs from one redis-server process to the next: they are compared sorted.
 */
function normRules(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normRules);
  if (typeof v !== 'string' || !/(^| )[-+]@all( |$)/.test(v)) return v;
  const at = v.search(/[-+]@all/);
  const tokens = v.slice(at).split(' ');
  const singles = tokens.filter((t) => !t.includes('@')).sort();
  return `${v.slice(0, at)}${[...tokens.filter((t) => t.includes('@')), ...singles].join(' ')}`;
}

async function same(args: string[]): Promise<void> {
  const r = await all(args);
  expect({ args, memory: normRules(r.memory), lmdb: normRules(r.lmdb) }).toEqual({ args, memory: normRules(r.redis), lmdb: normRules(r.redis) });
}

/** A second connection to each server, authenticated as `user`, running `cmds`; the three transcripts must agree. */
async function asUser(user: string, pass: string, cmds: string[][]): Promise<void> {
  const out: Record<string, unknown[]> = {};
  for (const [name, c] of trio().clients) {
    const s = await RespClient.connect('127.0.0.1', c.port);
    const replies: unknown[] = [];
    for (const cmd of [['AUTH', user, pass], ...cmds]) {
      const r = await s.send(cmd);
      replies.push(r instanceof Error ? `ERR: ${r.message}` : Buffer.isBuffer(r) ? r.toString('latin1') : Array.isArray(r) ? r.map((x) => (Buffer.isBuffer(x) ? x.toString('latin1') : x instanceof Error ? `ERR: ${x.message}` : x)) : r);
    }
    s.close();
    out[name] = replies;
  }
  expect({ user, memory: out.memory, lmdb: out.lmdb }).toEqual({ user, memory: out.redis, lmdb: out.redis });
}

describe('ACL against redis-server', () => {
  it('SETUSER rules, LIST, GETUSER, USERS, CAT, DELUSER and DRYRUN reply as redis-server', async () => {
    const script: string[][] = [
      ['ACL', 'LIST'], ['ACL', 'SETUSER', 'alice'], ['ACL', 'GETUSER', 'alice'],
      ['ACL', 'SETUSER', 'alice', 'on', '>p1', '~cached:*', '+get', '+@hash', '-hdel', '&chan*', '%R~ro:*', '%W~wo:*'], ['ACL', 'LIST'], ['ACL', 'GETUSER', 'alice'],
      ['ACL', 'SETUSER', 'bob', 'allkeys', 'allchannels', 'allcommands', '-debug', 'nopass', 'on'], ['ACL', 'GETUSER', 'bob'],
      ['ACL', 'SETUSER', 't1', '-hdel', '+get', '+@hash'], ['ACL', 'GETUSER', 't1'],
      ['ACL', 'SETUSER', 't2', '+@hash', '-hdel', '+get', '+@string', '-@string'], ['ACL', 'GETUSER', 't2'],
      ['ACL', 'SETUSER', 't3', '+get', '-get', '+set', '+get'], ['ACL', 'GETUSER', 't3'],
      ['ACL', 'SETUSER', 't4', '+@all', '-@dangerous', '+debug', '-@hash'], ['ACL', 'GETUSER', 't4'],
      ['ACL', 'SETUSER', 't5', '+@read', '+@write', '-@read'], ['ACL', 'GETUSER', 't5'],
      ['ACL', 'SETUSER', 't6', 'on', 'nopass', '#e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '<nope'],
      ['ACL', 'SETUSER', 't6', '#abc'], ['ACL', 'SETUSER', 't6', 'xx'], ['ACL', 'SETUSER', 't6', '+nosuch'], ['ACL', 'SETUSER', 't6', '+@nosuch'],
      ['ACL', 'SETUSER', 't6', 'allkeys', '~x'], ['ACL', 'SETUSER', 't6', 'allchannels', '&x'], ['ACL', 'SETUSER', 't6', '>a', '>b', '<a'], ['ACL', 'GETUSER', 't6'],
      ['ACL', 'SETUSER', 'bob', 'reset'], ['ACL', 'LIST'], ['ACL', 'USERS'], ['ACL', 'WHOAMI'], ['ACL', 'GETUSER', 'nobody'],
      ['ACL', 'CAT'], ['ACL', 'CAT', 'nosuch'], ['ACL', 'FOO'],
      ['ACL', 'DRYRUN', 'alice', 'get', 'cached:1'], ['ACL', 'DRYRUN', 'alice', 'get', 'other'], ['ACL', 'DRYRUN', 'alice', 'set', 'cached:1', 'x'],
      ['ACL', 'DRYRUN', 'nobody', 'get', 'x'], ['ACL', 'DRYRUN', 'alice', 'nosuch'],
      ['ACL', 'DELUSER', 'default'], ['ACL', 'DELUSER', 't1', 't2', 'nobody'], ['ACL', 'USERS'],
    ];
    for (const args of script) await same(args);
  });

  it('AUTH and HELLO AUTH as a user; -NOPERM for commands, keys and channels, in MULTI and in scripts', async () => {
    await all(['ACL', 'SETUSER', 'carol', 'reset', 'on', '>secret', '~app:*', '%R~shared:*', '+@read', '+set', '+multi', '+exec', '+eval', '+publish', '&news', '-keys']);
    await all(['SET', 'shared:1', 'v']);
    await asUser('carol', 'secret', [
      ['ACL', 'WHOAMI'], ['SET', 'app:1', 'x'], ['GET', 'app:1'], ['GET', 'other'], ['SET', 'shared:1', 'y'], ['GET', 'shared:1'], ['DEL', 'app:1'], ['KEYS', '*'],
      ['PUBLISH', 'news', 'm'], ['PUBLISH', 'sports', 'm'],
      ['MULTI'], ['SET', 'app:2', 'x'], ['SET', 'other', 'x'], ['EXEC'], ['EXISTS', 'app:2'],
      ['EVAL', "return redis.call('get', 'other')", '0'], ['EVAL', "return redis.call('del', 'app:1')", '0'], ['EVAL', "return redis.call('get', KEYS[1])", '1', 'app:1'],
    ]);
    await asUser('carol', 'wrong', [['GET', 'app:1']]);
    await asUser('nobody', 'x', [['PING']]);
    await all(['ACL', 'SETUSER', 'carol', 'off']);
    await asUser('carol', 'secret', [['GET', 'app:1']]);
    for (const c of trio().clients.values()) {
      const log = (await c.send(['ACL', 'LOG', '20'])) as unknown[][];
      const reasons = log.map((e) => String(e[3]));
      expect(reasons).toEqual(expect.arrayContaining(['command', 'key', 'channel', 'auth']));
    }
    await same(['ACL', 'LOG', 'RESET']);
    await same(['ACL', 'DELUSER', 'carol', 'alice', 'bob', 't3', 't4', 't5', 't6']);
  });
});
