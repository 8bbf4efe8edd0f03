// Prophet's dashboard: one page, no dependencies. It reads the JSON routes
// of the server that served it (/ui/api/...) and draws everything as SVG.
'use strict';

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
  '#e377c2', '#5a5a5a', '#bcbd22', '#17becf', '#000080', '#800040'];
const HISTORY_MAX = 600;   // views kept for the charts over time (10 min at 1/s)
const DECISIONS_MAX = 5000; // live decisions kept

const S = {
  session: null,
  live: null,        // the latest view
  previous: null,    // the one before (for rates)
  history: [],       // [{t, values: {series: number}}]
  liveDecisions: new Map(),
  artifacts: [],
  traces: [],        // [{label, trace}]
  trace: null, step: 0,
  decisionFilter: { choice: '', node: '' },
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) if (c) e.append(c);
  return e;
}

// The least and the greatest of any number of values (Math.min(...v) has a
// limit on how many).
function least(values) {
  return values.reduce((a, b) => (b < a ? b : a), Infinity);
}

function most(values) {
  return values.reduce((a, b) => (b > a ? b : a), -Infinity);
}

function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (typeof x !== 'number') return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-3) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}

function secs(d) {
  // A Rust Duration as serde writes it, or seconds.
  if (d && typeof d === 'object') return (d.secs || 0) + (d.nanos || 0) / 1e9;
  return d;
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: 'same-origin' }, options));
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

// ---- session -------------------------------------------------------------

async function login(token) {
  const response = await fetch('/ui/login', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

async function boot() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get('token');
  if (token) {
    // The token came in the fragment (never sent to a server): trade it for
    // the cookie, then drop it from the address bar and the history.
    history.replaceState(null, '', location.pathname + '#cluster');
    try { await login(token); } catch (e) { $('login-error').textContent = e.message; }
  }
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await login($('token').value);
      $('token').value = '';
      location.reload();
    } catch (e) { $('login-error').textContent = e.message; }
  });
  S.session = await api('/ui/api/session');
  $('title').textContent = S.session.title;
  document.title = `Prophet: ${S.session.title}`;
  if (S.session.tier === 'public') {
    $('login').hidden = false;
    document.querySelector('main').hidden = true;
    return;
  }
  $('who').textContent = `signed in: ${S.session.tier}`;
  $('who').append(' ', el('button', { id: 'logout', text: 'sign out', onclick: async () => {
    await fetch('/ui/logout', { method: 'POST', credentials: 'same-origin' });
    location.reload();
  } }));
  if (S.session.artifacts > 0) {
    const { artifacts } = await api('/ui/api/artifacts');
    S.artifacts = artifacts;
    collectTraces();
  }
  if (S.session.live) {
    try { accept(await api('/ui/api/view')); } catch (e) { $('stream').textContent = e.message; }
    const events = new EventSource('/ui/api/events');
    events.addEventListener('view', (event) => accept(JSON.parse(event.data)));
    events.addEventListener('open', () => { $('stream').textContent = 'live'; });
    events.addEventListener('error', () => { $('stream').textContent = 'reconnecting…'; });
  }
  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', (event) => {
    if (currentPage() !== 'counterexample' || !S.trace) return;
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
    if (event.key === 'ArrowRight') { setStep(S.step + 1); event.preventDefault(); }
    if (event.key === 'ArrowLeft') { setStep(S.step - 1); event.preventDefault(); }
  });
  route();
}

// ---- live data ---------------------------------------------------------

function accept(view) {
  view.received = Date.now() / 1000;
  S.previous = S.live;
  S.live = view;
  const values = {};
  for (const o of view.objectives || []) if (typeof o.value === 'number') values[o.name] = o.value;
  for (const c of view.constraints || []) if (typeof c.value === 'number') values[c.name] = c.value;
  for (const [metric, r] of Object.entries(view.recorded || {})) {
    if (r.recent && r.recent.length) {
      const sorted = [...r.recent].sort((a, b) => a - b);
      values[`${metric} p50`] = quantile(sorted, 0.5);
      values[`${metric} p99`] = quantile(sorted, 0.99);
    }
  }
  S.history.push({ t: view.received, values });
  if (S.history.length > HISTORY_MAX) S.history.shift();
  for (const d of view.decisions || []) {
    const key = `${d.node}/${d.seed ?? ''}/${d.id}/${d.type}`;
    S.liveDecisions.set(key, d);
  }
  while (S.liveDecisions.size > DECISIONS_MAX) {
    S.liveDecisions.delete(S.liveDecisions.keys().next().value);
  }
  const page = currentPage();
  if (page === 'cluster' || page === 'objectives' || page === 'models') render(page);
  if (page === 'decisions' && !document.activeElement?.closest?.('#page-decisions select')) render(page);
}

function quantile(sorted, q) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

// ---- routing -----------------------------------------------------------

const PAGES = ['cluster', 'objectives', 'decisions', 'models', 'steering', 'counterexample', 'simulation'];

function currentPage() {
  const name = location.hash.slice(1).split('&')[0];
  return PAGES.includes(name) ? name : 'cluster';
}

function route() {
  const page = currentPage();
  for (const p of PAGES) {
    $(`page-${p}`).hidden = p !== page;
    $(`nav-${p}`).classList.toggle('active', p === page);
  }
  render(page);
}

function render(page) {
  const target = $(`page-${page}`);
  const content = ({
    cluster: renderCluster, objectives: renderObjectives, decisions: renderDecisions, models: renderModels,
    steering: renderSteering, counterexample: renderCounterexample, simulation: renderSimulation,
  })[page]();
  target.replaceChildren(...[content].flat(Infinity).filter((c) => c !== null && c !== undefined));
}

// ---- cluster -----------------------------------------------------------

