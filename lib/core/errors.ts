/**
 * The errors Perdure throws. Each has a stable `code` for programs and a message for people that says
 * what happened and what to do. Failures recorded in history are rebuilt as the same class on replay.
 */

/**
 * A value as an error message shows it: JSON where JSON can say it, otherwise `String(value)`, so that a
 * message about a bad BigInt or a circular object never fails itself.
 */
export function describeValue(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return typeof value === 'bigint' ? `${value}n` : String(value);
  }
}

/** Base class of every error Perdure throws. */
export class PerdureError extends Error {
  /** A stable, machine-readable code, e.g. `NON_DETERMINISM`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /**
   * Keeps the message in JSON (an Error's own is not enumerable): an error a step's failure rejected with, kept
   * in an output (`Promise.allSettled`'s reasons) or a log line, still says what happened.
   */
  toJSON(): Record<string, unknown> {
    return { ...(this as object), name: this.name, message: this.message };
  }
}

/** An argument is invalid (a name, an instance id, a duration, a retry policy...). Nothing was written. */
export class ValidationError extends PerdureError {
  constructor(message: string) {
    super('VALIDATION', message);
  }
}

/** The orchestration code no longer makes the calls its history recorded. */
export class NonDeterminismError extends PerdureError {
  constructor(message: string) {
    super('NON_DETERMINISM', message);
  }
}

/** Orchestration code used a non-deterministic API (a real timer, the network) or awaited a non-durable promise. */
export class DeterminismViolationError extends PerdureError {
  constructor(message: string) {
    super('DETERMINISM_VIOLATION', message);
  }
}

/** The plain description of a failure, as history records it. */
export interface FailureDetails {
  name: string;
  message: string;
  stack?: string;
  /** JSON data the thrower attached as `details`. */
  details?: unknown;
  /** True when the error asked not to be retried. */
  nonRetryable?: boolean;
  /** The code of a Perdure error. */
  code?: string;
}

/** An activity failed after its last attempt. `failure` and `cause` hold the activity's own error. */
export class ActivityFailedError extends PerdureError {
  constructor(
    readonly activityName: string,
    readonly attempts: number,
    readonly failure: FailureDetails,
    what = `Activity '${activityName}'`,
    code = 'ACTIVITY_FAILED',
  ) {
    super(code, `${what} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${failure.name}: ${failure.message}`, { cause: rebuildError(failure) });
  }
}

/** A `ctx.step` failed after its last attempt. `failure` and `cause` hold the step function's own error. */
export class StepFailedError extends ActivityFailedError {
  constructor(stepName: string, attempts: number, failure: FailureDetails) {
    super(stepName, attempts, failure, `Step '${stepName}'`, 'STEP_FAILED');
  }
}

/**
 * The instance was cancelled (`client.cancel`): thrown at the code's pending durable calls and at new ones
 * outside `ctx.nonCancellable`. Left uncaught, the instance ends `Cancelled`.
 */
export class CancelledError extends PerdureError {
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super('CANCELLED', message);
  }
}

/** The function of a `ctx.child` threw. `failure` and `cause` hold its error. */
export class ChildFailedError extends PerdureError {
  constructor(
    readonly childName: string,
    readonly failure: FailureDetails,
  ) {
    super('CHILD_FAILED', `Child '${childName}' failed: ${failure.name}: ${failure.message}`, { cause: rebuildError(failure) });
  }
}

/** An outside system failed a callback (`client.failCallback`). `failure` holds what it sent. */
export class CallbackFailedError extends PerdureError {
  constructor(
    readonly callbackName: string,
    readonly failure: FailureDetails,
  ) {
    super('CALLBACK_FAILED', `Callback ${callbackName} was failed by the outside system: ${failure.name}: ${failure.message}`, { cause: rebuildError(failure) });
  }
}

/** No callback has this token (malformed, forged, of an unknown instance, or already finished with its instance). */
export class CallbackNotFoundError extends PerdureError {
  constructor(message: string) {
    super('CALLBACK_NOT_FOUND', message);
  }
}

/** A sub-orchestration ended Failed or Terminated. `failure` holds its error. */
export class SubOrchestrationFailedError extends PerdureError {
  constructor(
    readonly orchestrationName: string,
    readonly childInstanceId: string,
    readonly failure: FailureDetails,
  ) {
    super(
      'SUB_ORCHESTRATION_FAILED',
      `Sub-orchestration '${orchestrationName}' (instance '${childInstanceId}') failed: ${failure.name}: ${failure.message}`,
      { cause: rebuildError(failure) },
    );
  }
}

/** A wait ran out of time (`waitForEvent` with a timeout, an activity's timeout, `waitForCompletion`). */
export class TimeoutError extends PerdureError {
  constructor(message: string) {
    super('TIMEOUT', message);
  }
}

