// `npm run sim -- --seed S [--mode quorum|sync|async] [--broken no-read-gate] [--history FILE]`: replays one
// run of the seeded cluster simulation (src/testing/sim-cluster.ts), prints its outcome, and exits 1 when the
// run breaks its mode's promise (a non-linearizable history, a lost acknowledged write, replicas that differ).
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { runSimCluster, type SimBroken } from '../src/testing/sim-cluster.js';
import type { AckMode } from '../src/replication/log.js';

const seedArg = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('a seed is a non-negative integer');
  return n;
};

const program = new Command('npm run sim --')
  .description('replay one seeded run of the cluster simulation')
  .requiredOption('--seed <n>', 'the seed to replay', seedArg)
  .addOption(new Option('--mode <mode>', 'acknowledgement mode').choices(['quorum', 'sync', 'async']).default('quorum'))
  .addOption(new Option('--broken <fault>', 'a deliberate bug, to see the checks fail').choices(['none', 'no-read-gate']).default('none'))
  .option('--history <file>', 'write the recorded history (JSON) here')
  .action(async (o: { seed: number; mode: AckMode; broken: SimBroken; history?: string }) => {
    const t0 = Date.now();
    const r = await runSimCluster({ seed: o.seed, mode: o.mode, broken: o.broken });
    if (o.history !== undefined) writeFileSync(o.history, JSON.stringify(r.operations, null, 1));
    const promised = o.mode === 'async' ? r.converged : r.ok && r.converged && r.lostAcked === 0;
    const rows: [string, string | number][] = [
      ['seed', r.seed],
      ['mode', o.mode],
      ['operations', r.operations.length],
      ['acknowledged writes', r.acked],
      ['linearizable', String(r.ok)],
      ['replicas converged', String(r.converged)],
      ['acknowledged writes lost', r.lostAcked],
      ['acknowledged by a cut-off leader', r.ackedWhileIsolated],
      ['leaders changed by the controller', r.failovers],
      ['controllers elected', r.controllers],
      ['messages delivered / dropped / duplicated / reordered', `${r.network.delivered} / ${r.network.dropped} / ${r.network.duplicated} / ${r.network.reordered}`],
      ['wall time', `${Date.now() - t0} ms`],
      ['verdict', promised ? 'kept its promise' : 'BROKE its promise'],
    ];
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(56)} ${v}\n`);
    process.exitCode = promised ? 0 : 1;
  });

await program.parseAsync(process.argv);
