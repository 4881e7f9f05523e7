import type { Duration } from './durations.js';
import type { Logger } from './logger.js';
import type { RetryPolicy } from './retry-policy.js';

/** What becomes of a running child when its parent ends or is cancelled. */
export type ParentClosePolicy = 'cancel' | 'terminate' | 'abandon';

/**
 * A retry decision made by code, for what a policy cannot say: `(error, attempt) => ({ shouldRetry, delay })`.
 * It runs in orchestration code, so it must be deterministic (decide from the error and the attempt only).
 * @example retry: (error, attempt) => ({ shouldRetry: error.name === 'Throttled' && attempt < 8, delay: `${attempt * 2}s` })
 */
export type RetryStrategy = (error: Error, attempt: number) => { shouldRetry: boolean; delay?: Duration };

/** Options of one `ctx.callActivity` call. */
export interface CallActivityOptions {
  /** Overrides the retry policy the activity was registered with. */
  retry?: RetryPolicy | RetryStrategy;
}

/** Options of `ctx.sleep` and `ctx.sleepUntil`. */
export interface SleepOptions {
  /** A name for the wait, kept in history and shown by the CLI and the web view. */
  name?: string;
}

/** Options of `ctx.createCallback`. */
export interface CallbackOptions {
  /** A name for the callback, kept in history and shown by the CLI and the web view. */
  name?: string;
  /** Fails the callback with a `CallbackTimeoutError` when it is not completed within this long. */
  timeout?: Duration;
  /** Fails the callback with a `CallbackTimeoutError` when the outside system neither completes it nor sends a heartbeat within this long. */
  heartbeatTimeout?: Duration;
}

/** A callback: a token to hand to an outside system, and the result it will send. */
export interface Callback<T> {
  /**
   * The callback's token: opaque and unguessable. The outside system completes the callback with it:
   * `client.completeCallback(id, result)`, `failCallback` or `heartbeatCallback`, or `POST /callbacks/{token}/succeed|fail|heartbeat`.
   */
  readonly id: string;
  /** The result the outside system sends; rejects with a `CallbackFailedError` or a `CallbackTimeoutError`. */
  readonly promise: Promise<T>;
}

/** Options of `actx.callbackUrls`. */
export interface CallbackUrlOptions {
  /** How long the URLs work. Give them the shortest life that works: whoever holds one can use it until then. @defaultValue '7d' (at most '365d') */
  expiresIn?: Duration;
}

/**
 * Signed URLs of one callback, for an outside system without AWS credentials: each does one thing (POST
 * to it) until `expiresAt`. `succeed` takes the result as its JSON body, `fail` takes
 * `{ "error": { "message", "name"?, "details"? } }`, `heartbeat` takes no body.
 */
export interface CallbackUrls {
  readonly succeed: string;
  readonly fail: string;
  readonly heartbeat: string;
  /** ISO 8601. */
  readonly expiresAt: string;
}

/** Options of `ctx.waitForCallback`. */
export interface WaitForCallbackOptions extends Omit<CallbackOptions, 'name'> {
  /** How the submitter is retried (it runs as a `ctx.step`). @defaultValue `{ maxAttempts: 3 }` */
  retry?: RetryPolicy | RetryStrategy;
}

/** Hands a callback's token to the outside system (an email with a link, a request to a partner's API). */
export type CallbackSubmitter = (callbackId: string, actx: ActivityContext) => Promise<void> | void;

/** When a batch (`ctx.map` with `completion`, `ctx.parallel`) is done before all its items are. */
export interface CompletionPolicy {
  /** Done as soon as this many items succeeded. */
  minSuccessful?: number;
  /** Done (failed) as soon as more items than this failed. @defaultValue all failures tolerated */
  toleratedFailureCount?: number;
  /** Done (failed) as soon as more than this percentage of the items failed. */
  toleratedFailurePercentage?: number;
}

/** Options of `ctx.parallel` (and of `ctx.map` with a completion policy). */
export interface BatchOptions {
  /** At most this many items in flight at once. @defaultValue all of them */
  concurrency?: number;
  completion?: CompletionPolicy;
}

