// Geo commands with Redis 7.0's arithmetic and texts: a position is a sorted-set member whose score is its 52-bit
// geohash (latitude in even bits, longitude in odd bits, over Redis's -85.05112878..85.05112878 latitude range),
// so GEOPOS answers the centre of the member's cell, GEODIST is the haversine distance between cell centres on
// Redis's Earth radius, and GEOSEARCH keeps the members whose centre lies in the radius or box (a scan of the set;
// Redis walks the nine neighbouring cells, which finds the same members). GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH.
import { ERR, ReplyError, intArg, isWord, parseFloatArg } from './args.js';
import type { DataContext, DataHandler } from './commands-data.js';
import { ZSet } from '../storage/zset.js';
import { zsetOps } from './commands-zsets.js';

const k = (b: Buffer): string => b.toString('latin1');
const LAT_MIN = -85.05112878;
const LAT_MAX = 85.05112878;
const STEP = 26;
const EARTH_RADIUS_M = 6372797.560856;
const D_R = Math.PI / 180.0;
const UNITS: Readonly<Record<string, number>> = { m: 1, km: 1000, ft: 0.3048, mi: 1609.34 };

function spread(v: bigint): bigint {
  let x = v & 0xffffffffn;
  x = (x | (x << 16n)) & 0x0000ffff0000ffffn;
  x = (x | (x << 8n)) & 0x00ff00ff00ff00ffn;
  x = (x | (x << 4n)) & 0x0f0f0f0f0f0f0f0fn;
  x = (x | (x << 2n)) & 0x3333333333333333n;
  return (x | (x << 1n)) & 0x5555555555555555n;
}

function squash(v: bigint): bigint {
  let x = v & 0x5555555555555555n;
  x = (x | (x >> 1n)) & 0x3333333333333333n;
  x = (x | (x >> 2n)) & 0x0f0f0f0f0f0f0f0fn;
  x = (x | (x >> 4n)) & 0x00ff00ff00ff00ffn;
  x = (x | (x >> 8n)) & 0x0000ffff0000ffffn;
  return (x | (x >> 16n)) & 0x00000000ffffffffn;
}

/** The 52-bit geohash of a position over the given latitude range (Redis's, or the standard one for GEOHASH). */
export function encode(lon: number, lat: number, latMin = LAT_MIN, latMax = LAT_MAX): bigint {
  const latOffset = ((lat - latMin) / (latMax - latMin)) * 2 ** STEP;
  const lonOffset = ((lon + 180) / 360) * 2 ** STEP;
  return spread(BigInt(Math.floor(latOffset))) | (spread(BigInt(Math.floor(lonOffset))) << 1n);
}

/** The centre of a geohash's cell, clamped to the valid ranges, as Redis decodes it. */
export function decode(bits: bigint): [number, number] {
  const ilat = Number(squash(bits));
  const ilon = Number(squash(bits >> 1n));
  const cell = 2 ** STEP;
  const latScale = LAT_MAX - LAT_MIN;
  const latMin = LAT_MIN + (ilat / cell) * latScale;
  const latMax = LAT_MIN + ((ilat + 1) / cell) * latScale;
  const lonMin = -180 + (ilon / cell) * 360;
  const lonMax = -180 + ((ilon + 1) / cell) * 360;
  return [Math.min(180, Math.max(-180, (lonMin + lonMax) / 2)), Math.min(LAT_MAX, Math.max(LAT_MIN, (latMin + latMax) / 2))];
}

function latDistance(lat1: number, lat2: number): number {
  return EARTH_RADIUS_M * Math.abs(lat2 * D_R - lat1 * D_R);
}

/** Haversine distance in metres, as Redis's geohashGetDistance (latitude-only when the longitudes match). */
export function distance(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const v = Math.sin((lon2 * D_R - lon1 * D_R) / 2);
  if (v === 0) return latDistance(lat1, lat2);
  const u = Math.sin((lat2 * D_R - lat1 * D_R) / 2);
  const a = u * u + Math.cos(lat1 * D_R) * Math.cos(lat2 * D_R) * v * v;
  return 2.0 * EARTH_RADIUS_M * Math.asin(Math.sqrt(a));
}

/** Redis's addReplyHumanLongDouble: 17 decimals, trailing zeros dropped. */
const human = (x: number): string => x.toFixed(17).replace(/\.?0+$/, '');

const getZ = zsetOps.get;

