import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CallbackDelivery, InstanceStatus, PendingCallback } from '../client.js';
import type { CallbackUrls } from '../core/types.js';
import { App } from '../core/app.js';
import { toMilliseconds } from '../core/durations.js';
import type { HistoryEvent } from '../core/history-events.js';
import { formatDeployCheck, runDeployCheck } from '../deploy-check.js';
import type { DeadLetter, DeadLetterQueue, ReplayFinding, ReplayRun } from '../ports.js';
import { checkReplay, describeReplayFailure, replayHistories, type RecordedHistory, type ReplayCheckResult } from '../replay-check.js';
import { CliError, type ApiClient } from './api-client.js';
import { apiHistorySource } from './api-history-source.js';
import { brief, historyTable, progressBar, table } from './format.js';
import { allInstances, everyItem, selectInstances } from './instance-selection.js';
import { COST_COMMANDS } from './cost-command.js';
import { openInBrowser } from './open-in-browser.js';
import { SCHEDULE_COMMANDS } from './schedule-commands.js';
import { serveUiProxy } from './ui-proxy.js';

/** Where a command writes: results to `out`, progress and notes to `err` (so `--json | jq` stays clean). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Rewrites the current terminal line (progress bars); absent when stderr is not a terminal. */
  progress?(text: string): void;
}

type Values = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  values: Values;
  positionals: string[];
  io: CliIo;
  /** The API, created on first use so that offline commands need no endpoint. */
  api: () => ApiClient;
}

/** A command-line option: parseArgs' own fields plus the text `--help` shows. */
export interface CliOption {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
}

export interface Command {
  name: string;
  /** Positional arguments as shown in the usage line, e.g. `<instanceId> <eventName>`. */
  args: string;
  summary: string;
  options?: Record<string, CliOption>;
  /** Lines after the options in `--help`: examples, notes. */
  notes?: string[];
  /** How many positionals it takes: [min, max]. */
  arity: [number, number];
  run(context: CommandContext): Promise<number | void>;
}

const STATUSES = ['Pending', 'Running', 'Completed', 'Failed', 'Terminated', 'Cancelled', 'Suspended', 'Quarantined', 'ContinuedAsNew'];
const IN_FLIGHT = ['Pending', 'Running', 'Suspended', 'Quarantined'];
const enc = encodeURIComponent;

function str(values: Values, key: string): string | undefined {
  const value = values[key];
  return typeof value === 'string' ? value : undefined;
}

function parseJsonOption(text: string | undefined, what: string): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`${what} is not valid JSON (${(error as Error).message}). Quote it for the shell, e.g. --input '{"orderId":"42"}'.`);
  }
}

async function readJsonInput(values: Values, inline: string, file: string): Promise<unknown> {
  const text = str(values, inline);
  const path = str(values, file);
  if (text !== undefined && path !== undefined) throw new CliError(`Pass --${inline} or --${file}, not both.`);
  if (path === undefined) return parseJsonOption(text, `--${inline}`);
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read --${file} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
  return parseJsonOption(content, `The file ${path}`);
}

function positiveInt(values: Values, key: string, max: number): number | undefined {
  const text = str(values, key);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new CliError(`--${key} must be an integer from 1 to ${max}, got ${JSON.stringify(text)}.`);
  return value;
}

function checkStatus(status: string | undefined): string | undefined {
  if (status !== undefined && !STATUSES.includes(status)) throw new CliError(`Unknown status ${JSON.stringify(status)}: use one of ${STATUSES.join(', ')}.`);
  return status;
}

function checkQueue(queue: string): DeadLetterQueue {
  if (queue !== 'activities' && queue !== 'orchestrations') throw new CliError(`Unknown dead-letter queue ${JSON.stringify(queue)}: use activities or orchestrations.`);
  return queue;
}

function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

function statusLines(status: InstanceStatus): string {
  const lines: [string, string][] = [
    ['instance', status.instanceId],
    ['orchestration', `${status.name}@${status.version}`],
    ['status', status.status],
    ['generation', String(status.generation)],
    ['history', `${status.historyLength} events`],
    ['created', status.createdAt],
    ['updated', status.updatedAt],
  ];
  if (status.parentInstanceId) lines.push(['parent', status.parentInstanceId]);
  if (status.customStatus !== undefined) lines.push(['custom status', brief(status.customStatus, 200)]);
  if (status.cancelRequested) lines.push(['cancel', `requested ${status.cancelRequested.at}${status.cancelRequested.reason !== undefined ? `: ${status.cancelRequested.reason}` : ''}`]);
  if (status.input !== undefined) lines.push(['input', brief(status.input, 200)]);
  if (status.output !== undefined) lines.push(['output', brief(status.output, 200)]);
  if (status.error) lines.push(['error', `${status.error.name}${status.error.code ? ` (${status.error.code})` : ''}: ${status.error.message}`]);
  return lines.map(([key, value]) => `${key.padEnd(14)}${value}`).join('\n');
}

