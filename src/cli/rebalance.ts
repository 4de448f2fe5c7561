// `atoll rebalance plan|apply|status|pause|resume|cancel` and `atoll node drain|remove`: plans are made here
// against the current map, stored in the coordinator, approved by `apply`, and carried out by the elected
// controller (src/server/cluster-node.ts), which anyone can watch with `status` or `apply --wait`.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { makePlan, parsePlan, placementBasis, type RebalancePlan } from '../cluster/rebalance.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { AtollError, UsageError } from '../errors.js';
import { PeerClient } from '../transport/peer.js';
import { withCoordinator } from './cluster.js';
import type { CliIo } from './main.js';

export const REBALANCE_CLI_LIMITS = Object.freeze({ waitPollMs: 250, statsTimeoutMs: 30_000 });


function list(v: string | undefined): string[] {
  return v === undefined ? [] : v.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/** Makes and stores a plan: the registered nodes (minus drained ones, with weight overrides) as the target. */
export async function createPlan(c: Coordinator, opts: { drain: string[]; weights: string[]; reason: string }): Promise<RebalancePlan> {
  const snap = await c.snapshot();
  if (snap.meta === undefined || snap.map === undefined) throw new AtollError('NO_CLUSTER', 'the cluster has no partition map yet');
  const map = snap.map;
  const known = new Set([...snap.nodes.map((n) => n.id), ...Object.keys(map.nodes)]);
  for (const id of opts.drain) if (!known.has(id)) throw new AtollError('UNKNOWN_NODE', `cannot drain ${id}: no such node`);
  const weight = new Map<string, number>();
  for (const w of opts.weights) {
    const m = /^([^=]+)=(.+)$/.exec(w);
    if (m === null) throw new UsageError(`--weight takes id=weight, got "${w}"`);
    if (!known.has(m[1]!)) throw new AtollError('UNKNOWN_NODE', `cannot weight ${m[1]}: no such node`);
    const n = Number(m[2]);
    if (!(n > 0) || !Number.isFinite(n)) throw new AtollError('BAD_WEIGHT', `weight of ${m[1]} must be > 0, got "${m[2]}"`);
    weight.set(m[1]!, n);
  }
  const nodes = snap.nodes.filter((n) => !opts.drain.includes(n.id)).map((n) => ({ id: n.id, zone: n.zone, weight: weight.get(n.id) ?? n.weight }));
  if (nodes.length === 0) throw new AtollError('EMPTY_NODES', 'the plan would leave no node to hold data (cannot drain the last node)');
  // Partition sizes from their leaders, for bytes and time estimates.
  const byLeader = new Map<string, number[]>();
  map.partitions.forEach((e, p) => byLeader.set(e.replicas[0]!, [...(byLeader.get(e.replicas[0]!) ?? []), p]));
  const bytes = new Map<number, number>();
  await Promise.all(
    [...byLeader].map(async ([id, partitions]) => {
      const n = map.nodes[id];
      if (n === undefined || !snap.nodes.some((x) => x.id === id)) return;
      const peer = new PeerClient(n.host, n.port);
      try {
        const r = (await peer.request({ op: 'partition-stats', partitions }, REBALANCE_CLI_LIMITS.statsTimeoutMs)) as { bytes: number[] };
        partitions.forEach((p, i) => bytes.set(p, r.bytes[i] ?? 0));
      } catch {
        // Unknown sizes count as 0 in the estimate.
      } finally {
        peer.close();
      }
    }),
  );
  const plan = makePlan(map, snap.meta, { nodes, partitionBytes: bytes, reason: opts.reason, id: `plan-${map.epoch}-${randomBytes(3).toString('hex')}`, nowMs: Date.now() });
  if (!(await c.casDoc(`plans/${plan.id}`, undefined, JSON.stringify(plan)))) throw new AtollError('STALE_EPOCH', `plan id ${plan.id} exists already`);
  return plan;
}

async function loadPlan(c: Coordinator, id: string): Promise<{ plan: RebalancePlan; text: string }> {
  const text = await c.getDoc(`plans/${id}`);
  if (text === undefined) throw new AtollError('BAD_ARGUMENT', `no plan ${id}`);
  return { plan: parsePlan(text), text };
}

/** Approves a plan: refused if the placement changed since it was made, or while a leader is down. */
export async function applyPlan(c: Coordinator, id: string): Promise<RebalancePlan> {
  const { plan, text } = await loadPlan(c, id);
  if (plan.status !== 'planned' && plan.status !== 'paused') throw new AtollError('BAD_ARGUMENT', `plan ${id} is ${plan.status}; only a planned or paused plan can be applied`);
  const snap = await c.snapshot();
  if (snap.map === undefined) throw new AtollError('NO_CLUSTER', 'no partition map');
  if (plan.status === 'planned' && placementBasis(snap.map) !== plan.basis) {
    throw new AtollError('STALE_EPOCH', `plan ${id} was made against epoch ${plan.epoch}; the placement has changed since (now epoch ${snap.map.epoch}): make a new plan`);
  }
  const live = new Set(snap.nodes.map((n) => n.id));
  const down = snap.map.partitions.filter((e) => !live.has(e.replicas[0]!)).length;
  if (down > 0) throw new AtollError('COORDINATOR_UNAVAILABLE', `${down} partitions have no live leader (a failover is pending); apply once they do`);
  const next: RebalancePlan = { ...plan, status: 'applying', startedMs: plan.startedMs ?? Date.now() };
  if (!(await c.casDoc(`plans/${id}`, text, JSON.stringify(next)))) throw new AtollError('STALE_EPOCH', `plan ${id} changed meanwhile; try again`);
  return next;
}

async function setStatus(c: Coordinator, id: string, from: RebalancePlan['status'][], to: RebalancePlan['status']): Promise<RebalancePlan> {
  const { plan, text } = await loadPlan(c, id);
  if (!from.includes(plan.status)) throw new AtollError('BAD_ARGUMENT', `plan ${id} is ${plan.status}; cannot make it ${to}`);
  const next = { ...plan, status: to };
  if (!(await c.casDoc(`plans/${id}`, text, JSON.stringify(next)))) throw new AtollError('STALE_EPOCH', `plan ${id} changed meanwhile; try again`);
  return next;
}

function fmtBytes(b: number): string {
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

/** Polls until the plan ends; a progress line on stderr. Resolves with the final plan. */
async function waitPlan(c: Coordinator, id: string, io: CliIo): Promise<RebalancePlan> {
  const started = Date.now();
  // A live bar on a terminal; elsewhere one line per change.
  const tty = process.stderr.isTTY === true;
  let last = '';
  for (;;) {
    const { plan } = await loadPlan(c, id);
    const elapsedS = Math.max(0.001, (Date.now() - started) / 1000);
    const rate = Math.round(plan.bytesDone / elapsedS);
    const eta = rate > 0 ? `${((plan.totalBytes - plan.bytesDone) / rate).toFixed(1)} s` : '?';
    const width = 24;
    const filled = plan.moves.length === 0 ? width : Math.round((plan.done / plan.moves.length) * width);
    const line = `atoll rebalance [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${plan.done}/${plan.moves.length} moves, ${fmtBytes(plan.bytesDone)}/${fmtBytes(plan.totalBytes)}, ${fmtBytes(rate)}/s, ETA ${eta}`;
    const progress = `${plan.done}/${plan.status}`;
    if (tty) io.err(`\r${line}   `);
    else if (progress !== last) io.err(`${line}\n`);
    last = progress;
    if (plan.status === 'done' || plan.status === 'failed' || (plan.status === 'cancelled' && plan.finishedMs !== undefined)) {
      if (tty) io.err('\n');
      return plan;
    }
    await new Promise((r) => setTimeout(r, REBALANCE_CLI_LIMITS.waitPollMs));
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
      const plan = await withCoordinator(f.coordinator, (c) => createPlan(c, { drain: list(f.drain), weights: list(f.weight), reason: f.drain !== undefined ? `drain ${f.drain}` : 'balance over the registered nodes' }));
      io.out(f.json ? `${JSON.stringify(plan)}\n` : describe(plan));
    });
  rb.command('apply <id>')
    .description('approve a plan; the controller carries it out')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--wait', 'return when the plan is done (exit 0) or failed (non-zero)')
    .action(async (id: string, f: { coordinator: string; wait?: boolean }) => {
      await withCoordinator(f.coordinator, async (c) => {
        await applyPlan(c, id);
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
      const plans = await withCoordinator(f.coordinator, async (c) => (id !== undefined ? [(await loadPlan(c, id)).plan] : [...(await c.listDocs('plans/')).values()].map(parsePlan)));
      if (f.json) return void io.out(`${JSON.stringify(id !== undefined ? plans[0] : plans)}\n`);
      for (const p of plans) io.out(`${p.id}  ${p.status}  ${p.done}/${p.moves.length} moves  ${fmtBytes(p.bytesDone)}/${fmtBytes(p.totalBytes)}  ${p.reason}\n`);
    });
  for (const [verb, from, to] of [
    ['pause', ['applying'], 'paused'],
    ['resume', ['paused'], 'applying'],
    ['cancel', ['planned', 'applying', 'paused'], 'cancelled'],
  ] as const) {
    rb.command(`${verb} <id>`)
      .description(`${verb} a plan${verb === 'cancel' ? ' (moves not yet switched are rolled back, the map stays consistent)' : ''}`)
      .requiredOption('--coordinator <url>', 'etcd://host:port')
      .action(async (id: string, f: { coordinator: string }) => {
        const p = await withCoordinator(f.coordinator, (c) => setStatus(c, id, [...from], to));
        io.out(`plan ${p.id} ${p.status}\n`);
      });
  }

  const node = program.command('node').description('node lifecycle: drain, remove');
  node
    .command('drain <id>')
    .description('move every replica off a node (plan + apply), so it can be removed')
    .requiredOption('--coordinator <url>', 'etcd://host:port')
    .option('--wait', 'return when done')
    .action(async (id: string, f: { coordinator: string; wait?: boolean }) => {
      await withCoordinator(f.coordinator, async (c) => {
        const plan = await createPlan(c, { drain: [id], weights: [], reason: `drain ${id}` });
        await applyPlan(c, plan.id);
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
