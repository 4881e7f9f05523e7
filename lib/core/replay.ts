import type { App, RegisteredOrchestration } from './app.js';
import { currentStep, runGuarded, shielded, type GuardedExecution } from './determinism-guard.js';
import { DeterministicRandom } from './deterministic-random.js';
import { CancelledError, DeterminismViolationError, NonDeterminismError, PerdureError, toFailureDetails, ValidationError, type FailureDetails } from './errors.js';
import { childOf, describeCall, isRoundedResult, isScheduleEvent, rewoundEvents, type RunningChild, type ExecutionStarted, type HistoryEvent, type NewHistoryEvent, type ScheduleEvent } from './history-events.js';
import { silentLogger, type Logger } from './logger.js';
import { OrchestrationContextImpl, ContinueAsNewSignal } from './orchestration-context.js';
import { inlinePayloads, toJsonPayload, type PayloadLoader } from './payload.js';
import type { StepFunction } from './types.js';

/** The function of a `ctx.step` with its attempt timeout, as the code passed them in this execution. */
export interface StepCode {
  fn: StepFunction;
  timeoutMs: number;
}

/** How an orchestration's code ended. */
export type ExecutionOutcome =
  | { type: 'completed'; output: unknown }
  | { type: 'failed'; error: FailureDetails }
  | { type: 'continuedAsNew'; input: unknown; version: string }
  | { type: 'cancelled'; reason?: string };

/** A durable call's schedule event before it has a place in history. */
export type NewScheduleEvent = Extract<NewHistoryEvent, { taskId: number; type: ScheduleEvent['type'] }>;

export interface ExecutorOptions {
  instanceId: string;
  generation: number;
  app: App;
  /** Receives `ctx.log` lines outside replay. */
  logger?: Logger;
  /** Turns stored payloads (e.g. S3 references) into values; called only for results the code receives. */
  loadPayload?: PayloadLoader;
  /** A fresh unguessable value for a new callback token (history keeps it). @defaultValue 16 random bytes, base64url */
  newNonce?: () => string;
}

/** Where a call is made: the orchestration's own code (0), or the `ctx.child` whose ChildStarted has this task id. */
export type Scope = number;
export const ROOT_SCOPE: Scope = 0;

/** What the code decided about one of its own calls (a child's end): recorded as a decision of the step. */
export type CodeDecidedCompletion = Extract<NewHistoryEvent, { type: 'ChildCompleted' | 'ChildFailed' }>;

interface OpenTask {
  resolve(value: unknown): void;
  reject(failure: TaskFailure | CancelledError): void;
  event: NewScheduleEvent;
  step?: StepCode;
  /** Made inside `ctx.nonCancellable`: a cancellation does not fail it. */
  shielded: boolean;
}

/** A durable call that was made and has no result yet. */
export interface OpenCall {
  taskId: number;
  event: NewScheduleEvent;
  /** The code of a `ctx.step`. */
  step?: StepCode;
}

/** How a durable call's recorded failure reaches the context, which turns it into the public error. */
export class TaskFailure extends Error {
  constructor(readonly failure: FailureDetails) {
    super(failure.message);
  }
}

interface PendingDecision {
  event: NewScheduleEvent;
  /** Where the code made the call, captured during replay only, where a mismatch can be reported. */
  site?: Error;
}

interface EventWaiter {
  resolve(data: unknown): void;
  reject(error: Error): void;
  shielded: boolean;
}


const OUTCOME_WORDS: Record<ExecutionOutcome['type'], string> = { completed: 'returned', failed: 'thrown', continuedAsNew: 'called continueAsNew', cancelled: 'ended cancelled' };

/** The most JSON `ctx.setStatus` takes: it travels in the instance's record with every status read. */
export const MAX_CUSTOM_STATUS_BYTES = 4096;

const realSetImmediate = setImmediate;
/** Lets every continuation the last delivery woke run, until the code blocks on durable calls again. */
const drain = (): Promise<void> => new Promise((resolve) => realSetImmediate(resolve));

