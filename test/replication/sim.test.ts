// The cluster core under a seeded simulated faulty network (src/testing/sim-cluster.ts): three nodes run the
// real replication manager and the real controller loop against the in-memory coordinator with leases; the
// network drops, delays, duplicates and reorders messages; a nemesis cuts leaders off past their lease (the
// controller fences and fails them over), briefly, and for good. Histories are checked for linearizability
// under quorum and sync, replicas must converge, and a failing run prints its seed: `npm run sim -- --seed S`.
import { describe, expect, it } from 'vitest';
import { runSimCluster } from '../../src/testing/sim-cluster.js';

const SEEDS = Array.from({ length: Number(process.env.SIM_SEEDS ?? 12) }, (_, i) => Number(process.env.SIM_SEED0 ?? 1000) + i);

describe('the cluster core under a simulated faulty network, with the real controller', () => {
  for (const mode of ['quorum', 'sync'] as const) {
    it(`${mode}: linearizable histories, no lost acknowledged write, replicas converge (seeds ${SEEDS[0]}-${SEEDS[SEEDS.length - 1]})`, async () => {
      let duplicated = 0;
      let reordered = 0;
      for (const seed of SEEDS) {
        const r = await runSimCluster({ seed, mode });
        expect({ seed, mode, linearizable: r.ok, converged: r.converged, lost: r.lostAcked }, `npm run sim -- --seed ${seed} --mode ${mode}`).toEqual({ seed, mode, linearizable: true, converged: true, lost: 0 });
        expect(r.acked, `seed ${seed}: too little progress`).toBeGreaterThan(200);
        // The controller failed the cut-off leaders over, and another node took the controller role at least once.
        expect(r.failovers, `seed ${seed}`).toBeGreaterThanOrEqual(2);
        expect(r.controllers, `seed ${seed}`).toBeGreaterThanOrEqual(2);
        duplicated += r.network.duplicated;
        reordered += r.network.reordered;
      }
      expect(duplicated).toBeGreaterThan(0);
      expect(reordered).toBeGreaterThan(0);
    }, 120_000);
  }

  it('async: the same faults are measured (acknowledged writes may be lost; replicas still converge)', async () => {
    let lost = 0;
    let acked = 0;
    let violations = 0;
    for (const seed of SEEDS) {
      const r = await runSimCluster({ seed, mode: 'async' });
      expect({ seed, converged: r.converged }).toEqual({ seed, converged: true });
      lost += r.ackedWhileIsolated;
      acked += r.acked;
      if (!r.ok) violations++;
    }
    expect(acked).toBeGreaterThan(1_000);
    // Reported, not bounded: docs/replication.md records the figure (two failovers per run).
    process.stdout.write(`async replication under the simulated nemesis: ${lost} of ${acked} acknowledged writes were acknowledged by a leader cut off from its followers (lost at failover); ${violations} of ${SEEDS.length} histories not linearizable\n`);
  }, 120_000);

  it('replays: the same seed gives the same run', async () => {
    const a = await runSimCluster({ seed: SEEDS[0]!, mode: 'quorum' });
    const b = await runSimCluster({ seed: SEEDS[0]!, mode: 'quorum' });
    expect(b.operations).toEqual(a.operations);
    expect(b.network).toEqual(a.network);
  }, 60_000);
});

describe('the simulation can fail', () => {
  it('reads that do not wait for uncommitted writes see writes a failover then loses: the checker catches it', async () => {
    let violations = 0;
    for (const seed of SEEDS) if (!(await runSimCluster({ seed, mode: 'quorum', broken: 'no-read-gate' })).ok) violations++;
    expect(violations).toBeGreaterThan(0);
  }, 120_000);
});
