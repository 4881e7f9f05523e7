import { randomUUID } from 'node:crypto';
import type { App } from '../core/app.js';
import { addLedgers, emptyLedger, isEmptyLedger, subtractLedgers, type CostLedger } from '../core/cost-ledger.js';
import { attemptKeys } from '../core/crash-evidence.js';
import { CancelledError, HistoryLimitError, InstanceExistsError, PerdureError, PoisonMessageError, TimeoutError, toFailureDetails, type FailureDetails } from '../core/errors.js';
import { formatDuration } from '../core/durations.js';
import { isCompletionEvent, isRoundedResult, isScheduleEvent, numberEvents, resultRounds, rewindTargets, rewoundEvents, runningChildren, type ActivityScheduled, type HistoryEvent, type NewHistoryEvent, type ParentRef, type RunningChild, type ScheduleEvent } from '../core/history-events.js';
import type { MessageHeaders, InterceptorChain, StepInfo, StepOutcome, StepPhase } from '../core/interceptors.js';
import type { Logger } from '../core/logger.js';
import type { PayloadLoader } from '../core/payload.js';
import { OrchestrationExecutor, type NewScheduleEvent, type OpenCall } from '../core/replay.js';
import {
  isTerminal,
  type ActivityTask,
  type Clock,
  type Doorbell,
  type InboxEvent,
  type InboxMessage,
  type InstanceRecord,
  type InstanceStatusName,
  type InstanceStore,
  type StepCommit,
  type HistoryPosition,
  type StepState,
  type TimerTask,
  type WorkQueues,
} from '../ports.js';
import { runAttempt, type AttemptOutcome, type AttemptSpec } from './attempt.js';
import type { CallbackUrlSigner } from './callback-urls.js';
import { CostScope } from './cost-scope.js';
import { SimulatedCrash, type CrashHook } from './crash-points.js';
import { ExecutorCache, type CachedExecution } from './executor-cache.js';
import { runtimeInterceptors } from './interceptors.js';
import { priorityOf, withPriority } from './priority.js';
import { previousHeartbeatDetails } from './heartbeats.js';
import { childResultMessage, CONTROL_MESSAGE_IDS, DEADLINE_TASK_ID, isTaskResultId, messageIds } from './messages.js';

/** How inline calls (`ctx.step`, activities registered `inline`) run inside the orchestrator's invocation. */
export interface InlineOptions {
  /** False sends every registered activity to the activity queue (`ctx.step` always runs inline). @defaultValue true */
  activities?: boolean;
  /** Inline steps (commits) one invocation runs before it hands the rest to the next invocation. @defaultValue 100 */
  maxStepsPerInvocation?: number;
  /** Inline calls of one step run at once (a fan-out). @defaultValue 32 */
  concurrency?: number;
}

export interface WorkerDependencies {
  app: App;
  store: InstanceStore;
  queues: WorkQueues;
  clock: Clock;
  logger: Logger;
  loadPayload?: PayloadLoader;
  /** Live executors kept between steps. @defaultValue 500 */
  executorCacheSize?: number;
  /** Fault-injection tests only: called at each crash point, may throw to simulate a crashed function. */
  crash?: CrashHook;
  inline?: InlineOptions;
  /**
   * A step, or the function of a `ctx.step`, whose invocation died this many times (counted from attempt
   * markers, not from queue receives) is poison: the instance is quarantined, the step fails with a
   * `PoisonMessageError`. @defaultValue 3
   */
  poisonAfterCrashes?: number;
  /** Told of each instance quarantined because its step kept crashing, e.g. to keep it with the dead letters. */
  onPoison?: (instanceId: string, reason: string) => Promise<void>;
  /** @defaultValue tracing (unless the app turned it off) and the app's interceptors */
  interceptors?: InterceptorChain;
  /** Signs the URLs of `actx.callbackUrls` in steps and inline activities; without it, that call says no key is configured. */
  callbackUrls?: CallbackUrlSigner;
}

/** What the doorbell (or the doorbells of one batch) that starts a step brings. */
export interface StepOptions {
  /** The doorbell was delivered before and not acknowledged: repair dispatch first, and record crash evidence. */
  redelivered?: boolean;
  /** Results and events the doorbells carried. */
  messages?: InboxMessage[];
  /** The doorbell hands over the instance's outstanding inline calls. */
  runInline?: boolean;
  /**
   * Every doorbell of the batch carried its messages (none rang for a stored one): a warm executor may then
   * apply them without reading the instance, the history chain's condition guarding its append.
   */
  carriedOnly?: boolean;
  /** When this invocation ends at the latest (ms since the epoch, real time), e.g. Lambda's remaining time. */
  deadline?: number;
  /** The headers of each doorbell of the batch that carried any (trace contexts). */
  headers?: MessageHeaders[];
  /** How long the oldest doorbell waited in its queue, when the queue says. */
  queueAgeMs?: number;
  /** What delivering the doorbells cost (their sends, their share of the queue's receives and deletes and of the invocation): the step's ledger starts from it. */
  cost?: CostLedger;
  /** The record as the step that sent the carried result's task or timer left it (`Doorbell.snapshot`): with `carriedOnly`, the step starts from it instead of reading. */
  snapshot?: unknown;
  /** Where the history ended when the carried result's task or timer was sent (`Doorbell.sentAt`): a warm executor behind it reads first. */
  sentAt?: HistoryPosition;
}

/** What a step did. */
export type StepResult = StepOutcome;

/**
 * How an ended child tells its parent: by its doorbell; by a doorbell that asks for a repair; or, after the
 * child's last commit, by a step of the parent right here when the child was its only call (`notifyParent`).
 */
type ParentNotice = 'ring' | 'repair' | { stepHere: true; deadline: number | undefined };

const MAX_CONFLICT_RETRIES = 8;
/** A step that sends more tasks and timers than this does not have them carry its record: only the first result's step could use it. */
const MAX_SNAPSHOT_CARRIERS = 10;
/**
 * A step applies at most this many messages; the rest wait for the next step (the worker rings again).
 * Results of tasks can be many (a fan-out); other messages are deleted inside the commit's transaction,
 * which has room for fewer.
 */
const MAX_RESULTS_PER_STEP = 1_000;
const MAX_OTHER_MESSAGES_PER_STEP = 50;
/** Without a deadline (tests, a worker outside Lambda), an attempt is taken to be over after this long. */
const DEFAULT_INVOCATION_MS = 60_000;
/** Time kept free at the end of an invocation for the last commit and the acknowledgement. */
const SAFETY_MARGIN_MS = 2_000;

/** One invocation's work on an instance, across the steps it commits. */
class Invocation {
  /** Messages the doorbell carried (and inline results) that no commit has applied or dropped yet. */
  readonly carried = new Map<string, InboxMessage>();
  /** Inline calls this invocation may run: it committed them, was handed them, or recovers them. */
  readonly owned = new Set<number>();
  /** Of those, `ctx.step` calls found outstanding after a crash: each records crash evidence before it runs. */
  readonly recovering = new Set<number>();
  inlineSteps = 0;
  /** The step attempt marker recorded and not yet ended: its key and this attempt's id in it. */
  stepMarker: { key: string; owner: string } | undefined;
  /** Attempt markers of recovered `ctx.step` calls this invocation recorded and has not ended: key to attempt id. */
  readonly inlineStepMarkers = new Map<string, string>();
  /** Take the outstanding inline calls at the next load (a hand-over, a resume, a recovery). */
  takeOver: 'inline' | 'steps' | undefined;
  /** The next step may skip its read (see `StepOptions.carriedOnly`); a conflict takes that back. */
  maySkipRead: boolean;
  readonly deadline: number | undefined;
  readonly startedAt = Date.now();
  /** The instance's ledger as of the history the next commit appends to. */
  costBefore: CostLedger | undefined;
  /** What the messages the next commit applies or drops cost to produce (activity attempts, timers). */
  arrivedCost: CostLedger | undefined;
  /** An eager start: the instance does not exist until this invocation's first commit creates it (its record, as not yet stored). */
  creating: InstanceRecord | undefined;
  /** The first commit of an eager start landed: the instance exists, with this status. */
  created: InstanceStatusName | undefined;
  /** A snapshot the doorbell's task carried (`StepOptions.snapshot`): the first attempt starts from it instead of reading. */
  startFrom: unknown;
  /** What the last commit left for its tasks and timers to carry (`StepCommit.snapshot`). */
  snapshot: unknown;
  /** Where the history ended when the carried result's task or timer was sent (`StepOptions.sentAt`). */
  readonly sentAt: HistoryPosition | undefined;

  constructor(
    options: StepOptions,
    /** What interceptors see of the step (its orchestration is set once the instance is read). */
    readonly info: StepInfo,
    /** Counts what the invocation spends on the instance: each commit writes what it counted since the last. */
    readonly cost: CostScope,
  ) {
    for (const message of options.messages ?? []) this.carried.set(message.messageId, message);
    this.takeOver = options.runInline ? 'inline' : undefined;
    this.maySkipRead = options.carriedOnly === true && this.carried.size > 0 && !options.redelivered && !options.runInline;
    this.startFrom = this.maySkipRead ? options.snapshot : undefined;
    this.sentAt = options.sentAt;
    this.deadline = options.deadline;
  }

