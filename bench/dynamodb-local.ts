/**
 * What DynamoDB Local's JVM and this process spend per request, by the kinds of request the instance store
 * makes: a record's conditional PutItem (a start), a chunk's (a step in the chain), the step's Query, a
 * GetItem, the two-item transaction of a status change in the chain, and the UpdateItems of an inline
 * history (architecture decision 39). 1,500 of each, eight in flight, after a warm-up; two rounds (the first
 * still warms the JIT). CPU is read from /proc (Linux).
 *
 * Run: npx tsx bench/dynamodb-local.ts
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand, TransactWriteItemsCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTable } from '../lib/aws/table.js';
import { startDynamoDbLocal } from '../lib/local/dynamodb-local.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const TABLE = 'bench-requests';
const N = 1_500;
const IN_FLIGHT = 8;

const dataDir = mkdtempSync(join(tmpdir(), 'perdure-ddb-bench-'));
const emulator = await startDynamoDbLocal({ dbPath: dataDir });
// The emulator's JVM is this process's child.
const jvm = Number(execSync(`ps -o pid=,comm= --ppid ${process.pid} | awk '$2 == "java" { print $1 }'`).toString().trim().split('\n')[0]);
/** CPU milliseconds the JVM used so far (utime + stime, in clock ticks of 10 ms). */
const jvmCpuMs = () => {
  const fields = readFileSync(`/proc/${jvm}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const client = new DynamoDBClient({ endpoint: emulator.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
await ensureTable(client, TABLE);

const rec = { S: JSON.stringify({ instanceId: 'i'.repeat(20), name: 'shipping', input: { orderId: 'abc', parcels: 3 }, status: 'Running', createdAt: Date.now(), updatedAt: Date.now(), revision: 3, lastEventId: 6 }) };
const events = { S: JSON.stringify(Array.from({ length: 3 }, (_, i) => ({ type: 'ActivityScheduled', taskId: i, name: 'work', input: { v: 'x'.repeat(40) }, attempt: 1, eventId: i + 1, timestamp: Date.now() }))) };
const chunk = { M: { f: { N: '1' }, l: { N: '3' }, c: { S: 'c'.repeat(16) }, ev: events } };
const pk = (run: string, i: number) => ({ S: `I#${run}-${i}` });

async function measure(label: string, request: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 200; i++) await request(N + i).catch(() => undefined);
  const jvmBefore = jvmCpuMs();
  const nodeBefore = process.cpuUsage();
  const began = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < N) await request(next++);
  }));
  const node = process.cpuUsage(nodeBefore);
  const seconds = (performance.now() - began) / 1000;
  console.log(`| ${label.padEnd(44)} | ${(N / seconds).toFixed(0).padStart(6)} | ${((jvmCpuMs() - jvmBefore) / N).toFixed(2).padStart(5)} | ${((node.user + node.system) / 1000 / N).toFixed(2).padStart(5)} |`);
}

console.log(`| request (${N}, ${IN_FLIGHT} in flight) | per second | JVM ms | Node ms |\n|---|---|---|---|`);
for (let round = 1; round <= 2; round++) {
  const run = `r${round}${Date.now().toString(36)}`;
  await measure('PutItem of a record, attribute_not_exists', (i) => client.send(new PutItemCommand({ TableName: TABLE, Item: { PK: pk(run, i), SK: { S: 'META' }, rec, status: { S: 'Pending' }, createdAt: { N: '1' }, name: { S: 'shipping' }, revision: { N: '1' }, h: { L: [] }, hl: { N: '0' } }, ConditionExpression: 'attribute_not_exists(PK)' })));
  await measure('PutItem of a chunk, attribute_not_exists', (i) => client.send(new PutItemCommand({ TableName: TABLE, Item: { PK: pk(run, i), SK: { S: 'H#r#000000#0000000001' }, last: { N: '3' }, ev: events }, ConditionExpression: 'attribute_not_exists(SK)' })));
  await measure('Query of a partition, newest first', (i) => client.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'PK = :pk AND SK > :from', ExpressionAttributeValues: { ':pk': pk(run, i), ':from': { S: 'H#' } }, ScanIndexForward: false, ConsistentRead: true })));
  await measure('GetItem of a record', (i) => client.send(new GetItemCommand({ TableName: TABLE, Key: { PK: pk(run, i), SK: { S: 'META' } }, ConsistentRead: true })));
  await measure('UpdateItem: a status change, inline history', (i) =>
    client.send(new UpdateItemCommand({
      TableName: TABLE,
      Key: { PK: pk(run, i), SK: { S: 'META' } },
      UpdateExpression: 'SET #h = list_append(#h, :chunk), #hl = :last, #rec = :rec, #status = :status, #revision = :next',
      ConditionExpression: '#hl = :after AND #revision = :revision',
      ExpressionAttributeNames: { '#h': 'h', '#hl': 'hl', '#rec': 'rec', '#status': 'status', '#revision': 'revision' },
      ExpressionAttributeValues: { ':chunk': { L: [chunk] }, ':last': { N: '3' }, ':rec': rec, ':status': { S: 'Running' }, ':next': { N: '2' }, ':after': { N: '0' }, ':revision': { N: '1' } },
    })),
  );
  await measure('UpdateItem: an append, inline history', (i) =>
    client.send(new UpdateItemCommand({
      TableName: TABLE,
      Key: { PK: pk(run, i), SK: { S: 'META' } },
      UpdateExpression: 'SET #h = list_append(#h, :chunk), #hl = :last',
      ConditionExpression: '#hl = :after AND #revision = :revision',
      ExpressionAttributeNames: { '#h': 'h', '#hl': 'hl', '#revision': 'revision' },
      ExpressionAttributeValues: { ':chunk': { L: [chunk] }, ':last': { N: '6' }, ':after': { N: '3' }, ':revision': { N: '2' } },
    })),
  );
  await measure('TransactWriteItems: a status change, chain', (i) =>
    client.send(new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName: TABLE, Item: { PK: pk(run, i), SK: { S: 'META' }, rec, status: { S: 'Completed' }, createdAt: { N: '1' }, name: { S: 'shipping' }, revision: { N: '3' } }, ConditionExpression: 'revision = :revision', ExpressionAttributeValues: { ':revision': { N: '2' } } } },
        { Put: { TableName: TABLE, Item: { PK: pk(run, i), SK: { S: 'H#r#000000#0000000004' }, last: { N: '6' }, ev: events }, ConditionExpression: 'attribute_not_exists(SK)' } },
      ],
    })),
  );
}
client.destroy();
await emulator.stop();
rmSync(dataDir, { recursive: true, force: true });
