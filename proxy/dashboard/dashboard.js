// courier-proxy dashboard: polls /api/stats (proxy/stats_json.hpp) every
// second, keeps the last five minutes in memory, and redraws a table and two
// canvas charts. Plain JS and <canvas>: no library, nothing to build.
'use strict';

const POLL_MS = 1000;
const HISTORY_MS = 5 * 60 * 1000;
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];
const MAX_LINES = COLORS.length;  // the deepest queues get a line each

const history = [];  // {t, depth: {queue: n}, inRate, outRate}

function formatCount(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(Math.round(n * 10) / 10);
}

function formatBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + units[i];
}

function formatDuration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 120) return s + ' s';
  if (s < 7200) return Math.floor(s / 60) + ' min';
  if (s < 172800) return Math.floor(s / 3600) + ' h';
  return Math.floor(s / 86400) + ' d';
}

function setText(id, text) {
  document.getElementById(id).textContent = text;
}

// ---- the table -----------------------------------------------------------

const COLUMNS = [
  ['depth', q => q.depth, formatCount],
  ['inflight', q => q.inflight, formatCount],
  ['delayed', q => q.delayed, formatCount],
  ['consumers', q => q.consumers, String],
  ['in_per_s', q => q.in_per_s, formatCount],
  ['out_per_s', q => q.out_per_s, formatCount],
  ['dead_lettered', q => q.dead_lettered, formatCount],
];

// Rows are kept and updated in place (by queue name), so the table does not
// flicker; names are set with textContent, never parsed as HTML.
// A proxy may hold 100,000 queues: the table shows the deepest MAX_ROWS
// (by name), so the page stays usable; /metrics has them all.
const MAX_ROWS = 200;

function shownQueues(queues) {
  let names = Object.keys(queues);
  if (names.length > MAX_ROWS) {
    names = names.sort((a, b) => queues[b].depth - queues[a].depth || a.localeCompare(b)).slice(0, MAX_ROWS);
  }
  return names.sort();
}

function renderTable(queues) {
  const tbody = document.querySelector('#queues tbody');
  const names = shownQueues(queues);
  const shown = new Set(names);
  const rows = new Map();
  for (const tr of Array.from(tbody.rows)) rows.set(tr.dataset.queue, tr);
  for (const [name, tr] of rows) if (!shown.has(name)) tr.remove();
  names.forEach((name, index) => {
    let tr = rows.get(name);
    if (!tr) {
      tr = document.createElement('tr');
      tr.dataset.queue = name;
      const td = document.createElement('td');
      td.className = 'name';
      td.textContent = name;
      tr.appendChild(td);
      for (const [field] of COLUMNS) {
        const cell = document.createElement('td');
        cell.dataset.field = field;
        tr.appendChild(cell);
      }
    }
    if (tbody.rows[index] !== tr) tbody.insertBefore(tr, tbody.rows[index] || null);
    const q = queues[name];
    COLUMNS.forEach(([field, get, format], i) => {
      const cell = tr.cells[i + 1];
      cell.textContent = format(get(q));
      cell.className = '';
      // Attention where an operator would look: ready messages nobody takes,
      // and dead letters.
      if (field === 'consumers' && q.consumers === 0 && q.depth > 0) cell.className = 'warn';
      if (field === 'dead_lettered' && q.dead_lettered > 0) cell.className = 'bad';
    });
  });
  document.getElementById('empty').hidden = names.length > 0;
  const total = Object.keys(queues).length;
  const more = document.getElementById('more');
  more.hidden = total <= names.length;
  more.textContent = 'Showing the ' + names.length + ' deepest of ' + total + ' queues.';
}

// ---- the charts ----------------------------------------------------------

// A canvas sized for the screen's pixel ratio, so lines stay sharp.
function context2d(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * ratio || canvas.height !== h * ratio) {
    canvas.width = w * ratio;
    canvas.height = h * ratio;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, w, h };
}

// The smallest 1, 2 or 5 × 10^k at least `v` (at least 1): axis steps a
// reader can add up.
function niceStep(v) {
  if (v <= 1) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * power >= v) return m * power;
  return 10 * power;
}

