import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable, TABLE_SCHEMA } from '../../lib/aws/table.js';
import { startDynamoDbLocal, type RunningEmulator } from '../../lib/local/dynamodb-local.js';
import { startSqsS3Local, type RunningSqsS3 } from '../../lib/local/sqs-s3-local.js';
import { rawRequest } from './raw-http.js';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
/** An Authorization header of the shape DynamoDB Local checks (it does not verify signatures). */
const SIGNED = 'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0000';
const region = 'us-east-1';
const TABLE = 'perdure-test';

/** How a TCP connection to host:port ends: 'connected', or the error code (ECONNREFUSED when nothing listens there). */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
  });
}

const externalAddress = Object.values(networkInterfaces())
  .flat()
  .find((address) => address?.family === 'IPv4' && !address.internal)?.address;


describe('DynamoDB Local (embedded)', () => {
  let dynamo: RunningEmulator;
  let client: DynamoDBClient;
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-ddb-'));
  const connectClient = () => new DynamoDBClient({ endpoint: dynamo.endpoint, region, credentials, maxAttempts: 1 });

  beforeAll(async () => {
    dynamo = await startDynamoDbLocal({ dbPath: dataDir });
    client = connectClient();
  });
  afterAll(async () => {
    client?.destroy();
    await dynamo?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves on 127.0.0.1 at the port it reports', () => {
    expect(dynamo.endpoint).toBe(`http://127.0.0.1:${dynamo.port}`);
    expect(dynamo.port).toBeGreaterThan(0);
  });

  it('creates a table with a global secondary index and queries the index', async () => {
    await ensureTable(client, TABLE);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: TABLE }));
    expect(Table?.GlobalSecondaryIndexes?.map((index) => [index.IndexName, index.IndexStatus])).toEqual([[TABLE_SCHEMA.statusIndex, 'ACTIVE']]);
    await client.send(new PutItemCommand({ TableName: TABLE, Item: { PK: { S: 'I#gsi' }, SK: { S: 'META' }, status: { S: 'Running' }, createdAt: { N: '42' }, name: { S: 'order' }, record: { S: '{}' } } }));
    const { Items } = await client.send(
      new QueryCommand({ TableName: TABLE, IndexName: TABLE_SCHEMA.statusIndex, KeyConditionExpression: '#s = :s', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':s': { S: 'Running' } } }),
    );
    expect(Items?.map((item) => item.PK?.S)).toEqual(['I#gsi']);
    // The index projects the keys and the name only.
    expect(Object.keys(Items![0]!).sort()).toEqual(['PK', 'SK', 'createdAt', 'name', 'status']);
  });

  it('rejects a conditional put (attribute_not_exists) of an existing key', async () => {
    const put = () => client.send(new PutItemCommand({ TableName: TABLE, Item: { PK: { S: 'a' }, SK: { S: 'META' }, revision: { N: '1' } }, ConditionExpression: 'attribute_not_exists(PK)' }));
    await put();
    await expect(put()).rejects.toBeInstanceOf(ConditionalCheckFailedException);
  });

  it('cancels a whole transaction whose condition check fails, with a reason per action', async () => {
    const error = await client
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: TABLE, Item: { PK: { S: 'b' }, SK: { S: 'H#1' } } } },
            { ConditionCheck: { TableName: TABLE, Key: { PK: { S: 'a' }, SK: { S: 'META' } }, ConditionExpression: 'revision = :r', ExpressionAttributeValues: { ':r': { N: '7' } } } },
          ],
        }),
      )
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransactionCanceledException);
    expect((error as TransactionCanceledException).CancellationReasons?.map((reason) => reason.Code)).toEqual(['None', 'ConditionalCheckFailed']);
    // Nothing of a cancelled transaction is written.
    expect((await client.send(new GetItemCommand({ TableName: TABLE, Key: { PK: { S: 'b' }, SK: { S: 'H#1' } }, ConsistentRead: true }))).Item).toBeUndefined();
  });

  it('pages a query with Limit and ExclusiveStartKey', async () => {
    for (let i = 0; i < 5; i++) await client.send(new PutItemCommand({ TableName: TABLE, Item: { PK: { S: 'paged' }, SK: { S: `H#${i}` } } }));
    const query = (ExclusiveStartKey?: QueryCommand['input']['ExclusiveStartKey']) =>
      client.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': { S: 'paged' } }, Limit: 3, ExclusiveStartKey }));
    const first = await query();
    expect(first.Items).toHaveLength(3);
    expect(first.LastEvaluatedKey).toEqual({ PK: { S: 'paged' }, SK: { S: 'H#2' } });
    const second = await query(first.LastEvaluatedKey);
    expect([...first.Items!, ...second.Items!].map((item) => item.SK!.S)).toEqual(['H#0', 'H#1', 'H#2', 'H#3', 'H#4']);
    expect(second.LastEvaluatedKey).toBeUndefined();
  });

  it.runIf(externalAddress)(`listens on 127.0.0.1 only (refused on ${externalAddress})`, async () => {
    expect(await tryConnect(externalAddress!, dynamo.port)).toBe('ECONNREFUSED');
    expect(await tryConnect('127.0.0.1', dynamo.port)).toBe('connected');
  });

  it('refuses a request under another Host name (DNS rebinding) or from a browser, before DynamoDB Local reads it', async () => {
    const listTables = (headers: Record<string, string>) =>
      rawRequest(dynamo.endpoint, 'POST', { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables', authorization: SIGNED, ...headers }, '{}');
    expect((await listTables({})).status).toBe(200);
    expect((await listTables({ host: `localhost:${dynamo.port}` })).status).toBe(200);
    const foreign: Record<string, string>[] = [{ host: `rebind.attacker.example:${dynamo.port}` }, { host: '127.0.0.1:1' }, { origin: 'http://evil.example' }, { 'sec-fetch-site': 'same-site' }];
    for (const headers of foreign) {
      const refused = await listTables(headers);
      expect(refused.status).toBe(403);
      expect(refused.body).not.toContain(TABLE);
    }
  });

  it('keeps its tables and items on disk (dbPath) across a stop and a start', async () => {
    const port = dynamo.port;
    client.destroy();
    await dynamo.stop();
    expect(await tryConnect('127.0.0.1', port)).toBe('ECONNREFUSED'); // stop() waited for the process to exit
    dynamo = await startDynamoDbLocal({ dbPath: dataDir, port });
    expect(dynamo.port).toBe(port);
    client = connectClient();
    expect((await client.send(new ListTablesCommand({}))).TableNames).toContain(TABLE);
    expect((await client.send(new GetItemCommand({ TableName: TABLE, Key: { PK: { S: 'a' }, SK: { S: 'META' } } }))).Item?.revision).toEqual({ N: '1' });
  });
});