  /** Real milliseconds left for inline work, the safety margin kept free. */
  remaining(): number {
    if (this.deadline === undefined) return Infinity;
    const margin = Math.min(SAFETY_MARGIN_MS, (this.deadline - this.startedAt) / 10);
    return this.deadline - Date.now() - margin;
  }
}

/** The instance as of the end of its last commit in this invocation, and its executor. */
interface Live {
  instance: InstanceRecord;
  executor: OrchestrationExecutor;
  /** The executor matches the committed history (false after an uncommitted advance). */
  clean: boolean;
  /** The generation the step loaded: the executor is kept only for it. */
  readonly generation: number;
  /**
   * The executor went back to the cache as soon as this invocation had nothing more to run on it, before the
   * dispatch of its last commit: the next step of the instance (started by what that dispatch sends) may own
   * it already, so this invocation no longer touches it.
   */
  released?: boolean;
}

/**
 * Runs orchestration steps: load the instance and its inbox, replay the code (only the new events when a
 * live executor is cached), append the step's events to the history chain in one write, then dispatch
 * its decisions. Inline calls (`ctx.step`, activities registered `inline`) then run here, and their results
 * are committed as the next step, until none is left or the invocation's budget is spent. A crash between
 * commit and dispatch means the doorbell was not acknowledged: it comes back as a redelivery, and that
 * step first re-dispatches the outstanding work of the instance (every dispatch is idempotent) and records
 * crash evidence, so a step that keeps crashing is quarantined while one that was only slow is not.
 */
export class OrchestrationWorker {
  private readonly cache: ExecutorCache;
  /**
   * What steps spent after their last commit (dispatch, the inbox's deliveries, time), by instance: the
   * instance's next commit in this worker adds it. Bounded: an instance not stepped here again loses it.
   */
  private readonly uncommittedCost = new Map<string, CostLedger>();
  private readonly poisonAfterCrashes: number;
  private readonly inline: Required<InlineOptions>;
  private readonly interceptors: InterceptorChain;

  constructor(private readonly deps: WorkerDependencies) {
    this.interceptors = deps.interceptors ?? runtimeInterceptors(deps.app);
    this.cache = new ExecutorCache(deps.executorCacheSize ?? 500);
    this.poisonAfterCrashes = deps.poisonAfterCrashes ?? 3;
    const given = Object.fromEntries(Object.entries(deps.inline ?? {}).filter(([, value]) => value !== undefined));
    this.inline = { activities: true, maxStepsPerInvocation: 100, concurrency: 32, ...given };
    const signer = deps.callbackUrls;
    this.signCallbackUrls = signer && ((token, options) => signer.urls(token, options));
  }

  private readonly signCallbackUrls: AttemptSpec['callbackUrls'];

  /**
   * Handles the doorbells of one instance. Throws only on infrastructure errors (the doorbell is then
   * retried); messages it carried that no step applied are stored in the inbox before it returns.
   */
  async step(instanceId: string, options: StepOptions = {}): Promise<StepResult> {
    const info: StepInfo = { instanceId, headers: options.headers ?? [], redelivered: options.redelivered ?? false, ...(options.queueAgeMs !== undefined ? { queueAgeMs: options.queueAgeMs } : {}) };
    const cost = new CostScope(addLedgers(options.cost, this.uncommittedCost.get(instanceId)));
    this.uncommittedCost.delete(instanceId);
    try {
      return await cost.run(() => this.interceptors.step(info, () => this.runStep(instanceId, options, info, cost)));
    } finally {
      const left = cost.take();
      if (!isEmptyLedger(left)) {
        this.uncommittedCost.set(instanceId, left);
        if (this.uncommittedCost.size > 1_000) this.uncommittedCost.delete(this.uncommittedCost.keys().next().value!);
      }
    }
  }

  /**
   * Starts an instance eagerly: its first step runs here, in the caller's request, and creates the instance
   * with that step's history in one write; what the step decided is dispatched before this returns. So a start
   * costs no doorbell and no read, and its first activity is on its queue when the caller hears back.
   * Returns the status the step left the instance in (Running, or ended already); undefined when nothing was
   * written (the store cannot create the instance with its history, or the code failed before its commit):
   * the caller then creates the instance and rings its doorbell, as without.
   * `InstanceExistsError` when the id is taken. An error after the commit is the instance's: its doorbell is
   * rung as a repair, which dispatches what the step decided.
   */
  async start(record: InstanceRecord, start: InboxMessage): Promise<InstanceStatusName | undefined> {
    const info: StepInfo = { instanceId: record.instanceId, headers: record.headers ? [record.headers] : [], redelivered: false };
    const cost = new CostScope(undefined);
    const invocation = new Invocation({ messages: [start] }, info, cost);
    invocation.creating = record;
    try {
      await cost.run(() => this.interceptors.step(info, () => this.tryStep(record.instanceId, invocation, false)));
      return invocation.created;
    } catch (error) {
      if (error instanceof InstanceExistsError || error instanceof SimulatedCrash) throw error;
      if (invocation.created === undefined) {
        this.deps.logger.warn('could not start the instance eagerly; starting it from its doorbell', { instanceId: record.instanceId, error: String(error) });
        return undefined;
      }
      this.deps.logger.warn('the eager start of the instance committed and failed after; its doorbell repairs it', { instanceId: record.instanceId, error: String(error) });
      await this.ring(record, { repair: true });
      return invocation.created;
    }
  }

  /**
   * Sends again what an eager start's step decided, if nothing has happened to the instance since (its history
   * holds that one step): a start retried after the request that created the instance died before its sends.
   * Every send is idempotent; an activity that was sent after all may run twice, as any delivery may.
   */
  async resendStart(instanceId: string): Promise<void> {
    const state = await this.deps.store.loadStep(instanceId);
    if (!state || state.instance.generation !== 0 || isTerminal(state.instance.status)) return;
    const { instance, history } = state;
    if (history.filter((event) => event.type === 'StepStarted').length !== 1) return;
    const scheduled = history.filter(isScheduleEvent);
    await this.dispatch(instance, scheduled, instance.generation, false);
    if (instance.deadline !== undefined) await this.scheduleDeadline(instance);
    // Its ctx.step calls were handed to an orchestrator invocation by a doorbell the request may not have rung.
    if (scheduled.some((event) => event.type === 'ActivityScheduled' && event.step)) await this.ring(instance, { runInline: true });
  }

  private async runStep(instanceId: string, options: StepOptions, info: StepInfo, cost: CostScope): Promise<StepResult> {
    const invocation = new Invocation(options, info, cost);
    let repair = options.redelivered ?? false;
    let result: StepResult = 'idle';
    try {
      for (let attempt = 1; ; attempt++) {
        result = await this.tryStep(instanceId, invocation, repair);
        repair = false;
        if (result === 'conflict') invocation.maySkipRead = false;
        if ((result !== 'conflict' && result !== 'repaired') || attempt >= MAX_CONFLICT_RETRIES) break;
      }
      await this.endStepMarker(instanceId, invocation);
      await this.keepUnapplied(instanceId, invocation, result);
    } catch (error) {
      // An error the invocation caught is not a crash: end its attempt markers, so they are not counted as crashes.
      if (!(error instanceof SimulatedCrash)) await Promise.all([this.endStepMarker(instanceId, invocation), this.endInlineStepMarkers(instanceId, invocation)]).catch(() => undefined);
      throw error;
    }
    // The invocation lived through the steps it recovered, whether or not their results were committed here.
    await this.endInlineStepMarkers(instanceId, invocation).catch((error: unknown) =>
      this.deps.logger.warn('could not end the attempt markers of recovered steps; a later recovery may count a crash', { instanceId, error: String(error) }),
    );
    this.deps.crash?.('step:before-ack', instanceId);
    return result;
  }

  /** Forgets the live executor of an instance (tests use it to force a full replay). */
  evict(instanceId?: string): void {
    if (instanceId === undefined) this.cache.clear();
    else this.cache.delete(instanceId);
  }