/** What became of one item of a batch: items the policy no longer needed are `abandoned` (running) or `notStarted`. */
export type BatchItemStatus = 'succeeded' | 'failed' | 'abandoned' | 'notStarted';

export interface BatchItem<T> {
  index: number;
  status: BatchItemStatus;
  result?: T;
  error?: Error;
}

/** Why a batch ended. */
export type BatchCompletionReason = 'ALL_COMPLETED' | 'MIN_SUCCESSFUL_REACHED' | 'FAILURE_TOLERANCE_EXCEEDED';

/** The outcome of every item of a batch, in item order. */
export interface BatchResult<T> {
  readonly items: readonly BatchItem<T>[];
  readonly completionReason: BatchCompletionReason;
  readonly successCount: number;
  readonly failureCount: number;
  succeeded(): BatchItem<T>[];
  failed(): BatchItem<T>[];
  /** The results of the items that succeeded, in item order. */
  results(): T[];
  /** Throws the first item's error when any failed (as `ctx.map` without a policy would have). */
  throwIfError(): void;
}

/** Options of `ctx.waitForCondition`. */
export interface WaitForConditionOptions<S> {
  /** The state the first check receives. */
  initialState: S;
  /** After each check: stop (`{ shouldContinue: false }`), or wait `delay` and check again. */
  waitStrategy: (state: S, attempt: number) => { shouldContinue: false } | { shouldContinue: true; delay: Duration };
  /** Names the checks (steps `<name> #1`, `#2`...) and the waits. @defaultValue 'waitForCondition' */
  name?: string;
  /** How one check is retried when it throws. @defaultValue one attempt */
  retry?: RetryPolicy | RetryStrategy;
}

/** Options of `ctx.step`. */
export interface StepOptions {
  /** How failed attempts are retried; each delay is a durable timer. @defaultValue `{ maxAttempts: 3 }` (1 s, then 2 s) */
  retry?: RetryPolicy | RetryStrategy;
  /** An attempt that runs longer fails with a `TimeoutError` (and is retried by the policy). @defaultValue '1m' */
  timeout?: Duration;
}

/** One branch of `ctx.parallel`: it runs in a child context of its own. */
export type ParallelBranch<T> = (ctx: OrchestrationContext) => Promise<T>;

/** The function of a `ctx.step`: it runs inside the orchestrator's invocation, at least once. */
export type StepFunction<T = unknown> = (actx: ActivityContext) => Promise<T> | T;

/** Options of `ctx.waitForEvent`. */
export interface WaitForEventOptions {
  /** When set, the wait rejects with a `TimeoutError` after this long. */
  timeout?: Duration;
}

/** Options of `ctx.callSubOrchestration`. */
export interface SubOrchestrationOptions {
  /** The child's instance id. @defaultValue `<parentId>:<generation>.<position>` (deterministic) */
  instanceId?: string;
  /** The child's version. @defaultValue the latest registered version */
  version?: string | number;
  /**
   * What becomes of the child if this instance ends, or is cancelled, while the child still runs:
   * `'cancel'` asks it to cancel (its code sees a `CancelledError` and may clean up), `'terminate'` ends it
   * at once, `'abandon'` lets it run on. @defaultValue 'cancel' ('abandon' for `ctx.startSubOrchestration`)
   */
  parentClose?: ParentClosePolicy;
}

/** Options of `ctx.map`. */
export interface MapOptions {
  /** At most this many items in flight at once. @defaultValue all of them */
  concurrency?: number;
  /** Returns a `BatchResult` instead of throwing the first failure, and ends the batch early as the policy says. */
  completion?: CompletionPolicy;
}

/** Options of `ctx.continueAsNew`. */
export interface ContinueAsNewOptions {
  /** The version the next generation runs. @defaultValue the current version */
  version?: string | number;
}

/**
 * What orchestration code receives as `ctx`. Every method is replay-safe: on replay it returns what
 * history recorded instead of doing the work again.
 */
