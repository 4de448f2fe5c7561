// `atoll verify [partition]`: compares every replica of each partition with its leader by bucket digests and
// repairs differing buckets from the leader (unless --no-repair); exits 1 if a mismatch is left.
import type { Command } from 'commander';
import { AtollError, UsageError } from '../errors.js';
import { tallyVerdicts, verifyAcross } from '../server/verify.js';
import { PeerClient } from '../transport/peer.js';
import { withCoordinator } from './cluster.js';
import type { CliIo } from './main.js';
import { toolPeerKey, resolvePeerTls } from './secret.js';

export function registerVerify(program: Command, io: CliIo): void {
  program
    .command('verify [partition]')
    .description('compare replicas with their leader by per-partition bucket digests; repair differences from the leader')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--no-repair', 'only report differences')
    .option('--json', 'print every verdict as JSON')
    .action(async (partition: string | undefined, f: { coordinator: string; repair: boolean; json?: boolean }) => {
      await withCoordinator(f.coordinator, async (c) => {
        const snap = await c.snapshot();
        if (snap.map === undefined) throw new AtollError('NO_CLUSTER', 'the cluster has no partition map yet');
        const map = snap.map;
        let partitions = map.partitions.map((_, p) => p);
        if (partition !== undefined) {
          const p = Number(partition);
          if (!Number.isInteger(p) || p < 0 || p >= map.partitions.length) throw new UsageError(`partition must be 0-${map.partitions.length - 1}, got "${partition}"`);
          partitions = [p];
        }
        const peers = new Map<string, PeerClient>();
        const tty = process.stderr.isTTY === true;
        try {
          const verdicts = await verifyAcross(
            map,
            partitions,
            f.repair,
            (n, body, timeoutMs) => {
              let peer = peers.get(n.id);
              if (peer === undefined) peers.set(n.id, (peer = new PeerClient(n.host, n.port, { key: toolPeerKey(), tls: resolvePeerTls() })));
              return peer.request(body, timeoutMs);
            },
            (done, total) => {
              if (tty) io.err(`\ratoll verify: ${done}/${total} partitions`);
            },
          );
          if (tty) io.err('\n');
          const t = tallyVerdicts(verdicts);
          if (f.json) io.out(`${JSON.stringify({ tally: t, verdicts })}\n`);
          else {
            for (const v of verdicts) for (const r of v.replicas) if (r.verdict !== 'match') io.out(`partition ${v.partition} (leader ${v.leader}, seq ${v.seq}): ${r.id} ${r.verdict}${r.buckets !== undefined ? ` buckets ${r.buckets.join(',')}` : ''}${r.detail !== undefined ? ` (${r.detail})` : ''}\n`);
            const holdMax = Math.max(0, ...verdicts.map((v) => v.holdMs));
            io.out(`${verdicts.length} partitions, ${verdicts.reduce((a, v) => a + v.keys, 0)} keys: ${t.match} replicas match, ${t.repaired} repaired, ${t.mismatch} differ, ${t.busy} busy, ${t['catching-up']} catching up, ${t.unreachable} unreachable; longest hold ${holdMax} ms\n`);
          }
          if (t.mismatch > 0) throw new AtollError('REPLICAS_DIFFER', `${t.mismatch} replicas differ from their leader${f.repair ? ' after repair' : ' (run without --no-repair to repair them)'}`);
        } finally {
          for (const p of peers.values()) p.close();
        }
      });
    });
}
