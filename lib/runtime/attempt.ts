import { runAsStep } from '../core/determinism-guard.js';
import { currentCostScope } from './cost-scope.js';
import { formatDuration } from '../core/durations.js';
import { TimeoutError, toFailureDetails, ValidationError } from '../core/errors.js';
import { InterceptorChain, type ActivityAttempt, type MessageHeaders } from '../core/interceptors.js';
import { childLogger, type Logger } from '../core/logger.js';
import { toJsonPayload } from '../core/payload.js';
import type { ActivityContext, CallbackUrlOptions, CallbackUrls } from '../core/types.js';
import type { InboxEvent } from '../ports.js';
import { AttemptHeartbeats, checkHeartbeatDetails, type HeartbeatTarget } from './heartbeats.js';

/** One attempt of an activity call or a `ctx.step`. */
export interface AttemptSpec {
  instanceId: string;
  taskId: number;
  /** The activity's or the step's name. */
  name: string;
  kind: 'activity' | 'step';
  attempt: number;
  idempotencyKey: string;
  timeoutMs: number;
  logger: Logger;
  /** The attempt fails with a `TimeoutError` when it goes this long without a heartbeat. */
  heartbeatTimeoutMs?: number;
  /** What is left of the call's `scheduleToCloseTimeout` (and the whole of it, for messages): the attempt is cut there, not retried. */
  budget?: { leftMs: number; totalMs?: number };
  /** What an earlier run of the call reported (`actx.heartbeatDetails`). */
  heartbeatDetails?: unknown;
  /** Where heartbeats are recorded; without it a heartbeat only restarts the heartbeat timeout. */
  heartbeats?: Pick<HeartbeatTarget, 'store' | 'clock' | 'lease'>;
  /** Signs callback URLs for `actx.callbackUrls`; absent when the runtime has no signing key. */
  callbackUrls?: (token: string, options?: CallbackUrlOptions) => Promise<CallbackUrls>;
  /** The activity's input (a step has none); interceptors may replace it. */
  input?: unknown;
  /** Runs inside the orchestrator's invocation. @defaultValue false */
  inline?: boolean;
  /** The headers of the task's message (a queued call). */
  headers?: MessageHeaders;
  /** How long the task waited in its queue. */
  queueAgeMs?: number;
  /** @defaultValue none */
  interceptors?: InterceptorChain;
}

/** How an attempt ended, and the headers its result's message carries (made inside the attempt, for a queued call). */
export interface AttemptResult {
  outcome: AttemptOutcome;
  headers?: MessageHeaders;
}

const NO_SIGNER = async (): Promise<CallbackUrls> => {
  throw new ValidationError(
    'This runtime has no key to sign callback URLs with: on AWS the DurableFunctions construct creates one (PERDURE_CALLBACK_KEY_SECRET); npm start keeps one in .perdure/; TestEnvironment and startLocalStack make one.',
  );
};

/** The event an attempt ends with: its result, or its failure (a timeout included). */
export type AttemptOutcome = Extract<InboxEvent, { type: 'ActivityCompleted' | 'ActivityFailed' }>;

/**
 * Runs one attempt of user code with an `ActivityContext`, inside the interceptors' `activity` hooks: aborts
 * its signal and fails it with a `TimeoutError` when it runs past its timeout, its heartbeat timeout or its
 * call's budget, or with an `CancelledError` when a heartbeat finds the instance terminated or cancelled
 * (the hooks see these thrown from `next`), and turns what it returns or throws into the event history
 * records. A step's function runs marked as a step, so a durable call made inside it is refused.
 */
