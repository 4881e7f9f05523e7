import type { App, RegisteredOrchestration } from './app.js';
import { normalizeVersion } from './app.js';
import { toMilliseconds, formatDuration, type Duration } from './durations.js';
import { ActivityFailedError, describeValue, StepFailedError, SubOrchestrationFailedError, TimeoutError, ValidationError } from './errors.js';
import { childLogger, type Logger } from './logger.js';
import { validateEventName, validateInstanceId, validateName, validateOperationName } from './names.js';
import { toJsonPayload } from './payload.js';
import { TaskFailure, type OrchestrationExecutor, type StepCode } from './replay.js';
import { nextRetryDelay, resolveRetryPolicy, NO_RETRY, type ResolvedRetryPolicy } from './retry-policy.js';
import type {
  CallActivityOptions,
  StepFunction,
  StepOptions,
  ContinueAsNewOptions,
  MapOptions,
  OrchestrationContext,
  SubOrchestrationOptions,
  WaitForEventOptions,
} from './types.js';

/** How long one attempt of a `ctx.step` may run when the step does not say. */
const DEFAULT_STEP_TIMEOUT = '1m';

/** Thrown by `ctx.continueAsNew` to unwind the orchestration code; never seen by users who do not catch everything. */
export class ContinueAsNewSignal extends Error {
  constructor() {
    super('continueAsNew was called: this generation of the orchestration ends here.');
    this.name = 'ContinueAsNewSignal';
  }
}

/**
 * The `ctx` orchestration code receives. Each durable call takes its position from the executor, which
 * matches it against history; composite calls (retries, timeouts, map) are built from those primitives,
 * so every retry delay and timeout is itself a durable timer in history.
 */
export class OrchestrationContextImpl implements OrchestrationContext {
  readonly instanceId: string;
  readonly name: string;
  readonly version: string;
  readonly generation: number;
  readonly log: Logger;

  constructor(
    private readonly executor: OrchestrationExecutor,
    private readonly app: App,
    definition: RegisteredOrchestration,
    logger: Logger,
  ) {
    this.instanceId = executor.instanceId;
    this.generation = executor.generation;
    this.name = definition.name;
    this.version = definition.version;
    const log = childLogger(logger, { instanceId: this.instanceId, orchestration: this.name });
    // Lines written during replay were written when the code first ran.
    const whenLive =
      (level: keyof Logger) =>
      (message: string, fields?: Record<string, unknown>): void => {
        if (!executor.isReplaying) log[level](message, fields);
      };
    this.log = { debug: whenLive('debug'), info: whenLive('info'), warn: whenLive('warn'), error: whenLive('error') };
  }

  get isReplaying(): boolean {
    return this.executor.isReplaying;
  }

  get historyLength(): number {
    return this.executor.historyLength;
  }

  get isContinueAsNewSuggested(): boolean {
    return this.executor.historyLength >= this.app.historyWarningEvents;
  }

  callActivity<T = unknown>(name: string, input?: unknown, options: CallActivityOptions = {}): Promise<T> {
    return observed(this.runActivity<T>(name, input, options));
  }

  step<T = unknown>(name: string, fn: StepFunction<T>, options: StepOptions = {}): Promise<T> {
    return observed(this.runStep<T>(name, fn, options));
  }

  sleep(duration: Duration): Promise<void> {
    return observed(this.timer(toMilliseconds(duration, 'sleep duration'), 'sleep').then(() => undefined));
  }

  waitForEvent<T = unknown>(eventName: string, options: WaitForEventOptions = {}): Promise<T> {
    return observed(this.runWaitForEvent<T>(eventName, options));
  }

  callSubOrchestration<T = unknown>(name: string, input?: unknown, options: SubOrchestrationOptions = {}): Promise<T> {
    return observed(this.runSubOrchestration<T>(name, input, options));
  }

  map<I, O>(items: readonly I[], fn: (item: I, index: number) => Promise<O>, options: MapOptions = {}): Promise<O[]> {
    return observed(this.runMap(items, fn, options));
  }

  private async runActivity<T>(name: string, input: unknown, options: CallActivityOptions): Promise<T> {
    validateName(name, 'activity name');
    const policy = options.retry !== undefined ? resolveRetryPolicy(options.retry) : (this.app.findActivity(name)?.retry ?? NO_RETRY);
    return this.attempts<T>(name, toJsonPayload(input, `input of activity '${name}'`), policy);
  }

  private async runStep<T>(name: string, fn: StepFunction<T>, options: StepOptions): Promise<T> {
    validateOperationName(name, 'step name');
    if (typeof fn !== 'function') throw new ValidationError(`ctx.step('${name}') needs a function, got ${describeValue(fn)}.`);
    const timeoutMs = toMilliseconds(options.timeout ?? DEFAULT_STEP_TIMEOUT, `timeout of step '${name}'`);
    return this.attempts<T>(name, undefined, resolveRetryPolicy(options.retry ?? {}), { fn: fn, timeoutMs });
  }

