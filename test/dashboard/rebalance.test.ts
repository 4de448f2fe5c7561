// Rebalancing from the dashboard, in real Chromium against `atoll demo --admin-token`: a node added on the
// demo's console, a plan made with the page's button, applied with its Apply button, its progress bar and
// chart followed to the end (every moved partition verified); then the plan API's refusals over plain HTTP.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { ATOLL_BIN } from '../helpers-process.js';
import { chromiumPath } from '../helpers-browser.js';
import { until } from '../helpers-cluster.js';
import { freeBasePort } from '../../src/coordinator/etcd-process.js';

const ARTIFACTS = join(import.meta.dirname, '../artifacts');
const TOKEN = 'rebalance-test-token';
let demo: ChildProcessWithoutNullStreams | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  if (demo !== undefined && demo.exitCode === null) {
    const exited = new Promise((resolve) => demo!.on('exit', resolve));
    demo.kill('SIGTERM');
    await exited;
  }
});

describe('dashboard rebalancing', () => {
  it('plans, applies and follows a rebalance onto a new node from the page', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const base = await freeBasePort(4);
    demo = spawn(process.execPath, [ATOLL_BIN, 'demo', '--nodes', '3', '--base-port', String(base), '--partitions', '48', '--replicas', '2', '--engine', 'memory', '--admin-token', TOKEN, '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
    demo.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const line = await until('demo contract line', () => (out.includes('\n') ? out.split('\n')[0]! : undefined), 30_000);
    const nodes = (JSON.parse(line) as { nodes: { id: string; adminPort: number }[] }).nodes;
    demo.stdin.write('add n4\n');
    await until('n4 started', () => (err.includes('node n4 started') ? true : undefined), 20_000);

    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1300, height: 1600 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${nodes[0]!.adminPort}/`);
    await page.waitForSelector('#rb[data-actions="on"]');
    await until('n4 listed', async () => ((await page.locator('tr.node[data-node="n4"]').count()) === 1 ? true : undefined), 10_000, 200);

    // A wrong token is refused on the page.
    await page.fill('#rb-token', 'wrong');
    await page.click('#rb-plan');
    await page.waitForSelector('#rb-msg[data-ok="no"]');
    expect(await page.textContent('#rb-msg')).toContain('valid admin token');

    await page.fill('#rb-token', TOKEN);
    await page.click('#rb-plan');
    await page.waitForSelector('#rb-msg[data-ok="yes"]');
    const row = page.locator('tr.plan[data-status="planned"]');
    await row.waitFor();
    const planId = (await row.getAttribute('data-plan'))!;
    const moves = Number(await row.getAttribute('data-moves'));
    expect(moves).toBeGreaterThan(0);
    await page.click(`tr.plan[data-plan="${planId}"] button[data-act="apply"]`);
    // Progress is followed live: the bar fills, the chart gains points, the plan ends done and verified.
    await until('plan done', async () => ((await page.locator(`tr.plan[data-plan="${planId}"][data-status="done"]`).count()) === 1 ? true : undefined), 90_000, 250);
    const done = page.locator(`tr.plan[data-plan="${planId}"]`);
    expect(Number(await done.getAttribute('data-done'))).toBe(moves);
    expect(await done.locator('progress').getAttribute('value')).toBe(String(moves));
    expect(await done.locator('td').nth(7).textContent()).toMatch(new RegExp(`^${moves} \\(0 repaired, 0 differ\\)`));
    expect(Number(await page.locator('#plan-line').getAttribute('data-points'))).toBeGreaterThan(1);
    await until('n4 holds replicas', async () => {
      const led = Number(await page.locator('tr.node[data-node="n4"] td').nth(3).textContent());
      const followed = Number(await page.locator('tr.node[data-node="n4"] td').nth(4).textContent());
      return led + followed > 10 ? true : undefined;
    }, 10_000, 250);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-rebalance.png'), fullPage: true });
    expect(errors).toEqual([]);

    // The same API over plain HTTP: refusals are clear.
    const api = `http://127.0.0.1:${nodes[1]!.adminPort}`;
    const post = (path: string, body: unknown, token = TOKEN): Promise<Response> =>
      fetch(api + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    expect((await post('/api/plans', {}, 'nope')).status).toBe(401);
    expect((await post('/api/plans', { drain: 'n1' })).status).toBe(400);
    const unknown = await post('/api/plans', { drain: ['n9'] });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { code: string }).code).toBe('UNKNOWN_NODE');
    expect((await post('/api/plans', { drain: ['n1', 'n2', 'n3', 'n4'] })).status).toBe(400);
    expect((await post('/api/plans', { weights: { n1: 0 } })).status).toBe(400);
    expect((await post(`/api/plans/${planId}/apply`, {})).status).toBe(400);
    expect((await post(`/api/plans/${planId}/explode`, {})).status).toBe(404);
    // Two plans against the same placement: once one is applied, the other is stale.
    const a = (await (await post('/api/plans', { drain: ['n4'] })).json()) as { id: string };
    const b = (await (await post('/api/plans', { drain: ['n3'] })).json()) as { id: string };
    expect((await post(`/api/plans/${a.id}/apply`, {})).status).toBe(200);
    const stale = await post(`/api/plans/${b.id}/apply`, {});
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { error: string }).error).toMatch(/another|being carried out|placement has changed/);
    expect((await post(`/api/plans/${a.id}/cancel`, {})).status).toBe(200);
    expect((await post('/api/rebalance/settings', { rateBytesPerSec: -1 })).status).toBe(400);
    expect(((await (await post('/api/rebalance/settings', { rateBytesPerSec: 1048576 })).json()) as { rateBytesPerSec: number }).rateBytesPerSec).toBe(1048576);
    const listed = (await (await fetch(`${api}/api/plans`)).json()) as { settings: { rateBytesPerSec: number }; plans: { id: string; status: string }[] };
    expect(listed.settings.rateBytesPerSec).toBe(1048576);
    expect(listed.plans.find((p) => p.id === planId)?.status).toBe('done');
    const shown = (listed.plans as unknown as { id: string; progress: { rateBytesPerSec: number; etaMs: number | null } }[]).find((p) => p.id === planId)!;
    expect(shown.progress.etaMs).toBeNull();
    expect(shown.progress.rateBytesPerSec).toBeGreaterThanOrEqual(0);
  }, 150_000);
});