  private async tryStep(instanceId: string, invocation: Invocation, repair: boolean): Promise<StepResult> {
    const { store, clock } = this.deps;
    let cached = invocation.creating ? undefined : this.cache.take(instanceId);
    // The snapshot the task carried (once: a conflict reads) is where a cold executor starts, and where a warm one
    // that another worker's steps left behind does (its cached position would only fail the commit).
    const carried = invocation.startFrom !== undefined && store.loadStepFrom ? await store.loadStepFrom(instanceId, invocation.startFrom) : undefined;
    invocation.startFrom = undefined;
    const behind = (position: CachedExecution, state: StepState) =>
      position.incarnation !== state.instance.incarnation || position.generation !== state.instance.generation || position.lastEventId < state.instance.lastEventId;
    let fromSnapshot = carried?.instance.status === 'Running' && (!cached || behind(cached, carried)) ? carried : undefined;
    if (fromSnapshot && cached) {
      // A warm executor of the same run replays just the steps it missed, from the snapshot's history (its
      // payloads are not loaded again); one of another run (a new generation, a rewind's) starts afresh.
      const sameRun = cached.generation === fromSnapshot.instance.generation && cached.incarnation === fromSnapshot.instance.incarnation && cached.lastEventId > 0;
      const position = cached.lastEventId;
      if (sameRun && fromSnapshot.afterEventId === 0) fromSnapshot = { ...fromSnapshot, history: fromSnapshot.history.filter((event) => event.eventId > position), afterEventId: position };
      else cached = undefined;
    }
    // A warm executor of a running instance applies carried results without a read: a commit that finds
    // the chain moved on (another writer) is a conflict, and the next attempt reads and replays it all. One
    // known to be behind where the history was when the result's call was sent reads just what it missed.
    const knownBehind = cached !== undefined && invocation.sentAt !== undefined && behindPosition(cached, invocation.sentAt);
    const skipRead = (invocation.maySkipRead && !knownBehind && cached?.instance?.status === 'Running') || fromSnapshot !== undefined;
    const state = invocation.creating
      ? { instance: { ...invocation.creating }, history: [], afterEventId: 0, inbox: [] }
      : fromSnapshot
        ? fromSnapshot
        : skipRead
          ? { instance: { ...cached!.instance! }, history: [], afterEventId: cached!.lastEventId, inbox: [] }
          : await store.loadStep(instanceId, cached && { generation: cached.generation, eventId: cached.lastEventId, incarnation: cached.incarnation });
    if (!state) {
      invocation.carried.clear();
      return 'missing';
    }
    const { instance } = state;
    // The newest ledger: the history's end as read, or the cached executor's when the read brought nothing newer.
    const warm = cached?.instance && cached.generation === instance.generation && cached.incarnation === instance.incarnation && state.afterEventId === cached.lastEventId && state.history.length === 0 ? cached : undefined;
    invocation.costBefore = warm ? (warm.instance!.cost ?? instance.cost) : instance.cost;
    if (warm) instance.cost = invocation.costBefore;
    invocation.info.orchestration = instance.name;
    invocation.info.version = instance.version;
    if (instance.rewindRequested) return this.rewind(state, invocation);
    if (repair || instance.dispatchPending) return this.repair(instance, invocation);
    const stored = new Set(state.inbox.map((message) => message.messageId));
    const inbox = [...state.inbox, ...[...invocation.carried.values()].filter((message) => !stored.has(message.messageId))];
    const storedOnly = (ids: string[]) => ids.filter((id) => stored.has(id));
    const now = clock.now();
    const costOf = (ids: string[]) => {
      const wanted = new Set(ids);
      return inbox.filter((message) => wanted.has(message.messageId) && message.cost).reduce<CostLedger | undefined>((sum, message) => addLedgers(sum, message.cost), undefined);
    };

    if (isTerminal(instance.status)) {
      // Results for a finished instance have nowhere to go: drop them. Events wait in a Failed instance's
      // inbox: a rewind revives it, and an event the sender was told was accepted (raised as the instance
      // failed, or not yet applied when it did) must then reach the code. keepUnapplied stores carried ones.
      const waits = (message: InboxMessage) => instance.status === 'Failed' && message.event.type === 'EventRaised';
      for (const [id, message] of invocation.carried) if (!waits(message)) invocation.carried.delete(id);
      const dropped = state.inbox.filter((message) => !waits(message)).map((message) => message.messageId);
      if (dropped.length === 0) return 'idle';
      invocation.arrivedCost = costOf(dropped);
      return this.commitRecord(instance, undefined, [], dropped, [], invocation);
    }

    const sorted = sortInbox(inbox, instance.generation, instance.status === 'Suspended');
    invocation.arrivedCost = costOf(sorted.consumed);
    if (sorted.terminate) return this.end(instance, 'Terminated', { type: 'ExecutionTerminated', ...(sorted.terminate.reason ? { reason: sorted.terminate.reason } : {}) }, storedOnly(sorted.consumed), invocation, now);
    // The deadline timer is the instance's, not a call of the code.
    const deadline = sorted.apply.findIndex((event) => event.type === 'TimerFired' && event.taskId === DEADLINE_TASK_ID);
    if (deadline >= 0) {
      sorted.apply.splice(deadline, 1);
      if (instance.deadline !== undefined && now >= instance.deadline && instance.status !== 'Quarantined') {
        const error = toFailureDetails(new TimeoutError(`Instance '${instance.instanceId}' of '${instance.name}' ran longer than its orchestration's timeout of ${formatDuration(instance.deadline - instance.createdAt)}.`));
        return this.end(instance, 'Failed', { type: 'ExecutionFailed', error }, storedOnly(sorted.consumed), invocation, now);
      }
    }
    if (instance.status === 'Quarantined') return 'quarantined';

    let executor: OrchestrationExecutor;
    try {
      executor = await this.prepareExecutor(state, cached, invocation);
    } catch (error) {
      return this.quarantineOrRethrow(instance, error, invocation);
    }
    const live: Live = { instance, executor, clean: true, generation: instance.generation };
    // A result of a run a rewind undid (a late duplicate) is not the result of the call's new run.
    const applied = sorted.apply.filter((event) => !('taskId' in event) || executor.expectsCompletion(event.taskId, isRoundedResult(event) ? (event.round ?? 0) : undefined));
    if (skipRead && (sorted.stale.length > 0 || applied.length < sorted.apply.length)) {
      // A warm executor that did not read may be behind: another worker (the activity function's, with a cache
      // of its own) may have moved the history on, into the next generation even. What it would drop (a result
      // of another generation, of a call it has not seen or has seen settled) may be one the instance waits
      // for, and only a read can tell a duplicate from that. Read, then decide.
      invocation.maySkipRead = false;
      return 'conflict';
    }
    this.takeOver(live, invocation);

    let result: StepResult = 'idle';
    if (applied.length > 0 || storedOnly(sorted.consumed).length > 0) {
      result = await this.advanceAndCommit(live, applied, storedOnly(sorted.consumed), sorted.consumed, invocation, now);
      if (result !== 'stepped') return result;
      if (applied.some((event) => event.type === 'ExecutionResumed')) invocation.takeOver ??= 'steps';
      this.takeOver(live, invocation);
      if (sorted.deferred && !isTerminal(live.instance.status)) await this.ring(live.instance);
    } else {
      // Nothing to apply: what was carried is already in history (duplicates). What they cost counts with the next commit.
      for (const id of sorted.consumed) invocation.carried.delete(id);
      invocation.cost.add(invocation.arrivedCost);
      invocation.arrivedCost = undefined;
    }
    // The attempt ended, with progress or without: its marker must not count as a crash when its position recurs (the next generation starts at 0 again).
    await this.endStepMarker(instanceId, invocation);
    const inlineResult = await this.runInline(live, invocation);
    this.keepExecutor(live);
    return inlineResult ?? (result === 'idle' && invocation.inlineSteps > 0 ? 'stepped' : result);
  }