  /** The attempts of one activity call or step, each its own position, with a durable retry timer between them. */
  private async attempts<T>(name: string, input: unknown, policy: ResolvedRetryPolicy, step?: StepCode): Promise<T> {
    let idempotencyKey = '';
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.executor.schedule((taskId) => {
          idempotencyKey ||= `${this.instanceId}:${this.generation}:${taskId}`;
          return { type: 'ActivityScheduled', taskId, name, input, attempt, idempotencyKey, ...(step ? { step: true as const } : {}) };
        }, step)) as T;
      } catch (thrown) {
        // Only a recorded failure is the call's; anything else (a durable call inside a step) is the code's own.
        if (!(thrown instanceof TaskFailure)) throw thrown;
        const failure = thrown.failure;
        const delay = nextRetryDelay(policy, attempt, failure);
        if (delay === undefined) throw step ? new StepFailedError(name, attempt, failure) : new ActivityFailedError(name, attempt, failure);
        await this.timer(delay, 'retry');
      }
    }
  }

  private async runWaitForEvent<T>(eventName: string, options: WaitForEventOptions): Promise<T> {
    validateEventName(eventName);
    const timeoutMs = options.timeout === undefined ? undefined : toMilliseconds(options.timeout, 'waitForEvent timeout');
    const wait = this.executor.waitForEvent(eventName);
    if (wait.immediate || timeoutMs === undefined) return (await wait.promise) as T;
    const timedOut = this.timer(timeoutMs, 'timeout').then(() => {
      if (!wait.cancel()) return wait.promise;
      throw new TimeoutError(`No '${eventName}' event arrived within ${formatDuration(timeoutMs)} (instance '${this.instanceId}').`);
    });
    return (await Promise.race([wait.promise, timedOut])) as T;
  }

  private async runSubOrchestration<T>(name: string, input: unknown, options: SubOrchestrationOptions): Promise<T> {
    validateName(name, 'orchestration name');
    if (options.instanceId !== undefined) validateInstanceId(options.instanceId);
    const version = options.version === undefined ? undefined : normalizeVersion(options.version);
    const payload = toJsonPayload(input, `input of sub-orchestration '${name}'`);
    let childId = '';
    try {
      return (await this.executor.schedule((taskId) => {
        childId = options.instanceId ?? `${this.instanceId}:${this.generation}.${taskId}`;
        return { type: 'SubOrchestrationScheduled', taskId, name, version, instanceId: childId, input: payload };
      })) as T;
    } catch (thrown) {
      if (!(thrown instanceof TaskFailure)) throw thrown;
      throw new SubOrchestrationFailedError(name, childId, thrown.failure);
    }
  }

  private async runMap<I, O>(items: readonly I[], fn: (item: I, index: number) => Promise<O>, options: MapOptions): Promise<O[]> {
    const concurrency = options.concurrency ?? items.length;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      if (items.length === 0) return [];
      throw new ValidationError(`ctx.map concurrency must be an integer ≥ 1, got ${describeValue(options.concurrency)}.`);
    }
    const results = new Array<O>(items.length);
    let next = 0;
    let failed = false;
    const lane = async (): Promise<void> => {
      while (!failed && next < items.length) {
        const index = next++;
        try {
          results[index] = await fn(items[index]!, index);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
    return results;
  }

  continueAsNew(input?: unknown, options: ContinueAsNewOptions = {}): never {
    const version = options.version === undefined ? this.version : normalizeVersion(options.version);
    return this.executor.continueAsNew(toJsonPayload(input, `input of continueAsNew in '${this.name}'`), version);
  }

  now(): Date {
    return new Date(this.executor.now());
  }

  random(): number {
    return this.executor.random();
  }

  uuid(): string {
    return this.executor.uuid();
  }

  patched(changeId: string): boolean {
    if (typeof changeId !== 'string' || changeId.length === 0 || changeId.length > 100) {
      throw new ValidationError(`ctx.patched needs a change id of 1–100 characters, got ${describeValue(changeId)}.`);
    }
    return this.executor.patched(changeId);
  }

  private timer(delayMs: number, purpose: 'sleep' | 'retry' | 'timeout'): Promise<unknown> {
    const fireAt = this.executor.now() + delayMs;
    return this.executor.schedule((taskId) => ({ type: 'TimerCreated', taskId, fireAt, purpose }));
  }
}

/**
 * Marks a durable call's promise as handled, so a call the code never awaits cannot crash the worker with
 * an unhandled rejection; code that awaits it still receives the error.
 */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