function renderCluster() {
  if (!S.live) {
    const files = S.artifacts.map((a) => el('li', {}, el('code', { text: a.name }), ` (${a.kind})`));
    return [
      el('h2', { text: 'No live cluster' }),
      el('p', { class: 'muted', text: 'This server shows files (prophet view). Run a cluster with ' +
        '`prophet run SYSTEM --dashboard` to watch it here.' }),
      el('h2', { text: 'Files' }), el('ul', {}, files),
    ];
  }
  const v = S.live;
  const dt = S.previous ? Math.max(1e-3, v.received - S.previous.received) : null;
  const before = new Map((S.previous?.links || []).map((l) => [`${l.from}-${l.to}`, l]));
  const rate = (l, key) => {
    const p = before.get(`${l.from}-${l.to}`);
    return dt && p ? Math.max(0, (l[key] - p[key]) / dt) : null;
  };
  const faulty = faultyLinks(v);
  const nodes = v.nodes || [];
  const nodeRows = nodes.map((n) => el('tr', { id: `node-${n.id}` },
    el('td', { class: 'num', text: `n${n.id}` }),
    el('td', { class: n.status, text: n.status }),
    el('td', { class: 'num', text: n.handled ?? '–' }),
    el('td', { class: 'num', text: n.inbox ?? '–' }),
    el('td', { class: 'num', text: fmt(n.handler_mean_us) }),
    el('td', { class: 'state', title: n.state, text: clip(n.state ?? '', 240) })));
  const linkRows = (v.links || []).map((l) => el('tr', { id: `link-${l.from}-${l.to}` },
    el('td', { text: `n${l.from} → n${l.to}` }),
    connection(l),
    el('td', { class: 'num', text: fmt(l.rtt_ms) }),
    el('td', { class: 'num', text: fmt(rate(l, l.side === 'in' ? 'recv_msgs' : 'sent_msgs')) }),
    el('td', { class: 'num', text: fmt(rate(l, l.side === 'in' ? 'recv_bytes' : 'sent_bytes')) }),
    el('td', { class: 'num', text: l.queue }),
    el('td', { class: 'num', text: l.dropped }),
    el('td', { text: faulty.get(`${l.from}-${l.to}`) || '' })));
  return [
    el('div', { class: 'row' },
      el('div', {}, el('h2', { text: 'Topology' }), topology(v, faulty)),
      el('div', {},
        el('h2', { text: 'Nodes' }),
        summary(v),
        el('table', { id: 'nodes' },
          el('tr', {}, ['node', 'status', 'handlers run', 'inbox', 'handler µs', 'state'].map((h) => el('th', { text: h }))),
          nodeRows))),
    el('h2', { text: 'Links' }),
    el('table', { id: 'links' },
      el('tr', {}, ['link', 'connection', 'RTT ms', 'msgs/s', 'bytes/s', 'queue', 'dropped', 'faults'].map((h) => el('th', { text: h }))),
      linkRows),
    faultsCard(v),
  ];
}

// The connection of a link as its sending end reports it; a link seen only
// from its receiving end (a node's own endpoint) cannot tell.
function connection(l) {
  if (l.connected === null || l.connected === undefined) {
    return el('td', { class: 'muted', title: 'this endpoint receives on this link; its sender reports the connection', text: 'inbound' });
  }
  return el('td', { class: l.connected ? 'up' : 'down', text: l.connected ? 'connected' : 'not connected' });
}

// At most `n` characters of `text` (the rest in the cell's tooltip).
function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function summary(v) {
  const parts = [];
  if (v.supervision) {
    parts.push(`crashes ${v.supervision.crashes}, restarts ${v.supervision.restarts}`);
  }
  if (v.properties) {
    for (const p of v.properties) parts.push(`${p.name}: ${p.holds ? 'holds' : 'FAILS'}`);
  }
  if (v.elapsed_s !== undefined) parts.unshift(`${fmt(v.elapsed_s, 4)} s`);
  return parts.length ? el('p', { id: 'summary', class: 'muted', text: parts.join(' · ') }) : null;
}

function faultyLinks(v) {
  const out = new Map();
  const ids = (v.nodes || []).map((n) => n.id);
  const all = Array.from({ length: v.cluster_nodes || 0 }, (_, i) => i);
  for (const rule of v.faults || []) {
    const what = [rule.partitioned ? 'cut' : null, rule.delay_ms ? `+${rule.delay_ms} ms` : null,
      rule.loss ? `loss ${rule.loss}` : null].filter(Boolean).join(', ');
    const froms = rule.from !== null && rule.from !== undefined ? [rule.from] : (all.length ? all : ids);
    const tos = rule.to !== null && rule.to !== undefined ? [rule.to] : (all.length ? all : ids);
    for (const f of froms) for (const t of tos) if (f !== t) out.set(`${f}-${t}`, what);
  }
  return out;
}

function topology(v, faulty) {
  const count = Math.max(v.cluster_nodes || 0, ...(v.nodes || []).map((n) => n.id + 1), 1);
  const size = 320, r = 120, c = size / 2;
  const at = (i) => [c + r * Math.sin(2 * Math.PI * i / count), c - r * Math.cos(2 * Math.PI * i / count)];
  const status = new Map((v.nodes || []).map((n) => [n.id, n.status]));
  const lines = (v.links || []).filter((l) => l.from !== l.to).map((l) => {
    const [x1, y1] = at(l.from), [x2, y2] = at(l.to);
    const f = faulty.get(`${l.from}-${l.to}`);
    const cls = !l.connected || (f && f.includes('cut')) ? 'link cut' : (f ? 'link faulty' : 'link');
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
    return [svg('line', { class: cls, x1, y1, x2, y2 }),
      l.from < l.to && l.rtt_ms ? svg('text', { x: mx, y: my - 3, 'text-anchor': 'middle', text: `${fmt(l.rtt_ms, 2)} ms` }) : null];
  });
  const circles = Array.from({ length: count }, (_, i) => {
    const [x, y] = at(i);
    const s = status.get(i) || 'unknown';
    return [svg('circle', { cx: x, cy: y, r: 16, class: `node-${s === 'up' || s === 'down' || s === 'restarting' ? s : 'down'}` },
      svg('title', { text: `n${i}: ${s}` })),
    svg('text', { x, y: y + 4, 'text-anchor': 'middle', class: 'on-node', text: `n${i}` })];
  });
  return svg('svg', { id: 'topology', width: size, height: size, viewBox: `0 0 ${size} ${size}` }, lines, circles);
}

