import type { ActivityContext } from './types.js';

/**
 * Small string entries every message about an instance carries (activity tasks, timers, doorbells) and
 * that are stored with the instance when it starts: a W3C `traceparent`, a tenant id. Keep them short:
 * they travel with every message.
 */
export type MessageHeaders = Record<string, string>;

/** What one step of an orchestration did. */
export type StepOutcome = 'missing' | 'idle' | 'stepped' | 'quarantined' | 'conflict' | 'repaired';

/**
 * One delivery of an instance's doorbells to the orchestrator: it loads the instance, replays the code,
 * commits what it decided (and, with inline steps, may commit several times).
 */
export interface StepInfo {
  readonly instanceId: string;
  /** The headers of each doorbell that started the step, in arrival order (empty when none carried any). */
  readonly headers: readonly MessageHeaders[];
  /** The doorbell was delivered before and not acknowledged: the last invocation may have crashed. */
  readonly redelivered: boolean;
  /** How long the oldest doorbell waited in its queue, when the queue says. */
  readonly queueAgeMs?: number;
  /** The orchestration's name, set once the step has read the instance. */
  orchestration?: string;
  /** The orchestration's version, set once the step has read the instance. */
  version?: string;
}

/** A part of a step: `replay` re-runs recorded history, `advance` runs the code over the new events, `commit` writes them. */
export interface StepPhase {
  readonly name: 'replay' | 'advance' | 'commit';
  readonly step: StepInfo;
  /** History events the phase replays, applies or appends. */
  readonly events: number;
  /** Set by the runtime for a `commit` that lost the history to another writer (the step runs again). */
  conflict?: boolean;
}

/** One attempt of an activity or of a `ctx.step`. */
export interface ActivityAttempt {
  readonly instanceId: string;
  /** The activity's or the step's name. */
  readonly name: string;
  readonly kind: 'activity' | 'step';
  /** The call's position in the orchestration's history. */
  readonly taskId: number;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The activity's input; a `ctx.step` has none. Pass another one to `next` to change what the activity receives. */
  readonly input: unknown;
  readonly context: ActivityContext;
  /** True when it runs inside the orchestrator's invocation (`ctx.step`, an activity registered `inline`). */
  readonly inline: boolean;
  /** The headers of the task's message; an inline call runs inside its step's context and has none. */
  readonly headers: MessageHeaders;
  /** How long the task waited in its queue, when the queue says. */
  readonly queueAgeMs?: number;
}

/** A durable call orchestration code makes, as an interceptor's `call` hook sees it. */
export interface DurableCall {
  readonly kind: 'activity' | 'step' | 'subOrchestration' | 'sleep' | 'event';
  /** The activity, step, sub-orchestration or event name; a sleep's name, if it has one. */
  readonly name?: string;
  /** The input of an activity or a sub-orchestration. Pass another one to `next` to change it (deterministically). */
  readonly input?: unknown;
  readonly instanceId: string;
  readonly orchestration: string;
  /** True while the code re-runs from history: the call returns what history recorded (log only when false). */
  readonly isReplaying: boolean;
}

/** A durable timer that fired (its last hop, not the hops toward it). */
export interface TimerFiring {
  readonly instanceId: string;
  readonly taskId: number;
  readonly fireAt: number;
  /** How late it fired (the time of firing less `fireAt`). */
  readonly lateMs: number;
  readonly headers: MessageHeaders;
}

/** The client calls an interceptor sees; `getStatus`, `getHistory` and `list` are reads. */
export type ClientOperation =
  | 'start'
  | 'raiseEvent'
  | 'terminate'
  | 'cancel'
  | 'suspend'
  | 'resume'
  | 'rewind'
  | 'restart'
  | 'purge'
  | 'completeCallback'
  | 'failCallback'
  | 'heartbeatCallback'
  | 'getStatus'
  | 'getHistory'
  | 'list';

