// Leases kept alive off the main thread: a main event loop blocked for longer than the lease's TTL keeps the
// lease (the worker goes on sending keep-alives); one blocked past the stall bound loses it at once (the
// worker revokes it), so a wedged node still gives up its partitions. Against a real etcd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseKeeper } from '../../src/coordinator/lease-keeper.js';
import { openCoordinator, type Coordinator } from '../../src/coordinator/coordinator.js';
import { startTestEtcd, until, type TestEtcd } from '../helpers-cluster.js';

let etcd: TestEtcd;
beforeAll(async () => {
  etcd = await startTestEtcd();
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
});

/** Blocks this thread, as a long synchronous task or GC pause would. */
const block = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('lease keeper', () => {
  it('keeps a 1 s lease through a 2.5 s block of the main loop', async () => {
    const keeper = new LeaseKeeper({ hosts: [`127.0.0.1:${etcd.clientPort}`], ttlMs: 1_000, trustedShare: 0.8, stallMaxMs: 5_000 });
    let lost = '';
    keeper.onLost((r) => (lost = r));
    await keeper.leaseId;
    block(2_500);
    await new Promise((r) => setTimeout(r, 300));
    expect(lost).toBe('');
    expect(keeper.validUntilMs()).toBeGreaterThan(Date.now());
    await keeper.revoke();
  });

  it('revokes the lease when the main loop is stuck past the stall bound', async () => {
    const keeper = new LeaseKeeper({ hosts: [`127.0.0.1:${etcd.clientPort}`], ttlMs: 2_000, trustedShare: 0.8, stallMaxMs: 500 });
    let lost = '';
    keeper.onLost((r) => (lost = r));
    await keeper.leaseId;
    block(1_200);
    await until('the lease lost', () => (lost === '' ? undefined : lost), 5_000);
    expect(lost).toMatch(/main event loop was stuck/);
    expect(keeper.validUntilMs()).toBe(0);
  });

  it('a registration held by a blocked node survives; the node key vanishes when it is closed', async () => {
    const c: Coordinator = await openCoordinator(etcd.url);
    const r = await c.register({ id: 'blocked', host: '127.0.0.1', port: 1, adminPort: 0, zone: 'z', weight: 1 }, 1_000);
    block(2_500);
    await new Promise((res) => setTimeout(res, 300));
    expect((await c.snapshot()).nodes.map((n) => n.id)).toContain('blocked');
    await r.close();
    await until('the node key gone', async () => ((await c.snapshot()).nodes.some((n) => n.id === 'blocked') ? undefined : true), 5_000);
    await c.close();
  });
});
