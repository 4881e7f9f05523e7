import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbInstanceStore } from '../../lib/aws/dynamodb-store.js';
import { ensureTable } from '../../lib/aws/table.js';
import { numberEvents, type HistoryEvent } from '../../lib/core/history-events.js';
import { emptyLedger } from '../../lib/core/cost-ledger.js';
import { createApp, silentLogger } from '../../lib/index.js';
import { startDynamoDbLocal, type RunningEmulator } from '../../lib/local/dynamodb-local.js';
import { MemoryBlobStore } from '../../lib/memory/memory-blob-store.js';
import { MemoryWorkQueues } from '../../lib/memory/memory-queues.js';
import { VirtualClock } from '../../lib/memory/virtual-clock.js';
import type { InboxMessage, InstanceRecord, StepCommit } from '../../lib/ports.js';
import { OrchestrationWorker } from '../../lib/runtime/orchestration-worker.js';
import { PayloadCodec } from '../../lib/runtime/payload-codec.js';

/**
 * What only the DynamoDB store has: history keyed by incarnation (an id reused after its record expired),
 * the commit id that makes a retried PutItem count as committed, records written by an earlier Perdure,
 * and the stored bytes (not the JSON) deciding what leaves an item.
 */
type Item = Record<string, AttributeValue>;
const TABLE = 'perdure-history';
let dynamo: RunningEmulator;
let client: DynamoDBClient;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

beforeAll(async () => {
  dynamo = await startDynamoDbLocal();
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  await ensureTable(client, TABLE);
});
afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

const record = (instanceId: string, overrides: Partial<InstanceRecord> = {}): InstanceRecord => ({
  instanceId,
  name: 'order',
  version: '1',
  status: 'Pending',
  generation: 0,
  input: { orderId: instanceId },
  createdAt: Date.now(),
  updatedAt: Date.now(),
  lastEventId: 0,
  revision: 0,
  ...overrides,
});
const start = (input: unknown): InboxMessage => ({ messageId: 'start#0', generation: 0, receivedAt: Date.now(), event: { type: 'ExecutionStarted', name: 'order', version: '1', input } });
/** Text that does not compress: the store deflates a step's events, and a filler that compressed would fit where a test needs it not to. */
const noise = (chars: number) => randomBytes(chars).toString('base64').slice(0, chars);
const NOISE_1200 = noise(1_200);
const scheduled = (count: number, from: number, input: unknown = 'x') =>
  numberEvents(Array.from({ length: count }, (_, i) => ({ type: 'ActivityScheduled' as const, taskId: from + i + 1, name: 'work', input, attempt: 1, idempotencyKey: `k${from + i}` })), from, Date.now());
const items = async (instanceId: string): Promise<Item[]> =>
  (await client.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': { S: `I#${instanceId}` } }, ConsistentRead: true }))).Items ?? [];
const plain = (events: HistoryEvent[], codec: PayloadCodec) => Promise.all(events.map(async (event) => ('input' in event ? { ...event, input: await codec.load(event.input) } : event)));
/**
 * A client whose `command` response is lost whenever `lose` says so, inside the SDK's retry loop (the deserialize
 * step wraps each send): the request took effect, and the SDK sends it again.
 */
const losingClient = (command: string, lose: () => boolean | Promise<boolean>) => {
  const retrying = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials, maxAttempts: 3 });
  retrying.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === command && (await lose())) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET', $metadata: {} });
      return result;
    },
    { step: 'deserialize', name: 'loseResponse' },
  );
  return retrying;
};

