// `atoll ring` through the real command: tables, JSON, SVG output, and exit code 2 on bad arguments.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';

const bin = join(import.meta.dirname, '../../bin/atoll.js');

function atoll(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('atoll ring', () => {
  it('prints the distribution, balance and fraction moved (real binary)', () => {
    const r = atoll(['ring', '--strategy', 'ring', '--nodes', 'a,b,c', '--vnodes', '256', '--keys', '100000', '--add', 'd']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/strategy ring, 3 nodes, 100000 keys/);
    expect(r.stdout).toMatch(/after \+d/);
    const moved = /moved: ([\d.]+)% of keys \(ideal ([\d.]+)%/.exec(r.stdout);
    expect(moved).not.toBeNull();
    expect(Math.abs(Number(moved![1]) - 25)).toBeLessThan(2);
  });

  it('reports JSON for every strategy, with movement near the ideal for consistent ones', async () => {
    for (const strategy of ['ring', 'jump', 'rendezvous', 'maglev', 'bounded', 'modulo', 'slots']) {
      const r = await run(['ring', '--strategy', strategy, '--nodes', 'a,b,c,d', '--keys', '20000', '--add', 'e', '--json']);
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out) as { moved: { fraction: number; idealFraction: number }; after: { maxOverMean: number } };
      if (strategy === 'modulo') expect(j.moved.fraction).toBeGreaterThan(0.7);
      else if (strategy !== 'bounded') expect(j.moved.fraction).toBeLessThan(j.moved.idealFraction * 1.5);
      expect(j.after.maxOverMean).toBeLessThan(strategy === 'slots' ? 1.1 : 1.3);
    }
  });

  it('writes an SVG of the ring and of the slot map', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atoll-ring-'));
    const file = join(dir, 'ring.svg');
    const r = await run(['ring', '--nodes', 'a:2@z1,b@z2,c@z3', '--keys', '1000', '--svg', file]);
    expect(r.code, r.err).toBe(0);
    const svg = readFileSync(file, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect((svg.match(/<path /g) ?? []).length).toBeGreaterThan(50);
    const slots = join(dir, 'slots.svg');
    expect((await run(['ring', '--strategy', 'slots', '--partitions', '16', '--nodes', 'a,b', '--keys', '100', '--svg', slots])).code).toBe(0);
    expect((readFileSync(slots, 'utf8').match(/<path /g) ?? []).length).toBeLessThanOrEqual(16);
  });

  it('answers bad arguments with a clear message and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['ring'], /--nodes is required/],
      [['ring', '--nodes', ''], /--nodes is required/],
      [['ring', '--nodes', 'a,a'], /listed twice/],
      [['ring', '--nodes', 'a:0'], /bad weight/],
      [['ring', '--nodes', 'a:-1'], /bad weight/],
      [['ring', '--nodes', 'a:NaN'], /bad weight/],
      [['ring', '--nodes', 'a', '--strategy', 'nope'], /unknown strategy/],
      [['ring', '--nodes', 'a', '--keys', 'lots'], /--keys must be a whole number/],
      [['ring', '--nodes', 'a', '--keys', '0'], /--keys must be between/],
      [['ring', '--nodes', 'a', '--vnodes', '-3'], /--vnodes/],
      [['ring', '--nodes', 'a,b', '--remove', 'zz'], /not in --nodes/],
      [['ring', '--nodes', 'a', '--remove', 'a'], /last node/],
      [['ring', '--nodes', 'a', '--add', 'a'], /already/],
      [['ring', '--nodes', 'a', '--strategy', 'jump', '--svg', '/tmp/x.svg'], /--svg needs/],
      [['ring', '--nodes', 'a', '--allocation', 'clever'], /--allocation/],
      [['ring', '--bogus'], /unknown option/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(message);
    }
    const real = atoll(['ring', '--nodes', 'x,x']);
    expect(real.status).toBe(2);
    expect(real.stderr).toMatch(/listed twice/);
  });
});
