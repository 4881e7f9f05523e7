import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import type { MessageHeaders } from '../core/interceptors.js';
import type { ActivityTask, Clock, Doorbell, HistoryPosition, InboxMessage, TimerTask, WorkQueues } from '../ports.js';
import type { PayloadCodec } from '../runtime/payload-codec.js';
import { priorityOf } from '../runtime/priority.js';
import { readEvent, storeEvent } from './payload-fields.js';

export interface SqsQueueUrls {
  /** FIFO: doorbells, grouped by instance id. */
  orchestrator: string;
  /** Standard, with a redrive policy to its dead-letter queue. */
  activities: string;
  /** Standard: timers, delayed by up to 15 minutes a hop. */
  timers: string;
  /** FIFO: the doorbells of high-priority instances (the priority lane), with their own event source. */
  orchestratorHigh?: string;
  /** Standard: the activity tasks of high-priority instances. */
  activitiesHigh?: string;
}

export interface SqsQueuesOptions {
  client: SQSClient;
  urls: SqsQueueUrls;
  codec: PayloadCodec;
  clock: Clock;
  /** The longest delay of one timer hop, in seconds (SQS allows 900). Tests make it short. @defaultValue 900 */
  maxTimerHopSeconds?: number;
}

/** SQS's longest visibility timeout. */
const MAX_VISIBILITY_SECONDS = 43_200;

/** What a doorbell message carries: the instance, and what the step should apply (payloads stored by the codec). */
export interface DoorbellMessage {
  instanceId: string;
  messages?: InboxMessage[];
  runInline?: boolean;
  repair?: boolean;
  /** How many times the orchestrator's dead-letter handler sent this doorbell back. */
  dlqRounds?: number;
  /** What interceptors added (the W3C trace context): in the body, so that every queue and emulator carries it alike. */
  headers?: MessageHeaders;
  /** The record the step may start from (`Doorbell.snapshot`). */
  snapshot?: unknown;
  /** Where the history ended when the carried result's task or timer was sent (`Doorbell.sentAt`). */
  sentAt?: HistoryPosition;
}

/**
 * The work queues on SQS. Doorbells go to a FIFO queue with `MessageGroupId = instanceId`, so one
 * instance's steps never run at the same time while different instances run in parallel. Activity tasks
 * carry their input through the payload codec. A timer is a message delayed until it is due, in hops of at
 * most 15 minutes; each hop's handler sends the next one until the timer fires. The doorbells and tasks of
 * a high-priority instance (its headers say so) go to the priority lane's two queues, when there are any.
 */
export class SqsWorkQueues implements WorkQueues {
  readonly maxTimerHopSeconds: number;
  /** Entries waiting for this turn's SendMessageBatch, by queue. */
  private readonly outgoing = new Map<string, { entry: SendMessageBatchRequestEntry; resolve: () => void; reject: (error: Error) => void }[]>();

  constructor(private readonly options: SqsQueuesOptions) {
    this.maxTimerHopSeconds = options.maxTimerHopSeconds ?? 900;
  }

  get priorityLane(): boolean {
    return this.options.urls.orchestratorHigh !== undefined && this.options.urls.activitiesHigh !== undefined;
  }

  /** The queue of `lane` for the message's headers: the priority lane's for a high-priority instance. */
  private queueFor(lane: 'orchestrator' | 'activities', headers: MessageHeaders | undefined): string {
    const { urls } = this.options;
    const high = priorityOf(headers) === 'high' ? (lane === 'orchestrator' ? urls.orchestratorHigh : urls.activitiesHigh) : undefined;
    return high ?? urls[lane];
  }

  async ringDoorbell(instanceId: string, doorbell: Doorbell & { dlqRounds?: number } = {}): Promise<void> {
    const body: DoorbellMessage = { instanceId };
    if (doorbell.messages?.length) {
      body.messages = await Promise.all(doorbell.messages.map(async (message) => ({ ...message, event: await storeEvent(message.event, this.options.codec, instanceId) })));
    }
    if (doorbell.runInline) body.runInline = true;
    if (doorbell.repair) body.repair = true;
    if (doorbell.dlqRounds) body.dlqRounds = doorbell.dlqRounds;
    if (doorbell.headers) body.headers = doorbell.headers;
    if (doorbell.snapshot !== undefined) body.snapshot = doorbell.snapshot;
    if (doorbell.sentAt) body.sentAt = doorbell.sentAt;
    // A unique deduplication id: a doorbell must never be dropped; a spare one costs an idle step.
    await this.sendBatch(this.queueFor('orchestrator', doorbell.headers), [{ Id: '0', MessageBody: JSON.stringify(body), MessageGroupId: instanceId, MessageDeduplicationId: randomUUID() }]);
  }

