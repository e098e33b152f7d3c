/**
 * The dashboard's one page: inline styles and script, no external resource
 * of any kind, so it works offline and behind strict CSPs that allow inline
 * code. Every number comes from the JSON snapshot it polls; values are put
 * into the page with textContent, never as HTML.
 */

/** What the page is built with. */
export interface DashboardPageOptions {
  title: string;
  pollMs: number;
  /** URL of the JSON snapshot. */
  source: string;
}

/** JSON inside a <script>: `<` escaped so no value can close the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function dashboardPage(options: DashboardPageOptions): string {
  const config = scriptJson({ pollMs: options.pollMs, source: options.source });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)}</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #e3e6ee; --bg: #f6f7fb; --card: #fff; --accent: #2463eb; --good: #15803d; --bad: #c2410c; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 16px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  header .status { color: var(--muted); font-size: 13px; }
  header .status.down { color: var(--bad); }
  main { padding: 20px 24px; display: grid; gap: 20px; max-width: 1280px; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; }
  .tile { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  .tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
  .tile .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
  section h2 { font-size: 14px; margin: 0 0 10px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: 5px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th:first-child, td:first-child { text-align: left; }
  th { color: var(--muted); font-weight: 500; font-size: 12px; }
  td.wrap { white-space: normal; text-align: left; }
  #warnings th, #warnings td, #bypasses td:nth-child(-n+3), #bypasses th:nth-child(-n+3) { text-align: left; }
  .pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; }
  .pill.closed { background: #dcfce7; color: var(--good); }
  .pill.open { background: #ffedd5; color: var(--bad); }
  .pill.half-open { background: #fef9c3; color: #a16207; }
  .empty { color: var(--muted); }
  .two { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
  @media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
  svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
  #chart-latest { font-size: 13px; font-weight: 600; fill: var(--accent); }
</style>
</head>
<body>
<header><h1>${escapeHtml(options.title)}</h1><span class="status" id="status">connecting…</span></header>
<main>
  <div class="tiles">
    <div class="tile"><div class="label">Hit ratio</div><div class="value" id="t-ratio">–</div></div>
    <div class="tile"><div class="label">Coverage</div><div class="value" id="t-coverage">–</div></div>
    <div class="tile"><div class="label">Cached reads / s</div><div class="value" id="t-rate">–</div></div>
    <div class="tile"><div class="label">SQL saved</div><div class="value" id="t-saved">–</div></div>
    <div class="tile"><div class="label">Stale served</div><div class="value" id="t-stale">–</div></div>
    <div class="tile"><div class="label">Invalidations</div><div class="value" id="t-inval">–</div></div>
    <div class="tile"><div class="label">Store errors</div><div class="value" id="t-errors">–</div></div>
  </div>
  <section>
    <h2>Hit ratio over time <span class="empty" id="chart-note"></span></h2>
    <svg id="hit-chart" viewBox="0 0 900 220" width="100%" height="220" role="img" aria-label="hit ratio over time"></svg>
  </section>
  <section>
    <h2>Models</h2>
    <table id="models"><thead><tr>
      <th>Model</th><th>Reads</th><th>Hit ratio</th><th>Row hit / miss</th><th>List hit / miss</th><th>Count hit / miss</th>
      <th>Stale</th><th>Coalesced</th><th>SQL run</th><th>SQL saved</th><th>Invalidations</th><th>Warnings</th>
    </tr></thead><tbody></tbody></table>
  </section>
  <div class="two">
    <section>
      <h2>Store health</h2>
      <table id="servers"><thead><tr><th>Server</th><th>Breaker</th><th>Opened</th></tr></thead><tbody></tbody></table>
      <table id="store" style="margin-top:10px"><tbody></tbody></table>
    </section>
    <section>
      <h2>Latency (mean)</h2>
      <table id="latency"><thead><tr><th>Kind</th><th>Hits</th><th>Hit mean</th><th>Misses</th><th>Miss mean</th></tr></thead><tbody></tbody></table>
    </section>
  </div>
  <section>
    <h2>Bypassed reads <span class="empty">(reads of cached models that went to the database without the cache, by reason)</span></h2>
    <table id="bypasses"><thead><tr><th>Model</th><th>Kind</th><th>Reason</th><th>Reads</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Recent InvalidationWarnings</h2>
    <table id="warnings"><thead><tr><th>At</th><th>Model</th><th>Missing keys</th><th>Message</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
(function () {
  'use strict';
  var config = ${config};
  var history = [];       // { at, ratio, rate } per interval with reads
  var previous = null;    // the last snapshot, for deltas
  var previousAt = 0;
  var MAX_POINTS = 90;
  var KINDS = ['row', 'list', 'count'];

  function $(id) { return document.getElementById(id); }
  function fmt(n) { return Math.round(n).toLocaleString('en-US'); }
  function pct(r) { return (r * 100).toFixed(1) + '%'; }
  function ms(seconds) { return seconds < 0.001 ? (seconds * 1e6).toFixed(0) + ' µs' : (seconds * 1e3).toFixed(2) + ' ms'; }
  function cell(row, text, cls) { var td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; row.appendChild(td); return td; }
  function fill(tableId, rows) {
    var body = $(tableId).querySelector('tbody');
    body.replaceChildren.apply(body, rows);
  }
  function totals(s) { var h = s.rowHits + s.listHits + s.countHits; return { hits: h, reads: h + s.rowMisses + s.listMisses + s.countMisses }; }

  function record(s, now) {
    var t = totals(s);
    if (!previous) {
      // The first point covers everything since the cache started.
      if (t.reads > 0) history.push({ at: now, ratio: t.hits / t.reads, rate: null });
    } else {
      var p = totals(previous);
      var reads = t.reads - p.reads;
      if (reads > 0) history.push({ at: now, ratio: (t.hits - p.hits) / reads, rate: reads / ((now - previousAt) / 1000) });
    }
    if (history.length > MAX_POINTS) history.shift();
  }

  var SVG = 'http://www.w3.org/2000/svg';
  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function drawChart() {
    var svg = $('hit-chart');
    var W = 900, H = 220, L = 44, R = 70, T = 10, B = 24;
    var nodes = [];
    for (var i = 0; i <= 4; i++) {
      var y = T + (H - T - B) * (1 - i / 4);
      nodes.push(el('line', { x1: L, x2: W - R, y1: y, y2: y, stroke: '#e3e6ee' }));
      nodes.push(el('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' }, (i * 25) + '%'));
    }
    $('chart-note').textContent = history.length ? '(each point: the reads of one poll interval; the first: since start)' : '(waiting for reads)';
    if (history.length) {
      var step = (W - L - R) / Math.max(1, MAX_POINTS - 1);
      var start = W - R - step * (history.length - 1);
      var points = history.map(function (h, i) {
        return [start + step * i, T + (H - T - B) * (1 - h.ratio)];
      });
      nodes.push(el('polyline', { id: 'chart-line', points: points.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' '),
        fill: 'none', stroke: '#2463eb', 'stroke-width': 3, 'stroke-linejoin': 'round' }));
      points.forEach(function (p, i) {
        nodes.push(el('circle', { cx: p[0].toFixed(1), cy: p[1].toFixed(1), r: 4, fill: '#2463eb', 'data-ratio': history[i].ratio.toFixed(4) }));
      });
      var last = points[points.length - 1];
      nodes.push(el('text', { id: 'chart-latest', x: last[0] + 8, y: last[1] + 4 }, pct(history[history.length - 1].ratio)));
      nodes.push(el('text', { x: L, y: H - 6 }, history.length + ' interval' + (history.length === 1 ? '' : 's') + ' of ' + (config.pollMs / 1000) + ' s'));
    }
    svg.replaceChildren.apply(svg, nodes);
  }

  function render(s, now) {
    var t = totals(s);
    $('t-ratio').textContent = t.reads ? pct(s.hitRatio) : '–';
    var last = history.length ? history[history.length - 1] : null;
    $('t-rate').textContent = last && last.rate !== null && last.at === now ? fmt(last.rate) : '0';
    $('t-coverage').textContent = t.reads + s.bypassed ? pct(s.coverage) : '–';
    $('t-saved').textContent = fmt(s.dbQueriesSaved);
    $('t-stale').textContent = fmt(s.staleServed);
    $('t-inval').textContent = fmt(s.invalidations);
    $('t-errors').textContent = fmt(s.storeErrors);
    drawChart();

    fill('models', Object.keys(s.models).map(function (name) {
      var m = s.models[name], tr = document.createElement('tr');
      var hits = 0, misses = 0, stale = 0, coalesced = 0, sql = 0, saved = 0;
      KINDS.forEach(function (k) { hits += m[k].hits; misses += m[k].misses; stale += m[k].staleServed; coalesced += m[k].coalesced; sql += m[k].dbQueries; saved += m[k].dbQueriesSaved; });
      var inval = 0; for (var c in m.invalidations) inval += m.invalidations[c];
      tr.setAttribute('data-model', name);
      cell(tr, name);
      cell(tr, fmt(hits + misses));
      cell(tr, hits + misses ? pct(hits / (hits + misses)) : '–');
      KINDS.forEach(function (k) { cell(tr, fmt(m[k].hits) + ' / ' + fmt(m[k].misses)); });
      cell(tr, fmt(stale)); cell(tr, fmt(coalesced)); cell(tr, fmt(sql)); cell(tr, fmt(saved));
      var causes = Object.keys(m.invalidations).filter(function (c) { return m.invalidations[c] > 0; })
        .map(function (c) { return c + ' ' + m.invalidations[c]; }).join(', ');
      cell(tr, fmt(inval)).title = causes || 'none';
      cell(tr, fmt(m.invalidationWarnings));
      return tr;
    }));

    fill('servers', s.servers.length ? s.servers.map(function (h) {
      var tr = document.createElement('tr');
      cell(tr, h.server);
      var state = cell(tr, ''), pill = document.createElement('span');
      pill.className = 'pill ' + h.breaker; pill.textContent = h.breaker; state.appendChild(pill);
      cell(tr, fmt(h.breakerOpened));
      return tr;
    }) : [(function () { var tr = document.createElement('tr'); cell(tr, 'in-process store (no servers)', 'empty'); cell(tr, ''); cell(tr, ''); return tr; })()]);
    fill('store', [['Store errors', fmt(s.storeErrors)], ['Timeouts', fmt(s.storeTimeouts)],
      ['Bytes read', fmt(s.bytesRead)], ['Bytes written', fmt(s.bytesWritten)], ['Bypassed reads', fmt(s.bypassed)]]
      .map(function (pair) { var tr = document.createElement('tr'); cell(tr, pair[0]); cell(tr, pair[1]); return tr; }));

    var bypasses = [];
    Object.keys(s.models).forEach(function (name) {
      KINDS.forEach(function (k) {
        var reasons = s.models[name].bypassReasons[k];
        Object.keys(reasons).forEach(function (r) { bypasses.push([name, k, r, reasons[r]]); });
      });
    });
    bypasses.sort(function (a, b) { return b[3] - a[3]; });
    fill('bypasses', bypasses.length ? bypasses.slice(0, 30).map(function (b) {
      var tr = document.createElement('tr');
      cell(tr, b[0]); cell(tr, b[1]); cell(tr, b[2]); cell(tr, fmt(b[3]));
      return tr;
    }) : [(function () { var tr = document.createElement('tr'); cell(tr, 'none', 'empty'); cell(tr, ''); cell(tr, ''); cell(tr, ''); return tr; })()]);

    fill('latency', KINDS.map(function (k) {
      var l = s.latency[k], tr = document.createElement('tr');
      cell(tr, k);
      cell(tr, fmt(l.hit.count)); cell(tr, l.hit.count ? ms(l.hit.sum / l.hit.count) : '–');
      cell(tr, fmt(l.miss.count)); cell(tr, l.miss.count ? ms(l.miss.sum / l.miss.count) : '–');
      return tr;
    }));

    fill('warnings', s.recentWarnings.length ? s.recentWarnings.slice().reverse().map(function (w) {
      var tr = document.createElement('tr');
      cell(tr, new Date(w.at).toLocaleTimeString()); cell(tr, w.model);
      cell(tr, JSON.stringify(w.missing), 'wrap'); cell(tr, w.message, 'wrap');
      return tr;
    }) : [(function () { var tr = document.createElement('tr'); cell(tr, 'none', 'empty'); cell(tr, ''); cell(tr, ''); cell(tr, ''); return tr; })()]);
  }

  function poll() {
    fetch(config.source, { cache: 'no-store', headers: { accept: 'application/json' } })
      .then(function (res) { if (!res.ok) throw new Error('HTTP ' + res.status); return res.json(); })
      .then(function (s) {
        var now = Date.now();
        record(s, now);
        render(s, now);
        previous = s; previousAt = now;
        var status = $('status');
        status.className = 'status';
        status.textContent = 'live · started ' + new Date(s.startedAt).toLocaleString() + ' · updated ' + new Date(now).toLocaleTimeString();
        document.body.setAttribute('data-polls', String(Number(document.body.getAttribute('data-polls') || 0) + 1));
      })
      .catch(function (error) {
        var status = $('status');
        status.className = 'status down';
        status.textContent = 'cannot read metrics: ' + error.message;
      })
      .finally(function () { setTimeout(poll, config.pollMs); });
  }
  poll();
})();
</script>
</body>
</html>
`;
}
