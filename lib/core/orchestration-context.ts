import type { App, RegisteredOrchestration } from './app.js';
import { normalizeVersion } from './app.js';
import { restoreBatchResult, runBatch } from './batch.js';
import { formatCallbackToken } from './callback-token.js';
import { toMilliseconds, formatDuration, isDurationParts, type Duration } from './durations.js';
import {
  ActivityFailedError,
  CallbackFailedError,
  CallbackTimeoutError,
  ChildFailedError,
  describeValue,
  StepFailedError,
  SubOrchestrationFailedError,
  TimeoutError,
  toFailureDetails,
  ValidationError,
  type FailureDetails,
} from './errors.js';
import type { DurableCall, InterceptorChain } from './interceptors.js';
import { childLogger, type Logger } from './logger.js';
import { validateEventName, validateInstanceId, validateName, validateOperationName } from './names.js';
import { toJsonPayload } from './payload.js';
import { runShielded } from './determinism-guard.js';
import { ROOT_SCOPE, TaskFailure, type OrchestrationExecutor, type Scope, type StepCode } from './replay.js';
import { NO_RETRY, resolveRetry, retryDelay, type RetryRule } from './retry-policy.js';
import type {
  ActivityContext,
  BatchOptions,
  BatchResult,
  CallActivityOptions,
  Callback,
  CallbackOptions,
  CallbackSubmitter,
  CompletionPolicy,
  ContinueAsNewOptions,
  MapOptions,
  OrchestrationContext,
  ParallelBranch,
  ParentClosePolicy,
  SleepOptions,
  StepFunction,
  StepOptions,
  SubOrchestrationOptions,
  WaitForCallbackOptions,
  WaitForConditionOptions,
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

type TimerPurpose = 'sleep' | 'retry' | 'timeout';

/**
 * The `ctx` orchestration code receives. Each durable call takes its position from the executor, which
 * matches it against history; composite calls (retries, timeouts, callbacks, batches, polling) are built
 * from those primitives, so every retry delay and timeout is itself a durable timer in history. A child
 * context (`ctx.child`) is another of these, whose calls take positions in the child's own scope.
 */
const PARENT_CLOSE_POLICIES: readonly ParentClosePolicy[] = ['cancel', 'terminate', 'abandon'];

export class OrchestrationContextImpl implements OrchestrationContext {
  readonly instanceId: string;
  readonly name: string;
  readonly version: string;
  readonly generation: number;
  readonly log: Logger;
  /** The app's `call` interceptors: undefined until looked up, null when there are none. */
  private callChain: InterceptorChain | null | undefined;

  constructor(
    private readonly executor: OrchestrationExecutor,
    private readonly app: App,
    private readonly definition: RegisteredOrchestration,
    private readonly logger: Logger,
    /** The child context this is, or the orchestration's own code. */
    private readonly scope: Scope = ROOT_SCOPE,
  ) {
    this.instanceId = executor.instanceId;
    this.generation = executor.generation;
    this.name = definition.name;
    this.version = definition.version;
    const log = childLogger(logger, { instanceId: this.instanceId, orchestration: this.name });
    // Lines written during replay were written when the code first ran.
    const whenLive =
      (level: keyof Logger) =>
      (message: string, ...fields: Record<string, unknown>[]): void => {
        if (!executor.isReplaying) log[level](message, ...fields);
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

  // --- activities and steps ----------------------------------------------------------------------------

  callActivity<T = unknown>(name: string, input?: unknown, options: CallActivityOptions = {}): Promise<T> {
    return observed(this.intercepted('activity', name, input, (given) => this.runActivity<T>(name, given, options)));
  }

  step<T = unknown>(name: string, fn: StepFunction<T>, options: StepOptions = {}): Promise<T> {
    return observed(this.intercepted('step', name, undefined, () => this.runStep<T>(name, fn, options)));
  }

  /** Runs a durable call inside the app's `call` interceptors, if any: in orchestration code, so on every replay. */
  private intercepted<T>(kind: DurableCall['kind'], name: string | undefined, input: unknown, run: (input: unknown) => Promise<T>): Promise<T> {
    const chain = this.calls();
    if (!chain) return run(input);
    const call: DurableCall = { kind, ...(name !== undefined ? { name } : {}), ...(input !== undefined ? { input } : {}), instanceId: this.instanceId, orchestration: this.name, isReplaying: this.executor.isReplaying };
    return chain.call(call, (given) => run(given.input)) as Promise<T>;
  }

  /** The app's interceptors that wrap durable calls, found once per context. */
  private calls(): InterceptorChain | undefined {
    if (this.callChain === undefined) {
      const chain = this.app.interceptorChain();
      this.callChain = chain.interceptsCalls ? chain : null;
    }
    return this.callChain ?? undefined;
  }

  private async runActivity<T>(name: string, input: unknown, options: CallActivityOptions): Promise<T> {
    validateName(name, 'activity name');
    const activity = this.app.findActivity(name);
    const rule = options.retry !== undefined ? resolveRetry(options.retry) : (activity?.retry ?? NO_RETRY);
    return this.attempts<T>(name, toJsonPayload(input, `input of activity '${name}'`), rule, undefined, activity?.scheduleToCloseTimeoutMs);
  }

  private async runStep<T>(name: string, fn: StepFunction<T>, options: StepOptions): Promise<T> {
    validateOperationName(name, 'step name');
    if (typeof fn !== 'function') throw new ValidationError(`ctx.step('${name}') needs a function, got ${describeValue(fn)}.`);
    const timeoutMs = toMilliseconds(options.timeout ?? DEFAULT_STEP_TIMEOUT, `timeout of step '${name}'`);
    return this.attempts<T>(name, undefined, resolveRetry(options.retry ?? {}), { fn: fn, timeoutMs });
  }

  /**
   * The attempts of one activity call or step, each its own position, with a durable retry timer between
   * them. With a budget (`scheduleToCloseTimeout`), the first attempt records when it runs out; the retry
   * decision compares that recorded time with the step's time, so a replay decides as the first run did.
   */
  private async attempts<T>(name: string, input: unknown, rule: RetryRule, step?: StepCode, budgetMs?: number): Promise<T> {
    let idempotencyKey = '';
    let scheduleToCloseAt: number | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.executor.schedule((taskId) => {
          idempotencyKey ||= `${this.instanceId}:${this.generation}:${taskId}`;
          if (attempt === 1) {
            // History's budget wins over the code's: a call recorded without one keeps none.
            const recorded = this.executor.recordedScheduleToClose(taskId);
            scheduleToCloseAt = recorded ? recorded.at : budgetMs !== undefined ? this.executor.now() + budgetMs : undefined;
          }
          return {
            type: 'ActivityScheduled',
            taskId,
            name,
            input,
            attempt,
            idempotencyKey,
            ...(step ? { step: true as const } : {}),
            ...(scheduleToCloseAt !== undefined ? { scheduleToCloseAt } : {}),
          };
        }, { step, scope: this.scope })) as T;
      } catch (thrown) {
        // Only a recorded failure is the call's; anything else (a durable call inside a step) is the code's own.
        if (!(thrown instanceof TaskFailure)) throw thrown;
        const failure = thrown.failure;
        const delay = retryDelay(rule, attempt, failure);
        if (delay === undefined) throw step ? new StepFailedError(name, attempt, failure) : new ActivityFailedError(name, attempt, failure);
        if (scheduleToCloseAt !== undefined && this.executor.now() + delay >= scheduleToCloseAt) {
          throw new ActivityFailedError(name, attempt, budgetSpent(name, attempt, failure, scheduleToCloseAt - this.executor.now(), delay));
        }
        await this.timer(delay, 'retry');
      }
    }
  }

  // --- waiting -----------------------------------------------------------------------------------------

  sleep(durationOrName: Duration | string, second?: Duration | SleepOptions): Promise<void> {
    const named = second !== undefined && (typeof second !== 'object' || second === null || isDurationParts(second));
    const duration = named ? (second) : (durationOrName);
    const name = named ? validateOperationName(durationOrName, 'sleep name') : (second)?.name;
    if (name !== undefined) validateOperationName(name, 'sleep name');
    const ms = toMilliseconds(duration, 'sleep duration');
    return observed(this.intercepted('sleep', name, undefined, () => this.timer(ms, 'sleep', name).then(() => undefined)));
  }

  sleepUntil(time: Date | number, options: SleepOptions = {}): Promise<void> {
    const fireAt = time instanceof Date ? time.getTime() : time;
    if (typeof fireAt !== 'number' || !Number.isFinite(fireAt)) throw new ValidationError(`ctx.sleepUntil needs a Date or ms since the epoch, got ${describeValue(time)}.`);
    if (options.name !== undefined) validateOperationName(options.name, 'sleep name');
    return observed(this.timerAt(Math.max(fireAt, this.executor.now()), 'sleep', options.name).then(() => undefined));
  }

  waitForEvent<T = unknown>(eventName: string, options: WaitForEventOptions = {}): Promise<T> {
    return observed(this.intercepted('event', eventName, undefined, () => this.runWaitForEvent<T>(eventName, options)));
  }

  private async runWaitForEvent<T>(eventName: string, options: WaitForEventOptions): Promise<T> {
    validateEventName(eventName);
    const timeoutMs = options.timeout === undefined ? undefined : toMilliseconds(options.timeout, 'waitForEvent timeout');
    const wait = this.executor.waitForEvent(eventName);
    if (wait.immediate || timeoutMs === undefined) return (await wait.promise) as T;
    const timedOut = this.timer(timeoutMs, 'timeout', eventName).then(() => {
      if (!wait.cancel()) return wait.promise;
      throw new TimeoutError(`No '${eventName}' event arrived within ${formatDuration(timeoutMs)} (instance '${this.instanceId}').`);
    });
    return (await Promise.race([wait.promise, timedOut])) as T;
  }

  waitForCondition<S>(check: (state: S, actx: ActivityContext) => Promise<S> | S, options: WaitForConditionOptions<S>): Promise<S> {
    return observed(this.runWaitForCondition(check, options));
  }

  private async runWaitForCondition<S>(check: (state: S, actx: ActivityContext) => Promise<S> | S, options: WaitForConditionOptions<S>): Promise<S> {
    if (typeof check !== 'function') throw new ValidationError(`ctx.waitForCondition needs a check function, got ${describeValue(check)}.`);
    if (typeof options?.waitStrategy !== 'function') throw new ValidationError('ctx.waitForCondition needs options.waitStrategy: (state, attempt) => ({ shouldContinue: false }) or ({ shouldContinue: true, delay }).');
    const name = options.name ?? 'waitForCondition';
    validateOperationName(name, 'waitForCondition name');
    let state = options.initialState;
    for (let attempt = 1; ; attempt++) {
      const current = state;
      state = await this.runStep<S>(`${name} #${attempt}`, (actx) => check(current, actx), { retry: options.retry ?? { maxAttempts: 1 } });
      const decision = options.waitStrategy(state, attempt) as unknown;
      if (typeof decision !== 'object' || decision === null || typeof (decision as { shouldContinue?: unknown }).shouldContinue !== 'boolean') {
        throw new ValidationError(`The waitStrategy of ctx.waitForCondition('${name}') must return { shouldContinue: false } or { shouldContinue: true, delay }, got ${describeValue(decision)}.`);
      }
      const next = decision as { shouldContinue: boolean; delay?: Duration };
      if (!next.shouldContinue) return state;
      await this.timer(toMilliseconds(next.delay ?? '', `delay of ctx.waitForCondition('${name}')`), 'sleep', name);
    }
  }

  // --- children, callbacks ----------------------------------------------------------------------------

  callSubOrchestration<T = unknown>(name: string, input?: unknown, options: SubOrchestrationOptions = {}): Promise<T> {
    return observed(this.intercepted('subOrchestration', name, input, (given) => this.runSubOrchestration<T>(name, given, options)));
  }

  startSubOrchestration(name: string, input?: unknown, options: SubOrchestrationOptions = {}): Promise<string> {
    return observed(this.intercepted('subOrchestration', name, input, (given) => this.runSubOrchestration<string>(name, given, options, true)));
  }

  private async runSubOrchestration<T>(name: string, input: unknown, options: SubOrchestrationOptions, detached = false): Promise<T> {
    validateName(name, 'orchestration name');
    if (options.instanceId !== undefined) validateInstanceId(options.instanceId);
    if (options.parentClose !== undefined && !PARENT_CLOSE_POLICIES.includes(options.parentClose)) {
      throw new ValidationError(`parentClose of sub-orchestration '${name}' must be one of ${PARENT_CLOSE_POLICIES.map((p) => `'${p}'`).join(', ')}, got ${describeValue(options.parentClose)}.`);
    }
    const version = options.version === undefined ? undefined : normalizeVersion(options.version);
    const payload = toJsonPayload(input, `input of sub-orchestration '${name}'`);
    let childId = '';
    try {
      return (await this.executor.schedule((taskId) => {
        childId = options.instanceId ?? `${this.instanceId}:${this.generation}.${taskId}`;
        return {
          type: 'SubOrchestrationScheduled',
          taskId,
          name,
          version,
          instanceId: childId,
          input: payload,
          ...(options.parentClose !== undefined ? { parentClose: options.parentClose } : {}),
          ...(detached ? { detached: true as const } : {}),
        };
      }, { scope: this.scope })) as T;
    } catch (thrown) {
      if (!(thrown instanceof TaskFailure)) throw thrown;
      throw new SubOrchestrationFailedError(name, childId, thrown.failure);
    }
  }

  // --- cancellation and status ------------------------------------------------------------------------

  nonCancellable<T>(fn: () => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw new ValidationError(`ctx.nonCancellable needs a function, got ${describeValue(fn)}.`);
    return runShielded(() => Promise.resolve().then(fn));
  }

  get isCancellationRequested(): boolean {
    return this.executor.isCancellationRequested;
  }

  setStatus(value: unknown): void {
    this.executor.setCustomStatus(value);
  }

  child<T>(name: string, fn: (ctx: OrchestrationContext) => Promise<T>): Promise<T> {
    validateOperationName(name, 'child name');
    if (typeof fn !== 'function') throw new ValidationError(`ctx.child('${name}') needs a function, got ${describeValue(fn)}.`);
    const { taskId, promise } = this.executor.call((id) => ({ type: 'ChildStarted', taskId: id, name }), { scope: this.scope });
    // A child that ended in history returns its recorded result when replay reaches it, without running again.
    if (taskId !== 0 && !this.executor.skipEndedChild(taskId)) {
      const childContext = new OrchestrationContextImpl(this.executor, this.app, this.definition, this.logger, taskId);
      Promise.resolve()
        .then(() => fn(childContext))
        .then(
          (result) => this.executor.endChild(taskId, { result: toJsonPayload(result, `result of child '${name}'`) }),
          (error: unknown) => {
            if (error instanceof ContinueAsNewSignal) throw error;
            this.executor.endChild(taskId, { failure: toFailureDetails(error) });
          },
        )
        .catch((error: unknown) => this.executor.endChild(taskId, { failure: toFailureDetails(error) }));
    }
    return observed(
      promise.then(
        // Recorded as JSON: a BatchResult the child returned gets its methods back.
        (value) => restoreBatchResult(value) as T,
        (thrown: unknown) => {
          throw thrown instanceof TaskFailure ? new ChildFailedError(name, thrown.failure) : thrown;
        },
      ),
    );
  }

  createCallback<T = unknown>(nameOrOptions: string | CallbackOptions = {}, more: Omit<CallbackOptions, 'name'> = {}): Callback<T> {
    if (typeof nameOrOptions !== 'string' && (typeof nameOrOptions !== 'object' || nameOrOptions === null || Array.isArray(nameOrOptions))) {
      throw new ValidationError(`ctx.createCallback takes a name, options, or both: createCallback('approval', { timeout: '3d' }); got ${describeValue(nameOrOptions)}.`);
    }
    const options: CallbackOptions = typeof nameOrOptions === 'string' ? { ...more, name: nameOrOptions } : nameOrOptions;
    const { name } = options;
    if (name !== undefined) validateOperationName(name, 'callback name');
    const timeoutMs = options.timeout === undefined ? undefined : toMilliseconds(options.timeout, 'callback timeout');
    const heartbeatMs = options.heartbeatTimeout === undefined ? undefined : toMilliseconds(options.heartbeatTimeout, 'callback heartbeatTimeout');
    const createdAt = this.executor.now();
    let nonce = '';
    const { taskId, promise } = this.executor.call((id) => {
      nonce = this.executor.callbackNonce(id);
      return {
        type: 'CallbackCreated',
        taskId: id,
        nonce,
        ...(name !== undefined ? { name } : {}),
        ...(timeoutMs !== undefined ? { timeoutAt: createdAt + timeoutMs } : {}),
        ...(heartbeatMs !== undefined ? { heartbeatTimeoutMs: heartbeatMs } : {}),
      };
    }, { scope: this.scope });
    const what = name === undefined ? `at position ${taskId}` : `'${name}'`;
    const id = taskId === 0 ? '' : formatCallbackToken({ instanceId: this.instanceId, generation: this.generation, taskId, nonce });
    return { id, promise: observed(this.watchCallback<T>(taskId, promise, what, timeoutMs, heartbeatMs, createdAt)) };
  }

  /** The callback's result, or its failure, or a timeout: whichever history records first. */
  private watchCallback<T>(taskId: number, completion: Promise<unknown>, what: string, timeoutMs: number | undefined, heartbeatMs: number | undefined, createdAt: number): Promise<T> {
    let done = false;
    const result = completion.then(
      (value) => {
        done = true;
        return value as T;
      },
      (thrown: unknown) => {
        done = true;
        throw thrown instanceof TaskFailure ? new CallbackFailedError(what, thrown.failure) : thrown;
      },
    );
    const watches: Promise<T>[] = [result];
    if (timeoutMs !== undefined) {
      watches.push(
        this.timer(timeoutMs, 'timeout', 'callback').then(() => {
          if (done) return result;
          throw new CallbackTimeoutError(what, 'timeout', `Callback ${what} of instance '${this.instanceId}' was not completed within ${formatDuration(timeoutMs)}.`);
        }),
      );
    }
    if (heartbeatMs !== undefined) watches.push(this.watchHeartbeats(taskId, () => done, result, what, heartbeatMs, createdAt));
    return watches.length === 1 ? result : Promise.race(watches);
  }

  /** Fails the callback once the outside system has been silent (no heartbeat, no completion) for `heartbeatMs`. */
  private async watchHeartbeats<T>(taskId: number, done: () => boolean, result: Promise<T>, what: string, heartbeatMs: number, createdAt: number): Promise<T> {
    for (;;) {
      await this.timerAt((this.executor.lastHeartbeat(taskId) ?? createdAt) + heartbeatMs, 'timeout', 'heartbeat');
      if (done()) return result;
      const last = this.executor.lastHeartbeat(taskId) ?? createdAt;
      if (this.executor.now() - last >= heartbeatMs) {
        throw new CallbackTimeoutError(what, 'heartbeat', `Callback ${what} of instance '${this.instanceId}' had no heartbeat for ${formatDuration(heartbeatMs)}.`);
      }
    }
  }

  waitForCallback<T = unknown>(name: string, submitter: CallbackSubmitter, options: WaitForCallbackOptions = {}): Promise<T> {
    return observed(this.runWaitForCallback<T>(name, submitter, options));
  }

  private async runWaitForCallback<T>(name: string, submitter: CallbackSubmitter, options: WaitForCallbackOptions): Promise<T> {
    validateOperationName(name, 'callback name');
    if (typeof submitter !== 'function') throw new ValidationError(`ctx.waitForCallback('${name}') needs a submitter function, got ${describeValue(submitter)}.`);
    const { retry, ...callbackOptions } = options;
    const callback = this.createCallback<T>({ ...callbackOptions, name });
    await this.runStep(`${name} submitter`, (actx) => submitter(callback.id, actx), { retry: retry ?? {} });
    return callback.promise;
  }

  // --- batches -----------------------------------------------------------------------------------------

  map<I, O>(items: readonly I[], fn: (item: I, index: number) => Promise<O>, options: MapOptions & { completion: CompletionPolicy }): Promise<BatchResult<O>>;
  map<I, O>(items: readonly I[], fn: (item: I, index: number) => Promise<O>, options?: MapOptions): Promise<O[]>;
  map<I, O>(items: readonly I[], fn: (item: I, index: number) => Promise<O>, options: MapOptions = {}): Promise<O[] | BatchResult<O>> {
    if (options.completion !== undefined) return observed(runBatch(items.map((item, index) => () => fn(item, index)), options, 'ctx.map'));
    return observed(this.runMap(items, fn, options));
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

  parallel<T>(branches: readonly (ParallelBranch<T> | { name: string; fn: ParallelBranch<T> })[], options: BatchOptions = {}): Promise<BatchResult<T>> {
    if (!Array.isArray(branches)) throw new ValidationError(`ctx.parallel needs an array of branches, got ${describeValue(branches)}.`);
    const list: readonly (ParallelBranch<T> | { name: string; fn: ParallelBranch<T> })[] = branches;
    const tasks = list.map((branch, index) => {
      const { name, fn }: { name: string; fn: ParallelBranch<T> } = typeof branch === 'function' ? { name: `branch ${index}`, fn: branch } : branch;
      if (typeof fn !== 'function') throw new ValidationError(`Branch ${index} of ctx.parallel is not a function (or { name, fn }).`);
      return (): Promise<T> => this.child<T>(name, fn);
    });
    return observed(runBatch(tasks, options, 'ctx.parallel'));
  }

  // --- the rest ----------------------------------------------------------------------------------------

  continueAsNew(input?: unknown, options: ContinueAsNewOptions = {}): never {
    if (this.scope !== ROOT_SCOPE) throw new ValidationError('ctx.continueAsNew cannot be called inside a ctx.child: return from the child and call it on the orchestration\'s ctx.');
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

  private timer(delayMs: number, purpose: TimerPurpose, name?: string): Promise<unknown> {
    return this.timerAt(this.executor.now() + delayMs, purpose, name);
  }

  private timerAt(fireAt: number, purpose: TimerPurpose, name?: string): Promise<unknown> {
    return this.executor.schedule((taskId) => ({ type: 'TimerCreated', taskId, fireAt, purpose, ...(name !== undefined ? { name } : {}) }), { scope: this.scope });
  }
}

/** The failure of a call whose next attempt would start after its `scheduleToCloseTimeout` ran out: not retried. */
function budgetSpent(name: string, attempts: number, last: FailureDetails, leftMs: number, delayMs: number): FailureDetails {
  const left = leftMs > 0 ? `only ${formatDuration(leftMs)} of it was left for a retry in ${formatDuration(delayMs)}` : 'it ran out';
  const error = new TimeoutError(
    `Activity '${name}' used up its scheduleToCloseTimeout after ${attempts} attempt${attempts === 1 ? '' : 's'} (${left}); the last attempt failed with ${last.name}: ${last.message}`,
  );
  return { ...toFailureDetails(error), nonRetryable: true };
}

/**
 * Marks a durable call's promise as handled, so a call the code never awaits cannot crash the worker with
 * an unhandled rejection; code that awaits it still receives the error.
 */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
