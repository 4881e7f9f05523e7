/**
 * The deploy check: would this code break an instance in flight? It lists the instances in flight, finds
 * those pinned to a version the code no longer registers, and replays a bounded sample of the others' histories
 * (per orchestration version, newest first) against the code. The CDK construct's replay gate runs it with
 * the new code before the orchestrator's alias moves (reading the table), `perdure deploy-check` before
 * `cdk deploy` (reading the HTTP API), and shadow replay on a schedule against the deployed code.
 */
import type { App } from './core/app.js';
import type { HistoryEvent } from './core/history-events.js';
import type { PayloadLoader } from './core/payload.js';
import type { InstanceRecord, InstanceStatusName, InstanceStore } from './ports.js';
import { checkReplay, describeReplayFailure, type ReplayCheckResult } from './replay-check.js';

/** The statuses of an instance whose code will run again: its history must keep replaying. */
export const IN_FLIGHT_STATUSES: readonly InstanceStatusName[] = ['Running', 'Pending', 'Suspended', 'Quarantined'];

/** An instance in flight, as a listing returns it. */
export interface InFlightInstance {
  instanceId: string;
  name: string;
  version: string;
  status: InstanceStatusName;
  generation: number;
  /** Epoch milliseconds: the sample takes the newest first. */
  createdAt: number;
  /** Events of the current generation as of the listing: a lower bound (a step may have appended since). */
  historyLength: number;
  /** The store's key of this life of the id, when the source knows it. */
  incarnation?: string;
}

/** Where the check reads: the store (the replay gate, shadow replay) or the HTTP API (the CLI). */
export interface HistorySource {
  /** Names the source in the report: a table, an endpoint. */
  readonly name: string;
  /** One page of the instances with `status`, newest first. */
  listInFlight(status: InstanceStatusName, cursor?: string): Promise<{ instances: InFlightInstance[]; cursor?: string }>;
  /**
   * The current generation's history with its payloads as stored (offloaded ones not fetched), and how to
   * load a payload the code receives; undefined when the instance is gone (finished and purged meanwhile).
   */
  readHistory(instance: InFlightInstance): Promise<{ events: HistoryEvent[]; loadPayload?: PayloadLoader } | undefined>;
}

export interface DeployCheckOptions {
  /** Instances replayed per orchestration version. @defaultValue 10 */
  samplePerVersion?: number;
  /** Which instances of a version: the newest (deploys), or a random few (shadow replay, to cover others over time). @defaultValue 'newest' */
  pick?: 'newest' | 'random';
  /** History events the check may read and replay in all; a sample that needs more fails the check. @defaultValue 100000 */
  maxEvents?: number;
  /** Epoch milliseconds by which the check must have finished (a Lambda function's timeout); past it the check fails. */
  deadline?: number;
}

/** One orchestration version with instances in flight. */
export interface VersionInFlight {
  name: string;
  version: string;
  inFlight: number;
  /** Whether the checked code registers this version. */
  registered: boolean;
  replayed: number;
}

/** A replayed instance, or one pinned to a version the code does not register. */
export interface DeployCheckResult extends ReplayCheckResult {
  status: InstanceStatusName;
}

export interface DeployCheckReport {
  /** True when every sampled instance replays, no instance is pinned to a missing version, and the check finished. */
  ok: boolean;
  source: string;
  samplePerVersion: number;
  pick: 'newest' | 'random';
  versions: VersionInFlight[];
  /** Instances in flight, in every version. */
  inFlight: number;
  /** Instances whose history was replayed. */
  replayed: number;
  /** Replayed instances that no longer replay (instances of missing versions are not replayed, and not counted here). */
  diverged: number;
  /** Every replayed instance and every instance of a missing version, failures first. */
  results: DeployCheckResult[];
  eventsReplayed: number;
  /** Why the check stopped before it replayed its sample: its event budget, its deadline. The check fails then. */
  incomplete?: string;
}

const DEFAULTS = { samplePerVersion: 10, maxEvents: 100_000 };

/**
 * Checks `app`'s code against the instances in flight that `source` lists; see the module comment.
 * @example
 * const report = await runDeployCheck(app, storeHistorySource(store, (value) => codec.load(value)));
 * if (!report.ok) throw new Error(formatDeployCheck(report));
 */