async function allDeadLetters(api: ApiClient, queue: DeadLetterQueue): Promise<DeadLetter[]> {
  const letters: DeadLetter[] = [];
  for await (const letter of everyItem<DeadLetter>(api, `/dlq/${queue}`, 'deadLetters')) letters.push(letter);
  return letters;
}

/** What shadow replay found (`GET /replay-findings`): each finding as replay-check prints a failure, then its last run. */
async function printLiveFindings(api: ApiClient, values: Values, io: CliIo): Promise<number> {
  const { lastRun, findings } = await api.get<{ lastRun?: ReplayRun; findings: ReplayFinding[] }>('/replay-findings', { limit: 100 });
  if (values.json) printJson(io, lastRun ? { lastRun, findings } : { findings });
  else {
    for (const f of findings) io.out(describeReplayFailure({ instanceId: f.instanceId, orchestration: f.orchestration, ok: false, problem: f.problem }, [f.status, `found ${f.foundAt}`]));
    io.out(
      lastRun
        ? `Last shadow replay at ${lastRun.at}: ${lastRun.replayed} of ${lastRun.inFlight} instances in flight replayed, ${lastRun.diverged} no longer replay${lastRun.incomplete ? `; stopped early: ${lastRun.incomplete}` : ''}.`
        : 'Shadow replay has not run yet: the construct schedules it (hourly by default).',
    );
  }
  return lastRun && lastRun.diverged > 0 ? 1 : 0;
}

/** What a completion did: recorded, or a duplicate of what the callback already had (nothing written). */
function reportDelivery(io: CliIo, how: string, answer: { instanceId: string; outcome: CallbackDelivery }): void {
  io.err(answer.outcome === 'duplicate' ? `The callback of ${answer.instanceId} was already ${how} with exactly this: nothing was written.` : `Callback of ${answer.instanceId} ${how}.`);
}

/** A file name for an instance id: readable when the id is, a hash when it is long or exotic. */
export function historyFileName(instanceId: string, generation: number): string {
  const safe = /^[A-Za-z0-9._-]{1,100}$/.test(instanceId) && !instanceId.startsWith('.') ? instanceId : `id-${createHash('sha256').update(instanceId).digest('hex').slice(0, 24)}`;
  return `${safe}${generation > 0 ? `.g${generation}` : ''}.history.json`;
}

/** Loads the user's app from a module: its default export, `app`, or the named export; a factory is called. */
export async function loadApp(modulePath: string, exportName?: string): Promise<App> {
  const url = pathToFileURL(resolve(modulePath)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`Cannot load the app module ${modulePath}: ${(error as Error).message}. Pass the file that registers your orchestrations (a .ts file needs the CLI run through tsx).`);
  }
  const names = exportName ? [exportName] : ['default', 'app', ...Object.keys(module)];
  for (const name of names) {
    let candidate = module[name];
    if (typeof candidate === 'function' && !(candidate instanceof App) && (exportName || /^create\w*App$/.test(name))) candidate = await (candidate as () => unknown)();
    if (candidate instanceof App) return candidate;
  }
  throw new CliError(
    `${modulePath} exports no Perdure app${exportName ? ` named ${exportName}` : ''}: export the app (export default app, or export const app) or a createXxxApp() factory, or name it with --export.`,
  );
}

async function historyFiles(paths: string[]): Promise<{ path: string; folder: boolean }[]> {
  const found: { path: string; folder: boolean }[] = [];
  for (const path of paths) {
    try {
      found.push({ path, folder: (await stat(path)).isDirectory() });
    } catch {
      throw new CliError(`No such file or folder: ${path}. Export histories first with \`perdure export-history\`.`);
    }
  }
  return found;
}

const json = { json: { type: 'boolean', description: 'print JSON instead of a table' } } as const;

/** --app and --export: the module that builds the user's app, for the commands that replay with it. */
const appModule = (description: string) =>
  ({ app: { type: 'string', description }, export: { type: 'string', description: 'the export to use (default: default, app, or a createXxxApp factory)' } }) as const;