function faultsCard(v) {
  const rules = v.faults || [];
  const card = el('div', { class: 'card', id: 'faults' }, el('h2', { text: 'Injected faults' }));
  card.append(rules.length
    ? el('table', { id: 'fault-rules' },
      el('tr', {}, ['from', 'to', 'delay ms', 'loss', 'partitioned'].map((h) => el('th', { text: h }))),
      rules.map((r) => el('tr', {}, el('td', { text: r.from ?? 'any' }), el('td', { text: r.to ?? 'any' }),
        el('td', { class: 'num', text: r.delay_ms }), el('td', { class: 'num', text: r.loss }),
        el('td', { text: r.partitioned ? 'yes' : 'no' }))))
    : el('p', { id: 'fault-rules', class: 'muted', text: 'none' }));
  if (!S.session.faults) return card;
  if (S.session.tier !== 'operator') {
    card.append(el('p', { class: 'muted', text: 'Injecting faults needs the operator token.' }));
    return card;
  }
  const from = el('input', { id: 'fault-from', type: 'number', min: 0, placeholder: 'any' });
  const to = el('input', { id: 'fault-to', type: 'number', min: 0, placeholder: 'any' });
  const delay = el('input', { id: 'fault-delay', type: 'number', min: 0, value: 0 });
  const loss = el('input', { id: 'fault-loss', type: 'number', min: 0, max: 1, step: 0.05, value: 0 });
  const cut = el('input', { id: 'fault-cut', type: 'checkbox' });
  const message = el('span', { id: 'fault-message', class: 'muted' });
  const send = async (list) => {
    const response = await fetch('/ui/api/faults', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(list),
    });
    message.textContent = response.ok ? 'applied' : await response.text();
  };
  const number = (input) => input.value === '' ? null : Number(input.value);
  card.append(el('form', { id: 'fault-form', onsubmit: (event) => {
    event.preventDefault();
    send([...rules, { from: number(from), to: number(to), delay_ms: number(delay) || 0,
      loss: number(loss) || 0, partitioned: cut.checked }]);
  } },
  el('label', {}, 'from ', from), el('label', {}, 'to ', to), el('label', {}, 'delay ms ', delay),
  el('label', {}, 'loss ', loss), el('label', {}, cut, ' cut'),
  el('button', { id: 'fault-add', type: 'submit', text: 'Add rule' }), ' ',
  el('button', { id: 'fault-clear', type: 'button', text: 'Clear all', onclick: () => send([]) }), ' ',
  message));
  return card;
}

// ---- charts --------------------------------------------------------------

// A line chart: series [{label, points: [[x, y]]}], optional goals [{y, label}].
function lineChart({ id, series, xLabel, yLabel, goals = [], logX = false, width = 640, height = 260 }) {
  const m = { l: 56, r: 12, t: 12, b: 36 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0])).filter((x) => !logX || x > 0);
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).concat(goals.map((g) => g.y));
  if (!xs.length) return el('p', { class: 'muted', text: 'no data yet' });
  const tx = logX ? Math.log10 : (x) => x;
  let [x0, x1] = [least(xs.map(tx)), most(xs.map(tx))];
  let [y0, y1] = [Math.min(0, least(ys)), most(ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y1 = y0 + 1; }
  const X = (x) => m.l + (tx(x) - x0) / (x1 - x0) * (width - m.l - m.r);
  const Y = (y) => height - m.b - (y - y0) / (y1 - y0) * (height - m.t - m.b);
  const ticks = [];
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4;
    ticks.push(svg('line', { class: 'grid', x1: m.l, x2: width - m.r, y1: Y(y), y2: Y(y) }),
      svg('text', { x: m.l - 4, y: Y(y) + 4, 'text-anchor': 'end', text: fmt(y, 3) }));
    const xv = x0 + (x1 - x0) * i / 4;
    const x = logX ? 10 ** xv : xv;
    ticks.push(svg('text', { x: X(x), y: height - m.b + 14, 'text-anchor': 'middle', text: fmt(x, 3) }));
  }
  const lines = series.map((s, i) => svg('polyline', {
    fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 1.6,
    points: s.points.filter((p) => !logX || p[0] > 0).map((p) => `${X(p[0])},${Y(p[1])}`).join(' '),
  }));
  const goalLines = goals.map((g) => [svg('line', { class: 'goal', x1: m.l, x2: width - m.r, y1: Y(g.y), y2: Y(g.y) }),
    svg('text', { x: width - m.r - 2, y: Y(g.y) - 3, 'text-anchor': 'end', text: g.label })]);
  return el('div', {},
    svg('svg', { id, width, height, viewBox: `0 0 ${width} ${height}` },
      ticks, svg('line', { class: 'axis', x1: m.l, x2: m.l, y1: m.t, y2: height - m.b }),
      svg('line', { class: 'axis', x1: m.l, x2: width - m.r, y1: height - m.b, y2: height - m.b }),
      svg('text', { x: width / 2, y: height - 4, 'text-anchor': 'middle', text: xLabel }),
      svg('text', { x: 12, y: m.t + 8, text: yLabel }), lines, goalLines),
    legend(series.map((s) => s.label)));
}