export async function runDeployCheck(app: App, source: HistorySource, options: DeployCheckOptions = {}): Promise<DeployCheckReport> {
  const samplePerVersion = options.samplePerVersion ?? DEFAULTS.samplePerVersion;
  const maxEvents = options.maxEvents ?? DEFAULTS.maxEvents;
  const pastDeadline = () => options.deadline !== undefined && Date.now() > options.deadline;
  const how = options.pick ?? 'newest';
  const report = (fields: Pick<DeployCheckReport, 'versions' | 'results' | 'eventsReplayed' | 'incomplete'>): DeployCheckReport => {
    const results = [...fields.results].sort((a, b) => Number(a.ok) - Number(b.ok));
    const registered = (result: DeployCheckResult) => fields.versions.some((v) => v.registered && `${v.name}@${v.version}` === result.orchestration);
    return {
      ok: !fields.incomplete && results.every((result) => result.ok),
      source: source.name,
      samplePerVersion,
      pick: how,
      ...fields,
      inFlight: fields.versions.reduce((sum, v) => sum + v.inFlight, 0),
      replayed: fields.versions.reduce((sum, v) => sum + v.replayed, 0),
      diverged: results.filter((result) => !result.ok && registered(result)).length,
      results,
    };
  };

  const listed = await listInFlight(source, pastDeadline);
  if ('incomplete' in listed) return report({ versions: [], results: [], eventsReplayed: 0, incomplete: listed.incomplete });
  const registered = new Set(app.orchestrationVersions().flatMap(({ name, versions }) => versions.map((version) => `${name}@${version}`)));
  const byVersion = new Map<string, InFlightInstance[]>();
  for (const instance of listed.instances) {
    const key = `${instance.name}@${instance.version}`;
    byVersion.set(key, [...(byVersion.get(key) ?? []), instance]);
  }

  const versions: VersionInFlight[] = [];
  const results: DeployCheckResult[] = [];
  const sample: InFlightInstance[] = [];
  for (const [key, instances] of [...byVersion].sort(([a], [b]) => a.localeCompare(b))) {
    const { name, version } = instances[0]!;
    const known = registered.has(key);
    if (!known) {
      // No need to read these histories: the code cannot run them at all.
      const problem = missingVersionProblem(app, name, version);
      for (const instance of instances) results.push({ instanceId: instance.instanceId, orchestration: key, ok: false, problem, status: instance.status });
    } else {
      sample.push(...pick(instances, samplePerVersion, how));
    }
    versions.push({ name, version, inFlight: instances.length, registered: known, replayed: 0 });
  }

  let eventsReplayed = 0;
  let incomplete: string | undefined;
  for (const [index, instance] of sample.entries()) {
    const budgetExceeded = (events: number) =>
      `The sample needs more than its budget of ${maxEvents} history events: ${instance.instanceId} (${instance.name}@${instance.version}) has ${events} and ${eventsReplayed} were replayed before it, in ${index} histories. Lower the sample per version or raise the budget (replayGate: { samplePerVersion, maxEvents }, or --sample and --max-events).`;
    if (pastDeadline()) {
      incomplete = `Ran out of time after replaying ${index} of the ${sample.length} sampled histories: give the check more time (replayGate: { timeout }) or lower the sample per version.`;
      break;
    }
    if (eventsReplayed + instance.historyLength > maxEvents) {
      incomplete = budgetExceeded(instance.historyLength);
      break;
    }
    const history = await source.readHistory(instance);
    if (!history) continue; // finished and purged since it was listed: nothing of it will run again
    if (eventsReplayed + history.events.length > maxEvents) {
      incomplete = budgetExceeded(history.events.length);
      break;
    }
    eventsReplayed += history.events.length;
    versions.find((v) => v.name === instance.name && v.version === instance.version)!.replayed++;
    // A Pending instance whose first step has not run yet has no history: the code will start it afresh.
    const result: ReplayCheckResult =
      history.events.length === 0
        ? { instanceId: instance.instanceId, orchestration: `${instance.name}@${instance.version}`, ok: true }
        : await checkReplay(app, { instanceId: instance.instanceId, generation: instance.generation, events: history.events }, history.loadPayload ? { loadPayload: history.loadPayload } : {});
    results.push({ ...result, status: instance.status });
  }
  return report({ versions, results, eventsReplayed, ...(incomplete ? { incomplete } : {}) });
}

/** Every instance with an in-flight status, each once (an instance that changed status between pages is listed twice). */
async function listInFlight(source: HistorySource, pastDeadline: () => boolean): Promise<{ instances: InFlightInstance[] } | { incomplete: string }> {
  const seen = new Map<string, InFlightInstance>();
  for (const status of IN_FLIGHT_STATUSES) {
    let cursor: string | undefined;
    do {
      if (pastDeadline()) return { incomplete: `Ran out of time listing the instances in flight (${seen.size} so far): give the check more time (replayGate: { timeout }).` };
      const page = await source.listInFlight(status, cursor);
      for (const instance of page.instances) if (!seen.has(instance.instanceId)) seen.set(instance.instanceId, instance);
      cursor = page.cursor;
    } while (cursor);
  }
  return { instances: [...seen.values()] };
}