/**
 * The replay engine for one orchestration instance. It runs the code against history: durable calls that
 * history recorded get their recorded results, calls that do not match history raise a NonDeterminismError,
 * and calls past the end of history become the step's decisions. An executor stays usable after a step, so
 * a warm worker feeds the next step only the new events instead of replaying everything.
 */
export class OrchestrationExecutor implements GuardedExecution {
  readonly instanceId: string;
  readonly generation: number;
  outcome: ExecutionOutcome | undefined;
  /** A determinism violation (forbidden API, durable call outside a step): the step must not be committed. */
  violation: Error | undefined;
  /** Events applied so far. */
  historyLength = 0;
  definition: RegisteredOrchestration | undefined;

  private readonly app: App;
  private readonly logger: Logger;
  private readonly loadPayload: PayloadLoader;
  private readonly rng: DeterministicRandom;
  private readonly open = new Map<number, OpenTask>();
  private readonly settled = new Set<number>();
  private readonly pending = new Map<number, PendingDecision>();
  /** Decisions the code made that are not calls (patch markers, a child's end), recorded before the calls of the step. */
  private readonly newMarkers: NewHistoryEvent[] = [];
  private readonly recordedPatches = new Set<string>();
  private readonly buffered = new Map<string, unknown[]>();
  private readonly waiters = new Map<string, EventWaiter[]>();
  private readonly newNonce: () => string;
  // Positions: a call's task id is found by its scope and its order there, from history, or is a new one.
  private readonly recordedTasks = new Map<string, number>();
  private readonly recordedCounts = new Map<Scope, number>();
  private readonly callCounts = new Map<Scope, number>();
  private readonly taskScopes = new Map<number, Scope>();
  private readonly recordedNonces = new Map<number, string>();
  /** Children whose end history records: replay does not run their code again. */
  private readonly endedChildren = new Set<number>();
  /** Scopes of children being skipped: history's calls inside them are not the code's to match. */
  private readonly skippedScopes = new Set<Scope>();
  private readonly lastHeartbeats = new Map<number, number>();
  private readonly children = new Map<number, RunningChild>();
  /** Set once the instance was cancelled (history's `ExecutionCancelRequested`). */
  private cancellation: { reason?: string } | undefined;
  /** What the code last set with `ctx.setStatus` (JSON text), replayed like everything else. */
  customStatus: string | undefined;
  /** Events of history a rewind undid (`ExecutionRewound`): replay skips them. */
  private readonly rewound = new Set<number>();
  /** The `scheduleToCloseAt` of every activity call history records (undefined where it has none). */
  private readonly recordedBudgets = new Map<number, number | undefined>();
  /** Per call, the results a rewind undid (their event ids): the call's round is their count. */
  private readonly undoneResults = new Map<number, Set<number>>();
  private nextTaskId = 1;
  private currentTime = 0;
  private replaying = true;
  private active = false;

  constructor(options: ExecutorOptions) {
    this.instanceId = options.instanceId;
    this.generation = options.generation;
    this.app = options.app;
    this.logger = options.logger ?? silentLogger;
    this.loadPayload = options.loadPayload ?? inlinePayloads;
    this.rng = new DeterministicRandom(`${options.instanceId}#${options.generation}`);
    this.newNonce = options.newNonce ?? randomNonce;
  }

  /** Re-runs the code over recorded history; `rewound` lists events a rewind being applied undoes. */
  async replay(history: readonly HistoryEvent[], rewound: readonly number[] = []): Promise<void> {
    for (const eventId of rewound) this.rewound.add(eventId);
    this.prescan(history);
    this.replaying = true;
    await this.apply(history);
  }