function legend(labels) {
  return el('div', { class: 'legend' }, labels.map((label, i) => {
    const swatch = el('span', { class: 'swatch' });
    swatch.style.background = COLORS[i % COLORS.length];
    return el('span', {}, swatch, label);
  }));
}

// ---- objectives ------------------------------------------------------------

function renderObjectives() {
  if (!S.live) return el('p', { class: 'muted', text: 'No live cluster: objectives over time need one. ' +
    'Simulated objectives per policy are on the Simulation page.' });
  const t0 = S.history.length ? S.history[0].t : 0;
  const names = [...new Set(S.history.flatMap((h) => Object.keys(h.values)))].sort();
  const goals = new Map();
  for (const c of S.live.constraints || []) {
    if (!goals.has(c.name)) goals.set(c.name, []);
    goals.get(c.name).push({ y: c.bound, label: `goal ${c.at_most ? '≤' : '≥'} ${fmt(c.bound)}` });
  }
  const out = [el('h2', { text: 'Objectives over time' })];
  if (S.live.objectives) {
    out.push(el('table', { id: 'objectives' },
      el('tr', {}, ['objective', 'metric', 'aggregate', 'direction', 'now'].map((h) => el('th', { text: h }))),
      S.live.objectives.map((o) => el('tr', {}, el('td', { text: o.name }), el('td', { text: o.metric }),
        el('td', { text: o.aggregate }), el('td', { text: o.direction }), el('td', { class: 'num', text: fmt(o.value) })))));
  }
  if (!names.length) out.push(el('p', { class: 'muted', text: 'no samples recorded yet' }));
  names.forEach((name, i) => {
    const points = S.history.filter((h) => name in h.values).map((h) => [h.t - t0, h.values[name]]);
    out.push(el('h2', { text: name }), lineChart({
      id: `objective-${i}`, series: [{ label: name, points }], xLabel: 'seconds since the page opened',
      yLabel: name, goals: goals.get(name) || [],
    }));
  });
  return out;
}

// ---- decisions -----------------------------------------------------------

function decisionLines() {
  const lines = [];
  // Loops, not spreads: a log of a long run holds more lines than a call
  // takes arguments.
  for (const a of S.artifacts) if (a.kind === 'decisions') for (const d of a.data) lines.push(d);
  for (const d of S.liveDecisions.values()) lines.push(d);
  return lines;
}

function renderDecisions() {
  const lines = decisionLines();
  const decisions = lines.filter((l) => l.type === 'decision');
  if (!decisions.length) return el('p', { class: 'muted', text: 'No decisions yet. Live nodes serve their recent ' +
    'decisions; a log from `prophet sim --decisions FILE` or `prophet run --log-decisions` opens with `prophet view FILE`.' });
  const outcomes = new Map();
  for (const l of lines) if (l.type === 'outcome') outcomes.set(`${l.node}/${l.seed ?? ''}/${l.id}`, l);
  const choices = [...new Set(decisions.map((d) => d.choice))].sort();
  const nodes = [...new Set(decisions.map((d) => d.node))].sort((a, b) => a - b);
  const f = S.decisionFilter;
  const shown = decisions.filter((d) => (!f.choice || d.choice === f.choice) && (f.node === '' || String(d.node) === f.node));
  const select = (id, values, current, key, label) => el('label', {}, `${label} `, el('select', {
    id, onchange: (event) => { S.decisionFilter[key] = event.target.value; render('decisions'); },
  }, el('option', { value: '', text: 'all' }), values.map((v) => el('option', { value: v, text: v, selected: String(v) === current }))));
  const rows = [];
  const limit = 300;
  for (const d of shown.slice(-limit).reverse()) {
    const outcome = outcomes.get(`${d.node}/${d.seed ?? ''}/${d.id}`);
    const p = d.predicted?.[d.pick];
    const row = el('tr', { class: 'clickable decision' },
      el('td', { class: 'num', text: fmt(d.t, 6) }), el('td', { class: 'num', text: `n${d.node}` }),
      el('td', { text: d.choice }), el('td', { text: d.policy }),
      el('td', { class: 'num', text: d.candidates?.length ?? '–' }), el('td', { class: 'num', text: d.pick }),
      el('td', { class: 'num', text: fmt(d.propensity) }),
      el('td', { class: 'num', text: p ? `${fmt(p.mean)} [${fmt(p.lo)}, ${fmt(p.hi)}]` : '–' }),
      el('td', { class: 'num', text: outcome ? fmt(outcome.cost) : '–' }));
    const detail = el('tr', { hidden: true }, el('td', { colspan: 9 }, candidatesTable(d)));
    row.addEventListener('click', () => { detail.hidden = !detail.hidden; });
    rows.push(row, detail);
  }
  return [
    el('h2', { text: 'Decisions' }),
    el('p', {}, select('filter-choice', choices, f.choice, 'choice', 'choice'),
      select('filter-node', nodes, f.node, 'node', 'node'),
      el('span', { class: 'muted', text: `${shown.length} of ${decisions.length} decisions` +
        (shown.length > limit ? ` (the latest ${limit} listed)` : '') + '; click one for its candidates' })),
    el('h2', { text: 'Prediction error over time' }), predictionError(shown, outcomes),
    el('table', { id: 'decisions' },
      el('tr', {}, ['t (s)', 'node', 'choice', 'policy', 'candidates', 'pick', 'propensity',
        'predicted [interval]', 'observed'].map((h) => el('th', { text: h }))), rows),
  ];
}

