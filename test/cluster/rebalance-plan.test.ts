// Rebalance plans and move steps, pure: a plan moves only what balance needs, is refused for bad requests,
// and a move walks add -> wait for sync -> hand over -> drop -> done, judged from the map alone.
import { describe, expect, it } from 'vitest';
import { initialMap, type ClusterMeta, type ClusterNode, type PartitionEntry, type PartitionMap } from '../../src/cluster/map.js';
import { applyEntries, makePlan, moveStep, placementBasis, switchedEntry, type RebalancePlan } from '../../src/cluster/rebalance.js';
import { autoPlanBlocker, parseSettings, plansToPrune, PLANS_LIMITS } from '../../src/cluster/plans.js';
import type { CoordinatorSnapshot } from '../../src/coordinator/coordinator.js';
import { planProgress } from '../../src/dashboard/api.js';
import { expectCode } from '../helpers.js';

const meta: ClusterMeta = { clusterId: 'c', partitions: 32, replicas: 3, initialNodes: 3, createdMs: 0, ack: 'sync', uncleanPromotion: false, replaceAfterMs: 0 };
const node = (id: string): ClusterNode => ({ id, host: '127.0.0.1', port: 1, adminPort: 0, zone: 'z', weight: 1 });
const three = ['n1', 'n2', 'n3'].map(node);
const five = ['n1', 'n2', 'n3', 'n4', 'n5'].map(node);

describe('rebalance plans', () => {
  it('adding two nodes moves about their fair share of replicas and improves balance', () => {
    const map = initialMap(meta, three);
    const plan = makePlan(map, meta, { nodes: five.map((n) => ({ id: n.id, weight: 1, zone: 'z' })), reason: 't', id: 'p1', nowMs: 0 });
    const added = plan.moves.reduce((a, m) => a + m.to.filter((id) => !m.from.includes(id)).length, 0);
    // The new nodes' fair share of 96 replicas is 2/5 of them: 38.4.
    expect(added).toBeGreaterThanOrEqual(38);
    expect(added).toBeLessThanOrEqual(Math.ceil(38.4 * 1.1));
    expect(plan.balanceAfter).toBeLessThan(plan.balanceBefore);
    expect(plan.basis).toBe(placementBasis(map));
    for (const m of plan.moves) expect(m.to).toHaveLength(3);
  });

  it('refuses weights <= 0 and an empty node set', () => {
    const map = initialMap(meta, three);
    expectCode(() => makePlan(map, meta, { nodes: [{ id: 'n1', weight: 0, zone: 'z' }], reason: '', id: 'x', nowMs: 0 }), 'BAD_WEIGHT');
    expectCode(() => makePlan(map, meta, { nodes: [], reason: '', id: 'x', nowMs: 0 }), 'EMPTY_NODES');
  });
});

describe('move steps', () => {
  it('add, wait for sync, hand over, drop, done', () => {
    let map: PartitionMap = initialMap({ ...meta, partitions: 1 }, three);
    const from = map.partitions[0]!.replicas;
    const move = { partition: 0, from: [...from], to: ['n4', from[1]!, from[2]!], bytes: 0 };
    let step = moveStep(map, move, five);
    expect(step.kind).toBe('add');
    map = applyEntries(map, new Map([[0, (step as { entry: PartitionEntry }).entry]]), five);
    expect(map.partitions[0]).toMatchObject({ replicas: [...from, 'n4'], isr: [...from] });
    expect(moveStep(map, move, five)).toEqual({ kind: 'wait-sync', missing: ['n4'] });
    // The leader's ISR expansion adds n4 once it caught up.
    map = { ...map, epoch: map.epoch + 1, partitions: [{ replicas: [...from, 'n4'], epoch: map.epoch + 1 }] };
    expect(moveStep(map, move, five)).toEqual({ kind: 'transfer', leader: from[0], to: 'n4' });
    map = { ...map, epoch: map.epoch + 1, partitions: [{ replicas: ['n4', ...from], epoch: map.epoch + 1 }] };
    step = moveStep(map, move, five);
    expect(step.kind).toBe('drop');
    map = applyEntries(map, new Map([[0, (step as { entry: PartitionEntry }).entry]]), five);
    expect(map.partitions[0]!.replicas).toEqual(move.to);
    expect(Object.keys(map.nodes).sort()).toEqual([...move.to].sort());
    expect(moveStep(map, move, five)).toEqual({ kind: 'done' });
  });
});

describe('leadership switch', () => {
  it('puts the target first; with a move\'s final set (all in sync) the dropped replicas leave in the same write', () => {
    const e = { replicas: ['n1', 'n2', 'n3', 'n4'], epoch: 5 };
    expect(switchedEntry(e, 'n4')).toEqual({ replicas: ['n4', 'n1', 'n2', 'n3'] });
    expect(switchedEntry(e, 'n4', ['n4', 'n2', 'n3'])).toEqual({ replicas: ['n4', 'n2', 'n3'] });
    // A final set whose first is not the target, or with a replica out of sync, is not trusted: plain switch.
    expect(switchedEntry(e, 'n4', ['n2', 'n4', 'n3'])).toEqual({ replicas: ['n4', 'n1', 'n2', 'n3'] });
    const lagging = { ...e, isr: ['n1', 'n2', 'n4'] };
    expect(switchedEntry(lagging, 'n4', ['n4', 'n2', 'n3'])).toEqual({ replicas: ['n4', 'n1', 'n2', 'n3'], isr: ['n4', 'n1', 'n2'] });
  });
});