export interface OrchestrationContext {
  /** The instance's id. */
  readonly instanceId: string;
  /** The orchestration's registered name. */
  readonly name: string;
  /** The version this instance is pinned to. */
  readonly version: string;
  /** Counts `continueAsNew` restarts; 0 for the first history. */
  readonly generation: number;
  /** True while the code re-runs past steps from history (side effects in orchestration code would repeat). */
  readonly isReplaying: boolean;
  /** Events in this generation's history so far. */
  readonly historyLength: number;
  /** True once the history is long enough that the code should call `continueAsNew`. */
  readonly isContinueAsNewSuggested: boolean;
  /** A logger that stays silent during replay, so each line is written once. */
  readonly log: Logger;

  /**
   * Runs an activity (at least once; retried by its policy) and returns its result.
   * @example const receipt = await ctx.callActivity<Receipt>('chargeCard', order, { retry: { maxAttempts: 5 } });
   */
  callActivity<T = unknown>(name: string, input?: unknown, options?: CallActivityOptions): Promise<T>;
  /**
   * Runs `fn` inside this invocation, as a step: its result is recorded with the next commit, so a replay
   * returns it without running `fn` again. At least once: a crash before the commit runs it again, with the
   * same `actx.idempotencyKey`. Failed attempts are retried by `retry` (durable timers, as for activities).
   * Make no durable calls inside `fn`. Prefer `callActivity` for long, CPU-heavy work or work that needs
   * other permissions or memory than the orchestrator.
   * @example const quote = await ctx.step('fetchQuote', () => pricing.quote(order.sku), { retry: { maxAttempts: 5 } });
   */
  step<T = unknown>(name: string, fn: StepFunction<T>, options?: StepOptions): Promise<T>;
  /**
   * Waits durably: the instance is unloaded and resumed by a timer. A first string argument followed by a
   * duration names the wait.
   * @example await ctx.sleep('3d');
   * @example await ctx.sleep('cool-off', '1h');
   */
  sleep(duration: Duration, options?: SleepOptions): Promise<void>;
  sleep(name: string, duration: Duration): Promise<void>;
  /**
   * Waits durably until `time` (a `Date` or ms since the epoch); at once if it has passed.
   * @example await ctx.sleepUntil(new Date('2027-01-01T09:00:00Z'));
   */
  sleepUntil(time: Date | number, options?: SleepOptions): Promise<void>;
  /**
   * Groups durable calls under a name: they get positions of their own, show under the name in history and
   * the views, and the child's result is recorded, so a replay after it ended returns the result without
   * running its code again. A throw ends it with a `ChildFailedError`.
   * @example const quote = await ctx.child('pricing', async (child) => child.callActivity('price', await child.callActivity('stock', sku)));
   */
  child<T>(name: string, fn: (ctx: OrchestrationContext) => Promise<T>): Promise<T>;
  /**
   * A callback an outside system completes: hand `id` to it (from a step or activity), then await `promise`.
   * @example const approval = ctx.createCallback<boolean>({ timeout: '3d' });
   * await ctx.step('ask', () => mail.send(manager, link(approval.id)));
   * const approved = await approval.promise;
   */
  createCallback<T = unknown>(options?: CallbackOptions): Callback<T>;
  /** The same with the name first, as AWS's SDK writes it: `ctx.createCallback('approval', { timeout: '3d' })`. */
  createCallback<T = unknown>(name: string, options?: Omit<CallbackOptions, 'name'>): Callback<T>;
  /**
   * `createCallback`, then `submitter` (a step, retried) to hand the token over, then the result.
   * @example const verdict = await ctx.waitForCallback<Verdict>('fraud-check', (token) => fraud.submit(order, token), { timeout: '1h' });
   */
  waitForCallback<T = unknown>(name: string, submitter: CallbackSubmitter, options?: WaitForCallbackOptions): Promise<T>;
  /**
   * Polls durably: runs `check` as a step on the state, asks `waitStrategy` whether to go on, waits and repeats.
   * @example const job = await ctx.waitForCondition((state) => jobs.status(state.id), { initialState: { id, done: false }, waitStrategy: (s) => (s.done ? { shouldContinue: false } : { shouldContinue: true, delay: '30s' }) });
   */
  waitForCondition<S>(check: (state: S, actx: ActivityContext) => Promise<S> | S, options: WaitForConditionOptions<S>): Promise<S>;
  /**
   * Runs branches, each in a child context (`branch <i>`, or its `name`), with a completion policy.
   * @example const offers = await ctx.parallel([(c) => c.callActivity('quoteA'), (c) => c.callActivity('quoteB')], { completion: { minSuccessful: 1 } });
   */
  parallel<T>(branches: readonly (ParallelBranch<T> | { name: string; fn: ParallelBranch<T> })[], options?: BatchOptions): Promise<BatchResult<T>>;
  /**
   * Waits for an external event raised with `client.raiseEvent`. Events that arrive first are buffered, in order.
   * @example const approved = await ctx.waitForEvent<boolean>('approval', { timeout: '3d' });
   */
  waitForEvent<T = unknown>(eventName: string, options?: WaitForEventOptions): Promise<T>;
  /**
   * Starts another orchestration as a child and returns its output; its failure rejects with `SubOrchestrationFailedError`.
   * @example const label = await ctx.callSubOrchestration<Label>('ship', order);
   */
  callSubOrchestration<T = unknown>(name: string, input?: unknown, options?: SubOrchestrationOptions): Promise<T>;
  /**
   * Starts another orchestration as a child without waiting for it (fire and forget) and returns its
   * instance id once the start is recorded. The child runs on after this instance ends unless `parentClose` says otherwise.
   * @example const auditId = await ctx.startSubOrchestration('audit', order);
   */
  startSubOrchestration(name: string, input?: unknown, options?: SubOrchestrationOptions): Promise<string>;
  /**
   * Runs `fn` so that a cancellation does not reach the durable calls it makes: where cleanup goes
   * (compensations, releasing a lock) after the code caught a `CancelledError`.
   * @example try { await ctx.callActivity('ship', order); } catch (e) { if (e instanceof CancelledError) await ctx.nonCancellable(() => ctx.callActivity('refund', order)); throw e; }
   */
  nonCancellable<T>(fn: () => Promise<T>): Promise<T>;
  /** True once `client.cancel` reached this instance: new durable calls outside `ctx.nonCancellable` fail with a `CancelledError`. */
  readonly isCancellationRequested: boolean;
  /**
   * Publishes where the instance is (small JSON, at most 4 KiB), returned as `customStatus` by
   * `getStatus` and shown by the CLI and the web view. Saved with the step's commit.
   * @example ctx.setStatus({ stage: 'packing', done: 3, of: 10 });
   */
  setStatus(value: unknown): void;
  /**
   * Runs `fn` over the items with bounded concurrency; results come back in item order. With a
   * `completion` policy, it returns every item's outcome (`BatchResult`) instead of throwing the first failure.
   * @example const packed = await ctx.map(items, (item) => ctx.callActivity('pack', item), { concurrency: 10 });
   * @example const sent = await ctx.map(users, (u) => ctx.callActivity('notify', u), { completion: { toleratedFailurePercentage: 5 } });
   */
  map<I, O>(items: readonly I[], fn: (item: I, index: number) => Promise<O>, options: MapOptions & { completion: CompletionPolicy }): Promise<BatchResult<O>>;
  map<I, O>(items: readonly I[], fn: (item: I, index: number) => Promise<O>, options?: MapOptions): Promise<O[]>;
  /**
   * Ends this history and starts a fresh one for the same instance id with `input`. Buffered events carry over.
   * @example if (ctx.isContinueAsNewSuggested) ctx.continueAsNew({ cursor });
   */
  continueAsNew(input?: unknown, options?: ContinueAsNewOptions): never;
  /** The time of the current step: the same on every replay. */
  now(): Date;
  /** A pseudo-random number in [0, 1), the same on every replay. */
  random(): number;
  /** A UUID v4, the same on every replay. */
  uuid(): string;
  /**
   * Marks an in-place code change: true for runs that reach this point on the new code (recorded in history),
   * false for instances that already ran past it on the old code.
   * @example if (ctx.patched('send-receipt')) await ctx.callActivity('sendReceipt', receipt);
   */
  patched(changeId: string): boolean;
}

