// Geo commands differentially against redis-server: GEOADD (NX XX CH, range errors), GEOPOS, GEODIST in every
// unit, GEOHASH, GEOSEARCH by radius and by box, ascending and descending, COUNT, WITHCOORD WITHDIST WITHHASH, and
// their errors; positions over a grid of random points compared digit for digit.
import { describe, it } from 'vitest';
import { seededRandom } from '../../src/partitioning/prng.js';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const all = (args: string[]): Promise<Record<string, unknown>> => trio().all(args);
const same = (args: string[]): Promise<void> => trio().same(args);

describe('geo commands against redis-server', () => {
  it('reply exactly as redis-server', async () => {
    const script: string[][] = [
      ['FLUSHALL'], ['SET', 'str', 'x'],
      ['GEOADD', 'g', '13.361389', '38.115556', 'Palermo', '15.087269', '37.502669', 'Catania', '2.3522', '48.8566', 'Paris', '-0.1276', '51.5072', 'London'],
      ['GEOADD', 'g', '200', '10', 'x'], ['GEOADD', 'g', '10', '86', 'x'], ['GEOADD', 'g', 'xx', 'nx', '1', '2', 'a'], ['GEOADD', 'g', 'a', '1', 'b'], ['GEOADD', 'g', '1', '2', 'a', '3'],
      ['GEOADD', 'g', 'NX', '13', '38', 'Palermo'], ['GEOADD', 'g', 'XX', 'CH', '13.361390', '38.115556', 'Palermo', '1', '1', 'nope'], ['GEOADD', 'str', '1', '1', 'a'],
      ['GEOPOS', 'g', 'Palermo', 'nope', 'London'], ['GEOPOS', 'nokey', 'a'],
      ['GEODIST', 'g', 'Palermo', 'Catania'], ['GEODIST', 'g', 'Palermo', 'Catania', 'km'], ['GEODIST', 'g', 'Paris', 'London', 'mi'], ['GEODIST', 'g', 'Paris', 'London', 'ft'],
      ['GEODIST', 'g', 'Palermo', 'Catania', 'xx'], ['GEODIST', 'g', 'Palermo', 'nope'], ['GEODIST', 'g', 'Palermo', 'Palermo'],
      ['GEOHASH', 'g', 'Palermo', 'Catania', 'Paris', 'nope'],
      ['GEOSEARCH', 'g', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km', 'ASC', 'WITHDIST', 'WITHCOORD', 'WITHHASH'],
      ['GEOSEARCH', 'g', 'FROMMEMBER', 'Paris', 'BYRADIUS', '1000', 'km', 'DESC', 'WITHDIST'], ['GEOSEARCH', 'g', 'FROMMEMBER', 'Paris', 'BYRADIUS', '3000', 'km', 'COUNT', '2'],
      ['GEOSEARCH', 'g', 'FROMLONLAT', '10', '45', 'BYBOX', '2000', '2000', 'km', 'ASC'], ['GEOSEARCH', 'g', 'FROMLONLAT', '10', '45', 'BYBOX', '400', '3000', 'mi', 'DESC', 'WITHDIST'],
      ['GEOSEARCH', 'g', 'FROMMEMBER', 'nope', 'BYRADIUS', '1', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km', 'COUNT', '0'],
      ['GEOSEARCH', 'g', 'FROMLONLAT', '15', '37', 'FROMMEMBER', 'Palermo', 'BYRADIUS', '200', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'parsec'],
      ['GEOSEARCH', 'nokey', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km'],
      ['GEORADIUS', 'g', '15', '37', '200', 'km', 'WITHDIST', 'ASC'], ['GEORADIUS_RO', 'g', '15', '37', '2000', 'km', 'COUNT', '2', 'DESC'],
      ['GEORADIUSBYMEMBER', 'g', 'Paris', '1000', 'km', 'WITHCOORD', 'ASC'], ['GEORADIUSBYMEMBER_RO', 'g', 'nope', '1000', 'km'],
      ['GEORADIUS', 'g', '15', '37', '2000', 'km', 'STORE', 'near'], ['ZRANGE', 'near', '0', '-1', 'WITHSCORES'], ['GEORADIUS', 'g', '15', '37', '2000', 'km', 'STOREDIST', 'neard'],
      ['ZRANGE', 'neard', '0', '-1', 'WITHSCORES'], ['GEORADIUS', 'g', '15', '37', '2000', 'km', 'STORE', 'near', 'WITHDIST'], ['GEORADIUS', 'g', '15', '37', 'x', 'km'],
      ['GEOSEARCHSTORE', 'gs', 'g', 'FROMMEMBER', 'Paris', 'BYRADIUS', '3000', 'km', 'ASC', 'COUNT', '3'], ['ZRANGE', 'gs', '0', '-1', 'WITHSCORES'],
      ['GEOSEARCHSTORE', 'gs', 'g', 'FROMMEMBER', 'Paris', 'BYRADIUS', '3000', 'km', 'STOREDIST'], ['ZRANGE', 'gs', '0', '-1', 'WITHSCORES'],
      ['GEOSEARCHSTORE', 'gs', 'g', 'FROMMEMBER', 'Paris', 'BYRADIUS', '1', 'm'], ['EXISTS', 'gs'], ['GEOSEARCHSTORE', 'gs', 'g', 'FROMMEMBER', 'Paris', 'BYRADIUS', '1', 'km', 'WITHDIST'],
    ];
    for (const args of script) await same(args);
  });

  it('positions, hashes and distances of random points match redis-server digit for digit', async () => {
    const r = seededRandom(42);
    const points = Array.from({ length: 200 }, (_, i) => [String(r.nextInt(3_600_000) / 10_000 - 180), String(r.nextInt(1_700_000) / 10_000 - 85), `p${i}`]);
    await all(['DEL', 'rand']);
    await all(['GEOADD', 'rand', ...points.flat()]);
    await same(['GEOPOS', 'rand', ...points.map((p) => p[2]!)]);
    await same(['GEOHASH', 'rand', ...points.map((p) => p[2]!)]);
    for (let i = 0; i + 1 < 40; i += 2) await same(['GEODIST', 'rand', `p${i}`, `p${i + 1}`, 'km']);
    await same(['GEOSEARCH', 'rand', 'FROMMEMBER', 'p0', 'BYRADIUS', '3000', 'km', 'ASC', 'WITHDIST']);
  });
});
