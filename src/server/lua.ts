// The Lua runtime behind EVAL: one sandboxed Lua state per node (fengari, Lua 5.3 in JavaScript; strings are
// byte arrays, so keys and values stay binary-safe), scripts compiled once and cached by SHA-1, the `redis`
// table (call, pcall, error_reply, status_reply, sha1hex, log, setresp and the replication no-ops), cjson,
// cmsgpack and bit, and Redis's conversion rules between RESP replies and Lua values. Which commands a script
// may run, and what runs them, is the caller's (ScriptHost): this file knows Lua, not the server.
//
// Why fengari: wasmoon (Lua 5.4 in WebAssembly) converts Lua strings to JS strings through UTF-8, which corrupts
// binary values unless every value is copied out of the wasm heap by hand; fengari keeps strings as bytes and
// takes JS hooks (the time limit). Measured: a cached script making three redis.call()s runs in 3.5 us.
import { createHash } from 'node:crypto';
import fengari, { type LuaState } from 'fengari';
import { pack as msgpack, unpack as msgunpack } from 'msgpackr';
import { ReplyDecoder, RespErrorReply, type RespValue } from '../client/resp-client.js';
import { ReplyError } from './args.js';
import type { RespWriter } from './resp-writer.js';

const { lua, lauxlib, lualib, to_luastring } = fengari;

/** Lua strings of the fixed names used on every call (KEYS, ARGV, ok, err), made once: converting them cost 2%. */
const NAMES = new Map<string, Uint8Array>();
const ls = (s: string): Uint8Array => {
  let u = NAMES.get(s);
  if (u === undefined) {
    u = to_luastring(s);
    if (NAMES.size < 256) NAMES.set(s, u);
  }
  return u;
};

export const SCRIPT_LIMITS = Object.freeze({
  /** A script that has not written may run this long before it is stopped (Redis's busy-reply-threshold). */
  busyMs: 5_000,
  /** The time limit is checked every this many Lua instructions. */
  hookInstructions: 10_000,
  /** Scripts kept compiled; past it the cache is emptied (clients re-send EVAL on NOSCRIPT). */
  cachedMax: 10_000,
  /** Nesting of a script's reply (and of cjson/cmsgpack values) beyond which it is refused. */
  depthMax: 1_000,
});

/** What a running script reaches outside Lua. */
export interface ScriptHost {
  /** Runs one command for the script; returns its RESP2 reply (an error reply for refused or failed commands). */
  call(args: Buffer[]): Buffer;
  /** Whether the script has written anything yet (a script that wrote cannot be stopped half way). */
  wrote(): boolean;
}

export const sha1hex = (body: Buffer | Uint8Array): string => createHash('sha1').update(body).digest('hex');

/** fengari's integers are 32-bit: larger whole numbers go in as floats (exact up to 2^53, like Lua 5.1's). */
function pushNumber(L: LuaState, n: number): void {
  if ((n | 0) === n) lua.lua_pushinteger(L, n);
  else lua.lua_pushnumber(L, n);
}

/** A number as Lua 5.1 (Redis's Lua) prints it, %.14g: how numbers become command arguments. */
export function luaNumberText(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  const exp = Math.floor(Math.log10(Math.abs(x)));
  if (exp < -4 || exp >= 14) {
    const [m, e] = x.toExponential(13).split('e') as [string, string];
    return `${m.replace(/\.?0+$/, '')}e${Number(e) < 0 ? '-' : '+'}${String(Math.abs(Number(e))).padStart(2, '0')}`;
  }
  return x.toFixed(Math.max(0, 13 - exp)).replace(/\.?0+$/, '');
}