/** What an activity receives as its second argument. */
export interface ActivityContext {
  readonly instanceId: string;
  readonly activityName: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The same for every attempt and every redelivery of one `callActivity` call: use it to make side effects idempotent. */
  readonly idempotencyKey: string;
  readonly log: Logger;
  /**
   * Aborted when the attempt runs past its timeout or its `heartbeatTimeout`, when its call's
   * `scheduleToCloseTimeout` runs out, or when a heartbeat finds the instance terminated or cancelled:
   * pass it to fetch and other cancellable calls.
   */
  readonly signal: AbortSignal;
  /**
   * Says the attempt is alive, and keeps `details` (JSON, at most 4 KiB: a cursor, a count, a page token)
   * for a later attempt of this call to resume from (`heartbeatDetails`). Each call restarts the
   * `heartbeatTimeout`; writes are throttled to one every 30 s per attempt (the first at once, the last
   * details before a failure always), so call it as often as is convenient. A queued activity's task also
   * stays invisible on its queue while the attempt may run. Rejects (and aborts `signal`) when the instance
   * was terminated, cancelled or purged: the attempt's result is no longer needed. Without `details`, the
   * last details kept are left as they are.
   * @example
   * let done = (actx.heartbeatDetails as number | undefined) ?? 0;
   * for (const row of rows.slice(done)) { await importRow(row); await actx.heartbeat(++done); }
   */
  heartbeat(details?: unknown): Promise<void>;
  /**
   * The details the last earlier run of this call passed to `heartbeat`: a previous attempt's, or this
   * attempt's own run that crashed. Undefined on the first attempt, and when no run sent details.
   */
  readonly heartbeatDetails: unknown;
  /**
   * Signed URLs that complete, fail or heartbeat the callback `token` over plain HTTPS, for an outside
   * system without AWS credentials (a partner's webhook, a link in an email). Each URL does one thing until
   * it expires; signed with the stack's callback signing key. Call it where the token is handed over: in
   * `ctx.waitForCallback`'s submitter, a `ctx.step` or an activity (the URLs are not recorded in history).
   * @example
   * await ctx.waitForCallback('approval', async (token, actx) => {
   *   const { succeed, fail } = await actx.callbackUrls(token, { expiresIn: '3d' });
   *   await mailer.send(manager, `Approve: ${succeed}\nDecline: ${fail}`);
   * }, { timeout: '3d' });
   */
  callbackUrls(token: string, options?: CallbackUrlOptions): Promise<CallbackUrls>;
}

