// `atoll start`: runs one node. Options come from flags and an optional JSON config file, validated with zod
// (unknown keys and bad values are rejected naming the field). SIGTERM/SIGINT shut it down gracefully.
import { mkdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { pino } from 'pino';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { EVICTION_POLICIES, systemClock, type StorageEngine } from '../storage/engine.js';
import { MemoryEngine } from '../storage/memory.js';
import { LmdbEngine } from '../storage/lmdb.js';
import { parseMemory } from '../server/dispatch.js';
import { SERVER_DEFAULTS, startNodeServer, type NodeServer } from '../server/server.js';
import { startClusterNode, type ClusterNodeHandle } from '../server/cluster-node.js';
import type { ClusterMeta } from '../cluster/map.js';
import { LEASE_TTL_MS_DEFAULT, openCoordinator, type Coordinator } from '../coordinator/coordinator.js';
import { startAdmin as startAdminServer, type AdminHandle } from '../server/admin.js';
import type { ClusterRouting } from '../server/cluster.js';
import { AlertRulesSchema, DEFAULT_ALERT_RULES } from '../monitoring/alerts.js';
import type { CliIo } from './main.js';
import { CLUSTER_SECRET_ENV, isLoopback, resolveClusterSecret } from './secret.js';
import { nodePeerKey } from '../transport/handshake.js';
import type { TlsSettings } from '../server/tls.js';
import { peerTlsFromFiles, type PeerTls } from '../transport/peer-tls.js';

const memory = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : parseMemory(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected bytes, e.g. 104857600 or "100mb"' });
    return z.NEVER;
  }
  return n;
});

/** The node configuration. Engines other than memory arrive with the LMDB work; until then they are refused. */
export const NodeConfigSchema = z
  .object({
    host: z.string().min(1).default(SERVER_DEFAULTS.host),
    port: z.number().int().min(0).max(65535).default(SERVER_DEFAULTS.port),
    /** Admin HTTP port; default client port + 10000 (0 picks a free port). */
    adminPort: z.number().int().min(0).max(65535).optional(),
    admin: z.boolean().default(true),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    engine: z.enum(['memory', 'lmdb']).default('memory'),
    dataDir: z.string().min(1).default('./atoll-data'),
    durability: z.enum(['every-write', 'batched', 'none']).default('every-write'),
    partitions: z.number().int().min(1).max(1024).default(16),
    maxmemory: memory.default(0),
    maxmemoryPolicy: z.enum(EVICTION_POLICIES as [string, ...string[]]).default('noeviction'),
    requirepass: z.string().default(''),
    timeoutSeconds: z.number().int().nonnegative().default(0),
    maxclients: z.number().int().min(1).max(1_000_000).default(SERVER_DEFAULTS.config.maxclients),
    enableDebugCommand: z.enum(['no', 'yes', 'local']).default('no'),
    /** Join a cluster through the coordinator instead of running standalone. */
    cluster: z.boolean().default(false),
    coordinator: z.string().optional(),
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'node ids are 1-64 letters, digits, _ . or -').optional(),
    clusterId: z.string().optional(),
    zone: z.string().min(1).max(64).default('default'),
    weight: z.number().positive().finite().default(1),
    /** Forward requests for keys owned elsewhere instead of answering -MOVED (for non-cluster clients). */
    forward: z.boolean().default(false),
    leaseTtlMs: z.number().int().min(500).max(600_000).default(LEASE_TTL_MS_DEFAULT),
    /** Allows dashboard actions (POST /api/...) with `Authorization: Bearer <token>`; also ATOLL_ADMIN_TOKEN. */
    adminToken: z.string().min(16, 'admin tokens are at least 16 characters').optional(),
    /** The cluster secret (prefer clusterSecretFile or ATOLL_CLUSTER_SECRET: a config file is often shared). */
    clusterSecret: z.string().optional(),
    /** A file holding the cluster secret (its content, trimmed). */
    clusterSecretFile: z.string().min(1).optional(),
    /** Run a cluster node on a non-loopback address without a cluster secret (anyone reaching the port is a peer). */
    insecure: z.boolean().default(false),
    /** TLS client port (0 picks a free one), with Redis's option names; off when unset. */
    tlsPort: z.number().int().min(0).max(65535).optional(),
    tlsCertFile: z.string().min(1).optional(),
    tlsKeyFile: z.string().min(1).optional(),
    tlsCaCertFile: z.string().min(1).optional(),
    tlsAuthClients: z.enum(['yes', 'no', 'optional']).default('yes'),
    /** Redis's tls-cluster: node-to-node traffic is mutual TLS with the node certificate and the CA as cluster CA. */
    tlsCluster: z.enum(['yes', 'no']).default('no'),
    /** The admin API over HTTPS with the node certificate (--tls-cert-file, --tls-key-file). */
    adminTls: z.enum(['yes', 'no']).default('no'),
    /** The address other nodes and clients use for this node, when it differs from the bound one (NAT, proxies). */
    clusterAnnounceIp: z.string().min(1).optional(),
    clusterAnnouncePort: z.number().int().min(1).max(65535).optional(),
    clusterAnnounceTlsPort: z.number().int().min(1).max(65535).optional(),
    /** Alert thresholds (see docs/monitoring.md); omitted fields keep their defaults. */
    alerts: AlertRulesSchema.optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.cluster && cfg.coordinator === undefined) ctx.addIssue({ code: 'custom', path: ['coordinator'], message: 'cluster mode needs --coordinator etcd://host:port' });
    if (!cfg.cluster && cfg.coordinator !== undefined) ctx.addIssue({ code: 'custom', path: ['cluster'], message: '--coordinator is given without --cluster' });
    if (cfg.tlsPort !== undefined && (cfg.tlsCertFile === undefined || cfg.tlsKeyFile === undefined)) ctx.addIssue({ code: 'custom', path: ['tlsPort'], message: '--tls-port needs --tls-cert-file and --tls-key-file' });
    if (cfg.adminTls === 'yes' && (cfg.tlsCertFile === undefined || cfg.tlsKeyFile === undefined)) ctx.addIssue({ code: 'custom', path: ['adminTls'], message: '--admin-tls yes needs --tls-cert-file and --tls-key-file' });
    if (cfg.tlsCluster === 'yes' && (cfg.tlsCertFile === undefined || cfg.tlsKeyFile === undefined || cfg.tlsCaCertFile === undefined)) ctx.addIssue({ code: 'custom', path: ['tlsCluster'], message: '--tls-cluster yes needs --tls-cert-file, --tls-key-file and --tls-ca-cert-file (the cluster CA)' });
    if (cfg.tlsPort !== undefined && cfg.tlsAuthClients !== 'no' && cfg.tlsCaCertFile === undefined) ctx.addIssue({ code: 'custom', path: ['tlsCaCertFile'], message: '--tls-auth-clients yes|optional (the default is yes) needs --tls-ca-cert-file' });
  });