function pick(instances: InFlightInstance[], count: number, how: 'newest' | 'random'): InFlightInstance[] {
  if (how === 'newest') return [...instances].sort((a, b) => b.createdAt - a.createdAt || a.instanceId.localeCompare(b.instanceId)).slice(0, count);
  const pool = [...instances];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

/** What the runtime will say when such an instance takes its next step. */
function missingVersionProblem(app: App, name: string, version: string): string {
  try {
    app.getOrchestration(name, version);
    return `Orchestration '${name}' version ${version} is not registered.`;
  } catch (error) {
    return (error as Error).message;
  }
}

export interface FormatOptions {
  /** Failures shown; the rest are counted. @defaultValue all */
  maxFailures?: number;
  /** Longer problems are cut (the reason CloudFormation shows is short). @defaultValue no limit */
  maxProblemLength?: number;
  /** Versions named in the summary; the rest are counted. @defaultValue all */
  maxVersions?: number;
}

/**
 * The report as text: a `perdure replay-check` entry for each instance the code would break, then what
 * was checked and the verdict.
 * @example
 * console.log(formatDeployCheck(await runDeployCheck(app, source)));
 */
export function formatDeployCheck(report: DeployCheckReport, options: FormatOptions = {}): string {
  const failed = report.results.filter((result) => !result.ok);
  const shown = failed.slice(0, options.maxFailures ?? failed.length);
  const cut = (text: string | undefined) => (text && options.maxProblemLength && text.length > options.maxProblemLength ? `${text.slice(0, options.maxProblemLength - 1)}…` : text);
  const lines = shown.map((result) => describeReplayFailure({ ...result, problem: cut(result.problem) }, [result.status]));
  if (failed.length > shown.length) lines.push(`... and ${failed.length - shown.length} more (the full report is in the log).`);
  if (report.incomplete) lines.push(`INCOMPLETE ${report.incomplete}`);
  const { inFlight, replayed, diverged } = report;
  if (inFlight === 0 && !report.incomplete) {
    lines.push(`No instance is in flight (Running, Pending, Suspended or Quarantined) in ${report.source}: there is nothing to replay, so this deploy can break no instance.`);
    return lines.join('\n');
  }
  const missing = report.versions.filter((v) => !v.registered);
  const named = <T>(items: T[], show: (item: T) => string, separator: string) => {
    const shownItems = items.slice(0, options.maxVersions ?? items.length).map(show);
    return [...shownItems, ...(items.length > shownItems.length ? [`${items.length - shownItems.length} more`] : [])].join(separator);
  };
  const perVersion = named(report.versions, (v) => `${v.name}@${v.version}: ${v.inFlight}${v.registered ? `, ${v.replayed} replayed` : ', NOT REGISTERED'}`, '; ');
  lines.push(
    `Checked ${report.source}: ${inFlight} instance${inFlight === 1 ? '' : 's'} in flight (${perVersion}); ${
      replayed === 0
        ? 'none replayed'
        : `replayed ${replayed} (up to ${report.pick === 'newest' ? 'the newest ' : ''}${report.samplePerVersion} of each version, ${report.eventsReplayed} events)${diverged ? `, ${diverged} no longer replay${diverged === 1 ? 's' : ''}` : ', all replay'}`
    }.`,
  );
  if (missing.length) {
    const pinned = missing.reduce((sum, v) => sum + v.inFlight, 0);
    lines.push(`${pinned} instance${pinned === 1 ? ' is' : 's are'} pinned to ${named(missing, (v) => `${v.name}@${v.version}`, ', ')}, which the code no longer registers: keep ${missing.length === 1 ? 'that version' : 'those versions'} registered until ${pinned === 1 ? 'it finishes' : 'they finish'} (perdure versions --app shows when), or terminate ${pinned === 1 ? 'it' : 'them'}.`);
  }
  lines.push(
    report.ok
      ? 'Safe to deploy: every sampled instance replays against this code.'
      : report.incomplete && failed.length === 0
        ? 'Not checked to the end: the deploy is refused until the check can finish.'
        : `This deploy would break instances in flight: refused.${diverged ? ' Deploy the change as a new version (app.orchestration(name, fn, { version })) or guard it with ctx.patched(...).' : ''}`,
  );
  return lines.join('\n');
}

/**
 * The store as a history source (the replay gate and shadow replay): listings by status (the `byStatus`
 * index, records read in batches) and the current generation's history.
 * @example
 * const source = storeHistorySource(runtime.store, (value) => runtime.codec.load(value), `table ${tableName}`);
 */
export function storeHistorySource(store: InstanceStore, loadPayload: PayloadLoader, name = 'the instance store'): HistorySource {
  return {
    name,
    async listInFlight(status, cursor) {
      const page = await store.listInstances({ status, limit: 1000, ...(cursor ? { cursor } : {}) });
      return { instances: page.instances.map(fromRecord), ...(page.cursor ? { cursor: page.cursor } : {}) };
    },
    async readHistory(instance) {
      return { events: await store.readHistory(instance.instanceId, instance.generation, instance.incarnation), loadPayload };
    },
  };
}

function fromRecord(record: InstanceRecord): InFlightInstance {
  return {
    instanceId: record.instanceId,
    name: record.name,
    version: record.version,
    status: record.status,
    generation: record.generation,
    createdAt: record.createdAt,
    historyLength: record.lastEventId,
    ...(record.incarnation !== undefined ? { incarnation: record.incarnation } : {}),
  };
}