function candidatesTable(d) {
  return el('table', {}, el('tr', {}, ['candidate', 'key', 'probability', 'predicted', 'interval'].map((h) => el('th', { text: h }))),
    (d.candidates || []).map((key, i) => {
      const p = d.predicted?.[i];
      return el('tr', { class: i === d.pick ? 'changed' : '' }, el('td', { class: 'num', text: i }),
        el('td', { text: String(key) }), el('td', { class: 'num', text: fmt(d.probabilities?.[i]) }),
        el('td', { class: 'num', text: p ? fmt(p.mean) : '–' }),
        el('td', { class: 'num', text: p ? `[${fmt(p.lo)}, ${fmt(p.hi)}]` : '–' }));
    }));
}

function predictionError(decisions, outcomes) {
  const per = new Map();
  for (const d of decisions) {
    const o = outcomes.get(`${d.node}/${d.seed ?? ''}/${d.id}`);
    const p = d.predicted?.[d.pick];
    if (!o || !p || typeof o.cost !== 'number') continue;
    if (!per.has(d.choice)) per.set(d.choice, []);
    per.get(d.choice).push([d.t, o.cost - p.mean]);
  }
  if (!per.size) return el('p', { id: 'prediction-error', class: 'muted', text: 'no decision with both a prediction and an observed outcome' });
  // Mean error per bucket of time, so thousands of decisions stay readable.
  const series = [...per.entries()].map(([choice, points]) => {
    points.sort((a, b) => a[0] - b[0]);
    const buckets = 50, t0 = points[0][0], t1 = points[points.length - 1][0] || t0 + 1;
    const sums = new Map();
    for (const [t, e] of points) {
      const b = Math.min(buckets - 1, Math.floor((t - t0) / Math.max(1e-9, t1 - t0) * buckets));
      const s = sums.get(b) || [0, 0];
      sums.set(b, [s[0] + e, s[1] + 1]);
    }
    return { label: `${choice} (observed − predicted)`, points: [...sums.entries()].sort((a, b) => a[0] - b[0])
      .map(([b, [sum, n]]) => [t0 + (b + 0.5) * (t1 - t0) / buckets, sum / n]) };
  });
  return lineChart({ id: 'prediction-error', series, xLabel: 't (s)', yLabel: 'error', goals: [{ y: 0, label: 'exact' }] });
}

// ---- steering --------------------------------------------------------------

function renderSteering() {
  const runs = [];
  for (const a of S.artifacts) {
    if (a.kind !== 'sim') continue;
    for (const r of a.data.results || []) for (const run of r.runs || []) {
      if (run.steering) runs.push({ label: r.label, seed: run.seed, steering: run.steering, violation: run.violation });
    }
  }
  if (S.live?.steering) runs.push({ label: 'live', seed: '', steering: S.live.steering });
  if (!runs.length) return el('p', { class: 'muted', text: 'No steering here: simulate with `prophet sim SYSTEM --steer --json > F` ' +
    'and open F with `prophet view F`. Live nodes do not steer yet.' });
  const actions = runs.flatMap((r) => (r.steering.actions || []).map((a) => Object.assign({ run: r }, a)));
  return [
    el('h2', { text: 'Steered runs' }),
    el('table', { id: 'steering' }, el('tr', {}, ['run', 'seed', 'reviewed', 'discarded', 'of them predicted', 'searches',
      'checkpoints', 'deferred', 'checkpoint bytes', 'protocol bytes', 'violation'].map((h) => el('th', { text: h }))),
    runs.map((r) => el('tr', {}, el('td', { text: r.label }), el('td', { class: 'num', text: r.seed }),
      el('td', { class: 'num', text: r.steering.reviewed }), el('td', { class: 'num', text: r.steering.discarded }),
      el('td', { class: 'num', text: r.steering.predicted ?? '–' }), el('td', { class: 'num', text: r.steering.searches ?? '–' }),
      el('td', { class: 'num', text: r.steering.checkpoints_sent }), el('td', { class: 'num', text: r.steering.checkpoints_deferred ?? '–' }),
      el('td', { class: 'num', text: r.steering.checkpoint_bytes }), el('td', { class: 'num', text: r.steering.protocol_bytes ?? '–' }),
      el('td', { text: r.violation ? `${r.violation.property ?? JSON.stringify(r.violation)}` : 'none' })))),
    el('h2', { text: `Steering actions (${actions.length})` }),
    actions.slice(0, 200).map((a) => el('div', { class: 'card steering-action' },
      el('p', {}, el('b', { text: `n${a.node} discarded ${a.msg} from n${a.from}` }),
        ` at ${fmt(secs(a.at), 6)} s (${a.run.label}, seed ${a.run.seed}): it would break “${a.property}”` +
        (a.depth ? `, predicted ${a.depth} event${a.depth === 1 ? '' : 's'} later by the consequence search` : ', at once') +
        `; oldest checkpoint ${fmt(secs(a.oldest_checkpoint), 4)} s old`),
      el('ol', {}, (a.trace || []).map((t) => el('li', { text: t }))))),
  ];
}

// ---- performance models ----------------------------------------------------

function modelRuns() {
  const runs = [];
  if (S.live?.models?.length) runs.push({ label: 'live', seed: null, nodes: S.live.models });
  for (const a of S.artifacts) {
    if (a.kind !== 'models') continue;
    for (const r of a.data.runs || []) runs.push({ label: a.name, seed: r.seed, nodes: r.nodes || [] });
  }
  return runs;
}

function quantileCell(q, scale = 1) {
  if (!q) return el('td', { class: 'num', text: '–' });
  return el('td', { class: 'num', title: `95% interval ${fmt(q.lo * scale)} – ${fmt(q.hi * scale)}`,
    text: `${fmt(q.value * scale)} [${fmt(q.lo * scale)}, ${fmt(q.hi * scale)}]` });
}

