// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD/EXISTS/FLUSH/KILL with Redis 7.0 replies. A script runs
// atomically (nothing else runs on the node meanwhile); in cluster mode its keys lie in one slot, it runs on
// that slot's leader (forwarded there like any keyed command) and may touch only keys of that slot; its writes
// are replicated as one entry, as a transaction's are. Scripts are cached per node by SHA-1 (EVALSHA answers
// NOSCRIPT on a node that has not seen the script; clients then send EVAL, as they do with Redis).
import { createHash } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import { ReplyError, intArg } from './args.js';
import type { RespWriter } from './resp-writer.js';
import { callFromScript, type ExecuteResult, type ServerState, type Session } from './dispatch.js';
import { LuaScripts, type ScriptHost } from './lua.js';
import { replicateWrites, withJournal } from './commands-tx.js';
import { keySlot } from '../partitioning/hash.js';

/** EVAL-family arguments: numkeys at 2, then keys, then ARGV (FCALL words a bad count its own way). */
export function evalKeyCount(args: readonly Buffer[]): number {
  const fcall = args[0]!.length >= 5 && args[0]!.toString('latin1').toLowerCase().startsWith('fcall');
  const n = intArg(args[2], fcall ? 'ERR Bad number of keys provided' : undefined);
  if (n < 0) throw new ReplyError("ERR Number of keys can't be negative");
  if (n > args.length - 3) throw new ReplyError("ERR Number of keys can't be greater than number of args");
  return n;
}

function scriptsOf(state: ServerState): LuaScripts {
  return (state.scripts ??= new LuaScripts());
}

/**
 * Runs a script or function for EVAL/FCALL: its redis.call()s go through callFromScript (the slot of its first key
 * in cluster mode), blocking commands do not block, and its writes are replicated as one entry.
 */
function runScript(state: ServerState, session: Session, args: Buffer[], w: RespWriter, readOnly: boolean, body: (host: ScriptHost, keys: Buffer[], argv: Buffer[]) => void): ExecuteResult {
  const n = evalKeyCount(args);
  const keys = args.slice(3, 3 + n);
  const slot = state.cluster !== undefined && keys.length > 0 ? keySlot(keys[0]!) : undefined;
  const written: Buffer[] = [];
  const host = { call: (a: Buffer[]): Buffer => callFromScript(state, session, a, readOnly, slot, written), wrote: (): boolean => written.length > 0 };
  const mark = w.length;
  return withJournal(state, () => {
    session.inExec = true;
    try {
      body(host, keys, args.slice(3 + n));
    } finally {
      session.inExec = false;
    }
    return replicateWrites(state, session, w, mark, written);
  });
}

function evalCommand(bySha: boolean, readOnly: boolean) {
  return (state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
    evalKeyCount(args);
    const scripts = scriptsOf(state);
    const sha = bySha ? args[1]!.toString('latin1').toLowerCase() : scripts.load(args[1]!);
    if (!scripts.has(sha)) throw new ReplyError('NOSCRIPT No matching script. Please use EVAL.');
    return runScript(state, session, args, w, readOnly, (host, keys, argv) => scripts.run(sha, keys, argv, host, w));
  };
}

/** FCALL/FCALL_RO function numkeys key... arg...: a loaded function, run like a script. */
function fcall(readOnly: boolean) {
  return (state: ServerState, session: Session, args: Buffer[], w: RespWriter): ExecuteResult =>
    runScript(state, session, args, w, readOnly, (host, keys, argv) => scriptsOf(state).callFunction(args[1]!.toString('latin1'), keys, argv, host, w, readOnly));
}