  /**
   * Applies `events` as one step: the code advances over them, and its decisions (and its end, if it
   * ended) are appended to history in one commit, with the record when the step changes it.
   * @param consumed stored inbox messages the step applied or dropped (deleted by the commit)
   * @param carriedIds messages of the invocation the step applied or dropped (forgotten once committed)
   */
  private async advanceAndCommit(live: Live, events: InboxEvent[], consumed: string[], carriedIds: string[], invocation: Invocation, now: number): Promise<StepResult> {
    const { instance, executor } = live;
    let status = instance.status;
    let cancelled: { reason?: string } | undefined;
    for (const event of events) {
      if (event.type === 'ExecutionStarted' || event.type === 'ExecutionResumed' || event.type === 'ExecutionRewound') status = 'Running';
      else if (event.type === 'ExecutionSuspended') status = 'Suspended';
      else if (event.type === 'ExecutionCancelRequested' && !instance.cancelRequested) {
        cancelled = event.reason === undefined ? {} : { reason: event.reason };
        // A cancellation reaches a suspended instance too: its code gets to clean up.
        if (status === 'Suspended') status = 'Running';
      }
    }
    const stepEvents = numberEvents([{ type: 'StepStarted' }, ...events], instance.lastEventId, now);
    live.clean = false;
    try {
      await this.phase(invocation, 'advance', stepEvents.length, () => executor.advance(stepEvents));
    } catch (error) {
      return this.quarantineOrRethrow(instance, error, invocation);
    }
    if (executor.violation) {
      if (invocation.creating) throw executor.violation;
      return this.quarantine(instance, executor.violation);
    }

    const decisions = executor.takeDecisions();
    const next: InstanceRecord = { ...instance, status };
    if (cancelled) next.cancelRequested = { ...cancelled, at: now };
    if (events.some((event) => event.type === 'ExecutionRewound')) {
      delete next.error;
      delete next.rewindRequested;
      // A deadline already passed would fail the rewound instance at once: it runs on without one.
      if (next.deadline !== undefined && now >= next.deadline) delete next.deadline;
    }
    if (executor.customStatus !== instance.customStatus) {
      if (executor.customStatus === undefined) delete next.customStatus;
      else next.customStatus = executor.customStatus;
    }
    const started = events.some((event) => event.type === 'ExecutionStarted');
    const timeoutMs = executor.definition?.timeoutMs;
    if (started && timeoutMs !== undefined && next.deadline === undefined) next.deadline = instance.createdAt + timeoutMs;
    const ending = this.ending(executor, next, now);
    let tail = [...decisions, ...ending.events];
    const lastStepEventId = instance.lastEventId + stepEvents.length;
    if (lastStepEventId + tail.length > this.deps.app.maxHistoryEvents && !ending.final) {
      const error = toFailureDetails(
        new HistoryLimitError(
          `The history of instance '${instance.instanceId}' (orchestration '${instance.name}' version ${instance.version}) reached ${lastStepEventId + tail.length} events, over the limit of ${this.deps.app.maxHistoryEvents}. Call ctx.continueAsNew(state) when ctx.isContinueAsNewSuggested is true, or move batches of work into sub-orchestrations; the limit is createApp({ maxHistoryEvents }).`,
        ),
      );
      tail = [{ type: 'ExecutionFailed', error }];
      Object.assign(next, { status: 'Failed', error });
      ending.enqueue = [];
    }
    this.warnOnLongHistory(instance, lastStepEventId + tail.length);

    this.deps.crash?.('step:before-commit', instance.instanceId);
    const append = [...stepEvents, ...numberEvents(tail, lastStepEventId, now)];
    next.lastEventId = next.generation === instance.generation ? instance.lastEventId + append.length : 0;
    // The step's queued activities and timers may carry the record as it leaves it: the step a result starts need not read.
    const carriers = append.filter((event) => event.type === 'TimerCreated' || (event.type === 'ActivityScheduled' && !this.isInline(event))).length;
    const wantsSnapshot = next.status === 'Running' && next.generation === instance.generation && carriers > 0 && carriers <= MAX_SNAPSHOT_CARRIERS;
    const result = await this.commitRecord(instance, recordChanged(instance, next) ? next : undefined, append, consumed, ending.enqueue, invocation, wantsSnapshot);
    if (result !== 'stepped') return result;
    for (const id of carriedIds) invocation.carried.delete(id);
    next.cost = invocation.costBefore;
    live.instance = next;
    live.clean = true;
    // A resume hands the invocation the `ctx.step` calls it finds open (`takeOver`), and a rewind the ones it opens again: it keeps the executor for them.
    const keepsExecutor = events.some((event) => event.type === 'ExecutionResumed' || event.type === 'ExecutionRewound');
    const children = isTerminal(next.status) || cancelled ? executor.runningChildren() : [];
    await this.dispatchStep(live, invocation, append.filter(isScheduleEvent), instance.generation, !!instance.parent && isTerminal(next.status), !keepsExecutor);
    if (isTerminal(next.status)) await this.closeChildren(next, children, 'ended');
    else if (cancelled) await this.closeChildren(next, children, 'cancelled');
    if (started && next.deadline !== undefined && !isTerminal(next.status) && next.generation === instance.generation) await this.scheduleDeadline(next);
    return 'stepped';
  }

  /**
   * Appends to the history chain and, when `next` is given, writes the record in the same commit
   * (status changes, the end, continue-as-new). On success `next` carries its new revision.
   */
  private async commitRecord(instance: InstanceRecord, next: InstanceRecord | undefined, append: HistoryEvent[], consumed: string[], enqueue: InboxMessage[], invocation: Invocation, wantsSnapshot = false): Promise<StepResult> {
    if (next) {
      next.revision = instance.revision + 1;
      next.updatedAt = this.deps.clock.now();
    }
    // The instance's ledger through this step: before it, what arrived with its messages, what it spent since the last commit.
    const spent = invocation.cost.take();
    spent.steps += 1;
    const cost = addLedgers(addLedgers(invocation.costBefore, invocation.arrivedCost), spent);
    if (next) next.cost = cost;
    const outcome = { result: 'committed' as 'committed' | 'conflict' };
    const commit: StepCommit = {
      cost,
      ...(next && next.status !== instance.status ? { statusChanged: true } : {}),
      generation: instance.generation,
      afterEventId: instance.lastEventId,
      append,
      consumed,
      enqueue,
      expectedRevision: instance.revision,
      ...(instance.incarnation !== undefined ? { incarnation: instance.incarnation } : {}),
      ...(next ? { instance: next } : {}),
      ...(invocation.creating ? { creates: true as const } : {}),
      ...(wantsSnapshot ? { wantsSnapshot } : {}),
    };
    await this.phase(invocation, 'commit', append.length, async (phase) => {
      outcome.result = await this.deps.store.commitStep(instance.instanceId, commit);
      if (outcome.result === 'conflict') phase.conflict = true;
    });
    invocation.snapshot = commit.snapshot;
    if (outcome.result === 'conflict') {
      // What the step spent, its failed write included, counts with the commit that wins.
      invocation.cost.add(subtractLedgers(cost, addLedgers(invocation.costBefore, invocation.arrivedCost)));
      return 'conflict';
    }
    invocation.costBefore = cost;
    invocation.arrivedCost = undefined;
    if (invocation.creating) {
      invocation.creating = undefined;
      invocation.created = next?.status ?? instance.status;
    }
    this.deps.crash?.('step:after-commit', instance.instanceId);
    return 'stepped';
  }

