import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { addClientMiddleware } from '../lib/aws/client-middleware.js';

/** Counts every AWS request a client sends, by service and operation, with SDK middleware. */
export class RequestCounter {
  readonly counts = new Map<string, number>();

  attach(service: string, client: DynamoDBClient | SQSClient | S3Client): void {
    addClientMiddleware(
      client,
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        this.add(`${service}.${(context.commandName ?? 'Unknown').replace(/Command$/, '')}`);
        return next(args);
      },
      { step: 'initialize', name: 'perdureRequestCounter' },
    );
  }

  /** Counts a request made without the SDK (the local stack's pollers, `cost-meter.ts`). */
  add(key: string, count = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + count);
  }

  reset(): void {
    this.counts.clear();
  }

  total(filter: (key: string) => boolean = () => true): number {
    return [...this.counts].filter(([key]) => filter(key)).reduce((sum, [, count]) => sum + count, 0);
  }
}
