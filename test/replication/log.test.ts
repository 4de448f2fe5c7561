// The pure replication core: commit points per ack mode, lag detection, which follower positions may
// continue from the log (and which hold a deposed leader's tail), compaction bounds, and the failover rules.
import { describe, expect, it } from 'vitest';
import { chooseLeader, failoverMap } from '../../src/replication/failover.js';
import { REPLICATION_LIMITS, ReplicaLog } from '../../src/replication/log.js';
import type { PartitionMap } from '../../src/cluster/map.js';

const write = (log: ReplicaLog<string>, n: number, now = 0): void => {
  for (let i = 0; i < n; i++) log.append([[Buffer.from('k'), 'v']], 10, now);
};

describe('ReplicaLog', () => {
  it('commits by majority under quorum, by every in-sync replica under sync, at once under async', () => {
    const log = new ReplicaLog<string>(0);
    log.becomeLeader(1, 't1', ['b', 'c'], 0);
    write(log, 5);
    log.onAck('b', 3, 1);
    log.onAck('c', 1, 1);
    expect(log.computeCommit('quorum', ['a', 'b', 'c'], ['a', 'b', 'c'])).toBe(3);
    expect(new ReplicaLogProbe(log).sync(['a', 'b', 'c'])).toBe(3); // commit never goes back
    const fresh = new ReplicaLog<string>(0);
    fresh.becomeLeader(1, 't1', ['b', 'c'], 0);
    write(fresh, 5);
    fresh.onAck('b', 4, 1);
    fresh.onAck('c', 2, 1);
    expect(fresh.computeCommit('sync', ['a', 'b', 'c'], ['a', 'b', 'c'])).toBe(2);
    expect(fresh.computeCommit('sync', ['a', 'b', 'c'], ['a', 'b'])).toBe(4);
    expect(fresh.computeCommit('async', ['a', 'b', 'c'], ['a'])).toBe(5);
  });

  it('a follower with an old unacknowledged entry, or far behind, lags; a caught-up one may rejoin', () => {
    const log = new ReplicaLog<string>(0);
    log.becomeLeader(1, 't1', ['b', 'c'], 0);
    write(log, 3, 100);
    log.onAck('b', 3, 150);
    log.onAck('c', 1, 150);
    expect(log.laggards(['b', 'c'], 100 + REPLICATION_LIMITS.lagMsMax - 1)).toEqual([]);
    expect(log.laggards(['b', 'c'], 100 + REPLICATION_LIMITS.lagMsMax + 1)).toEqual(['c']);
    log.followers.get('b')!.mode = 'log';
    expect(log.caughtUp(['a', 'b', 'c'], ['a'])).toEqual(['b']);
  });

  it('continues a follower only within our lineage; a deposed leader\'s tail gets a snapshot', () => {
    // b follows a through term t1 to seq 5, a writes 6-7 alone, then b leads at t2 from seq 6.
    const b = new ReplicaLog<string>(0);
    b.acceptEntries([1, 2, 3, 4, 5].map((seq) => ({ seq, term: 't1', effects: [], bytes: 1 })), 0);
    b.becomeLeader(2, 't2', ['a', 'c'], 0);
    write(b, 2);
    expect(b.canContinue({ term: 't1', seq: 4 })).toBe(true);
    expect(b.canContinue({ term: 't1', seq: 5 })).toBe(true);
    expect(b.canContinue({ term: 't1', seq: 7 })).toBe(false); // a's unreplicated 6-7
    expect(b.canContinue({ term: 't2', seq: 7 })).toBe(true);
    expect(b.canContinue({ term: 'other', seq: 3 })).toBe(false);
    expect(b.canContinue({ term: '', seq: 0 })).toBe(false); // a fresh replica always gets a snapshot
    expect(b.termStartSeq).toBe(5);
  });

  it('compaction keeps what followers still need, within the size bounds', () => {
    const log = new ReplicaLog<string>(0);
    log.becomeLeader(1, 't', ['b'], 0);
    write(log, 10);
    log.onAck('b', 6, 0);
    log.compact();
    expect(log.windowStart).toBe(7);
    expect(log.entriesFrom(7, 100, 1e9)!.map((e) => e.seq)).toEqual([7, 8, 9, 10]);
    expect(log.entriesFrom(3, 100, 1e9)).toBeUndefined();
  });
});

/** Reads a leader's commit under sync without changing its ack state. */
class ReplicaLogProbe {
  constructor(private readonly log: ReplicaLog<string>) {}
  sync(isr: string[]): number {
    return this.log.computeCommit('sync', isr, isr);
  }
}

describe('failover rules', () => {
  const pos = (seq: number) => ({ term: 't', seq });
  it('sync promotes the most advanced in-sync replica, never one outside the ISR', () => {
    expect(chooseLeader({ replicas: ['a', 'b', 'c'], isr: ['a', 'b'], answered: new Map([['b', pos(5)], ['c', pos(9)]]), ack: 'sync', uncleanPromotion: false })).toEqual({ leader: 'b', unclean: false });
    expect(chooseLeader({ replicas: ['a', 'b', 'c'], isr: ['a'], answered: new Map([['c', pos(9)]]), ack: 'sync', uncleanPromotion: false }).leader).toBeUndefined();
    expect(chooseLeader({ replicas: ['a', 'b', 'c'], isr: ['a'], answered: new Map([['c', pos(9)]]), ack: 'sync', uncleanPromotion: true })).toMatchObject({ leader: 'c', unclean: true });
  });

  it('quorum needs more answers than R minus a majority, then takes the highest position', () => {
    expect(chooseLeader({ replicas: ['a', 'b', 'c'], isr: ['a', 'b', 'c'], answered: new Map([['b', pos(5)], ['c', pos(7)]]), ack: 'quorum', uncleanPromotion: false })).toEqual({ leader: 'c', unclean: false });
    expect(chooseLeader({ replicas: ['a', 'b', 'c'], isr: ['a', 'b', 'c'], answered: new Map([['b', pos(5)]]), ack: 'quorum', uncleanPromotion: false }).leader).toBeUndefined();
    expect(chooseLeader({ replicas: ['a', 'b', 'c', 'd', 'e'], isr: [], answered: new Map([['b', pos(1)], ['c', pos(2)], ['d', pos(1)]]), ack: 'quorum', uncleanPromotion: false }).leader).toBe('c');
  });

  it('the failover map bumps the epoch, leads with the choice, keeps the old leader as an out-of-sync follower', () => {
    const node = (id: string) => ({ id, host: 'h', port: 1, adminPort: 0, zone: 'z', weight: 1 });
    const map: PartitionMap = { clusterId: 'x', epoch: 4, partitions: [{ replicas: ['a', 'b', 'c'], epoch: 2 }, { replicas: ['b', 'a', 'c'], epoch: 2 }], nodes: { a: node('a'), b: node('b'), c: node('c') } };
    const plan = failoverMap(map, new Set(['b', 'c']), new Map([[0, new Map([['b', pos(3)], ['c', pos(4)]])]]), 'quorum', false);
    expect(plan.next!.epoch).toBe(5);
    expect(plan.next!.partitions[0]).toEqual({ replicas: ['c', 'a', 'b'], epoch: 5, isr: ['c', 'b'] });
    expect(plan.next!.partitions[1]).toBe(map.partitions[1]);
    expect(plan.promoted).toEqual([{ partition: 0, leader: 'c', unclean: false }]);
  });
});
