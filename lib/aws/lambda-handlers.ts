import type { App } from '../core/app.js';
import { ValidationError } from '../core/errors.js';
import { HttpApi, type HttpResponse } from '../api/http-api.js';
import type { ReplayRun } from '../ports.js';
import type { ScheduleFiring } from '../runtime/schedules.js';
import { configFromEnvironment, createAwsRuntime, type AwsRuntime } from './aws-runtime.js';
import { EmfMetrics } from './emf-metrics.js';
import { createReplayGate, createShadowReplay, type ReplayGateEvent, type ReplayGateResult, type ShadowReplayEvent } from './replay-gate.js';
import type { BatchResult, QueueRecord } from './sqs-handlers.js';

/** The part of an API Gateway HTTP API (payload v2) event the API reads. */
export interface ApiGatewayV2Event {
  rawPath: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: { http: { method: string }; stage?: string };
}

export interface SqsEvent {
  Records: QueueRecord[];
}

/** The part of Lambda's context object the handlers read. */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
}

/** The Lambda handlers of an app; each function of the stack exports one of them. */
export interface LambdaHandlers {
  orchestrator: (event: SqsEvent, context?: LambdaContext) => Promise<BatchResult>;
  activity: (event: SqsEvent, context?: LambdaContext) => Promise<BatchResult>;
  timer: (event: SqsEvent, context?: LambdaContext) => Promise<BatchResult>;
  activityDeadLetters: (event: SqsEvent) => Promise<BatchResult>;
  orchestratorDeadLetters: (event: SqsEvent) => Promise<BatchResult>;
  api: (event: ApiGatewayV2Event) => Promise<HttpResponse>;
  /**
   * The replay gate: the construct's custom resource runs it with the new code before the orchestrator's
   * alias moves, and a deploy that would break an instance in flight fails with the report as its reason.
   */
  replayGate: (event: ReplayGateEvent, context?: LambdaContext) => Promise<ReplayGateResult>;
  /** Shadow replay: the construct's schedule runs it against the deployed code and alarms on what it finds. */
  shadowReplay: (event?: ShadowReplayEvent, context?: LambdaContext) => Promise<ReplayRun>;
  /**
   * A firing of one of the app's schedules: the construct's EventBridge Scheduler schedules invoke it with
   * `{ schedule, firingTime: <aws.scheduler.scheduled-time> }`. A duplicate firing starts nothing; only a
   * failure to read or write throws, so that EventBridge retries (and then sends the firing to its DLQ).
   */
  scheduleFired: (event: ScheduleFiredEvent) => Promise<ScheduleFiring | { schedule: string; outcome: 'unknown' }>;
}

/** What each EventBridge schedule of the construct sends. */
export interface ScheduleFiredEvent {
  schedule: string;
  /** ISO 8601: the firing's scheduled time. */
  firingTime: string;
}

/**
 * Builds the handlers of `app` from the environment the CDK stack sets. Clients are created on the first
 * invocation and reused by the warm function, with its cache of live executors. Each queue handler writes
 * its metrics (CloudWatch's embedded metric format, on stdout) at the end of its invocation.
 * @example
 * // handlers.ts: the entry of every function of the DurableFunctions construct
 * export const { orchestrator, activity, timer, activityDeadLetters, orchestratorDeadLetters, api, replayGate, shadowReplay, scheduleFired } = createLambdaHandlers(app);
 */
export function createLambdaHandlers(app: App, runtime: () => AwsRuntime = lazy(() => createAwsRuntime(app, configFromEnvironment(), { metrics: new EmfMetrics({ common: { Table: configFromEnvironment().tableName } }) }))): LambdaHandlers {
  const api = lazy(() => {
    const { client, deadLetters, replayFindings, schedules, callbackUrls } = runtime();
    return new HttpApi({ client, deadLetters, replayFindings, schedules, tracing: app.tracing, ...(callbackUrls ? { callbackUrls } : {}) });
  });
  /** Runs a handler, then writes the invocation's metrics. */
  const metered = async <T>(handle: () => Promise<T>): Promise<T> => {
    try {
      return await handle();
    } finally {
      runtime().metrics?.flush?.();
    }
  };
  return {
    orchestrator: (event, context) => metered(() => runtime().handlers.doorbells(event.Records, invocation(context))),
    activity: (event, context) => metered(() => runtime().handlers.activities(event.Records, invocation(context))),
    timer: (event, context) => metered(() => runtime().handlers.timers(event.Records, invocation(context))),
    activityDeadLetters: (event) => metered(() => runtime().handlers.activityDeadLetters(event.Records)),
    orchestratorDeadLetters: (event) => metered(() => runtime().handlers.orchestratorDeadLetters(event.Records)),
    api: (event) =>
      api().handle({
        method: event.requestContext.http.method,
        path: stripStage(event.rawPath, event.requestContext.stage),
        query: Object.fromEntries(new URLSearchParams(event.rawQueryString ?? '')),
        headers: event.headers ?? {},
        body: event.body === undefined ? undefined : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString() : event.body,
      }),
    replayGate: createReplayGate({ app, runtime, logger: app.logger }),
    shadowReplay: createShadowReplay({ app, runtime, logger: app.logger }),
    scheduleFired: async (event) => {
      const firingTime = typeof event?.firingTime === 'string' ? Date.parse(event.firingTime) : Number.NaN;
      if (typeof event?.schedule !== 'string' || Number.isNaN(firingTime)) {
        throw new ValidationError(`A schedule firing needs { schedule: string, firingTime: ISO 8601 }, got ${JSON.stringify(event)}: the DurableFunctions construct's schedules send that.`);
      }
      // A schedule the deployed code no longer defines (its EventBridge schedule goes with the next deploy): nothing to retry.
      if (!app.schedules().some((schedule) => schedule.name === event.schedule)) {
        app.logger.warn('schedule firing for a schedule the app does not define: ignored', { schedule: event.schedule, firingTime: event.firingTime });
        return { schedule: event.schedule, outcome: 'unknown' as const };
      }
      return runtime().schedules.fire(event.schedule, firingTime);
    },
  };
}

/** The invocation's deadline, from Lambda's remaining time. */
function invocation(context: LambdaContext | undefined): { deadline?: number } {
  return context ? { deadline: Date.now() + context.getRemainingTimeInMillis() } : {};
}

function stripStage(path: string, stage: string | undefined): string {
  return stage && stage !== '$default' && path.startsWith(`/${stage}/`) ? path.slice(stage.length + 1) : path;
}

function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}