  /**
   * Reads ahead what the code will need before replay reaches it: which task id each call has (by scope
   * and order), the patch markers, the callbacks' nonces, and which children ended.
   */
  private prescan(history: readonly HistoryEvent[]): void {
    for (const eventId of rewoundEvents(history)) this.rewound.add(eventId);
    for (const event of history) {
      if (this.rewound.has(event.eventId)) {
        if (isRoundedResult(event)) this.undoneResults.set(event.taskId, (this.undoneResults.get(event.taskId) ?? new Set()).add(event.eventId));
        continue;
      }
      if (isScheduleEvent(event)) {
        this.countRecorded(event.scope ?? ROOT_SCOPE, event.taskId);
        if (event.type === 'CallbackCreated') this.recordedNonces.set(event.taskId, event.nonce);
        else if (event.type === 'ActivityScheduled') this.recordedBudgets.set(event.taskId, event.scheduleToCloseAt);
      } else if (event.type === 'ChildCompleted' || event.type === 'ChildFailed') {
        this.endedChildren.add(event.taskId);
      } else if (event.type === 'PatchMarker') {
        this.recordedPatches.add(event.changeId);
      }
    }
  }

  /** Runs the code over this step's new events; afterwards `takeDecisions()` holds what it asked for. */
  async advance(events: readonly HistoryEvent[]): Promise<void> {
    this.replaying = false;
    await this.apply(events);
    if (!this.outcome && !this.violation && this.open.size === 0 && this.waiterCount() === 0 && this.definition) {
      this.violation = new DeterminismViolationError(
        `Orchestration ${this.describe()} has not returned but waits on no durable call: it awaits a promise Perdure does not control (fetch, a database client, setTimeout...). Move that work into an activity and call it with ctx.callActivity.`,
      );
    }
  }

  /**
   * The step's decisions, in the order the code made them. Calls made in the step where the code ended are
   * decisions too: recorded and run, as calls of earlier steps are, though nothing waits for their results.
   */
  takeDecisions(): NewHistoryEvent[] {
    const decisions: NewHistoryEvent[] = [...this.newMarkers];
    for (const [taskId, decision] of this.pending) {
      decisions.push(decision.event);
      this.pending.delete(taskId);
      // It becomes history: a tail another worker appends later counts its calls after this one.
      this.countRecorded(decision.event.scope ?? ROOT_SCOPE, taskId);
    }
    this.newMarkers.length = 0;
    // They become history right after this step's events, as a full replay would count them.
    this.historyLength += decisions.length;
    return decisions;
  }

  /**
   * False for a completion history already holds (a duplicate delivery), of a call never made, or (given
   * the `round` of a result that arrived through the inbox) of a run a rewind has since undone.
   */
  expectsCompletion(taskId: number, round?: number): boolean {
    return taskId < this.nextTaskId && !this.settled.has(taskId) && (round === undefined || round === this.roundOf(taskId));
  }

  /** How many results of this call rewinds undid: its current run's round. */
  roundOf(taskId: number): number {
    return this.undoneResults.get(taskId)?.size ?? 0;
  }

  /** The calls that have no result yet, oldest first. */
  openCalls(): OpenCall[] {
    return [...this.open].map(([taskId, task]) => ({ taskId, event: task.event, ...(task.step ? { step: task.step } : {}) }));
  }

  /** Events raised but not yet awaited; continueAsNew carries them into the next generation. */
  unconsumedEvents(): { name: string; data: unknown }[] {
    return [...this.buffered].flatMap(([name, queue]) => queue.map((data) => ({ name, data })));
  }

  // --- called by the context -------------------------------------------------------------------------

  get isReplaying(): boolean {
    return this.replaying;
  }

  now(): number {
    return this.currentTime;
  }

  random(): number {
    return this.rng.next();
  }

  uuid(): string {
    return this.rng.uuid();
  }

  recordViolation(error: Error): Error {
    this.violation ??= error;
    return error;
  }

  forbidden(api: string, advice: string): Error {
    return this.recordViolation(
      new DeterminismViolationError(`Orchestration ${this.describe()} called ${api}, which would make replay diverge: ${advice}.`),
    );
  }

  /**
   * Takes the next position in `scope` and records a durable call; resolves with its recorded result.
   * @param step the code of a `ctx.step`, which the worker runs inside the invocation
   */
  schedule(build: (taskId: number) => NewScheduleEvent, options: { step?: StepCode; scope?: Scope } = {}): Promise<unknown> {
    return this.call(build, options).promise;
  }

