// `atoll hotkeys`: the hottest keys of a node, or of every node of its cluster, read with CLUSTER HOTKEYS.
import type { Command } from 'commander';
import { RespClient, RespErrorReply, type RespValue } from '../client/resp-client.js';
import { UsageError } from '../errors.js';
import type { CliIo } from './main.js';

interface Row {
  node: string;
  key: string;
  count: number;
  share: number;
}

function text(v: RespValue): string {
  return Buffer.isBuffer(v) ? v.toString('latin1') : String(v);
}

async function hotKeysOf(host: string, port: number, count: number): Promise<Row[]> {
  const c = await RespClient.connect(host, port);
  try {
    const reply = await c.send(['CLUSTER', 'HOTKEYS', 'COUNT', count]);
    if (reply instanceof RespErrorReply) throw new UsageError(`${host}:${port} answered: ${reply.message}`);
    return (reply as RespValue[][]).map((e) => ({ node: `${host}:${port}`, key: text(e[0]!), count: Number(e[1]), share: Number(text(e[2]!)) }));
  } finally {
    c.close();
  }
}

/** Node addresses from CLUSTER NODES, or undefined when the node runs standalone. */
async function clusterAddresses(host: string, port: number): Promise<{ host: string; port: number }[] | undefined> {
  const c = await RespClient.connect(host, port);
  try {
    const reply = await c.send(['CLUSTER', 'NODES']);
    if (reply instanceof RespErrorReply) return undefined;
    return text(reply)
      .split('\n')
      .filter((l) => l.trim() !== '' && !(l.split(' ')[2] ?? '').split(',').includes('fail'))
      .map((l) => {
        const addr = l.split(' ')[1]!.split('@')[0]!;
        const i = addr.lastIndexOf(':');
        return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
      });
  } finally {
    c.close();
  }
}

export function registerHotkeys(program: Command, io: CliIo): void {
  program
    .command('hotkeys')
    .description("the hottest keys (sampled over the last 5-10 s) of a node, or of every node of its cluster")
    .option('--host <addr>', 'node address', '127.0.0.1')
    .option('--port <n>', 'node client port', '6379')
    .option('--count <n>', 'keys per node (1-64)', '10')
    .option('--json', 'print JSON')
    .action(async (flags: { host: string; port: string; count: string; json?: boolean }) => {
      const port = Number(flags.port);
      const count = Number(flags.count);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be a port number, got "${flags.port}"`);
      if (!Number.isInteger(count) || count < 1 || count > 64) throw new UsageError(`--count must be 1-64, got "${flags.count}"`);
      let targets: { host: string; port: number }[];
      try {
        targets = (await clusterAddresses(flags.host, port)) ?? [{ host: flags.host, port }];
      } catch (e) {
        throw new UsageError(`cannot reach ${flags.host}:${port}: ${(e as Error).message}`);
      }
      const rows = (await Promise.all(targets.map((t) => hotKeysOf(t.host, t.port, count)))).flat().sort((a, b) => b.share - a.share || b.count - a.count);
      if (flags.json) {
        io.out(`${JSON.stringify(rows)}\n`);
        return;
      }
      const lines = [['key', 'node', 'share', 'samples'], ...rows.map((r) => [r.key, r.node, `${(r.share * 100).toFixed(1)}%`, String(r.count)])];
      const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
      io.out(lines.map((l) => `${l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`).join(''));
    });
}
