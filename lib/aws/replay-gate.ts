/**
 * The replay gate and shadow replay as Lambda handlers: thin edges over the deploy check (`lib/deploy-check.ts`)
 * reading the table. The gate is the custom resource the CDK construct runs, with the new code, before the
 * orchestrator's alias moves; shadow replay runs on a schedule against the deployed code.
 */
import type { App } from '../core/app.js';
import { PerdureError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { formatDeployCheck, runDeployCheck, storeHistorySource, type DeployCheckOptions } from '../deploy-check.js';
import type { ReplayFinding, ReplayRun } from '../ports.js';
import type { AwsRuntime } from './aws-runtime.js';
import { SHADOW_REPLAY } from './shadow-replay-names.js';

/** What the custom resource provider framework hands the gate (CloudFormation's request, properties as strings). */
export interface ReplayGateEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  PhysicalResourceId?: string;
  ResourceProperties: { OrchestratorVersion?: string; SamplePerVersion?: string; MaxEvents?: string };
  OldResourceProperties?: { OrchestratorVersion?: string };
}

/** The gate's answer to the provider framework; a refusal is thrown instead. */
export interface ReplayGateResult {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

/** What the schedule sends shadow replay. */
export interface ShadowReplayEvent {
  /** @defaultValue 3 */
  samplePerVersion?: number;
  /** @defaultValue 20000 */
  maxEvents?: number;
}

/** The replay gate refused a deploy; its message is the report CloudFormation shows as the reason. */
export class ReplayGateRefusedError extends PerdureError {
  constructor(report: string) {
    super('REPLAY_GATE_REFUSED', report);
    // Lambda reports `stack` line by line and the provider framework appends those lines to the message: one line, or the report twice.
    this.stack = `${this.name}: the deploy would break instances in flight`;
  }
}

/** Leaves this much of the invocation for logging and answering when the check runs out of time. */
const MARGIN_MS = 15_000;

interface Dependencies {
  app: App;
  runtime: () => AwsRuntime;
  logger: Logger;
  /** Where the embedded-metric-format line goes (CloudWatch reads stdout). */
  writeMetrics?: (line: string) => void;
}

export function createReplayGate({ app, runtime, logger }: Dependencies) {
  return async (event: ReplayGateEvent, context?: { getRemainingTimeInMillis(): number }): Promise<ReplayGateResult> => {
    const { config, store, codec } = runtime();
    const PhysicalResourceId = event.PhysicalResourceId ?? `perdure-replay-gate-${config.tableName}`;
    if (event.RequestType === 'Delete') return { PhysicalResourceId };
    const now = Number(event.ResourceProperties.OrchestratorVersion);
    const before = Number(event.OldResourceProperties?.OrchestratorVersion);
    // Lambda numbers versions upwards: a smaller one is CloudFormation rolling back to the code that runs now.
    if (event.RequestType === 'Update' && now < before) {
      logger.info('replay gate: rollback to the running version, nothing to check', { version: now, from: before });
      return { PhysicalResourceId, Data: { Outcome: 'rollback' } };
    }
    const report = await runDeployCheck(app, storeHistorySource(store, (value) => codec.load(value), `table ${config.tableName}`), {
      ...numbers(event.ResourceProperties),
      ...(context ? { deadline: Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS } : {}),
    });
    const fields = { orchestratorVersion: event.ResourceProperties.OrchestratorVersion, report: formatDeployCheck(report), failures: report.results.filter((r) => !r.ok).length, incomplete: report.incomplete };
    if (!report.ok) {
      logger.error('replay gate: refused the deploy', fields);
      throw new ReplayGateRefusedError(shortReport(formatDeployCheck(report, { maxFailures: 3, maxProblemLength: 400, maxVersions: 5 })));
    }
    logger.info('replay gate: the new code replays the instances in flight', fields);
    return { PhysicalResourceId, Data: { InFlight: String(report.inFlight), Replayed: String(report.replayed), Outcome: 'passed' } };
  };
}

export function createShadowReplay({ app, runtime, logger, writeMetrics = (line) => process.stdout.write(`${line}\n`) }: Dependencies) {
  return async (event?: ShadowReplayEvent, context?: { getRemainingTimeInMillis(): number }): Promise<ReplayRun> => {
    const { config, store, codec, replayFindings } = runtime();
    const at = new Date().toISOString();
    const report = await runDeployCheck(app, storeHistorySource(store, (value) => codec.load(value), `table ${config.tableName}`), {
      pick: 'random',
      samplePerVersion: event?.samplePerVersion ?? 3,
      maxEvents: event?.maxEvents ?? 20_000,
      ...(context ? { deadline: Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS } : {}),
    });
    const failed = report.results.filter((result) => !result.ok);
    const findings: ReplayFinding[] = failed.map((r) => ({ instanceId: r.instanceId, orchestration: r.orchestration, status: r.status, problem: r.problem ?? '', foundAt: at }));
    const run: ReplayRun = {
      at,
      inFlight: report.inFlight,
      replayed: report.replayed,
      diverged: failed.length,
      ...(report.incomplete ? { incomplete: report.incomplete } : {}),
    };
    await replayFindings.record(run, findings);
    writeMetrics(
      JSON.stringify({
        _aws: {
          Timestamp: Date.parse(at),
          CloudWatchMetrics: [
            {
              Namespace: SHADOW_REPLAY.namespace,
              Dimensions: [[SHADOW_REPLAY.dimension]],
              Metrics: [SHADOW_REPLAY.divergences, SHADOW_REPLAY.replayed, SHADOW_REPLAY.incomplete].map((Name) => ({ Name, Unit: 'Count' })),
            },
          ],
        },
        [SHADOW_REPLAY.dimension]: config.tableName,
        [SHADOW_REPLAY.divergences]: run.diverged,
        [SHADOW_REPLAY.replayed]: run.replayed,
        [SHADOW_REPLAY.incomplete]: run.incomplete ? 1 : 0,
      }),
    );
    if (failed.length || run.incomplete) logger.error('shadow replay: live histories the deployed code no longer replays', { report: formatDeployCheck(report) });
    else logger.info('shadow replay: every sampled live history replays', { replayed: run.replayed, inFlight: run.inFlight });
    return run;
  };
}

/** CloudFormation takes a custom resource's answer of 4,096 bytes at most, reason included: the first failures, shortened; the log has all. */
const MAX_REASON = 2_800;

function shortReport(report: string): string {
  return report.length <= MAX_REASON ? report : `${report.slice(0, MAX_REASON - 60)}… (cut short: the whole report is in the log)`;
}

function numbers(properties: ReplayGateEvent['ResourceProperties']): Pick<DeployCheckOptions, 'samplePerVersion' | 'maxEvents'> {
  const read = (text: string | undefined) => (text === undefined || text === '' ? undefined : Number(text));
  const samplePerVersion = read(properties.SamplePerVersion);
  const maxEvents = read(properties.MaxEvents);
  return { ...(samplePerVersion !== undefined ? { samplePerVersion } : {}), ...(maxEvents !== undefined ? { maxEvents } : {}) };
}