  /** `schedule`, also returning the call's task id (its position). */
  call(build: (taskId: number) => NewScheduleEvent, options: { step?: StepCode; scope?: Scope } = {}): { taskId: number; promise: Promise<unknown> } {
    this.assertActive();
    if (this.outcome) return { taskId: 0, promise: new Promise<never>(() => {}) };
    // After a cancellation, only calls made inside ctx.nonCancellable take a position.
    if (this.cancellation && !shielded()) return { taskId: 0, promise: Promise.reject(this.cancelledError()) };
    const scope = options.scope ?? ROOT_SCOPE;
    const index = this.callCounts.get(scope) ?? 0;
    this.callCounts.set(scope, index + 1);
    const taskId = this.recordedTasks.get(`${scope}:${index}`) ?? this.nextTaskId++;
    this.taskScopes.set(taskId, scope);
    const built = build(taskId);
    const event = (scope === ROOT_SCOPE ? built : { ...built, scope });
    this.pending.set(taskId, this.replaying ? { event, site: new Error('call site') } : { event });
    const promise = new Promise((resolve, reject) => {
      this.open.set(taskId, { resolve, reject, event, shielded: shielded(), ...(options.step ? { step: options.step } : {}) });
    });
    if (event.type === 'SubOrchestrationScheduled') {
      this.children.set(taskId, childOf({ ...event, taskId }));
      // The parent does not wait for a detached child: its call settles now (and on every replay alike).
      if (event.detached) this.detach(taskId, event.instanceId);
    }
    return { taskId, promise };
  }

  /** A call history holds: the next in its scope's order. */
  private countRecorded(scope: Scope, taskId: number): void {
    const index = this.recordedCounts.get(scope) ?? 0;
    this.recordedCounts.set(scope, index + 1);
    this.recordedTasks.set(`${scope}:${index}`, taskId);
    this.taskScopes.set(taskId, scope);
    this.nextTaskId = Math.max(this.nextTaskId, taskId + 1);
  }

  private detach(taskId: number, childId: string): void {
    const task = this.open.get(taskId)!;
    this.open.delete(taskId);
    this.settled.add(taskId);
    task.resolve(childId);
  }

  /** The sub-orchestrations that have not ended (as far as this execution knows). */
  runningChildren(): RunningChild[] {
    return [...this.children.values()];
  }

  private cancelledError(): CancelledError {
    const reason = this.cancellation?.reason;
    return new CancelledError(`Instance '${this.instanceId}' was cancelled${reason ? `: ${reason}` : ''}. Clean up inside ctx.nonCancellable(...) if you need durable calls now.`, reason);
  }

  /** A cancellation: every pending call (not shielded) and every wait for an event fails with a CancelledError. */
  private async cancel(reason: string | undefined): Promise<void> {
    if (this.cancellation) return;
    this.cancellation = reason === undefined ? {} : { reason };
    const error = this.cancelledError();
    for (const [taskId, task] of this.open) {
      if (task.shielded) continue;
      this.open.delete(taskId);
      task.reject(error);
    }
    for (const list of this.waiters.values()) {
      for (const waiter of [...list]) {
        if (waiter.shielded) continue;
        list.splice(list.indexOf(waiter), 1);
        waiter.reject(error);
      }
    }
    await drain();
  }

  /** True once a cancellation reached the code. */
  get isCancellationRequested(): boolean {
    return this.cancellation !== undefined;
  }

  /** `ctx.setStatus`: kept as JSON text, so the worker sees a change by comparing strings. */
  setCustomStatus(value: unknown): void {
    this.assertActive();
    if (this.outcome) return;
    let text: string | undefined;
    try {
      text = value === undefined ? undefined : JSON.stringify(value);
    } catch (error) {
      throw new ValidationError(`ctx.setStatus takes JSON data: ${(error as Error).message}.`);
    }
    if (text !== undefined && Buffer.byteLength(text) > MAX_CUSTOM_STATUS_BYTES) {
      throw new ValidationError(`ctx.setStatus takes at most ${MAX_CUSTOM_STATUS_BYTES} bytes of JSON, got ${Buffer.byteLength(text)}: keep it to a summary (a stage, counts) and put details in the output or an activity's result.`);
    }
    this.customStatus = text;
  }

