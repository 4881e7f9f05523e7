import type { App } from '../core/app.js';
import { HistoryLimitError, InstanceExistsError, PerdureError, toFailureDetails, type FailureDetails } from '../core/errors.js';
import { isCompletionEvent, isScheduleEvent, numberEvents, type HistoryEvent, type NewHistoryEvent, type ScheduleEvent } from '../core/history-events.js';
import type { Logger } from '../core/logger.js';
import type { PayloadLoader } from '../core/payload.js';
import { OrchestrationExecutor } from '../core/replay.js';
import {
  isTerminal,
  type ActivityTask,
  type Clock,
  type InboxEvent,
  type InboxMessage,
  type InstanceRecord,
  type InstanceStore,
  type StepState,
  type TimerTask,
  type WorkQueues,
} from '../ports.js';
import type { CrashHook } from './crash-points.js';
import { ExecutorCache, type CachedExecution } from './executor-cache.js';
import { childResultMessage, isTaskResultId, messageIds } from './messages.js';

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
}

/** What a step did. */
export type StepResult = 'missing' | 'idle' | 'stepped' | 'quarantined' | 'conflict' | 'repaired';

const MAX_CONFLICT_RETRIES = 8;
/**
 * A step applies at most this many messages; the rest wait for the next step (the worker rings again).
 * Results of tasks can be many (a fan-out); other messages are deleted inside the commit's transaction,
 * which has room for fewer.
 */
const MAX_RESULTS_PER_STEP = 1_000;
const MAX_OTHER_MESSAGES_PER_STEP = 50;

/**
 * Runs orchestration steps: load the instance and its inbox, replay the code (only the new events when a
 * live executor is cached), commit history + inbox deletions + the instance record in one write guarded
 * by the record's revision, then dispatch the step's decisions. A crash between commit and dispatch means
 * the doorbell was not acknowledged: it comes back as a redelivery, and that step first re-dispatches the
 * outstanding work of the instance (every dispatch is idempotent). `dispatchPending` on the record asks the
 * same of the next step (the local stack sets it on start, when its queues were lost).
 */
export class OrchestrationWorker {
  private readonly cache: ExecutorCache;

  constructor(private readonly deps: WorkerDependencies) {
    this.cache = new ExecutorCache(deps.executorCacheSize ?? 500);
  }

  /**
   * Handles one doorbell of the instance. Throws only on infrastructure errors (the doorbell is then retried).
   * @param options.redelivered the doorbell was delivered before and not acknowledged: repair dispatch first
   */
  async step(instanceId: string, options: { redelivered?: boolean } = {}): Promise<StepResult> {
    let repair = options.redelivered ?? false;
    for (let attempt = 1; ; attempt++) {
      const result = await this.tryStep(instanceId, repair);
      repair = false;
      if ((result !== 'conflict' && result !== 'repaired') || attempt >= MAX_CONFLICT_RETRIES) {
        this.deps.crash?.('step:before-ack', instanceId);
        return result;
      }
    }
  }

  /** Forgets the live executor of an instance (tests use it to force a full replay). */
  evict(instanceId?: string): void {
    if (instanceId === undefined) this.cache.clear();
    else this.cache.delete(instanceId);
  }

