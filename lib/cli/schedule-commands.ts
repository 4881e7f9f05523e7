import type { ScheduleFiring, ScheduleSummary } from '../runtime/schedules.js';
import type { Command, CommandContext } from './commands.js';
import { table } from './format.js';

/** `perdure schedule list | trigger | pause | resume`: the app's schedules, over `/schedules`. */

const json = { json: { type: 'boolean', description: 'print JSON instead of text' } } as const;
const enc = encodeURIComponent;

function print(io: CommandContext['io'], value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

function pausedText(schedule: ScheduleSummary): string {
  return schedule.pausedBy === 'definition' ? 'yes (definition)' : schedule.paused ? 'yes' : 'no';
}

/** One line on a schedule's state, after pause and resume. */
function stateLine(schedule: ScheduleSummary): string {
  return `Schedule ${schedule.name} is ${schedule.paused ? 'paused' : 'active'}${!schedule.paused && schedule.nextFiring ? `; next firing ${schedule.nextFiring}` : ''}.`;
}

function firingLine(firing: ScheduleFiring): string {
  switch (firing.outcome) {
    case 'started':
      return `Started ${firing.instanceId}${firing.previousInstanceId ? ` (ended ${firing.previousInstanceId}: overlap cancelPrevious)` : ''}.`;
    case 'skipped':
      return `Started nothing: ${firing.previousInstanceId} still runs and the schedule's overlap is 'skip'. Trigger again once it finished, or terminate it first.`;
    default:
      return `Started nothing (${firing.outcome}).`;
  }
}

export const SCHEDULE_COMMANDS: Command[] = [
  {
    name: 'schedule list',
    args: '',
    summary: "the app's schedules: expression, next firing, last instance, paused",
    arity: [0, 0],
    options: { ...json },
    notes: ['perdure schedule list', 'perdure schedule list --json | jq ".[] | select(.paused)"'],
    async run({ api, values, io }) {
      const { schedules } = await api().get<{ schedules: ScheduleSummary[] }>('/schedules');
      if (values.json) return print(io, schedules);
      if (schedules.length === 0) return io.out('The app defines no schedules (app.schedule).');
      io.out(
        table(
          ['schedule', 'expression', 'time zone', 'next firing', 'last instance', 'status', 'paused'],
          schedules.map((s) => [s.name, s.expression, s.timezone, s.nextFiring ?? '(none)', s.lastInstance?.instanceId ?? '', s.lastInstance ? (s.lastInstance.status ?? 'purged') : '', pausedText(s)]),
        ),
      );
      const undeployed = schedules.filter((s) => s.deployed === false).map((s) => s.name);
      if (undeployed.length) io.err(`Not deployed: ${undeployed.join(', ')}. Pass the app's schedules to the construct: new DurableFunctions(this, 'App', { ..., schedules: app.schedules() }).`);
    },
  },
  {
    name: 'schedule trigger',
    args: '<name>',
    summary: 'fire a schedule now (paused or not), with its overlap rule',
    arity: [1, 1],
    options: { ...json },
    notes: ['perdure schedule trigger nightlyReport'],
    async run({ api, values, positionals, io }) {
      const firing = await api().post<ScheduleFiring>(`/schedules/${enc(positionals[0]!)}/trigger`);
      if (values.json) return print(io, firing);
      io.out(firingLine(firing));
    },
  },
  {
    name: 'schedule pause',
    args: '<name>',
    summary: 'pause a schedule: its firings start nothing until it is resumed',
    arity: [1, 1],
    options: { ...json },
    async run({ api, values, positionals, io }) {
      const schedule = await api().post<ScheduleSummary>(`/schedules/${enc(positionals[0]!)}/pause`);
      if (values.json) return print(io, schedule);
      io.out(stateLine(schedule));
    },
  },
  {
    name: 'schedule resume',
    args: '<name>',
    summary: 'resume a paused schedule (not one paused in its definition: deploy that)',
    arity: [1, 1],
    options: { ...json },
    async run({ api, values, positionals, io }) {
      const schedule = await api().post<ScheduleSummary>(`/schedules/${enc(positionals[0]!)}/resume`);
      if (values.json) return print(io, schedule);
      io.out(stateLine(schedule));
    },
  },
];
