// More key commands with Redis 7 semantics: TOUCH, EXPIRETIME, PEXPIRETIME, COPY (DB 0 only, REPLACE).
import { ERR, ReplyError, intArg, isWord } from './args.js';
import type { DataHandler } from './commands-data.js';
import type { StoredValue } from '../storage/engine.js';
import { Deque } from '../storage/deque.js';
import { JournaledMap, JournaledSet } from '../storage/journal.js';
import { ZSet } from '../storage/zset.js';
import { decodeStream, encodeStream } from '../storage/stream.js';

const k = (b: Buffer): string => b.toString('latin1');

/** A deep copy: values are edited in place, so a copy must share nothing with its source. */
export function cloneValue(v: StoredValue): StoredValue {
  switch (v.type) {
    case 'string':
      return { type: 'string', value: Buffer.from(v.value) };
    case 'hash':
      return { type: 'hash', value: new JournaledMap([...v.value].map(([f, x]) => [f, Buffer.from(x)])) };
    case 'set':
      return { type: 'set', value: new JournaledSet(v.value) };
    case 'list':
      return { type: 'list', value: new Deque(v.value) };
    case 'zset':
      return { type: 'zset', value: new ZSet(v.value.entries()) };
    case 'stream':
      return { type: 'stream', value: decodeStream(encodeStream(v.value)) };
  }
}

const touch: DataHandler = (ctx, args, w) => {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (ctx.engine.get(k(args[i]!)) !== undefined) n++;
  w.integer(n);
};

function expireTime(ms: boolean): DataHandler {
  return (ctx, args, w) => {
    const at = ctx.engine.expiresAt(k(args[1]!));
    if (at === undefined) return w.integer(-2);
    if (at === 0) return w.integer(-1);
    w.integer(ms ? at : Math.floor(at / 1000));
  };
}

/** COPY source destination [DB destination-db] [REPLACE]: the value and its expiry. */
const copy: DataHandler = (ctx, args, w) => {
  let replace = false;
  for (let i = 3; i < args.length; i++) {
    if (isWord(args[i], 'REPLACE')) replace = true;
    else if (isWord(args[i], 'DB') && i + 1 < args.length) {
      // One database (SELECT 0 only), as in Redis Cluster.
      if (intArg(args[++i]) !== 0) throw new ReplyError(ERR.dbIndex);
    } else throw new ReplyError(ERR.syntax);
  }
  const from = k(args[1]!);
  const to = k(args[2]!);
  if (from === to) throw new ReplyError('ERR source and destination objects are the same');
  const v = ctx.engine.get(from);
  if (v === undefined) return w.integer(0);
  if (ctx.engine.get(to) !== undefined && !replace) return w.integer(0);
  ctx.engine.put(to, cloneValue(v), ctx.engine.expiresAt(from) ?? 0);
  w.integer(1);
};

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const KEY_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  touch: [-2, ['readonly'], touch, 1, -1],
  expiretime: [2, ['readonly'], expireTime(false), 1, 1],
  pexpiretime: [2, ['readonly'], expireTime(true), 1, 1],
  copy: [-3, ['write'], copy, 1, 2],
};
