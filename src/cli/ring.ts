// `atoll ring`: shows how a partitioning strategy spreads keys over nodes, how balanced it is, and how many
// keys a membership change moves; `--svg` draws the ring. A teaching and capacity-planning tool.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import {
  BoundedLoadLocator,
  ConsistentHashRing,
  JumpLocator,
  MaglevLocator,
  ModuloLocator,
  REDIS_SLOT_COUNT,
  RendezvousLocator,
  SlotPartitioner,
  loadStats,
  normaliseNodes,
  planPlacement,
  type Assignment,
  type KeyInput,
  type Node,
  type NodeSpec,
} from '../partitioning/index.js';
import { renderRingSvg, type RingSegment } from '../dashboard/ring-svg.js';
import type { CliIo } from './main.js';

export const STRATEGIES = ['ring', 'jump', 'rendezvous', 'maglev', 'bounded', 'modulo', 'slots'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const RING_CLI_LIMITS = Object.freeze({ keysMax: 10_000_000, nodesMax: 10_000, partitionsDefault: 1024 });

/** Parses `id[:weight][@zone]`, e.g. `a`, `b:2`, `c@eu-1`, `d:0.5@us-2`. */
export function parseNodeSpec(text: string): NodeSpec {
  const m = /^([^:@\s]+)(?::([^@\s]+))?(?:@(\S+))?$/.exec(text.trim());
  if (!m) throw new UsageError(`bad node "${text}": expected id[:weight][@zone]`);
  const spec: { id: string; weight?: number; zone?: string } = { id: m[1]! };
  if (m[2] !== undefined) {
    const w = Number(m[2]);
    if (!Number.isFinite(w) || w <= 0) throw new UsageError(`bad weight in "${text}": must be a number > 0`);
    spec.weight = w;
  }
  if (m[3] !== undefined) spec.zone = m[3];
  return spec;
}

export function parseNodeList(text: string | undefined, what: string): NodeSpec[] {
  if (text === undefined || text.trim() === '') return [];
  const specs = text.split(',').map((s) => parseNodeSpec(s));
  if (specs.length > RING_CLI_LIMITS.nodesMax) throw new UsageError(`${what}: more than ${RING_CLI_LIMITS.nodesMax} nodes`);
  return specs;
}

function parseIntOption(text: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.replace(/_/g, ''))) throw new UsageError(`${name} must be a whole number, got "${text}"`);
  const n = Number(text.replace(/_/g, ''));
  if (n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** A strategy behind one shape: who owns a key, what changes do, and (where it has one) its picture. */
interface Placement {
  locate(key: KeyInput): string;
  add(spec: NodeSpec): void;
  remove(id: string): void;
  picture(): { segments: RingSegment[]; ticks: number[] } | undefined;
}

interface RingCliOptions {
  strategy: string;
  nodes?: string;
  vnodes: string;
  keys: string;
  add?: string;
  remove?: string;
  allocation: string;
  partitions: string;
  svg?: string;
  json?: boolean;
}

function makePlacement(strategy: Strategy, nodes: NodeSpec[], opts: { vnodes: number; allocation: 'balanced' | 'random'; partitions: number }): Placement {
  switch (strategy) {
    case 'ring': {
      const ring = new ConsistentHashRing(nodes, { vnodes: opts.vnodes, tokenAllocation: opts.allocation });
      return {
        locate: (k) => ring.nodeFor(k),
        add: (s) => ring.addNode(s),
        remove: (id) => ring.removeNode(id),
        picture: () => ({ segments: ringSegments(ring), ticks: [] }),
      };
    }
    case 'bounded': {
      let loc = new BoundedLoadLocator(nodes, { vnodes: opts.vnodes, tokenAllocation: opts.allocation });
      let members = [...nodes];
      // Bounded loads place keys in arrival order; a change rebuilds it and places the keys again.
      return {
        locate: (k) => loc.assign(k),
        add: (s) => {
          members = [...members, s];
          loc = new BoundedLoadLocator(members, { vnodes: opts.vnodes, tokenAllocation: opts.allocation });
        },
        remove: (id) => {
          members = members.filter((m) => m.id !== id);
          loc = new BoundedLoadLocator(members, { vnodes: opts.vnodes, tokenAllocation: opts.allocation });
        },
        picture: () => undefined,
      };
    }
    case 'slots':
      return slotPlacement(nodes, opts.partitions);
    default: {
      const loc =
        strategy === 'jump' ? new JumpLocator(nodes) : strategy === 'rendezvous' ? new RendezvousLocator(nodes) : strategy === 'maglev' ? new MaglevLocator(nodes) : new ModuloLocator(nodes);
      return { locate: (k) => loc.nodeFor(k), add: (s) => loc.addNode(s), remove: (id) => loc.removeNode(id), picture: () => undefined };
    }
  }
}

/** Redis-style: 16384 slots in P partitions, partitions placed (one replica) by the planner, moved minimally. */
function slotPlacement(nodes: NodeSpec[], partitions: number): Placement {
  const slots = new SlotPartitioner({ partitions });
  let members = [...nodes];
  let assignment: Assignment = planPlacement({ partitions, replicas: 1, nodes: members }).assignment;
  const replan = (): void => {
    assignment = planPlacement({ partitions, replicas: 1, nodes: members, current: assignment }).assignment;
  };
  return {
    locate: (k) => assignment[slots.partitionFor(k)]![0]!,
    add: (s) => {
      members = [...members, s];
      replan();
    },
    remove: (id) => {
      members = members.filter((m) => m.id !== id);
      replan();
    },
    picture: () => ({
      segments: assignment.map((list, p) => {
        const r = slots.slotRange(p);
        return { start: r.first / REDIS_SLOT_COUNT, end: (r.last + 1) / REDIS_SLOT_COUNT, node: list[0]! };
      }),
      ticks: partitions <= 256 ? assignment.map((_, p) => slots.slotRange(p).first / REDIS_SLOT_COUNT) : [],
    }),
  };
}

function ringSegments(ring: ConsistentHashRing): RingSegment[] {
  const size = 2 ** 32;
  const out: RingSegment[] = [];
  for (const arc of ring.arcs()) {
    if (ring.tokenCount === 1) out.push({ start: 0, end: 1, node: arc.node });
    else if (arc.start < arc.end) out.push({ start: arc.start / size, end: arc.end / size, node: arc.node });
    else {
      out.push({ start: arc.start / size, end: 1, node: arc.node });
      if (arc.end > 0) out.push({ start: 0, end: arc.end / size, node: arc.node });
    }
  }
  return out;
}

interface NodeRow {
  id: string;
  zone: string;
  weight: number;
  keys: number;
  share: number;
  fairShare: number;
}

function measure(locate: (k: KeyInput) => string, members: readonly Node[], keyCount: number): { owners: string[]; rows: NodeRow[] } {
  const owners = new Array<string>(keyCount);
  const counts = new Map(members.map((m) => [m.id, 0]));
  for (let i = 0; i < keyCount; i++) {
    const o = locate(`key:${i}`);
    owners[i] = o;
    counts.set(o, (counts.get(o) ?? 0) + 1);
  }
  const weightSum = members.reduce((s, m) => s + m.weight, 0);
  const rows = members.map((m) => ({ id: m.id, zone: m.zone, weight: m.weight, keys: counts.get(m.id)!, share: counts.get(m.id)! / keyCount, fairShare: m.weight / weightSum }));
  return { owners, rows };
}

function balance(rows: readonly NodeRow[]): { maxOverMean: number; cv: number } {
  // Weighted: compare each node's keys with its fair share, so unequal weights are not counted as imbalance.
  const ratios = rows.map((r) => r.share / r.fairShare);
  const s = loadStats(ratios);
  return { maxOverMean: s.max, cv: s.cv };
}

function table(rows: readonly NodeRow[]): string {
  const head = ['node', 'zone', 'weight', 'keys', 'share', 'fair share'];
  const body = rows.map((r) => [r.id, r.zone, String(r.weight), String(r.keys), `${(r.share * 100).toFixed(2)}%`, `${(r.fairShare * 100).toFixed(2)}%`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function registerRing(program: Command, io: CliIo): void {
  program
    .command('ring')
    .description('show how a partitioning strategy spreads keys over nodes, and what a membership change moves')
    .option('--strategy <name>', `one of ${STRATEGIES.join(', ')}`, 'ring')
    .option('--nodes <list>', 'comma-separated nodes, each id[:weight][@zone] (e.g. a,b:2,c@eu)')
    .option('--vnodes <n>', 'virtual nodes per unit weight (ring, bounded)', '256')
    .option('--allocation <mode>', 'ring token allocation: balanced or random', 'balanced')
    .option('--partitions <n>', 'partitions for the slots strategy', String(RING_CLI_LIMITS.partitionsDefault))
    .option('--keys <n>', 'sample keys to place', '100000')
    .option('--add <list>', 'nodes to add after the first measurement')
    .option('--remove <list>', 'node ids to remove after the first measurement')
    .option('--svg <file>', 'write a picture of the ring (ring and slots strategies)')
    .option('--json', 'print one JSON object instead of tables')
    .action((opts: RingCliOptions) => runRing(opts, io));
}

export function runRing(opts: RingCliOptions, io: CliIo): void {
  if (!(STRATEGIES as readonly string[]).includes(opts.strategy)) {
    throw new UsageError(`unknown strategy "${opts.strategy}": use one of ${STRATEGIES.join(', ')}`);
  }
  const strategy = opts.strategy as Strategy;
  if (opts.allocation !== 'balanced' && opts.allocation !== 'random') throw new UsageError('--allocation must be balanced or random');
  const specs = parseNodeList(opts.nodes, '--nodes');
  if (specs.length === 0) throw new UsageError('--nodes is required: e.g. --nodes a,b,c');
  const members = normaliseNodes(specs);
  const added = parseNodeList(opts.add, '--add');
  const removed = opts.remove === undefined || opts.remove.trim() === '' ? [] : opts.remove.split(',').map((s) => s.trim());
  const keyCount = parseIntOption(opts.keys, '--keys', 1, RING_CLI_LIMITS.keysMax);
  const vnodes = parseIntOption(opts.vnodes, '--vnodes', 1, 65_536);
  const partitions = parseIntOption(opts.partitions, '--partitions', 1, REDIS_SLOT_COUNT);
  if (opts.svg !== undefined && strategy !== 'ring' && strategy !== 'slots') throw new UsageError('--svg needs --strategy ring or slots');
  for (const id of removed) if (!members.some((m) => m.id === id)) throw new UsageError(`--remove: "${id}" is not in --nodes`);

  const placement = makePlacement(strategy, specs, { vnodes, allocation: opts.allocation, partitions });
  const before = measure((k) => placement.locate(k), members, keyCount);
  const result: Record<string, unknown> = { strategy, keys: keyCount, before: { nodes: before.rows, ...balance(before.rows) } };
  const text: string[] = [`strategy ${strategy}, ${members.length} nodes, ${keyCount} keys`, table(before.rows), formatBalance(balance(before.rows))];

  if (added.length > 0 || removed.length > 0) {
    for (const s of added) placement.add(s);
    for (const id of removed) placement.remove(id);
    const afterMembers = normaliseNodes([...members.filter((m) => !removed.includes(m.id)), ...added]);
    const after = measure((k) => placement.locate(k), afterMembers, keyCount);
    let moved = 0;
    for (let i = 0; i < keyCount; i++) if (before.owners[i] !== after.owners[i]) moved++;
    const ideal = idealMovedFraction(before.rows, after.rows, keyCount);
    result.after = { nodes: after.rows, ...balance(after.rows) };
    result.moved = { fraction: moved / keyCount, idealFraction: ideal, overIdeal: ideal === 0 ? 0 : moved / keyCount / ideal };
    text.push('', `after ${[...added.map((a) => `+${a.id}`), ...removed.map((r) => `-${r}`)].join(' ')}`, table(after.rows), formatBalance(balance(after.rows)));
    text.push(`moved: ${((moved / keyCount) * 100).toFixed(2)}% of keys (ideal ${(ideal * 100).toFixed(2)}%, ratio ${(ideal === 0 ? 0 : moved / keyCount / ideal).toFixed(3)})`);
  }
  if (opts.svg !== undefined) {
    const pic = placement.picture();
    const ids = normaliseNodes([...members.filter((m) => !removed.includes(m.id)), ...added]).map((m) => m.id);
    if (pic !== undefined) {
      writeFileSync(opts.svg, renderRingSvg(pic.segments, ids, { title: `${strategy}: ${ids.length} nodes`, ticks: pic.ticks }));
      result.svg = opts.svg;
      text.push(`wrote ${opts.svg}`);
    }
  }
  io.out(opts.json ? `${JSON.stringify(result)}\n` : `${text.join('\n')}\n`);
}

function formatBalance(b: { maxOverMean: number; cv: number }): string {
  return `balance: max/fair ${b.maxOverMean.toFixed(4)}, CV ${b.cv.toFixed(4)}`;
}

/** The least any strategy must move: keys whose node left, plus what newcomers must take for their fair share. */
function idealMovedFraction(before: readonly NodeRow[], after: readonly NodeRow[], keyCount: number): number {
  const fairAfter = new Map(after.map((r) => [r.id, r.fairShare]));
  let moved = 0;
  for (const r of before) {
    const fair = fairAfter.get(r.id) ?? 0;
    moved += Math.max(0, r.share - fair);
  }
  return Math.round(moved * keyCount) / keyCount;
}
