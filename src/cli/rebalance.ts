// `atoll rebalance plan|apply|status|pause|resume|cancel` and `atoll node drain|remove`: plans are made here
// against the current map, stored in the coordinator, approved by `apply`, and carried out by the elected
// controller (src/server/cluster-node.ts), which anyone can watch with `status` or `apply --wait`.
import { randomBytes } from 'node:crypto';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { sizesFromLeaders, type RebalanceSettings } from '../cluster/plans.js';
import { applyPlan, changePlan, createPlan, listPlans, loadPlan, readSettings, setWeight, updateSettings, type PlanDeps } from '../coordinator/plan-store.js';
import type { RebalancePlan } from '../cluster/rebalance.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { AtollError, UsageError } from '../errors.js';
import { PeerClient } from '../transport/peer.js';
import { withCoordinator } from './cluster.js';
import type { CliIo } from './main.js';
import { toolPeerKey, resolvePeerTls } from './secret.js';

export const REBALANCE_CLI_LIMITS = Object.freeze({ waitPollMs: 250, statsTimeoutMs: 30_000 });


function list(v: string | undefined): string[] {
  return v === undefined ? [] : v.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/** Parses "id=weight,..." overrides. */
function weightsOf(items: readonly string[]): Map<string, number> {
  const weights = new Map<string, number>();
  for (const w of items) {
    const m = /^([^=]+)=(.+)$/.exec(w);
    if (m === null) throw new UsageError(`--weight takes id=weight, got "${w}"`);
    const n = Number(m[2]);
    if (!(n > 0) || !Number.isFinite(n)) throw new AtollError('BAD_WEIGHT', `weight of ${m[1]} must be > 0, got "${m[2]}"`);
    weights.set(m[1]!, n);
  }
  return weights;
}

/** Plan dependencies at the CLI's edge: the wall clock, random ids, and partition sizes asked of leaders over TCP. */
export const cliPlanDeps: PlanDeps = {
  nowMs: () => Date.now(),
  newId: () => randomBytes(3).toString('hex'),
  sizes: (map, snap) =>
    sizesFromLeaders(map, snap, async (n, partitions) => {
      const peer = new PeerClient(n.host, n.port, { key: toolPeerKey(), tls: resolvePeerTls() });
      try {
        return ((await peer.request({ op: 'partition-stats', partitions }, REBALANCE_CLI_LIMITS.statsTimeoutMs)) as { bytes: number[] }).bytes;
      } finally {
        peer.close();
      }
    }),
};

function intOption(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} takes a whole number >= 0, got "${v}"`);
  return n;
}

/** "100k", "50m", "1g" or a plain number of bytes. */
function parseBytes(v: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)b?$/i.exec(v.trim());
  if (m === null) throw new UsageError(`${name} takes bytes (e.g. 50m, 200k, 0), got "${v}"`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}

export function fmtBytes(b: number): string {
  return b < 1024 ? `${b} B` : b < 1024 ** 2 ? `${(b / 1024).toFixed(1)} KiB` : b < 1024 ** 3 ? `${(b / 1024 ** 2).toFixed(1)} MiB` : `${(b / 1024 ** 3).toFixed(2)} GiB`;
}

function describe(plan: RebalancePlan): string {
  const lines = [
    `plan ${plan.id} (${plan.status}) against epoch ${plan.epoch}: ${plan.reason}`,
    `  ${plan.moves.length} partition moves, ${fmtBytes(plan.totalBytes)} to copy, about ${(plan.estimatedMs / 1000).toFixed(1)} s; balance ${plan.balanceBefore} -> ${plan.balanceAfter} (1 is perfect)`,
  ];
  for (const m of plan.moves.slice(0, 20)) lines.push(`  partition ${m.partition}: ${m.from.join(',')} -> ${m.to.join(',')} (${fmtBytes(m.bytes)})`);
  if (plan.moves.length > 20) lines.push(`  ... ${plan.moves.length - 20} more`);
  return `${lines.join('\n')}\n`;
}

/** Polls until the plan ends, showing progress on stderr (a cli-progress bar on a terminal, else a line per change). */
async function waitPlan(c: Coordinator, id: string, io: CliIo): Promise<RebalancePlan> {
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new SingleBar({ format: 'atoll rebalance [{bar}] {value}/{total} moves | {bytes} | {rate}/s | ETA {etaText}', stream: process.stderr, hideCursor: true }, Presets.shades_classic)
    : undefined;
  let last = '';
  try {
    for (;;) {
      const { plan } = await loadPlan(c, id);
      const elapsedS = Math.max(0.001, (Date.now() - started) / 1000);
      const rate = Math.round(plan.bytesDone / elapsedS);
      const etaText = rate > 0 ? `${((plan.totalBytes - plan.bytesDone) / rate).toFixed(1)} s` : '?';
      const payload = { bytes: `${fmtBytes(plan.bytesDone)}/${fmtBytes(plan.totalBytes)}`, rate: fmtBytes(rate), etaText };
      if (bar !== undefined) {
        if (last === '') bar.start(plan.moves.length, plan.done, payload);
        else bar.update(plan.done, payload);
      } else if (`${plan.done}/${plan.status}` !== last) {
        io.err(`atoll rebalance: ${plan.done}/${plan.moves.length} moves, ${payload.bytes}, ${payload.rate}/s, ETA ${etaText} (${plan.status})\n`);
      }
      last = `${plan.done}/${plan.status}`;
      if (plan.status === 'done' || plan.status === 'failed' || (plan.status === 'cancelled' && plan.finishedMs !== undefined)) return plan;
      await new Promise((r) => setTimeout(r, REBALANCE_CLI_LIMITS.waitPollMs));
    }
  } finally {
    bar?.stop();
  }
}

export function registerRebalance(program: Command, io: CliIo): void {
  const rb = program.command('rebalance').description('plan, approve and follow partition moves (carried out by the controller)');
  rb.command('plan')
    .description('plan the moves from the current map to a balanced placement over the registered nodes')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--drain <ids>', 'comma-separated nodes to move everything off')
    .option('--weight <id=w,...>', 'weight overrides for this plan')
    .option('--json', 'print the plan as one JSON line')
    .action(async (f: { coordinator: string; drain?: string; weight?: string; json?: boolean }) => {
      const plan = await withCoordinator(f.coordinator, (c) => createPlan(c, { drain: list(f.drain), weights: weightsOf(list(f.weight)), reason: f.drain !== undefined ? `drain ${f.drain}` : 'balance over the registered nodes' }, cliPlanDeps));
      io.out(f.json ? `${JSON.stringify(plan)}\n` : describe(plan));
    });
  rb.command('apply <id>')
    .description('approve a plan; the controller carries it out')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--wait', 'return when the plan is done (exit 0) or failed (non-zero)')
    .action(async (id: string, f: { coordinator: string; wait?: boolean }) => {
      await withCoordinator(f.coordinator, async (c) => {
        await applyPlan(c, id, Date.now());
        if (!f.wait) return void io.out(`plan ${id} approved; follow it with atoll rebalance status ${id}\n`);
        const end = await waitPlan(c, id, io);
        if (end.status !== 'done') throw new AtollError('PEER_UNAVAILABLE', `plan ${id} ended ${end.status}${end.error !== undefined ? `: ${end.error}` : ''}`);
        io.out(`plan ${id} done: ${end.moves.length} moves, ${fmtBytes(end.totalBytes)} in ${(((end.finishedMs ?? Date.now()) - (end.startedMs ?? end.createdMs)) / 1000).toFixed(1)} s\n`);
      });
    });
  rb.command('status [id]')
    .description('plans and their progress')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, f: { coordinator: string; json?: boolean }) => {
      const plans = await withCoordinator(f.coordinator, async (c) => (id !== undefined ? [(await loadPlan(c, id)).plan] : await listPlans(c)));
      if (f.json) return void io.out(`${JSON.stringify(id !== undefined ? plans[0] : plans)}\n`);
      for (const p of plans) io.out(`${p.id}  ${p.status}  ${p.done}/${p.moves.length} moves  ${fmtBytes(p.bytesDone)}/${fmtBytes(p.totalBytes)}  ${p.reason}\n`);
    });
  for (const verb of ['pause', 'resume', 'cancel'] as const) {
    rb.command(`${verb} <id>`)
      .description(`${verb} a plan${verb === 'cancel' ? ' (also a failed one: moves not yet switched are rolled back, the map stays consistent)' : ''}`)
      .requiredOption('--coordinator <url>', 'etcd://host:port')
      .action(async (id: string, f: { coordinator: string }) => {
        const p = await withCoordinator(f.coordinator, (c) => changePlan(c, id, verb, Date.now()));
        io.out(`plan ${p.id} ${p.status}\n`);
      });
  }
  rb.command('config')
    .description('show or change the rebalance settings: auto mode, copy rate, moves per node, cool-down')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--auto <on|off>', 'auto mode: the controller plans and applies by itself within the guardrails')
    .option('--rate <bytes/s>', 'cluster-wide copy rate for moves (0: unthrottled; suffixes k, m, g)')
    .option('--moves-per-node <n>', 'partitions moving at once per node')
    .option('--cooldown-ms <ms>', 'auto mode: quiet time after a plan or failover')
    .option('--stable-ms <ms>', 'auto mode: how long a node must be registered before it is planned for')
    .option('--target-gone-ms <ms>', 'a plan fails when a node it moves data onto has been gone this long')
    .option('--json', 'print JSON')
    .action(async (f: { coordinator: string; auto?: string; rate?: string; movesPerNode?: string; cooldownMs?: string; stableMs?: string; targetGoneMs?: string; json?: boolean }) => {
      const change: Partial<RebalanceSettings> = {};
      if (f.auto !== undefined) {
        if (f.auto !== 'on' && f.auto !== 'off') throw new UsageError(`--auto takes on or off, got "${f.auto}"`);
        change.auto = f.auto === 'on';
      }
      if (f.rate !== undefined) change.rateBytesPerSec = parseBytes(f.rate, '--rate');
      if (f.movesPerNode !== undefined) change.movesPerNodeMax = intOption(f.movesPerNode, '--moves-per-node');
      if (f.cooldownMs !== undefined) change.cooldownMs = intOption(f.cooldownMs, '--cooldown-ms');
      if (f.stableMs !== undefined) change.stableMs = intOption(f.stableMs, '--stable-ms');
      if (f.targetGoneMs !== undefined) change.targetGoneMs = intOption(f.targetGoneMs, '--target-gone-ms');
      const s = await withCoordinator(f.coordinator, (c) => (Object.keys(change).length > 0 ? updateSettings(c, change) : readSettings(c)));
      if (f.json) return void io.out(`${JSON.stringify(s)}\n`);
      io.out(`auto ${s.auto ? 'on' : 'off'}, rate ${s.rateBytesPerSec === 0 ? 'unthrottled' : `${fmtBytes(s.rateBytesPerSec)}/s`}, ${s.movesPerNodeMax} moves per node, cool-down ${s.cooldownMs} ms, stable after ${s.stableMs} ms\n`);
    });

  const node = program.command('node').description('node lifecycle: add, drain, remove, weight');
  node
    .command('add <id>')
    .description('wait until node <id> (started with atoll start --cluster ... --id <id>) registers, then plan the moves onto it')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--timeout-ms <ms>', 'how long to wait for the node to register', '30000')
    .option('--apply', 'approve the plan at once')
    .option('--wait', 'with --apply: return when the plan is done')
    .option('--json', 'print the plan as one JSON line')
    .action(async (id: string, f: { coordinator: string; timeoutMs: string; apply?: boolean; wait?: boolean; json?: boolean }) => {
      const timeoutMs = intOption(f.timeoutMs, '--timeout-ms');
      await withCoordinator(f.coordinator, async (c) => {
        const deadline = Date.now() + timeoutMs;
        while (!(await c.snapshot()).nodes.some((n) => n.id === id)) {
          if (Date.now() > deadline) throw new AtollError('UNKNOWN_NODE', `node ${id} did not register within ${timeoutMs} ms; start it with atoll start --cluster --coordinator ${c.url} --id ${id}`);
          await new Promise((r) => setTimeout(r, REBALANCE_CLI_LIMITS.waitPollMs));
        }
        const plan = await createPlan(c, { drain: [], weights: new Map(), reason: `add ${id}` }, cliPlanDeps);
        io.out(f.json ? `${JSON.stringify(plan)}\n` : describe(plan));
        if (!f.apply) return;
        await applyPlan(c, plan.id, Date.now());
        if (f.wait) {
          const end = await waitPlan(c, plan.id, io);
          if (end.status !== 'done') throw new AtollError('PEER_UNAVAILABLE', `plan ${plan.id} ended ${end.status}`);
        }
      });
    });
  node
    .command('weight <id> <weight>')
    .description('store a node weight (share of partitions relative to others) used by later plans')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .action(async (id: string, w: string, f: { coordinator: string }) => {
      const weight = Number(w);
      await withCoordinator(f.coordinator, (c) => setWeight(c, id, weight));
      io.out(`node ${id} weight ${weight}: make and apply a plan (atoll rebalance plan) to move data accordingly\n`);
    });
  node
    .command('drain <id>')
    .description('move every replica off a node (plan + apply), so it can be removed')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--wait', 'return when done')
    .action(async (id: string, f: { coordinator: string; wait?: boolean }) => {
      await withCoordinator(f.coordinator, async (c) => {
        const plan = await createPlan(c, { drain: [id], weights: new Map(), reason: `drain ${id}` }, cliPlanDeps);
        await applyPlan(c, plan.id, Date.now());
        io.out(`plan ${plan.id}: ${plan.moves.length} moves to drain ${id}\n`);
        if (f.wait) {
          const end = await waitPlan(c, plan.id, io);
          if (end.status !== 'done') throw new AtollError('PEER_UNAVAILABLE', `drain of ${id} ended ${end.status}`);
          io.out(`node ${id} holds no data now; stop it, then it leaves the map\n`);
        }
      });
    });
  node
    .command('remove <id>')
    .description('check that a node holds no replicas (drain it first), so it can be stopped for good')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .action(async (id: string, f: { coordinator: string }) => {
      await withCoordinator(f.coordinator, async (c) => {
        const snap = await c.snapshot();
        const held = snap.map?.partitions.filter((e) => e.replicas.includes(id)).length ?? 0;
        if (held > 0) throw new AtollError('BAD_ARGUMENT', `node ${id} still holds ${held} replicas: run atoll node drain ${id} --wait first`);
        io.out(`node ${id} holds no replicas: it can be stopped (it is ${snap.nodes.some((n) => n.id === id) ? 'still registered' : 'not registered'})\n`);
      });
    });
}
