import { randomUUID } from 'node:crypto';
import type { App, RegisteredActivity } from '../core/app.js';
import { addLedgers, type CostLedger } from '../core/cost-ledger.js';
import { attemptKeys } from '../core/crash-evidence.js';
import { PoisonMessageError, toFailureDetails } from '../core/errors.js';
import type { MessageHeaders, InterceptorChain } from '../core/interceptors.js';
import type { Logger } from '../core/logger.js';
import type { ActivityTask, Clock, HistoryPosition, InboxEvent, InboxMessage, InstanceStore, TimerTask, WorkQueues } from '../ports.js';
import { runAttempt } from './attempt.js';
import type { CallbackUrlSigner } from './callback-urls.js';
import { CostScope, currentCostScope } from './cost-scope.js';
import { SimulatedCrash, type CrashHook } from './crash-points.js';
import { runtimeInterceptors } from './interceptors.js';
import { previousHeartbeatDetails } from './heartbeats.js';
import { messageIds } from './messages.js';

export interface TaskWorkerDependencies {
  app: App;
  store: InstanceStore;
  queues: WorkQueues;
  clock: Clock;
  logger: Logger;
  loadPayload?: (stored: unknown) => unknown;
  /** Fault-injection tests only: called at each crash point, may throw to simulate a crashed function. */
  crash?: CrashHook;
  /** Signs the URLs of `actx.callbackUrls`; without it, that call says no key is configured. */
  callbackUrls?: CallbackUrlSigner;
  /** An activity attempt whose invocation died this many times (counted from attempt markers) fails with a PoisonMessageError. @defaultValue 3 */
  poisonAfterCrashes?: number;
  /** Told of each task failed as poison, e.g. to keep it with the dead letters for operators. */
  onPoison?: (task: ActivityTask, reason: string) => Promise<void>;
  /**
   * Commits a result as the instance's next step in this invocation (the orchestration worker's `step`
   * with the result carried). Used for a `solo` task or timer, the instance's only call in flight: its result
   * (or firing) then needs no doorbell hop. A step that cannot apply it stores it in the inbox and rings itself.
   */
  stepInstance?: (instanceId: string, message: InboxMessage, options: { deadline?: number; headers?: MessageHeaders; snapshot?: unknown; sentAt?: HistoryPosition }) => Promise<unknown>;
  /** @defaultValue tracing (unless the app turned it off) and the app's interceptors */
  interceptors?: InterceptorChain;
}

/** An attempt gets at least this long, however little of its invocation is left. */
const MIN_ATTEMPT_MS = 1_000;

/** Time kept at the end of an invocation to record the attempt's outcome: a tenth of what is left, at most 2 s. */
function marginBefore(deadline: number): number {
  return Math.min(2_000, Math.max(0, deadline - Date.now()) / 10);
}

/** How the queue delivered a task. */
export interface Delivery {
  /** The task was delivered before and not acknowledged: its last run may have crashed. */
  redelivered?: boolean;
  /** When this invocation ends at the latest (ms since the epoch, real time). */
  deadline?: number;
  /** How long the message waited in its queue, when the queue says. */
  queueAgeMs?: number;
  /** The queue's handle of the delivered message (SQS: its receipt handle), which heartbeats extend the lease of. */
  receipt?: string;
  /** What delivering the message cost (its send, its share of the queue's receive and delete and of the invocation). */
  cost?: CostLedger;
}

/**
 * Runs activity tasks and fires timers. A result (or a firing) is the instance's next step, committed here
 * when the call was the instance's only one in flight, or travels in its doorbell, under an id derived from
 * the call, so a duplicate run is applied once. A redelivered task first records crash
 * evidence: one whose runs keep killing their invocation fails with a `PoisonMessageError` instead of
 * running again, while one that was only received and not run (throttling) counts nothing.
 */
export class TaskWorker {
  private readonly poisonAfterCrashes: number;
  private readonly interceptors: InterceptorChain;

  constructor(private readonly deps: TaskWorkerDependencies) {
    this.poisonAfterCrashes = deps.poisonAfterCrashes ?? 3;
    this.interceptors = deps.interceptors ?? runtimeInterceptors(deps.app);
  }

  /** Runs one attempt of the task and sends its result, with what the attempt cost, to the instance. */
  runActivity(task: ActivityTask, delivery: Delivery = {}): Promise<void> {
    return new CostScope(delivery.cost).run(() => this.runActivityAttempt(task, delivery));
  }

