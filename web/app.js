// dosips live page: polls /api/state, listens to /api/events (server-sent
// events), asks /api/history; admins may ban, unban, acknowledge and tune.
// Nothing here is fetched from anywhere but the daemon itself.
'use strict';

const $ = (id) => document.getElementById(id);
const CLASSES = [['tcp', '--tcp'], ['udp', '--udp'], ['icmp', '--icmp'], ['other', '--other']];
let token = new URLSearchParams(location.hash.slice(1)).get('token') || localStorage.getItem('dosips-token') || '';
let state = null, tuneShown = false, pending = null;

function headers(json) {
  const h = json ? { 'Content-Type': 'application/json' } : {};
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

async function api(path, body) {
  const opt = body === undefined ? { headers: headers(false) }
    : { method: 'POST', headers: headers(true), body: JSON.stringify(body) };
  const r = await fetch(path, opt);
  let data = {};
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  return { status: r.status, data };
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function fmtDur(s) {
  s = Math.max(0, Math.round(s));
  if (s < 120) return s + 's';
  if (s < 7200) return Math.round(s / 60) + 'm';
  return Math.round(s / 3600) + 'h';
}

function fmtBytes(b) {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (b >= 1000 && i < u.length - 1) { b /= 1000; i++; }
  return (i ? b.toFixed(1) : b) + ' ' + u[i];
}

function drawChart(rates) {
  const c = $('chart'), ctx = c.getContext('2d');
  const w = c.width = c.clientWidth * devicePixelRatio, h = c.height = c.clientHeight * devicePixelRatio;
  const n = rates.tcp.length, span = Math.min(300, Math.max(60, n));
  let max = 10;
  for (const [k] of CLASSES) for (const v of rates[k]) max = Math.max(max, v);
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#dde'; ctx.fillStyle = '#667'; ctx.font = (11 * devicePixelRatio) + 'px sans-serif';
  ctx.beginPath(); ctx.moveTo(0, h - 1); ctx.lineTo(w, h - 1); ctx.stroke();
  ctx.fillText(max + ' pps', 4, 12 * devicePixelRatio);
  ctx.fillText('-' + (span >= 120 ? Math.round(span / 60) + ' min' : span + ' s'), 4, h - 4); ctx.fillText('now', w - 28 * devicePixelRatio, h - 4);
  const css = getComputedStyle(document.documentElement);
  for (const [k, color] of CLASSES) {
    ctx.strokeStyle = css.getPropertyValue(color); ctx.lineWidth = 2 * devicePixelRatio;
    ctx.beginPath();
    rates[k].forEach((v, i) => {
      const x = w - (n - 1 - i) * w / (span - 1), y = h - 2 - v * (h - 16) / max;
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
  }
  const last = (k) => rates[k].length ? rates[k][rates[k].length - 1] : 0;
  $('rate-now').textContent = CLASSES.map(([k]) => k + ' ' + last(k)).join(' · ');
  $('chart').dataset.total = CLASSES.reduce((a, [k]) => a + rates[k].reduce((x, y) => x + y, 0), 0);
}

function renderBans(s) {
  const tb = $('bans').tBodies[0];
  tb.replaceChildren();
  for (const b of s.bans) {
    const tr = el('tr');
    tr.dataset.src = b.src;
    tr.append(el('td', b.src), el('td', b.kind), el('td', fmtDur(b.left_s)), el('td', fmtDur(b.duration_s)));
    const td = el('td');
    if (s.role === 'admin') {
      const btn = el('button', 'unban');
      btn.onclick = () => act('unban', { src: b.src });
      td.append(btn);
    }
    tr.append(td);
    tb.append(tr);
  }
  $('bans-count').textContent = s.bans_active + ' in force';
  $('drop-packets').textContent = s.drops.packets;
  $('drop-bytes').textContent = fmtBytes(s.drops.bytes);
}

function renderTop(top) {
  const box = $('top');
  box.replaceChildren();
  for (const [kind, list] of Object.entries(top)) {
    if (!list.length) continue;
    box.append(el('h3', kind));
    const ol = el('ol');
    for (const t of list) ol.append(el('li', t.src + ' — ' + t.count));
    box.append(ol);
  }
  if (!box.children.length) box.append(el('p', 'no source active in its window', 'muted'));
}

function ago(t) {
  return t > 0 ? fmtDur(Math.max(0, Math.round(state.now - t))) + ' ago' : 'never';
}

function renderIntel(s) {
  const box = $('intel');
  box.replaceChildren();
  for (const f of s.feeds || []) {
    box.append(el('p', f.name + ' (' + f.action + '): ' + f.entries + ' entries, loaded ' +
                  ago(f.last_refresh) + (f.error ? ' — ' + f.error : ''), f.error ? 'down' : ''));
  }
  const c = s.crowdsec;
  if (c) {
    box.append(el('p', 'CrowdSec: ' + (c.up ? 'up' : 'down') + ', ' + c.pushed + ' pushed, ' +
                  c.queued + ' waiting, ' + c.applied + ' decisions banned here, synced ' +
                  ago(c.last_pull) + (c.error ? ' — ' + c.error : ''), c.up ? '' : 'down'));
  }
  const g = s.bgp;
  if (g) {
    box.append(el('p', 'FlowSpec upstream: session ' + (g.session || 'not asked yet') + '; ' + g.active + ' announced now, ' + g.made + ' made, ' +
                  g.withdrawn + ' withdrawn, ' + g.failed + ' failed' +
                  (g.error ? ' — ' + g.error : ''), g.error ? 'down' : ''));
  }
  if (!box.children.length) box.append(el('p', 'no feeds, no fleet link', 'muted'));
}

function renderTune(tune) {
  if (tuneShown) return;
  tuneShown = true;
  const box = $('tune');
  for (const [k, v] of Object.entries(tune)) {
    const l = el('label', k), i = el('input');
    i.name = k; i.value = v; i.dataset.orig = v;
    l.append(i); box.append(l);
  }
}

async function refresh() {
  try {
    const r = await api('/api/state');
    if (r.status === 401) { $('status').textContent = 'token needed'; $('status').className = 'down'; return; }
    state = r.data;
    $('status').textContent = (state.source || 'replay') + (state.dry_run ? ' (dry run)' : '');
    $('status').className = '';
    $('role').textContent = state.role;
    document.body.classList.toggle('is-admin', state.role === 'admin');
    drawChart(state.rates);
    renderBans(state);
    renderTop(state.top);
    renderIntel(state);
    renderTune(state.tune);
  } catch (e) {
    $('status').textContent = 'unreachable'; $('status').className = 'down';
  }
}

function soon() {
  if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 50);
}

function feed() {
  const es = new EventSource('/api/events' + (token ? '?token=' + encodeURIComponent(token) : ''));
  es.onmessage = (m) => {
    let e;
    try { e = JSON.parse(m.data); } catch (x) { return; }
    const what = e.event === 'control' ? e.who + ' (' + e.role + '): ' + e.action + ' ' + (e.detail || '')
      : (e.src || 'many') + ' ' + (e.kind || '') + (e.count ? ' ' + e.count + '/' + e.threshold : '') +
        (e.duration_s ? ' ' + e.duration_s + 's' : '') + (e.reason ? ' (' + e.reason + ')' : '');
    const li = el('li', e.ts.slice(11, 19) + ' ' + e.event + ' ' + what, e.event);
    $('feed').prepend(li);
    while ($('feed').children.length > 200) $('feed').lastChild.remove();
    if (e.event !== 'alert') soon();
  };
}

async function act(action, body) {
  const r = await api('/api/' + action, body);
  const msg = r.data.message || r.data.error || ('HTTP ' + r.status);
  $('tune-msg').textContent = '';
  if (r.status !== 200) alert(action + ': ' + msg);
  refresh();
  return r;
}

function sinceUs(v) {
  const m = /^(\d+)([hd])$/.exec(v);
  if (!m) return '';
  return Math.floor((Date.now() - m[1] * (m[2] === 'h' ? 3600e3 : 86400e3)) * 1000);
}

async function history(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams();
  const since = sinceUs($('h-since').value);
  if (since) q.set('since_us', since);
  for (const [k, id] of [['event', 'h-event'], ['kind', 'h-kind'], ['src', 'h-src']])
    if ($(id).value) q.set(k, $(id).value);
  q.set('limit', '200');
  const r = await api('/api/history?' + q);
  const tb = $('history').tBodies[0];
  tb.replaceChildren();
  if (r.status !== 200) { $('h-msg').textContent = r.data.error || ('HTTP ' + r.status); return; }
  $('h-msg').textContent = r.data.rows.length + ' rows';
  for (const row of r.data.rows) {
    const tr = el('tr');
    tr.dataset.src = row.src || '';
    tr.dataset.event = row.event;
    const detail = (row.ack ? 'ack by ' + row.ack.by + ': ' + row.ack.note + ' · ' : '') + detailOf(row);
    tr.append(el('td', row.id), el('td', new Date(row.ts).toLocaleString()), el('td', row.event),
      el('td', row.kind || row.action || ''), el('td', row.src || ''), el('td', detail, 'detail'));
    const td = el('td');
    if (state && state.role === 'admin' && row.event === 'alert' && !row.ack) {
      const b = el('button', 'ack');
      b.onclick = async () => {
        const note = prompt('Note for alert ' + row.id, 'seen');
        if (note !== null) { await act('ack', { id: row.id, note }); history(); }
      };
      td.append(b);
    }
    tr.append(td);
    tb.append(tr);
  }
}

function detailOf(j) {
  if (j.event === 'control') return j.role + ' ' + (j.who || '') + ': ' + j.action + ' ' + (j.detail || '');
  if (j.count) return j.count + '/' + j.threshold + ' in ' + j.window_s + 's to ' + j.dst;
  if (j.duration_s) return j.duration_s + 's, offence ' + j.offences;
  return j.reason || '';
}

async function tune(ev, save) {
  ev.preventDefault();
  const settings = {};
  for (const i of $('tune').querySelectorAll('input'))
    if (i.value !== i.dataset.orig || save) settings[i.name] = i.value;
  const r = await api('/api/tune', { settings, save });
  const p = $('tune-msg');
  p.textContent = r.data.message || r.data.error;
  p.className = r.status === 200 ? '' : 'err';
  if (r.status === 200) {
    for (const i of $('tune').querySelectorAll('input')) i.dataset.orig = i.value;
  }
}

$('tokenform').onsubmit = (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  localStorage.setItem('dosips-token', token);
  location.reload();
};
$('banform').onsubmit = (e) => {
  e.preventDefault();
  const body = { src: $('ban-src').value.trim() };
  if ($('ban-dur').value.trim()) body.duration = $('ban-dur').value.trim();
  act('ban', body);
};
$('histform').onsubmit = history;
$('tune-apply').onclick = (e) => tune(e, false);
$('tune-save').onclick = (e) => tune(e, true);
$('legend').append(...CLASSES.map(([k, c]) => {
  const s = el('span', k), i = el('i');
  i.style.background = `var(${c})`;
  s.prepend(i);
  return s;
}));
refresh();
feed();
history();
setInterval(refresh, 1000);
