// `atoll router`: runs the stateless routing tier in front of a cluster.
import type { Command } from 'commander';
import { pino } from 'pino';
import { openCoordinator } from '../coordinator/coordinator.js';
import { UsageError } from '../errors.js';
import { startRouter } from '../server/router.js';
import { systemClock } from '../storage/engine.js';
import { untilSignal } from './dev.js';
import type { CliIo } from './main.js';
import { CLUSTER_SECRET_ENV, resolveClusterSecret, resolvePeerTls } from './secret.js';
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
    .option('--tls-cluster <yes|no>', 'reach the nodes over mutual TLS (they run --tls-cluster yes; default no)', 'no')
    .option('--tls-cert-file <file>', 'certificate for node-to-node TLS (or ATOLL_TLS_CERT_FILE)')
    .option('--tls-key-file <file>', 'its private key (or ATOLL_TLS_KEY_FILE)')
    .option('--tls-ca-cert-file <file>', 'the cluster CA (or ATOLL_TLS_CA_CERT_FILE)')
    .option('--cluster-secret-file <file>', `file holding the cluster secret (or set ${CLUSTER_SECRET_ENV}); without one, the nodes' requirepass`)
    .action(async (flags: { coordinator: string; host: string; port: string; requirepass?: string; logLevel: string; clusterSecretFile?: string; tlsCluster: string; tlsCertFile?: string; tlsKeyFile?: string; tlsCaCertFile?: string }) => {
      if (flags.tlsCluster !== 'yes' && flags.tlsCluster !== 'no') throw new UsageError(`--tls-cluster must be yes or no, got "${flags.tlsCluster}"`);
      const peerTls = flags.tlsCluster === 'yes' ? resolvePeerTls({ certFile: flags.tlsCertFile, keyFile: flags.tlsKeyFile, caFile: flags.tlsCaCertFile }) : undefined;
      if (flags.tlsCluster === 'yes' && peerTls === undefined) throw new UsageError('--tls-cluster yes needs --tls-cert-file, --tls-key-file and --tls-ca-cert-file');
      const port = /^\d+$/.test(flags.port) ? Number(flags.port) : Number.NaN;
      if (!Number.isInteger(port) || port > 65535) throw new UsageError(`--port must be 0..65535, got "${flags.port}"`);
      const log = pino({ name: 'atoll-router', level: flags.logLevel }, pino.destination(2));
      const peerKey = nodePeerKey(resolveClusterSecret({ file: flags.clusterSecretFile }), flags.requirepass ?? '');
      const coordinator = await openCoordinator(flags.coordinator);
      const router = await startRouter({ coordinator, host: flags.host, port, clock: systemClock, config: { requirepass: flags.requirepass ?? '' }, log, peerKey, peerTls }).catch(async (e: unknown) => {
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