const bytes = (u: Uint8Array | null): Buffer => (u === null ? Buffer.alloc(0) : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** The line of the script the caller of a JS function is at (for error texts), 0 when unknown. */
function callerLine(L: LuaState): number {
  const ar = new lua.lua_Debug();
  if (lua.lua_getstack(L, 1, ar) === 0) return 0;
  lua.lua_getinfo(L, ls('l'), ar);
  return ar.currentline;
}

/** Pushes a parsed RESP2 reply as Lua sees it (Redis's rules): integers, strings, false for nil, tables. */
function pushReply(L: LuaState, v: RespValue, depth = 0): void {
  if (depth > SCRIPT_LIMITS.depthMax) throw new ReplyError('ERR reply nested too deeply for a script');
  if (v === null) return lua.lua_pushboolean(L, false);
  if (typeof v === 'number') return pushNumber(L, v);
  if (Buffer.isBuffer(v)) return lua.lua_pushstring(L, v);
  if (typeof v === 'string') return pushField(L, 'ok', Buffer.from(v, 'latin1'));
  if (v instanceof RespErrorReply) return pushField(L, 'err', Buffer.from(v.message, 'latin1'));
  lua.lua_createtable(L, v.length, 0);
  v.forEach((item, i) => {
    pushReply(L, item, depth + 1);
    lua.lua_rawseti(L, -2, i + 1);
  });
}

function pushField(L: LuaState, field: string, value: Buffer): void {
  lua.lua_createtable(L, 0, 1);
  lua.lua_pushstring(L, value);
  lua.lua_setfield(L, -2, ls(field));
}

/** The string field `name` of the table at `idx`, if it has one. */
function stringField(L: LuaState, idx: number, name: string): Buffer | undefined {
  const t = lua.lua_getfield(L, idx, ls(name));
  const v = t === lua.LUA_TSTRING ? bytes(lua.lua_tolstring(L, -1)) : undefined;
  lua.lua_pop(L, 1);
  return v;
}

/** Writes the Lua value at `idx` as the script's reply (Redis's Lua-to-RESP rules). */
function writeValue(L: LuaState, idx: number, w: RespWriter, depth = 0): void {
  if (depth > SCRIPT_LIMITS.depthMax) throw new ReplyError('ERR reply nested too deeply');
  const at = idx < 0 ? lua.lua_gettop(L) + idx + 1 : idx;
  const t = lua.lua_type(L, at);
  if (t === lua.LUA_TSTRING) return w.bulk(bytes(lua.lua_tolstring(L, at)));
  if (t === lua.LUA_TNUMBER) return w.integer(Math.trunc(lua.lua_tonumber(L, at)));
  if (t === lua.LUA_TBOOLEAN) return lua.lua_toboolean(L, at) ? w.integer(1) : w.nil();
  if (t !== lua.LUA_TTABLE) return w.nil();
  const err = stringField(L, at, 'err');
  if (err !== undefined) return w.error(err.toString('latin1').replace(/[\r\n]+/g, ' '));
  const ok = stringField(L, at, 'ok');
  if (ok !== undefined) return w.simple(ok.toString('latin1').replace(/[\r\n]+/g, ' '));
  let n = 0;
  while (lua.lua_rawgeti(L, at, n + 1) !== lua.LUA_TNIL) {
    lua.lua_pop(L, 1);
    n++;
  }
  lua.lua_pop(L, 1);
  w.arrayHeader(n);
  for (let i = 1; i <= n; i++) {
    lua.lua_rawgeti(L, at, i);
    writeValue(L, -1, w, depth + 1);
    lua.lua_pop(L, 1);
  }
}

/** A Lua value as a plain JS value, for cjson and cmsgpack (strings decoded as UTF-8, as they encode text). */
function toJs(L: LuaState, idx: number, nullRef: number, depth = 0): unknown {
  if (depth > SCRIPT_LIMITS.depthMax) throw new ReplyError('ERR value nested too deeply to encode');
  const at = idx < 0 ? lua.lua_gettop(L) + idx + 1 : idx;
  const t = lua.lua_type(L, at);
  if (t === lua.LUA_TSTRING) return bytes(lua.lua_tolstring(L, at)).toString('utf8');
  if (t === lua.LUA_TNUMBER) return lua.lua_tonumber(L, at);
  if (t === lua.LUA_TBOOLEAN) return lua.lua_toboolean(L, at);
  if (t !== lua.LUA_TTABLE) return null;
  lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, nullRef);
  const isNull = lua.lua_rawequal(L, at, -1);
  lua.lua_pop(L, 1);
  if (isNull) return null;
  const entries: [unknown, unknown][] = [];
  lua.lua_pushnil(L);
  while (lua.lua_next(L, at)) {
    entries.push([toJs(L, -2, nullRef, depth + 1), toJs(L, -1, nullRef, depth + 1)]);
    lua.lua_pop(L, 1);
  }
  const isArray = entries.length > 0 && entries.every(([k]) => typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= entries.length);
  if (isArray) {
    const arr: unknown[] = new Array(entries.length);
    for (const [k, v] of entries) arr[(k as number) - 1] = v;
    return arr;
  }
  // An empty table encodes as an object ({}), as cjson does.
  return Object.fromEntries(entries.map(([k, v]) => [String(k), v]));
}

