import { addLedgers, emptyLedger, type CostLedger } from '../core/cost-ledger.js';
import { PoisonMessageError, toFailureDetails } from '../core/errors.js';
import { InterceptorChain } from '../core/interceptors.js';
import type { Logger } from '../core/logger.js';
import { isTerminal, type ActivityTask, type Clock, type DeadLetterQueue, type HistoryPosition, type InboxMessage, type InstanceRecord, type InstanceStore, type TimerTask } from '../ports.js';
import { poison, type TaskWorker } from '../runtime/activity-worker.js';
import { messageIds } from '../runtime/messages.js';
import type { OrchestrationWorker } from '../runtime/orchestration-worker.js';
import { EncodedPayload, type StoredPayload } from '../runtime/payload-codec.js';
import { parseDoorbell, type SqsWorkQueues } from './sqs-queues.js';

/** The part of an SQS record (as Lambda delivers it) the handlers read. */
export interface QueueRecord {
  messageId: string;
  /** The handle of this receive of the message: an activity's heartbeats extend its visibility with it. */
  receiptHandle?: string;
  body: string;
  /** SQS's system attributes, as Lambda delivers them (strings; the timestamp in ms since the epoch). */
  attributes?: { ApproximateReceiveCount?: string; SentTimestamp?: string };
}

/** Lambda's partial batch response: the records to deliver again. */
export interface BatchResult {
  batchItemFailures: { itemIdentifier: string }[];
}

/** What the handlers know about the invocation they run in. */
export interface InvocationContext {
  /** When the invocation ends at the latest (ms since the epoch): Lambda's remaining time. */
  deadline?: number;
}

export interface HandlerDependencies {
  store: InstanceStore;
  queues: SqsWorkQueues;
  orchestrations: OrchestrationWorker;
  tasks: TaskWorker;
  clock: Clock;
  logger: Logger;
  /** The queues' maxReceiveCount, named in messages. */
  maxReceiveCount: number;
  /**
   * How many times a dead letter without crash evidence (its deliveries were throttled or slow, not
   * crashed) is sent back to work before it is given up as poison. @defaultValue 3
   */
  maxDeadLetterRounds?: number;
  /** Keeps each dead letter for operators to list and redrive. */
  archive?: (queue: DeadLetterQueue, entry: { messageId: string; instanceId: string; outcome: string; body: string; deadAt: number }) => Promise<void>;
  /** Told of each message's age at receive and of dead letters. @defaultValue none */
  interceptors?: InterceptorChain;
}

type Task = ActivityTask & { dlqRounds?: number };

/**
 * The queue handlers behind the Lambda functions (and the local pollers): each takes a batch of SQS
 * records and reports the ones to deliver again. Receive counts say only that a message came back, not
 * why: the workers decide what crashed from attempt markers, and a message that reaches a dead-letter
 * queue without such evidence is sent back to work a few times before it is given up.
 */
export class QueueHandlers {
  private readonly maxDeadLetterRounds: number;
  private readonly interceptors: InterceptorChain;

  constructor(private readonly deps: HandlerDependencies) {
    this.maxDeadLetterRounds = deps.maxDeadLetterRounds ?? 3;
    this.interceptors = deps.interceptors ?? InterceptorChain.empty;
  }

  /** How long the record waited in its queue (real time: SQS stamps it), told to the interceptors. */
  private received(record: QueueRecord, queue: 'orchestrator' | 'activities'): number | undefined {
    const sent = Number(record.attributes?.SentTimestamp);
    if (!Number.isFinite(sent) || sent <= 0) return undefined;
    const ageMs = Math.max(0, Date.now() - sent);
    this.interceptors.notice({ type: 'received', queue, ageMs });
    return ageMs;
  }

