import type { App, RegisteredActivity } from '../core/app.js';
import { formatDuration } from '../core/durations.js';
import { TimeoutError, toFailureDetails } from '../core/errors.js';
import { childLogger, type Logger } from '../core/logger.js';
import { toJsonPayload } from '../core/payload.js';
import type { ActivityContext } from '../core/types.js';
import type { ActivityTask, Clock, InboxEvent, InstanceStore, TimerTask, WorkQueues } from '../ports.js';
import type { CrashHook } from './crash-points.js';
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
}

/**
 * Runs activity tasks and fires timers. A result is written to the instance's inbox under an id derived
 * from the task, so a duplicate run records its result once; then the instance's doorbell rings.
 */
export class TaskWorker {
  constructor(private readonly deps: TaskWorkerDependencies) {}

  async runActivity(task: ActivityTask): Promise<void> {
    let activity: RegisteredActivity;
    try {
      activity = this.deps.app.getActivity(task.name);
    } catch (notFound) {
      // Retrying cannot register the activity: fail the call at once.
      return this.finish(task, { type: 'ActivityFailed', taskId: task.taskId, error: { ...toFailureDetails(notFound), nonRetryable: true } });
    }
    // Loading an offloaded input is infrastructure: when it fails the task is delivered again; it is not the activity failing.
    const input = this.deps.loadPayload ? await this.deps.loadPayload(task.input) : task.input;
    await this.finish(task, await this.execute(activity, task, input));
  }

  async fireTimer(timer: TimerTask): Promise<void> {
    await this.record(timer, messageIds.timer(timer.generation, timer.taskId), { type: 'TimerFired', taskId: timer.taskId });
  }

  private async execute(activity: RegisteredActivity, task: ActivityTask, input: unknown): Promise<InboxEvent> {
    const controller = new AbortController();
    const log = childLogger(this.deps.logger, { instanceId: task.instanceId, activity: task.name, attempt: task.attempt });
    const actx: ActivityContext = {
      instanceId: task.instanceId,
      activityName: task.name,
      attempt: task.attempt,
      idempotencyKey: task.idempotencyKey,
      log,
      signal: controller.signal,
    };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new TimeoutError(`Activity '${task.name}' ran longer than its timeout of ${formatDuration(activity.timeoutMs)} (attempt ${task.attempt}).`);
        controller.abort(error);
        reject(error);
      }, activity.timeoutMs);
    });
    try {
      const running = Promise.resolve().then(() => activity.fn(input as never, actx));
      const result = await Promise.race([running, timedOut]);
      return { type: 'ActivityCompleted', taskId: task.taskId, result: toJsonPayload(result, `result of activity '${task.name}'`) };
    } catch (error) {
      log.warn('activity attempt failed', { error: error instanceof Error ? error.name : typeof error });
      return { type: 'ActivityFailed', taskId: task.taskId, error: toFailureDetails(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  private async finish(task: ActivityTask, event: InboxEvent): Promise<void> {
    this.deps.crash?.('activity:before-record', task.instanceId);
    await this.record(task, messageIds.activity(task.generation, task.taskId), event);
    this.deps.crash?.('activity:before-ack', task.instanceId);
  }

  private async record(task: { instanceId: string; generation: number }, messageId: string, event: InboxEvent): Promise<void> {
    const outcome = await this.deps.store.deliver(task.instanceId, { messageId, generation: task.generation, receivedAt: this.deps.clock.now(), event });
    // Ring on a duplicate too: the first delivery may have crashed before its doorbell.
    if (outcome !== 'not-found') await this.deps.queues.ringDoorbell(task.instanceId);
  }
}