describe('auto mode guardrails', () => {
  const settings = parseSettings(JSON.stringify({ auto: true, cooldownMs: 10_000, stableMs: 5_000 }));
  const map = initialMap(meta, three);
  const snap = (m: PartitionMap, nodes: readonly ClusterNode[] = five): CoordinatorSnapshot => ({ meta, nodes, map: m, controller: 'n1', revision: 1 });
  const seen = new Map(five.map((n) => [n.id, 0]));
  const st = { nowMs: 100_000, firstSeenMs: seen, lastFailoverMs: 0 };
  const plan = (over: Partial<RebalancePlan>): RebalancePlan => ({ ...makePlan(map, meta, { nodes: five.map((n) => ({ id: n.id, weight: 1, zone: 'z' })), reason: 't', id: 'p', nowMs: 0 }), ...over });

  it('plans only when on, idle, fully replicated, cooled down and with stable nodes', () => {
    expect(autoPlanBlocker(snap(map), [], settings, st)).toBeUndefined();
    expect(autoPlanBlocker(snap(map), [], { ...settings, auto: false }, st)).toMatch(/off/);
    expect(autoPlanBlocker(snap(map), [plan({ status: 'applying' })], settings, st)).toMatch(/applying/);
    expect(autoPlanBlocker(snap(map), [plan({ status: 'paused' })], settings, st)).toMatch(/paused/);
    // A replica outside the in-sync set, or on a node that is not live: under-replicated.
    const lagging: PartitionMap = { ...map, partitions: map.partitions.map((e, i) => (i === 3 ? { ...e, isr: e.replicas.slice(0, 2) } : e)) };
    expect(autoPlanBlocker(snap(lagging), [], settings, st)).toMatch(/under-replicated/);
    expect(autoPlanBlocker(snap(map, five.filter((n) => n.id !== 'n2')), [], settings, st)).toMatch(/under-replicated/);
    // The cascade guard: a failover (a node that looked dead) or a finished plan starts a cool-down.
    expect(autoPlanBlocker(snap(map), [], settings, { ...st, lastFailoverMs: 95_000 })).toMatch(/cooling down/);
    expect(autoPlanBlocker(snap(map), [plan({ status: 'done', finishedMs: 99_000 })], settings, st)).toMatch(/cooling down/);
    expect(autoPlanBlocker(snap(map), [plan({ status: 'done', finishedMs: 80_000 })], settings, st)).toBeUndefined();
    expect(autoPlanBlocker(snap(map), [], settings, { ...st, firstSeenMs: new Map([...seen, ['n5', 97_000]]) })).toMatch(/n5 registered/);
  });

  it('keeps the newest finished plans and never prunes a running one', () => {
    const plans = Array.from({ length: PLANS_LIMITS.finishedKeptMax + 5 }, (_, i) => plan({ id: `d${i}`, status: 'done', finishedMs: i }));
    plans.push(plan({ id: 'run', status: 'applying' }), plan({ id: 'new', status: 'planned' }));
    expect(plansToPrune(plans)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
  });

  it('refuses malformed settings with the field named', () => {
    expectCode(() => parseSettings(JSON.stringify({ movesPerNodeMax: 0 })), 'BAD_ARGUMENT');
    expect(() => parseSettings(JSON.stringify({ rate: 5 }))).toThrow(/rate/);
    expect(parseSettings(undefined)).toMatchObject({ auto: false, rateBytesPerSec: 0 });
  });
});

describe('plan progress over HTTP', () => {
  const base = makePlan(initialMap(meta, three), meta, { nodes: five.map((n) => ({ id: n.id, weight: 1, zone: 'z' })), reason: 't', id: 'p', nowMs: 0 });
  it('gives the copy rate so far and, while applying, the time left by bytes (or by moves when sizes are unknown)', () => {
    const p = { ...base, totalBytes: 1000, bytesDone: 250, done: 2, status: 'applying' as const, startedMs: 10_000 };
    expect(planProgress(p, 12_000)).toEqual({ rateBytesPerSec: 125, etaMs: 6_000 });
    const bySize = { ...p, totalBytes: 0, bytesDone: 0, done: base.moves.length / 2 };
    expect(planProgress(bySize, 12_000).etaMs).toBe(2_000);
    expect(planProgress({ ...p, status: 'done', finishedMs: 14_000, bytesDone: 1000 }, 20_000)).toEqual({ rateBytesPerSec: 250, etaMs: null });
    expect(planProgress({ ...base }, 5).etaMs).toBeNull();
  });
});
