import { DynamoDBClient, ListTablesCommand, PutItemCommand, QueryCommand, TransactWriteItemsCommand, TransactionCanceledException, ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable } from '../../lib/aws/table.js';
import { startDynamoDbLocal, type RunningEmulator } from '../../lib/local/dynamodb-local.js';
import { startSqsS3Local } from '../../lib/local/sqs-s3-local.js';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const region = 'us-east-1';

function refusesOn(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
    socket.once('timeout', () => (socket.destroy(), resolve(true)));
  });
}

const externalAddress = Object.values(networkInterfaces())
  .flat()
  .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

describe('DynamoDB Local (embedded)', () => {
  let dynamo: RunningEmulator;
  let client: DynamoDBClient;
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-ddb-'));

  beforeAll(async () => {
    dynamo = await startDynamoDbLocal({ dbPath: dataDir });
    client = new DynamoDBClient({ endpoint: dynamo.endpoint, region, credentials, maxAttempts: 1 });
    await ensureTable(client, 'perdure-test');
  });
  afterAll(async () => {
    await dynamo?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('rejects a conditional put of an existing key', async () => {
    const put = () => client.send(new PutItemCommand({ TableName: 'perdure-test', Item: { PK: { S: 'a' }, SK: { S: 'META' } }, ConditionExpression: 'attribute_not_exists(PK)' }));
    await put();
    await expect(put()).rejects.toBeInstanceOf(ConditionalCheckFailedException);
  });

  it('cancels a transaction whose condition fails, with a reason per item', async () => {
    const error = await client
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: 'perdure-test', Item: { PK: { S: 'b' }, SK: { S: 'H#1' } } } },
            { ConditionCheck: { TableName: 'perdure-test', Key: { PK: { S: 'a' }, SK: { S: 'META' } }, ConditionExpression: 'revision = :r', ExpressionAttributeValues: { ':r': { N: '7' } } } },
          ],
        }),
      )
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransactionCanceledException);
    expect((error as TransactionCanceledException).CancellationReasons?.map((reason) => reason.Code)).toEqual(['None', 'ConditionalCheckFailed']);
  });

  it('pages a query with Limit and ExclusiveStartKey', async () => {
    for (let i = 0; i < 5; i++) await client.send(new PutItemCommand({ TableName: 'perdure-test', Item: { PK: { S: 'paged' }, SK: { S: `H#${i}` } } }));
    const first = await client.send(new QueryCommand({ TableName: 'perdure-test', KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': { S: 'paged' } }, Limit: 3 }));
    const second = await client.send(
      new QueryCommand({ TableName: 'perdure-test', KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': { S: 'paged' } }, Limit: 3, ExclusiveStartKey: first.LastEvaluatedKey }),
    );
    expect([...first.Items!, ...second.Items!].map((item) => item.SK!.S)).toEqual(['H#0', 'H#1', 'H#2', 'H#3', 'H#4']);
  });

  it('keeps its tables on disk across a restart', async () => {
    await dynamo.stop();
    dynamo = await startDynamoDbLocal({ dbPath: dataDir, port: dynamo.port });
    client = new DynamoDBClient({ endpoint: dynamo.endpoint, region, credentials, maxAttempts: 1 });
    expect((await client.send(new ListTablesCommand({}))).TableNames).toContain('perdure-test');
  });

  it.runIf(externalAddress)('listens on 127.0.0.1 only', async () => {
    expect(await refusesOn(externalAddress!, dynamo.port)).toBe(true);
    expect(await refusesOn('127.0.0.1', dynamo.port)).toBe(false);
  });
});

describe('fauxqs SQS and S3 (embedded)', () => {
  let emulator: RunningEmulator;
  let sqs: SQSClient;
  let s3: S3Client;
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-s3-'));

  beforeAll(async () => {
    emulator = await startSqsS3Local({ dataDir });
    sqs = new SQSClient({ endpoint: emulator.endpoint, region, credentials, maxAttempts: 1 });
    s3 = new S3Client({ endpoint: emulator.endpoint, region, credentials, maxAttempts: 1, forcePathStyle: true });
  });
  const restart = async () => {
    await emulator.stop();
    emulator = await startSqsS3Local({ dataDir, port: emulator.port });
    s3 = new S3Client({ endpoint: emulator.endpoint, region, credentials, maxAttempts: 1, forcePathStyle: true });
  };
  afterAll(async () => {
    await emulator?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves a FIFO queue with deduplication and in-group order', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'doorbells.fifo', Attributes: { FifoQueue: 'true' } }));
    for (const body of ['1', '2', '2']) {
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body, MessageGroupId: 'instance-1', MessageDeduplicationId: `d${body}` }));
    }
    const bodies: string[] = [];
    for (let i = 0; i < 3; i++) {
      // While a message of the group is in flight, the group yields nothing else: one instance, one step at a time.
      const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }));
      for (const message of received.Messages ?? []) {
        bodies.push(message.Body!);
        await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }));
      }
    }
    expect(bodies).toEqual(['1', '2']);
  });

  it('moves a message to the dead-letter queue after maxReceiveCount receives', async () => {
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: 'tasks-dlq' }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }));
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: 'tasks', Attributes: { VisibilityTimeout: '0', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: 2 }) } }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'poison' }));
    for (let i = 0; i < 2; i++) expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl }))).Messages?.[0]?.Body).toBe('poison');
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl }))).Messages ?? []).toEqual([]);
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.QueueUrl }))).Messages?.[0]?.Body).toBe('poison');
  });

  it('delays a message by DelaySeconds and sends batches of 10', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'timers' }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'later', DelaySeconds: 1 }));
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl }))).Messages ?? []).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl }))).Messages?.[0]?.Body).toBe('later');
    const batch = await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `${i}` })) }));
    expect(batch.Successful).toHaveLength(10);
  });

  it('round-trips a 5 MB object byte for byte, lists by prefix, deletes, and keeps objects across a restart', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'payloads' }));
    const body = Buffer.alloc(5 * 1024 * 1024, 'perdure');
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-1/big', Body: body }));
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-2/small', Body: 'x' }));
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-1/big' }))).Body!.transformToByteArray());
    expect(got.equals(body)).toBe(true);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'payloads', Prefix: 'payloads/i-1/' }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['payloads/i-1/big']);

    await restart();
    const again = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-1/big' }))).Body!.transformToByteArray());
    expect(again.equals(body)).toBe(true);
    await s3.send(new DeleteObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-1/big' }));
    await restart();
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'payloads' }))).Contents?.map((o) => o.Key)).toEqual(['payloads/i-2/small']);
  });

  it.runIf(externalAddress)('listens on 127.0.0.1 only', async () => {
    expect(await refusesOn(externalAddress!, emulator.port)).toBe(true);
  });
});