// series: [{label, color, points: [[t, value], ...]}]; x spans the history.
function drawChart(canvas, legend, series, now) {
  const { ctx, w, h } = context2d(canvas);
  const pad = { left: 48, right: 8, top: 8, bottom: 20 };
  const plotW = w - pad.left - pad.right, plotH = h - pad.top - pad.bottom;
  let top = 0;
  for (const s of series) for (const [, v] of s.points) top = Math.max(top, v);
  const step = niceStep(top / 4), max = step * 4;
  const x = t => pad.left + plotW * (1 - (now - t) / HISTORY_MS);
  const y = v => pad.top + plotH * (1 - v / max);

  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = '#e5e7eb';
  ctx.fillStyle = '#6b7280';
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = step * i, yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, yy);
    ctx.lineTo(w - pad.right, yy);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText(formatCount(v), pad.left - 6, yy + 4);
  }
  for (let m = 0; m <= 5; m++) {
    ctx.textAlign = m === 0 ? 'right' : m === 5 ? 'left' : 'center';
    ctx.fillText(m === 0 ? 'now' : '-' + m + ' min', x(now - m * 60000), h - 4);
  }

  ctx.lineWidth = 2;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    s.points.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
    ctx.stroke();
  }

  legend.replaceChildren(...series.map(s => {
    const span = document.createElement('span');
    const swatch = document.createElement('i');
    swatch.style.background = s.color;
    span.append(swatch, s.label);
    return span;
  }));
}

// A queue keeps its colour while the page is open, whatever its rank.
const colorOf = new Map();
function queueColor(name) {
  if (!colorOf.has(name)) colorOf.set(name, COLORS[colorOf.size % COLORS.length]);
  return colorOf.get(name);
}

function renderCharts(queues, now) {
  const deepest = Object.keys(queues)
    .sort((a, b) => queues[b].depth - queues[a].depth || a.localeCompare(b))
    .slice(0, MAX_LINES);
  deepest.slice().sort().forEach(queueColor);
  const depthSeries = deepest.map(name => ({
    label: name,
    color: queueColor(name),
    points: history.filter(p => name in p.depth).map(p => [p.t, p.depth[name]]),
  }));
  drawChart(document.getElementById('depth-chart'), document.getElementById('depth-legend'), depthSeries, now);
  drawChart(document.getElementById('rate-chart'), document.getElementById('rate-legend'), [
    { label: 'in (published)', color: COLORS[0], points: history.map(p => [p.t, p.inRate]) },
    { label: 'out (delivered)', color: COLORS[2], points: history.map(p => [p.t, p.outRate]) },
  ], now);
}

// ---- polling -------------------------------------------------------------

function record(stats, now) {
  // Depth history only of the queues the table shows: five minutes of
  // 100,000 queues would not fit in a page.
  const depth = {};
  for (const name of shownQueues(stats.queues)) depth[name] = stats.queues[name].depth;
  let inRate = 0, outRate = 0;
  for (const q of Object.values(stats.queues)) {
    inRate += q.in_per_s;
    outRate += q.out_per_s;
  }
  history.push({ t: now, depth, inRate, outRate });
  while (history.length && history[0].t < now - HISTORY_MS) history.shift();
}

function renderSummary(stats) {
  setText('version', stats.version);
  setText('uptime', formatDuration(stats.uptime_ms));
  setText('clients', String(stats.clients));
  setText('queue-count', String(Object.keys(stats.queues).length));
  const j = stats.journal;
  setText('journal', formatBytes(j.used_bytes) + ' of ' + formatBytes(j.map_limit_bytes));
}

function setStatus(text, cls) {
  const el = document.getElementById('status');
  el.textContent = text;
  el.className = 'status ' + cls;
}

async function poll() {
  try {
    const response = await fetch('/api/stats', { cache: 'no-store' });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    const stats = await response.json();
    const now = Date.now();
    record(stats, now);
    renderSummary(stats);
    renderTable(stats.queues);
    renderCharts(stats.queues, now);
    setStatus('live', 'ok');
  } catch (e) {
    // The proxy stopped or restarted: keep what is shown, say it is stale.
    setStatus('no answer from the proxy (' + e.message + ')', 'stale');
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
