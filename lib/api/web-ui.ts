import { createHash } from 'node:crypto';
import { SCHEDULES_SCRIPT } from './web-ui-schedules.js';

/**
 * The web view served at `GET /ui`: one self-contained page (inline CSS and vanilla JS, no external URLs)
 * over the HTTP API. It finds the API root by stripping `/ui` from its own path, so it works on the local
 * server and behind an API Gateway stage prefix alike, and it routes with the hash: `#/` (instances),
 * `#/instances/<id>`, `#/dlq`, `#/replay`, `#/schedules` (`web-ui-schedules.ts`). Every value from the API goes into the page as text, never as markup.
 */

const STYLE = String.raw`
:root { --fg: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --card: #fff; --accent: #2563eb;
  --ok: #16a34a; --bad: #dc2626; --warn: #d97706; --run: #2563eb; --timer: #94a3b8; --sub: #7c3aed; --callback: #0d9488; --cancelled: #a78bfa; --label: 230px; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 24px; padding: 0 24px; height: 52px; background: #111827; color: #fff; }
header strong { font-size: 16px; letter-spacing: .02em; }
header nav a { color: #cbd5e1; text-decoration: none; margin-right: 16px; padding: 15px 0; border-bottom: 2px solid transparent; }
header nav a[aria-current="page"] { color: #fff; border-bottom-color: #60a5fa; }
header .counters { margin-left: auto; display: flex; gap: 16px; font-size: 12px; color: #cbd5e1; }
header .counters b { color: #fff; font-weight: 600; margin-left: 4px; }
header .counters .bad b { color: #fca5a5; }
main { max-width: 1200px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 20px; margin: 4px 0 16px; display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
h1 .mono { font-size: 19px; }
h2 { font-size: 15px; margin: 0 0 12px; }
.row h2 { margin: 0; }
a { color: var(--accent); }
section, .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px; margin-bottom: 16px; }
form.filters, .row { display: flex; gap: 12px; align-items: flex-end; flex-wrap: wrap; }
label { display: flex; flex-direction: column; gap: 4px; font-size: 12px; color: var(--muted); }
input, select, textarea, button { font: inherit; color: inherit; }
input, select, textarea { padding: 6px 8px; border: 1px solid #cbd2d9; border-radius: 6px; background: #fff; }
textarea { font-family: ui-monospace, Menlo, Consolas, monospace; min-width: 280px; }
button { padding: 6px 14px; border: 1px solid #cbd2d9; border-radius: 6px; background: #fff; cursor: pointer; }
button:hover:not(:disabled) { background: #f0f4f8; }
button:disabled { opacity: .45; cursor: default; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--bad); border-color: #fca5a5; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; }
td.mono, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
tr.step td { color: #9aa5b1; }
tr.rewound td { color: #9aa5b1; text-decoration: line-through; }
td.custom { max-width: 260px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; background: #e4e7eb; color: #3e4c59; }
.badge.Completed { background: #dcfce7; color: #166534; } .badge.Failed { background: #fee2e2; color: #991b1b; }
.badge.Running, .badge.Pending { background: #dbeafe; color: #1e40af; } .badge.Suspended { background: #fef3c7; color: #92400e; }
.badge.Quarantined { background: #ffedd5; color: #9a3412; } .badge.Terminated { background: #e5e7eb; color: #374151; }
.badge.Cancelled { background: #ede9fe; color: #5b21b6; }
.muted { color: var(--muted); }
.notice { padding: 10px 12px; border-radius: 6px; background: #eff6ff; border: 1px solid #bfdbfe; margin-bottom: 12px; }
.notice.error { background: #fef2f2; border-color: #fecaca; color: #991b1b; }
.notice:empty { display: none; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px 24px; margin: 0; }
dl.facts dt { font-size: 12px; color: var(--muted); } dl.facts dd { margin: 0; }
details { margin-top: 8px; } summary { cursor: pointer; font-weight: 600; }
pre { background: #f8fafc; border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow: auto; max-height: 360px; margin: 8px 0 0; font-size: 12.5px; }
.tl { position: relative; }
.tl-row { display: flex; align-items: center; height: 26px; }
.tl-label { width: var(--label); flex: none; padding-right: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-size: 12.5px; }
.tl-label small { color: var(--muted); margin-left: 6px; }
.tl-track { position: relative; flex: 1; height: 100%; }
.tl-grid { position: absolute; top: 0; bottom: 0; left: var(--label); right: 0; pointer-events: none; }
.tl-grid i { position: absolute; top: 0; bottom: 0; border-left: 1px dashed var(--line); }
.tl-bar { position: absolute; top: 6px; height: 14px; min-width: 4px; border-radius: 3px; background: var(--ok); }
.tl-bar.failed { background: var(--bad); } .tl-bar.running { background: var(--run); opacity: .75; }
.tl-bar.timer { background: var(--timer); } .tl-bar.timer.pending { background: repeating-linear-gradient(45deg, #cbd5e1 0 4px, #e2e8f0 4px 8px); }
.tl-bar.sub { background: var(--sub); } .tl-bar.callback { background: var(--callback); } .tl-bar.execution { background: #334155; } .tl-bar.execution.failed { background: var(--bad); }
.tl-bar.execution.cancelled { background: var(--cancelled); }
.tl-marker { position: absolute; top: 6px; width: 12px; height: 12px; margin-left: -6px; transform: rotate(45deg); background: var(--warn); border-radius: 2px; }
.tl-axis { display: flex; height: 22px; border-top: 1px solid #cbd2d9; margin-top: 4px; }
.tl-axis .tl-track span { position: absolute; top: 3px; font-size: 11px; color: var(--muted); transform: translateX(-50%); white-space: nowrap; }
.legend { display: flex; gap: 16px; font-size: 12px; color: var(--muted); margin-top: 8px; flex-wrap: wrap; }
.legend i { display: inline-block; width: 12px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.pager { display: flex; gap: 16px; margin-top: 12px; }
td.problem { white-space: pre-wrap; word-break: break-word; }
td.token { word-break: break-all; max-width: 360px; }
`;

