// Monitoring core: sliding windows, latency quantiles, the Space-Saving guarantee (property-tested against
// exact counts), the node monitor's per-partition rates, and every alert rule on hand-made cluster views.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lagQuantiles } from '../../src/replication/replicator.js';
import { AlertHold, evaluateAlerts, DEFAULT_ALERT_RULES, type ClusterView, type ViewNode } from '../../src/monitoring/alerts.js';
import { HotKeyTracker, SpaceSaving } from '../../src/monitoring/hotkeys.js';
import { MONITOR_LIMITS, NodeMonitor, type NodeReport } from '../../src/monitoring/node-monitor.js';
import { latencyBin, latencyBinUpperMs, WindowedCounters, WindowedLatency } from '../../src/monitoring/window.js';
import { keySlot } from '../../src/partitioning/hash.js';
import { SlotPartitioner } from '../../src/partitioning/slots.js';

describe('sliding windows', () => {
  it('sums only completed buckets and forgets the oldest', () => {
    const w = new WindowedCounters(2, 3);
    w.add(0, 5);
    expect(w.totals()).toEqual({ sums: new Float64Array([0, 0]), buckets: 0 });
    w.rotate();
    w.add(1, 7);
    w.rotate();
    expect(Array.from(w.totals().sums)).toEqual([5, 7]);
    w.rotate(); // the bucket holding 5 is now the current one, cleared
    expect(Array.from(w.totals().sums)).toEqual([0, 7]);
    expect(w.totals().buckets).toBe(2);
  });

  it('latency bins are monotone and a quantile lands within 10% above the true value', () => {
    let last = -1;
    for (let us = 1; us < 1e7; us *= 1.07) {
      const b = latencyBin(us / 1e6);
      expect(b).toBeGreaterThanOrEqual(last);
      last = b;
      const upperMs = latencyBinUpperMs(b);
      if (us > 2) {
        expect(upperMs).toBeGreaterThanOrEqual(us / 1000);
        expect(upperMs).toBeLessThanOrEqual((us / 1000) * 1.1);
      }
    }
    const l = new WindowedLatency(4);
    for (let i = 0; i < 990; i++) l.observe(0.0001);
    for (let i = 0; i < 10; i++) l.observe(0.05);
    l.rotate();
    expect(l.quantileMs(0.5)!).toBeCloseTo(0.1, 1);
    expect(l.quantileMs(0.99)!).toBeLessThan(0.11);
    expect(l.quantileMs(0.999)!).toBeGreaterThan(50);
  });
});

describe('Space-Saving', () => {
  it('holds every key above N/k, never undercounts, and overcounts by at most its error', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 2_000 }), fc.integer({ min: 2, max: 20 }), (stream, k) => {
        const s = new SpaceSaving(k);
        const exact = new Map<string, number>();
        for (const x of stream) {
          const key = `k${x}`;
          s.offer(key);
          exact.set(key, (exact.get(key) ?? 0) + 1);
        }
        const held = new Map(s.entries().map((e) => [e.key, e]));
        for (const [key, n] of exact) {
          if (n > stream.length / k) expect(held.has(key)).toBe(true);
          const e = held.get(key);
          if (e !== undefined) {
            expect(e.count).toBeGreaterThanOrEqual(n);
            expect(e.count - e.error).toBeLessThanOrEqual(n);
          }
        }
        expect(s.total).toBe(stream.length);
      }),
      { numRuns: 200 },
    );
  });

  it('the tracker reports a 30% key first and forgets it two windows after it cools', () => {
    const t = new HotKeyTracker(16);
    for (let i = 0; i < 10_000; i++) t.offer(i % 10 < 3 ? 'hot' : `cold:${i}`);
    const top = t.top(3);
    expect(top[0]!.key).toBe('hot');
    expect(top[0]!.share).toBeGreaterThan(0.29);
    t.rotate();
    for (let i = 0; i < 100; i++) t.offer(`other:${i % 7}`);
    expect(t.top(1)[0]!.key).toBe('hot'); // still in the previous window
    t.rotate();
    expect(t.top(20).some((k) => k.key === 'hot')).toBe(false);
  });
});