function streamCells(summary, scale) {
  if (!summary) return [el('td', { class: 'num', text: '–' }), el('td', { class: 'num', text: '–' }), el('td', { class: 'num', text: '–' }),
    el('td', { class: 'num', text: '–' })];
  const changed = summary.changes ? `${summary.changes} (last at ${fmt(summary.changed_at, 4)} s)` : '0';
  return [el('td', { class: 'num', text: summary.count }), quantileCell(summary.p50, scale), quantileCell(summary.p99, scale),
    el('td', { class: 'num', title: `last value ${fmt(summary.age, 3)} s before the snapshot`, text: changed })];
}

function renderModels() {
  const runs = modelRuns();
  if (!runs.length) return el('p', { class: 'muted', text: 'No performance model here: live nodes serve theirs on this page as they run; ' +
    'for a simulation, `prophet sim SYSTEM --model-out F`, then `prophet view F`.' });
  const out = [el('p', { class: 'muted', text: 'What each node learned from its own observations only: per peer the one-way delay, ' +
    'the service time and the queue it reported (in simulation); per candidate of a choice the observed cost, latency and ' +
    'losses (in simulation and live). Quantiles carry their 95% interval; “shifts” counts the changes the model detected.' })];
  runs.forEach((run, k) => {
    out.push(el('h2', { text: run.seed === null ? `${run.label}` : `${run.label}, seed ${run.seed}` }));
    const peerRows = [], candidateRows = [];
    for (const m of run.nodes) {
      for (const p of m.peers || []) {
        peerRows.push(el('tr', {}, el('td', { text: `n${m.node}` }), el('td', { text: `n${p.peer}` }),
          streamCells(p.delay, 1e3), streamCells(p.service, 1e3), quantileCell(p.queue?.p50)));
      }
      for (const c of m.candidates || []) {
        candidateRows.push(el('tr', {}, el('td', { text: `n${m.node}` }), el('td', { text: c.choice }), el('td', { class: 'num', text: c.key }),
          streamCells(c.latency, 1e3), quantileCell(c.cost?.p50),
          el('td', { class: 'num', text: c.lost ? `${fmt(100 * c.lost.rate)}% of ${c.lost.of}` : '–' })));
      }
    }
    const head = (cols) => el('tr', {}, cols.map((h) => el('th', { text: h })));
    const stream = (name) => [`${name} n`, `${name} p50`, `${name} p99`, `${name} shifts`];
    out.push(el('h3', { text: 'Peers' }), peerRows.length
      ? el('table', { id: `model-peers-${k}` }, head(['node', 'peer', ...stream('delay ms'), ...stream('service ms'), 'queue p50']), peerRows)
      : el('p', { class: 'muted', text: run.seed === null
        ? 'none: a live node measures no one-way delay or service time of its peers (that needs their clocks)'
        : 'no messages observed' }));
    out.push(el('h3', { text: 'Candidates' }), candidateRows.length
      ? el('table', { id: `model-candidates-${k}` }, head(['node', 'choice', 'key', ...stream('latency ms'), 'cost p50', 'lost']), candidateRows)
      : el('p', { class: 'muted', text: 'no outcomes observed yet' }));
  });
  return out;
}

// ---- counterexamples -------------------------------------------------------

function collectTraces() {
  S.traces = [];
  for (const a of S.artifacts) {
    if (a.kind === 'check') {
      for (const f of [...(a.data.violations || []), ...(a.data.examples || [])]) {
        if (f.trace) S.traces.push({ label: `${a.data.system}: ${f.kind} “${f.property}” (${f.trace.steps.length} steps)`, trace: f.trace });
      }
    }
    if (a.kind === 'sim') {
      for (const r of a.data.results || []) for (const run of r.runs || []) {
        const cx = run.counterexample;
        if (cx?.trace) S.traces.push({ label: `${a.data.system} ${r.label} seed ${run.seed}: “${cx.property}” (${cx.trace.steps.length} steps)`, trace: cx.trace });
      }
    }
  }
  if (S.traces.length) { S.trace = S.traces[0].trace; S.step = 0; }
}

function setStep(k) {
  if (!S.trace) return;
  S.step = Math.max(0, Math.min(S.trace.steps.length, k));
  render('counterexample');
}

function renderCounterexample() {
  const open = el('input', { id: 'trace-file', type: 'file', accept: '.json,application/json', onchange: async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      const data = JSON.parse(await file.text());
      const kind = data.violations ? 'check' : (data.results ? 'sim' : null);
      if (!kind) throw new Error('not the JSON of `prophet check --json` or `prophet sim --json`');
      S.artifacts.push({ name: file.name, kind, data });
      collectTraces();
      render('counterexample');
    } catch (e) { alert(`${file.name}: ${e.message}`); }
  } });
  if (!S.traces.length) return [el('p', { class: 'muted', text: 'No trace here. `prophet check SYSTEM --json > F` or ' +
    '`prophet sim SYSTEM --json > F`, then `prophet view F`; or open one: ' }), open];
  const picker = el('select', { id: 'trace-select', onchange: (event) => {
    S.trace = S.traces[Number(event.target.value)].trace; S.step = 0; render('counterexample');
  } }, S.traces.map((t, i) => el('option', { value: i, text: t.label, selected: t.trace === S.trace })));
  const trace = S.trace;
  const n = trace.steps.length;
  const step = S.step;
  const current = step > 0 ? trace.steps[step - 1] : null;
  const controls = el('div', { class: 'controls' },
    el('button', { id: 'step-first', text: '⏮', title: 'initial state', onclick: () => setStep(0) }),
    el('button', { id: 'step-back', text: '◀ back', onclick: () => setStep(step - 1), disabled: step === 0 }),
    el('button', { id: 'step-forward', text: 'forward ▶', onclick: () => setStep(step + 1), disabled: step === n }),
    el('button', { id: 'step-last', text: '⏭', title: 'last state', onclick: () => setStep(n) }),
    el('span', { id: 'step-label', text: ` step ${step} of ${n}` }));
  return [
    el('p', {}, picker, ' ', open),
    controls,
    el('p', { id: 'step-description', class: 'state' }, current ? current.description : `initial: ${trace.first_state}`),
    el('div', { class: 'row' }, sequenceChart(trace, step), stepDetail(trace, step)),
    el('p', { class: 'muted', text: `path ${trace.init}:${trace.path.join('.')} — \`prophet check SYSTEM --replay PATH\` replays it; ← and → step` }),
  ];
}