  private async runActivityAttempt(task: ActivityTask, delivery: Delivery): Promise<void> {
    let activity: RegisteredActivity;
    try {
      activity = this.deps.app.getActivity(task.name);
    } catch (notFound) {
      // Retrying cannot register the activity: fail the call at once.
      return this.finish(task, { type: 'ActivityFailed', taskId: task.taskId, error: { ...toFailureDetails(notFound), nonRetryable: true } }, delivery.deadline, !delivery.redelivered);
    }
    if (!delivery.redelivered) return this.run(task, activity, delivery, true);
    const now = Date.now();
    const key = attemptKeys.activity(task.generation, task.taskId, task.attempt);
    const owner = randomUUID();
    const crashes = await this.deps.store.beginAttempt(task.instanceId, key, { position: 0, now, deadline: delivery.deadline ?? now + activity.timeoutMs, owner });
    if (crashes >= this.poisonAfterCrashes) {
      const failure = poison(task, crashes);
      await this.finish(task, failure, undefined, false);
      await this.deps.onPoison?.(task, failure.type === 'ActivityFailed' ? failure.error.message : 'poison');
      return;
    }
    try {
      await this.run(task, activity, delivery, false);
    } catch (error) {
      // An error this invocation caught (an S3 or SQS failure) is not a crash of the activity.
      if (!(error instanceof SimulatedCrash)) await this.deps.store.endAttempt(task.instanceId, key, { owner }).catch(() => undefined);
      throw error;
    }
    // It ran to the end: should the task come back (its acknowledgement lost, its invocation past its timeout), that is
    // no crash; and should a later delivery have counted it as dead meanwhile, that count is taken back.
    await this.deps.store.endAttempt(task.instanceId, key, { owner });
  }

  /** Runs the attempt and records its outcome; `mayStep` is false on a redelivery (no stepping the instance here). */
  private async run(task: ActivityTask, activity: RegisteredActivity, delivery: Delivery, mayStep: boolean): Promise<void> {
    const { deadline, receipt } = delivery;
    const { store, queues, clock } = this.deps;
    // Loading an offloaded input, or the details of an earlier run, is infrastructure: when it fails the task is delivered again; it is not the activity failing.
    const input = this.deps.loadPayload ? await this.deps.loadPayload(task.input) : task.input;
    const heartbeatDetails = await previousHeartbeatDetails(store, task, delivery.redelivered === true);
    // An attempt ends (with a TimeoutError, retried by its policy) before its invocation would be killed.
    const timeoutMs = deadline !== undefined ? Math.min(activity.timeoutMs, Math.max(MIN_ATTEMPT_MS, deadline - Date.now() - marginBefore(deadline))) : activity.timeoutMs;
    const { outcome, headers } = await runAttempt((given, actx) => activity.fn(given as never, actx), {
      instanceId: task.instanceId,
      taskId: task.taskId,
      name: task.name,
      kind: 'activity',
      attempt: task.attempt,
      idempotencyKey: task.idempotencyKey,
      timeoutMs,
      logger: this.deps.logger,
      heartbeatTimeoutMs: activity.heartbeatTimeoutMs,
      heartbeatDetails,
      ...(task.scheduleToCloseAt !== undefined ? { budget: { leftMs: task.scheduleToCloseAt - clock.now(), totalMs: activity.scheduleToCloseTimeoutMs } } : {}),
      heartbeats: {
        store,
        clock,
        // The lease covers the invocation (or, outside Lambda, the attempt) and the recording of its outcome.
        ...(receipt !== undefined ? { lease: { extend: (ms: number) => queues.extendActivityLease(receipt, ms, task), until: deadline ?? Date.now() + timeoutMs } } : {}),
      },
      input,
      ...(task.headers ? { headers: task.headers } : {}),
      ...(delivery.queueAgeMs !== undefined ? { queueAgeMs: delivery.queueAgeMs } : {}),
      interceptors: this.interceptors,
      ...(this.deps.callbackUrls ? { callbackUrls: (token, options) => this.deps.callbackUrls!.urls(token, options) } : {}),
    });
    await this.finish(task, outcome, deadline, mayStep, headers);
  }

  /**
   * Fires a due timer, with what the timer's hops and this delivery cost. A solo timer on its first delivery
   * commits `TimerFired` as the instance's next step right here; otherwise (or when that fails) it rides the
   * instance's doorbell, as a task's result does (see `finish`).
   */
  fireTimer(timer: TimerTask, delivery: Pick<Delivery, 'cost' | 'redelivered' | 'deadline'> = {}): Promise<void> {
    return new CostScope(addLedgers(timer.cost, delivery.cost)).run(() => this.fire(timer, delivery));
  }