describe('DynamoDB Local and the temporary folder', () => {
  it('leaves nothing in the system temporary folder after a start and a stop', async () => {
    // The JVM ignores TMPDIR: JAVA_TOOL_OPTIONS points its default temporary folder at the same fresh folder.
    const systemTmp = mkdtempSync(join(tmpdir(), 'perdure-system-tmp-'));
    const saved = { TMPDIR: process.env.TMPDIR, JAVA_TOOL_OPTIONS: process.env.JAVA_TOOL_OPTIONS };
    Object.assign(process.env, { TMPDIR: systemTmp, JAVA_TOOL_OPTIONS: `-Djava.io.tmpdir=${systemTmp}` });
    try {
      const dynamo = await startDynamoDbLocal();
      const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region, credentials, maxAttempts: 1 });
      await ensureTable(client, TABLE); // SQLite is loaded and used
      client.destroy();
      await dynamo.stop();
      expect(readdirSync(systemTmp)).toEqual([]);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      rmSync(systemTmp, { recursive: true, force: true });
    }
  });
});

describe('fauxqs SQS and S3 (embedded)', () => {
  let emulator: RunningSqsS3;
  let sqs: SQSClient;
  let s3: S3Client;
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-s3-'));
  const connectClients = () => {
    sqs = new SQSClient({ endpoint: emulator.endpoint, region, credentials, maxAttempts: 1 });
    s3 = new S3Client({ endpoint: emulator.endpoint, region, credentials, maxAttempts: 1, forcePathStyle: true });
  };
  const restart = async () => {
    sqs.destroy();
    s3.destroy();
    await emulator.stop();
    emulator = await startSqsS3Local({ dataDir, port: emulator.port });
    connectClients();
  };
  const queueArn = async (QueueUrl: string | undefined) =>
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const getBytes = async (Bucket: string, Key: string) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray());

  beforeAll(async () => {
    emulator = await startSqsS3Local({ dataDir });
    connectClients();
  });
  afterAll(async () => {
    sqs?.destroy();
    s3?.destroy();
    await emulator?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves a FIFO queue as SQS does: deduplication within the window, a group’s waiting messages in one receive, in order, and none while some are in flight', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'doorbells.fifo', Attributes: { FifoQueue: 'true' } }));
    const send = (body: string, dedup: string, group = 'instance-1') => sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: dedup }));
    const receive = async () => (await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }))).Messages ?? [];
    await send('1', 'd1');
    const second = await send('2', 'd2');
    const duplicate = await send('2 again', 'd2');
    expect(duplicate.MessageId).toBe(second.MessageId); // accepted, but not enqueued again
    await send('other', 'd3', 'instance-2');
    const first = await receive();
    expect(first.map((message) => message.Body)).toEqual(['1', '2', 'other']);
    // While messages of a group are in flight, the group yields nothing else, even what arrived since.
    await send('3', 'd4');
    expect(await receive()).toEqual([]);
    for (const message of first) await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }));
    expect((await receive()).map((message) => message.Body)).toEqual(['3']);
  });

  it('moves a message to the dead-letter queue after maxReceiveCount (2) receives without a delete', async () => {
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: 'tasks-dlq' }));
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: 'tasks', Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(dlq.QueueUrl), maxReceiveCount: 2 }) } }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'poison' }));
    for (const count of ['1', '2']) {
      // VisibilityTimeout 0: visible again at once, as if the consumer had failed.
      const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 0, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
      expect(Messages?.map((message) => [message.Body, message.Attributes?.ApproximateReceiveCount])).toEqual([['poison', count]]);
    }
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl }))).Messages ?? []).toEqual([]);
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.QueueUrl }))).Messages?.map((message) => message.Body)).toEqual(['poison']);
  });

  it('delays delivery by DelaySeconds', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'timers' }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'later', DelaySeconds: 1 }));
    // A long poll returns it once it is due; its own timestamps say how long it was held back, however busy the machine.
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 10, MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateFirstReceiveTimestamp'] }));
    expect(Messages?.map((message) => message.Body)).toEqual(['later']);
    const { SentTimestamp, ApproximateFirstReceiveTimestamp } = Messages![0]!.Attributes!;
    expect(Number(ApproximateFirstReceiveTimestamp) - Number(SentTimestamp)).toBeGreaterThanOrEqual(1_000);
  });

  it('finds where the messages holding a text are: waiting, in flight (with its receives) or delayed, FIFO or not', async () => {
    const plain = await sqs.send(new CreateQueueCommand({ QueueName: 'find-plain' }));
    const fifo = await sqs.send(new CreateQueueCommand({ QueueName: 'find.fifo', Attributes: { FifoQueue: 'true' } }));
    await sqs.send(new SendMessageCommand({ QueueUrl: plain.QueueUrl, MessageBody: '{"instanceId":"i-1","task":1}' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: plain.QueueUrl, MessageBody: '{"instanceId":"i-1","task":2}', DelaySeconds: 60 }));
    await sqs.send(new SendMessageCommand({ QueueUrl: plain.QueueUrl, MessageBody: '{"instanceId":"i-2"}' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: fifo.QueueUrl, MessageBody: '{"instanceId":"i-1","doorbell":1}', MessageGroupId: 'i-1', MessageDeduplicationId: 'd1' }));
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: fifo.QueueUrl, VisibilityTimeout: 30 }));
    expect(Messages).toHaveLength(1);
    const found = emulator.findMessages('"instanceId":"i-1"').sort();
    expect(found).toHaveLength(3);
    expect(found[0]).toMatch(/^find-plain: delayed for (59|60)(\.\d)? s more, received 0 time\(s\), \{"instanceId":"i-1","task":2\}$/);
    expect(found[1]).toBe('find-plain: waiting, received 0 time(s), {"instanceId":"i-1","task":1}');
    expect(found[2]).toMatch(/^find\.fifo: in flight for (29|30)(\.\d)? s more, received 1 time\(s\), \{"instanceId":"i-1","doorbell":1\}$/);
  });

  it('sends a batch of 10 and delivers all of them', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'activities' }));
    const batch = await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `${i}` })) }));
    expect(batch.Successful).toHaveLength(10);
    expect(batch.Failed ?? []).toEqual([]);
    const bodies: string[] = [];
    for (let attempt = 0; attempt < 10 && bodies.length < 10; attempt++) {
      const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }));
      bodies.push(...(Messages ?? []).map((message) => message.Body!));
    }
    expect(bodies.sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 10 }, (_, i) => `${i}`));
  });

  it('round-trips a 5 MB object byte for byte, lists by prefix and deletes', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'payloads' }));
    const body = randomBytes(5 * 1024 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-1/big', Body: body }));
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-2/small', Body: 'x' }));
    expect((await getBytes('payloads', 'payloads/i-1/big')).equals(body)).toBe(true);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'payloads', Prefix: 'payloads/i-1/' }));
    expect(listed.Contents?.map((object) => [object.Key, object.Size])).toEqual([['payloads/i-1/big', body.length]]);

    await s3.send(new DeleteObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-1/big' }));
    await expect(s3.send(new GetObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-1/big' }))).rejects.toBeInstanceOf(NoSuchKey);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'payloads', Prefix: 'payloads/' }))).Contents?.map((object) => object.Key)).toEqual(['payloads/i-2/small']);
  });

  it('keeps S3 objects (not SQS queues) in dataDir across a restart, keys longer than a file name included', async () => {
    const longKey = `payloads/${'i:'.repeat(100)}/${'f'.repeat(64)}`; // ~400 characters once URL-encoded
    const body = randomBytes(64 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: longKey, Body: body, ContentType: 'application/x-perdure' }));
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-3/gone', Body: 'deleted before the restart' }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-3/gone' }));
    // An object in the layout of the first version of the disk store (encoded key + .meta.json) is migrated.
    const legacyDir = join(dataDir, 'legacy');
    mkdirSync(legacyDir);
    writeFileSync(join(legacyDir, encodeURIComponent('payloads/old/1')), 'old');
    writeFileSync(join(legacyDir, `${encodeURIComponent('payloads/old/1')}.meta.json`), JSON.stringify({ contentType: 'text/plain', metadata: {} }));

    await restart();
    const keys = async (Bucket: string) => (await s3.send(new ListObjectsV2Command({ Bucket }))).Contents?.map((object) => object.Key);
    expect(await keys('payloads')).toEqual([longKey, 'payloads/i-2/small'].sort());
    const got = await s3.send(new GetObjectCommand({ Bucket: 'payloads', Key: longKey }));
    expect(got.ContentType).toBe('application/x-perdure');
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(await keys('legacy')).toEqual(['payloads/old/1']);
    expect((await getBytes('legacy', 'payloads/old/1')).toString()).toBe('old');
    expect(readdirSync(legacyDir).every((name) => /^[0-9a-f]{64}(\.json)?$/.test(name))).toBe(true);
    // Queues are in memory only.
    await expect(sqs.send(new GetQueueAttributesCommand({ QueueUrl: `${emulator.endpoint}/000000000000/timers`, AttributeNames: ['QueueArn'] }))).rejects.toThrow();
  });

  it('refuses a request under another Host name (DNS rebinding, virtual-hosted buckets) or from a browser, on S3 and SQS', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'payloads' }));
    await s3.send(new PutObjectCommand({ Bucket: 'payloads', Key: 'payloads/i-9/secret', Body: 'the payload' }));
    const port = emulator.port;
    const refused = [
      await rawRequest(`${emulator.endpoint}/payloads/payloads/i-9/secret`, 'GET', { host: `rebind.attacker.example:${port}` }),
      await rawRequest(`${emulator.endpoint}/payloads/i-9/secret`, 'GET', { host: `payloads.attacker.example:${port}` }),
      await rawRequest(`${emulator.endpoint}/payloads/payloads/i-9/secret`, 'GET', { 'sec-fetch-site': 'cross-site' }),
      await rawRequest(`${emulator.endpoint}/payloads`, 'POST', { origin: 'http://evil.example', 'content-type': 'text/plain' }, '<Delete><Object><Key>payloads/i-9/secret</Key></Object></Delete>'),
      await rawRequest(`${emulator.endpoint}/`, 'POST', { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, 'Action=ListQueues'),
    ];
    for (const response of refused) {
      expect(response.status).toBe(403);
      expect(response.body).not.toContain('the payload');
    }
    expect((await getBytes('payloads', 'payloads/i-9/secret')).toString()).toBe('the payload');
  });

  it.runIf(externalAddress)(`listens on 127.0.0.1 only (refused on ${externalAddress})`, async () => {
    expect(await tryConnect(externalAddress!, emulator.port)).toBe('ECONNREFUSED');
    expect(await tryConnect('127.0.0.1', emulator.port)).toBe('connected');
  });
});
