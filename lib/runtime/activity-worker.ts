import type { App, RegisteredActivity } from '../core/app.js';
import { attemptKeys } from '../core/crash-evidence.js';
import { PoisonMessageError, toFailureDetails } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ActivityTask, Clock, InboxEvent, InstanceStore, TimerTask, WorkQueues } from '../ports.js';
import { runAttempt } from './attempt.js';
import { SimulatedCrash, type CrashHook } from './crash-points.js';
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
  /** An activity attempt whose invocation died this many times (counted from attempt markers) fails with a PoisonMessageError. @defaultValue 3 */
  poisonAfterCrashes?: number;
  /** Told of each task failed as poison, e.g. to keep it with the dead letters for operators. */
  onPoison?: (task: ActivityTask, reason: string) => Promise<void>;
}

/** How the queue delivered a task. */
export interface Delivery {
  /** The task was delivered before and not acknowledged: its last run may have crashed. */
  redelivered?: boolean;
  /** When this invocation ends at the latest (ms since the epoch, real time). */
  deadline?: number;
}

/**
 * Runs activity tasks and fires timers. A result travels to the instance in its doorbell, under an id
 * derived from the task, so a duplicate run is applied once. A redelivered task first records crash
 * evidence: one whose runs keep killing their invocation fails with a `PoisonMessageError` instead of
 * running again, while one that was only received and not run (throttling) counts nothing.
 */
export class TaskWorker {
  private readonly poisonAfterCrashes: number;

  constructor(private readonly deps: TaskWorkerDependencies) {
    this.poisonAfterCrashes = deps.poisonAfterCrashes ?? 3;
  }

  async runActivity(task: ActivityTask, delivery: Delivery = {}): Promise<void> {
    let activity: RegisteredActivity;
    try {
      activity = this.deps.app.getActivity(task.name);
    } catch (notFound) {
      // Retrying cannot register the activity: fail the call at once.
      return this.finish(task, { type: 'ActivityFailed', taskId: task.taskId, error: { ...toFailureDetails(notFound), nonRetryable: true } });
    }
    if (!delivery.redelivered) return this.run(task, activity);
    const now = Date.now();
    const key = attemptKeys.activity(task.generation, task.taskId, task.attempt);
    const crashes = await this.deps.store.beginAttempt(task.instanceId, key, { position: 0, now, deadline: delivery.deadline ?? now + activity.timeoutMs });
    if (crashes >= this.poisonAfterCrashes) {
      const failure = poison(task, crashes);
      await this.finish(task, failure);
      await this.deps.onPoison?.(task, failure.type === 'ActivityFailed' ? failure.error.message : 'poison');
      return;
    }
    try {
      await this.run(task, activity);
    } catch (error) {
      // An error this invocation caught (an S3 or SQS failure) is not a crash of the activity.
      if (!(error instanceof SimulatedCrash)) await this.deps.store.endAttempt(task.instanceId, key).catch(() => undefined);
      throw error;
    }
    // It ran to the end: should the task come back (its acknowledgement lost, its invocation past its timeout), that is no crash.
    await this.deps.store.endAttempt(task.instanceId, key);
  }

  private async run(task: ActivityTask, activity: RegisteredActivity): Promise<void> {
    // Loading an offloaded input is infrastructure: when it fails the task is delivered again; it is not the activity failing.
    const input = this.deps.loadPayload ? await this.deps.loadPayload(task.input) : task.input;
    const outcome = await runAttempt((actx) => activity.fn(input as never, actx), {
      instanceId: task.instanceId,
      taskId: task.taskId,
      name: task.name,
      kind: 'activity',
      attempt: task.attempt,
      idempotencyKey: task.idempotencyKey,
      timeoutMs: activity.timeoutMs,
      logger: this.deps.logger,
    });
    await this.finish(task, outcome);
  }

  async fireTimer(timer: TimerTask): Promise<void> {
    await this.deliver(timer, messageIds.timer(timer.generation, timer.taskId), { type: 'TimerFired', taskId: timer.taskId });
  }

  private async finish(task: ActivityTask, event: InboxEvent): Promise<void> {
    this.deps.crash?.('activity:before-record', task.instanceId);
    await this.deliver(task, messageIds.activity(task.generation, task.taskId), event);
    this.deps.crash?.('activity:before-ack', task.instanceId);
  }

  /** The result rides the instance's doorbell; the step stores it in the inbox if it cannot apply it yet. */
  private async deliver(task: { instanceId: string; generation: number }, messageId: string, event: InboxEvent): Promise<void> {
    await this.deps.queues.ringDoorbell(task.instanceId, { messages: [{ messageId, generation: task.generation, receivedAt: this.deps.clock.now(), event }] });
  }
}

/** The failure of a task whose runs kept killing their invocation. */
export function poison(task: ActivityTask, crashes: number, reason = `crashed its invocation ${crashes} times (the process died, ran out of memory or timed out while it ran)`): InboxEvent {
  const error = new PoisonMessageError(`Activity '${task.name}' (attempt ${task.attempt}) ${reason}, so it was failed instead of run again.`);
  return { type: 'ActivityFailed', taskId: task.taskId, error: { ...toFailureDetails(error), nonRetryable: true } };
}