export type OrchestrationFunction<I = never, O = unknown> = (ctx: OrchestrationContext, input: I) => Promise<O>;
export type ActivityFunction<I = never, O = unknown> = (input: I, actx: ActivityContext) => Promise<O> | O;

/** Options of `app.activity`. */
export interface ActivityOptions {
  /** The retry policy of every call, unless the call passes its own. @defaultValue one attempt */
  retry?: RetryPolicy | RetryStrategy;
  /** An attempt that runs longer fails with a `TimeoutError` (and is retried by the policy). @defaultValue '5m' */
  timeout?: Duration;
  /**
   * An attempt that goes this long without `actx.heartbeat()` (since it started, or since its last
   * heartbeat) fails with a `TimeoutError`, retried by the policy: a stuck attempt is found long before
   * its `timeout`. Shorter than `timeout`. @defaultValue none
   */
  heartbeatTimeout?: Duration;
  /**
   * The time budget of one call across all its attempts and retry delays, from its first schedule: once
   * it is spent the call fails with a `TimeoutError` that is not retried (a running attempt is cut, and no
   * retry is scheduled that would start after it). @defaultValue none
   */
  scheduleToCloseTimeout?: Duration;
  /**
   * Run calls of this activity inside the orchestrator's invocation (like `ctx.step`) when its timeout fits
   * the invocation's remaining time, instead of sending them to the activity queue: no queue hop and one
   * write a step. The orchestrator function then needs what the activity needs (permissions, memory).
   * A call whose invocation crashed is sent to the activity queue, so a crashing activity still ends as a
   * `PoisonMessageError`. @defaultValue false
   */
  inline?: boolean;
}

/** Options of `app.orchestration`. */
export interface OrchestrationOptions {
  /** Versions of one name run side by side; new starts take the latest. @defaultValue 1 */
  version?: string | number;
  /** An instance still running this long after it was started fails with a `TimeoutError`. @defaultValue none */
  timeout?: Duration;
}