  private async tryStep(instanceId: string, repair: boolean): Promise<StepResult> {
    const { store, clock } = this.deps;
    const cached = this.cache.take(instanceId);
    const state = await store.loadStep(instanceId, cached && { generation: cached.generation, eventId: cached.lastEventId });
    if (!state) return 'missing';
    const { instance, inbox } = state;
    if (repair || instance.dispatchPending) {
      await this.repairDispatch(instance);
      return 'repaired';
    }
    if (inbox.length === 0) {
      if (cached) this.cache.put(instanceId, cached);
      return 'idle';
    }
    const now = clock.now();

    if (isTerminal(instance.status)) {
      // Events for a finished instance have nowhere to go: drop them.
      return this.commit(instance, { ...instance }, [], inbox.map((m) => m.messageId), []);
    }

    const sorted = sortInbox(inbox, instance.generation, instance.status === 'Suspended');
    if (sorted.terminate) return this.terminate(instance, sorted.terminate, sorted.consumed, now);
    if (instance.status === 'Quarantined') return 'quarantined';

    let executor: OrchestrationExecutor;
    try {
      executor = await this.prepareExecutor(state, cached);
    } catch (error) {
      return this.quarantineOrRethrow(instance, error);
    }

    const applied = sorted.apply.filter((event) => !('taskId' in event) || executor.expectsCompletion(event.taskId));
    let status = instance.status;
    for (const event of applied) {
      if (event.type === 'ExecutionStarted') status = 'Running';
      else if (event.type === 'ExecutionSuspended') status = 'Suspended';
      else if (event.type === 'ExecutionResumed') status = 'Running';
    }
    if (applied.length === 0) {
      if (sorted.consumed.length === 0) {
        this.cache.put(instanceId, { executor, generation: instance.generation, lastEventId: instance.lastEventId });
        return 'idle';
      }
      return this.commit(instance, { ...instance }, [], sorted.consumed, [], executor);
    }

    const stepEvents = numberEvents([{ type: 'StepStarted' }, ...applied], instance.lastEventId, now);
    try {
      await executor.advance(stepEvents);
    } catch (error) {
      return this.quarantineOrRethrow(instance, error);
    }
    if (executor.violation) return this.quarantine(instance, executor.violation);

    const decisions = executor.takeDecisions();
    const next: InstanceRecord = { ...instance, status, updatedAt: now };
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

    this.deps.crash?.('step:before-commit', instanceId);
    const numberedTail = numberEvents(tail, lastStepEventId, now);
    const append = [...stepEvents, ...numberedTail];
    if (next.generation === instance.generation) next.lastEventId = instance.lastEventId + append.length;
    const result = await this.commit(instance, next, append, sorted.consumed, ending.enqueue, executor);
    if (result === 'stepped' && sorted.deferred && !isTerminal(next.status)) await this.deps.queues.ringDoorbell(instanceId);
    return result;
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
        Object.assign(next, { status: 'Running', generation, version: outcome.version, input: outcome.input, lastEventId: 0 });
        return { events: [{ type: 'ContinuedAsNew', input: outcome.input, version: outcome.version }], enqueue: [start, ...carried], final: true };
      }
    }
  }

  private async prepareExecutor(state: StepState, cached: CachedExecution | undefined): Promise<OrchestrationExecutor> {
    const { instance, history } = state;
    if (cached && cached.generation === instance.generation && state.afterEventId === cached.lastEventId && cached.lastEventId > 0) {
      // Another worker may have committed steps since: replay just that tail.
      if (history.length > 0) await cached.executor.replay(history);
      return cached.executor;
    }
    const fullHistory = state.afterEventId === 0 ? history : await this.deps.store.readHistory(instance.instanceId, instance.generation);
    const executor = new OrchestrationExecutor({
      instanceId: instance.instanceId,
      generation: instance.generation,
      app: this.deps.app,
      logger: this.deps.logger,
      loadPayload: this.deps.loadPayload,
    });
    await executor.replay(fullHistory);
    return executor;
  }

  private async commit(
    instance: InstanceRecord,
    next: InstanceRecord,
    append: HistoryEvent[],
    consumed: string[],
    enqueue: InboxMessage[],
    executor?: OrchestrationExecutor,
  ): Promise<StepResult> {
    const toDispatch = append.filter(isScheduleEvent);
    const notifiesParent = !!instance.parent && !isTerminal(instance.status) && isTerminal(next.status);
    const continued = next.generation !== instance.generation;
    next.revision = instance.revision + 1;
    const result = await this.deps.store.commitStep(instance.instanceId, { expectedRevision: instance.revision, generation: instance.generation, append, consumed, enqueue, instance: next });
    if (result === 'conflict') return 'conflict';
    this.deps.crash?.('step:after-commit', instance.instanceId);
    if (executor && !isTerminal(next.status) && !continued) {
      this.cache.put(instance.instanceId, { executor, generation: next.generation, lastEventId: next.lastEventId });
    }
    if (toDispatch.length > 0 || notifiesParent || continued) await this.dispatch(next, toDispatch, instance.generation, notifiesParent);
    return 'stepped';
  }

  private async dispatch(instance: InstanceRecord, scheduled: ScheduleEvent[], generation: number, notifyParent: boolean): Promise<void> {
    const { queues, clock } = this.deps;
    const activities: ActivityTask[] = [];
    const timers: TimerTask[] = [];
    const children: Promise<void>[] = [];
    for (const event of scheduled) {
      const task = { instanceId: instance.instanceId, generation, taskId: event.taskId };
      if (event.type === 'ActivityScheduled') {
        activities.push({ ...task, name: event.name, input: event.input, attempt: event.attempt, idempotencyKey: event.idempotencyKey });
      } else if (event.type === 'TimerCreated') {
        timers.push({ ...task, fireAt: event.fireAt });
      } else {
        children.push(this.startChild(instance, generation, event));
      }
    }
    await Promise.all([
      activities.length ? queues.enqueueActivities(activities) : undefined,
      timers.length ? queues.scheduleTimers(timers) : undefined,
      ...children,
      notifyParent ? this.notifyParent(instance, clock.now()) : undefined,
      instance.generation !== generation ? queues.ringDoorbell(instance.instanceId) : undefined,
    ]);
  }

  private async startChild(parent: InstanceRecord, generation: number, event: Extract<ScheduleEvent, { type: 'SubOrchestrationScheduled' }>): Promise<void> {
    const { app, store, queues, clock } = this.deps;
    const parentRef = { instanceId: parent.instanceId, generation, taskId: event.taskId };
    const now = clock.now();
    const failParent = async (error: unknown) => {
      await store.deliver(parent.instanceId, childResultMessage(parentRef, now, { error: toFailureDetails(error) }));
      await queues.ringDoorbell(parent.instanceId);
    };
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
    };
    const start: InboxMessage = {
      messageId: messageIds.start(0),
      generation: 0,
      receivedAt: now,
      event: { type: 'ExecutionStarted', name: event.name, version, input: event.input, parent: parentRef },
    };
    try {
      await store.createInstance(child, start);
    } catch (error) {
      if (!(error instanceof InstanceExistsError)) throw error;
      const existing = await store.getInstance(event.instanceId);
      const sameChild = existing?.parent && existing.parent.instanceId === parentRef.instanceId && existing.parent.generation === generation && existing.parent.taskId === event.taskId;
      if (!sameChild) return failParent(error);
    }
    await queues.ringDoorbell(event.instanceId);
  }

  private async notifyParent(instance: InstanceRecord, now: number): Promise<void> {
    const parent = instance.parent;
    if (!parent) return;
    const result: { output: unknown } | { error: FailureDetails } =
      instance.status === 'Completed'
        ? { output: instance.output }
        : { error: instance.error ?? { name: 'TerminatedError', message: `Sub-orchestration '${instance.instanceId}' was terminated.` } };
    await this.deps.store.deliver(parent.instanceId, childResultMessage(parent, now, result));
    await this.deps.queues.ringDoorbell(parent.instanceId);
  }

  /** After a crash between commit and dispatch: dispatch again whatever is still outstanding. */
  private async repairDispatch(instance: InstanceRecord): Promise<void> {
    const { store, logger } = this.deps;
    logger.warn('re-dispatching the outstanding work of the instance (its last doorbell was not acknowledged)', { instanceId: instance.instanceId });
    const history = await store.readHistory(instance.instanceId, instance.generation);
    const settled = new Set(history.flatMap((event) => (isCompletionEvent(event) ? [event.taskId] : [])));
    const outstanding = history.filter((event): event is ScheduleEvent => isScheduleEvent(event) && !settled.has(event.taskId));
    await this.dispatch(instance, isTerminal(instance.status) ? [] : outstanding, instance.generation, isTerminal(instance.status));
    if (instance.generation > 0 && instance.lastEventId === 0) await this.deps.queues.ringDoorbell(instance.instanceId);
    if (instance.dispatchPending) await store.updateInstance({ ...instance, dispatchPending: false, revision: instance.revision + 1 }, instance.revision);
  }

  private async terminate(instance: InstanceRecord, event: Extract<InboxEvent, { type: 'ExecutionTerminated' }>, consumed: string[], now: number): Promise<StepResult> {
    const append = numberEvents([{ type: 'StepStarted' }, event], instance.lastEventId, now);
    const error: FailureDetails = { name: 'TerminatedError', message: `Instance '${instance.instanceId}' was terminated${event.reason ? `: ${event.reason}` : '.'}` };
    const next: InstanceRecord = { ...instance, status: 'Terminated', error, updatedAt: now, lastEventId: instance.lastEventId + append.length };
    this.cache.delete(instance.instanceId);
    return this.commit(instance, next, append, consumed, []);
  }

  /**
   * What replay reports about the code or the history (non-determinism, a missing version, a corrupt
   * history) quarantines the instance; anything else, such as a failed read of history or of an offloaded
   * payload, is infrastructure: it is thrown, and the doorbell is delivered again.
   */
  private quarantineOrRethrow(instance: InstanceRecord, error: unknown): Promise<StepResult> {
    if (!(error instanceof PerdureError)) throw error;
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

/**
 * Sorts the inbox into what this step applies and what it drops: results of an earlier generation are
 * dropped; a terminate wins over everything; suspend and resume apply first, and while the instance
 * ends the step suspended every other message waits in the inbox for the resume.
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
    } else if (event.type === 'ExecutionSuspended' || event.type === 'ExecutionResumed') {
      suspended = event.type === 'ExecutionSuspended';
      control.push(message);
    } else if (isTaskResultId(message.messageId) ? results++ < MAX_RESULTS_PER_STEP : otherMessages++ < MAX_OTHER_MESSAGES_PER_STEP) {
      others.push(message);
    } else {
      deferred = true;
    }
  }
  if (terminate) return { apply: [], consumed: inbox.map((m) => m.messageId), terminate, deferred: false };
  const applied = suspended ? control : [...control, ...others];
  return { apply: applied.map((m) => m.event), consumed: [...stale, ...applied.map((m) => m.messageId)], terminate, deferred: deferred && !suspended };
}
