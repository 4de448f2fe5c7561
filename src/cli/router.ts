// `atoll router`: runs the stateless routing tier in front of a cluster.
import type { Command } from 'commander';
import { pino } from 'pino';
import { openCoordinator } from '../coordinator/coordinator.js';
import { UsageError } from '../errors.js';
import { startRouter } from '../server/router.js';
import { systemClock } from '../storage/engine.js';
import { untilSignal } from './dev.js';
import type { CliIo } from './main.js';
import { CLUSTER_SECRET_ENV, resolveClusterSecret } from './secret.js';
import { nodePeerKey } from '../transport/handshake.js';

export function registerRouter(program: Command, io: CliIo): void {
  program
    .command('router')
    .description('run a routing proxy: plain Redis clients talk to it, it forwards each key to its owner')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--host <addr>', 'address to bind (default 127.0.0.1)', '127.0.0.1')
    .option('--port <n>', 'client port (default 6380; 0 picks a free one)', '6380')
    .option('--requirepass <password>', 'require AUTH with this password')
    .option('--log-level <level>', 'log level (logs go to stderr)', 'info')
    .option('--cluster-secret-file <file>', `file holding the cluster secret (or set ${CLUSTER_SECRET_ENV}); without one, the nodes' requirepass`)
    .action(async (flags: { coordinator: string; host: string; port: string; requirepass?: string; logLevel: string; clusterSecretFile?: string }) => {
      const port = /^\d+$/.test(flags.port) ? Number(flags.port) : Number.NaN;
      if (!Number.isInteger(port) || port > 65535) throw new UsageError(`--port must be 0..65535, got "${flags.port}"`);
      const log = pino({ name: 'atoll-router', level: flags.logLevel }, pino.destination(2));
      const peerKey = nodePeerKey(resolveClusterSecret({ file: flags.clusterSecretFile }), flags.requirepass ?? '');
      const coordinator = await openCoordinator(flags.coordinator);
      const router = await startRouter({ coordinator, host: flags.host, port, clock: systemClock, config: { requirepass: flags.requirepass ?? '' }, log, peerKey }).catch(async (e: unknown) => {
        await coordinator.close();
        throw e;
      });
      io.out(`atoll: router listening on ${flags.host}:${router.server.port} (coordinator ${flags.coordinator}, pid ${process.pid})\n`);
      await untilSignal();
      await router.close();
      await coordinator.close();
      io.out('atoll: router stopped\n');
    });
}