export type NodeConfig = z.infer<typeof NodeConfigSchema>;

interface StartFlags {
  config?: string;
  host?: string;
  port?: string;
  adminPort?: string;
  admin?: boolean;
  logLevel?: string;
  engine?: string;
  dataDir?: string;
  durability?: string;
  maxmemory?: string;
  maxmemoryPolicy?: string;
  requirepass?: string;
  timeout?: string;
  maxclients?: string;
  enableDebugCommand?: string;
  cluster?: boolean;
  coordinator?: string;
  id?: string;
  clusterId?: string;
  zone?: string;
  weight?: string;
  forward?: boolean;
  leaseTtlMs?: string;
  adminToken?: string;
  clusterSecretFile?: string;
  insecure?: boolean;
  tlsPort?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsCaCertFile?: string;
  tlsAuthClients?: string;
  tlsCluster?: string;
  adminTls?: string;
  clusterAnnounceIp?: string;
  clusterAnnouncePort?: string;
  clusterAnnounceTlsPort?: string;
}

function numberFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return /^\d+$/.test(v) ? Number(v) : Number.NaN;
}

/** Merges the config file (if any) and flags (which win), then validates the whole. */
export function resolveNodeConfig(flags: StartFlags): NodeConfig {
  let fromFile: Record<string, unknown> = {};
  if (flags.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.config, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read config file ${flags.config}: ${(e as Error).message}`);
    }
    try {
      fromFile = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`config file ${flags.config} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const fromFlags = Object.fromEntries(
    Object.entries({
      host: flags.host,
      port: numberFlag(flags.port),
      adminPort: numberFlag(flags.adminPort),
      admin: flags.admin === false ? false : undefined,
      logLevel: flags.logLevel,
      engine: flags.engine,
      dataDir: flags.dataDir,
      durability: flags.durability,
      maxmemory: flags.maxmemory,
      maxmemoryPolicy: flags.maxmemoryPolicy,
      requirepass: flags.requirepass,
      timeoutSeconds: numberFlag(flags.timeout),
      maxclients: numberFlag(flags.maxclients),
      enableDebugCommand: flags.enableDebugCommand,
      cluster: flags.cluster === true ? true : undefined,
      coordinator: flags.coordinator,
      id: flags.id,
      clusterId: flags.clusterId,
      zone: flags.zone,
      weight: flags.weight === undefined ? undefined : /^\d+(\.\d+)?$/.test(flags.weight) ? Number(flags.weight) : Number.NaN,
      forward: flags.forward === true ? true : undefined,
      leaseTtlMs: numberFlag(flags.leaseTtlMs),
      adminToken: flags.adminToken ?? process.env.ATOLL_ADMIN_TOKEN,
      clusterSecretFile: flags.clusterSecretFile,
      insecure: flags.insecure === true ? true : undefined,
      tlsPort: numberFlag(flags.tlsPort),
      tlsCertFile: flags.tlsCertFile,
      tlsKeyFile: flags.tlsKeyFile,
      tlsCaCertFile: flags.tlsCaCertFile,
      tlsAuthClients: flags.tlsAuthClients,
      tlsCluster: flags.tlsCluster,
      adminTls: flags.adminTls,
      clusterAnnounceIp: flags.clusterAnnounceIp,
      clusterAnnouncePort: numberFlag(flags.clusterAnnouncePort),
      clusterAnnounceTlsPort: numberFlag(flags.clusterAnnounceTlsPort),
    }).filter(([, v]) => v !== undefined),
  );
  const parsed = NodeConfigSchema.safeParse({ ...fromFile, ...fromFlags });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(config)');
    throw new UsageError(`invalid configuration: ${field}: ${issue.message}`);
  }
  return parsed.data;
}