function unitArg(b: Buffer | undefined): number {
  const f = UNITS[(b === undefined ? '' : k(b)).toLowerCase()];
  if (f === undefined) throw new ReplyError('ERR unsupported unit provided. please use M, KM, FT, MI');
  return f;
}

function lonLat(lonArg: Buffer, latArg: Buffer): [number, number] {
  const lon = parseFloatArg(lonArg);
  const lat = parseFloatArg(latArg);
  if (lon < -180 || lon > 180 || lat < LAT_MIN || lat > LAT_MAX) throw new ReplyError(`ERR invalid longitude,latitude pair ${lon.toFixed(6)},${lat.toFixed(6)}`);
  return [lon, lat];
}

const geoadd: DataHandler = (ctx, args, w) => {
  let at = 2;
  const flags = { nx: false, xx: false, ch: false };
  for (; at < args.length; at++) {
    const word = k(args[at]!).toLowerCase();
    if (word === 'nx' || word === 'xx' || word === 'ch') flags[word] = true;
    else break;
  }
  if ((args.length - at) % 3 !== 0 || (flags.nx && flags.xx)) throw new ReplyError(ERR.syntax);
  const points: [string, number][] = [];
  for (let i = at; i < args.length; i += 3) {
    const [lon, lat] = lonLat(args[i]!, args[i + 1]!);
    points.push([k(args[i + 2]!), Number(encode(lon, lat))]);
  }
  const key = k(args[1]!);
  let z = getZ(ctx, key);
  if (z === undefined) {
    if (flags.xx) return w.integer(0);
    z = new ZSet();
    ctx.engine.put(key, { type: 'zset', value: z }, 0);
  }
  let added = 0;
  let changed = 0;
  for (const [m, score] of points) {
    const cur = z.score(m);
    if ((cur === undefined && flags.xx) || (cur !== undefined && flags.nx)) continue;
    if (cur === undefined) added++;
    else if (cur !== score) changed++;
    z.add(m, score);
  }
  if (z.size === 0) ctx.engine.delete(key);
  else ctx.engine.touched(key);
  w.integer(flags.ch ? added + changed : added);
};

const geopos: DataHandler = (ctx, args, w) => {
  const z = getZ(ctx, k(args[1]!));
  w.arrayHeader(args.length - 2);
  for (let i = 2; i < args.length; i++) {
    const s = z?.score(k(args[i]!));
    if (s === undefined) {
      w.nilArray();
      continue;
    }
    const [lon, lat] = decode(BigInt(s));
    w.arrayHeader(2);
    w.bulk(human(lon));
    w.bulk(human(lat));
  }
};

const geodist: DataHandler = (ctx, args, w) => {
  if (args.length > 5) throw new ReplyError(ERR.syntax);
  const unit = args.length === 5 ? unitArg(args[4]) : 1;
  const z = getZ(ctx, k(args[1]!));
  const a = z?.score(k(args[2]!));
  const b = z?.score(k(args[3]!));
  if (a === undefined || b === undefined) return w.nil();
  const [lon1, lat1] = decode(BigInt(a));
  const [lon2, lat2] = decode(BigInt(b));
  w.bulk((distance(lon1, lat1, lon2, lat2) / unit).toFixed(4));
};

const ALPHABET = '0123456789bcdefghjkmnpqrstuvwxyz';

const geohash: DataHandler = (ctx, args, w) => {
  const z = getZ(ctx, k(args[1]!));
  w.arrayHeader(args.length - 2);
  for (let i = 2; i < args.length; i++) {
    const s = z?.score(k(args[i]!));
    if (s === undefined) {
      w.nil();
      continue;
    }
    // Re-encoded on the standard latitude range -90..90 for a standard geohash string; the 11th character is 0.
    const [lon, lat] = decode(BigInt(s));
    const bits = encode(lon, lat, -90, 90);
    let out = '';
    for (let j = 0; j < 11; j++) out += ALPHABET[j === 10 ? 0 : Number((bits >> BigInt(52 - (j + 1) * 5)) & 0x1fn)];
    w.bulk(out);
  }
};

interface Search {
  lon: number;
  lat: number;
  radiusM?: number;
  widthM?: number;
  heightM?: number;
  unit: number;
  sort: 'none' | 'asc' | 'desc';
  count: number;
  any: boolean;
  withCoord: boolean;
  withDist: boolean;
  withHash: boolean;
}