/** A call of the client (from your code, the HTTP API or the CLI). */
export interface ClientCall {
  readonly operation: ClientOperation;
  /** The instance it is about (for `start`, the id asked for, if any). */
  readonly instanceId?: string;
  /** The orchestration (`start`) or the event (`raiseEvent`). */
  readonly name?: string;
  /** The input of `start` or the data of `raiseEvent`; pass another call to `next` to change it. */
  readonly input?: unknown;
}

/** Things the runtime tells interceptors about that have no call to wrap. */
export type RuntimeNotice =
  /** A message was received from a queue; `ageMs` is how long it waited there. */
  | { type: 'received'; queue: 'orchestrator' | 'activities'; ageMs: number }
  /** An instance was set aside for an operator (non-determinism, a step that keeps crashing, a poison doorbell). */
  | { type: 'quarantined'; instanceId: string; orchestration: string; error: string }
  /** A message reached a dead-letter queue. */
  | { type: 'deadLetter'; queue: 'activities' | 'orchestrations' }
  /** A payload was moved to the blob store (S3) because it did not fit inline. */
  | { type: 'payloadOffloaded'; bytes: number };

/**
 * Hooks around the work of the runtime: each activity attempt, each orchestration step and its phases, each
 * timer firing and each client call, in the `(input, next) => next(input)` shape. Interceptors run in
 * order, the first outermost. Tracing and metrics are built on them.
 *
 * **What orchestration-side hooks may do.** `step` and `phase` run in the worker, around the replay engine,
 * never inside orchestration code: they observe (time, count, trace) and cannot change what the code
 * decides or what history records; `next` takes no arguments. Orchestration code itself is not
 * intercepted, so no interceptor can break determinism. An error an interceptor throws from `step` or
 * `phase` fails the step as an infrastructure error would: the doorbell is delivered again.
 *
 * Activity and client hooks may change what passes through: `activity` may pass another input to `next`
 * and return another result (both JSON), and its errors fail the attempt as the activity's would.
 * @example
 * const timing: Interceptor = {
 *   async activity(attempt, next) {
 *     const began = performance.now();
 *     try { return await next(attempt); }
 *     finally { attempt.context.log.info('attempt took', { ms: performance.now() - began }); }
 *   },
 * };
 * const app = createApp({ interceptors: [timing] });
 */
export interface Interceptor {
  /** Around each attempt of an activity or `ctx.step`, queued or inline; its timeout is a `TimeoutError` thrown from `next`. */
  activity?(attempt: ActivityAttempt, next: (attempt: ActivityAttempt) => Promise<unknown>): Promise<unknown>;
  /** Around each step of an orchestration (observe only). */
  step?(step: StepInfo, next: () => Promise<StepOutcome>): Promise<StepOutcome>;
  /** Around each phase of a step: replay, advance, commit (observe only). */
  phase?(phase: StepPhase, next: () => Promise<void>): Promise<void>;
  /** Around the firing of each durable timer. */
  timer?(timer: TimerFiring, next: () => Promise<void>): Promise<void>;
  /** Around each client call. */
  client?(call: ClientCall, next: (call: ClientCall) => Promise<unknown>): Promise<unknown>;
  /**
   * Adds entries to the headers of a message the runtime is about to send, or of an instance about to be
   * created (`instance` is then undefined), in the sender's async context. `instance` holds the headers
   * stored with the instance the message is about, when the sender knows them.
   */
  headers?(into: MessageHeaders, instance: MessageHeaders | undefined): void;
  /** Told of quarantines, dead letters, payload offloads and queue ages. Must not throw. */
  notice?(notice: RuntimeNotice): void;
  /**
   * Around each durable call of orchestration code (`callActivity`, `step`, `callSubOrchestration`, `sleep`,
   * `waitForEvent`). It runs inside orchestration code, on every replay, so it must be deterministic as the
   * code is: the same calls in the same order, no I/O, no timers, no other promises (the determinism guard
   * refuses them there too); it may pass another `input` to `next` (computed from the call alone) and read
   * the result or the error. The name and kind it passes are ignored: they are what history is matched on.
   * Use `call.isReplaying` to log or count once.
   */
  call?(call: DurableCall, next: (call: DurableCall) => Promise<unknown>): Promise<unknown>;
}

