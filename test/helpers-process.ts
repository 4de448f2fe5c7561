// Starting and stopping real `atoll` processes in tests: free ports on 127.0.0.1, stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const ATOLL_BIN = join(import.meta.dirname, '../bin/atoll.js');

export interface RunningNode {
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Every node a test started and has not seen exit: killed when the test process exits, even after a failure. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `atoll start --port 0 ...` and resolves once it prints its listening line. */
export async function startNode(args: string[] = [], timeoutMs = 15_000): Promise<RunningNode> {
  const child = spawn(process.execPath, [ATOLL_BIN, 'start', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`atoll start did not come up: ${out}`)), timeoutMs);
    const check = (): void => {
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`atoll start exited with ${code}: ${out}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    port,
    pid: child.pid!,
    child,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
      return exited;
    },
  };
}