describe('node monitor', () => {
  it('counts requests by partition per second over the window and tracks ops/s', () => {
    let commands = 0;
    const m = new NodeMonitor({ id: 'a', zone: 'z', uptimeMs: () => 0, commandsTotal: () => commands, keys: () => 0, usedBytes: () => 0, connectedClients: () => 0 }, 16);
    const slots = new SlotPartitioner({ partitions: 16 });
    const key = Buffer.from('user:1');
    const p = slots.partitionForSlot(keySlot(key));
    for (let t = 0; t < 4; t++) {
      for (let i = 0; i < 50; i++) m.recordKey(key);
      commands += 50;
      m.tick();
    }
    const r: NodeReport = m.report();
    expect(r.partitionOps[p]).toBe(50);
    expect(r.partitionOps.reduce((a, b) => a + b, 0)).toBe(50);
    expect(r.opsPerSec).toBe(50);
    expect(r.opsSeries).toEqual([50, 50, 50, 50]);
    expect(r.hotKeys[0]!.key).toBe('user:1');
    expect(r.hotKeySamples).toBe(200 / MONITOR_LIMITS.hotKeySampleEvery);
  });
});

function node(id: string, over: Partial<ViewNode> = {}): ViewNode {
  return { id, host: '127.0.0.1', port: 1, adminPort: 2, zone: 'z', weight: 1, registered: true, reachable: true, led: 2, followed: 2, ...over };
}

function report(id: string, over: Partial<NodeReport> = {}): NodeReport {
  return { id, zone: 'z', uptimeMs: 1, keys: 0, usedBytes: 0, connectedClients: 0, commandsTotal: 0, opsPerSec: 0, p50Ms: null, p99Ms: null, opsSeries: [], p99Series: [], partitionOps: [], hotKeys: [], hotKeySamples: 0, replicationLagP99Ms: null, followersBehind: 0, ...over };
}

function view(nodes: ViewNode[], partitions: string[][] = [['a', 'b'], ['b', 'c'], ['c', 'a'], ['a', 'c'], ['b', 'a'], ['c', 'b']]): ClusterView {
  return { clusterId: 'x', epoch: 3, controller: 'a', replicas: 2, partitions, nodes, servedBy: 'a', generatedMs: 0 };
}