/** The app of --app (and --export), which `command` cannot run without. */
async function requireApp(values: Values, command: string, what: string): Promise<App> {
  const appPath = str(values, 'app');
  if (!appPath) throw new CliError(`${command} needs --app <module>: the file that builds your app with createApp()${what}.`);
  return loadApp(appPath, str(values, 'export'));
}

export const COMMANDS: Command[] = [
  {
    name: 'start',
    args: '<orchestration>',
    summary: 'start an orchestration instance',
    arity: [1, 1],
    options: {
      input: { type: 'string', description: 'the input as JSON' },
      'input-file': { type: 'string', description: 'read the input from a JSON file' },
      id: { type: 'string', description: 'the instance id (default: a random UUID); a second start with the same id is refused' },
      version: { type: 'string', description: 'the version to start (default: the latest)' },
      priority: { type: 'string', description: "high: run on the priority lane, ahead of a backlog of normal work (default: normal)" },
    },
    notes: [`perdure start order --id order-42 --input '{"orderId":"42","amount":1500}'`, 'perdure start order --priority high --input \'{"orderId":"43","amount":20}\''],
    async run({ api, values, positionals, io }) {
      const input = await readJsonInput(values, 'input', 'input-file');
      const result = await api().post<{ instanceId: string }>(`/orchestrations/${enc(positionals[0]!)}`, input, { instanceId: str(values, 'id'), version: str(values, 'version'), priority: str(values, 'priority') });
      io.out(result.instanceId);
    },
  },
  {
    name: 'status',
    args: '<instanceId>',
    summary: "an instance's status, input, output and error",
    arity: [1, 1],
    options: { ...json },
    async run({ api, values, positionals, io }) {
      const status = await api().get<InstanceStatus>(`/instances/${enc(positionals[0]!)}`);
      if (values.json) printJson(io, status);
      else io.out(statusLines(status));
    },
  },
  {
    name: 'history',
    args: '<instanceId>',
    summary: "an instance's history as a table",
    arity: [1, 1],
    options: { ...json, generation: { type: 'string', description: 'an earlier generation (continueAsNew)' } },
    async run({ api, values, positionals, io }) {
      const history = await api().get<{ events: HistoryEvent[] }>(`/instances/${enc(positionals[0]!)}/history`, { generation: str(values, 'generation') });
      if (values.json) printJson(io, history);
      else io.out(historyTable(history.events));
    },
  },
  {
    name: 'raise-event',
    args: '<instanceId> <eventName>',
    summary: 'send an external event to an instance',
    arity: [2, 2],
    options: {
      data: { type: 'string', description: 'the event data as JSON' },
      'data-file': { type: 'string', description: 'read the data from a JSON file' },
      'event-id': { type: 'string', description: 'an idempotency key: raising again with the same key records the event once' },
    },
    notes: [`perdure raise-event order-42 approval --data '{"approved":true}' --event-id approval-42`],
    async run({ api, values, positionals, io }) {
      const data = await readJsonInput(values, 'data', 'data-file');
      const eventId = str(values, 'event-id');
      await api().post(`/instances/${enc(positionals[0]!)}/events/${enc(positionals[1]!)}`, data, {}, eventId === undefined ? {} : { 'idempotency-key': eventId });
      io.err(`Event ${positionals[1]} sent to ${positionals[0]}.`);
    },
  },
  ...(['terminate', 'suspend', 'cancel'] as const).map(
    (action): Command => ({
      name: action,
      args: '<instanceId>',
      summary: {
        terminate: 'end a running instance now (its activities in flight finish, their results are dropped)',
        suspend: 'pause an instance until resume',
        cancel: 'cancel an instance: its code sees a CancelledError, may clean up, and ends Cancelled; children follow their parentClose',
      }[action],
      arity: [1, 1],
      options: { reason: { type: 'string', description: 'recorded in history' } },
      async run({ api, values, positionals, io }) {
        const reason = str(values, 'reason');
        await api().post(`/instances/${enc(positionals[0]!)}/${action}`, reason === undefined ? undefined : { reason });
        io.err(`${{ terminate: 'Termination', suspend: 'Suspension', cancel: 'Cancellation' }[action]} of ${positionals[0]} requested.`);
      },
    }),
  ),
  {
    name: 'resume',
    args: '<instanceId>',
    summary: 'resume a suspended instance, or retry a quarantined one after a fix',
    arity: [1, 1],
    async run({ api, positionals, io }) {
      await api().post(`/instances/${enc(positionals[0]!)}/resume`);
      io.err(`Resume of ${positionals[0]} requested.`);
    },
  },
  {
    name: 'restart',
    args: '<instanceId>',
    summary: 'start a fresh instance of a Failed, Terminated or Cancelled one, with the same input',
    arity: [1, 1],
    options: { version: { type: 'string', description: 'the version to start (default: the latest)' }, 'new-id': { type: 'string', description: "the new instance's id" } },
    async run({ api, values, positionals, io }) {
      const version = str(values, 'version');
      const newId = str(values, 'new-id');
      const started = await api().post<{ instanceId: string }>(`/instances/${enc(positionals[0]!)}/restart`, { ...(version !== undefined ? { version } : {}), ...(newId !== undefined ? { instanceId: newId } : {}) });
      io.out(started.instanceId);
      io.err(`Restarted ${positionals[0]} as ${started.instanceId}.`);
    },
  },
  {
    name: 'rewind',
    args: '[instanceId]',
    summary: 'run a Failed instance on from its failure once a fix is deployed (its failed calls run again); --status Failed --since rewinds every one that failed in a window',
    arity: [0, 1],
    options: {
      status: { type: 'string', description: 'Failed: rewind every Failed instance selected by --since (and --name) instead of one' },
      since: { type: 'string', description: 'with --status: only instances that failed in this window, e.g. 1d (required)' },
      name: { type: 'string', description: 'with --status: only this orchestration' },
    },
    notes: ['perdure rewind order-42', 'perdure rewind --status Failed --since 1d --name order'],
    async run({ api, values, positionals, io }) {
      const status = checkStatus(str(values, 'status'));
      const sinceText = str(values, 'since');
      const name = str(values, 'name');
      if (positionals.length) {
        if (status !== undefined || sinceText !== undefined || name !== undefined) throw new CliError('Pass an instance id or --status Failed (with --since, --name), not both.');
        await api().post(`/instances/${enc(positionals[0]!)}/rewind`);
        io.err(`Rewind of ${positionals[0]} requested: its failed calls run again.`);
        return;
      }
      if (status === undefined) throw new CliError('Name the instance to rewind, or select Failed instances with --status Failed --since 1d [--name <orchestration>].');
      if (status !== 'Failed') throw new CliError(`Only Failed instances can be rewound, not ${status}: pass --status Failed.`);
      // A window keeps a bulk rewind to the failures an operator has in mind (a fix deployed today, not last month's).
      if (sinceText === undefined) throw new CliError('--status Failed needs --since, e.g. --since 1d: the window of failures to rewind.');
      const since = Date.now() - toMilliseconds(sinceText, '--since');
      // Select first, rewind after: a rewound instance leaves the Failed listing, which would move the pages under the cursor.
      const ids = await selectInstances(api(), { status, name, since });
      if (ids.length === 0) {
        io.out(`No Failed instance${name !== undefined ? ` of ${name}` : ''} was updated in the last ${sinceText}: nothing to rewind.`);
        return;
      }
      const failed: string[] = [];
      for (const [index, id] of ids.entries()) {
        try {
          await api().post(`/instances/${enc(id)}/rewind`);
          if (!io.progress) io.err(`rewound ${id}`);
        } catch (error) {
          if (!(error instanceof CliError)) throw error;
          failed.push(`${id}: ${error.message}`);
          if (!io.progress) io.err(`failed  ${id}: ${error.message}`);
        }
        io.progress?.(progressBar(index + 1, ids.length));
      }
      io.out(`Rewound ${ids.length - failed.length} of ${ids.length} Failed instance${ids.length === 1 ? '' : 's'}${failed.length ? `; ${failed.length} could not be:\n  ${failed.join('\n  ')}` : '.'}`);
      return failed.length ? 1 : 0;
    },
  },
  {
    name: 'purge',
    args: '<instanceId>',
    summary: 'delete a finished instance, its history and its payloads',
    arity: [1, 1],
    async run({ api, positionals, io }) {
      await api().delete(`/instances/${enc(positionals[0]!)}`);
      io.err(`Purged ${positionals[0]}.`);
    },
  },
  {
    name: 'list',
    args: '',
    summary: 'instances, newest first (with --status; without, in no particular order)',
    arity: [0, 0],
    options: {
      ...json,
      status: { type: 'string', description: `one of ${STATUSES.join(', ')}` },
      name: { type: 'string', description: 'an orchestration name' },
      limit: { type: 'string', description: 'instances per page, 1 to 1000 (default 50)' },
      cursor: { type: 'string', description: 'the cursor a previous page printed' },
      all: { type: 'boolean', description: 'follow the cursor through every page' },
    },
    async run({ api, values, io }) {
      const query = { status: checkStatus(str(values, 'status')), name: str(values, 'name') };
      let instances: InstanceStatus[];
      let cursor: string | undefined;
      if (values.all) {
        instances = [];
        for await (const instance of allInstances(api(), query)) instances.push(instance);
      } else {
        const page = await api().get<{ instances: InstanceStatus[]; cursor?: string }>('/instances', { ...query, limit: positiveInt(values, 'limit', 1000) ?? 50, cursor: str(values, 'cursor') });
        ({ instances, cursor } = page);
      }
      if (values.json) return printJson(io, cursor ? { instances, cursor } : { instances });
      io.out(
        table(
          ['instance', 'orchestration', 'status', 'events', 'updated', 'custom status'],
          instances.map((i) => [i.instanceId, `${i.name}@${i.version}`, i.status, String(i.historyLength), i.updatedAt, brief(i.customStatus, 40)]),
        ),
      );
      if (cursor) io.err(`More: perdure list --cursor ${cursor}`);
    },
  },
  {
    name: 'versions',
    args: '',
    summary: 'in-flight instances per orchestration and version: a version can go once its count is 0',
    arity: [0, 0],
    options: { ...json, app: { type: 'string', description: "the app module: also lists its registered versions that have no instance in flight" }, export: { type: 'string', description: 'the export of --app' } },
    async run({ api, values, io }) {
      const counts = new Map<string, { name: string; version: string; byStatus: Record<string, number> }>();
      for (const status of IN_FLIGHT) {
        for await (const instance of allInstances(api(), { status })) {
          const key = `${instance.name}@${instance.version}`;
          const entry = counts.get(key) ?? { name: instance.name, version: instance.version, byStatus: {} };
          entry.byStatus[status] = (entry.byStatus[status] ?? 0) + 1;
          counts.set(key, entry);
        }
      }
      const appPath = str(values, 'app');
      const registered = appPath ? (await loadApp(appPath, str(values, 'export'))).orchestrationVersions() : [];
      for (const { name, versions } of registered) for (const version of versions) if (!counts.has(`${name}@${version}`)) counts.set(`${name}@${version}`, { name, version, byStatus: {} });
      const latest = new Map(registered.map(({ name, versions }) => [name, versions.at(-1)]));
      const rows = [...counts.values()]
        .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version, undefined, { numeric: true }))
        .map((entry) => {
          const total = Object.values(entry.byStatus).reduce((sum, n) => sum + n, 0);
          const note = !appPath ? '' : latest.get(entry.name) === entry.version ? 'latest' : total === 0 ? 'no instance in flight: safe to remove' : registered.some((r) => r.name === entry.name && r.versions.includes(entry.version)) ? 'keep' : 'NOT REGISTERED: these instances cannot run';
          return { ...entry, total, note };
        });
      if (values.json) return printJson(io, rows);
      io.out(table(['orchestration', 'version', ...IN_FLIGHT, 'in flight', ...(appPath ? ['note'] : [])], rows.map((r) => [r.name, r.version, ...IN_FLIGHT.map((s) => String(r.byStatus[s] ?? 0)), String(r.total), ...(appPath ? [r.note] : [])])));
    },
  },
  {
    name: 'export-history',
    args: '[instanceId...]',
    summary: 'write histories as JSON files, for replay-check and golden-history tests',
    arity: [0, 1000],
    options: {
      out: { type: 'string', description: 'the folder to write into (default: ./histories)' },
      status: { type: 'string', description: 'export every instance with this status (instead of ids)' },
      name: { type: 'string', description: 'with --status: only this orchestration' },
      since: { type: 'string', description: 'with --status: only instances updated in this window, e.g. 7d' },
      payloads: { type: 'string', description: 'resolve (default: offloaded payloads fetched) or keep (left as {"$ref"} references)' },
    },
    notes: ['perdure export-history order-42 order-43 --out test/histories', 'perdure export-history --status Completed --since 7d --out test/histories'],
    async run({ api, values, positionals, io }) {
      const status = checkStatus(str(values, 'status'));
      if (!positionals.length && !status) throw new CliError('Name the instances to export, or select them with --status (and --since, --name).');
      if (positionals.length && status) throw new CliError('Pass instance ids or --status, not both.');
      const payloads = str(values, 'payloads') ?? 'resolve';
      if (payloads !== 'resolve' && payloads !== 'keep') throw new CliError(`--payloads must be resolve or keep, got ${JSON.stringify(payloads)}.`);
      const sinceText = str(values, 'since');
      const since = sinceText === undefined ? undefined : Date.now() - toMilliseconds(sinceText, '--since');
      const out = str(values, 'out') ?? 'histories';
      await mkdir(out, { recursive: true });
      const ids = status ? await selectInstances(api(), { status, name: str(values, 'name'), since }) : [...positionals];
      for (const [index, instanceId] of ids.entries()) {
        const recorded = await api().get<RecordedHistory>(`/instances/${enc(instanceId)}/history`, { payloads });
        const file = join(out, historyFileName(instanceId, recorded.generation ?? 0));
        await writeFile(file, `${JSON.stringify({ instanceId, generation: recorded.generation ?? 0, events: recorded.events }, null, 1)}\n`);
        io.progress?.(progressBar(index + 1, ids.length));
      }
      io.err(`Exported ${ids.length} histor${ids.length === 1 ? 'y' : 'ies'} to ${out}/.`);
    },
  },
  {
    name: 'replay-check',
    args: '<history files or folders...>',
    summary: "replay recorded histories against the app's current code; exits 1 when any no longer replays",
    arity: [0, 10_000],
    options: {
      ...json,
      ...appModule('the module that builds your app (required with files)'),
      live: { type: 'boolean', description: "what shadow replay found in the stack: live histories the deployed code no longer replays (exits 1 if its last run found any)" },
    },
    notes: ['perdure replay-check --app src/app.ts test/histories', 'perdure replay-check --live --endpoint https://abc123.execute-api.eu-west-1.amazonaws.com', 'Run it in CI before deploy: a change that breaks in-flight instances fails the build.'],
    async run({ api, values, positionals, io }) {
      if (values.live) {
        if (positionals.length) throw new CliError('Pass --live or history files, not both.');
        return printLiveFindings(api(), values, io);
      }
      const app = await requireApp(values, 'replay-check', '');
      if (!positionals.length) throw new CliError('Name the history files or folders to replay (perdure export-history writes them), or pass --live for what shadow replay found.');
      const results: ReplayCheckResult[] = [];
      for (const { path, folder } of await historyFiles(positionals)) {
        if (folder) results.push(...(await replayHistories(app, path)).map((result) => ({ ...result, file: join(path, result.file!) })));
        else results.push({ ...(await checkReplay(app, JSON.parse(await readFile(path, 'utf8')) as RecordedHistory)), file: path });
      }
      const failed = results.filter((result) => !result.ok);
      if (values.json) printJson(io, results);
      else {
        for (const result of failed) io.out(describeReplayFailure(result));
        io.out(`${results.length - failed.length} of ${results.length} histories replay${failed.length ? `; ${failed.length} no longer do` : ''}.`);
      }
      if (results.length === 0) io.err('No *.history.json files found.');
      return failed.length ? 1 : 0;
    },
  },
  {
    name: 'deploy-check',
    args: '',
    summary: "replay the newest histories of the instances in flight against the app's code, as the replay gate does before a deploy; exits 1 when the deploy would break one",
    arity: [0, 0],
    options: {
      ...json,
      ...appModule('the module that builds your app: the code about to be deployed (required)'),
      sample: { type: 'string', description: 'instances replayed per orchestration version, newest first (default 10)' },
      'max-events': { type: 'string', description: 'history events the check may replay in all; a larger sample fails the check (default 100000)' },
    },
    notes: [
      'perdure deploy-check --app src/app.ts',
      'perdure deploy-check --app src/app.ts --endpoint https://abc123.execute-api.eu-west-1.amazonaws.com',
      'Every instance pinned to a version the app no longer registers fails the check too.',
    ],
    async run({ api, values, io }) {
      const app = await requireApp(values, 'deploy-check', ', as you are about to deploy it');
      const report = await runDeployCheck(app, apiHistorySource(api()), { samplePerVersion: positiveInt(values, 'sample', 1000), maxEvents: positiveInt(values, 'max-events', 100_000_000) });
      if (values.json) printJson(io, report);
      else io.out(formatDeployCheck(report));
      return report.ok ? 0 : 1;
    },
  },
  {
    name: 'ui',
    args: '',
    summary: "serve the web view on 127.0.0.1 for a deployed stack: its API calls are signed with your credentials",
    arity: [0, 0],
    options: { port: { type: 'string', description: 'the local port (default 4000)' }, open: { type: 'boolean', description: 'open the address in the default browser' } },
    notes: [
      'perdure ui --endpoint https://abc123.execute-api.eu-west-1.amazonaws.com',
      'The address it prints carries a key made for this run: whoever has it acts with your credentials until you stop perdure ui.',
      'With npm start, the web view is at http://127.0.0.1:3000/ui already.',
    ],
    async run({ api, values, io }) {
      const port = values.port === undefined ? 4000 : positiveInt(values, 'port', 65_535)!;
      const proxy = await serveUiProxy(api(), port);
      io.out(`The web view of ${api().endpoint}: open ${proxy.openUrl}\n(the key in it works for this run only; keep it to yourself. Ctrl+C to stop.)`);
      if (values.open && !(await openInBrowser(proxy.openUrl))) io.err('Could not open a browser here: open the address above yourself.');
      await new Promise<void>((resolve) => process.once('SIGINT', resolve));
      await proxy.close();
    },
  },
  {
    name: 'callbacks',
    args: '<instanceId>',
    summary: "the callbacks an instance waits for: names, tokens and deadlines",
    arity: [1, 1],
    options: { ...json },
    async run({ api, values, positionals, io }) {
      const { callbacks } = await api().get<{ callbacks: PendingCallback[] }>(`/instances/${enc(positionals[0]!)}/callbacks`);
      if (values.json) return printJson(io, callbacks);
      if (callbacks.length === 0) return io.err(`Instance ${positionals[0]} waits for no callback.`);
      io.out(table(['name', 'position', 'created', 'expires', 'heartbeat by', 'token'], callbacks.map((c) => [c.name ?? '', String(c.position), c.createdAt, c.timeoutAt ?? '', c.heartbeatDeadline ? `${c.heartbeatDeadline} (every ${c.heartbeatTimeout})` : '', c.token])));
    },
  },
  {
    name: 'callback succeed',
    args: '<token> [json]',
    summary: 'complete a callback with a result (JSON); the same result sent again is recorded once',
    arity: [1, 2],
    options: { 'result-file': { type: 'string', description: 'read the result from a JSON file' } },
    notes: [`perdure callback succeed cb1.WyJvcmRlci00MiIsMCwzXQ.q9x... '{"approved":true}'`],
    async run({ api, values, positionals, io }) {
      if (positionals[1] !== undefined && str(values, 'result-file') !== undefined) throw new CliError('Pass the result as an argument or with --result-file, not both.');
      const result = positionals[1] !== undefined ? parseJsonOption(positionals[1], 'The result') : await readJsonInput(values, 'result', 'result-file');
      reportDelivery(io, 'completed', await api().post<{ instanceId: string; outcome: CallbackDelivery }>(`/callbacks/${enc(positionals[0]!)}/succeed`, result));
    },
  },
  {
    name: 'callback fail',
    args: '<token>',
    summary: 'fail a callback: the orchestration receives a CallbackFailedError with this name and message',
    arity: [1, 1],
    options: {
      message: { type: 'string', description: 'what went wrong (required)' },
      name: { type: 'string', description: 'the error name the orchestration sees (default CallbackFailed)' },
      details: { type: 'string', description: 'JSON the orchestration receives as the error details' },
    },
    notes: ["perdure callback fail cb1.WyJvcmRlci00MiIsMCwzXQ.q9x... --name Declined --message 'Over budget'"],
    async run({ api, values, positionals, io }) {
      const message = str(values, 'message');
      if (!message) throw new CliError('perdure callback fail needs --message: what went wrong, as the orchestration will read it.');
      const name = str(values, 'name');
      const details = parseJsonOption(str(values, 'details'), '--details');
      const error = { message, ...(name !== undefined ? { name } : {}), ...(details !== undefined ? { details } : {}) };
      reportDelivery(io, 'failed', await api().post<{ instanceId: string; outcome: CallbackDelivery }>(`/callbacks/${enc(positionals[0]!)}/fail`, { error }));
    },
  },
  {
    name: 'callback heartbeat',
    args: '<token>',
    summary: 'tell a callback with a heartbeat timeout that the work goes on',
    arity: [1, 1],
    async run({ api, positionals, io }) {
      const answer = await api().post<{ instanceId: string; outcome: CallbackDelivery }>(`/callbacks/${enc(positionals[0]!)}/heartbeat`);
      io.err(answer.outcome === 'duplicate' ? `A heartbeat for ${answer.instanceId} was already waiting to be applied: this one adds nothing.` : `Heartbeat sent to ${answer.instanceId}.`);
    },
  },
  {
    name: 'callback urls',
    args: '<token>',
    summary: 'signed URLs that complete, fail or heartbeat an open callback without credentials, for a third party',
    arity: [1, 1],
    options: { ...json, 'expires-in': { type: 'string', description: 'how long the URLs work, e.g. 3d (default 7d, at most 365d)' } },
    notes: ['perdure callback urls cb1.WyJvcmRlci00MiIsMCwzXQ.q9x... --expires-in 2d', 'Whoever holds a URL can use it until it expires: send it only to the party that must answer.'],
    async run({ api, values, positionals, io }) {
      const expiresIn = str(values, 'expires-in');
      const urls = await api().post<CallbackUrls>(`/callbacks/${enc(positionals[0]!)}/urls`, expiresIn === undefined ? undefined : { expiresIn });
      if (values.json) return printJson(io, urls);
      io.out([`succeed    ${urls.succeed}`, `fail       ${urls.fail}`, `heartbeat  ${urls.heartbeat}`].join('\n'));
      io.err(`Valid until ${urls.expiresAt}. POST to them: succeed with the result as JSON, fail with {"error":{"message":"..."}}, heartbeat with no body.`);
    },
  },
  {
    name: 'dlq list',
    args: '<activities|orchestrations>',
    summary: 'messages the dead-letter queue received',
    arity: [1, 1],
    options: { ...json, limit: { type: 'string', description: 'messages per page (default 50)' }, cursor: { type: 'string', description: 'the cursor a previous page printed' } },
    async run({ api, values, positionals, io }) {
      const queue = checkQueue(positionals[0]!);
      const page = await api().get<{ deadLetters: DeadLetter[]; cursor?: string }>(`/dlq/${queue}`, { limit: positiveInt(values, 'limit', 100) ?? 50, cursor: str(values, 'cursor') });
      if (values.json) return printJson(io, page);
      io.out(table(['message', 'instance', 'dead at', 'outcome'], page.deadLetters.map((d) => [d.messageId, d.instanceId, d.deadAt, d.outcome])));
      if (page.cursor) io.err(`More: perdure dlq list ${queue} --cursor ${page.cursor}`);
    },
  },
  {
    name: 'dlq show',
    args: '<activities|orchestrations> <messageId>',
    summary: 'one dead letter with its message',
    arity: [2, 2],
    async run({ api, positionals, io }) {
      const queue = checkQueue(positionals[0]!);
      const letter = (await allDeadLetters(api(), queue)).find((d) => d.messageId === positionals[1]);
      if (!letter) throw new CliError(`No dead letter ${JSON.stringify(positionals[1])} in the ${queue} queue: list them with \`perdure dlq list ${queue}\`.`);
      printJson(io, letter);
    },
  },
  {
    name: 'dlq redrive',
    args: '<activities|orchestrations> [messageId]',
    summary: 'send one dead letter (or --all) back to work',
    arity: [1, 2],
    options: { all: { type: 'boolean', description: 'redrive every message of the queue' } },
    async run({ api, values, positionals, io }) {
      const queue = checkQueue(positionals[0]!);
      const messageId = positionals[1];
      if (!messageId && !values.all) throw new CliError(`Name the message to redrive, or pass --all: \`perdure dlq redrive ${queue} <messageId>\`.`);
      if (messageId && values.all) throw new CliError('Pass a message id or --all, not both.');
      const ids = messageId ? [messageId] : (await allDeadLetters(api(), queue)).map((d) => d.messageId);
      const summary = { redriven: 0, notFound: [] as string[], failed: [] as string[] };
      for (const [index, id] of ids.entries()) {
        try {
          await api().post(`/dlq/${queue}/redrive`, { messageId: id });
          summary.redriven++;
        } catch (error) {
          if (error instanceof CliError && error.status === 404 && messageId === undefined) summary.notFound.push(id);
          else if (messageId === undefined) summary.failed.push(`${id}: ${(error as Error).message}`);
          else throw error;
        }
        io.progress?.(progressBar(index + 1, ids.length));
      }
      io.out(`Redriven ${summary.redriven} of ${ids.length}${summary.notFound.length ? `; ${summary.notFound.length} already gone (redriven or expired)` : ''}${summary.failed.length ? `; ${summary.failed.length} failed:\n  ${summary.failed.join('\n  ')}` : ''}.`);
      return summary.failed.length ? 1 : 0;
    },
  },
  ...COST_COMMANDS,
  ...SCHEDULE_COMMANDS,
];
