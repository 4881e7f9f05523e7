/**
 * fauxqs's SQS store, as the local stack uses it: FIFO receives that behave as SQS's do, and direct access
 * for the pollers that stand in for Lambda's event source mappings (which are AWS's machinery, not
 * Perdure's, so they need not pay for HTTP and request signing on every receive and delete; Perdure's own
 * sends still go through the AWS SDK and fauxqs's HTTP API).
 */

/** A message as fauxqs keeps it (the fields used here). */
interface StoredMessage {
  messageId: string;
  body: string;
  approximateReceiveCount: number;
  approximateFirstReceiveTimestamp?: number;
  sentTimestamp?: number;
  messageGroupId?: string;
  /** A delayed message's time to become visible (ms since the epoch). */
  delayUntil?: number;
  md5OfBody: string;
  md5OfMessageAttributes?: string;
  messageAttributes: Record<string, unknown>;
}

/** A message as fauxqs's receive returns it. */
interface ReceivedMessage {
  MessageId: string;
  ReceiptHandle: string;
  Body: string;
  MD5OfBody: string;
  MD5OfMessageAttributes?: string;
  MessageAttributes?: Record<string, unknown>;
}

/** fauxqs's queue (its class is not exported: these are the members the local stack uses). */
interface FauxqsQueue {
  name: string;
  attributes: Record<string, string>;
  messages: StoredMessage[];
  delayedMessages: StoredMessage[];
  fifoDelayed: Map<string, StoredMessage[]>;
  inflightMessages: Map<string, { message: StoredMessage; receiptHandle: string; visibilityDeadline: number }>;
  fifoMessages: Map<string, StoredMessage[]>;
  fifoLockedGroups: Map<string, number>;
  isFifo(): boolean;
  processTimers(): void;
  dequeue(maxCount: number, visibilityTimeout?: number, dlqResolver?: (arn: string) => FauxqsQueue | undefined): ReceivedMessage[];
  deleteMessage(receiptHandle: string): boolean;
  changeVisibility(receiptHandle: string, timeoutSeconds: number): void;
  waitForMessages(waitTimeSeconds: number): Promise<void>;
  enqueue(message: StoredMessage): void;
}

interface FauxqsSqsStore {
  queues: Map<string, FauxqsQueue>;
  getQueue(url: string): FauxqsQueue | undefined;
  getQueueByArn(arn: string): FauxqsQueue | undefined;
  createQueue(...args: unknown[]): FauxqsQueue;
}

/** A message received by a poller. */
export interface LocalMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
  /** When it was sent (ms since the epoch), as SQS's `SentTimestamp`. */
  sentTimestamp?: number;
}

/** What a poller needs from a queue: receive with long polling, delete, and keep a message invisible. */
export interface QueueSource {
  receive(queueUrl: string, options: { maxMessages: number; visibilityTimeout: number; waitSeconds: number }): Promise<LocalMessage[]>;
  delete(queueUrl: string, receiptHandles: string[]): Promise<void>;
  changeVisibility(queueUrl: string, receiptHandles: string[], seconds: number): Promise<void>;
}

/**
 * Creates fauxqs's SQS store with FIFO receives as SQS makes them. fauxqs returns at most one message of a
 * message group per receive; SQS returns as many messages of the same group as it can, in order ("SQS first
 * attempts to return as many messages with the same message group ID as possible"), which is how one Lambda
 * invocation gets all the doorbells of an instance that are waiting. The class is loaded from the file next
 * to fauxqs's entry point, as the S3 store is (fauxqs is pinned to an exact version for that reason).
 */
export async function createLocalSqsStore(): Promise<{ store: object; source: QueueSource; find: (text: string) => string[] }> {
  const fauxqsFile = (path: string) => new URL(path, import.meta.resolve('fauxqs')).href;
  const { SqsStore } = (await import(fauxqsFile('./sqs/sqsStore.js'))) as { SqsStore: new () => FauxqsSqsStore };

  class LocalSqsStore extends SqsStore {
    override createQueue(...args: unknown[]): FauxqsQueue {
      const queue = super.createQueue(...args);
      if (queue.isFifo()) {
        (queue as unknown as { dequeueFifo: typeof dequeueFifo }).dequeueFifo = (maxCount, visibilityTimeout, dlqResolver) => dequeueFifo.call(queue, maxCount, visibilityTimeout, dlqResolver);
      }
      return queue;
    }
  }
  const store = new LocalSqsStore();
  const queueOf = (url: string) => {
    const queue = store.getQueue(url);
    if (!queue) throw new Error(`No local queue ${url}`);
    return queue;
  };
  const dlqResolver = (arn: string) => store.getQueueByArn(arn);
  const receiveNow = (queue: FauxqsQueue, maxMessages: number, visibilityTimeout: number): LocalMessage[] =>
    queue.dequeue(maxMessages, visibilityTimeout, dlqResolver).map((message) => {
      const stored = queue.inflightMessages.get(message.ReceiptHandle)?.message;
      return {
        messageId: message.MessageId,
        receiptHandle: message.ReceiptHandle,
        body: message.Body,
        receiveCount: stored?.approximateReceiveCount ?? 1,
        ...(stored?.sentTimestamp !== undefined ? { sentTimestamp: stored.sentTimestamp } : {}),
      };
    });
  const source: QueueSource = {
    async receive(queueUrl, { maxMessages, visibilityTimeout, waitSeconds }) {
      const queue = queueOf(queueUrl);
      const messages = receiveNow(queue, maxMessages, visibilityTimeout);
      if (messages.length > 0 || waitSeconds <= 0) return messages;
      await queue.waitForMessages(waitSeconds);
      return receiveNow(queue, maxMessages, visibilityTimeout);
    },
    async delete(queueUrl, receiptHandles) {
      const queue = queueOf(queueUrl);
      for (const handle of receiptHandles) queue.deleteMessage(handle);
    },
    async changeVisibility(queueUrl, receiptHandles, seconds) {
      const queue = queueOf(queueUrl);
      for (const handle of receiptHandles) if (queue.inflightMessages.has(handle)) queue.changeVisibility(handle, seconds);
    },
  };
  return { store, source, find: (text) => findMessages(store, text) };
}

