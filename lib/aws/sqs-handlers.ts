import { toFailureDetails, PoisonMessageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { isTerminal, type ActivityTask, type Clock, type DeadLetterQueue, type InstanceRecord, type InstanceStore, type TimerTask } from '../ports.js';
import type { TaskWorker } from '../runtime/activity-worker.js';
import { messageIds } from '../runtime/messages.js';
import type { OrchestrationWorker } from '../runtime/orchestration-worker.js';
import { EncodedPayload, type StoredPayload } from '../runtime/payload-codec.js';
import type { DoorbellMessage, SqsWorkQueues } from './sqs-queues.js';

/** The part of an SQS record (as Lambda delivers it) the handlers read. */
export interface QueueRecord {
  messageId: string;
  body: string;
  attributes?: { ApproximateReceiveCount?: string };
}

/** Lambda's partial batch response: the records to deliver again. */
export interface BatchResult {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface HandlerDependencies {
  store: InstanceStore;
  queues: SqsWorkQueues;
  orchestrations: OrchestrationWorker;
  tasks: TaskWorker;
  clock: Clock;
  logger: Logger;
  /** The activity queue's maxReceiveCount, named in PoisonMessageError. */
  maxReceiveCount: number;
  /** Keeps each dead letter for operators to list and redrive. */
  archive?: (queue: DeadLetterQueue, entry: { messageId: string; instanceId: string; outcome: string; body: string; deadAt: number }) => Promise<void>;
}

/**
 * The queue handlers behind the Lambda functions (and the local pollers): each takes a batch of SQS
 * records and reports the ones to deliver again.
 */
export class QueueHandlers {
  constructor(private readonly deps: HandlerDependencies) {}

  /** Doorbells (FIFO): one step per instance in the batch; a failure fails the instance's later records too. */
  async doorbells(records: QueueRecord[]): Promise<BatchResult> {
    const byInstance = new Map<string, QueueRecord[]>();
    for (const record of records) {
      const { instanceId } = JSON.parse(record.body) as DoorbellMessage;
      byInstance.set(instanceId, [...(byInstance.get(instanceId) ?? []), record]);
    }
    const failures: string[] = [];
    await Promise.all(
      [...byInstance].map(async ([instanceId, group]) => {
        try {
          // A redelivered doorbell means a worker took it and did not finish: its dispatch may be missing.
          const redelivered = group.some((record) => Number(record.attributes?.ApproximateReceiveCount ?? 1) > 1);
          await this.deps.orchestrations.step(instanceId, { redelivered });
        } catch (error) {
          this.deps.logger.error('step failed; the doorbell will be delivered again', { instanceId, error: toFailureDetails(error).message });
          failures.push(...group.map((record) => record.messageId));
        }
      }),
    );
    return result(failures);
  }

  /** Activity tasks: a throwing activity is a recorded failure, not a batch failure; only infrastructure errors redeliver. */
  async activities(records: QueueRecord[]): Promise<BatchResult> {
    return this.each(records, async (record) => this.deps.tasks.runActivity(parseTask(record.body)));
  }

  /** Timer hops: a due timer fires; one not yet due goes back on the queue for its next hop. */
  async timers(records: QueueRecord[]): Promise<BatchResult> {
    return this.each(records, async (record) => {
      const timer = JSON.parse(record.body) as TimerTask;
      if (timer.fireAt <= this.deps.clock.now()) await this.deps.tasks.fireTimer(timer);
      else await this.deps.queues.scheduleTimers([timer]);
    });
  }

  /** The activity DLQ: a task that crashed or timed out its worker every time fails its call with a PoisonMessageError. */
  async activityDeadLetters(records: QueueRecord[]): Promise<BatchResult> {
    return this.each(records, async (record) => {
      const task = parseTask(record.body);
      const error = new PoisonMessageError(
        `Activity '${task.name}' (attempt ${task.attempt}) was delivered ${this.deps.maxReceiveCount} times and never finished: its worker crashed or timed out each time. The task was moved to the dead-letter queue.`,
      );
      this.deps.logger.error('activity task dead-lettered', { instanceId: task.instanceId, activity: task.name, taskId: task.taskId });
      const outcome = await this.deps.store.deliver(task.instanceId, {
        messageId: messageIds.activity(task.generation, task.taskId),
        generation: task.generation,
        receivedAt: this.deps.clock.now(),
        event: { type: 'ActivityFailed', taskId: task.taskId, error: { ...toFailureDetails(error), nonRetryable: true } },
      });
      if (outcome !== 'not-found') await this.deps.queues.ringDoorbell(task.instanceId);
      await this.deps.archive?.('activities', {
        messageId: record.messageId,
        instanceId: task.instanceId,
        outcome: outcome === 'not-found' ? 'instance not found' : `call failed with PoisonMessageError (${outcome})`,
        body: record.body,
        deadAt: this.deps.clock.now(),
      });
    });
  }

  /** The orchestrator DLQ: an instance whose steps kept failing is quarantined with the reason, for an operator. */
  async orchestratorDeadLetters(records: QueueRecord[]): Promise<BatchResult> {
    return this.each(records, async (record) => {
      const { instanceId } = JSON.parse(record.body) as DoorbellMessage;
      const outcome = await this.quarantine(instanceId);
      await this.deps.archive?.('orchestrations', { messageId: record.messageId, instanceId, outcome, body: record.body, deadAt: this.deps.clock.now() });
    });
  }

  /** Sets the instance aside for an operator; returns what happened, for the archive. */
  private async quarantine(instanceId: string): Promise<string> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const instance = await this.deps.store.getInstance(instanceId);
      if (!instance) return 'instance not found';
      if (instance.status === 'Quarantined' || isTerminal(instance.status)) return `instance already ${instance.status}`;
      const quarantined: InstanceRecord = {
        ...instance,
        status: 'Quarantined',
        error: toFailureDetails(
          new PoisonMessageError(
            `The steps of instance '${instanceId}' failed ${this.deps.maxReceiveCount} times in a row (the orchestrator crashed, ran out of memory or timed out), so it was set aside. Check the logs, deploy a fix, then resume it.`,
          ),
        ),
        updatedAt: this.deps.clock.now(),
        revision: instance.revision + 1,
      };
      if (await this.deps.store.updateInstance(quarantined, instance.revision)) return 'instance quarantined';
    }
    throw new Error(`Instance '${instanceId}' kept changing while it was being quarantined.`);
  }

  private async each(records: QueueRecord[], handle: (record: QueueRecord) => Promise<void>): Promise<BatchResult> {
    const failures: string[] = [];
    await Promise.all(
      records.map(async (record) => {
        try {
          await handle(record);
        } catch (error) {
          this.deps.logger.error('queue message failed; it will be delivered again', { messageId: record.messageId, error: toFailureDetails(error).message });
          failures.push(record.messageId);
        }
      }),
    );
    return result(failures);
  }
}

function parseTask(body: string): ActivityTask {
  const task = JSON.parse(body) as ActivityTask & { input: StoredPayload | undefined };
  return { ...task, input: task.input === undefined ? undefined : new EncodedPayload(task.input) };
}

function result(failures: string[]): BatchResult {
  return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
}