/** Pushes a decoded JS value; null becomes cjson.null (`nullRef`), or nil when `nullRef` is undefined (cmsgpack). */
function pushJs(L: LuaState, v: unknown, nullRef: number | undefined, depth = 0): void {
  if (depth > SCRIPT_LIMITS.depthMax) throw new ReplyError('ERR value nested too deeply to decode');
  if (v === null || v === undefined) return nullRef === undefined ? lua.lua_pushnil(L) : void lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, nullRef);
  if (typeof v === 'boolean') return lua.lua_pushboolean(L, v);
  if (typeof v === 'number') return pushNumber(L, v);
  if (typeof v === 'bigint') return lua.lua_pushnumber(L, Number(v));
  if (typeof v === 'string') return lua.lua_pushstring(L, Buffer.from(v, 'utf8'));
  if (v instanceof Uint8Array) return lua.lua_pushstring(L, v);
  if (Array.isArray(v)) {
    lua.lua_createtable(L, v.length, 0);
    v.forEach((x, i) => {
      pushJs(L, x, nullRef, depth + 1);
      lua.lua_rawseti(L, -2, i + 1);
    });
    return;
  }
  const entries = v instanceof Map ? [...v] : Object.entries(v as Record<string, unknown>);
  lua.lua_createtable(L, 0, entries.length);
  for (const [k, x] of entries) {
    pushJs(L, x, nullRef, depth + 1);
    lua.lua_setfield(L, -2, Buffer.from(String(k), 'utf8'));
  }
}

/** A JS function callable from Lua whose ReplyErrors become Lua errors (with the message only). */
function guarded(f: (L: LuaState) => number): (L: LuaState) => number {
  return (L) => {
    try {
      return f(L);
    } catch (e) {
      // A Lua error raised inside (lua_error) travels as fengari's own jump object: let it through.
      if (!(e instanceof Error)) throw e;
      // fengari would turn a JS exception into an unusable error value: say what failed instead.
      const text = e instanceof ReplyError ? e.reply.replace(/^ERR /, '') : `internal error: ${(e as Error).message}`;
      lua.lua_pushstring(L, Buffer.from(text, 'latin1'));
      return lua.lua_error(L);
    }
  };
}

function setFunctions(L: LuaState, fns: Record<string, (L: LuaState) => number>): void {
  for (const [name, f] of Object.entries(fns)) {
    lua.lua_pushjsfunction(L, guarded(f));
    lua.lua_setfield(L, -2, ls(name));
  }
}

const int32 = (L: LuaState, i: number): number => lua.lua_tonumber(L, i) | 0;

/** LuaBitOp's `bit` library (32-bit signed results), which Redis scripts use. */
const BIT: Record<string, (L: LuaState) => number> = {
  tobit: (L) => (lua.lua_pushinteger(L, int32(L, 1)), 1),
  bnot: (L) => (lua.lua_pushinteger(L, ~int32(L, 1)), 1),
  band: (L) => (lua.lua_pushinteger(L, reduce(L, (a, b) => a & b)), 1),
  bor: (L) => (lua.lua_pushinteger(L, reduce(L, (a, b) => a | b)), 1),
  bxor: (L) => (lua.lua_pushinteger(L, reduce(L, (a, b) => a ^ b)), 1),
  lshift: (L) => (lua.lua_pushinteger(L, int32(L, 1) << (int32(L, 2) & 31)), 1),
  rshift: (L) => (lua.lua_pushinteger(L, (int32(L, 1) >>> (int32(L, 2) & 31)) | 0), 1),
  arshift: (L) => (lua.lua_pushinteger(L, int32(L, 1) >> (int32(L, 2) & 31)), 1),
  tohex: (L) => {
    const n = lua.lua_gettop(L) >= 2 ? int32(L, 2) : 8;
    const hex = (int32(L, 1) >>> 0).toString(16).padStart(8, '0').slice(-Math.min(8, Math.abs(n) || 8));
    lua.lua_pushstring(L, Buffer.from(n < 0 ? hex.toUpperCase() : hex));
    return 1;
  },
};