/** GEOSEARCH's options, from after its key (`keyAt`); the search centre is read from that key. */
function searchArgs(ctx: DataContext, args: Buffer[], keyAt: number): Search {
  const o: Search = { lon: 0, lat: 0, unit: 1, sort: 'none', count: 0, any: false, withCoord: false, withDist: false, withHash: false };
  let from = 0;
  let by = 0;
  for (let i = keyAt + 1; i < args.length; i++) {
    const left = args.length - i - 1;
    // A second FROM or BY option is not recognised at all, as in Redis (a syntax error).
    if (isWord(args[i], 'FROMMEMBER') && left >= 1 && from === 0) {
      const s = getZ(ctx, k(args[keyAt]!))?.score(k(args[++i]!));
      if (s === undefined) throw new ReplyError('ERR could not decode requested zset member');
      [o.lon, o.lat] = decode(BigInt(s));
      from++;
    } else if (isWord(args[i], 'FROMLONLAT') && left >= 2 && from === 0) {
      [o.lon, o.lat] = lonLat(args[i + 1]!, args[i + 2]!);
      i += 2;
      from++;
    } else if (isWord(args[i], 'BYRADIUS') && left >= 2 && by === 0) {
      const r = parseFloatArg(args[i + 1]!, 'ERR need numeric radius');
      if (r < 0) throw new ReplyError('ERR radius cannot be negative');
      o.unit = unitArg(args[i + 2]);
      o.radiusM = r * o.unit;
      i += 2;
      by++;
    } else if (isWord(args[i], 'BYBOX') && left >= 3 && by === 0) {
      const [wd, ht] = [parseFloatArg(args[i + 1]!, 'ERR need numeric width'), parseFloatArg(args[i + 2]!, 'ERR need numeric height')];
      if (wd < 0 || ht < 0) throw new ReplyError('ERR height or width cannot be negative');
      o.unit = unitArg(args[i + 3]);
      [o.widthM, o.heightM] = [wd * o.unit, ht * o.unit];
      i += 3;
      by++;
    } else if (isWord(args[i], 'ASC')) o.sort = 'asc';
    else if (isWord(args[i], 'DESC')) o.sort = 'desc';
    else if (isWord(args[i], 'COUNT') && left >= 1) {
      o.count = intArg(args[++i]);
      if (o.count <= 0) throw new ReplyError('ERR COUNT must be > 0');
      if (isWord(args[i + 1], 'ANY')) {
        o.any = true;
        i++;
      }
    } else if (isWord(args[i], 'WITHCOORD')) o.withCoord = true;
    else if (isWord(args[i], 'WITHDIST')) o.withDist = true;
    else if (isWord(args[i], 'WITHHASH')) o.withHash = true;
    else throw new ReplyError(ERR.syntax);
  }
  if (from !== 1) throw new ReplyError('ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH');
  if (by !== 1) throw new ReplyError('ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH');
  if (o.count > 0 && o.sort === 'none' && !o.any) o.sort = 'asc';
  return o;
}

/** The distance of a point from the search centre if it lies in the search's radius or box. */
function inside(o: Search, lon: number, lat: number): number | undefined {
  if (o.radiusM !== undefined) {
    const d = distance(o.lon, o.lat, lon, lat);
    return d <= o.radiusM ? d : undefined;
  }
  if (latDistance(lat, o.lat) > o.heightM! / 2) return undefined;
  if (distance(lon, lat, o.lon, lat) > o.widthM! / 2) return undefined;
  return distance(o.lon, o.lat, lon, lat);
}

interface Hit {
  m: string;
  d: number;
  bits: bigint;
  lon: number;
  lat: number;
}

/** The members of `key` inside the search, sorted and cut as asked. */
function findHits(ctx: DataContext, key: string, o: Search): Hit[] {
  let hits: Hit[] = [];
  for (const [m, s] of getZ(ctx, key)?.entries() ?? []) {
    const bits = BigInt(s);
    const [lon, lat] = decode(bits);
    const d = inside(o, lon, lat);
    if (d !== undefined) hits.push({ m, d, bits, lon, lat });
    if (o.any && hits.length >= o.count) break;
  }
  if (o.sort !== 'none') hits.sort((a, b) => (o.sort === 'asc' ? a.d - b.d : b.d - a.d));
  if (o.count > 0) hits = hits.slice(0, o.count);
  return hits;
}

