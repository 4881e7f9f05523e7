import type { AttributeValue, DynamoDBClient, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { UsageMeter } from '../ports.js';
import { addClientMiddleware } from './client-middleware.js';
import { itemBytes, putUnits, transactionUnits } from './write-pacing.js';

type Item = Record<string, AttributeValue>;
type Middleware<I, O> = (next: (args: { input: I }) => Promise<{ output: O }>, context: { commandName?: string }) => (args: { input: I }) => Promise<{ output: O }>;

/** The parts of DynamoDB requests and responses the meter reads. */
interface DynamoDbInput {
  Item?: Item;
  Key?: Item;
  ExpressionAttributeValues?: Item;
  TransactItems?: TransactWriteItem[];
  RequestItems?: Record<string, { PutRequest?: { Item?: Item } }[]>;
  ConsistentRead?: boolean;
}
interface DynamoDbOutput {
  Item?: Item;
  Items?: Item[];
  Responses?: Record<string, Item[]>;
}

/**
 * Inputs of requests their caller counted itself: the store's history commits and instance creations, which
 * write their own cost into the item they put, so it must be known before the request is sent.
 */
const accounted = new WeakSet<object>();

/** Marks a request's input as counted by its caller: the meter leaves it out. */
export function countedByCaller<T extends object>(input: T): T {
  accounted.add(input);
  return input;
}

/** Read units of a strongly consistent read: one per started 4 KB of what it returned (at least one). */
function readUnits(items: Item[], consistent: boolean): number {
  const bytes = items.reduce((sum, item) => sum + itemBytes(item), 0);
  return (consistent ? 1 : 0.5) * Math.max(1, Math.ceil(bytes / 4096));
}

/** Write units of a request, from the sizes of the items it writes (DynamoDB's rule; old item sizes are not known here). */
function writeUnits(operation: string, input: DynamoDbInput): number {
  switch (operation) {
    case 'PutItem':
      return putUnits(input.Item ?? {});
    case 'TransactWriteItems':
      return transactionUnits(input.TransactItems ?? []);
    case 'UpdateItem':
      return putUnits({ ...input.Key, ...input.ExpressionAttributeValues });
    case 'DeleteItem':
      return 1;
    case 'BatchWriteItem':
      return Object.values(input.RequestItems ?? {}).reduce((sum, requests) => sum + requests.reduce((units, request) => units + (request.PutRequest ? putUnits(request.PutRequest.Item ?? {}) : 1), 0), 0);
    default:
      return 0;
  }
}

function addMiddleware<I, O>(client: DynamoDBClient | SQSClient | S3Client, name: string, middleware: Middleware<I, O>): void {
  addClientMiddleware(client, middleware, { step: 'initialize', name });
}

/**
 * Reports every request the runtime's AWS clients make to `meter`, by service and operation: DynamoDB with
 * the request units estimated from the items written and read, S3 with the bytes put and got. SQS sends are
 * left out: each message's send is paid by the instance it is about, when it is received (the queue handlers
 * count it), since one SendMessageBatch may carry the messages of several instances.
 */
export function meterClients(clients: { dynamodb: DynamoDBClient; sqs: SQSClient; s3: S3Client }, meter: UsageMeter): void {
  const operationOf = (context: { commandName?: string }) => (context.commandName ?? 'Unknown').replace(/Command$/, '');
  addMiddleware<DynamoDbInput, DynamoDbOutput>(clients.dynamodb, 'perdureUsageMeter', (next, context) => async (args) => {
    const operation = operationOf(context);
    if (accounted.has(args.input)) return next(args);
    let result: { output: DynamoDbOutput } | undefined;
    try {
      result = await next(args);
      return result;
    } finally {
      // A conditional write that fails still consumes its units; a failed read is not counted.
      const wru = writeUnits(operation, args.input);
      let rru = 0;
      if (result && (operation === 'Query' || operation === 'GetItem' || operation === 'Scan')) {
        const items: Item[] = operation === 'GetItem' ? (result.output.Item ? [result.output.Item] : []) : (result.output.Items ?? []);
        rru = readUnits(items, args.input.ConsistentRead === true);
      } else if (result && operation === 'BatchGetItem') {
        rru = Object.values(result.output.Responses ?? {}).reduce((sum, items) => sum + items.reduce((units, item) => units + readUnits([item], true), 0), 0);
      }
      meter.request('DynamoDB', operation, { ...(wru ? { wru } : {}), ...(rru ? { rru } : {}) });
    }
  });
  addMiddleware<{ QueueUrl?: string }, unknown>(clients.sqs, 'perdureUsageMeter', (next, context) => async (args) => {
    const operation = operationOf(context);
    if (operation !== 'SendMessage' && operation !== 'SendMessageBatch') meter.request(String(args.input.QueueUrl ?? '').endsWith('.fifo') ? 'SQS-FIFO' : 'SQS', operation);
    return next(args);
  });
  addMiddleware<{ Body?: { byteLength?: number } | string }, { ContentLength?: number }>(clients.s3, 'perdureUsageMeter', (next, context) => async (args) => {
    const operation = operationOf(context);
    const result = await next(args);
    const body = args.input.Body;
    const put = operation === 'PutObject' ? (typeof body === 'string' ? Buffer.byteLength(body) : (body?.byteLength ?? 0)) : 0;
    const got = operation === 'GetObject' ? Number(result.output.ContentLength ?? 0) : 0;
    meter.request('S3', operation, { ...(put ? { s3PutBytes: put } : {}), ...(got ? { s3GetBytes: got } : {}) });
    return result;
  });
}