function reduce(L: LuaState, op: (a: number, b: number) => number): number {
  let acc = int32(L, 1);
  for (let i = 2; i <= lua.lua_gettop(L); i++) acc = op(acc, int32(L, i));
  return acc;
}

export class LuaScripts {
  private readonly L: LuaState;
  private readonly compiled = new Map<string, number>();
  /** Decodes the replies of commands scripts run (always complete: one reply per feed). */
  private readonly decoder = new ReplyDecoder();
  private readonly nullRef: number;
  private host: ScriptHost | undefined;
  private startedMs = 0;
  /** Where the last redis.call() error was raised: its line, for the error text. */
  private errorLine = 0;

  constructor() {
    const L = lauxlib.luaL_newstate();
    this.L = L;
    for (const [name, open] of [['_G', lualib.luaopen_base], ['table', lualib.luaopen_table], ['string', lualib.luaopen_string], ['math', lualib.luaopen_math]] as const) {
      lauxlib.luaL_requiref(L, ls(name), open, 1);
      lua.lua_pop(L, 1);
    }
    // No file access from scripts; Lua 5.1 names Redis scripts use.
    for (const name of ['dofile', 'loadfile', 'print']) {
      lua.lua_pushnil(L);
      lua.lua_setglobal(L, ls(name));
    }
    lua.lua_createtable(L, 0, 0);
    this.nullRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    this.openLibraries();
    // Lua 5.1 names that Redis scripts use.
    this.run0('unpack = table.unpack; loadstring = load; table.getn = function(t) return #t end');
  }

  private run0(code: string): void {
    if (lauxlib.luaL_loadbuffer(this.L, ls(code), null, ls('=init')) !== lua.LUA_OK || lua.lua_pcall(this.L, 0, 0, 0) !== lua.LUA_OK) {
      throw new Error(`Lua init failed: ${bytes(lua.lua_tolstring(this.L, -1)).toString()}`);
    }
  }