// Node states after `step` steps: the initial lanes, overwritten by each
// charted step's slot after it.
function statesAt(trace, step) {
  const states = [...(trace.nodes || [])];
  for (const s of trace.steps.slice(0, step)) if (s.chart) states[s.chart.node] = s.chart.after;
  return states;
}

function sequenceChart(trace, step) {
  const charts = trace.steps.map((s) => s.chart);
  if (charts.some((c) => !c)) {
    return el('ol', { id: 'sequence-chart' }, trace.steps.map((s, i) => el('li', { class: i + 1 === step ? 'changed' : '', text: s.description })));
  }
  const lanes = Math.max(trace.nodes?.length || 0, ...charts.map((c) => c.node + 1), ...charts.flatMap((c) => c.sends.map((m) => m.to + 1)));
  const laneW = 110, rowH = 30, top = 34, left = 40;
  const width = left + lanes * laneW, height = top + (charts.length + 1) * rowH + 10;
  const X = (lane) => left + lane * laneW + laneW / 2;
  const Y = (row) => top + row * rowH + rowH / 2;
  const items = [];
  items.push(svg('rect', { class: 'current', x: 0, y: top + step * rowH, width, height: rowH }));
  for (let i = 0; i < lanes; i++) {
    items.push(svg('text', { x: X(i), y: 20, 'text-anchor': 'middle', text: `n${i}` }),
      svg('line', { class: 'lane', x1: X(i), x2: X(i), y1: top, y2: height - 6 }));
  }
  for (let row = 0; row <= charts.length; row++) {
    items.push(svg('text', { x: 6, y: Y(row) + 4, class: 'muted', text: row }));
  }
  // Match each delivery to the earliest unmatched send of the same message.
  const pending = [];
  charts.forEach((c, i) => {
    const row = i + 1;
    if (c.from !== null && c.from !== undefined && ['deliver', 'lose', 'discarded'].includes(c.kind)) {
      const k = pending.findIndex((p) => p.from === c.from && p.to === c.node && p.message === c.label);
      const start = k >= 0 ? pending.splice(k, 1)[0].row : 0;
      items.push(arrow(X(c.from), Y(start), X(c.node), Y(row), c.kind === 'deliver' ? 'msg' : 'msg lost', c.label));
    }
    for (const m of c.sends) pending.push({ from: c.node, to: m.to, message: m.message, row });
  });
  for (const p of pending) {
    items.push(arrow(X(p.from), Y(p.row), (X(p.from) + X(p.to)) / 2, Y(p.row) + rowH * 0.8, 'msg pending', `${p.message} (in flight)`));
  }
  charts.forEach((c, i) => items.push(marker(c, X(c.node), Y(i + 1))));
  items.push(svg('rect', { class: 'rowhit', x: 0, y: top, width, height: (charts.length + 1) * rowH, onclick: (event) => {
    const box = event.currentTarget.getBoundingClientRect();
    setStep(Math.floor((event.clientY - box.top) / rowH));
  } }));
  return svg('svg', { id: 'sequence-chart', width, height, viewBox: `0 0 ${width} ${height}` },
    svg('defs', {}, svg('marker', { id: 'head', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#3b4a5a' }))), items);
}

function arrow(x1, y1, x2, y2, cls, label) {
  return svg('g', {}, svg('line', { class: cls, x1, y1, x2, y2, 'marker-end': 'url(#head)' }),
    svg('title', { text: label }));
}

function marker(c, x, y) {
  const title = svg('title', { text: `${c.kind} ${c.label}${c.choices.length ? ` choices [${c.choices}]` : ''}` });
  const parts = [];
  switch (c.kind) {
    case 'deliver': parts.push(svg('circle', { cx: x, cy: y, r: 5, fill: '#3b4a5a' })); break;
    case 'discarded': parts.push(svg('circle', { cx: x, cy: y, r: 5, fill: '#fff', stroke: '#d73a3a' })); break;
    case 'lose': parts.push(svg('path', { d: `M ${x - 5} ${y - 5} L ${x + 5} ${y + 5} M ${x + 5} ${y - 5} L ${x - 5} ${y + 5}`, stroke: '#9aa5b1', 'stroke-width': 2 })); break;
    case 'timer': parts.push(svg('circle', { cx: x, cy: y, r: 7, fill: '#fff', stroke: '#1f6feb', 'stroke-width': 1.5 }),
      svg('path', { d: `M ${x} ${y - 4} L ${x} ${y} L ${x + 3} ${y + 2}`, stroke: '#1f6feb', fill: 'none' })); break;
    case 'crash': parts.push(svg('path', { d: `M ${x - 7} ${y - 7} L ${x + 7} ${y + 7} M ${x + 7} ${y - 7} L ${x - 7} ${y + 7}`, stroke: '#d73a3a', 'stroke-width': 3 })); break;
    case 'restart': parts.push(svg('path', { d: `M ${x - 6} ${y + 5} L ${x} ${y - 6} L ${x + 6} ${y + 5} z`, fill: '#2e9e44' })); break;
    default: parts.push(svg('circle', { cx: x, cy: y, r: 4 }));
  }
  if (c.choices.length) {
    parts.push(svg('path', { d: `M ${x + 12} ${y} L ${x + 17} ${y - 5} L ${x + 22} ${y} L ${x + 17} ${y + 5} z`, fill: '#9467bd' }),
      svg('text', { x: x + 25, y: y + 4, text: `[${c.choices}]` }));
  }
  const text = c.kind === 'timer' ? c.label : (c.kind === 'crash' || c.kind === 'restart' ? c.kind : c.label);
  parts.push(svg('text', { x: x - 10, y: y - 8, 'text-anchor': 'end', text: text.length > 18 ? `${text.slice(0, 17)}…` : text }));
  return svg('g', { class: `step-${c.kind}` }, title, parts);
}

function stepDetail(trace, step) {
  const states = statesAt(trace, step);
  const chart = step > 0 ? trace.steps[step - 1].chart : null;
  const box = el('div', { id: 'step-detail' });
  if (chart) {
    box.append(el('h2', { text: `n${chart.node}: state diff of step ${step}` }), el('div', { id: 'state-diff', class: 'diff' }, diff(chart.before, chart.after)));
    if (chart.sends.length) {
      box.append(el('p', {}, `sends: ${chart.sends.map((m) => `n${m.to} ← ${m.message}`).join(', ')}`));
    }
  }
  box.append(el('h2', { text: `States after step ${step}` }), el('table', { id: 'states' },
    el('tr', {}, el('th', { text: 'node' }), el('th', { text: 'slot' })),
    states.map((s, i) => el('tr', { class: chart && chart.node === i ? 'changed' : '' }, el('td', { text: `n${i}` }), el('td', { class: 'state', text: s })))));
  return box;
}

// A word-level diff of two `Debug` strings (longest common subsequence).
function diff(a, b) {
  const split = (s) => s.split(/([\s,(){}[\]:]+)/).filter((t) => t !== '');
  const x = split(a), y = split(b);
  if (x.length * y.length > 4e6) return [el('del', { text: a }), el('ins', { text: b })];
  const L = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i--) for (let j = y.length - 1; j >= 0; j--) {
    L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  }
  const out = [];
  let i = 0, j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) { out.push(document.createTextNode(x[i])); i++; j++; }
    else if (j < y.length && (i === x.length || L[i][j + 1] >= L[i + 1][j])) { out.push(el('ins', { text: y[j] })); j++; }
    else { out.push(el('del', { text: x[i] })); i++; }
  }
  return out;
}

// ---- simulation comparison -------------------------------------------------

function renderSimulation() {
  const sims = S.artifacts.filter((a) => a.kind === 'sim');
  if (!sims.length) return el('p', { class: 'muted', text: 'No simulation here: `prophet sim SYSTEM --policy CHOICE=P1,P2 --json > F`, then `prophet view F`.' });
  const out = [];
  sims.forEach((a, k) => {
    const results = a.data.results || [];
    out.push(el('h2', { text: `${a.data.system}: ${results.length} policies × ${a.data.seeds?.length ?? '?'} seeds (${a.name})` }));
    const names = [...new Set(results.flatMap((r) => Object.keys(r.objectives || {})))];
    out.push(el('table', { id: `sim-objectives-${k}` },
      el('tr', {}, el('th', { text: 'policy' }), names.map((n) => el('th', { text: `${n} (mean ± 95%)` }))),
      results.map((r) => el('tr', {}, el('td', { text: r.label }), names.map((n) => {
        const o = r.objectives?.[n];
        return el('td', { class: 'num', text: o ? `${fmt(o.mean)} ± ${fmt(o.ci95)}` : '–' });
      })))));
    names.forEach((n, j) => out.push(el('h2', { text: n }), intervals(`sim-${k}-${j}`, results, n)));
    const metrics = [...new Set(results.flatMap((r) => Object.keys(r.cdf || {})))];
    for (const m of metrics) {
      const series = results.filter((r) => r.cdf?.[m]).map((r) => ({
        label: r.label, points: r.cdf[m].values.map((v, i) => [v, r.cdf[m].quantiles[i]]),
      }));
      out.push(el('h2', { text: `${m}: distribution (median over seeds)` }),
        lineChart({ id: `cdf-${k}-${m}`, series, xLabel: `${m} (log scale)`, yLabel: 'fraction ≤ x', logX: true }));
    }
  });
  return out;
}

// Each policy's mean with its 95% interval, as a dot and a bar.
function intervals(id, results, name) {
  const rows = results.filter((r) => r.objectives?.[name]);
  const width = 640, rowH = 24, left = 220, right = 20, height = rows.length * rowH + 30;
  const lo = Math.min(...rows.map((r) => r.objectives[name].mean - r.objectives[name].ci95), 0);
  const hi = Math.max(...rows.map((r) => r.objectives[name].mean + r.objectives[name].ci95));
  const X = (v) => left + (v - lo) / Math.max(1e-12, hi - lo) * (width - left - right);
  return svg('svg', { id, width, height, viewBox: `0 0 ${width} ${height}` },
    rows.map((r, i) => {
      const o = r.objectives[name], y = 14 + i * rowH;
      return [svg('text', { x: left - 8, y: y + 4, 'text-anchor': 'end', text: r.label }),
        svg('line', { x1: X(o.mean - o.ci95), x2: X(o.mean + o.ci95), y1: y, y2: y, stroke: COLORS[i % COLORS.length], 'stroke-width': 3 }),
        svg('circle', { cx: X(o.mean), cy: y, r: 4, fill: COLORS[i % COLORS.length] }),
        svg('text', { x: X(o.mean), y: y - 6, 'text-anchor': 'middle', text: fmt(o.mean) })];
    }),
    svg('line', { class: 'axis', x1: left, x2: width - right, y1: height - 12, y2: height - 12 }),
    svg('text', { x: left, y: height - 1, text: fmt(lo) }), svg('text', { x: width - right, y: height - 1, 'text-anchor': 'end', text: fmt(hi) }));
}

boot().catch((e) => { document.body.prepend(el('p', { class: 'error', id: 'boot-error', text: e.message })); });
