import { DeleteItemCommand, GetItemCommand, PutItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ValidationError } from '../core/errors.js';
import type { Client } from '../client.js';
import type { DeadLetter, DeadLetterOperations, DeadLetterQueue } from '../ports.js';

export const DEAD_LETTER_QUEUES: readonly DeadLetterQueue[] = ['activities', 'orchestrations'];

type Item = Record<string, AttributeValue>;
const pk = (queue: DeadLetterQueue) => `DLQ#${queue}`;

/**
 * The dead letters, archived in the table by the DLQ handlers (which consume their queues: an activity
 * fails its call with a PoisonMessageError, an instance is quarantined). Redriving an activity sends the
 * task to the activity queue again (its result counts only if the instance has not applied the failure yet,
 * e.g. while it is suspended); redriving an orchestration resumes the quarantined instance.
 */
export class DynamoDbDeadLetters implements DeadLetterOperations {
  constructor(
    private readonly options: { dynamodb: DynamoDBClient; sqs: SQSClient; tableName: string; activityQueueUrl: string; client: Client },
  ) {}

  async archive(queue: DeadLetterQueue, entry: { messageId: string; instanceId: string; outcome: string; body: string; deadAt: number }): Promise<void> {
    await this.options.dynamodb.send(
      new PutItemCommand({
        TableName: this.options.tableName,
        Item: {
          PK: { S: pk(queue) },
          SK: { S: entry.messageId },
          instanceId: { S: entry.instanceId },
          outcome: { S: entry.outcome },
          body: { S: entry.body },
          deadAt: { N: String(entry.deadAt) },
        },
      }),
    );
  }

  async list(queue: DeadLetterQueue, options: { limit?: number; cursor?: string } = {}): Promise<{ deadLetters: DeadLetter[]; cursor?: string }> {
    checkQueue(queue);
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationError(`limit must be an integer from 1 to 1000, got ${JSON.stringify(options.limit)}.`);
    const page = await this.options.dynamodb.send(
      new QueryCommand({
        TableName: this.options.tableName,
        KeyConditionExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': { S: pk(queue) } },
        Limit: limit,
        ExclusiveStartKey: options.cursor ? (JSON.parse(Buffer.from(options.cursor, 'base64url').toString()) as Item) : undefined,
      }),
    );
    const deadLetters = (page.Items ?? []).map((item) => toDeadLetter(queue, item));
    return page.LastEvaluatedKey ? { deadLetters, cursor: Buffer.from(JSON.stringify(page.LastEvaluatedKey)).toString('base64url') } : { deadLetters };
  }

  async redrive(queue: DeadLetterQueue, messageId?: string): Promise<{ redriven: string[]; notFound: string[] }> {
    checkQueue(queue);
    const targets: DeadLetter[] = [];
    const notFound: string[] = [];
    if (messageId !== undefined) {
      const { Item } = await this.options.dynamodb.send(new GetItemCommand({ TableName: this.options.tableName, Key: { PK: { S: pk(queue) }, SK: { S: messageId } }, ConsistentRead: true }));
      if (Item) targets.push(toDeadLetter(queue, Item));
      else notFound.push(messageId);
    } else {
      let cursor: string | undefined;
      do {
        const page = await this.list(queue, { limit: 1000, cursor });
        targets.push(...page.deadLetters);
        cursor = page.cursor;
      } while (cursor);
    }
    const redriven: string[] = [];
    for (const deadLetter of targets) {
      if (queue === 'activities') {
        await this.options.sqs.send(new SendMessageCommand({ QueueUrl: this.options.activityQueueUrl, MessageBody: JSON.stringify(deadLetter.message) }));
      } else {
        const status = await this.options.client.getStatus(deadLetter.instanceId).catch(() => undefined);
        if (status?.status === 'Quarantined') await this.options.client.resume(deadLetter.instanceId);
      }
      await this.options.dynamodb.send(new DeleteItemCommand({ TableName: this.options.tableName, Key: { PK: { S: pk(queue) }, SK: { S: deadLetter.messageId } } }));
      redriven.push(deadLetter.messageId);
    }
    return { redriven, notFound };
  }
}

function checkQueue(queue: string): asserts queue is DeadLetterQueue {
  if (!DEAD_LETTER_QUEUES.includes(queue as DeadLetterQueue)) {
    throw new ValidationError(`Unknown dead-letter queue ${JSON.stringify(queue)}: use ${DEAD_LETTER_QUEUES.join(' or ')}.`);
  }
}

function toDeadLetter(queue: DeadLetterQueue, item: Item): DeadLetter {
  return {
    queue,
    messageId: item.SK!.S!,
    instanceId: item.instanceId!.S!,
    outcome: item.outcome!.S!,
    deadAt: new Date(Number(item.deadAt!.N)).toISOString(),
    message: JSON.parse(item.body!.S!) as unknown,
  };
}