/** The TLS settings of a configuration, when it asks for a TLS port. */
/** The node-to-node TLS of a configuration with --tls-cluster yes. */
function peerTlsOf(cfg: NodeConfig): PeerTls | undefined {
  if (cfg.tlsCluster !== 'yes') return undefined;
  try {
    return peerTlsFromFiles({ certFile: cfg.tlsCertFile!, keyFile: cfg.tlsKeyFile!, caFile: cfg.tlsCaCertFile! });
  } catch (e) {
    throw new UsageError(`--tls-cluster: ${(e as Error).message}`);
  }
}

function tlsOf(cfg: NodeConfig): TlsSettings | undefined {
  if (cfg.tlsPort === undefined) return undefined;
  return { port: cfg.tlsPort, certFile: cfg.tlsCertFile!, keyFile: cfg.tlsKeyFile!, caFile: cfg.tlsCaCertFile, authClients: cfg.tlsAuthClients };
}

/**
 * The key this cluster node's peers must prove they hold: from the cluster secret, else from requirepass. A
 * node reachable from other machines with neither is refused unless --insecure.
 */
function clusterPeerKey(cfg: NodeConfig): Buffer | undefined {
  const secret = resolveClusterSecret({ file: cfg.clusterSecretFile, fromConfig: cfg.clusterSecret });
  if (secret === undefined && !isLoopback(cfg.host) && !cfg.insecure) {
    throw new UsageError(`a cluster node on ${cfg.host} (not loopback) needs a cluster secret: --cluster-secret-file <file> or ${CLUSTER_SECRET_ENV}; --insecure runs without one`);
  }
  return nodePeerKey(secret, cfg.requirepass);
}

function openEngine(cfg: NodeConfig, partitions: number): StorageEngine {
  if (cfg.engine === 'memory') return new MemoryEngine({ clock: systemClock, maxmemoryBytes: cfg.maxmemory, policy: cfg.maxmemoryPolicy as MemoryEngine['policy'] });
  if (cfg.maxmemory > 0) throw new UsageError('maxmemory applies to the memory engine only');
  try {
    mkdirSync(cfg.dataDir, { recursive: true });
    // ATOLL_LMDB_CHUNKS=off: collections as one record each (the previous layout), for benchmarks.
    return new LmdbEngine({ path: cfg.dataDir, clock: systemClock, durability: cfg.durability, partitions, chunks: process.env.ATOLL_LMDB_CHUNKS !== 'off' });
  } catch (e) {
    throw new UsageError(`cannot open data directory ${cfg.dataDir}: ${(e as Error).message}`);
  }
}

