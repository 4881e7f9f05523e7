import { runAsStep } from '../core/determinism-guard.js';
import { formatDuration } from '../core/durations.js';
import { TimeoutError, toFailureDetails, ValidationError } from '../core/errors.js';
import { childLogger, type Logger } from '../core/logger.js';
import { toJsonPayload } from '../core/payload.js';
import type { ActivityContext, CallbackUrlOptions, CallbackUrls } from '../core/types.js';
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
  /** Signs callback URLs for `actx.callbackUrls`; absent when the runtime has no signing key. */
  callbackUrls?: (token: string, options?: CallbackUrlOptions) => Promise<CallbackUrls>;
}

const NO_SIGNER = async (): Promise<CallbackUrls> => {
  throw new ValidationError(
    'This runtime has no key to sign callback URLs with: on AWS the DurableFunctions construct creates one (PERDURE_CALLBACK_KEY_SECRET); npm start keeps one in .perdure/; TestEnvironment and startLocalStack make one.',
  );
};

/** The event an attempt ends with: its result, or its failure (a timeout included). */
export type AttemptOutcome = Extract<InboxEvent, { type: 'ActivityCompleted' | 'ActivityFailed' }>;

/**
 * Runs one attempt of user code with an `ActivityContext`: aborts its signal and fails it with a
 * `TimeoutError` when it runs past its timeout, and turns what it returns or throws into the event history
 * records. A step's function runs marked as a step, so a durable call made inside it is refused.
 */
export async function runAttempt(fn: (actx: ActivityContext) => unknown, spec: AttemptSpec): Promise<AttemptOutcome> {
  const controller = new AbortController();
  const log = childLogger(spec.logger, { instanceId: spec.instanceId, [spec.kind]: spec.name, attempt: spec.attempt });
  const actx: ActivityContext = {
    instanceId: spec.instanceId,
    activityName: spec.name,
    attempt: spec.attempt,
    idempotencyKey: spec.idempotencyKey,
    log,
    signal: controller.signal,
    callbackUrls: spec.callbackUrls ?? NO_SIGNER,
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
  try {
    const call = () => Promise.resolve().then(() => fn(actx));
    const running = spec.kind === 'step' ? runAsStep(spec.name, call) : call();
    const result = await Promise.race([running, timedOut]);
    return { type: 'ActivityCompleted', taskId: spec.taskId, result: toJsonPayload(result, `result of ${what.replace(/^S/, 's').replace(/^A/, 'a')}`) };
  } catch (error) {
    log.warn(`${spec.kind} attempt failed`, { error: error instanceof Error ? error.name : typeof error });
    const failure = toFailureDetails(error);
    // A durable call inside a step is a mistake in the code: retrying cannot fix it.
    if (error instanceof ValidationError) failure.nonRetryable = true;
    return { type: 'ActivityFailed', taskId: spec.taskId, error: failure };
  } finally {
    clearTimeout(timer);
  }
}
