// The dashboard page: one self-contained HTML document (no build step, no CDN) that reads /api/cluster,
// then follows /api/events (SSE) and redraws the overview, alerts, ring, partition heatmap, charts, hot keys and
// rebalance plans (progress bars, a progress chart, and plan/apply/pause/resume/cancel buttons with a token).

const SCRIPT = String.raw`
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
const colour = (i) => 'hsl(' + ((i * 137.508) % 360).toFixed(1) + ', 62%, ' + (i % 2 === 0 ? 52 : 40) + '%)';
const fmtBytes = (b) => b < 1024 ? b + ' B' : b < 1048576 ? (b / 1024).toFixed(1) + ' KiB' : (b / 1048576).toFixed(1) + ' MiB';
const fmtNum = (n) => n == null ? '–' : n >= 1000 ? Math.round(n).toLocaleString('en') : (Math.round(n * 10) / 10).toString();
let ringEpoch = -1;
let updates = 0;

function render(v) {
  updates++;
  document.body.dataset.updates = String(updates);
  const ids = v.nodes.map((n) => n.id);
  const colourOf = new Map(ids.map((id, i) => [id, colour(i)]));
  const up = (n) => n.registered && n.reachable;
  $('summary').innerHTML = 'cluster <b>' + esc(v.clusterId) + '</b> · epoch <b>' + v.epoch + '</b> · controller <b>' + esc(v.controller ?? '–') +
    '</b> · ' + v.partitions.length + ' partitions × ' + v.replicas + ' replicas · ' + v.nodes.filter(up).length + '/' + v.nodes.length + ' nodes up · served by ' + esc(v.servedBy);

  $('alerts').innerHTML = v.alerts.length === 0 ? '<li class="ok">no alerts</li>' :
    v.alerts.map((a) => '<li class="alert ' + a.severity + '" data-rule="' + a.rule + '" data-subject="' + esc(a.subject) + '"><b>' + a.rule + '</b> ' + esc(a.message) + '</li>').join('');

  $('nodes').innerHTML = '<tr><th>node</th><th>zone</th><th>state</th><th>leads</th><th>follows</th><th>keys</th><th>memory</th><th>ops/s</th><th>p99 ms</th><th>repl. lag p99 ms</th><th>clients</th></tr>' +
    v.nodes.map((n) => {
      const r = n.report;
      return '<tr class="node" data-node="' + esc(n.id) + '" data-state="' + (up(n) ? 'up' : 'down') + '"><td><span class="dot" style="background:' + colourOf.get(n.id) + '"></span>' + esc(n.id) +
        '</td><td>' + esc(n.zone) + '</td><td class="' + (up(n) ? 'up' : 'down') + '">' + (up(n) ? 'up' : 'down') + '</td><td>' + n.led + '</td><td>' + n.followed +
        '</td><td>' + (r ? fmtNum(r.keys) : '–') + '</td><td>' + (r ? fmtBytes(r.usedBytes) : '–') + '</td><td>' + (r ? fmtNum(r.opsPerSec) : '–') +
        '</td><td>' + (r ? fmtNum(r.p99Ms) : '–') + '</td><td class="lag">' + (r ? fmtNum(r.replicationLagP99Ms) + (r.followersBehind > 0 ? ' (' + r.followersBehind + ' behind)' : '') : '–') + '</td><td>' + (r ? r.connectedClients : '–') + '</td></tr>';
    }).join('');

  if (v.epoch !== ringEpoch || ringEpoch === -1) {
    ringEpoch = v.epoch;
    fetch('/api/ring.svg').then((r) => r.text()).then((svg) => { $('ring').innerHTML = svg; });
  }
  heatmap(v, colourOf, up);
  chart('ops', v.nodes, (r) => r.opsSeries, colourOf, 'ops/s');
  chart('p99', v.nodes, (r) => r.p99Series, colourOf, 'ms');
  hotkeys(v);
  rebalance(v);
}

let planSeries = { id: null, pts: [] };
function rebalance(v) {
  const rb = v.rebalance;
  $('rb').dataset.actions = v.actions ? 'on' : 'off';
  if (!rb) { $('rb-settings').textContent = 'no coordinator: rebalancing needs a cluster node'; return; }
  const s = rb.settings;
  $('rb-settings').textContent = 'auto mode ' + (s.auto ? 'on' : 'off') + ' · copy rate ' + (s.rateBytesPerSec ? fmtBytes(s.rateBytesPerSec) + '/s' : 'unthrottled') +
    ' · ' + s.movesPerNodeMax + ' moves per node · cool-down ' + (s.cooldownMs / 1000) + ' s' + (v.actions ? '' : ' · read-only (start with --admin-token, or give an ACL user a password, to act)');
  $('rb-controls').style.display = v.actions ? '' : 'none';
  const buttons = (p) => {
    if (!v.actions) return '';
    const verbs = p.status === 'planned' ? ['apply', 'cancel'] : p.status === 'applying' ? ['pause', 'cancel'] : p.status === 'paused' ? ['resume', 'cancel'] : [];
    return verbs.map((x) => '<button data-act="' + x + '" data-plan="' + esc(p.id) + '">' + x + '</button>').join(' ');
  };
  $('plans').innerHTML = '<tr><th>plan</th><th>status</th><th>reason</th><th>progress</th><th>moves</th><th>bytes</th><th>balance</th><th>verified</th><th>rate</th><th>ETA</th><th></th></tr>' +
    rb.plans.map((p) => {
      const total = Math.max(1, p.moves.length);
      const vf = p.verify ? p.verify.checked + ' (' + p.verify.repaired + ' repaired, ' + p.verify.mismatched + ' differ)' : '–';
      return '<tr class="plan" data-plan="' + esc(p.id) + '" data-status="' + p.status + '" data-done="' + p.done + '" data-moves="' + p.moves.length + '"><td>' + esc(p.id) + '</td><td>' + p.status +
        '</td><td>' + esc(p.reason) + '</td><td><progress max="' + total + '" value="' + p.done + '"></progress></td><td>' + p.done + '/' + p.moves.length +
        '</td><td>' + fmtBytes(p.bytesDone) + ' / ' + fmtBytes(p.totalBytes) + '</td><td>' + p.balanceBefore + ' → ' + p.balanceAfter + '</td><td>' + vf +
        '</td><td>' + (p.progress ? fmtBytes(p.progress.rateBytesPerSec) + '/s' : '–') + '</td><td class="eta">' + (p.progress && p.progress.etaMs != null ? (p.progress.etaMs / 1000).toFixed(0) + ' s' : '–') + '</td><td>' + buttons(p) + '</td></tr>';
    }).join('');
  // Follow the running plan; once it ends, add its final point and keep the chart.
  const running = rb.plans.find((p) => p.status === 'applying' || p.status === 'paused');
  if (running && planSeries.id !== running.id) planSeries = { id: running.id, pts: [] };
  if (!running && planSeries.id === null) {
    // Opened after the last plan ran (or it ran between two updates): draw it from its own start and end.
    const last = rb.plans.filter((p) => p.startedMs && p.finishedMs).sort((a, b) => b.finishedMs - a.finishedMs)[0];
    if (last) planSeries = { id: last.id, pts: [{ t: last.startedMs, done: 0, total: last.moves.length, bytes: 0 }, { t: last.finishedMs, done: last.done, total: last.moves.length, bytes: last.bytesDone, final: true }] };
  }
  const tracked = running ?? rb.plans.find((p) => p.id === planSeries.id);
  const lastPt = planSeries.pts[planSeries.pts.length - 1];
  if (tracked && (running || !lastPt || !lastPt.final)) {
    planSeries.pts.push({ t: Date.now(), done: tracked.done, total: tracked.moves.length, bytes: tracked.bytesDone, final: !running });
    if (planSeries.pts.length > 600) planSeries.pts.shift();
  }
  planChart();
}

function planChart() {
  const W = 460, H = 140, pad = 30;
  const pts = planSeries.pts;
  if (pts.length === 0) { $('plan-chart').innerHTML = '<p class="muted">no plan running</p>'; return; }
  const t0 = pts[0].t, t1 = Math.max(t0 + 1000, pts[pts.length - 1].t);
  const total = Math.max(1, pts[pts.length - 1].total);
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (W - pad - 5);
  const y = (d) => H - pad + 5 - (d / total) * (H - pad);
  const line = pts.map((p) => x(p.t).toFixed(1) + ',' + y(p.done).toFixed(1)).join(' ');
  const last = pts[pts.length - 1];
  const secs = (t1 - t0) / 1000;
  const rate = secs > 0 ? (last.bytes - pts[0].bytes) / secs : 0;
  $('plan-chart').innerHTML = '<svg width="' + W + '" height="' + H + '"><text x="2" y="12" font-size="11">' + total + ' moves</text><text x="2" y="' + (H - 18) + '" font-size="11">0</text>' +
    '<line x1="' + pad + '" y1="' + (H - pad + 5) + '" x2="' + W + '" y2="' + (H - pad + 5) + '" stroke="#ccc"/><polyline id="plan-line" data-points="' + pts.length + '" fill="none" stroke="#2a6" stroke-width="2" points="' + line + '"/>' +
    '<text x="' + pad + '" y="' + (H - 4) + '" font-size="11">plan ' + esc(planSeries.id) + ': ' + last.done + '/' + last.total + ' moves in ' + secs.toFixed(0) + ' s, ' + fmtBytes(rate) + '/s</text></svg>';
}

async function act(path, body) {
  const token = $('rb-token').value;
  const user = $('rb-user').value.trim();
  sessionStorage.setItem('atollToken', token);
  sessionStorage.setItem('atollUser', user);
  // With a user name: that ACL user's password (Basic); without: the node's admin token (Bearer).
  const credential = user === '' ? 'Bearer ' + token : 'Basic ' + btoa(unescape(encodeURIComponent(user + ':' + token)));
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: credential }, body: JSON.stringify(body ?? {}) });
  const j = await res.json().catch(() => ({}));
  $('rb-msg').textContent = res.ok ? (j.id ? 'plan ' + j.id + ' ' + j.status + (j.moves ? ': ' + j.moves.length + ' moves, ' + fmtBytes(j.totalBytes) : '') : 'ok') : 'refused: ' + (j.error ?? res.status);
  $('rb-msg').dataset.ok = res.ok ? 'yes' : 'no';
}
document.addEventListener('click', (e) => {
  const b = e.target.closest('button');
  if (!b) return;
  if (b.id === 'rb-plan') {
    const drain = $('rb-drain').value.split(',').map((x) => x.trim()).filter((x) => x !== '');
    void act('/api/plans', drain.length ? { drain } : {});
  } else if (b.dataset.act) void act('/api/plans/' + encodeURIComponent(b.dataset.plan) + '/' + b.dataset.act);
});

function heatmap(v, colourOf, up) {
  const P = v.partitions.length;
  const W = 960, rowH = 18, left = 70;
  const cw = Math.max(0.5, (W - left) / Math.max(1, P));
  const rate = new Array(P).fill(0);
  for (const n of v.nodes) if (n.report) n.report.partitionOps.forEach((x, p) => { if (p < P) rate[p] += x; });
  const maxRate = Math.max(1, ...rate);
  const down = new Set(v.nodes.filter((n) => !up(n)).map((n) => n.id));
  const parts = [];
  v.nodes.forEach((n, row) => {
    parts.push('<text x="0" y="' + (row * rowH + 13) + '" font-size="12">' + esc(n.id) + '</text>');
  });
  const rowOf = new Map(v.nodes.map((n, i) => [n.id, i]));
  v.partitions.forEach((replicas, p) => {
    const under = replicas.some((id) => down.has(id));
    if (under) parts.push('<rect class="under" x="' + (left + p * cw) + '" y="' + (v.nodes.length * rowH) + '" width="' + Math.max(cw, 1) + '" height="6" fill="#d00"><title>partition ' + p + ' under-replicated</title></rect>');
    replicas.forEach((id, i) => {
      const row = rowOf.get(id);
      if (row === undefined) return;
      const role = i === 0 ? 'leader' : 'follower';
      const op = 0.35 + 0.65 * Math.log1p(rate[p]) / Math.log1p(maxRate);
      parts.push('<rect class="cell" data-role="' + role + '" x="' + (left + p * cw) + '" y="' + (row * rowH + 2) + '" width="' + cw + '" height="' + (rowH - 4) + '" fill="' +
        (down.has(id) ? '#bbb' : colourOf.get(id)) + '" fill-opacity="' + (role === 'leader' ? op : op * 0.45).toFixed(2) + '"><title>partition ' + p + ': ' + role + ' on ' + esc(id) + ', ' + rate[p] + ' req/s</title></rect>');
    });
  });
  $('heatmap').innerHTML = '<svg width="' + W + '" height="' + (v.nodes.length * rowH + 10) + '">' + parts.join('') + '</svg>';
}

function chart(id, nodes, pick, colourOf, unit) {
  const W = 460, H = 160, pad = 30;
  const series = nodes.filter((n) => n.report).map((n) => ({ id: n.id, ys: pick(n.report) }));
  const all = series.flatMap((s) => s.ys.filter((y) => y != null));
  const max = Math.max(1, ...all);
  const len = Math.max(2, ...series.map((s) => s.ys.length));
  const x = (i, n) => pad + ((i + len - n) * (W - pad - 5)) / (len - 1);
  const y = (v) => H - pad + 5 - (v / max) * (H - pad);
  const lines = series.map((s) => {
    const pts = s.ys.map((v, i) => v == null ? null : x(i, s.ys.length).toFixed(1) + ',' + y(v).toFixed(1)).filter((p) => p !== null).join(' ');
    return '<polyline class="line" data-node="' + esc(s.id) + '" data-points="' + s.ys.length + '" fill="none" stroke="' + colourOf.get(s.id) + '" stroke-width="1.5" points="' + pts + '"/>';
  });
  $(id).innerHTML = '<svg width="' + W + '" height="' + H + '"><text x="2" y="12" font-size="11">' + fmtNum(max) + ' ' + unit + '</text><text x="2" y="' + (H - 18) + '" font-size="11">0</text>' +
    '<line x1="' + pad + '" y1="' + (H - pad + 5) + '" x2="' + W + '" y2="' + (H - pad + 5) + '" stroke="#ccc"/>' + lines.join('') + '<text x="' + pad + '" y="' + (H - 4) + '" font-size="11">last ' + len + ' s</text></svg>';
}

function hotkeys(v) {
  const rows = [];
  for (const n of v.nodes) if (n.report) for (const k of n.report.hotKeys) rows.push({ node: n.id, ...k });
  rows.sort((a, b) => b.share - a.share);
  $('hotkeys').innerHTML = '<tr><th>key</th><th>node</th><th>share of node traffic</th><th>samples</th></tr>' +
    rows.slice(0, 10).map((k) => '<tr class="hotkey"><td>' + esc(k.key) + '</td><td>' + esc(k.node) + '</td><td>' + (k.share * 100).toFixed(1) + '%</td><td>' + k.count + '</td></tr>').join('');
}

$('rb-token').value = sessionStorage.getItem('atollToken') ?? '';
$('rb-user').value = sessionStorage.getItem('atollUser') ?? '';
fetch('/api/cluster').then((r) => r.json()).then(render).then(() => {
  document.body.dataset.firstPaint = String(performance.now());
  const es = new EventSource('/api/events');
  es.onmessage = (e) => render(JSON.parse(e.data));
  es.onerror = () => { $('conn').textContent = 'reconnecting…'; };
  es.onopen = () => { $('conn').textContent = 'live'; };
});
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Atoll dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} h2{font-size:15px;margin:18px 0 6px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:10px 14px;margin-bottom:12px}
table{border-collapse:collapse;font-size:13px} td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee} td:first-child,th:first-child{text-align:left}
.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px}
.up{color:#080}.down{color:#c00;font-weight:bold}
#alerts{list-style:none;padding:0;margin:0;font-size:13px} #alerts li{padding:3px 6px;margin:2px 0;border-radius:4px}
.alert.critical{background:#fde2e2}.alert.warning{background:#fff3cd}.ok{color:#080}
.row{display:flex;gap:12px;flex-wrap:wrap} #conn{font-size:12px;color:#888} .muted{color:#888;font-size:13px}
#rb-controls{margin:6px 0;font-size:13px} #rb-controls input{font-size:13px;margin-right:6px} #rb-msg{margin-left:8px}
</style></head>
<body>
<h1>Atoll <span id="conn">connecting…</span></h1>
<div id="summary">loading…</div>
<section><h2>Alerts</h2><ul id="alerts"></ul></section>
<section><h2>Nodes</h2><table id="nodes"></table></section>
<div class="row">
<section><h2>Slot ring (16384 slots, one arc per partition, coloured by leader)</h2><div id="ring"></div></section>
<section><h2>Ops/s per node</h2><div id="ops"></div><h2>p99 command latency per node</h2><div id="p99"></div></section>
</div>
<section><h2>Partition map (rows: nodes; columns: partitions; solid = leader, pale = follower, shade = request rate, red = under-replicated)</h2><div id="heatmap"></div></section>
<section><h2>Hot keys</h2><table id="hotkeys"></table></section>
<section id="rb"><h2>Rebalance</h2><div id="rb-settings" class="muted"></div>
<div id="rb-controls" style="display:none">ACL user <input id="rb-user" size="8" placeholder="(token)"> password or admin token <input id="rb-token" type="password" size="14"> drain <input id="rb-drain" placeholder="node ids, optional" size="16"><button id="rb-plan">plan rebalance</button><span id="rb-msg"></span></div>
<table id="plans"></table><h2>Progress of the running (or last) plan</h2><div id="plan-chart"></div></section>
<script>${SCRIPT}</script>
</body></html>
`;