  /** The terminal events of an ended execution, and the record changes that go with them. */
  private ending(executor: OrchestrationExecutor, next: InstanceRecord, now: number): { events: NewHistoryEvent[]; enqueue: InboxMessage[]; final: boolean } {
    const outcome = executor.outcome;
    if (!outcome) return { events: [], enqueue: [], final: false };
    switch (outcome.type) {
      case 'completed':
        Object.assign(next, { status: 'Completed', output: outcome.output });
        return { events: [{ type: 'ExecutionCompleted', output: outcome.output }], enqueue: [], final: true };
      case 'failed':
        Object.assign(next, { status: 'Failed', error: outcome.error });
        return { events: [{ type: 'ExecutionFailed', error: outcome.error }], enqueue: [], final: true };
      case 'cancelled': {
        const error = toFailureDetails(new CancelledError(`Instance '${next.instanceId}' was cancelled${outcome.reason ? `: ${outcome.reason}` : '.'}`, outcome.reason));
        Object.assign(next, { status: 'Cancelled', error });
        return { events: [{ type: 'ExecutionCancelled', ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}) }], enqueue: [], final: true };
      }
      case 'continuedAsNew': {
        const generation = next.generation + 1;
        const start: InboxMessage = {
          messageId: messageIds.start(generation),
          generation,
          receivedAt: now,
          event: { type: 'ExecutionStarted', name: next.name, version: outcome.version, input: outcome.input, ...(next.parent ? { parent: next.parent } : {}) },
        };
        const carried = executor.unconsumedEvents().map(
          (event, index): InboxMessage => ({
            messageId: messageIds.carried(generation, index),
            receivedAt: now,
            event: { type: 'EventRaised', name: event.name, data: event.data },
          }),
        );
        Object.assign(next, { status: 'Running', generation, version: outcome.version, input: outcome.input });
        return { events: [{ type: 'ContinuedAsNew', input: outcome.input, version: outcome.version }], enqueue: [start, ...carried], final: true };
      }
    }
  }

  private async prepareExecutor(state: StepState, cached: CachedExecution | undefined, invocation: Invocation): Promise<OrchestrationExecutor> {
    const { instance, history } = state;
    if (cached && cached.generation === instance.generation && cached.incarnation === instance.incarnation && state.afterEventId === cached.lastEventId && cached.lastEventId > 0) {
      // Another worker may have committed steps since: replay just that tail (unless it rewound what this executor already ran).
      if (!history.some((event) => event.type === 'ExecutionRewound')) {
        if (history.length > 0) await this.phase(invocation, 'replay', history.length, () => cached.executor.replay(history));
        return cached.executor;
      }
    }
    const fullHistory = state.afterEventId === 0 ? history : await this.deps.store.readHistory(instance.instanceId, instance.generation, instance.incarnation);
    const executor = new OrchestrationExecutor({
      instanceId: instance.instanceId,
      generation: instance.generation,
      app: this.deps.app,
      logger: this.deps.logger,
      loadPayload: this.deps.loadPayload,
    });
    // A new instance has no history to replay.
    if (fullHistory.length > 0) await this.phase(invocation, 'replay', fullHistory.length, () => executor.replay(fullHistory));
    else await executor.replay(fullHistory);
    return executor;
  }

  /** Runs a part of the step inside the interceptors' `phase` hooks. */
  private phase(invocation: Invocation, name: StepPhase['name'], events: number, run: (phase: StepPhase) => Promise<void>): Promise<void> {
    const phase: StepPhase = { name, step: invocation.info, events };
    return this.interceptors.phase(phase, () => run(phase));
  }

  /** The headers of a message about `instance` (the sender's alone when the instance's own are not known). */
  private headers(instance: { headers?: MessageHeaders }): { headers?: MessageHeaders } {
    const headers = this.interceptors.headers(instance.headers);
    return headers ? { headers } : {};
  }

  /** Rings the doorbell of `instance`; pass `{ instanceId }` alone for an instance whose record the worker does not have. */
  private ring(instance: { instanceId: string; headers?: MessageHeaders }, doorbell: Doorbell = {}): Promise<void> {
    return this.deps.queues.ringDoorbell(instance.instanceId, { ...doorbell, ...this.headers(instance) });
  }

  // --- inline calls ----------------------------------------------------------------------------------

  /** True for a call that runs inside the orchestrator: a `ctx.step`, or an activity registered `inline`. */
  private isInline(event: ScheduleEvent): event is ActivityScheduled {
    if (event.type !== 'ActivityScheduled') return false;
    return event.step === true || (this.inline.activities && this.deps.app.findActivity(event.name)?.inline === true);
  }

  /** Takes ownership of outstanding inline calls when the invocation was handed them or recovers them. */
  private takeOver(live: Live, invocation: Invocation): void {
    if (!invocation.takeOver) return;
    for (const call of live.executor.openCalls()) {
      if (!this.isInline(call.event as ScheduleEvent)) continue;
      // Registered activities were sent to the queue by a repair or a suspension; a handed-over call of either kind runs here.
      if (invocation.takeOver === 'inline' || (call.event as ActivityScheduled).step) invocation.owned.add(call.taskId);
    }
    invocation.takeOver = undefined;
  }

  /**
   * Runs the inline calls this invocation owns and commits their results as the next step, again and
   * again, until none is left, the step count is reached or the deadline is near; then it hands what is
   * left to the next invocation with a doorbell. Returns a result only when a commit did not succeed.
   */
  private async runInline(live: Live, invocation: Invocation): Promise<StepResult | undefined> {
    const { instanceId } = live.instance;
    for (;;) {
      if (live.released || !live.clean || live.instance.status !== 'Running') return undefined;
      const calls = live.executor.openCalls().filter((call): call is InlineCall => invocation.owned.has(call.taskId));
      if (calls.length === 0) return undefined;
      // An eager start runs in the caller's request: its inline calls go to an invocation of their own.
      if (invocation.created !== undefined || invocation.inlineSteps >= this.inline.maxStepsPerInvocation) return this.handOff(live.instance, invocation);
      const remaining = invocation.remaining();
      // A registered activity whose timeout no longer fits this invocation (or that is no longer registered) goes to the activity queue.
      const queued = calls.filter((call) => !call.event.step && !((this.deps.app.findActivity(call.event.name)?.timeoutMs ?? Infinity) <= remaining));
      if (queued.length > 0) {
        await this.enqueue(queued.map((call) => this.activityTask(live.instance, call.event, live.instance.generation, live.executor.roundOf(call.taskId))));
        for (const call of queued) invocation.owned.delete(call.taskId);
      }
      const toRun = calls.filter((call) => !queued.includes(call));
      if (toRun.length === 0) return undefined;
      // A step whose timeout no longer fits goes to a fresh invocation, unless this one has not run any yet.
      if (invocation.inlineSteps > 0 && toRun.some((call) => (call.step?.timeoutMs ?? 0) > remaining)) return this.handOff(live.instance, invocation);

      this.deps.crash?.('inline:before-run', instanceId);
      const outcomes = await runConcurrently(toRun, this.inline.concurrency, (call) => this.runInlineCall(live.instance, call, invocation));
      for (const call of toRun) invocation.owned.delete(call.taskId);
      invocation.inlineSteps++;
      this.deps.crash?.('inline:before-commit', instanceId);
      // From here the results are carried: if their commit does not succeed, a later step applies them (or the inbox keeps them).
      const generation = live.instance.generation;
      const now = this.deps.clock.now();
      const rounds = outcomes.map((event) => live.executor.roundOf(event.taskId));
      const results = outcomes.map((event, index) => (rounds[index]! > 0 ? { ...event, round: rounds[index]! } : event));
      const messages = results.map((event, index): InboxMessage => ({ messageId: messageIds.activity(generation, event.taskId, rounds[index]), generation, receivedAt: now, event }));
      for (const message of messages) invocation.carried.set(message.messageId, message);
      const result = await this.advanceAndCommit(live, results, [], messages.map((message) => message.messageId), invocation, now);
      if (result !== 'stepped') return result;
    }
  }

  /** One attempt of an inline call. A `ctx.step` recovered after a crash first records crash evidence, and is poison after too many. */
  private async runInlineCall(instance: InstanceRecord, call: InlineCall, invocation: Invocation): Promise<AttemptOutcome> {
    const event = call.event;
    const { store, clock } = this.deps;
    const recovering = invocation.recovering.has(call.taskId);
    const spec = {
      instanceId: instance.instanceId,
      taskId: call.taskId,
      name: event.name,
      attempt: event.attempt,
      idempotencyKey: event.idempotencyKey,
      logger: this.deps.logger,
      // An inline call has no queue message of its own to keep invisible: its heartbeats keep details and check the instance.
      heartbeats: { store, clock },
      heartbeatDetails: await previousHeartbeatDetails(store, { instanceId: instance.instanceId, idempotencyKey: event.idempotencyKey, attempt: event.attempt }, recovering),
      inline: true,
      interceptors: this.interceptors,
      callbackUrls: this.signCallbackUrls,
    };
    if (event.step) {
      // The step's own timeout, cut to what is left of the invocation (never below a second: a run needs a chance).
      const timeoutMs = Math.min(call.step?.timeoutMs ?? 60_000, Math.max(1_000, invocation.remaining()));
      if (recovering) {
        invocation.recovering.delete(call.taskId);
        const now = Date.now();
        const key = attemptKeys.inlineStep(instance.generation, call.taskId);
        // Noted before the write: a write that landed and lost its response is ended as well.
        const owner = randomUUID();
        invocation.inlineStepMarkers.set(key, owner);
        const crashes = await this.deps.store.beginAttempt(instance.instanceId, key, { position: event.attempt, now, deadline: invocation.deadline ?? now + timeoutMs, owner });
        if (crashes >= this.poisonAfterCrashes) {
          const error = new PoisonMessageError(
            `Step '${event.name}' (attempt ${event.attempt}) crashed its invocation ${crashes} times (the process died, ran out of memory or timed out while it ran), so it was failed instead of run again.`,
          );
          return { type: 'ActivityFailed', taskId: call.taskId, error: { ...toFailureDetails(error), nonRetryable: true } };
        }
      }
      if (!call.step) {
        return { type: 'ActivityFailed', taskId: call.taskId, error: { name: 'Error', message: `The code no longer passes the function of step '${event.name}'.`, nonRetryable: true } };
      }
      const fn = call.step.fn;
      return (await runAttempt((_input, actx) => fn(actx), { ...spec, kind: 'step', timeoutMs })).outcome;
    }
    const activity = this.deps.app.getActivity(event.name);
    const input = this.deps.loadPayload ? await this.deps.loadPayload(event.input) : event.input;
    const { outcome } = await runAttempt((given, actx) => activity.fn(given as never, actx), {
      ...spec,
      kind: 'activity',
      input,
      timeoutMs: activity.timeoutMs,
      heartbeatTimeoutMs: activity.heartbeatTimeoutMs,
      ...(event.scheduleToCloseAt !== undefined ? { budget: { leftMs: event.scheduleToCloseAt - clock.now(), totalMs: activity.scheduleToCloseTimeoutMs } } : {}),
    });
    return outcome;
  }

  /** The next invocation runs what is left: this one has spent its step count or its time. */
  private async handOff(instance: InstanceRecord, invocation: Invocation): Promise<undefined> {
    invocation.owned.clear();
    await this.ring(instance, { runInline: true });
    return undefined;
  }

  // --- dispatch ---------------------------------------------------------------------------------------

  /**
   * After a commit: inline calls become the invocation's to run (while the instance runs), everything else
   * is dispatched: activity tasks, timers, child starts, the parent's result, the next generation's start.
   */
  private async dispatchStep(live: Live, invocation: Invocation, scheduled: ScheduleEvent[], generation: number, notifyParent: boolean, mayRelease: boolean): Promise<void> {
    const running = live.instance.status === 'Running' && live.instance.generation === generation;
    const toDispatch: ScheduleEvent[] = [];
    const unowned: ActivityScheduled[] = [];
    for (const event of scheduled) {
      if (!this.isInline(event)) toDispatch.push(event);
      else if (running) invocation.owned.add(event.taskId);
      // Suspended or ended: a registered activity runs from the queue; a ctx.step waits for the resume (or runs once, unrecorded, after the end).
      else if (!event.step) toDispatch.push(event);
      else unowned.push(event);
    }
    const openCalls = running ? live.executor.openCalls().length : undefined;
    // Nothing left for this invocation to run on the executor: it goes back to the cache before the sends. What
    // they send may start the instance's next step before they return (the local stack's pollers receive in this
    // process), and that step finds the executor warm instead of reading the instance.
    if (running && mayRelease && invocation.owned.size === 0 && invocation.takeOver === undefined) this.keepExecutor(live);
    const snapshot = invocation.snapshot;
    invocation.snapshot = undefined;
    await this.dispatch(live.instance, toDispatch, generation, notifyParent && { stepHere: true, deadline: invocation.deadline }, openCalls, undefined, snapshot);
    if (isTerminal(live.instance.status)) await this.runAfterEnd(live, unowned);
  }

  /**
   * Puts the live executor back in the cache, once: while the instance runs on in the generation the step
   * loaded, and its executor matches the committed history. From then on this invocation leaves it alone.
   */
  private keepExecutor(live: Live): void {
    if (live.released || !live.clean || isTerminal(live.instance.status) || live.instance.generation !== live.generation) return;
    live.released = true;
    const { instance, executor } = live;
    this.cache.put(instance.instanceId, { executor, generation: instance.generation, lastEventId: instance.lastEventId, incarnation: instance.incarnation, instance });
  }

  /** `ctx.step` calls made in the step where the code ended: they run once, and nothing waits for them. */
  private async runAfterEnd(live: Live, steps: ActivityScheduled[]): Promise<void> {
    const open = new Map(live.executor.openCalls().map((call) => [call.taskId, call]));
    for (const event of steps) {
      const call = open.get(event.taskId);
      if (!call?.step) continue;
      const fn = call.step.fn;
      await runAttempt((_input, actx) => fn(actx), { instanceId: live.instance.instanceId, taskId: event.taskId, name: event.name, kind: 'step', attempt: event.attempt, idempotencyKey: event.idempotencyKey, timeoutMs: call.step.timeoutMs, logger: this.deps.logger, callbackUrls: this.signCallbackUrls, inline: true, interceptors: this.interceptors });
    }
  }

  private activityTask(instance: InstanceRecord, event: NewActivityScheduled, generation = instance.generation, round = 0): ActivityTask {
    return {
      instanceId: instance.instanceId,
      generation,
      taskId: event.taskId,
      name: event.name,
      input: event.input,
      attempt: event.attempt,
      idempotencyKey: event.idempotencyKey,
      ...(event.scheduleToCloseAt !== undefined ? { scheduleToCloseAt: event.scheduleToCloseAt } : {}),
      ...this.headers(instance),
      ...(round > 0 ? { round } : {}),
    };
  }

  private async enqueue(tasks: ActivityTask[]): Promise<void> {
    if (tasks.length > 0) await this.deps.queues.enqueueActivities(tasks);
  }

  /** @param rounds the round of each call a rewind reopened (absent: a first run) */
  private async dispatch(instance: InstanceRecord, scheduled: ScheduleEvent[], generation: number, notifyParent: ParentNotice | false, openCalls?: number, rounds?: (taskId: number) => number, snapshot?: unknown): Promise<void> {
    const { queues, clock } = this.deps;
    const activities: ActivityTask[] = [];
    // The only call in flight (a task, a timer or a child): its worker may commit the result itself (no doorbell
    // hop); in a fan-out they would race. Each task and timer carries the record this step left, when the store gave one: where the result's
    // step starts from it (a cold or stale executor), it need not read.
    const solo = openCalls === 1 && scheduled.length === 1;
    const sentAt: HistoryPosition = { generation, eventId: instance.lastEventId, ...(instance.incarnation !== undefined ? { incarnation: instance.incarnation } : {}) };
    const carried = { ...(snapshot !== undefined ? { snapshot } : {}), ...(instance.generation === generation ? { sentAt } : {}) };
    const timers: TimerTask[] = [];
    const children: Promise<void>[] = [];
    for (const event of scheduled) {
      if (event.type === 'ActivityScheduled') {
        // A ctx.step has no registered code for the activity queue to run.
        if (!event.step) activities.push({ ...this.activityTask(instance, event, generation, rounds?.(event.taskId)), ...(solo ? { solo } : {}), ...carried });
      } else if (event.type === 'TimerCreated') {
        timers.push({ instanceId: instance.instanceId, generation, taskId: event.taskId, fireAt: event.fireAt, ...this.headers(instance), ...(solo ? { solo } : {}), ...carried });
      } else if (event.type === 'SubOrchestrationScheduled') {
        children.push(this.startChild(instance, generation, event, solo && !event.detached && instance.generation === generation ? sentAt : undefined));
      }
      // A child context and a callback send nothing: the code and the outside system settle them.
    }
    await Promise.all([
      this.enqueue(activities),
      timers.length ? queues.scheduleTimers(timers) : undefined,
      ...children,
      notifyParent ? this.notifyParent(instance, clock.now(), notifyParent) : undefined,
      instance.generation !== generation ? this.ring(instance) : undefined,
    ]);
  }

  /** The timer that times the instance out at its deadline (each generation has its own). */
  private async scheduleDeadline(instance: InstanceRecord): Promise<void> {
    await this.deps.queues.scheduleTimers([{ instanceId: instance.instanceId, generation: instance.generation, taskId: DEADLINE_TASK_ID, fireAt: instance.deadline!, ...this.headers(instance) }]);
  }

  /** @param solo where the parent's history ended, when the child is its only call in flight (see `ParentRef.solo`) */
  private async startChild(parent: InstanceRecord, generation: number, event: Extract<ScheduleEvent, { type: 'SubOrchestrationScheduled' }>, solo?: HistoryPosition): Promise<void> {
    const { app, store, clock } = this.deps;
    const parentRef: ParentRef = {
      instanceId: parent.instanceId,
      generation,
      taskId: event.taskId,
      ...(event.detached ? { detached: true as const } : {}),
      ...(solo ? { solo: { eventId: solo.eventId, ...(solo.incarnation !== undefined ? { incarnation: solo.incarnation } : {}) } } : {}),
    };
    const now = clock.now();
    const failParent = (error: unknown) => this.ring(parent, { messages: [childResultMessage(parentRef, now, { error: toFailureDetails(error) })] });
    let version: string;
    try {
      version = app.getOrchestration(event.name, event.version).version;
    } catch (error) {
      return failParent(error);
    }
    const child: InstanceRecord = {
      instanceId: event.instanceId,
      name: event.name,
      version,
      status: 'Pending',
      generation: 0,
      input: event.input,
      parent: parentRef,
      createdAt: now,
      updatedAt: now,
      lastEventId: 0,
      revision: 0,
      cost: emptyLedger(),
    };
    // The child's trace starts at this step: its steps are children of the parent's. It runs on its parent's lane.
    const headers = withPriority(this.interceptors.headers(), priorityOf(parent.headers));
    if (headers) child.headers = headers;
    const start: InboxMessage = {
      messageId: messageIds.start(0),
      generation: 0,
      receivedAt: now,
      event: { type: 'ExecutionStarted', name: event.name, version, input: event.input, parent: parentRef },
    };
    let started = child;
    try {
      await store.createInstance(child, start);
    } catch (error) {
      if (!(error instanceof InstanceExistsError)) throw error;
      const existing = await store.getInstance(event.instanceId);
      const sameChild = existing?.parent && existing.parent.instanceId === parentRef.instanceId && existing.parent.generation === generation && existing.parent.taskId === event.taskId;
      if (!sameChild) return failParent(error);
      // A child that already ended reports again: its result may have reached a parent that had ended (and was rewound since).
      if (isTerminal(existing.status)) return this.notifyParent(existing, now);
      started = existing;
    }
    await this.ring(started);
  }

  /**
   * Tells the parent how its child ended. The result of a solo child (`ParentRef.solo`) is the parent's next
   * step: after the child's last commit (`stepHere`) it is committed right here, as a solo task's result is in
   * the activity function. When that step fails, or after a redelivery of the child's last step (`repair`:
   * such a step may have died between its commit and its dispatch), the parent's doorbell asks for a repair.
   */
  private async notifyParent(instance: InstanceRecord, now: number, via: ParentNotice = 'ring'): Promise<void> {
    const parent = instance.parent;
    if (!parent || parent.detached) return;
    const result: { output: unknown } | { error: FailureDetails } =
      instance.status === 'Completed'
        ? { output: instance.output }
        : { error: instance.error ?? { name: 'TerminatedError', message: `Sub-orchestration '${instance.instanceId}' was terminated.` } };
    const message = childResultMessage(parent, now, result);
    // The parent's trace context is not the child's to know (the parent's step links to this one); its lane is the child's own.
    const lane = withPriority(undefined, priorityOf(instance.headers));
    if (parent.solo && typeof via === 'object') {
      const headers = this.interceptors.headers(lane);
      const sentAt: HistoryPosition = { generation: parent.generation, eventId: parent.solo.eventId, ...(parent.solo.incarnation !== undefined ? { incarnation: parent.solo.incarnation } : {}) };
      try {
        await this.step(parent.instanceId, { messages: [message], carriedOnly: true, sentAt, ...(via.deadline !== undefined ? { deadline: via.deadline } : {}), ...(headers ? { headers: [headers] } : {}) });
        return;
      } catch (error) {
        if (error instanceof SimulatedCrash) throw error;
        this.deps.logger.warn("could not commit the child's result to its parent in this invocation; sending it through the doorbell", { instanceId: parent.instanceId, child: instance.instanceId, error: (error as Error).message });
      }
    }
    await this.ring({ instanceId: parent.instanceId, headers: lane }, { messages: [message], ...(parent.solo && via !== 'ring' ? { repair: true } : {}) });
  }

  // --- crashes, repair, the inbox ---------------------------------------------------------------------

  /**
   * A redelivered doorbell: the last invocation may have died. Records crash evidence for the step (and
   * quarantines the instance when its step keeps dying), re-dispatches the outstanding work, and lets the
   * next load take over the `ctx.step` calls that were running, each after its own crash evidence.
   */
  private async repair(instance: InstanceRecord, invocation: Invocation): Promise<StepResult> {
    const { store, logger } = this.deps;
    const now = Date.now();
    const key = attemptKeys.step(instance.generation);
    const owner = randomUUID();
    const crashes = await store.beginAttempt(instance.instanceId, key, { position: instance.lastEventId, now, deadline: invocation.deadline ?? now + DEFAULT_INVOCATION_MS, owner });
    invocation.stepMarker = { key, owner };
    if (crashes >= this.poisonAfterCrashes && !isTerminal(instance.status) && instance.status !== 'Quarantined') {
      await store.endAttempt(instance.instanceId, key, { forget: true });
      invocation.stepMarker = undefined;
      const error = new PoisonMessageError(
        `The step of instance '${instance.instanceId}' after history event ${instance.lastEventId} crashed its invocation ${crashes} times in a row (the orchestrator died, ran out of memory or timed out), so the instance was set aside. Check the logs, deploy a fix, then resume it.`,
      );
      const result = await this.quarantine(instance, error);
      if (result === 'quarantined') await this.deps.onPoison?.(instance.instanceId, error.message);
      return result;
    }
    logger.warn('re-dispatching the outstanding work of the instance (its last doorbell was not acknowledged)', { instanceId: instance.instanceId });
    const history = await store.readHistory(instance.instanceId, instance.generation, instance.incarnation);
    const rewound = rewoundEvents(history);
    const settled = new Set(history.flatMap((event) => (isCompletionEvent(event) && !rewound.has(event.eventId) ? [event.taskId] : [])));
    // A detached child reports to nobody: it is not outstanding.
    const outstanding = history.filter((event): event is ScheduleEvent => isScheduleEvent(event) && !settled.has(event.taskId) && !(event.type === 'SubOrchestrationScheduled' && event.detached));
    for (const event of outstanding) if (event.type === 'ActivityScheduled' && event.step) invocation.recovering.add(event.taskId);
    const rounds = resultRounds(history);
    await this.dispatch(instance, isTerminal(instance.status) ? [] : outstanding, instance.generation, isTerminal(instance.status) && 'repair', undefined, (taskId) => rounds.get(taskId) ?? 0);
    // The parent-close policy may not have reached the children before the crash.
    if (isTerminal(instance.status)) await this.closeChildren(instance, runningChildren(history), 'ended');
    else if (instance.cancelRequested) await this.closeChildren(instance, runningChildren(history), 'cancelled');
    if (instance.deadline !== undefined && !isTerminal(instance.status) && instance.lastEventId > 0) await this.scheduleDeadline(instance);
    if (instance.generation > 0 && instance.lastEventId === 0) await this.ring(instance);
    if (instance.dispatchPending) await store.updateInstance({ ...instance, dispatchPending: false, revision: instance.revision + 1 }, instance.revision);
    invocation.takeOver = 'steps';
    return 'repaired';
  }

  /**
   * Ends the step attempt marker of a redelivered step: it did not crash. (After progress the next attempt
   * starts from another position anyway; ending matters when it made none, or outlived its deadline.)
   */
  private async endStepMarker(instanceId: string, invocation: Invocation): Promise<void> {
    const marker = invocation.stepMarker;
    if (marker === undefined) return;
    invocation.stepMarker = undefined;
    await this.deps.store.endAttempt(instanceId, marker.key, { owner: marker.owner });
  }

  /** Ends the attempt markers of the recovered `ctx.step` calls this invocation ran: it did not die while they ran. */
  private async endInlineStepMarkers(instanceId: string, invocation: Invocation): Promise<void> {
    const markers = [...invocation.inlineStepMarkers];
    invocation.inlineStepMarkers.clear();
    await Promise.all(markers.map(([key, owner]) => this.deps.store.endAttempt(instanceId, key, { owner })));
  }

  /**
   * Messages the doorbell carried that no step applied (the instance is suspended or quarantined, the
   * step could not win its commit, or it applied a limited number): stored in the inbox, so the doorbell
   * can be acknowledged without losing them.
   */
  private async keepUnapplied(instanceId: string, invocation: Invocation, result: StepResult): Promise<void> {
    if (invocation.carried.size === 0 || result === 'missing') return;
    let delivered = false;
    for (const message of invocation.carried.values()) {
      if ((await this.deps.store.deliver(instanceId, message)) === 'delivered') delivered = true;
    }
    invocation.carried.clear();
    // A step that gave up (its commits kept conflicting, or repairs kept finding dispatch pending) leaves them to the
    // next one, which nothing else may ring for. A suspended or quarantined instance's resume rings, a rewind's too.
    if (delivered && (result === 'conflict' || result === 'repaired')) await this.ring({ instanceId });
  }

  /** Ends the instance from outside its code (terminated, or timed out): nothing of the code runs. */
  private async end(
    instance: InstanceRecord,
    status: 'Terminated' | 'Failed',
    event: Extract<NewHistoryEvent, { type: 'ExecutionTerminated' | 'ExecutionFailed' }>,
    consumed: string[],
    invocation: Invocation,
    now: number,
  ): Promise<StepResult> {
    const append = numberEvents([{ type: 'StepStarted' }, event], instance.lastEventId, now);
    const error: FailureDetails =
      event.type === 'ExecutionFailed' ? event.error : { name: 'TerminatedError', message: `Instance '${instance.instanceId}' was terminated${event.reason ? `: ${event.reason}` : '.'}` };
    const next: InstanceRecord = { ...instance, status, error, lastEventId: instance.lastEventId + append.length };
    this.cache.delete(instance.instanceId);
    const result = await this.commitRecord(instance, next, append, consumed, [], invocation);
    if (result !== 'stepped') return result;
    invocation.carried.clear();
    if (instance.parent) await this.notifyParent(next, now);
    await this.closeChildren(next, runningChildren(await this.deps.store.readHistory(instance.instanceId, instance.generation, instance.incarnation)), 'ended');
    return result;
  }

  /**
   * Applies the parent-close policy of running children: when this instance was cancelled, children
   * whose policy is 'cancel' are asked to cancel; when it ended, those are asked to cancel and those
   * whose policy is 'terminate' are terminated. Each message has a fixed id, so sending it again is harmless.
   */
  private async closeChildren(instance: InstanceRecord, children: RunningChild[], why: 'cancelled' | 'ended'): Promise<void> {
    const { store, clock } = this.deps;
    // One reason whichever step applies it (the cancel's, or the end's when a crash kept the cancel's from it,
    // even when the parent's code caught the cancellation and completed).
    const reason = `its parent '${instance.instanceId}' ${why === 'cancelled' || instance.status === 'Cancelled' || instance.cancelRequested ? 'was cancelled' : `ended ${instance.status}`}`;
    await Promise.all(
      children.map(async (child) => {
        if (child.parentClose === 'abandon' || (why === 'cancelled' && child.parentClose !== 'cancel')) return;
        const message: InboxMessage =
          child.parentClose === 'cancel'
            ? { messageId: CONTROL_MESSAGE_IDS.cancel, receivedAt: clock.now(), event: { type: 'ExecutionCancelRequested', reason } }
            : { messageId: CONTROL_MESSAGE_IDS.terminate, receivedAt: clock.now(), event: { type: 'ExecutionTerminated', reason } };
        // Rung again when the message was there already: the ring that followed its delivery may be what failed.
        if ((await store.deliver(child.instanceId, message)) !== 'not-found') await this.ring({ instanceId: child.instanceId });
      }),
    );
  }

  /**
   * `client.rewind`: the failed instance runs on from before its failure. The step replays history without
   * the failure and the failed results of its last step, records which events it undid, and sends again
   * every call left open: the failed ones (a failed sub-orchestration is rewound in turn), and those that
   * were in flight beside the failure, whose results reached a failed instance and were dropped.
   */
  private async rewind(state: StepState, invocation: Invocation): Promise<StepResult> {
    const { store, clock } = this.deps;
    const { instance } = state;
    const now = clock.now();
    this.cache.delete(instance.instanceId);
    // What a doorbell carried may be a result the rewound code waits for: the inbox keeps it for the next step.
    let kept = false;
    for (const message of invocation.carried.values()) if ((await store.deliver(instance.instanceId, message)) !== 'not-found') kept = true;
    invocation.carried.clear();
    const history = await store.readHistory(instance.instanceId, instance.generation, instance.incarnation);
    const targets = rewindTargets(history);
    if (!targets) {
      // Nothing failed at the end of history (a rewind already applied): just clear the request.
      const { rewindRequested: _done, ...rest } = instance;
      return this.commitRecord(instance, rest, [], [], [], invocation);
    }
    // A failed child is rewound with its parent; one that was terminated or cancelled keeps its failure. A child
    // already answering in the call's next round was rewound by an earlier try of this same rewind (its commit
    // lost to another worker's, or it crashed): the decision must not change with it.
    const failedCalls: typeof targets.failedCalls = [];
    const scheduled = new Map(history.filter(isScheduleEvent).map((event) => [event.taskId, event]));
    const rounds = resultRounds(history);
    for (const event of targets.failedCalls) {
      const call = scheduled.get(event.taskId);
      if (event.type === 'SubOrchestrationFailed' && call?.type === 'SubOrchestrationScheduled') {
        const child = await store.getInstance(call.instanceId);
        if (child?.status !== 'Failed' && (child?.parent?.round ?? 0) <= (rounds.get(event.taskId) ?? 0)) continue;
      }
      failedCalls.push(event);
    }
    const rewound = [targets.failure.eventId, ...failedCalls.map((event) => event.eventId)];
    const executor = new OrchestrationExecutor({ instanceId: instance.instanceId, generation: instance.generation, app: this.deps.app, logger: this.deps.logger, loadPayload: this.deps.loadPayload });
    try {
      await this.phase(invocation, 'replay', history.length, () => executor.replay(history, rewound));
    } catch (error) {
      return this.quarantineOrRethrow(instance, error);
    }
    // The recorded calls the code waits on again (new calls of the replay are dispatched by the commit).
    const reopened = executor
      .openCalls()
      .map((call) => scheduled.get(call.taskId))
      .filter((event): event is ScheduleEvent => event !== undefined && !(event.type === 'SubOrchestrationScheduled' && event.detached));
    // The children whose failure this rewind undoes are rewound first (a crash before the parent's commit repeats
    // this step, which finds them running and leaves them be), answering in the call's new round. A child that
    // ended after the parent failed reports as it ended (the dispatch below): the parent has not seen it yet.
    const undoneChildren = new Set(failedCalls.filter((event) => event.type === 'SubOrchestrationFailed').map((event) => event.taskId));
    for (const event of reopened) {
      if (event.type !== 'SubOrchestrationScheduled' || !undoneChildren.has(event.taskId)) continue;
      const child = await store.getInstance(event.instanceId);
      if (!child?.parent) continue;
      let asked = child.rewindRequested === true; // by an earlier try, whose doorbell may not have rung
      if (child.status === 'Failed') {
        const { error: _cleared, ...rest } = child;
        asked = await store.updateInstance({ ...rest, status: 'Running', rewindRequested: true, parent: { ...child.parent, round: executor.roundOf(event.taskId) }, updatedAt: now, revision: child.revision + 1 }, child.revision);
        // Changed since it was read: by another try of this rewind (it asked), or by something else, and then this
        // step runs again (left Failed, the child would report its old failure, to a round the parent no longer waits on).
        if (!asked) {
          asked = (await store.getInstance(event.instanceId))?.rewindRequested === true;
          if (!asked) throw new Error(`Child '${event.instanceId}' of '${instance.instanceId}' changed while it was being rewound; the rewind runs again.`);
        }
      }
      if (asked) await this.ring(child);
    }
    const live: Live = { instance, executor, clean: true, generation: instance.generation };
    const result = await this.advanceAndCommit(live, [{ type: 'ExecutionRewound', rewound }], [], [], invocation, now);
    if (result !== 'stepped') return result;
    this.deps.logger.info('instance rewound: its failed calls run again', { instanceId: instance.instanceId, rewound });
    // Send the open calls again, as a repair would: each dispatch is idempotent, and a child that has ended reports again.
    for (const event of reopened) if (event.type === 'ActivityScheduled' && event.step && live.instance.status === 'Running') invocation.owned.add(event.taskId);
    await this.dispatch(live.instance, reopened, instance.generation, false, undefined, (taskId) => executor.roundOf(taskId));
    if (kept) await this.ring(instance);
    return (await this.runInline(live, invocation)) ?? 'stepped';
  }

  /**
   * What replay reports about the code or the history (non-determinism, a missing version, a corrupt
   * history) quarantines the instance; anything else, such as a failed read of history or of an offloaded
   * payload, is infrastructure: it is thrown, and the doorbell is delivered again.
   */
  private quarantineOrRethrow(instance: InstanceRecord, error: unknown, invocation?: Invocation): Promise<StepResult> {
    // An eager start has no record to quarantine yet: it gives up, and the step its doorbell starts decides.
    if (!(error instanceof PerdureError) || invocation?.creating) throw error;
    return this.quarantine(instance, error);
  }

  /** Holds the instance for an operator: nothing is committed, and `resume` retries the step after a fix. */
  private async quarantine(instance: InstanceRecord, error: unknown): Promise<StepResult> {
    const { store, clock, logger } = this.deps;
    this.cache.delete(instance.instanceId);
    const failure = toFailureDetails(error);
    logger.error('instance quarantined: its step cannot run until the code is fixed', {
      instanceId: instance.instanceId,
      orchestration: instance.name,
      version: instance.version,
      error: failure.name,
      reason: failure.message,
    });
    const updated = await store.updateInstance({ ...instance, status: 'Quarantined', error: failure, updatedAt: clock.now(), revision: instance.revision + 1 }, instance.revision);
    if (updated) this.interceptors.notice({ type: 'quarantined', instanceId: instance.instanceId, orchestration: instance.name, error: failure.name });
    return updated ? 'quarantined' : 'conflict';
  }

  private warnOnLongHistory(instance: InstanceRecord, length: number): void {
    const threshold = this.deps.app.historyWarningEvents;
    if (instance.lastEventId < threshold && length >= threshold) {
      this.deps.logger.warn('history is getting long: call ctx.continueAsNew when ctx.isContinueAsNewSuggested is true', {
        instanceId: instance.instanceId,
        orchestration: instance.name,
        events: length,
        limit: this.deps.app.maxHistoryEvents,
      });
    }
  }
}

