import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { DynamoDbInstanceStore } from '../../lib/aws/dynamodb-store.js';
import { ensureTable } from '../../lib/aws/table.js';
import { startDynamoDbLocal, type RunningEmulator } from '../../lib/local/dynamodb-local.js';
import { MemoryBlobStore } from '../../lib/memory/memory-blob-store.js';
import { PayloadCodec } from '../../lib/runtime/payload-codec.js';
import { describeInstanceStoreContract } from './instance-store.contract.js';

let dynamo: RunningEmulator;
let client: DynamoDBClient;
const codec = new PayloadCodec(new MemoryBlobStore(), { inlineLimitBytes: 1_000 });

beforeAll(async () => {
  dynamo = await startDynamoDbLocal();
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  await ensureTable(client, 'perdure-contract');
  await ensureTable(client, 'perdure-contract-chain');
});
afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

// New instances keep a small history inside their record; larger ones, and records written before that, keep a chain of items.
describeInstanceStoreContract('DynamoDB (DynamoDB Local)', () => new DynamoDbInstanceStore({ client, tableName: 'perdure-contract', codec }), (value) => codec.load(value));
describeInstanceStoreContract('DynamoDB (DynamoDB Local), history in a chain from the start', () => new DynamoDbInstanceStore({ client, tableName: 'perdure-contract-chain', codec, inlineHistoryBytes: 0 }), (value) => codec.load(value));