/** FUNCTION LOAD/DELETE/FLUSH/LIST/KILL (per node, as in Redis Cluster: load a library on every node). */
const functionCmd = (state: ServerState, _session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
  const sub = args[1]!.toString('latin1').toLowerCase();
  const scripts = scriptsOf(state);
  switch (sub) {
    case 'load': {
      const replace = args.length === 4 && args[2]!.toString('latin1').toLowerCase() === 'replace';
      if (args.length !== 3 && !replace) throw new ReplyError(args.length > 4 || args.length < 3 ? "ERR wrong number of arguments for 'function|load' command" : `ERR Unknown option given: ${args[2]!.toString('latin1')}`);
      return w.bulk(scripts.loadLibrary(args[args.length - 1]!, replace));
    }
    case 'delete':
      if (args.length !== 3) throw new ReplyError("ERR wrong number of arguments for 'function|delete' command");
      if (!scripts.deleteLibrary(args[2]!.toString('latin1'))) throw new ReplyError('ERR Library not found');
      return w.ok();
    case 'flush':
      scripts.flushFunctions();
      return w.ok();
    case 'kill':
      throw new ReplyError('NOTBUSY No scripts in execution right now.');
    case 'stats':
    case 'dump':
    case 'restore':
      return functionStore(scripts, sub, args, w);
    case 'list': {
      const withCode = args.slice(2).some((a) => a.toString('latin1').toLowerCase() === 'withcode');
      const libs = scripts.listLibraries();
      w.arrayHeader(libs.length);
      for (const l of libs) {
        w.mapHeader(withCode ? 4 : 3);
        w.bulk('library_name');
        w.bulk(l.library);
        w.bulk('engine');
        w.bulk('LUA');
        w.bulk('functions');
        w.arrayHeader(l.functions.length);
        for (const f of l.functions) {
          w.mapHeader(3);
          w.bulk('name');
          w.bulk(f.name);
          w.bulk('description');
          w.nil();
          w.bulk('flags');
          w.setHeader(f.flags.length);
          for (const flag of f.flags) w.bulk(flag);
        }
        if (withCode) {
          w.bulk('library_code');
          w.bulkLatin1(l.code);
        }
      }
      return;
    }
    default:
      throw new ReplyError(`ERR unknown subcommand '${args[1]!.toString('latin1').slice(0, 128)}'. Try FUNCTION HELP.`);
  }
};

/** FUNCTION DUMP's payload version; the payload is Atoll's own (msgpack of the libraries' code), not Redis's RDB. */
const FUNCTION_DUMP_VERSION = 1;

const functionChecksum = (body: Buffer): Buffer => createHash('sha256').update(body).digest().subarray(0, 8);