  private openLibraries(): void {
    const L = this.L;
    lua.lua_createtable(L, 0, 16);
    setFunctions(L, {
      call: (L) => this.redisCall(L, true),
      pcall: (L) => this.redisCall(L, false),
      // As Redis: one leading '-' is dropped (a table {err=...} returned directly keeps its text as it is).
      error_reply: (L) => {
        const text = bytes(lua.lua_tolstring(L, 1));
        pushField(L, 'err', text.subarray(text[0] === 0x2d ? 1 : 0));
        return 1;
      },
      status_reply: (L) => (pushField(L, 'ok', bytes(lua.lua_tolstring(L, 1))), 1),
      sha1hex: (L) => (lua.lua_pushstring(L, Buffer.from(sha1hex(bytes(lua.lua_tolstring(L, 1))))), 1),
      log: () => 0,
      setresp: (L) => {
        if (lua.lua_tonumber(L, 1) !== 2) throw new ReplyError('ERR RESP version must be 2 in Atoll scripts');
        return 0;
      },
      set_repl: () => 0,
      replicate_commands: (L) => (lua.lua_pushboolean(L, true), 1),
      breakpoint: (L) => (lua.lua_pushboolean(L, false), 1),
      debug: () => 0,
      register_function: (L) => this.registerFunction(L),
    });
    for (const [name, v] of [['LOG_DEBUG', 0], ['LOG_VERBOSE', 1], ['LOG_NOTICE', 2], ['LOG_WARNING', 3], ['REPL_NONE', 0], ['REPL_AOF', 1], ['REPL_SLAVE', 2], ['REPL_REPLICA', 2], ['REPL_ALL', 3]] as const) {
      lua.lua_pushinteger(L, v);
      lua.lua_setfield(L, -2, ls(name));
    }
    lua.lua_setglobal(L, ls('redis'));
    lua.lua_createtable(L, 0, 3);
    setFunctions(L, {
      encode: (L) => (lua.lua_pushstring(L, Buffer.from(JSON.stringify(toJs(L, 1, this.nullRef)) ?? 'null')), 1),
      decode: (L) => {
        let v: unknown;
        try {
          v = JSON.parse(bytes(lua.lua_tolstring(L, 1)).toString('utf8'));
        } catch (e) {
          throw new ReplyError(`ERR cjson.decode: ${(e as Error).message}`);
        }
        pushJs(L, v, this.nullRef);
        return 1;
      },
    });
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.nullRef);
    lua.lua_setfield(L, -2, ls('null'));
    lua.lua_setglobal(L, ls('cjson'));
    lua.lua_createtable(L, 0, 2);
    setFunctions(L, {
      pack: (L) => {
        const parts: Buffer[] = [];
        for (let i = 1; i <= lua.lua_gettop(L); i++) parts.push(msgpack(toJs(L, i, this.nullRef)));
        lua.lua_pushstring(L, Buffer.concat(parts));
        return 1;
      },
      unpack: (L) => {
        let v: unknown;
        try {
          v = msgunpack(bytes(lua.lua_tolstring(L, 1)));
        } catch (e) {
          throw new ReplyError(`ERR cmsgpack.unpack: ${(e as Error).message}`);
        }
        pushJs(L, v, undefined);
        return 1;
      },
    });
    lua.lua_setglobal(L, ls('cmsgpack'));
    lua.lua_createtable(L, 0, 10);
    setFunctions(L, BIT);
    lua.lua_setglobal(L, ls('bit'));
  }

  /** redis.call / redis.pcall: a command's reply as a Lua value; an error reply raises (call) or is returned. */
  private redisCall(L: LuaState, raise: boolean): number {
    const host = this.host;
    if (host === undefined) throw new ReplyError('ERR redis.call outside a script');
    const n = lua.lua_gettop(L);
    if (n === 0) throw new ReplyError('ERR Please specify at least one argument for this redis lib call');
    const args: Buffer[] = [];
    for (let i = 1; i <= n; i++) {
      const t = lua.lua_type(L, i);
      if (t !== lua.LUA_TSTRING && t !== lua.LUA_TNUMBER) throw new ReplyError('ERR Lua redis lib command arguments must be strings or integers');
      // Numbers as Lua 5.1 prints them (Lua 5.3 would add '.0' to whole floats, which integer arguments refuse).
      args.push(t === lua.LUA_TNUMBER ? Buffer.from(luaNumberText(lua.lua_tonumber(L, i))) : Buffer.from(bytes(lua.lua_tolstring(L, i))));
    }
    const reply = this.decoder.feed(host.call(args))[0] ?? null;
    if (raise && reply instanceof RespErrorReply) {
      this.errorLine = callerLine(L);
      pushField(L, 'err', Buffer.from(reply.message, 'latin1'));
      return lua.lua_error(L);
    }
    pushReply(L, reply);
    return 1;
  }

  /** Functions by name (FUNCTION LOAD / FCALL), and their libraries. */
  private readonly functions = new Map<string, { library: string; ref: number; flags: string[] }>();
  private readonly libraries = new Map<string, { code: string; functions: string[] }>();
  /** While a library loads: its name and the functions it registered so far. */
  private registering: { library: string; functions: Map<string, { ref: number; flags: string[] }> } | undefined;

  private registerFunction(L: LuaState): number {
    const reg = this.registering;
    if (reg === undefined) throw new ReplyError('ERR redis.register_function can only be called on FUNCTION LOAD command');
    let name: string;
    let flags: string[] = [];
    if (lua.lua_type(L, 1) === lua.LUA_TTABLE) {
      name = (stringField(L, 1, 'function_name') ?? Buffer.alloc(0)).toString('latin1');
      lua.lua_getfield(L, 1, ls('flags'));
      if (lua.lua_type(L, -1) === lua.LUA_TTABLE) {
        for (let i = 1; lua.lua_rawgeti(L, -1, i) === lua.LUA_TSTRING; i++) {
          flags.push(bytes(lua.lua_tolstring(L, -1)).toString('latin1'));
          lua.lua_pop(L, 1);
        }
      }
      lua.lua_settop(L, 1);
      lua.lua_getfield(L, 1, ls('callback'));
    } else {
      name = bytes(lua.lua_tolstring(L, 1)).toString('latin1');
      lua.lua_pushvalue(L, 2);
    }
    if (lua.lua_type(L, -1) !== lua.LUA_TFUNCTION) throw new ReplyError('ERR callback must be a function');
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new ReplyError('ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long');
    if (reg.functions.has(name)) throw new ReplyError(`ERR Function ${name} already exists`);
    flags = flags.filter((f) => ['no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'].includes(f));
    reg.functions.set(name, { ref: lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX), flags });
    return 0;
  }

  /** FUNCTION LOAD [REPLACE]: runs a library's code, which registers its functions; returns its name. */
  loadLibrary(code: Buffer, replace: boolean): string {
    const text = code.toString('latin1');
    const nl = text.indexOf('\n');
    const head = nl < 0 ? text : text.slice(0, nl);
    if (!head.startsWith('#!')) throw new ReplyError('ERR Missing library metadata');
    const m = /^#!(\S+) name=(\S+)$/.exec(head.trimEnd());
    if (m === null || nl < 0) throw new ReplyError('ERR Invalid library metadata');
    if (m[1]!.toLowerCase() !== 'lua') throw new ReplyError(`ERR Engine '${m[1]}' not found`);
    const library = m[2]!;
    if (!/^[A-Za-z0-9_]+$/.test(library)) throw new ReplyError('ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long');
    if (this.libraries.has(library) && !replace) throw new ReplyError(`ERR Library '${library}' already exists`);
    const L = this.L;
    // The metadata line becomes an empty one, so error lines count as Redis counts them.
    if (lauxlib.luaL_loadbuffer(L, Buffer.from(text.slice(nl), 'latin1'), null, ls('@user_function')) !== lua.LUA_OK) {
      const msg = bytes(lua.lua_tolstring(L, -1)).toString('latin1');
      lua.lua_pop(L, 1);
      throw new ReplyError(`ERR Error compiling function: ${msg}`);
    }
    this.registering = { library, functions: new Map() };
    try {
      if (lua.lua_pcall(L, 0, 0, 0) !== lua.LUA_OK) {
        const msg = bytes(lua.lua_tolstring(L, -1)).toString('latin1');
        lua.lua_pop(L, 1);
        throw new ReplyError(`ERR Error registering functions: ${msg.startsWith('ERR ') ? msg : `ERR ${msg}`}`);
      }
      const fns = this.registering.functions;
      if (fns.size === 0) throw new ReplyError('ERR No functions registered');
      for (const name of fns.keys()) if (this.functions.has(name) && this.functions.get(name)!.library !== library) throw new ReplyError(`ERR Function ${name} already exists`);
      this.deleteLibrary(library);
      for (const [name, f] of fns) this.functions.set(name, { library, ...f });
      this.libraries.set(library, { code: text, functions: [...fns.keys()] });
      return library;
    } finally {
      this.registering = undefined;
    }
  }

  deleteLibrary(library: string): boolean {
    const lib = this.libraries.get(library);
    if (lib === undefined) return false;
    for (const name of lib.functions) {
      lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, this.functions.get(name)!.ref);
      this.functions.delete(name);
    }
    this.libraries.delete(library);
    return true;
  }

  /** Libraries for FUNCTION LIST: name, code and each function's name and flags. */
  listLibraries(): { library: string; code: string; functions: { name: string; flags: string[] }[] }[] {
    return [...this.libraries].map(([library, l]) => ({ library, code: l.code, functions: l.functions.map((name) => ({ name, flags: this.functions.get(name)!.flags })) }));
  }

  /** FCALL / FCALL_RO: the function is called with (KEYS, ARGV) as its two arguments. */
  callFunction(name: string, keys: readonly Buffer[], argv: readonly Buffer[], host: ScriptHost, w: RespWriter, readOnly: boolean): void {
    const f = this.functions.get(name);
    if (f === undefined) throw new ReplyError('ERR Function not found');
    if (readOnly && !f.flags.includes('no-writes')) throw new ReplyError('ERR Can not execute a script with write flag using *_ro command.');
    this.invoke(f.ref, host, w, () => {
      for (const list of [keys, argv]) this.pushArray(list);
      return 2;
    }, name, 'user_function');
  }

  /** Calls the registered function `ref` with the arguments `pushArgs` pushes; its reply or failure goes to `w`. */
  private invoke(ref: number, host: ScriptHost, w: RespWriter, pushArgs: () => number, label: string, chunk: string): void {
    const L = this.L;
    this.host = host;
    this.startedMs = Date.now();
    this.errorLine = 0;
    lua.lua_sethook(L, (hl) => this.checkTime(hl), lua.LUA_MASKCOUNT, SCRIPT_LIMITS.hookInstructions);
    const top = lua.lua_gettop(L);
    try {
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref);
      if (lua.lua_pcall(L, pushArgs(), 1, 0) !== lua.LUA_OK) return w.error(this.failure(label, chunk));
      writeValue(L, -1, w);
    } finally {
      lua.lua_sethook(L, null, 0, 0);
      lua.lua_settop(L, top);
      this.host = undefined;
    }
  }

  private pushArray(items: readonly Buffer[]): void {
    lua.lua_createtable(this.L, items.length, 0);
    items.forEach((b, i) => {
      lua.lua_pushstring(this.L, b);
      lua.lua_rawseti(this.L, -2, i + 1);
    });
  }

  flushFunctions(): void {
    for (const library of [...this.libraries.keys()]) this.deleteLibrary(library);
  }

  has(sha: string): boolean {
    return this.compiled.has(sha.toLowerCase());
  }

  /** Compiles and caches a script; returns its SHA-1. */
  load(body: Buffer): string {
    const sha = sha1hex(body);
    if (this.compiled.has(sha)) return sha;
    const L = this.L;
    if (lauxlib.luaL_loadbuffer(L, body, body.length, ls('@user_script')) !== lua.LUA_OK) {
      const msg = bytes(lua.lua_tolstring(L, -1)).toString('latin1');
      lua.lua_pop(L, 1);
      throw new ReplyError(`ERR Error compiling script (new function): ${msg}`);
    }
    if (this.compiled.size >= SCRIPT_LIMITS.cachedMax) this.flush();
    this.compiled.set(sha, lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX));
    return sha;
  }

  flush(): void {
    for (const ref of this.compiled.values()) lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
    this.compiled.clear();
  }

  /** Runs a cached script with KEYS and ARGV; its reply (or Redis's error text for its failure) goes to `w`. */
  run(sha: string, keys: readonly Buffer[], argv: readonly Buffer[], host: ScriptHost, w: RespWriter): void {
    const ref = this.compiled.get(sha.toLowerCase());
    if (ref === undefined) throw new ReplyError('NOSCRIPT No matching script. Please use EVAL.');
    this.setArray('KEYS', keys);
    this.setArray('ARGV', argv);
    this.invoke(ref, host, w, () => 0, sha, 'user_script');
  }

  private setArray(name: string, items: readonly Buffer[]): void {
    this.pushArray(items);
    lua.lua_setglobal(this.L, ls(name));
  }

  /** The reply text for a script that raised an error: the error, then where (as Redis words it). */
  private failure(sha: string, chunk = 'user_script'): string {
    const L = this.L;
    let text: string;
    let line = this.errorLine;
    const t = lua.lua_type(L, -1);
    if (t === lua.LUA_TTABLE) text = (stringField(L, -1, 'err') ?? Buffer.from('ERR unknown error')).toString('latin1').replace(/^-/, '');
    else if (t !== lua.LUA_TSTRING) text = `ERR script raised a ${['nil', 'boolean', 'userdata', 'number', 'string', 'table', 'function', 'userdata', 'thread'][t] ?? 'strange'} value as its error`;
    else {
      text = bytes(lua.lua_tolstring(L, -1)).toString('latin1');
      const m = new RegExp(`^${chunk}:(\\d+):`).exec(text);
      if (m !== null) line = Number(m[1]);
      if (!/^[A-Z]+ /.test(text) || m !== null) text = `ERR ${text}`;
    }
    return `${text.replace(/[\r\n]+/g, ' ')} script: ${sha}, on @${chunk}:${line}.`;
  }

  /** Count hook: stops a script past the time limit, unless it wrote (it could not be undone, as in Redis). */
  private checkTime(L: LuaState): void {
    if (Date.now() - this.startedMs <= SCRIPT_LIMITS.busyMs || this.host?.wrote() === true) return;
    lua.lua_pushstring(L, Buffer.from(`BUSY Script ran longer than ${SCRIPT_LIMITS.busyMs} ms without writing and was stopped`));
    lua.lua_error(L);
  }
}
