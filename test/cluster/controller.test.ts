// The controller as a pure step: state + what the coordinator holds + time -> new state + actions. No I/O,
// so each decision is checked directly: first map, compaction cadence, fencing a dead leader's partitions
// and failing them over in one write, and rebuilding replicas only once a node has been gone long enough.
import { describe, expect, it } from 'vitest';
import { controllerStep, failoverStep, initialControllerState, type ControllerAction, type ControllerObservation } from '../../src/cluster/controller.js';
import { initialMap, type ClusterMeta, type ClusterNode, type PartitionMap } from '../../src/cluster/map.js';

const node = (id: string): ClusterNode => ({ id, host: '127.0.0.1', port: 7000, adminPort: 0, zone: id, weight: 1 });
const meta: ClusterMeta = { clusterId: 'c', partitions: 2048, replicas: 3, initialNodes: 3, createdMs: 0, ack: 'sync', uncleanPromotion: false, replaceAfterMs: 60_000 };
const four = ['n1', 'n2', 'n3', 'n4'].map(node);
const obs = (o: Partial<ControllerObservation>): ControllerObservation => ({ meta, nodes: four, map: undefined, nowMs: 0, compactEveryMs: 60_000, ...o });
const kinds = (actions: readonly ControllerAction[]): string[] => actions.map((a) => (a.kind === 'publish' ? `publish:${a.why}` : a.kind));

describe('controller step', () => {
  it('places a first map once enough nodes are registered, and nothing before', () => {
    const s0 = initialControllerState(0);
    expect(kinds(controllerStep(s0, obs({ nodes: four.slice(0, 2) })).actions)).toEqual([]);
    const { actions } = controllerStep(s0, obs({}));
    expect(kinds(actions)).toEqual(['publish:first-map']);
    expect((actions[0] as { next: PartitionMap }).next.partitions).toHaveLength(2048);
  });

  it('compacts once per interval', () => {
    let s = initialControllerState(0);
    const map = initialMap(meta, four);
    const at = (nowMs: number): string[] => {
      const r = controllerStep(s, obs({ map, nowMs }));
      s = r.state;
      return kinds(r.actions);
    };
    expect(at(59_999)).toEqual([]);
    expect(at(60_000)).toEqual(['compact']);
    expect(at(60_001)).toEqual([]);
    expect(at(120_000)).toEqual(['compact']);
  });

  it('fences every partition a dead node leads in one action, and fails them all over in one map', () => {
    const map = initialMap(meta, four);
    const live = four.filter((n) => n.id !== 'n2');
    const { actions } = controllerStep(initialControllerState(0), obs({ map, nodes: live, nowMs: 1 }));
    expect(kinds(actions)).toEqual(['fence']);
    const fence = actions[0] as Extract<ControllerAction, { kind: 'fence' }>;
    const led = map.partitions.flatMap((e, p) => (e.replicas[0] === 'n2' ? [p] : []));
    expect(fence.orphaned).toEqual(led);
    expect(fence.epoch).toBe(map.epoch + 1);
    expect([...fence.asks.keys()].sort()).toEqual(['n1', 'n3', 'n4'].filter((id) => fence.asks.has(id)).sort());
    // Every survivor answers at the same position: each partition goes to an in-sync survivor.
    const answers = new Map(led.map((p) => [p, new Map(map.partitions[p]!.replicas.slice(1).map((id) => [id, { term: 't', seq: 5 }]))]));
    const plan = failoverStep(fence, new Set(live.map((n) => n.id)), answers, meta);
    expect(plan.promoted).toHaveLength(led.length);
    expect(plan.stuck).toEqual([]);
    expect(plan.next!.partitions.every((e) => e.replicas[0] !== 'n2')).toBe(true);
  });

  it('rebuilds the replicas of a node only after it has been gone for replaceAfterMs', () => {
    const map = initialMap(meta, four);
    const live = four.filter((n) => n.id !== 'n4');
    // n4 leads some partitions too: fenced each step; the rebuild is the publish that follows.
    let s = initialControllerState(0);
    const step = (nowMs: number): string[] => {
      const r = controllerStep(s, obs({ map, nodes: live, nowMs, compactEveryMs: 0 }));
      s = r.state;
      return kinds(r.actions);
    };
    expect(step(1_000)).toEqual(['fence']);
    expect(step(60_999)).toEqual(['fence']);
    expect(step(61_000)).toEqual(['fence', 'publish:replace']);
    // The node coming back resets its clock.
    s = controllerStep(s, obs({ map, nodes: four, nowMs: 62_000, compactEveryMs: 0 })).state;
    expect(s.downSinceMs.has('n4')).toBe(false);
  });
});
