import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '../core/logger.js';
import type { BatchResult, QueueRecord } from '../aws/sqs-handlers.js';

export interface PollerOptions {
  client: SQSClient;
  queueUrl: string;
  handler: (records: QueueRecord[]) => Promise<BatchResult>;
  logger: Logger;
  /** Seconds a received batch stays invisible (the function timeout in AWS). @defaultValue 30 */
  visibilityTimeout?: number;
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

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await Promise.allSettled(this.loops);
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
          body: message.Body ?? '',
          attributes: { ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount },
        }));
        let failed = new Set<string>();
        try {
          failed = new Set((await handler(records)).batchItemFailures.map((failure) => failure.itemIdentifier));
        } catch (error) {
          // The whole batch fails, as when a Lambda function throws.
          logger.error('queue handler threw; the batch will be received again', { queueUrl, error: String(error) });
          failed = new Set(records.map((record) => record.messageId));
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
}
