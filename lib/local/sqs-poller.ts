import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '../core/logger.js';
import type { BatchResult, InvocationContext, QueueRecord } from '../aws/sqs-handlers.js';

export interface PollerOptions {
  client: SQSClient;
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
  /** Batches handled at once. @defaultValue 1 (FIFO order needs one at a time) */
  concurrency?: number;
  /** @defaultValue 10 */
  batchSize?: number;
}

/**
 * Stands in for a Lambda event source mapping: long-polls the queue, hands batches to the handler, deletes
 * what succeeded and leaves the reported failures to be received again after their visibility timeout
 * (and moved to the dead-letter queue by the queue's redrive policy).
 */
export class SqsPoller {
  private running = false;
  private readonly loops: Promise<void>[] = [];
  private readonly abort = new AbortController();

  constructor(private readonly options: PollerOptions) {}

  start(): void {
    this.running = true;
    for (let i = 0; i < (this.options.concurrency ?? 1); i++) this.loops.push(this.loop());
  }

  /** Stops polling and waits for the batches in hand, as long as their function timeout allows: a handler still running then is abandoned, as Lambda would kill it. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise((resolve) => (timer = setTimeout(resolve, this.functionTimeoutSeconds() * 1000 + 500)));
    await Promise.race([Promise.allSettled(this.loops), killed]);
    clearTimeout(timer);
  }

  private functionTimeoutSeconds(): number {
    return this.options.functionTimeout ?? this.options.visibilityTimeout ?? 30;
  }

  private async loop(): Promise<void> {
    const { client, queueUrl, handler, logger } = this.options;
    while (this.running) {
      try {
        const { Messages } = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: this.options.batchSize ?? 10,
            WaitTimeSeconds: 1,
            VisibilityTimeout: this.options.visibilityTimeout ?? 30,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          { abortSignal: this.abort.signal },
        );
        if (!Messages?.length) continue;
        const records: QueueRecord[] = Messages.map((message) => ({
          messageId: message.MessageId!,
          receiptHandle: message.ReceiptHandle!,
          body: message.Body ?? '',
          attributes: { ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount },
        }));
        let failed = new Set<string>();
        const deadline = Date.now() + this.functionTimeoutSeconds() * 1000;
        const heartbeat = this.keepInvisible(Messages, deadline);
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
        const done = Messages.filter((message) => !failed.has(message.MessageId!));
        for (let i = 0; i < done.length; i += 10) {
          await client.send(
            new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: done.slice(i, i + 10).map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })) }),
          );
        }
      } catch (error) {
        if (!this.running) return;
        logger.error('polling failed; retrying', { queueUrl, error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /** Extends the batch's visibility while its handler runs, up to the deadline: a slow handler is not a dead one. */
  private keepInvisible(messages: Message[], deadline: number): NodeJS.Timeout {
    const { client, queueUrl, logger } = this.options;
    const visibility = this.options.visibilityTimeout ?? 30;
    const timer = setInterval(() => {
      const seconds = Math.min(visibility, Math.ceil((deadline - Date.now()) / 1000));
      if (seconds <= 0) return clearInterval(timer);
      const entries = messages.slice(0, 10).map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: seconds }));
      void client.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: entries })).catch((error: unknown) => logger.warn('could not extend the visibility of a batch', { queueUrl, error: String(error) }));
    }, (visibility * 1000) / 2);
    timer.unref();
    return timer;
  }
}