  /** Doorbells (FIFO): one step per instance in the batch, with what its doorbells carry; a failure fails the instance's records. */
  async doorbells(records: QueueRecord[], context: InvocationContext = {}): Promise<BatchResult> {
    const byInstance = new Map<string, QueueRecord[]>();
    for (const record of records) {
      const { instanceId } = JSON.parse(record.body) as { instanceId: string };
      byInstance.set(instanceId, [...(byInstance.get(instanceId) ?? []), record]);
    }
    const failures: string[] = [];
    await Promise.all(
      [...byInstance].map(async ([instanceId, group]) => {
        try {
          const doorbells = group.map((record) => parseDoorbell(record.body));
          const ages = group.flatMap((record) => this.received(record, 'orchestrator') ?? []);
          await this.deps.orchestrations.step(instanceId, {
            // A redelivered doorbell means a worker took it and did not finish: its dispatch may be missing.
            redelivered: group.some(redelivered) || doorbells.some((doorbell) => doorbell.repair),
            messages: doorbells.flatMap((doorbell) => doorbell.messages ?? []),
            runInline: doorbells.some((doorbell) => doorbell.runInline),
            carriedOnly: doorbells.every((doorbell) => (doorbell.messages?.length ?? 0) > 0),
            deadline: context.deadline,
            headers: doorbells.flatMap((doorbell) => (doorbell.headers ? [doorbell.headers] : [])),
            // The doorbells of one dispatch (a fan-out's results) carry the same snapshot; a stale one costs a read.
            snapshot: doorbells.findLast((doorbell) => doorbell.snapshot !== undefined)?.snapshot,
            sentAt: furthest(doorbells.map((doorbell) => doorbell.sentAt)),
            ...(ages.length ? { queueAgeMs: Math.max(...ages) } : {}),
            cost: deliveryCost('SQS-FIFO', group.length, records.length),
          });
        } catch (error) {
          this.deps.logger.error('step failed; the doorbell will be delivered again', { instanceId, error: toFailureDetails(error).message });
          failures.push(...group.map((record) => record.messageId));
        }
      }),
    );
    return result(failures);
  }

  /** Activity tasks: a throwing activity is a recorded failure, not a batch failure; only infrastructure errors redeliver. */
  async activities(records: QueueRecord[], context: InvocationContext = {}): Promise<BatchResult> {
    return this.each(records, async (record) => {
      const queueAgeMs = this.received(record, 'activities');
      await this.deps.tasks.runActivity(parseTask(record.body), {
        redelivered: redelivered(record),
        deadline: context.deadline,
        ...(record.receiptHandle ? { receipt: record.receiptHandle } : {}),
        ...(queueAgeMs !== undefined ? { queueAgeMs } : {}),
        cost: deliveryCost('SQS', 1, records.length),
      });
    });
  }

  /** Timer hops: a due timer fires (a solo one steps its instance); one not yet due goes back on the queue for its next hop. */
  async timers(records: QueueRecord[], context: InvocationContext = {}): Promise<BatchResult> {
    return this.each(records, async (record) => {
      const timer = JSON.parse(record.body) as TimerTask;
      const cost = deliveryCost('SQS', 1, records.length);
      if (timer.fireAt <= this.deps.clock.now()) await this.deps.tasks.fireTimer(timer, { cost, redelivered: redelivered(record), deadline: context.deadline });
      else await this.deps.queues.scheduleTimers([{ ...timer, cost: addLedgers(timer.cost, cost) }]);
    });
  }

  /**
   * The activity DLQ: the task's deliveries ran out without it finishing and without the worker finding it
   * crashed (that fails it at once): its deliveries were throttled or slow. It goes back to the queue after
   * a delay, a few times; then its call fails with a PoisonMessageError the orchestration can catch.
   */
  async activityDeadLetters(records: QueueRecord[]): Promise<BatchResult> {
    return this.each(records, async (record) => {
      this.interceptors.notice({ type: 'deadLetter', queue: 'activities' });
      const task = parseTask(record.body);
      const rounds = (task.dlqRounds ?? 0) + 1;
      if (rounds <= this.maxDeadLetterRounds) {
        this.deps.logger.warn('activity task reached the dead-letter queue without crash evidence (throttled or slow?); sending it back', { instanceId: task.instanceId, activity: task.name, taskId: task.taskId, round: rounds });
        await this.deps.queues.resendActivity({ ...task, dlqRounds: rounds }, 60 * rounds);
        return;
      }
      const received = rounds * this.deps.maxReceiveCount;
      this.deps.logger.error('activity task dead-lettered', { instanceId: task.instanceId, activity: task.name, taskId: task.taskId });
      const message: InboxMessage = {
        messageId: messageIds.activity(task.generation, task.taskId, task.round),
        generation: task.generation,
        receivedAt: this.deps.clock.now(),
        event: poison(task, 0, `was delivered about ${received} times and never finished, without a recorded crash (its worker may be throttled, or die before it can record one)`),
      };
      const exists = (await this.deps.store.getInstance(task.instanceId)) !== undefined;
      const headers = this.interceptors.headers(task.headers);
      if (exists) await this.deps.queues.ringDoorbell(task.instanceId, { messages: [message], ...(headers ? { headers } : {}) });
      const outcome = exists ? 'call failed with PoisonMessageError' : 'instance not found';
      await this.deps.archive?.('activities', { messageId: record.messageId, instanceId: task.instanceId, outcome, body: record.body, deadAt: this.deps.clock.now() });
    });
  }