  /** True when history records the end of this child: replay skips its code and its calls. */
  skipEndedChild(taskId: number): boolean {
    if (!this.endedChildren.has(taskId)) return false;
    this.skippedScopes.add(taskId);
    return true;
  }

  /**
   * The child's code returned or threw. A new end is the code's own decision, recorded with the step and
   * settled at once; while replaying, the recorded end settles it when replay reaches it.
   */
  endChild(taskId: number, end: { result: unknown } | { failure: FailureDetails }): void {
    if (this.replaying || this.outcome || !this.open.has(taskId)) return;
    if (!this.active) {
      this.recordViolation(new DeterminismViolationError(`Orchestration ${this.describe()}: a ctx.child function ended outside a step, after a promise Perdure does not control. Do that work in an activity.`));
      return;
    }
    const decision: CodeDecidedCompletion = 'failure' in end ? { type: 'ChildFailed', taskId, error: end.failure } : { type: 'ChildCompleted', taskId, result: end.result };
    this.newMarkers.push(decision);
    this.settled.add(taskId);
    const task = this.open.get(taskId)!;
    this.open.delete(taskId);
    if ('failure' in end) task.reject(new TaskFailure(end.failure));
    else task.resolve(end.result);
  }

  /** The nonce of a callback token: history's, or a new one for a new callback. */
  callbackNonce(taskId: number): string {
    return this.recordedNonces.get(taskId) ?? this.newNonce();
  }

  /**
   * When the activity call at this position runs out of its `scheduleToCloseTimeout`, as history recorded
   * it: `{ at: undefined }` for a call recorded without one, undefined for a call history does not hold.
   */
  recordedScheduleToClose(taskId: number): { at: number | undefined } | undefined {
    return this.recordedBudgets.has(taskId) ? { at: this.recordedBudgets.get(taskId) } : undefined;
  }

  /** When the outside system last said it works on this callback (history's time), if it did. */
  lastHeartbeat(taskId: number): number | undefined {
    return this.lastHeartbeats.get(taskId);
  }

  /** Takes a buffered event of this name, or waits for one. `cancel` withdraws a wait not yet served. */
  waitForEvent(name: string): { promise: Promise<unknown>; immediate: boolean; cancel(): boolean } {
    this.assertActive();
    const queue = this.buffered.get(name);
    if (queue?.length) return { promise: Promise.resolve(queue.shift()), immediate: true, cancel: () => false };
    if (this.cancellation && !shielded()) return { promise: Promise.reject(this.cancelledError()), immediate: true, cancel: () => false };
    let waiter!: EventWaiter;
    const promise = new Promise<unknown>((resolve, reject) => (waiter = { resolve, reject, shielded: shielded() }));
    const list = this.waiters.get(name) ?? [];
    list.push(waiter);
    this.waiters.set(name, list);
    return {
      promise,
      immediate: false,
      cancel: () => {
        const index = list.indexOf(waiter);
        if (index >= 0) list.splice(index, 1);
        return index >= 0;
      },
    };
  }

  patched(changeId: string): boolean {
    this.assertActive();
    if (this.recordedPatches.has(changeId)) return true;
    if (this.replaying) return false;
    this.recordedPatches.add(changeId);
    if (!this.outcome) this.newMarkers.push({ type: 'PatchMarker', changeId });
    return true;
  }

  continueAsNew(input: unknown, version: string): never {
    this.assertActive();
    this.outcome ??= { type: 'continuedAsNew', input, version };
    throw new ContinueAsNewSignal();
  }

  describe(): string {
    const name = this.definition ? `'${this.definition.name}' version ${this.definition.version}` : '(not started)';
    return `${name} (instance '${this.instanceId}')`;
  }