export async function runAttempt(fn: (input: unknown, actx: ActivityContext) => unknown, spec: AttemptSpec): Promise<AttemptResult> {
  const what = spec.kind === 'step' ? `Step '${spec.name}'` : `Activity '${spec.name}'`;
  currentCostScope()?.add({ attempts: 1 });
  const { budget } = spec;
  if (budget && budget.leftMs <= 0) return { outcome: { type: 'ActivityFailed', taskId: spec.taskId, error: toFailureDetails(budgetSpent(what, spec.attempt, budget.totalMs, 'did not start')) } };
  const controller = new AbortController();
  const log = childLogger(spec.logger, { instanceId: spec.instanceId, [spec.kind]: spec.name, attempt: spec.attempt });
  let stop!: (reason: Error) => void;
  const stopped = new Promise<never>((_, reject) => {
    stop = (reason) => {
      if (!controller.signal.aborted) controller.abort(reason);
      reject(reason);
    };
  });
  stopped.catch(() => undefined);
  const after = (ms: number, reason: () => Error) => setTimeout(() => stop(reason()), ms);
  const timers = [after(spec.timeoutMs, () => new TimeoutError(`${what} ran longer than its timeout of ${formatDuration(spec.timeoutMs)} (attempt ${spec.attempt}).`))];
  if (budget && budget.leftMs < spec.timeoutMs) timers.push(after(budget.leftMs, () => budgetSpent(what, spec.attempt, budget.totalMs, 'was stopped')));
  const heartbeatTimeoutMs = spec.heartbeatTimeoutMs;
  const missedHeartbeat = () =>
    new TimeoutError(`${what} sent no heartbeat for ${formatDuration(heartbeatTimeoutMs!)}, its heartbeatTimeout (attempt ${spec.attempt}), so it was taken to be stuck. Call actx.heartbeat() more often than that, or raise heartbeatTimeout.`);
  let heartbeatTimer = heartbeatTimeoutMs === undefined ? undefined : after(heartbeatTimeoutMs, missedHeartbeat);
  const heartbeats = spec.heartbeats
    ? new AttemptHeartbeats({ ...spec.heartbeats, logger: spec.logger, instanceId: spec.instanceId, idempotencyKey: spec.idempotencyKey, attempt: spec.attempt, what, onStop: stop })
    : undefined;
  let over = false;

  const actx: ActivityContext = {
    instanceId: spec.instanceId,
    activityName: spec.name,
    attempt: spec.attempt,
    idempotencyKey: spec.idempotencyKey,
    log,
    signal: controller.signal,
    heartbeatDetails: spec.heartbeatDetails,
    heartbeat: async (details?: unknown) => {
      if (controller.signal.aborted) throw controller.signal.reason;
      const checked = details === undefined ? undefined : checkHeartbeatDetails(details, what);
      // After the attempt completed, a heartbeat (from work it left running) is a no-op.
      if (over) return;
      if (heartbeatTimer !== undefined) {
        clearTimeout(heartbeatTimer);
        heartbeatTimer = after(heartbeatTimeoutMs!, missedHeartbeat);
      }
      await heartbeats?.beat(checked);
      if (controller.signal.aborted) throw controller.signal.reason;
    },
    callbackUrls: spec.callbackUrls ?? NO_SIGNER,
  };
  const interceptors = spec.interceptors ?? InterceptorChain.empty;
  let headers: MessageHeaders | undefined;
  const attempt: ActivityAttempt = {
    instanceId: spec.instanceId,
    name: spec.name,
    kind: spec.kind,
    taskId: spec.taskId,
    attempt: spec.attempt,
    input: spec.input,
    context: actx,
    inline: spec.inline ?? false,
    headers: spec.headers ?? {},
    ...(spec.queueAgeMs !== undefined ? { queueAgeMs: spec.queueAgeMs } : {}),
  };
  const run = async (given: ActivityAttempt): Promise<unknown> => {
    try {
      const call = () => Promise.resolve().then(() => fn(given.input, actx));
      return await Promise.race([spec.kind === 'step' ? runAsStep(spec.name, call) : call(), stopped]);
    } finally {
      // Made here, in the attempt's own context (its span): the result's message links back to it.
      if (!attempt.inline) headers = interceptors.headers(spec.headers);
    }
  };
  let outcome: AttemptOutcome;
  try {
    // A hook that hangs is stopped with the attempt, as the activity would be.
    const result = await Promise.race([interceptors.activity(attempt, run), stopped]);
    outcome = { type: 'ActivityCompleted', taskId: spec.taskId, result: toJsonPayload(result, `result of ${what.replace(/^S/, 's').replace(/^A/, 'a')}`) };
  } catch (error) {
    log.warn(`${spec.kind} attempt failed`, { error: error instanceof Error ? error.name : typeof error });
    const failure = toFailureDetails(error);
    // A durable call inside a step (or details a heartbeat cannot keep) is a mistake in the code: retrying cannot fix it.
    if (error instanceof ValidationError) failure.nonRetryable = true;
    outcome = { type: 'ActivityFailed', taskId: spec.taskId, error: failure };
  } finally {
    over = true;
    for (const timer of [...timers, heartbeatTimer]) clearTimeout(timer);
  }
  await heartbeats?.end(outcome.type === 'ActivityFailed');
  return headers ? { outcome, headers } : { outcome };
}

/** The call's `scheduleToCloseTimeout` ran out: the attempt fails, and the call with it (not retried). */
function budgetSpent(what: string, attempt: number, totalMs: number | undefined, how: string): TimeoutError {
  const error = new TimeoutError(
    `${what} (attempt ${attempt}) ${how}: its call used up its scheduleToCloseTimeout${totalMs !== undefined ? ` of ${formatDuration(totalMs)}` : ''}, so it is not retried.`,
  );
  return Object.assign(error, { nonRetryable: true });
}