/** The libraries' code in a DUMP payload, or undefined when it is not one of Atoll's (corrupt, foreign, another version). */
function undumpFunctions(payload: Buffer): string[] | undefined {
  if (payload.length < 10) return undefined;
  const body = payload.subarray(0, payload.length - 8);
  if (!functionChecksum(body).equals(payload.subarray(payload.length - 8)) || body.readUInt16LE(body.length - 2) !== FUNCTION_DUMP_VERSION) return undefined;
  try {
    const codes: unknown = unpack(body.subarray(0, body.length - 2));
    return Array.isArray(codes) && codes.every((c) => typeof c === 'string') ? (codes as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** FUNCTION STATS, DUMP and RESTORE [FLUSH|APPEND|REPLACE], with Redis's replies and error texts. */
function functionStore(scripts: LuaScripts, sub: string, args: Buffer[], w: RespWriter): void {
  if (sub === 'restore' && args.length > 4) throw new ReplyError(`ERR unknown subcommand or wrong number of arguments for '${args[1]!.toString('latin1').slice(0, 128)}'. Try FUNCTION HELP.`);
  const arityOk = sub === 'restore' ? args.length === 3 || args.length === 4 : args.length === 2;
  if (!arityOk) throw new ReplyError(`ERR wrong number of arguments for 'function|${sub}' command`);
  const libs = scripts.listLibraries();
  if (sub === 'stats') {
    // Scripts run to their end on the event loop: none is running when a command is read.
    w.mapHeader(2);
    w.bulk('running_script');
    w.nil();
    w.bulk('engines');
    w.mapHeader(1);
    w.bulk('LUA');
    w.mapHeader(2);
    w.bulk('libraries_count');
    w.integer(libs.length);
    w.bulk('functions_count');
    w.integer(libs.reduce((n, l) => n + l.functions.length, 0));
    return;
  }
  if (sub === 'dump') {
    const body = Buffer.concat([pack(libs.map((l) => l.code)), Buffer.from([FUNCTION_DUMP_VERSION & 0xff, FUNCTION_DUMP_VERSION >> 8])]);
    return w.bulk(Buffer.concat([body, functionChecksum(body)]));
  }
  const policy = args.length === 4 ? args[3]!.toString('latin1').toLowerCase() : 'append';
  if (policy !== 'flush' && policy !== 'append' && policy !== 'replace') throw new ReplyError('ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.');
  const codes = undumpFunctions(args[2]!);
  if (codes === undefined) throw new ReplyError('ERR DUMP payload version or checksum are wrong');
  restoreLibraries(scripts, libs, codes, policy);
  w.ok();
}

/** Loads `codes` as one step: on any failure the libraries are put back as they were (`before`). */
function restoreLibraries(scripts: LuaScripts, before: readonly { library: string; code: string }[], codes: readonly string[], policy: 'flush' | 'append' | 'replace'): void {
  if (policy === 'append') {
    const names = new Set(before.map((l) => l.library));
    for (const code of codes) {
      const name = /^#!\S+ name=(\S+)/.exec(code)?.[1];
      if (name !== undefined && names.has(name)) throw new ReplyError(`ERR Library ${name} already exists`);
    }
  }
  try {
    if (policy === 'flush') scripts.flushFunctions();
    for (const code of codes) scripts.loadLibrary(Buffer.from(code, 'latin1'), policy !== 'append');
  } catch (e) {
    scripts.flushFunctions();
    for (const l of before) scripts.loadLibrary(Buffer.from(l.code, 'latin1'), true);
    throw e;
  }
}

const script = (state: ServerState, _session: Session, args: Buffer[], w: RespWriter): ExecuteResult => {
  const sub = args[1]!.toString('latin1').toLowerCase();
  const scripts = scriptsOf(state);
  const arity = (ok: boolean): void => {
    if (!ok) throw new ReplyError(`ERR wrong number of arguments for 'script|${sub}' command`);
  };
  switch (sub) {
    case 'load':
      arity(args.length === 3);
      return w.bulk(scripts.load(args[2]!));
    case 'exists':
      arity(args.length >= 3);
      w.arrayHeader(args.length - 2);
      for (let i = 2; i < args.length; i++) w.integer(scripts.has(args[i]!.toString('latin1')) ? 1 : 0);
      return;
    case 'flush':
      arity(args.length <= 3);
      if (args.length === 3 && !/^(sync|async)$/i.test(args[2]!.toString('latin1'))) throw new ReplyError('ERR SCRIPT FLUSH only support SYNC|ASYNC option');
      scripts.flush();
      return w.ok();
    case 'kill':
      arity(args.length === 2);
      // A script runs on the event loop to its end (or its time limit): none is ever running when this arrives.
      throw new ReplyError('NOTBUSY No scripts in execution right now.');
    default:
      throw new ReplyError(`ERR unknown subcommand '${args[1]!.toString('latin1').slice(0, 128)}'. Try SCRIPT HELP.`);
  }
};

/** name -> [arity, flags, handler]; the EVAL family are keyed (numkeys at 2) and replicate themselves. */
export const SCRIPT_COMMANDS = {
  eval: [-3, ['write', 'self-replicating'], evalCommand(false, false)],
  evalsha: [-3, ['write', 'self-replicating'], evalCommand(true, false)],
  eval_ro: [-3, ['readonly'], evalCommand(false, true)],
  evalsha_ro: [-3, ['readonly'], evalCommand(true, true)],
  fcall: [-3, ['write', 'self-replicating'], fcall(false)],
  fcall_ro: [-3, ['readonly'], fcall(true)],
} as const;

export { script, functionCmd };