type NewActivityScheduled = Extract<NewScheduleEvent, { type: 'ActivityScheduled' }>;
/** An open call of an activity or a `ctx.step` that runs inline. */
type InlineCall = OpenCall & { event: NewActivityScheduled };

/** Whether a step changes what the record holds (not just how long the history is). */
function recordChanged(before: InstanceRecord, after: InstanceRecord): boolean {
  return (
    before.status !== after.status ||
    before.generation !== after.generation ||
    before.version !== after.version ||
    before.output !== after.output ||
    before.error !== after.error ||
    before.input !== after.input ||
    before.deadline !== after.deadline ||
    before.customStatus !== after.customStatus ||
    before.cancelRequested !== after.cancelRequested ||
    before.rewindRequested !== after.rewindRequested
  );
}

/**
 * Runs `fn` over the items, at most `limit` at once; results in the order they finished. That order is what
 * history records, so a `Promise.race` (or a batch's `minSuccessful`) over calls run together settles on the
 * ones that finished first, live and on replay alike.
 */
async function runConcurrently<I, O>(items: I[], limit: number, fn: (item: I) => Promise<O>): Promise<O[]> {
  const finished: O[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) finished.push(await fn(items[next++]!));
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return finished;
}

/**
 * Sorts the inbox into what this step applies and what it drops: results of an earlier generation are
 * dropped; a terminate wins over everything; suspend, resume and cancel apply first (a cancel resumes), and
 * while the instance ends the step suspended every other message waits in the inbox for the resume.
 */
