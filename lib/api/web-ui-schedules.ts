/**
 * The web view's Schedules page (`#/schedules`): each schedule of the app with its expression, time zone,
 * next firing, last instance and its status, and whether it is paused, with Trigger and Pause/Resume
 * buttons. Browser code, appended to the page's script (`web-ui.ts`): it uses that script's `h`, `api`,
 * `badge`, `instanceLink` and `fmtTime`, and puts every value from the API into the page as text.
 */
export const SCHEDULES_SCRIPT = String.raw`
function scheduleActionText(name, verb, result) {
  if (verb === 'pause') return 'Paused ' + name + ': its firings start nothing until it is resumed.';
  if (verb === 'resume') return 'Resumed ' + name + '.';
  if (result.outcome === 'started') return 'Triggered ' + name + ': started ' + result.instanceId + (result.previousInstanceId ? ' (ended ' + result.previousInstanceId + ')' : '') + '.';
  if (result.outcome === 'skipped') return 'Triggered ' + name + ': started nothing, ' + result.previousInstanceId + ' still runs (overlap skip).';
  return 'Triggered ' + name + ': started nothing (' + result.outcome + ').';
}

async function schedulesPage(message) {
  const heading = h('h1', {}, 'Schedules');
  let result;
  try { result = await api('GET', '/schedules'); } catch (error) {
    if (error.code !== 'ROUTE_NOT_FOUND') throw error;
    return h('div', {}, heading, h('section', {}, h('p', { class: 'muted', 'data-testid': 'schedules-unavailable' }, 'This runtime fires no schedules.')));
  }
  const notice = h('div', { class: message && message.error ? 'notice error' : 'notice', role: 'status', 'aria-live': 'polite', 'data-testid': 'schedule-result' }, message && message.text);
  const act = async (name, verb) => {
    let next;
    try { next = { text: scheduleActionText(name, verb, await api('POST', '/schedules/' + encodeURIComponent(name) + '/' + verb)) }; } catch (error) { next = { text: error.message, error: true }; }
    view.replaceWith(await schedulesPage(next).catch((error) => h('div', { class: 'notice error', role: 'alert' }, error.message)));
  };
  const rows = result.schedules.map((s) => h('tr', { 'data-testid': 'schedule-row', 'data-schedule': s.name },
    h('td', { class: 'mono' }, s.name, s.deployed === false && h('span', { class: 'badge Quarantined', title: 'The stack does not deploy this schedule: pass app.schedules() to the DurableFunctions construct.', 'data-testid': 'schedule-undeployed' }, 'not deployed')),
    h('td', {}, s.orchestration),
    h('td', { class: 'mono', 'data-testid': 'schedule-expression' }, s.expression),
    h('td', {}, s.timezone),
    h('td', { 'data-testid': 'schedule-next', title: s.nextFiring || '' }, s.nextFiring ? fmtTime(Date.parse(s.nextFiring)) : '(none)'),
    h('td', { class: 'mono', 'data-testid': 'schedule-last' }, s.lastInstance ? [instanceLink(s.lastInstance.instanceId), ' ', s.lastInstance.status ? badge(s.lastInstance.status) : h('span', { class: 'muted' }, 'purged')] : h('span', { class: 'muted' }, 'none yet')),
    h('td', { 'data-testid': 'schedule-paused' }, s.pausedBy === 'definition' ? 'yes (definition)' : s.paused ? 'yes' : 'no'),
    h('td', {}, h('div', { class: 'row' },
      h('button', { onclick: () => act(s.name, 'trigger'), 'aria-label': 'Trigger ' + s.name }, 'Trigger'),
      s.paused
        ? h('button', { onclick: () => act(s.name, 'resume'), disabled: s.pausedBy === 'definition', title: s.pausedBy === 'definition' ? 'Paused in its definition: deploy it without paused: true' : undefined, 'aria-label': 'Resume ' + s.name }, 'Resume')
        : h('button', { onclick: () => act(s.name, 'pause'), 'aria-label': 'Pause ' + s.name }, 'Pause')))));
  const view = h('div', {}, heading,
    h('section', { 'aria-label': 'Schedules' },
      h('p', { class: 'muted' }, 'Each firing starts an instance named after the schedule and the firing time, so a firing delivered twice starts one. Times are shown in this browser’s time zone; a cron is read in its own.'),
      notice,
      rows.length === 0 ? h('p', { class: 'muted', 'data-testid': 'schedules-none' }, 'The app defines no schedules (app.schedule).') :
        h('table', {}, h('thead', {}, h('tr', {}, ['Schedule', 'Orchestration', 'Expression', 'Time zone', 'Next firing', 'Last instance', 'Paused', ''].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows))));
  return view;
}
`;