/**
 * Where the messages whose body holds `text` are (a diagnostic: the chaos run tells a stranded instance from a
 * slow one by it): each as its queue, its state (waiting, in flight, delayed) and how often it was received.
 */
function findMessages(store: FauxqsSqsStore, text: string): string[] {
  const found: string[] = [];
  const note = (queue: FauxqsQueue, state: string, message: StoredMessage, until?: number) => {
    if (!message.body.includes(text)) return;
    const due = until === undefined ? '' : ` for ${Math.round((until - Date.now()) / 100) / 10} s more`;
    found.push(`${queue.name}: ${state}${due}, received ${message.approximateReceiveCount} time(s), ${message.body.slice(0, 160)}`);
  };
  for (const queue of store.queues.values()) {
    for (const message of queue.messages) note(queue, 'waiting', message);
    for (const messages of queue.fifoMessages.values()) for (const message of messages) note(queue, 'waiting', message);
    for (const { message, visibilityDeadline } of queue.inflightMessages.values()) note(queue, 'in flight', message, visibilityDeadline);
    for (const message of queue.delayedMessages) note(queue, 'delayed', message, message.delayUntil);
    for (const delayed of queue.fifoDelayed.values()) for (const message of delayed) note(queue, 'delayed', message, message.delayUntil);
  }
  return found;
}

/**
 * fauxqs's FIFO receive (sqsStore.js, `dequeueFifo`), changed in one place: it keeps taking messages of a
 * group, in order, until the batch is full, instead of stopping after the first. Groups are visited in the
 * order their first waiting message arrived; a group with a message in flight is skipped.
 */
function dequeueFifo(this: FauxqsQueue, maxCount: number, visibilityTimeoutOverride?: number, dlqResolver?: (arn: string) => FauxqsQueue | undefined) {
  this.processTimers();
  const visibilityTimeout = visibilityTimeoutOverride ?? parseInt(this.attributes.VisibilityTimeout ?? '30', 10);
  let maxReceiveCount = Infinity;
  let dlqArn: string | undefined;
  if (this.attributes.RedrivePolicy) {
    const policy = JSON.parse(this.attributes.RedrivePolicy) as { maxReceiveCount?: number; deadLetterTargetArn?: string };
    maxReceiveCount = policy.maxReceiveCount ?? Infinity;
    dlqArn = policy.deadLetterTargetArn;
  }
  const result: ReceivedMessage[] = [];
  const count = Math.min(maxCount, 10);
  for (const [groupId, groupMessages] of this.fifoMessages) {
    if (result.length >= count) break;
    if (this.fifoLockedGroups.has(groupId) || groupMessages.length === 0) continue;
    while (result.length < count && groupMessages.length > 0) {
      const message = groupMessages.shift()!;
      message.approximateReceiveCount++;
      message.approximateFirstReceiveTimestamp ??= Date.now();
      const deadLetters = dlqArn && dlqResolver && message.approximateReceiveCount > maxReceiveCount ? dlqResolver(dlqArn) : undefined;
      if (deadLetters) {
        deadLetters.enqueue(message);
        continue;
      }
      const receiptHandle = crypto.randomUUID();
      this.inflightMessages.set(receiptHandle, { message, receiptHandle, visibilityDeadline: Date.now() + visibilityTimeout * 1000 });
      const received: ReceivedMessage = { MessageId: message.messageId, ReceiptHandle: receiptHandle, MD5OfBody: message.md5OfBody, Body: message.body };
      if (message.md5OfMessageAttributes) received.MD5OfMessageAttributes = message.md5OfMessageAttributes;
      if (Object.keys(message.messageAttributes).length > 0) received.MessageAttributes = message.messageAttributes;
      result.push(received);
      this.fifoLockedGroups.set(groupId, (this.fifoLockedGroups.get(groupId) ?? 0) + 1);
    }
    if (groupMessages.length === 0) this.fifoMessages.delete(groupId);
  }
  return result;
}