  /**
   * The orchestrator DLQ: the doorbell's deliveries ran out without the worker finding its step crashed
   * (it quarantines such an instance itself). What the doorbell carried is stored in the inbox, and the
   * doorbell goes back a few times; then the instance is quarantined for an operator.
   */
  async orchestratorDeadLetters(records: QueueRecord[]): Promise<BatchResult> {
    return this.each(records, async (record) => {
      this.interceptors.notice({ type: 'deadLetter', queue: 'orchestrations' });
      const doorbell = parseDoorbell(record.body);
      const { instanceId } = doorbell;
      for (const message of doorbell.messages ?? []) await this.deps.store.deliver(instanceId, message);
      const rounds = (doorbell.dlqRounds ?? 0) + 1;
      if (rounds <= this.maxDeadLetterRounds) {
        this.deps.logger.warn('doorbell reached the dead-letter queue without crash evidence (throttled or slow?); ringing again', { instanceId, round: rounds });
        // As a repair: its last delivery may have committed a step and died before dispatching what it decided.
        await this.deps.queues.ringDoorbell(instanceId, { dlqRounds: rounds, repair: true, ...(doorbell.headers ? { headers: doorbell.headers } : {}) });
        return;
      }
      const outcome = await this.quarantine(instanceId, rounds * this.deps.maxReceiveCount);
      await this.deps.archive?.('orchestrations', { messageId: record.messageId, instanceId, outcome, body: record.body, deadAt: this.deps.clock.now() });
    });
  }

  /** Sets the instance aside for an operator; returns what happened, for the archive. */
  private async quarantine(instanceId: string, received: number): Promise<string> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const instance = await this.deps.store.getInstance(instanceId);
      if (!instance) return 'instance not found';
      if (instance.status === 'Quarantined' || isTerminal(instance.status)) return `instance already ${instance.status}`;
      const quarantined: InstanceRecord = {
        ...instance,
        status: 'Quarantined',
        error: toFailureDetails(
          new PoisonMessageError(
            `The doorbell of instance '${instanceId}' was delivered about ${received} times and no step finished, without a recorded crash (the orchestrator may be throttled, or die before it can record one), so it was set aside. Check the logs, deploy a fix, then resume it.`,
          ),
        ),
        updatedAt: this.deps.clock.now(),
        revision: instance.revision + 1,
      };
      if (await this.deps.store.updateInstance(quarantined, instance.revision)) {
        this.interceptors.notice({ type: 'quarantined', instanceId, orchestration: instance.name, error: 'PoisonMessageError' });
        return 'instance quarantined';
      }
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

/**
 * What delivering `messages` of a batch of `batch` cost, paid by the instance they are about: each message's
 * send (counted as one request, though a sender may have batched several in one), and their share of the
 * event source mapping's receive and delete and of the Lambda invocation. Known before the handler runs, so
 * the step or attempt counts them in its own ledger (the delete follows the handler).
 */
function deliveryCost(queue: 'SQS' | 'SQS-FIFO', messages: number, batch: number): CostLedger {
  const share = messages / Math.max(1, batch);
  return { ...emptyLedger(), requests: { [`${queue}.SendMessageBatch`]: messages, [`${queue}.ReceiveMessage`]: share, [`${queue}.DeleteMessageBatch`]: share }, invocations: share };
}

function redelivered(record: QueueRecord): boolean {
  return Number(record.attributes?.ApproximateReceiveCount ?? 1) > 1;
}

function parseTask(body: string): Task {
  const task = JSON.parse(body) as Task & { input: StoredPayload | undefined };
  return { ...task, input: task.input === undefined ? undefined : new EncodedPayload(task.input) };
}

function result(failures: string[]): BatchResult {
  return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
}

/** The furthest of the positions the doorbells of a batch carry, by generation then event (they are of one incarnation but after a rewind). */
function furthest(positions: (HistoryPosition | undefined)[]): HistoryPosition | undefined {
  let best: HistoryPosition | undefined;
  for (const position of positions) {
    if (!position) continue;
    if (!best || position.generation > best.generation || (position.generation === best.generation && position.eventId > best.eventId)) best = position;
  }
  return best;
}