export function registerStart(program: Command, io: CliIo): void {
  program
    .command('start')
    .description('run an Atoll node serving the Redis protocol')
    .option('--config <file>', 'JSON config file (flags override it)')
    .option('--host <addr>', `address to bind (default ${SERVER_DEFAULTS.host})`)
    .option('--port <n>', `client port (default ${SERVER_DEFAULTS.port}; 0 picks a free one)`)
    .option('--admin-port <n>', 'admin HTTP port (default: client port + 10000; 0 picks a free one)')
    .option('--no-admin', 'do not serve the admin HTTP API')
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace | silent (logs go to stderr)')
    .option('--engine <name>', 'storage engine: memory (cache) or lmdb (durable)')
    .option('--data-dir <dir>', 'LMDB data directory (default ./atoll-data)')
    .option('--durability <mode>', 'LMDB: every-write (fsync before reply) | batched | none')
    .option('--maxmemory <bytes>', 'memory limit, e.g. 100mb (0 = none)')
    .option('--maxmemory-policy <policy>', EVICTION_POLICIES.join(' | '))
    .option('--requirepass <password>', 'require AUTH with this password')
    .option('--timeout <seconds>', 'close idle clients after this many seconds (0 = never)')
    .option('--maxclients <n>', 'most concurrent clients')
    .option('--enable-debug-command <mode>', 'DEBUG (e.g. DEBUG SLEEP, which stalls the server): no (default) | yes | local (loopback clients only)')
    .option('--cluster', 'join a cluster (needs --coordinator)')
    .option('--coordinator <url>', 'etcd://host:port[,host:port...]')
    .option('--id <id>', 'node id in the cluster (default: node-<port>)')
    .option('--cluster-id <id>', 'refuse to join unless the cluster has this id')
    .option('--zone <zone>', 'failure zone (rack, availability zone) for replica placement')
    .option('--weight <w>', 'relative capacity for placement (default 1)')
    .option('--forward', 'forward requests for keys owned elsewhere instead of answering -MOVED')
    .option('--lease-ttl-ms <ms>', 'coordinator lease: a node silent this long is declared gone')
    .option('--admin-token <token>', 'allow dashboard actions with this bearer token (or set ATOLL_ADMIN_TOKEN)')
    .option('--cluster-secret-file <file>', 'file holding the cluster secret every node shares (or set ATOLL_CLUSTER_SECRET)')
    .option('--insecure', 'allow a cluster node on a non-loopback address without a cluster secret')
    .option('--tls-port <port>', 'also serve clients over TLS on this port (0: a free one)')
    .option('--tls-cert-file <file>', 'TLS certificate (PEM)')
    .option('--tls-key-file <file>', 'TLS private key (PEM)')
    .option('--tls-ca-cert-file <file>', 'CA certificate that signs client certificates (PEM)')
    .option('--tls-auth-clients <mode>', 'yes | no | optional: whether clients must present a certificate (default yes)')
    .option('--tls-cluster <yes|no>', 'node-to-node traffic over mutual TLS: the node certificate, the CA file as cluster CA (default no)')
    .option('--admin-tls <yes|no>', 'serve the admin API over HTTPS with --tls-cert-file and --tls-key-file (default no)')
    .option('--cluster-announce-ip <addr>', 'address other nodes and clients use for this node (default: --host)')
    .option('--cluster-announce-port <port>', 'port other nodes and clients use for this node (default: the bound port)')
    .option('--cluster-announce-tls-port <port>', 'TLS port clients connected over TLS are told (default: --tls-port)')
    .action(async (flags: StartFlags) => {
      const cfg = resolveNodeConfig(flags);
      const log = pino({ name: 'atoll', level: cfg.logLevel }, pino.destination(2));
      let admin: AdminHandle | undefined;
      let adminPort = 0;
      const startAdmin = async (server: NodeServer, routing?: ClusterRouting, meta?: ClusterMeta): Promise<number> => {
        if (!cfg.admin) return 0;
        const wanted = cfg.adminPort ?? (server.port + 10_000 <= 65_535 ? server.port + 10_000 : 0);
        try {
          admin = await startAdminServer(server.state, {
            host: cfg.host,
            port: wanted,
            selfId: cfg.id ?? `node-${server.port}`,
            zone: cfg.zone,
            routing,
            clusterId: meta?.clusterId,
            replicas: meta?.replicas,
            partitions: meta?.partitions ?? 1,
            rules: cfg.alerts ?? DEFAULT_ALERT_RULES,
            adminToken: cfg.adminToken,
            https: cfg.adminTls === 'yes' ? { certFile: cfg.tlsCertFile!, keyFile: cfg.tlsKeyFile! } : undefined,
            coordinator,
            log,
          });
        } catch (e) {
          throw new UsageError(`cannot serve the admin API on ${cfg.host}:${wanted}: ${(e as Error).message}`);
        }
        adminPort = admin.port;
        return adminPort;
      };
      let server: NodeServer;
      let clusterNode: ClusterNodeHandle | undefined;
      let coordinator: Coordinator | undefined;
      let peerTls: PeerTls | undefined;
      if (cfg.cluster) {
        const peerKey = clusterPeerKey(cfg);
        peerTls = peerTlsOf(cfg);
        coordinator = await openCoordinator(cfg.coordinator!);
        const id = cfg.id ?? (cfg.port !== 0 ? `node-${cfg.port}` : undefined);
        if (id === undefined) throw new UsageError('a cluster node on a random port needs --id');
        try {
          clusterNode = await startClusterNode({
            id,
            host: cfg.host,
            port: cfg.port,
            announce: { host: cfg.clusterAnnounceIp, port: cfg.clusterAnnouncePort, tlsPort: cfg.clusterAnnounceTlsPort },
            adminPort: 0,
            zone: cfg.zone,
            weight: cfg.weight,
            coordinator,
            engine: (meta) => openEngine(cfg, meta.partitions),
            clock: systemClock,
            mode: cfg.forward ? 'forward' : 'redirect',
            clusterId: cfg.clusterId,
            dataDir: cfg.engine === 'lmdb' ? cfg.dataDir : undefined,
            leaseTtlMs: cfg.leaseTtlMs,
            config: { requirepass: cfg.requirepass, timeoutSeconds: cfg.timeoutSeconds, maxclients: cfg.maxclients, enableDebugCommand: cfg.enableDebugCommand },
            tls: tlsOf(cfg),
            log,
            peerKey,
            peerTls,
            beforeRegister: startAdmin,
          });
        } catch (e) {
          await admin?.close();
          await coordinator.close();
          throw e;
        }
        server = clusterNode.server;
      } else {
        server = await startNodeServer({
          engine: openEngine(cfg, cfg.partitions),
          clock: systemClock,
          host: cfg.host,
          port: cfg.port,
          config: { requirepass: cfg.requirepass, timeoutSeconds: cfg.timeoutSeconds, maxclients: cfg.maxclients, enableDebugCommand: cfg.enableDebugCommand },
          tls: tlsOf(cfg),
        });
        try {
          await startAdmin(server);
        } catch (e) {
          await server.close();
          throw e;
        }
      }
      const adminText = admin ? `admin ${cfg.adminTls === 'yes' ? 'https' : 'http'}://${cfg.host}:${adminPort}, ` : '';
      const clusterText = clusterNode !== undefined ? `, cluster ${clusterNode.meta.clusterId} as ${clusterNode.id}` : '';
      const tlsText = server.tlsPort !== undefined ? `tls ${cfg.host}:${server.tlsPort}, ` : '';
      io.out(`atoll: node listening on ${cfg.host}:${server.port} (${tlsText}${adminText}engine ${cfg.engine}${clusterText}, pid ${process.pid})\n`);
      // SIGHUP re-reads the TLS certificates for new connections (open ones keep theirs), as a certificate rotates.
      const onHup = (): void => {
        try {
          server.reloadTls();
          peerTls?.reload();
          admin?.reloadTls();
          log.info('TLS certificates reloaded');
        } catch (e) {
          log.error({ err: (e as Error).message }, 'TLS certificates not reloaded; the previous ones stay in use');
        }
      };
      process.on('SIGHUP', onHup);
      log.info({ port: server.port, adminPort, engine: cfg.engine, dataDir: cfg.engine === 'lmdb' ? cfg.dataDir : undefined, durability: cfg.engine === 'lmdb' ? cfg.durability : undefined, maxmemory: cfg.maxmemory, policy: cfg.maxmemoryPolicy }, 'node started');
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          process.off('SIGHUP', onHup);
          log.info({ signal }, 'shutting down');
          const closing = clusterNode !== undefined ? clusterNode.close().then(() => coordinator?.close()) : server.close();
          void Promise.all([closing, admin?.close()]).then(() => resolve());
        };
        const onTerm = (): void => stop('SIGTERM');
        const onInt = (): void => stop('SIGINT');
        process.on('SIGTERM', onTerm);
        process.on('SIGINT', onInt);
      });
      log.info('node stopped');
      io.out('atoll: node stopped\n');
    });
}
