// `atoll start`: runs one node. Options come from flags and an optional JSON config file, validated with zod
// (unknown keys and bad values are rejected naming the field). SIGTERM/SIGINT shut it down gracefully.
import { mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { EVICTION_POLICIES, systemClock } from '../storage/engine.js';
import { MemoryEngine } from '../storage/memory.js';
import { LmdbEngine } from '../storage/lmdb.js';
import { parseMemory } from '../server/dispatch.js';
import { SERVER_DEFAULTS, startNodeServer } from '../server/server.js';
import { buildAdminApp } from '../server/admin.js';
import { createNodeMetrics } from '../server/metrics.js';
import type { CliIo } from './main.js';

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
  })
  .strict();

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

function openLmdb(cfg: NodeConfig): LmdbEngine {
  if (cfg.maxmemory > 0) throw new UsageError('maxmemory applies to the memory engine only');
  try {
    mkdirSync(cfg.dataDir, { recursive: true });
    return new LmdbEngine({ path: cfg.dataDir, clock: systemClock, durability: cfg.durability, partitions: cfg.partitions });
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
    .action(async (flags: StartFlags) => {
      const cfg = resolveNodeConfig(flags);
      const log = pino({ name: 'atoll', level: cfg.logLevel }, pino.destination(2));
      const engine =
        cfg.engine === 'lmdb'
          ? openLmdb(cfg)
          : new MemoryEngine({ clock: systemClock, maxmemoryBytes: cfg.maxmemory, policy: cfg.maxmemoryPolicy as MemoryEngine['policy'] });
      const server = await startNodeServer({
        engine,
        clock: systemClock,
        host: cfg.host,
        port: cfg.port,
        config: { requirepass: cfg.requirepass, timeoutSeconds: cfg.timeoutSeconds, maxclients: cfg.maxclients },
      });
      let admin: FastifyInstance | undefined;
      let adminPort = 0;
      if (cfg.admin) {
        const metrics = createNodeMetrics(server.state);
        server.state.observe = metrics.observe;
        admin = buildAdminApp(server.state, metrics);
        const wanted = cfg.adminPort ?? (server.port + 10_000 <= 65_535 ? server.port + 10_000 : 0);
        try {
          await admin.listen({ host: cfg.host, port: wanted });
        } catch (e) {
          await server.close();
          throw new UsageError(`cannot serve the admin API on ${cfg.host}:${wanted}: ${(e as Error).message}`);
        }
        adminPort = (admin.server.address() as AddressInfo).port;
      }
      const adminText = admin ? `admin http://${cfg.host}:${adminPort}, ` : '';
      io.out(`atoll: node listening on ${cfg.host}:${server.port} (${adminText}engine ${cfg.engine}, pid ${process.pid})\n`);
      log.info({ port: server.port, adminPort, engine: cfg.engine, dataDir: cfg.engine === 'lmdb' ? cfg.dataDir : undefined, durability: cfg.engine === 'lmdb' ? cfg.durability : undefined, maxmemory: cfg.maxmemory, policy: cfg.maxmemoryPolicy }, 'node started');
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          log.info({ signal }, 'shutting down');
          void Promise.all([server.close(), admin?.close()]).then(() => resolve());
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