  /** Re-sends an activity task that reached the dead-letter queue without crash evidence, after a delay. */
  async resendActivity(task: ActivityTask & { dlqRounds?: number }, delaySeconds: number): Promise<void> {
    await this.sendBatch(this.queueFor('activities', task.headers), [{ ...(await this.taskEntry(task, 0)), DelaySeconds: Math.min(900, delaySeconds) }]);
  }

  private async taskEntry(task: ActivityTask, index: number): Promise<SendMessageBatchRequestEntry> {
    return { Id: String(index), MessageBody: JSON.stringify({ ...task, input: await this.options.codec.store(task.input, task.instanceId) }) };
  }

  async enqueueActivities(tasks: ActivityTask[]): Promise<void> {
    const entries = await Promise.all(tasks.map((task, index) => this.taskEntry(task, index)));
    const byQueue = new Map<string, SendMessageBatchRequestEntry[]>();
    tasks.forEach((task, index) => {
      const queueUrl = this.queueFor('activities', task.headers);
      const queueEntries = byQueue.get(queueUrl) ?? [];
      if (queueEntries.length === 0) byQueue.set(queueUrl, queueEntries);
      queueEntries.push(entries[index]!);
    });
    await Promise.all([...byQueue].map(([queueUrl, queueEntries]) => this.sendBatch(queueUrl, queueEntries)));
  }

  async scheduleTimers(timers: TimerTask[]): Promise<void> {
    const now = this.options.clock.now();
    await this.sendBatch(
      this.options.urls.timers,
      timers.map((timer, index) => ({ Id: String(index), MessageBody: JSON.stringify(timer), DelaySeconds: this.hopSeconds(timer.fireAt, now) })),
    );
  }

  /** Keeps a received activity task invisible for `ms` from now (at most SQS's 12 hours). */
  async extendActivityLease(receipt: string, ms: number, task?: ActivityTask): Promise<void> {
    const seconds = Math.min(MAX_VISIBILITY_SECONDS, Math.ceil(ms / 1000));
    await this.options.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.queueFor('activities', task?.headers), ReceiptHandle: receipt, VisibilityTimeout: seconds }));
  }

  /** The delay of the next hop toward `fireAt`. */
  hopSeconds(fireAt: number, now: number): number {
    return Math.max(0, Math.min(this.maxTimerHopSeconds, Math.ceil((fireAt - now) / 1000)));
  }

  /**
   * Sends the entries, each once SQS has taken it. Entries sent to the same queue in one turn of the event
   * loop (the ten handlers of a batch each ringing a doorbell, a step dispatching its activities) go
   * together, ten to a SendMessageBatch request: fewer requests, and SQS bills per request.
   */
  private sendBatch(queueUrl: string, entries: SendMessageBatchRequestEntry[]): Promise<void> {
    return Promise.all(
      entries.map(
        (entry) =>
          new Promise<void>((resolve, reject) => {
            let waiting = this.outgoing.get(queueUrl);
            if (!waiting) {
              waiting = [];
              this.outgoing.set(queueUrl, waiting);
              setImmediate(() => void this.flush(queueUrl));
            }
            waiting.push({ entry, resolve, reject });
          }),
      ),
    ).then(() => undefined);
  }

  private async flush(queueUrl: string): Promise<void> {
    const waiting = this.outgoing.get(queueUrl) ?? [];
    this.outgoing.delete(queueUrl);
    await Promise.all(
      Array.from({ length: Math.ceil(waiting.length / 10) }, async (_, chunk) => {
        // Ids unique within the request; SQS keeps the order of a FIFO group's entries within a batch.
        let batch = waiting.slice(chunk * 10, chunk * 10 + 10).map((sender, index) => ({ sender, entry: { ...sender.entry, Id: String(index) } }));
        for (let attempt = 0; batch.length > 0; attempt++) {
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** attempt)));
          let failed: Map<string, string>;
          try {
            const result = await this.options.client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch.map(({ entry }) => entry) }));
            failed = new Map((result.Failed ?? []).map((failure) => [failure.Id!, failure.Message ?? failure.Code ?? '']));
          } catch (error) {
            for (const { sender } of batch) sender.reject(error as Error);
            return;
          }
          for (const { sender, entry } of batch) if (!failed.has(entry.Id)) sender.resolve();
          batch = batch.filter(({ entry }) => failed.has(entry.Id));
          if (attempt >= 5 && batch.length > 0) {
            const error = new Error(`SQS refused ${batch.length} messages to ${queueUrl}: ${failed.get(batch[0]!.entry.Id) ?? ''}`);
            for (const { sender } of batch) sender.reject(error);
            return;
          }
        }
      }),
    );
  }
}

/** A doorbell as received: its carried messages with their payloads wrapped for lazy decoding. */
export function parseDoorbell(body: string): DoorbellMessage {
  const doorbell = JSON.parse(body) as DoorbellMessage;
  for (const message of doorbell.messages ?? []) message.event = readEvent(message.event);
  return doorbell;
}