type Around<I, O> = (input: I, next: (input: I) => Promise<O>) => Promise<O>;

/**
 * A list of interceptors, composed once: each hook runs the interceptors that have it, the first outermost.
 * With none, a call goes straight to the runtime's own code. The runtimes build one from the app
 * (`app.interceptorChain([...their own])`); a runtime of your own passes it to the workers and the client.
 * @example
 * const chain = app.interceptorChain([metricsInterceptor(sink)]);
 * const result = await chain.client({ operation: 'getStatus', instanceId }, () => store.getInstance(instanceId));
 */
export class InterceptorChain {
  static readonly empty = new InterceptorChain([]);
  private readonly activityHooks: Around<ActivityAttempt, unknown>[];
  private readonly stepHooks: Around<StepInfo, StepOutcome>[];
  private readonly phaseHooks: Around<StepPhase, void>[];
  private readonly timerHooks: Around<TimerFiring, void>[];
  private readonly clientHooks: Around<ClientCall, unknown>[];
  private readonly headerHooks: ((into: MessageHeaders, instance: MessageHeaders | undefined) => void)[];
  private readonly noticeHooks: ((notice: RuntimeNotice) => void)[];
  private readonly callHooks: Around<DurableCall, unknown>[];

  constructor(readonly interceptors: readonly Interceptor[]) {
    const bind = <K extends keyof Interceptor>(key: K) => interceptors.flatMap((i) => (i[key] ? [i[key].bind(i) as NonNullable<Interceptor[K]>] : []));
    this.activityHooks = bind('activity');
    this.stepHooks = bind('step').map((hook) => (info, next) => hook(info, () => next(info)));
    this.phaseHooks = bind('phase').map((hook) => (phase, next) => hook(phase, () => next(phase)));
    this.timerHooks = bind('timer').map((hook) => (timer, next) => hook(timer, () => next(timer)));
    this.clientHooks = bind('client');
    this.headerHooks = bind('headers');
    this.noticeHooks = bind('notice');
    this.callHooks = bind('call');
  }

  /** True when some interceptor wraps durable calls of orchestration code. */
  get interceptsCalls(): boolean {
    return this.callHooks.length > 0;
  }

  call(call: DurableCall, run: (call: DurableCall) => Promise<unknown>): Promise<unknown> {
    return around(this.callHooks, call, run);
  }

  activity(attempt: ActivityAttempt, run: (attempt: ActivityAttempt) => Promise<unknown>): Promise<unknown> {
    return around(this.activityHooks, attempt, run);
  }

  step(info: StepInfo, run: () => Promise<StepOutcome>): Promise<StepOutcome> {
    return around(this.stepHooks, info, run);
  }

  phase(phase: StepPhase, run: () => Promise<void>): Promise<void> {
    return around(this.phaseHooks, phase, run);
  }

  timer(timer: TimerFiring, run: () => Promise<void>): Promise<void> {
    return around(this.timerHooks, timer, run);
  }

  client<T>(call: ClientCall, run: (call: ClientCall) => Promise<T>): Promise<T> {
    return around(this.clientHooks, call, run) as Promise<T>;
  }

  /** The headers a message about an instance (or a new instance) carries; undefined when no interceptor adds any. */
  headers(instance?: MessageHeaders): MessageHeaders | undefined {
    if (this.headerHooks.length === 0) return undefined;
    const into: MessageHeaders = {};
    for (const hook of this.headerHooks) hook(into, instance);
    for (const key in into) return into;
    return undefined;
  }

  notice(notice: RuntimeNotice): void {
    for (const hook of this.noticeHooks) {
      try {
        hook(notice);
      } catch {
        // A notice is an observation: a failing observer must not fail the work it observes.
      }
    }
  }
}

function around<I, O>(hooks: readonly Around<I, O>[], input: I, run: (input: I) => Promise<O>): Promise<O> {
  if (hooks.length === 0) return run(input);
  if (hooks.length === 1) return hooks[0]!(input, run);
  const at = (index: number) => (value: I): Promise<O> => (index === hooks.length ? run(value) : hooks[index]!(value, at(index + 1)));
  return at(0)(input);
}
