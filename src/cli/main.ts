// The `atoll` command line: parses arguments with commander and dispatches to subcommands. Returns the exit
// status instead of exiting, so tests can run it in-process; bad usage is status 2 with a clear message.
import { Command, CommanderError } from 'commander';
import { AtollError } from '../errors.js';
import { registerRing } from './ring.js';
import { registerStart } from './start.js';
import { registerCluster, registerFailover } from './cluster.js';
import { registerDev } from './dev.js';
import { registerRouter } from './router.js';
import { registerDemo } from './demo.js';
import { registerHotkeys } from './hotkeys.js';
import { registerRebalance } from './rebalance.js';
import { registerVerify } from './verify.js';

export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2 });

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

export function buildProgram(io: CliIo): Command {
  const program = new Command('atoll')
    .description('Atoll: a partitioned, replicated key-value store and cache speaking the Redis Cluster protocol')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  registerRing(program, io);
  registerStart(program, io);
  registerCluster(program, io);
  registerFailover(program, io);
  registerDev(program, io);
  registerRouter(program, io);
  registerDemo(program, io);
  registerHotkeys(program, io);
  registerRebalance(program, io);
  registerVerify(program, io);
  for (const cmd of allCommands(program)) cmd.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  return program;
}

function allCommands(c: Command): Command[] {
  return c.commands.flatMap((sub) => [sub, ...allCommands(sub)]);
}

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are "errors" to commander but successes to the user.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (e instanceof AtollError) {
      io.err(`atoll: ${e.message} [${e.code}]\n`);
      return e.code === 'USAGE' || e.code.startsWith('BAD_') || e.code === 'EMPTY_NODES' || e.code === 'DUPLICATE_NODE' || e.code === 'UNKNOWN_NODE'
        ? EXIT.usage
        : EXIT.failure;
    }
    throw e;
  }
}
