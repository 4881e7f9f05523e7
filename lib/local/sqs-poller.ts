import type { Logger } from '../core/logger.js';
import type { BatchResult, InvocationContext, QueueRecord } from '../aws/sqs-handlers.js';
import type { LocalMessage, QueueSource } from './local-sqs.js';

export interface PollerOptions {
  queues: QueueSource;
  queueUrl: string;
  handler: (records: QueueRecord[], context: InvocationContext) => Promise<BatchResult>;
  logger: Logger;
  /** Seconds a received batch stays invisible; failed messages come back after it. @defaultValue 30 */
  visibilityTimeout?: number;
  /**
   * Seconds a batch's handler may run (Lambda's function timeout): until then the poller keeps the batch
   * invisible, as Lambda's visibility timeout of six times the function timeout does; after it, the batch
   * comes back as if the invocation had been killed. @defaultValue the visibility timeout
   */
  functionTimeout?: number;
  /** Batches handled at once (Lambda's maximum concurrency of the event source). @defaultValue 1 */
  concurrency?: number;
  /** @defaultValue 10 */
  batchSize?: number;
}

/**
 * Stands in for a Lambda event source mapping: long-polls the queue, hands batches to the handler, deletes
 * what succeeded and leaves the reported failures to be received again after their visibility timeout
 * (and moved to the dead-letter queue by the queue's redrive policy). It reads the local queues directly,
 * as the event source mapping is AWS's machinery, not Perdure's code.
 */
export class SqsPoller {
  private running = false;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly options: PollerOptions) {}

  start(): void {
    this.running = true;
    for (let i = 0; i < (this.options.concurrency ?? 1); i++) this.loops.push(this.loop());
  }

  /** Stops polling and waits for the batches in hand, as long as their function timeout allows: a handler still running then is abandoned, as Lambda would kill it. */
  async stop(): Promise<void> {
    this.running = false;
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise((resolve) => (timer = setTimeout(resolve, this.functionTimeoutSeconds() * 1000 + 1_500)));
    await Promise.race([Promise.allSettled(this.loops), killed]);
    clearTimeout(timer);
  }

  private functionTimeoutSeconds(): number {
    return this.options.functionTimeout ?? this.options.visibilityTimeout ?? 30;
  }

  private async loop(): Promise<void> {
    const { queues, queueUrl, handler, logger } = this.options;
    while (this.running) {
      try {
        const messages = await queues.receive(queueUrl, { maxMessages: this.options.batchSize ?? 10, visibilityTimeout: this.options.visibilityTimeout ?? 30, waitSeconds: 1 });
        if (messages.length === 0) continue;
        const records: QueueRecord[] = messages.map((message) => ({
          messageId: message.messageId,
          receiptHandle: message.receiptHandle,
          body: message.body,
          attributes: { ApproximateReceiveCount: String(message.receiveCount), ...(message.sentTimestamp !== undefined ? { SentTimestamp: String(message.sentTimestamp) } : {}) },
        }));
        let failed = new Set<string>();
        const deadline = Date.now() + this.functionTimeoutSeconds() * 1000;
        const heartbeat = this.keepInvisible(messages, deadline);
        try {
          // A handler that runs past its deadline is not killed (Node cannot, as Lambda does): its batch stops being
          // kept invisible and comes back to another loop, while this loop waits for it, so concurrency stays bounded.
          failed = new Set((await handler(records, { deadline })).batchItemFailures.map((failure) => failure.itemIdentifier));
        } catch (error) {
          // The whole batch fails, as when a Lambda function throws.
          logger.error('queue handler threw; the batch will be received again', { queueUrl, error: String(error) });
          failed = new Set(records.map((record) => record.messageId));
        } finally {
          clearInterval(heartbeat);
        }
        const done = messages.filter((message) => !failed.has(message.messageId)).map((message) => message.receiptHandle);
        if (done.length > 0) await queues.delete(queueUrl, done);
      } catch (error) {
        if (!this.running) return;
        logger.error('polling failed; retrying', { queueUrl, error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /** Extends the batch's visibility while its handler runs, up to the deadline: a slow handler is not a dead one. */
  private keepInvisible(messages: LocalMessage[], deadline: number): NodeJS.Timeout {
    const { queues, queueUrl, logger } = this.options;
    const visibility = this.options.visibilityTimeout ?? 30;
    const timer = setInterval(() => {
      const seconds = Math.min(visibility, Math.ceil((deadline - Date.now()) / 1000));
      if (seconds <= 0) return clearInterval(timer);
      queues.changeVisibility(queueUrl, messages.map((message) => message.receiptHandle), seconds).catch((error: unknown) => logger.warn('could not extend the visibility of a batch', { queueUrl, error: String(error) }));
    }, (visibility * 1000) / 2);
    timer.unref();
    return timer;
  }
}