/** A callback was not completed within its timeout, or not heard from within its heartbeat timeout. A `TimeoutError`. */
export class CallbackTimeoutError extends TimeoutError {
  constructor(
    readonly callbackName: string,
    readonly reason: 'timeout' | 'heartbeat',
    message: string,
  ) {
    super(message);
  }
}

/** An activity task could not be delivered or kept crashing its worker until its queue gave up on it. */
export class PoisonMessageError extends PerdureError {
  constructor(message: string) {
    super('POISON_MESSAGE', message);
  }
}

/** An orchestration's history reached its configured maximum length. */
export class HistoryLimitError extends PerdureError {
  constructor(message: string) {
    super('HISTORY_LIMIT', message);
  }
}

/** No instance has this id (it never existed or was purged). */
export class InstanceNotFoundError extends PerdureError {
  constructor(readonly instanceId: string) {
    super('INSTANCE_NOT_FOUND', `No orchestration instance '${instanceId}' exists: check the id, or it may have been purged.`);
  }
}

/** An instance with this id already exists; the start was rejected and nothing changed. */
export class InstanceExistsError extends PerdureError {
  constructor(readonly instanceId: string, existingName: string, existingStatus: string) {
    super(
      'INSTANCE_EXISTS',
      `An instance '${instanceId}' already exists (orchestration '${existingName}', status ${existingStatus}); the start was rejected and nothing changed. Use another instance id, or purge the old instance first.`,
    );
  }
}

/** No orchestration (or no such version of it) is registered under this name. */
export class OrchestrationNotFoundError extends PerdureError {
  constructor(message: string) {
    super('ORCHESTRATION_NOT_FOUND', message);
  }
}

/** No schedule is defined under this name (`app.schedule`). */
export class ScheduleNotFoundError extends PerdureError {
  constructor(message: string) {
    super('SCHEDULE_NOT_FOUND', message);
  }
}

/** No activity is registered under this name. */
export class ActivityNotFoundError extends PerdureError {
  constructor(message: string) {
    super('ACTIVITY_NOT_FOUND', message);
  }
}

/** The instance is in a state that does not allow the operation (e.g. raising an event on a finished instance). */
export class InvalidStateError extends PerdureError {
  constructor(message: string, code = 'INVALID_STATE') {
    super(code, message);
  }
}

/**
 * The callback was already completed or failed, with something else than this call sends (the same
 * completion sent again is answered as a duplicate instead). An `InvalidStateError`. Nothing was written.
 */
export class CallbackAlreadyCompletedError extends InvalidStateError {
  constructor(message: string) {
    super(message, 'CALLBACK_ALREADY_COMPLETED');
  }
}

/** The callback's timeout passed, or its heartbeats stopped, before this call: the orchestration no longer takes it. An `InvalidStateError`. */
export class CallbackExpiredError extends InvalidStateError {
  constructor(message: string) {
    super(message, 'CALLBACK_EXPIRED');
  }
}

/**
 * Throw this from an activity to fail it at once, without the remaining retry attempts.
 * @example
 * throw new NonRetryableError('card declined', { details: { reason: 'insufficient_funds' } });
 */
export class NonRetryableError extends Error {
  readonly nonRetryable = true;
  readonly details?: unknown;

  constructor(message: string, options?: { details?: unknown; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = 'NonRetryableError';
    this.details = options?.details;
  }
}

/** Turns anything thrown into the {@link FailureDetails} history records. */
export function toFailureDetails(thrown: unknown): FailureDetails {
  if (thrown instanceof Error) {
    const extra = thrown as Error & { details?: unknown; nonRetryable?: unknown; code?: unknown };
    const failure: FailureDetails = { name: thrown.name || 'Error', message: thrown.message };
    if (thrown.stack) failure.stack = thrown.stack;
    if (extra.details !== undefined) failure.details = jsonSafe(extra.details);
    if (extra.nonRetryable === true) failure.nonRetryable = true;
    if (thrown instanceof PerdureError) failure.code = thrown.code;
    return failure;
  }
  return { name: 'Error', message: typeof thrown === 'string' ? thrown : describeValue(thrown) };
}

/** Rebuilds an error from its recorded details, with the same name, message, stack and details. */
export function rebuildError(failure: FailureDetails): Error {
  const error = new Error(failure.message) as Error & { details?: unknown; code?: string; nonRetryable?: boolean };
  error.name = failure.name;
  if (failure.stack) error.stack = failure.stack;
  if (failure.details !== undefined) error.details = failure.details;
  if (failure.code) error.code = failure.code;
  if (failure.nonRetryable) error.nonRetryable = true;
  return error;
}

function jsonSafe(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return String(value);
  }
}