function replyHits(w: Parameters<DataHandler>[2], hits: readonly Hit[], o: Search): void {
  const extra = (o.withDist ? 1 : 0) + (o.withHash ? 1 : 0) + (o.withCoord ? 1 : 0);
  w.arrayHeader(hits.length);
  for (const h of hits) {
    if (extra === 0) {
      w.bulkLatin1(h.m);
      continue;
    }
    w.arrayHeader(extra + 1);
    w.bulkLatin1(h.m);
    if (o.withDist) w.bulk((h.d / o.unit).toFixed(4));
    if (o.withHash) w.integer(h.bits);
    if (o.withCoord) {
      w.arrayHeader(2);
      w.bulk(human(h.lon));
      w.bulk(human(h.lat));
    }
  }
}

/** Stores hits as a sorted set (geohash scores, or distances in the search's unit), replacing `dest`. */
function storeHits(ctx: DataContext, dest: string, hits: readonly Hit[], o: Search, dist: boolean): number {
  if (hits.length === 0) ctx.engine.delete(dest);
  else ctx.engine.put(dest, { type: 'zset', value: new ZSet(hits.map((h) => [h.m, dist ? h.d / o.unit : Number(h.bits)] as const)) }, 0);
  return hits.length;
}

const geosearch: DataHandler = (ctx, args, w) => {
  const o = searchArgs(ctx, args, 1);
  replyHits(w, findHits(ctx, k(args[1]!), o), o);
};

/** GEOSEARCHSTORE destination source ... [STOREDIST]: GEOSEARCH's members stored instead of returned. */
const geosearchstore: DataHandler = (ctx, args, w) => {
  const storeDist = args.slice(3).some((a) => isWord(a, 'STOREDIST'));
  const o = searchArgs(ctx, args.filter((a, i) => i < 3 || !isWord(a, 'STOREDIST')), 2);
  if (o.withCoord || o.withDist || o.withHash) throw new ReplyError('ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options');
  w.integer(storeHits(ctx, k(args[1]!), findHits(ctx, k(args[2]!), o), o, storeDist));
};

/** GEORADIUS key lon lat radius unit ... and GEORADIUSBYMEMBER key member radius unit ... (and their _RO forms). */
function georadius(byMember: boolean, readOnly: boolean): DataHandler {
  return (ctx, args, w) => {
    const at = byMember ? 3 : 4;
    const from = byMember ? [Buffer.from('FROMMEMBER'), args[2]!] : [Buffer.from('FROMLONLAT'), args[2]!, args[3]!];
    let store: { key: string; dist: boolean } | undefined;
    const rest: Buffer[] = [];
    for (let i = at + 2; i < args.length; i++) {
      if (!readOnly && (isWord(args[i], 'STORE') || isWord(args[i], 'STOREDIST')) && i + 1 < args.length) {
        store = { key: k(args[i + 1]!), dist: isWord(args[i], 'STOREDIST') };
        i++;
      } else rest.push(args[i]!);
    }
    const o = searchArgs(ctx, [args[0]!, args[1]!, ...from, Buffer.from('BYRADIUS'), args[at]!, args[at + 1]!, ...rest], 1);
    if (store === undefined) return replyHits(w, findHits(ctx, k(args[1]!), o), o);
    if (o.withCoord || o.withDist || o.withHash) throw new ReplyError('ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options');
    w.integer(storeHits(ctx, store.key, findHits(ctx, k(args[1]!), o), o, store.dist));
  };
}

/** GEORADIUS's keys: the source, and the STORE/STOREDIST destination when given. */
export function georadiusKeyIndexes(args: Buffer[]): number[] {
  const at = args.findIndex((a, i) => i > 2 && (isWord(a, 'STORE') || isWord(a, 'STOREDIST')) && i + 1 < args.length);
  return at < 0 ? [1] : [1, at + 1];
}

/** name -> [arity, flags, handler, first key, last key], as DATA_COMMANDS. */
export const GEO_COMMANDS: Record<string, readonly [number, readonly string[], DataHandler, number, number]> = {
  geoadd: [-5, ['write'], geoadd, 1, 1],
  geopos: [-2, ['readonly'], geopos, 1, 1],
  geodist: [-4, ['readonly'], geodist, 1, 1],
  geohash: [-2, ['readonly'], geohash, 1, 1],
  geosearch: [-7, ['readonly'], geosearch, 1, 1],
  geosearchstore: [-8, ['write'], geosearchstore, 1, 2],
  georadius: [-6, ['write'], georadius(false, false), 1, 1],
  georadius_ro: [-6, ['readonly'], georadius(false, true), 1, 1],
  georadiusbymember: [-5, ['write'], georadius(true, false), 1, 1],
  georadiusbymember_ro: [-5, ['readonly'], georadius(true, true), 1, 1],
};