function sortInbox(inbox: InboxMessage[], generation: number, suspendedAtStart: boolean) {
  const control: InboxMessage[] = [];
  const others: InboxMessage[] = [];
  let deferred = false;
  let results = 0;
  let otherMessages = 0;
  const stale: string[] = [];
  let terminate: Extract<InboxEvent, { type: 'ExecutionTerminated' }> | undefined;
  let suspended = suspendedAtStart;
  for (const message of inbox) {
    const event = message.event;
    if (message.generation !== undefined && message.generation !== generation) {
      stale.push(message.messageId);
    } else if (event.type === 'ExecutionTerminated') {
      terminate ??= event;
    } else if (event.type === 'ExecutionSuspended' || event.type === 'ExecutionResumed' || event.type === 'ExecutionCancelRequested') {
      suspended = event.type === 'ExecutionSuspended';
      control.push(message);
    } else if (isTaskResultId(message.messageId) ? results++ < MAX_RESULTS_PER_STEP : otherMessages++ < MAX_OTHER_MESSAGES_PER_STEP) {
      others.push(message);
    } else {
      deferred = true;
    }
  }
  if (terminate) return { apply: [], consumed: inbox.map((m) => m.messageId), stale, terminate, deferred: false };
  const applied = suspended ? control : [...control, ...others];
  return { apply: applied.map((m) => m.event), consumed: [...stale, ...applied.map((m) => m.messageId)], stale, terminate, deferred: deferred && !suspended };
}

/** The cached executor is behind `position` (or of another run): its history ends before the position does. */
function behindPosition(cached: CachedExecution, position: HistoryPosition): boolean {
  if (position.incarnation !== undefined && cached.incarnation !== position.incarnation) return true;
  return cached.generation !== position.generation ? cached.generation < position.generation : cached.lastEventId < position.eventId;
}