describe('alert rules', () => {
  it('a healthy, balanced, uniform cluster raises nothing', () => {
    const uniform = report('a', { partitionOps: [100, 100, 100, 100, 100, 100], hotKeySamples: 5_000, hotKeys: [{ key: 'k1', count: 60, error: 0, share: 0.012 }] });
    expect(evaluateAlerts(view([node('a', { report: uniform }), node('b'), node('c')]))).toEqual([]);
  });

  it('a node without a lease or without an admin answer is down, and its partitions under-replicated', () => {
    const alerts = evaluateAlerts(view([node('a'), node('b', { registered: false }), node('c', { reachable: false })]));
    expect(alerts.filter((a) => a.rule === 'node-down').map((a) => a.subject)).toEqual(['b', 'c']);
    const under = alerts.filter((a) => a.rule === 'under-replicated');
    // Partitions led by b or c have no live leader; the ones led by a lost a follower.
    expect(under.find((a) => a.severity === 'critical')?.message).toMatch(/^4 partitions have no live leader: 1, 2, 4, 5$/);
    expect(under.find((a) => a.severity === 'warning')?.message).toMatch(/^2 partitions have fewer than 2 live replicas: 0, 3$/);
  });

  it('a registered node silent for a moment is not down; silent past unreachableAlertMs it is', () => {
    const down = (unreachableMs: number): string[] =>
      evaluateAlerts(view([node('a'), node('b'), node('c', { reachable: false, unreachableMs })])).filter((a) => a.rule === 'node-down').map((a) => a.message);
    expect(down(3_000)).toEqual([]);
    expect(down(9_999)).toEqual([]);
    expect(down(12_400)).toEqual(['node c is down: its admin API has not answered for 12 s (leads 2, follows 2 partitions)']);
  });

  it('leader imbalance above 10% per unit of weight is reported, weights respected', () => {
    expect(evaluateAlerts(view([node('a', { led: 4 }), node('b', { led: 1 }), node('c', { led: 1 })])).map((a) => a.rule)).toEqual(['imbalance']);
    expect(evaluateAlerts(view([node('a', { led: 4, weight: 2 }), node('b', { led: 2 }), node('c', { led: 2 })]))).toEqual([]);
  });

  it('a partition far above the median rate is hot; quiet clusters are not', () => {
    const hot = evaluateAlerts(view([node('a', { report: report('a', { partitionOps: [100, 100, 900, 100, 100, 100] }) }), node('b'), node('c')]));
    expect(hot.map((a) => [a.rule, a.subject])).toEqual([['hot-partition', '2']]);
    const quiet = evaluateAlerts(view([node('a', { report: report('a', { partitionOps: [0, 0, 50, 0, 0, 0] }) }), node('b'), node('c')]));
    expect(quiet).toEqual([]);
  });

  it('followers slower than the lag limit at p99 raise replication-lag for their leader node', () => {
    expect(evaluateAlerts(view([node('a', { report: report('a', { replicationLagP99Ms: 1_500, followersBehind: 2 }) }), node('b', { report: report('b', { replicationLagP99Ms: 12 }) }), node('c')])).map((a) => [a.rule, a.subject])).toEqual([['replication-lag', 'a']]);
  });

  it('replication lag quantiles count only the acknowledgements of the window: a stall ages out', () => {
    const lags = new Float64Array([5, 1_200, 1_300, 6, 7, 8]);
    const at = new Float64Array([100, 200, 300, 40_000, 40_100, 40_200]);
    // At 41 s with a 30 s window the stall (taken at 0.2-0.3 s) is gone; at 30.1 s it still counts.
    expect(lagQuantiles(lags, at, 6, 41_000 - 30_000)).toEqual({ p50Ms: 7, p99Ms: 8, samples: 3 });
    expect(lagQuantiles(lags, at, 6, 30_100 - 30_000).p99Ms).toBe(1_300);
    expect(lagQuantiles(lags, at, 2, 41_000)).toEqual({ p50Ms: null, p99Ms: null, samples: 0 });
  });

  it('replication-lag is raised only after holding for replicationLagForMs; other alerts at once; a gap starts over', () => {
    const slow = evaluateAlerts(view([node('a', { report: report('a', { replicationLagP99Ms: 1_500 }) }), node('b'), node('c')]));
    const down = evaluateAlerts(view([node('a', { registered: false, reachable: false, unreachableMs: 60_000 }), node('b'), node('c')]));
    expect(slow.map((a) => a.rule)).toEqual(['replication-lag']);
    expect(down.some((a) => a.rule === 'node-down')).toBe(true);
    const hold = new AlertHold(DEFAULT_ALERT_RULES);
    const raised = (alerts: typeof slow, at: number): string[] => hold.update(alerts, at).map((a) => a.rule);
    expect(raised(slow, 0)).toEqual([]);
    expect(raised(slow, 29_999)).toEqual([]);
    expect(raised(slow, 30_000)).toEqual(['replication-lag']);
    // A moment without it (the stall aged out of the window): the next one waits the whole time again.
    expect(raised([], 31_000)).toEqual([]);
    expect(raised(slow, 32_000)).toEqual([]);
    expect(raised(slow, 62_000)).toEqual(['replication-lag']);
    expect(raised(down, 62_000)).toEqual(down.map((a) => a.rule));
    expect(DEFAULT_ALERT_RULES.replicationLagForMs).toBe(30_000);
  });

  it('a key above its share is hot only with enough samples', () => {
    const hotKeys = [{ key: 'celebrity', count: 900, error: 0, share: 0.3 }];
    expect(evaluateAlerts(view([node('a', { report: report('a', { hotKeys, hotKeySamples: 3_000 }) }), node('b'), node('c')])).map((a) => a.subject)).toEqual(['celebrity']);
    expect(evaluateAlerts(view([node('a', { report: report('a', { hotKeys, hotKeySamples: 50 }) }), node('b'), node('c')]))).toEqual([]);
    expect(DEFAULT_ALERT_RULES.hotKeyShareMin).toBe(0.1);
  });
});