describe('the DynamoDB store, beyond the contract', () => {
  // Both layouts of a history: inside the record (a new instance's, while it is small) and a chain of items.
  const layouts = [
    { layout: 'inline', inlineHistoryBytes: 2048 },
    { layout: 'chain', inlineHistoryBytes: 0 },
  ];

  it.each(layouts)('starts a reused id afresh after its record expired: the new incarnation never reads the old history ($layout)', async ({ layout, inlineHistoryBytes }) => {
    const codec = new PayloadCodec(new MemoryBlobStore());
    const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec, inlineHistoryBytes });
    const id = `reused-${layout}-${Date.now()}`;
    await store.createInstance(record(id, { createdAt: Date.now() - 60_000 }), start('first life'));
    const first = (await store.loadStep(id))!;
    await store.commitStep(id, { generation: 0, afterEventId: 0, append: scheduled(3, 0), consumed: ['start#0'], enqueue: [], expectedRevision: 0, incarnation: first.instance.incarnation, instance: { ...first.instance, status: 'Completed', revision: 1, lastEventId: 3 } });
    // TTL removes the record first (history items live longer): stand in for it by deleting the record.
    await client.send(new DeleteItemCommand({ TableName: TABLE, Key: { PK: { S: `I#${id}` }, SK: { S: 'META' } } }));
    await store.createInstance(record(id), start('second life'));
    const second = (await store.loadStep(id))!;
    expect(second.instance.incarnation).not.toBe(first.instance.incarnation);
    expect(second.history).toEqual([]);
    expect(await codec.load(second.inbox[0]!.event.type === 'ExecutionStarted' ? second.inbox[0]!.event.input : undefined)).toBe('second life');
    // Its first step appends at position 1 of its own history, beside the old chunks.
    expect(await store.commitStep(id, { generation: 0, afterEventId: 0, append: scheduled(1, 0), consumed: ['start#0'], enqueue: [], expectedRevision: 0, incarnation: second.instance.incarnation, instance: { ...second.instance, status: 'Running', revision: 1, lastEventId: 1 } })).toBe('committed');
    expect((await store.loadStep(id))!.history).toHaveLength(1);
    // An inline history went with its record; chain items outlive it, keyed by their incarnation.
    const chained = (await items(id)).filter((item) => item.SK!.S!.startsWith('H#')).map((item) => item.SK!.S!.split('#')[1]);
    expect(chained).toEqual(layout === 'chain' ? [first.instance.incarnation, second.instance.incarnation].sort() : []);
    // Every item of an instance expires: history, inbox and record (once finished).
    for (const item of await items(id)) if (item.SK!.S !== 'META') expect(Number(item.ttl?.N)).toBeGreaterThan(Date.now() / 1000 + 365 * 86_400);
  });

  it("keeps a call's heartbeat details in an item a step's read never scans, expiring as the instance's other items do", async () => {
    const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec: new PayloadCodec(new MemoryBlobStore()) });
    const id = `beats-${Date.now()}`;
    await store.createInstance(record(id), start('beating'));
    const scanned: number[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'QueryCommand') scanned.push((result.output as { ScannedCount?: number }).ScannedCount ?? -1);
        return result;
      },
      { step: 'initialize', name: 'countScanned' },
    );
    try {
      await store.loadStep(id);
      await store.recordHeartbeat(id, `${id}:0:1`, { attempt: 1, at: 1_000, details: { cursor: 'x'.repeat(3_000) } });
      await store.loadStep(id);
    } finally {
      client.middlewareStack.remove('countScanned');
    }
    // The record alone, before and after: the heartbeat item sorts below the step's range.
    expect(scanned).toEqual([1, 1]);
    const beat = (await items(id)).find((item) => item.SK!.S!.startsWith('BEAT#'))!;
    expect(beat.SK!.S).toBe(`BEAT#${id}:0:1`);
    expect(Number(beat.ttl?.N)).toBeGreaterThan(Date.now() / 1000 + 365 * 86_400);
  });

  it.each(layouts)('counts a one-write commit whose response was lost and retried by the SDK as committed, not as a conflict ($layout)', async ({ layout, inlineHistoryBytes }) => {
    const codec = new PayloadCodec(new MemoryBlobStore());
    const write = layout === 'chain' ? 'PutItemCommand' : 'UpdateItemCommand';
    let lost = 0;
    // The first write of the step takes effect, then its response is lost.
    const retrying = losingClient(write, () => lost++ === 0);
    try {
      const store = new DynamoDbInstanceStore({ client: retrying, tableName: TABLE, codec, inlineHistoryBytes });
      const id = `retried-${layout}-${Date.now()}`;
      await client.send(new PutItemCommand({ TableName: TABLE, Item: { PK: { S: 'warm-up' }, SK: { S: 'x' } } }));
      lost = 1; // the create and the first step are not the write under test
      await store.createInstance(record(id), start('in'));
      const state = (await store.loadStep(id))!;
      await store.commitStep(id, { generation: 0, afterEventId: 0, append: scheduled(2, 0), consumed: ['start#0'], enqueue: [], expectedRevision: 0, incarnation: state.instance.incarnation, instance: { ...state.instance, status: 'Running', revision: 1, lastEventId: 2 } });
      lost = 0;
      expect(await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2), consumed: [], enqueue: [], expectedRevision: 1, incarnation: state.instance.incarnation })).toBe('committed');
      expect(lost).toBe(2); // the write was sent twice
      expect((await store.loadStep(id))!.history.map((event) => event.eventId)).toEqual([1, 2, 3]);
      // Another step that read the same history does conflict.
      expect(await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2), consumed: [], enqueue: [], expectedRevision: 1, incarnation: state.instance.incarnation })).toBe('conflict');
    } finally {
      retrying.destroy();
    }
  });

  it('counts a record update whose response was lost and retried by the SDK as done; another writer\'s change stays a refusal', async () => {
    let lose = false;
    // The update takes effect, then its response is lost, and the SDK sends it again.
    const retrying = losingClient('UpdateItemCommand', () => {
      const now = lose;
      lose = false;
      return now;
    });
    try {
      const store = new DynamoDbInstanceStore({ client: retrying, tableName: TABLE, codec: new PayloadCodec(new MemoryBlobStore()) });
      const id = `update-retried-${Date.now()}`;
      await store.createInstance(record(id, { status: 'Failed', revision: 3 }), start('in'));
      const failed = (await store.getInstance(id))!;
      lose = true;
      // A rewind's update of a failed child: had it read as refused, the child would never have been asked to run again.
      const rewinding = { ...failed, status: 'Running' as const, rewindRequested: true as const, updatedAt: failed.updatedAt + 1, revision: 4 };
      expect(await store.updateInstance(rewinding, 3)).toBe(true);
      expect(lose).toBe(false); // the response was lost, and the update sent twice
      expect(await store.getInstance(id)).toMatchObject({ status: 'Running', rewindRequested: true, revision: 4 });
      // Another update from the same revision, with other content, is refused: the record is not what it wrote.
      expect(await store.updateInstance({ ...failed, status: 'Terminated', updatedAt: failed.updatedAt + 2, revision: 4 }, 3)).toBe(false);
      expect(await store.getInstance(id)).toMatchObject({ status: 'Running', rewindRequested: true });
    } finally {
      retrying.destroy();
    }
  });

  it('upgrades an instance written by an earlier Perdure on first read, and carries it on', async () => {
    const codec = new PayloadCodec(new MemoryBlobStore());
    const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec });
    const id = `legacy-${Date.now()}`;
    const now = Date.now();
    // The layout before history chains: the record as JSON in `record`, payloads as { j }, one step per
    // `H#<generation>#<first>` item encoded by the codec, results in the inbox.
    const legacyRecord = { instanceId: id, name: 'greet', version: '1', status: 'Running', generation: 0, input: { j: '"Ada"' }, createdAt: now, updatedAt: now, lastEventId: 3, revision: 2 };
    const events = [
      { type: 'StepStarted', eventId: 1, timestamp: now },
      { type: 'ExecutionStarted', eventId: 2, timestamp: now, name: 'greet', version: '1', input: { j: '"Ada"' } },
      { type: 'ActivityScheduled', eventId: 3, timestamp: now, taskId: 1, name: 'hello', input: { j: '"Ada"' }, attempt: 1, idempotencyKey: `${id}:0:1` },
    ];
    const result = { messageId: 'A#0#1', generation: 0, receivedAt: now, event: { type: 'ActivityCompleted', taskId: 1, result: { j: '"Hello, Ada"' } } };
    const put = (item: Item) => client.send(new PutItemCommand({ TableName: TABLE, Item: { PK: { S: `I#${id}` }, ...item } }));
    await put({ SK: { S: 'META' }, status: { S: 'Running' }, updatedAt: { N: String(now) }, createdAt: { N: String(now) }, name: { S: 'greet' }, revision: { N: '2' }, record: { S: JSON.stringify(legacyRecord) } });
    await put({ SK: { S: 'H#000000#0000000001' }, events: { S: JSON.stringify({ j: JSON.stringify(events) }) }, last: { N: '3' } });
    await put({ SK: { S: 'M#A#0#1' }, receivedAt: { N: String(now) }, message: { S: JSON.stringify(result) } });

    const app = createApp({ logger: silentLogger });
    app.activity('hello', async (name: string) => `Hello, ${name}`);
    app.orchestration('greet', async (ctx, name: string) => ctx.callActivity<string>('hello', name));
    const queues = new MemoryWorkQueues(new VirtualClock());
    const worker = new OrchestrationWorker({ app, store, queues, clock: { now: () => Date.now() }, logger: silentLogger, loadPayload: (value) => codec.load(value) });
    expect(await worker.step(id)).toBe('stepped');

    const status = await store.getInstance(id);
    expect(status).toMatchObject({ status: 'Completed', incarnation: '', lastEventId: 6 });
    expect(await codec.load(status!.output)).toBe('Hello, Ada');
    const history = await plain(await store.readHistory(id, 0), codec);
    expect(history.map((event) => event.type)).toEqual(['StepStarted', 'ExecutionStarted', 'ActivityScheduled', 'StepStarted', 'ActivityCompleted', 'ExecutionCompleted']);
    const meta = (await client.send(new GetItemCommand({ TableName: TABLE, Key: { PK: { S: `I#${id}` }, SK: { S: 'META' } } }))).Item!;
    expect(meta.fmt?.N).toBe('2');
    expect((await items(id)).map((item) => item.SK!.S)).toEqual(['H#000000#0000000001', 'H#000000#0000000004', 'META']);
  });

  describe('a history inside its record', () => {
    const meta = async (instanceId: string) => (await client.send(new GetItemCommand({ TableName: TABLE, Key: { PK: { S: `I#${instanceId}` }, SK: { S: 'META' } }, ConsistentRead: true }))).Item!;
    const chainKeys = async (instanceId: string) => (await items(instanceId)).map((item) => item.SK!.S!).filter((sortKey) => sortKey.startsWith('H#'));
    const started = async (store: DynamoDbInstanceStore, id: string) => {
      await store.createInstance(record(id), start('in'));
      const state = (await store.loadStep(id))!;
      const running = { ...state.instance, status: 'Running' as const, revision: 1, lastEventId: 2 };
      expect(await store.commitStep(id, { generation: 0, afterEventId: 0, append: scheduled(2, 0), consumed: ['start#0'], enqueue: [], expectedRevision: 0, incarnation: state.instance.incarnation, instance: running, statusChanged: true })).toBe('committed');
      return running;
    };

    it('takes a status change as one UpdateItem of the record, and an append as another', async () => {
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec: new PayloadCodec(new MemoryBlobStore()) });
      const id = `inline-${Date.now()}`;
      await store.createInstance(record(id), start('in'));
      const state = (await store.loadStep(id))!;
      const cost = emptyLedger();
      const running = { ...state.instance, status: 'Running' as const, revision: 1, lastEventId: 2 };
      await store.commitStep(id, { generation: 0, afterEventId: 0, append: scheduled(2, 0), consumed: ['start#0'], enqueue: [], expectedRevision: 0, incarnation: state.instance.incarnation, instance: running, statusChanged: true, cost });
      expect(cost.requests).toEqual({ 'DynamoDB.UpdateItem': 1 });
      await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2), consumed: [], enqueue: [], expectedRevision: 1, incarnation: state.instance.incarnation, cost });
      expect(cost.requests).toEqual({ 'DynamoDB.UpdateItem': 2 });
      expect(await chainKeys(id)).toEqual([]);
      const item = await meta(id);
      expect(item.hl?.N).toBe('3');
      expect(item.h?.L).toHaveLength(2);
      expect((await store.loadStep(id))!.history.map((event) => event.eventId)).toEqual([1, 2, 3]);
      expect(await store.getInstance(id)).toMatchObject({ status: 'Running', lastEventId: 3, cost: { requests: { 'DynamoDB.UpdateItem': 2 } } });
      // A position inside it reads what follows.
      expect((await store.loadStep(id, { generation: 0, eventId: 2, incarnation: state.instance.incarnation }))!.history.map((event) => event.eventId)).toEqual([3]);
    });

    it('moves into the chain as it grows, a chunk per inline commit, every event kept in order, and appends there after', async () => {
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec: new PayloadCodec(new MemoryBlobStore()), inlineHistoryBytes: 1_000 });
      const id = `grows-${Date.now()}`;
      const running = await started(store, id);
      let last = 2;
      while ((await meta(id)).hl) {
        expect(await store.commitStep(id, { generation: 0, afterEventId: last, append: scheduled(2, last, noise(100)), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
        last += 2;
        expect(last).toBeLessThan(40);
      }
      // Each inline commit became a chunk of the chain at its own position (events 1-2, then two by two), the step that did not fit the next.
      const positions = [1, ...Array.from({ length: (last - 2) / 2 }, (_, i) => 3 + 2 * i)];
      expect(await chainKeys(id)).toEqual(positions.map((first) => `H#${running.incarnation}#000000#${String(first).padStart(10, '0')}`));
      expect((await meta(id)).h).toBeUndefined();
      expect(await store.commitStep(id, { generation: 0, afterEventId: last, append: scheduled(1, last), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
      const everything = Array.from({ length: last + 1 }, (_, i) => i + 1);
      expect((await store.loadStep(id))!.history.map((event) => event.eventId)).toEqual(everything);
      expect((await store.readHistory(id, 0)).map((event) => event.eventId)).toEqual(everything);
      expect(await store.getInstance(id)).toMatchObject({ lastEventId: last + 1 });
      // A step that read the inline history before it moved cannot append to it.
      expect(await store.commitStep(id, { generation: 0, afterEventId: 4, append: scheduled(1, 4), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('conflict');
    });

    it.each([
      { what: 'appended after it', size: 10, moved: false },
      { what: 'moved the history into the chain', size: 1_200, moved: true },
    ])('counts an inline commit whose response was lost as committed when, before the SDK resent it, another step $what', async ({ size, moved }) => {
      const codec = new PayloadCodec(new MemoryBlobStore());
      const theirs = new DynamoDbInstanceStore({ client, tableName: TABLE, codec, inlineHistoryBytes: 1_000 });
      const id = `lost-then-${moved ? 'moved' : 'appended'}-${Date.now()}`;
      let armed = false;
      // The first try of the update lands; before its lost response makes the SDK try again, another process appends.
      const retrying = losingClient('UpdateItemCommand', async () => {
        if (!armed) return false;
        armed = false;
        await theirs.loadStep(id);
        expect(await theirs.commitStep(id, { generation: 0, afterEventId: 3, append: scheduled(1, 3, noise(size)), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
        return true;
      });
      const mine = new DynamoDbInstanceStore({ client: retrying, tableName: TABLE, codec, inlineHistoryBytes: 1_000 });
      let running: Awaited<ReturnType<typeof started>>;
      try {
        running = await started(mine, id);
        armed = true;
        expect(await mine.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2, 'mine'), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
        expect(armed).toBe(false);
        expect((await meta(id)).hl === undefined).toBe(moved);
        expect((await theirs.loadStep(id))!.history.map((event) => event.eventId)).toEqual([1, 2, 3, 4]);
      } finally {
        retrying.destroy();
      }
    });

    it('moves the history it saw into the chain without reading the record first; a record changed since gives a conflict, not a fork', async () => {
      const sent: string[] = [];
      const counted = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
      counted.middlewareStack.add((next, context) => async (args) => (sent.push(context.commandName!.replace(/Command$/, '')), next(args)), { step: 'initialize', name: 'countRequests' });
      const codec = new PayloadCodec(new MemoryBlobStore());
      const mine = new DynamoDbInstanceStore({ client: counted, tableName: TABLE, codec, inlineHistoryBytes: 1_000 });
      const theirs = new DynamoDbInstanceStore({ client, tableName: TABLE, codec, inlineHistoryBytes: 1_000 });
      try {
        // It saw the history (its read), then appended to it: the move takes what it knows.
        const id = `known-move-${Date.now()}`;
        const running = await started(mine, id);
        expect(await mine.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2, 'small'), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
        sent.length = 0;
        expect(await mine.commitStep(id, { generation: 0, afterEventId: 3, append: scheduled(1, 3, NOISE_1200), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
        expect(sent).toEqual(['TransactWriteItems']);
        expect((await meta(id)).hl).toBeUndefined();
        expect(await plain((await theirs.loadStep(id))!.history, codec)).toMatchObject([{ eventId: 1 }, { eventId: 2 }, { input: 'small' }, { input: NOISE_1200 }]);

        // Another process appended after what it saw, or changed the record: its move is refused, and nothing forks.
        for (const change of ['append', 'update'] as const) {
          const other = `stale-move-${change}-${Date.now()}`;
          const known = await started(mine, other);
          await theirs.loadStep(other);
          if (change === 'append') expect(await theirs.commitStep(other, { generation: 0, afterEventId: 2, append: scheduled(1, 2, 'theirs'), consumed: [], enqueue: [], expectedRevision: 1, incarnation: known.incarnation })).toBe('committed');
          else expect(await theirs.updateInstance({ ...known, customStatus: '"busy"', revision: 2 }, 1)).toBe(true);
          expect(await mine.commitStep(other, { generation: 0, afterEventId: 2, append: scheduled(1, 2, NOISE_1200), consumed: [], enqueue: [], expectedRevision: 1, incarnation: known.incarnation })).toBe('conflict');
          expect(await chainKeys(other)).toEqual([]);
          expect((await theirs.loadStep(other))!.history.map((event) => event.eventId)).toEqual(change === 'append' ? [1, 2, 3] : [1, 2]);
        }
      } finally {
        counted.destroy();
      }
    });

    it('gives a conflict, never a fork, to a process that knew the inline history after another moved it', async () => {
      const codec = new PayloadCodec(new MemoryBlobStore());
      const mine = new DynamoDbInstanceStore({ client, tableName: TABLE, codec, inlineHistoryBytes: 1_000 });
      const theirs = new DynamoDbInstanceStore({ client, tableName: TABLE, codec, inlineHistoryBytes: 1_000 });
      const id = `two-processes-${Date.now()}`;
      const running = await started(mine, id);
      await theirs.loadStep(id);
      // Theirs appends a step too big for the record: the history moves into the chain.
      expect(await theirs.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2, NOISE_1200), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
      expect((await meta(id)).hl).toBeUndefined();
      // Mine still takes the history to be inline and to end at event 2.
      expect(await mine.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2, 'mine'), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('conflict');
      // Having seen that, it appends to the chain where the history ends.
      expect(await mine.commitStep(id, { generation: 0, afterEventId: 3, append: scheduled(1, 3, 'mine'), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
      expect((await mine.loadStep(id))!.history.map((event) => event.eventId)).toEqual([1, 2, 3, 4]);
    });

    it('gives a conflict, never a fork, to a step that read the history inline before the last inline commit and appends after the move', async () => {
      const codec = new PayloadCodec(new MemoryBlobStore());
      // One store for both steps (an orchestrator and an activity function in one process): it knows the history moved.
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec, inlineHistoryBytes: 1_000 });
      const id = `stale-inline-reader-${Date.now()}`;
      const running = await started(store, id);
      // Another step appends event 3 inline, then one too big for the record moves the history into the chain.
      expect(await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2, 'theirs'), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
      expect(await store.commitStep(id, { generation: 0, afterEventId: 3, append: scheduled(1, 3, NOISE_1200), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('committed');
      expect((await meta(id)).hl).toBeUndefined();
      // A step that read the history when it ended at event 2 appends event 3 too: its position is taken.
      expect(await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2, 'stale'), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('conflict');
      const history = (await store.loadStep(id))!.history;
      expect(history.map((event) => event.eventId)).toEqual([1, 2, 3, 4]);
      expect(await plain(history, codec)).toMatchObject([{}, {}, { input: 'theirs' }, {}]);
    });

    it('refuses an append from a step that read an earlier revision: a record changed by another writer is read again', async () => {
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec: new PayloadCodec(new MemoryBlobStore()) });
      const id = `revised-${Date.now()}`;
      const running = await started(store, id);
      expect(await store.updateInstance({ ...running, customStatus: '"half way"', revision: 2 }, 1)).toBe(true);
      expect(await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2), consumed: [], enqueue: [], expectedRevision: 1, incarnation: running.incarnation })).toBe('conflict');
      expect(await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2), consumed: [], enqueue: [], expectedRevision: 2, incarnation: running.incarnation })).toBe('committed');
      expect(await store.getInstance(id)).toMatchObject({ customStatus: '"half way"', lastEventId: 3 });
    });

    it('moves a finished generation into the chain at continue-as-new, and keeps the next one inline', async () => {
      const codec = new PayloadCodec(new MemoryBlobStore());
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec });
      const id = `next-generation-${Date.now()}`;
      const running = await started(store, id);
      const next = { ...running, generation: 1, lastEventId: 0, revision: 2 };
      const nextStart: InboxMessage = { ...start('again'), messageId: 'start#1', generation: 1 };
      expect(await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2), consumed: [], enqueue: [nextStart], expectedRevision: 1, incarnation: running.incarnation, instance: next })).toBe('committed');
      expect(await chainKeys(id)).toEqual([`H#${running.incarnation}#000000#0000000001`, `H#${running.incarnation}#000000#0000000003`]);
      expect((await meta(id)).hl?.N).toBe('0');
      const state = (await store.loadStep(id))!;
      expect(state.instance).toMatchObject({ generation: 1, lastEventId: 0 });
      expect(state.inbox.map((message) => message.messageId)).toEqual(['start#1']);
      expect(await store.commitStep(id, { generation: 1, afterEventId: 0, append: scheduled(2, 0), consumed: ['start#1'], enqueue: [], expectedRevision: 2, incarnation: running.incarnation })).toBe('committed');
      expect((await store.readHistory(id, 0)).map((event) => event.eventId)).toEqual([1, 2, 3]);
      expect(await plain(await store.readHistory(id, 1), codec)).toEqual(scheduled(2, 0).map((event) => ({ ...event, timestamp: expect.any(Number) as number })));
      expect(await chainKeys(id)).toHaveLength(2);
    });
  });

  describe('an eager start: the instance created with its first step', () => {
    const firstStep = (id: string, append: HistoryEvent[] = scheduled(2, 0)) => {
      const cost = emptyLedger();
      const instance = record(id, { status: 'Running', revision: 1, lastEventId: append.length, cost });
      return { generation: 0, afterEventId: 0, append, consumed: ['start#0'], enqueue: [], expectedRevision: 0, instance, statusChanged: true, creates: true as const, cost };
    };

    it('is one PutItem of the record with the step inline, which later steps append to', async () => {
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec: new PayloadCodec(new MemoryBlobStore()) });
      const id = `eager-${Date.now()}`;
      const commit = firstStep(id);
      expect(await store.commitStep(id, commit)).toBe('committed');
      expect(commit.cost.requests).toEqual({ 'DynamoDB.PutItem': 1 });
      // The store named the incarnation in the record it was given.
      expect(commit.instance.incarnation).toMatch(/^r/);
      expect((await items(id)).map((item) => item.SK!.S)).toEqual(['META']);
      expect(await store.getInstance(id)).toMatchObject({ status: 'Running', revision: 1, lastEventId: 2, incarnation: commit.instance.incarnation, cost: { requests: { 'DynamoDB.PutItem': 1 } } });
      const state = (await store.loadStep(id))!;
      expect(state.history.map((event) => event.eventId)).toEqual([1, 2]);
      expect(state.inbox).toEqual([]);
      expect(await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2), consumed: [], enqueue: [], expectedRevision: 1, incarnation: commit.instance.incarnation })).toBe('committed');
      expect((await store.readHistory(id, 0, commit.instance.incarnation)).map((event) => event.eventId)).toEqual([1, 2, 3]);
    });

    it('refuses a taken id with InstanceExistsError, and changes nothing', async () => {
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec: new PayloadCodec(new MemoryBlobStore()) });
      const id = `eager-taken-${Date.now()}`;
      await store.createInstance(record(id), start('first'));
      await expect(store.commitStep(id, firstStep(id))).rejects.toMatchObject({ name: 'InstanceExistsError', message: expect.stringContaining('Pending') });
      expect(await store.getInstance(id)).toMatchObject({ status: 'Pending', revision: 0, lastEventId: 0 });
    });

    it.each([
      { why: 'a first step too big for the record', inlineHistoryBytes: 1_000, append: () => scheduled(1, 0, NOISE_1200) },
      { why: 'a store that keeps no history inline', inlineHistoryBytes: 0, append: () => scheduled(1, 0) },
    ])('declines $why with a conflict and writes nothing (the caller then creates the instance as usual)', async ({ inlineHistoryBytes, append }) => {
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec: new PayloadCodec(new MemoryBlobStore()), inlineHistoryBytes });
      const id = `eager-declined-${inlineHistoryBytes}-${Date.now()}`;
      expect(await store.commitStep(id, firstStep(id, append()))).toBe('conflict');
      expect(await items(id)).toEqual([]);
    });

    it('counts a put whose response was lost and resent by the SDK as committed, not as a taken id', async () => {
      const retrying = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials, maxAttempts: 3 });
      let lost = 0;
      retrying.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (context.commandName === 'PutItemCommand' && lost++ === 0) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET', $metadata: {} });
          return result;
        },
        { step: 'deserialize', name: 'loseFirstResponse' },
      );
      try {
        const store = new DynamoDbInstanceStore({ client: retrying, tableName: TABLE, codec: new PayloadCodec(new MemoryBlobStore()) });
        const id = `eager-lost-${Date.now()}`;
        expect(await store.commitStep(id, firstStep(id))).toBe('committed');
        expect(lost).toBe(2);
        expect(await store.getInstance(id)).toMatchObject({ status: 'Running', lastEventId: 2 });
      } finally {
        retrying.destroy();
      }
    });
  });

  describe('a snapshot for a solo task to carry', () => {
    it('gives the step its result starts what a read would, without reading, compressed events included', async () => {
      const codec = new PayloadCodec(new MemoryBlobStore());
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec });
      const id = `snapshot-${Date.now()}`;
      await store.createInstance(record(id), start('in'));
      const state = (await store.loadStep(id))!;
      const running = { ...state.instance, status: 'Running' as const, revision: 1, lastEventId: 2 };
      // 5,000 repeated characters are gzipped: the chunk holds binary.
      const commit: StepCommit = { generation: 0, afterEventId: 0, append: scheduled(2, 0, 'z'.repeat(5_000)), consumed: ['start#0'], enqueue: [], expectedRevision: 0, incarnation: state.instance.incarnation, instance: running, statusChanged: true, wantsSnapshot: true };
      expect(await store.commitStep(id, commit)).toBe('committed');
      const snapshot = JSON.parse(JSON.stringify(commit.snapshot)) as unknown; // as a task message carries it
      expect(JSON.stringify(snapshot)).toContain('B64');
      const other = new DynamoDbInstanceStore({ client, tableName: TABLE, codec });
      const fromSnapshot = (await other.loadStepFrom(id, snapshot))!;
      const read = (await store.loadStep(id))!;
      expect(fromSnapshot).toEqual({ ...read, inbox: [] });
      expect(await plain(fromSnapshot.history, codec)).toEqual(await plain(read.history, codec));
      // A snapshot of another instance, or not one at all, is not used.
      expect(await other.loadStepFrom('someone-else', snapshot)).toBeUndefined();
      expect(await other.loadStepFrom(id, { record: 'nonsense' })).toBeUndefined();
      expect(await other.loadStepFrom(id, { record: { ...(snapshot as { record: object }).record, h: null } })).toBeUndefined();
    });

    it('leaves a stale snapshot to fail its commit as a conflict: another step came first', async () => {
      const codec = new PayloadCodec(new MemoryBlobStore());
      const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec });
      const id = `stale-snapshot-${Date.now()}`;
      await store.createInstance(record(id), start('in'));
      const state = (await store.loadStep(id))!;
      const commit: StepCommit = { generation: 0, afterEventId: 0, append: scheduled(2, 0), consumed: ['start#0'], enqueue: [], expectedRevision: 0, incarnation: state.instance.incarnation, instance: { ...state.instance, status: 'Running' as const, revision: 1, lastEventId: 2 }, statusChanged: true, wantsSnapshot: true };
      await store.commitStep(id, commit);
      expect(await store.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2), consumed: [], enqueue: [], expectedRevision: 1, incarnation: state.instance.incarnation })).toBe('committed');
      const late = new DynamoDbInstanceStore({ client, tableName: TABLE, codec });
      const stale = (await late.loadStepFrom(id, commit.snapshot))!;
      expect(stale.history).toHaveLength(2);
      expect(await late.commitStep(id, { generation: 0, afterEventId: 2, append: scheduled(1, 2), consumed: [], enqueue: [], expectedRevision: 1, incarnation: state.instance.incarnation })).toBe('conflict');
    });
  });

  it.each(layouts)("deflates a step's small events with the events' dictionary, and reads the JSON chunks an earlier Perdure wrote beside them ($layout)", async ({ layout, inlineHistoryBytes }) => {
    const codec = new PayloadCodec(new MemoryBlobStore());
    const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec, inlineHistoryBytes });
    const id = `deflated-${layout}-${Date.now()}`;
    await store.createInstance(record(id), start('in'));
    const state = (await store.loadStep(id))!;
    const incarnation = state.instance.incarnation;
    const first = scheduled(2, 0, { orderId: id, amount: 120 });
    expect(await store.commitStep(id, { generation: 0, afterEventId: 0, append: first, consumed: ['start#0'], enqueue: [], expectedRevision: 0, incarnation, instance: { ...state.instance, status: 'Running', revision: 1, lastEventId: 2 }, statusChanged: true })).toBe('committed');
    // The chunk as an earlier Perdure wrote it (its events as JSON), in the record or in the chain.
    const chunkOf = async () => {
      const stored = await items(id);
      const meta = stored.find((item) => item.SK!.S === 'META')!;
      return { meta, chunk: layout === 'inline' ? meta.h!.L![0]!.M! : stored.find((item) => item.SK!.S!.startsWith('H#'))! };
    };
    const { meta, chunk } = await chunkOf();
    expect(chunk.evd?.B).toBeInstanceOf(Uint8Array);
    expect(chunk.ev).toBeUndefined();
    const json = JSON.stringify(await plain(await store.readHistory(id, 0), codec));
    expect(chunk.evd!.B!.length).toBeLessThan(Buffer.byteLength(json) / 2);
    const { evd: _deflated, ...older } = chunk;
    const asJson = { ...older, ev: { S: JSON.stringify(first.map((event) => ({ ...event, input: { v: (event as { input?: unknown }).input } }))) } };
    if (layout === 'inline') await client.send(new PutItemCommand({ TableName: TABLE, Item: { ...meta, h: { L: [{ M: asJson }] } } }));
    else await client.send(new PutItemCommand({ TableName: TABLE, Item: asJson }));

    // A process that reads the older chunk appends a deflated one after it; both read back as written.
    const other = new DynamoDbInstanceStore({ client, tableName: TABLE, codec, inlineHistoryBytes });
    const read = (await other.loadStep(id))!;
    expect(await plain(read.history, codec)).toEqual(await plain(first, codec));
    const second = scheduled(1, 2, 'next');
    expect(await other.commitStep(id, { generation: 0, afterEventId: 2, append: second, consumed: [], enqueue: [], expectedRevision: 1, incarnation })).toBe('committed');
    expect(await plain(await store.readHistory(id, 0), codec)).toEqual([...first, ...second]);
    expect(await plain((await new DynamoDbInstanceStore({ client, tableName: TABLE, codec, inlineHistoryBytes }).loadStep(id))!.history, codec)).toEqual([...first, ...second]);
  });

  it('decides what leaves an item by the bytes it stores: JSON that compresses stays as binary, what does not goes to S3', async () => {
    const blobs = new MemoryBlobStore();
    const codec = new PayloadCodec(blobs);
    const store = new DynamoDbInstanceStore({ client, tableName: TABLE, codec });
    const id = `bytes-${Date.now()}`;
    // 200 KB of JSON that gzips far below the 64 KiB inline limit, and 120 KB that does not compress.
    const compressible = { rows: Array.from({ length: 2_000 }, (_, i) => ({ id: i, name: `customer ${i % 50}`, status: 'active' })) };
    const random = randomBytes(90_000).toString('base64');
    await store.createInstance(record(id, { input: compressible }), start(compressible));
    const state = (await store.loadStep(id))!;
    const append = [...scheduled(1, 0, compressible), ...scheduled(1, 1, random)];
    await store.commitStep(id, { generation: 0, afterEventId: 0, append, consumed: ['start#0'], enqueue: [], expectedRevision: 0, incarnation: state.instance.incarnation, instance: { ...state.instance, status: 'Running', revision: 1, lastEventId: 2 } });
    const stored = await items(id);
    const chunk = stored.find((item) => item.SK!.S!.startsWith('H#'))!;
    const meta = stored.find((item) => item.SK!.S === 'META')!;
    expect(chunk.evz?.B).toBeInstanceOf(Uint8Array);
    expect(chunk.evz!.B!.length).toBeLessThan(65_536);
    expect(meta.recz?.B?.length).toBeLessThan(16_384);
    expect(blobs.keys()).toHaveLength(1); // only the random payload
    expect(await plain(await store.readHistory(id, 0), codec)).toEqual(append);
    expect(await codec.load((await store.getInstance(id))!.input)).toEqual(compressible);
  });
});