  // --- replay ----------------------------------------------------------------------------------------

  private async apply(events: readonly HistoryEvent[]): Promise<void> {
    this.active = true;
    try {
      for (const event of events) {
        this.historyLength++;
        // Rewound events stay in history for the record; the code never sees them.
        if (this.rewound.has(event.eventId)) continue;
        await this.applyOne(event);
        if (this.violation) return;
      }
    } finally {
      this.active = false;
    }
  }

  private async applyOne(event: HistoryEvent): Promise<void> {
    switch (event.type) {
      case 'ExecutionStarted':
        return this.start(event);
      case 'StepStarted':
        this.currentTime = event.timestamp;
        return;
      case 'ActivityScheduled':
      case 'TimerCreated':
      case 'SubOrchestrationScheduled':
      case 'ChildStarted':
      case 'CallbackCreated':
        return this.match(event);
      case 'ActivityCompleted':
      case 'ChildCompleted':
      case 'CallbackCompleted':
        return this.settle(event.taskId, { result: event.result });
      case 'SubOrchestrationCompleted':
        return this.settle(event.taskId, { result: event.output });
      case 'TimerFired':
        return this.settle(event.taskId, { result: undefined });
      case 'ActivityFailed':
      case 'SubOrchestrationFailed':
      case 'ChildFailed':
      case 'CallbackFailed':
        return this.settle(event.taskId, { failure: event.error });
      case 'CallbackHeartbeat':
        this.lastHeartbeats.set(event.taskId, event.timestamp);
        return;
      case 'EventRaised':
        return this.deliver(event.name, event.data);
      case 'PatchMarker':
        this.recordedPatches.add(event.changeId);
        return;
      case 'ExecutionCancelRequested':
        return this.cancel(event.reason);
      case 'ExecutionSuspended':
      case 'ExecutionResumed':
      case 'ExecutionRewound':
      case 'ExecutionCancelled':
      case 'ContinuedAsNew':
      case 'ExecutionCompleted':
      case 'ExecutionFailed':
      case 'ExecutionTerminated':
        return;
      default: {
        const unknown: never = event;
        throw new PerdureError('CORRUPT_HISTORY', `Unknown history event ${JSON.stringify(unknown)}: the history was written by a newer Perdure or changed by hand.`);
      }
    }
  }

  private async start(event: ExecutionStarted): Promise<void> {
    this.definition = this.app.getOrchestration(event.name, event.version);
    const definition = this.definition;
    const input = await this.loadPayload(event.input);
    const ctx = new OrchestrationContextImpl(this, this.app, definition, this.logger);
    const running = runGuarded(this, async () => definition.fn(ctx, input as never));
    running.then(
      (output) => this.finish(() => ({ type: 'completed', output: toJsonPayload(output, `output of orchestration '${definition.name}'`) })),
      (error: unknown) => {
        if (error instanceof ContinueAsNewSignal) return;
        if (error instanceof CancelledError && this.cancellation) this.finish(() => ({ type: 'cancelled', ...(this.cancellation?.reason !== undefined ? { reason: this.cancellation.reason } : {}) }));
        else this.finish(() => ({ type: 'failed', error: toFailureDetails(error) }));
      },
    );
    await drain();
  }

  private finish(outcome: () => ExecutionOutcome): void {
    if (this.outcome) return;
    try {
      this.outcome = outcome();
    } catch (error) {
      this.outcome = { type: 'failed', error: toFailureDetails(error) };
    }
  }

  private match(recorded: ScheduleEvent): void {
    // A call inside a child that replay skips is not the code's to make again.
    if (this.inSkippedScope(recorded.scope ?? ROOT_SCOPE)) return;
    const decision = this.pending.get(recorded.taskId);
    if (decision && decision.event.type === recorded.type && callName(decision.event) === callName(recorded)) {
      this.pending.delete(recorded.taskId);
      return;
    }
    throw this.mismatch(recorded, decision);
  }