const SCRIPT = String.raw`
'use strict';
const base = location.pathname.replace(/\/ui\/?$/, '');
const main = document.getElementById('main');
const STATUSES = ['Pending', 'Running', 'Completed', 'Failed', 'Terminated', 'Cancelled', 'Suspended', 'Quarantined', 'ContinuedAsNew'];
let renders = 0;

/** Builds an element; strings become text nodes, so API data is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'style') Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== undefined && child !== null && child !== false) el.append(child instanceof Node ? child : String(child));
  return el;
}

async function api(method, path, body) {
  const init = { method, headers: { accept: 'application/json' } };
  // The local server and perdure ui refuse a write without this type, empty or not: no other site can send it.
  if (method !== 'GET') init.headers['content-type'] = 'application/json';
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(base + path, init);
  const text = await response.text();
  let data;
  try { data = text ? JSON.parse(text) : undefined; } catch { data = undefined; }
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || (data && data.message) || response.status + ' ' + response.statusText);
    error.code = data && data.error && data.error.code;
    throw error;
  }
  return data;
}

const pad = (n, w) => String(n).padStart(w || 2, '0');
function fmtTime(ms) {
  const d = new Date(ms);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
}
function fmtDuration(ms) {
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 60e3) return +(ms / 1000).toFixed(ms < 10e3 ? 2 : 1) + ' s';
  if (ms < 3600e3) return +(ms / 60e3).toFixed(1) + ' min';
  if (ms < 86400e3) return +(ms / 3600e3).toFixed(1) + ' h';
  return +(ms / 86400e3).toFixed(1) + ' d';
}
const badge = (status) => h('span', { class: 'badge ' + status, 'data-testid': 'status' }, status);
const json = (value) => value === undefined ? '(none)' : JSON.stringify(value, null, 2);
const instanceLink = (id) => h('a', { href: '#/instances/' + encodeURIComponent(id) }, id);
const failureText = (e) => e ? e.name + ': ' + e.message + (e.code ? ' (' + e.code + ')' : '') : '';
/** A moment from the API (ISO 8601) as local time and how far away it is, e.g. "2026-05-04 10:00:00.000 (in 3 d)". */
const when = (iso, testid) => {
  const ms = Date.parse(iso) - Date.now();
  return h('time', { datetime: iso, title: iso, 'data-testid': testid }, fmtTime(Date.parse(iso)) + ' (' + (ms >= 0 ? 'in ' + fmtDuration(ms) : fmtDuration(-ms) + ' ago') + ')');
};
/** A custom status in one table cell: its JSON, cut short (the cell's title holds all of it). */
const brief = (value, max) => { const text = JSON.stringify(value); return text.length > max ? text.slice(0, max - 1) + '…' : text; };
const FINISHED = ['Completed', 'Failed', 'Terminated', 'Cancelled'];

/** Replaces the page with the view a route renders, unless the reader has moved on meanwhile. */
async function show(title, render) {
  const token = ++renders;
  document.title = title + ' · Perdure';
  let view;
  try { view = await render(); } catch (error) { view = h('div', { class: 'notice error', role: 'alert' }, error.message); }
  if (token === renders) main.replaceChildren(view);
}

function route() {
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  const match = /^\/instances\/([^/]+)$/.exec(path);
  const page = match ? 'instances' : path === '/dlq' ? 'dlq' : path === '/replay' ? 'replay' : path === '/schedules' ? 'schedules' : 'instances';
  for (const a of document.querySelectorAll('header nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (match) return show(decodeURIComponent(match[1]), () => instancePage(decodeURIComponent(match[1])));
  if (path === '/dlq') return show('Dead letters', deadLettersPage);
  if (path === '/replay') return show('Replay checks', replayPage);
  if (path === '/schedules') return show('Schedules', () => schedulesPage());
  return show('Instances', () => listPage(new URLSearchParams(query || '')));
}

async function listPage(params) {
  const query = new URLSearchParams();
  for (const key of ['status', 'name', 'limit', 'cursor']) if (params.get(key)) query.set(key, params.get(key));
  if (!query.has('limit')) query.set('limit', '50');
  const page = await api('GET', '/instances?' + query);
  const version = params.get('version') || '';
  const instances = page.instances.filter((i) => !version || i.version === version);
  const field = (label, name, control) => h('label', {}, label, Object.assign(control, { name, id: 'filter-' + name }));
  const status = h('select', {}, h('option', { value: '' }, 'Any status'), STATUSES.map((s) => h('option', { value: s, selected: params.get('status') === s }, s)));
  const form = h('form', { class: 'filters', 'aria-label': 'Filter instances', onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) next.set(key, value);
    location.hash = '#/?' + next;
  } },
    field('Status', 'status', status),
    field('Orchestration name', 'name', h('input', { value: params.get('name') || '', placeholder: 'e.g. order' })),
    field('Version (this page)', 'version', h('input', { value: version, size: 8 })),
    field('Per page', 'limit', h('select', {}, ['10', '50', '100', '500'].map((n) => h('option', { selected: query.get('limit') === n }, n)))),
    h('button', { class: 'primary', type: 'submit' }, 'Apply'),
    h('button', { type: 'button', onclick: () => route() }, 'Refresh'));
  const rows = instances.map((i) => h('tr', { 'data-testid': 'instance-row', 'data-instance-id': i.instanceId },
    h('td', { class: 'mono' }, instanceLink(i.instanceId)), h('td', {}, i.name), h('td', {}, i.version), h('td', {}, badge(i.status)),
    h('td', {}, i.historyLength), h('td', {}, fmtTime(Date.parse(i.createdAt))), h('td', {}, fmtTime(Date.parse(i.updatedAt))),
    i.customStatus === undefined ? h('td', { class: 'muted' }) : h('td', { class: 'mono custom', title: JSON.stringify(i.customStatus), 'data-testid': 'custom-status-cell' }, brief(i.customStatus, 40))));
  const next = new URLSearchParams(params);
  if (page.cursor) next.set('cursor', page.cursor);
  const first = new URLSearchParams(params);
  first.delete('cursor');
  return h('div', {}, h('h1', {}, 'Instances'), h('section', {}, form),
    h('section', {}, instances.length === 0 ? h('p', { class: 'muted', 'data-testid': 'empty' }, 'No instances match these filters on this page.') :
      h('table', {}, h('thead', {}, h('tr', {}, ['Instance', 'Orchestration', 'Version', 'Status', 'Events', 'Created', 'Updated', 'Custom status'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)),
    h('div', { class: 'pager' }, params.get('cursor') && h('a', { href: '#/?' + first }, 'First page'), page.cursor && h('a', { href: '#/?' + next, 'data-testid': 'next-page' }, 'Next page →'))));
}

async function instancePage(id) {
  const path = '/instances/' + encodeURIComponent(id);
  const [status, history, waiting] = await Promise.all([api('GET', path + '?cost=true'), api('GET', path + '/history?payloads=keep'), api('GET', path + '/callbacks').catch((error) => {
    // An API from before the callback routes (perdure ui against an older stack): no section.
    if (error.code === 'ROUTE_NOT_FOUND') return undefined;
    throw error;
  })]);
  const notice = h('div', { class: 'notice', role: 'status', 'aria-live': 'polite', 'data-testid': 'action-result' });
  /** Sends an action; done() says what happened (default: the instance applies it at its next step). */
  const act = async (label, method, suffix, body, done) => {
    notice.className = 'notice';
    try {
      const result = await api(method, path + suffix, body);
      notice.replaceChildren(...(done ? done(result) : [label + ' sent. The instance applies it at its next step; refresh to see the result.']));
    } catch (error) { notice.className = 'notice error'; notice.textContent = error.message; }
  };
  const finished = FINISHED.includes(status.status);
  const reason = h('input', { id: 'action-reason', placeholder: 'recorded in history', maxlength: 1000 });
  const withReason = () => reason.value.trim() ? { reason: reason.value.trim() } : undefined;
  const cancellable = !finished && status.status !== 'Quarantined' && !status.cancelRequested;
  const eventName = h('input', { id: 'event-name', required: true, placeholder: 'e.g. approval' });
  const eventData = h('textarea', { id: 'event-data', rows: 2, placeholder: 'e.g. {"approved": true}' });
  const raise = h('form', { class: 'row', 'aria-label': 'Raise an event', onsubmit: (event) => {
    event.preventDefault();
    let data;
    try { data = eventData.value.trim() ? JSON.parse(eventData.value) : undefined; } catch (error) { notice.className = 'notice error'; notice.textContent = 'The event data is not valid JSON: ' + error.message; return; }
    void act('Event ' + JSON.stringify(eventName.value), 'POST', '/events/' + encodeURIComponent(eventName.value), data);
  } }, h('label', { for: 'event-name' }, 'Event name', eventName), h('label', { for: 'event-data' }, 'Data (JSON, optional)', eventData),
    h('button', { type: 'submit', disabled: finished }, 'Raise event'));
  const payload = (label, key) => {
    const pre = h('pre', { class: 'mono', 'data-testid': key + '-json' });
    return h('details', { 'data-testid': key + '-details', ontoggle: (event) => { if (event.target.open && !pre.textContent) pre.textContent = json(status[key]); } }, h('summary', {}, label), pre);
  };
  return h('div', {},
    h('p', {}, h('a', { href: '#/' }, '← Instances')),
    h('h1', {}, h('span', { class: 'mono', 'data-testid': 'instance-id' }, status.instanceId), badge(status.status)),
    notice,
    h('section', { 'aria-label': 'Summary' },
      h('dl', { class: 'facts' }, [['Orchestration', status.name + '@' + status.version], ['Generation', status.generation], ['History events', status.historyLength],
        ['Created', fmtTime(Date.parse(status.createdAt))], ['Updated', fmtTime(Date.parse(status.updatedAt))]].map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))),
        status.parentInstanceId && h('div', {}, h('dt', {}, 'Parent'), h('dd', { class: 'mono' }, instanceLink(status.parentInstanceId))),
        status.cancelRequested && h('div', {}, h('dt', {}, 'Cancel requested'), h('dd', { 'data-testid': 'cancel-requested' }, fmtTime(Date.parse(status.cancelRequested.at)) + (status.cancelRequested.reason ? ': ' + status.cancelRequested.reason : '')))),
      status.error && h('div', { class: 'notice error', style: { marginTop: '12px' }, 'data-testid': 'instance-error' }, failureText(status.error)),
      status.customStatus !== undefined && h('div', { style: { marginTop: '12px' } }, h('div', { class: 'muted', style: { fontSize: '12px' } }, 'Custom status (ctx.setStatus)'), h('pre', { class: 'mono', 'data-testid': 'custom-status' }, json(status.customStatus))),
      payload('Input', 'input'), payload('Output', 'output')),
    h('section', { 'aria-label': 'Actions' }, h('h2', {}, 'Actions'), h('div', { class: 'row' },
      h('label', { for: 'action-reason' }, 'Reason (optional)', reason),
      h('button', { class: 'danger', disabled: !cancellable, title: 'Its code sees a CancelledError at its pending calls, may clean up, and ends Cancelled',
        onclick: () => confirm('Cancel ' + id + '? Its code sees a CancelledError and may clean up; its sub-orchestrations follow their parentClose policy.') && act('Cancel', 'POST', '/cancel', withReason()) }, 'Cancel'),
      h('button', { class: 'danger', disabled: finished, onclick: () => confirm('Terminate ' + id + '?') && act('Terminate', 'POST', '/terminate', withReason()) }, 'Terminate'),
      h('button', { disabled: finished || status.status === 'Suspended', onclick: () => act('Suspend', 'POST', '/suspend', withReason()) }, 'Suspend'),
      h('button', { disabled: status.status !== 'Suspended', onclick: () => act('Resume', 'POST', '/resume') }, 'Resume'),
      h('button', { disabled: status.status !== 'Failed', title: 'After a fix is deployed: its failed calls run again and the code goes on',
        onclick: () => act('Rewind', 'POST', '/rewind', undefined, () => ['Rewind sent: the failed calls run again. Refresh to follow it.']) }, 'Rewind'),
      h('button', { disabled: !['Failed', 'Terminated', 'Cancelled'].includes(status.status), title: 'Start a new instance with the same input, on the latest version',
        onclick: () => act('Restart', 'POST', '/restart', undefined, (started) => ['Restarted as ', h('a', { href: '#/instances/' + encodeURIComponent(started.instanceId), 'data-testid': 'restarted-as' }, started.instanceId), '.']) }, 'Restart'),
      h('button', { onclick: () => route() }, 'Refresh')), h('div', { style: { marginTop: '12px' } }, raise)),
    costSection(status.cost),
    callbacksSection(waiting, history.events),
    h('section', { 'aria-label': 'Timeline' }, h('h2', {}, 'Timeline'), timeline(history.events, finished)),
    h('section', { 'aria-label': 'History' }, h('h2', {}, 'History (' + history.events.length + ' events)'), eventTable(history.events)));
}

/** What the instance cost so far (its ledger, priced by the API), with the line of each service; none for instances from before ledgers. */
function costSection(cost) {
  if (!cost) return false;
  const usd = (n) => n === 0 ? '$0' : '$' + (n < 0.01 ? n.toFixed(8) : n.toFixed(4));
  const rows = cost.lines.map((line) => h('tr', { 'data-testid': 'cost-line' }, h('td', {}, line.item), h('td', {}, line.usage), h('td', { class: 'mono' }, usd(line.usd))));
  return h('section', { 'aria-label': 'Cost' }, h('h2', {}, 'Cost'),
    h('p', { 'data-testid': 'cost-summary' }, usd(cost.totalUsd) + ' for ' + cost.ledger.steps + ' steps and ' + cost.ledger.attempts + ' attempts',
      h('small', { class: 'muted' }, ' (estimated from counted requests and item sizes, at ' + (cost.prices && cost.prices.lambdaArchitecture ? cost.prices.lambdaArchitecture + ' ' : '') + 'list prices)')),
    h('details', { 'data-testid': 'cost-details' }, h('summary', {}, 'By service'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Item'), h('th', {}, 'Usage'), h('th', {}, 'USD'))), h('tbody', {}, rows))));
}

/** The callbacks the instance waits for (shown once its code has made one): name, deadlines and token. */
function callbacksSection(waiting, events) {
  if (!waiting || !events.some((e) => e.type === 'CallbackCreated')) return false;
  const heading = h('h2', {}, 'Callbacks waiting (' + waiting.callbacks.length + ')');
  if (waiting.callbacks.length === 0) return h('section', { 'aria-label': 'Callbacks' }, heading, h('p', { class: 'muted', 'data-testid': 'callbacks-none' }, 'No callback is waiting: each was completed, failed or expired.'));
  const rows = waiting.callbacks.map((c) => h('tr', { 'data-testid': 'callback-row' },
    h('td', { 'data-testid': 'callback-name' }, c.name || 'position ' + c.position),
    h('td', {}, when(c.createdAt, 'callback-created')),
    h('td', {}, c.timeoutAt ? when(c.timeoutAt, 'callback-expires') : h('span', { class: 'muted' }, 'no timeout')),
    h('td', {}, c.heartbeatDeadline ? [when(c.heartbeatDeadline, 'callback-heartbeat'), h('br'), h('small', { class: 'muted' }, 'a heartbeat every ' + c.heartbeatTimeout + (c.lastHeartbeatAt ? ', last ' + fmtTime(Date.parse(c.lastHeartbeatAt)) : ', none yet'))] : h('span', { class: 'muted' }, 'none')),
    h('td', { class: 'mono token', 'data-testid': 'callback-token' }, c.token)));
  return h('section', { 'aria-label': 'Callbacks' }, heading,
    h('p', { class: 'muted' }, 'An outside system completes a callback with its token (POST /callbacks/{token}/succeed or fail, or perdure callback succeed), or with a signed URL (perdure callback urls).'),
    h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Created', 'Expires', 'Heartbeat due', 'Token'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)));
}

/** One row per activity attempt, timer, sub-orchestration and callback, bars placed on a shared time axis. */
function timeline(events, finished) {
  if (events.length === 0) return h('p', { class: 'muted' }, 'No history yet.');
  const rows = [];
  const byTask = new Map();
  const add = (row, taskId) => { rows.push(row); if (taskId !== undefined) byTask.set(taskId, row); };
  const start = events[0].timestamp;
  let end = events[events.length - 1].timestamp;
  if (!finished) end = Math.max(end, Date.now());
  const execution = { kind: 'execution', label: 'execution', start, end, state: finished ? 'ok' : 'running', title: 'running' };
  add(execution);
  for (const e of events) {
    if (e.type === 'ExecutionStarted') execution.label = execution.title = e.name + '@' + e.version;
    else if (e.type === 'ActivityScheduled') add({ kind: 'activity', label: e.name + (e.attempt > 1 ? ' · attempt ' + e.attempt : ''), start: e.timestamp, state: 'running', title: e.name + ', attempt ' + e.attempt }, e.taskId);
    else if (e.type === 'TimerCreated') add({ kind: 'timer', label: e.purpose === 'sleep' ? 'sleep' : e.purpose + ' timer', start: e.timestamp, fireAt: e.fireAt, state: 'pending', title: e.purpose + ' timer due ' + fmtTime(e.fireAt) + (finished ? ', not fired' : '') }, e.taskId);
    else if (e.type === 'SubOrchestrationScheduled') add({ kind: 'sub', label: '↳ ' + e.name, href: '#/instances/' + encodeURIComponent(e.instanceId), start: e.timestamp, state: 'running', title: 'sub-orchestration ' + e.name + ' (' + e.instanceId + ')' }, e.taskId);
    else if (e.type === 'CallbackCreated') add({ kind: 'callback', label: 'callback ' + (e.name || e.taskId), start: e.timestamp, state: 'running', title: 'callback ' + (e.name || 'at position ' + e.taskId) + (e.timeoutAt ? ', expires ' + fmtTime(e.timeoutAt) : '') }, e.taskId);
    else if (e.type === 'EventRaised') add({ kind: 'event', label: 'event: ' + e.name, start: e.timestamp, title: 'event ' + e.name + ' at ' + fmtTime(e.timestamp) });
    else if (e.type === 'ExecutionFailed') Object.assign(execution, { state: 'failed', title: execution.title + ' failed: ' + failureText(e.error) });
    else if (e.type === 'ExecutionRewound') Object.assign(execution, { state: finished ? 'ok' : 'running', title: execution.title + ', rewound' });
    else if (e.type === 'ExecutionCancelRequested') add({ kind: 'event', label: 'cancel requested', start: e.timestamp, title: 'cancel requested at ' + fmtTime(e.timestamp) + (e.reason ? ': ' + e.reason : '') });
    else if (e.type === 'ExecutionCancelled') Object.assign(execution, { state: 'cancelled', title: execution.title + ' cancelled' + (e.reason ? ': ' + e.reason : '') });
    else if (/^(Execution(Completed|Terminated)|ContinuedAsNew)$/.test(e.type)) execution.title += ' ' + e.type.replace('Execution', '').toLowerCase() + (e.reason ? ': ' + e.reason : '');
    const row = 'taskId' in e && !/Scheduled|Created|Heartbeat/.test(e.type) ? byTask.get(e.taskId) : undefined;
    if (row) {
      const failed = /Failed/.test(e.type);
      Object.assign(row, { end: e.timestamp, state: failed ? 'failed' : 'ok' });
      row.title = row.title.replace(', not fired', '') + (failed ? ' failed: ' + failureText(e.error) : e.type === 'TimerFired' ? ', fired' : ', completed');
    }
  }
  const span = Math.max(end - start, 1);
  const pct = (t) => (Math.min(Math.max(t, start), end) - start) / span * 100 + '%';
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 1800e3, 3600e3, 7200e3, 21600e3, 43200e3, 86400e3, 172800e3, 604800e3, 2592000e3]
    .find((s) => span / s <= 8) || span;
  const ticks = [];
  for (let t = 0; t <= span; t += step) ticks.push(t);
  const grid = h('div', { class: 'tl-grid', 'aria-hidden': 'true' }, ticks.map((t) => h('i', { style: { left: t / span * 100 + '%' } })));
  const rowEls = rows.map((row) => {
    const rowEnd = row.end !== undefined ? row.end : row.kind === 'timer' ? Math.min(row.fireAt, end) : end;
    const took = row.kind === 'event' || (row.state === 'pending' && finished) ? '' : fmtDuration(rowEnd - row.start);
    const title = row.title + (took && ' (' + took + ')');
    const mark = row.kind === 'event'
      ? h('div', { class: 'tl-marker', role: 'img', 'aria-label': title, title, 'data-testid': 'timeline-marker', style: { left: pct(row.start) } })
      : h('div', { class: 'tl-bar ' + row.kind + ' ' + row.state, role: 'img', 'aria-label': title, title, 'data-testid': 'timeline-bar', style: { left: pct(row.start), width: 'calc(' + pct(rowEnd) + ' - ' + pct(row.start) + ')' } });
    return h('div', { class: 'tl-row', 'data-testid': 'timeline-row', 'data-kind': row.kind, 'data-state': row.state || '' },
      h('div', { class: 'tl-label', title: row.label }, row.href ? h('a', { href: row.href }, row.label) : row.label,
        row.kind !== 'event' && h('small', {}, took || 'not fired')), h('div', { class: 'tl-track' }, mark));
  });
  const axis = h('div', { class: 'tl-axis', 'aria-hidden': 'true' }, h('div', { class: 'tl-label muted' }, fmtTime(start)),
    h('div', { class: 'tl-track' }, ticks.slice(1).map((t) => h('span', { style: { left: t / span * 100 + '%' } }, '+' + fmtDuration(t)))));
  const legend = h('div', { class: 'legend' }, [['var(--ok)', 'completed'], ['var(--bad)', 'failed'], ['var(--run)', 'running'], ['var(--timer)', 'timer'], ['var(--sub)', 'sub-orchestration'], ['var(--callback)', 'callback'], ['var(--cancelled)', 'cancelled'], ['var(--warn)', 'external event']]
    .map(([color, text]) => h('span', {}, h('i', { style: { background: color } }), text)));
  return h('div', { 'data-testid': 'timeline' }, h('div', { class: 'tl' }, grid, rowEls), axis, legend);
}

function describeEvent(e) {
  switch (e.type) {
    case 'ExecutionStarted': return e.name + '@' + e.version + (e.parent ? ' (child of ' + e.parent.instanceId + ')' : '');
    case 'ActivityScheduled': return e.name + ' · task ' + e.taskId + ' · attempt ' + e.attempt;
    case 'TimerCreated': return e.purpose + ' · task ' + e.taskId + ' · due ' + fmtTime(e.fireAt);
    case 'SubOrchestrationScheduled': return e.name + ' · task ' + e.taskId + ' · ' + e.instanceId;
    case 'ActivityFailed': case 'SubOrchestrationFailed': case 'CallbackFailed': return 'task ' + e.taskId + ' · ' + failureText(e.error);
    case 'CallbackCreated': return (e.name || 'callback') + ' · task ' + e.taskId + (e.timeoutAt ? ' · expires ' + fmtTime(e.timeoutAt) : '') + (e.heartbeatTimeoutMs ? ' · a heartbeat every ' + fmtDuration(e.heartbeatTimeoutMs) : '');
    case 'ExecutionFailed': return failureText(e.error);
    case 'EventRaised': return e.name;
    case 'PatchMarker': return e.changeId;
    case 'ContinuedAsNew': return 'version ' + e.version;
    case 'ExecutionSuspended': case 'ExecutionTerminated': case 'ExecutionCancelRequested': case 'ExecutionCancelled': return e.reason || '';
    case 'ExecutionRewound': return 'undid events ' + e.rewound.join(', ');
    default: return 'taskId' in e ? 'task ' + e.taskId : '';
  }
}

function eventTable(events) {
  const start = events.length ? events[0].timestamp : 0;
  // Events a rewind undid stay in history, struck through: replay skips them.
  const rewound = new Set(events.flatMap((e) => e.type === 'ExecutionRewound' ? e.rewound : []));
  return h('table', { 'data-testid': 'history-table' },
    h('thead', {}, h('tr', {}, ['#', 'Time', 'Event', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, events.map((e) => h('tr', { class: rewound.has(e.eventId) ? 'rewound' : e.type === 'StepStarted' ? 'step' : '', title: rewound.has(e.eventId) ? 'undone by a rewind' : undefined },
      h('td', {}, e.eventId), h('td', { title: fmtTime(e.timestamp) }, '+' + fmtDuration(e.timestamp - start)), h('td', {}, e.type), h('td', { class: 'mono' }, describeEvent(e))))));
}

async function deadLettersPage() {
  return h('div', {}, h('h1', {}, 'Dead letters'), await Promise.all([deadLetterSection('activities'), deadLetterSection('orchestrations')]));
}

/** One queue's dead letters; a redrive reloads the section and keeps its result on show. */
async function deadLetterSection(queue, message) {
  const heading = h('h2', {}, queue === 'activities' ? 'Activity tasks' : 'Orchestration steps');
  let page;
  try { page = await api('GET', '/dlq/' + queue); } catch (error) {
    if (error.code !== 'ROUTE_NOT_FOUND') throw error;
    return h('section', { 'data-testid': 'dlq-' + queue }, heading, h('p', { class: 'muted', 'data-testid': 'dlq-unavailable' }, 'This runtime keeps no dead letters: the in-memory runtime has no dead-letter queues.'));
  }
  const notice = h('div', { class: message && message.error ? 'notice error' : 'notice', role: 'status', 'aria-live': 'polite', 'data-testid': 'dlq-result' }, message && message.text);
  const redrive = async (messageId) => {
    let next;
    try {
      const result = await api('POST', '/dlq/' + queue + '/redrive', messageId === undefined ? undefined : { messageId });
      next = { text: 'Redriven ' + result.redriven.length + ' message' + (result.redriven.length === 1 ? '' : 's') + '.' };
    } catch (error) { next = { text: error.message, error: true }; }
    section.replaceWith(await deadLetterSection(queue, next).catch((error) => h('div', { class: 'notice error', role: 'alert' }, error.message)));
  };
  const rows = page.deadLetters.map((d) => h('tr', { 'data-testid': 'dead-letter' },
    h('td', { class: 'mono' }, d.messageId), h('td', { class: 'mono' }, instanceLink(d.instanceId)), h('td', {}, d.outcome), h('td', {}, fmtTime(Date.parse(d.deadAt))),
    h('td', {}, h('details', {}, h('summary', {}, 'Message'), h('pre', {}, json(d.message)))),
    h('td', {}, h('button', { onclick: () => redrive(d.messageId), 'aria-label': 'Redrive ' + d.messageId }, 'Redrive'))));
  const section = h('section', { 'data-testid': 'dlq-' + queue },
    h('div', { class: 'row', style: { justifyContent: 'space-between', alignItems: 'center', marginBottom: '12px' } }, heading,
      h('button', { disabled: rows.length === 0, onclick: () => confirm('Redrive every dead letter of the ' + queue + ' queue?') && redrive() }, 'Redrive all')),
    notice,
    rows.length === 0 ? h('p', { class: 'muted', 'data-testid': 'dlq-empty' }, 'No dead letters.') :
      h('table', {}, h('thead', {}, h('tr', {}, ['Message id', 'Instance', 'Outcome', 'Dead at', 'Message', ''].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)),
    page.cursor && h('p', { class: 'muted' }, 'Only the first page is shown: redrive these to see the next ones.'));
  return section;
}

/** What shadow replay found: live histories the deployed code no longer replays, and its last run. */
async function replayPage() {
  const heading = h('h1', {}, 'Replay checks');
  let result;
  try { result = await api('GET', '/replay-findings?limit=100'); } catch (error) {
    if (error.code !== 'ROUTE_NOT_FOUND') throw error;
    return h('div', {}, heading, h('section', {}, h('p', { class: 'muted', 'data-testid': 'replay-unavailable' }, 'This runtime keeps no replay findings: shadow replay runs on AWS, where the DurableFunctions construct schedules it.')));
  }
  const run = result.lastRun;
  const summary = run
    ? h('p', { 'data-testid': 'replay-last-run' }, 'Last run ' + fmtTime(Date.parse(run.at)) + ': ' + run.replayed + ' of ' + run.inFlight + ' instances in flight replayed, ' + run.diverged + ' no longer replay' + (run.diverged === 1 ? 's' : '') + '.' + (run.incomplete ? ' Stopped early: ' + run.incomplete : ''))
    : h('p', { class: 'muted', 'data-testid': 'replay-last-run' }, 'Shadow replay has not run yet.');
  const rows = result.findings.map((f) => h('tr', { 'data-testid': 'replay-finding' },
    h('td', {}, fmtTime(Date.parse(f.foundAt))), h('td', { class: 'mono' }, instanceLink(f.instanceId)), h('td', {}, f.orchestration), h('td', {}, badge(f.status)), h('td', { class: 'mono problem' }, f.problem)));
  return h('div', {}, heading,
    h('section', { 'aria-label': 'Last run' }, h('p', { class: 'muted' }, 'Shadow replay replays a few live histories against the deployed code on a schedule. A history listed here would stop its instance at its next step: deploy a fix (perdure deploy-check tells you when it replays).'), summary),
    h('section', { 'aria-label': 'Findings' }, h('h2', {}, 'Histories that no longer replay'),
      rows.length === 0 ? h('p', { class: 'muted', 'data-testid': 'replay-none' }, 'None found.') :
        h('table', {}, h('thead', {}, h('tr', {}, ['Found', 'Instance', 'Orchestration', 'Status', 'Problem'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows))));
}

/**
 * The header's counters strip, from GET /metrics (npm start): the runtime's totals since it started,
 * refreshed every 5 s. A runtime without counters (a deployed stack: its metrics are in CloudWatch) hides it.
 */
const COUNTERS = [['Steps', 'Steps'], ['ActivityAttempts', 'Attempts'], ['ActivityFailures', 'Failures'], ['ActivityRetries', 'Retries'], ['Quarantines', 'Quarantined'], ['DeadLetters', 'Dead letters'], ['PayloadOffloads', 'Offloads']];
async function refreshCounters() {
  const strip = document.getElementById('counters');
  let snapshot;
  try { snapshot = await api('GET', '/metrics'); } catch (error) {
    if (error.code === 'ROUTE_NOT_FOUND') return;
    snapshot = undefined;
  }
  if (snapshot) {
    strip.replaceChildren(...COUNTERS.map(([name, label]) => {
      const value = Math.round(snapshot.totals[name] || 0);
      const bad = value > 0 && (name === 'ActivityFailures' || name === 'Quarantines' || name === 'DeadLetters');
      return h('span', { class: bad ? 'bad' : '', 'data-metric': name, title: name + ' since ' + fmtTime(Date.parse(snapshot.since)) }, label, h('b', {}, value.toLocaleString('en')));
    }));
    strip.hidden = false;
  }
  setTimeout(refreshCounters, 5000);
}

window.addEventListener('hashchange', route);
void route();
void refreshCounters();
` + SCHEDULES_SCRIPT;

export const WEB_UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Perdure</title>
<style>${STYLE}</style>
</head>
<body>
<header><strong>Perdure</strong><nav aria-label="Main"><a href="#/" data-page="instances">Instances</a><a href="#/dlq" data-page="dlq">Dead letters</a><a href="#/replay" data-page="replay">Replay checks</a><a href="#/schedules" data-page="schedules">Schedules</a></nav><div id="counters" class="counters" aria-label="Runtime counters" hidden></div></header>
<main id="main"><p class="muted">Loading…</p></main>
<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The response headers of `GET /ui`: the page's inline script and style are allowed by their hashes, nothing else. */
export const WEB_UI_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': [
    "default-src 'none'",
    `script-src ${sha256(SCRIPT)}`,
    `style-src ${sha256(STYLE)}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};