  private async fire(timer: TimerTask, delivery: Pick<Delivery, 'redelivered' | 'deadline'>): Promise<void> {
    const firing = { instanceId: timer.instanceId, taskId: timer.taskId, fireAt: timer.fireAt, lateMs: Math.max(0, this.deps.clock.now() - timer.fireAt), headers: timer.headers ?? {} };
    // The firing is the interceptors' (a span, a count); the step it leads to is a step of its own, as from a doorbell.
    let message: InboxMessage | undefined;
    let headers: MessageHeaders | undefined;
    await this.interceptors.timer(firing, async () => {
      message = { messageId: messageIds.timer(timer.generation, timer.taskId), generation: timer.generation, receivedAt: this.deps.clock.now(), event: { type: 'TimerFired', taskId: timer.taskId }, ...costSoFar() };
      headers = this.interceptors.headers(timer.headers);
    });
    // An interceptor that did not call on means no firing.
    if (message) await this.record(timer, message, delivery.deadline, !delivery.redelivered, headers);
    this.deps.crash?.('timer:before-ack', timer.instanceId);
  }

  /**
   * Records the outcome. A solo task on its first delivery commits it as the instance's next step right
   * here; otherwise (or when that fails) it rides the instance's doorbell. A redelivered task never steps
   * the instance: a step that crashed its invocation would be taken for a crash of the activity.
   */
  private async finish(task: ActivityTask, event: InboxEvent, deadline: number | undefined, mayStep = true, headers = this.interceptors.headers(task.headers)): Promise<void> {
    this.deps.crash?.('activity:before-record', task.instanceId);
    const round = task.round ?? 0;
    const result = round > 0 && (event.type === 'ActivityCompleted' || event.type === 'ActivityFailed') ? { ...event, round } : event;
    const message: InboxMessage = { messageId: messageIds.activity(task.generation, task.taskId, round), generation: task.generation, receivedAt: this.deps.clock.now(), event: result, ...costSoFar() };
    await this.record(task, message, deadline, mayStep, headers);
    this.deps.crash?.('activity:before-ack', task.instanceId);
  }

  /**
   * Commits the message as the instance's next step in this invocation when the call was solo and may step
   * (its first delivery), else sends it in the instance's doorbell. After a step here that failed, or a
   * redelivery (a step here may have died), the doorbell asks for a repair: that step may have committed
   * without dispatching what it decided. Any other doorbell's step may start from the record the call carried.
   */
  private async record(call: Pick<ActivityTask, 'instanceId' | 'solo' | 'snapshot' | 'sentAt'>, message: InboxMessage, deadline: number | undefined, mayStep: boolean, headers: MessageHeaders | undefined): Promise<void> {
    const from = { ...(call.snapshot !== undefined ? { snapshot: call.snapshot } : {}), ...(call.sentAt ? { sentAt: call.sentAt } : {}) };
    const stepped = call.solo && mayStep && this.deps.stepInstance ? await this.stepHere(call.instanceId, message, deadline, headers, from) : false;
    if (stepped) return;
    const repair = call.solo === true && this.deps.stepInstance !== undefined;
    await this.deps.queues.ringDoorbell(call.instanceId, { messages: [message], ...(repair ? { repair } : from), ...(headers ? { headers } : {}) });
  }

  private async stepHere(instanceId: string, message: InboxMessage, deadline: number | undefined, headers: MessageHeaders | undefined, from: { snapshot?: unknown; sentAt?: HistoryPosition }): Promise<boolean> {
    try {
      await this.deps.stepInstance!(instanceId, message, { deadline, ...(headers ? { headers } : {}), ...from });
      return true;
    } catch (error) {
      if (error instanceof SimulatedCrash) throw error;
      this.deps.logger.warn('could not commit in this invocation; sending it through the doorbell', { instanceId, event: message.event.type, error: (error as Error).message });
      return false;
    }
  }
}

/** What the attempt or timer has cost so far, for its result message (it rides to the step that applies it). */
function costSoFar(): { cost?: CostLedger } {
  const scope = currentCostScope();
  return scope ? { cost: scope.take() } : {};
}

/** The failure of a task whose runs kept killing their invocation. */
export function poison(task: ActivityTask, crashes: number, reason = `crashed its invocation ${crashes} times (the process died, ran out of memory or timed out while it ran)`): InboxEvent {
  const error = new PoisonMessageError(`Activity '${task.name}' (attempt ${task.attempt}) ${reason}, so it was failed instead of run again.`);
  return { type: 'ActivityFailed', taskId: task.taskId, error: { ...toFailureDetails(error), nonRetryable: true }, ...(task.round ? { round: task.round } : {}) };
}