  private mismatch(recorded: ScheduleEvent, decision: PendingDecision | undefined): NonDeterminismError {
    let asked: string;
    if (decision) {
      asked = `the code asked for ${describeCall(decision.event)}${callSite(decision.site)}`;
    } else if (this.outcome) {
      asked = `the code had already ${OUTCOME_WORDS[this.outcome.type]}`;
    } else {
      asked = `the code asked for nothing there: it is waiting on other calls${this.open.size === 0 ? ' or on a promise that is not a durable call' : ''}`;
    }
    return new NonDeterminismError(
      `Orchestration ${this.describe()} no longer matches its history at position ${recorded.taskId} (history event ${recorded.eventId}): ` +
        `history recorded ${describeCall(recorded)}, ${asked}. ` +
        `Deploy the change as a new version (app.orchestration('${this.definition?.name ?? '...'}', fn, { version: ... })) so running instances keep their code, or guard it with ctx.patched('<change-id>').`,
    );
  }

  private async settle(taskId: number, settlement: { result?: unknown; failure?: FailureDetails }): Promise<void> {
    this.settled.add(taskId);
    this.children.delete(taskId);
    if (this.inSkippedScope(this.taskScopes.get(taskId) ?? ROOT_SCOPE)) return;
    const task = this.open.get(taskId);
    // A completion nobody waits for: a duplicate, or a call of code that has since ended.
    if (!task) return;
    this.open.delete(taskId);
    if (this.outcome) return;
    if (settlement.failure) task.reject(new TaskFailure(settlement.failure));
    else task.resolve(await this.loadPayload(settlement.result));
    await drain();
  }

  private async deliver(name: string, stored: unknown): Promise<void> {
    const data = await this.loadPayload(stored);
    const waiter = this.waiters.get(name)?.shift();
    if (!waiter) {
      const queue = this.buffered.get(name) ?? [];
      queue.push(data);
      this.buffered.set(name, queue);
      return;
    }
    waiter.resolve(data);
    await drain();
  }

  private assertActive(): void {
    const step = currentStep();
    if (step !== undefined) {
      throw new ValidationError(
        `A durable call was made inside the function of ctx.step('${step}') (instance '${this.instanceId}'): a step's function runs once as plain code and cannot make durable calls. Make the calls in the orchestration around the step, or group them with a sub-orchestration.`,
      );
    }
    if (this.active) return;
    throw this.recordViolation(
      new DeterminismViolationError(
        `Orchestration ${this.describe()} made a durable call outside a step: its code resumed after a promise Perdure does not control (a timer or I/O). Do that work in an activity.`,
      ),
    );
  }

  /** True inside a child replay skips, or inside a child nested in one. */
  private inSkippedScope(scope: Scope): boolean {
    for (let current: Scope | undefined = scope; current !== undefined && current !== ROOT_SCOPE; current = this.taskScopes.get(current)) {
      if (this.skippedScopes.has(current)) return true;
    }
    return false;
  }

  private waiterCount(): number {
    let count = 0;
    for (const list of this.waiters.values()) count += list.length;
    return count;
  }
}

function callName(event: NewScheduleEvent | ScheduleEvent): string {
  if (event.type === 'TimerCreated') return 'timer';
  if (event.type === 'CallbackCreated') return `callback:${event.name ?? ''}`;
  if (event.type === 'ActivityScheduled' && event.step) return `step:${event.name}`;
  return event.name;
}

/** 16 random bytes, base64url: a callback token's unguessable part. */
function randomNonce(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}

/** The first stack frame outside Perdure's core, e.g. ` (at order.ts:12:30)`. */
function callSite(site: Error | undefined): string {
  const frame = site?.stack
    ?.split('\n')
    .slice(1)
    .map((line) => line.trim())
    .find((line) => !line.includes('/lib/core/') && !line.includes('node:internal'));
  if (!frame) return '';
  const location = /\(?([^()\s]+:\d+:\d+)\)?$/.exec(frame)?.[1];
  return location ? ` (at ${location})` : '';
}
