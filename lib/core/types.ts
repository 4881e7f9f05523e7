import type { Duration } from './durations.js';
import type { Logger } from './logger.js';
import type { RetryPolicy } from './retry-policy.js';

/** Options of one `ctx.callActivity` call. */
export interface CallActivityOptions {
  /** Overrides the retry policy the activity was registered with. */
  retry?: RetryPolicy;
}

/** Options of `ctx.step`. */
export interface StepOptions {
  /** How failed attempts are retried; each delay is a durable timer. @defaultValue `{ maxAttempts: 3 }` (1 s, then 2 s) */
  retry?: RetryPolicy;
  /** An attempt that runs longer fails with a `TimeoutError` (and is retried by the policy). @defaultValue '1m' */
  timeout?: Duration;
}

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
}

/** Options of `ctx.map`. */
export interface MapOptions {
  /** At most this many items in flight at once. @defaultValue all of them */
  concurrency?: number;
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
   * Waits durably: the instance is unloaded and resumed by a timer.
   * @example await ctx.sleep('3d');
   */
  sleep(duration: Duration): Promise<void>;
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
   * Runs `fn` over the items with bounded concurrency; results come back in item order.
   * @example const packed = await ctx.map(items, (item) => ctx.callActivity('pack', item), { concurrency: 10 });
   */
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
  /** Aborted when the attempt runs past its timeout: pass it to fetch and other cancellable calls. */
  readonly signal: AbortSignal;
}

export type OrchestrationFunction<I = never, O = unknown> = (ctx: OrchestrationContext, input: I) => Promise<O>;
export type ActivityFunction<I = never, O = unknown> = (input: I, actx: ActivityContext) => Promise<O> | O;

/** Options of `app.activity`. */
export interface ActivityOptions {
  /** The retry policy of every call, unless the call passes its own. @defaultValue one attempt */
  retry?: RetryPolicy;
  /** An attempt that runs longer fails with a `TimeoutError` (and is retried by the policy). @defaultValue '5m' */
  timeout?: Duration;
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
}
