import { runAsStep } from '../core/determinism-guard.js';
import { formatDuration } from '../core/durations.js';
import { TimeoutError, toFailureDetails, ValidationError } from '../core/errors.js';
import { InterceptorChain, type ActivityAttempt, type MessageHeaders } from '../core/interceptors.js';
import { childLogger, type Logger } from '../core/logger.js';
import { toJsonPayload } from '../core/payload.js';
import type { ActivityContext } from '../core/types.js';
import type { InboxEvent } from '../ports.js';

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

/** The event an attempt ends with: its result, or its failure (a timeout included). */
export type AttemptOutcome = Extract<InboxEvent, { type: 'ActivityCompleted' | 'ActivityFailed' }>;

/**
 * Runs one attempt of user code with an `ActivityContext`, inside the interceptors' `activity` hooks: aborts
 * its signal and fails it with a `TimeoutError` when it runs past its timeout (which the hooks see thrown
 * from `next`), and turns what it returns or throws into the event history records. A step's function runs
 * marked as a step, so a durable call made inside it is refused.
 */
export async function runAttempt(fn: (input: unknown, actx: ActivityContext) => unknown, spec: AttemptSpec): Promise<AttemptResult> {
  const controller = new AbortController();
  const log = childLogger(spec.logger, { instanceId: spec.instanceId, [spec.kind]: spec.name, attempt: spec.attempt });
  const actx: ActivityContext = {
    instanceId: spec.instanceId,
    activityName: spec.name,
    attempt: spec.attempt,
    idempotencyKey: spec.idempotencyKey,
    log,
    signal: controller.signal,
  };
  const what = spec.kind === 'step' ? `Step '${spec.name}'` : `Activity '${spec.name}'`;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TimeoutError(`${what} ran longer than its timeout of ${formatDuration(spec.timeoutMs)} (attempt ${spec.attempt}).`);
      controller.abort(error);
      reject(error);
    }, spec.timeoutMs);
  });
  // A hook that never calls next may return before the timeout: nobody else waits for it then.
  timedOut.catch(() => undefined);
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
      return await Promise.race([spec.kind === 'step' ? runAsStep(spec.name, call) : call(), timedOut]);
    } finally {
      // Made here, in the attempt's own context (its span): the result's message links back to it.
      if (!attempt.inline) headers = interceptors.headers(spec.headers);
    }
  };
  try {
    const result = await Promise.race([interceptors.activity(attempt, run), timedOut]);
    const outcome: AttemptOutcome = { type: 'ActivityCompleted', taskId: spec.taskId, result: toJsonPayload(result, `result of ${what.replace(/^S/, 's').replace(/^A/, 'a')}`) };
    return headers ? { outcome, headers } : { outcome };
  } catch (error) {
    log.warn(`${spec.kind} attempt failed`, { error: error instanceof Error ? error.name : typeof error });
    const failure = toFailureDetails(error);
    // A durable call inside a step is a mistake in the code: retrying cannot fix it.
    if (error instanceof ValidationError) failure.nonRetryable = true;
    const outcome: AttemptOutcome = { type: 'ActivityFailed', taskId: spec.taskId, error: failure };
    return headers ? { outcome, headers } : { outcome };
  } finally {
    clearTimeout(timer);
  }
}
