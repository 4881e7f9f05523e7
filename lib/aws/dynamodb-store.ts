import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { InstanceExistsError } from '../core/errors.js';
import type { HistoryEvent } from '../core/history-events.js';
import {
  isTerminal,
  type HistoryPosition,
  type InboxMessage,
  type InstancePage,
  type InstanceQuery,
  type InstanceRecord,
  type InstanceStore,
  type StepCommit,
  type StepState,
} from '../ports.js';
import { isKeyedEventId, isTaskResultId } from '../runtime/messages.js';
import type { PayloadCodec } from '../runtime/payload-codec.js';
import { readEvent, readRecordPayloads, storeEvent, storeRecordPayloads } from './payload-fields.js';
import { TABLE_SCHEMA } from './table.js';

export interface DynamoDbStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  codec: PayloadCodec;
  /** Finished instances expire (DynamoDB TTL) this long after they finish. @defaultValue 30 */
  retentionDays?: number;
}

type Item = Record<string, AttributeValue>;

const META = 'META';
/** DynamoDB allows 100 actions per transaction. */
const MAX_TRANSACTION_ITEMS = 100;
/** A history item keeps at most this much inline (gzipped, base64), far below the 400 KB item limit. */
const MAX_CHUNK_BYTES = 300_000;
const MAX_CONSISTENT_READ_ATTEMPTS = 5;

const pk = (instanceId: string) => `I#${instanceId}`;
const pad = (n: number, width: number) => String(n).padStart(width, '0');
const historyKey = (generation: number, firstEventId: number) => `H#${pad(generation, 6)}#${pad(firstEventId, 10)}`;
const messageKey = (messageId: string) => `M#${messageId}`;
/** How long a consumed keyed event is remembered: retries of its raise within this window are recorded once. */
const KEYED_EVENT_WINDOW_SECONDS = 7 * 86_400;
const generationOf = (sortKey: string) => Number(sortKey.slice(2, 8));

/**
 * The instance store on one DynamoDB table. A step's commit is one TransactWriteItems guarded by the
 * record's revision; a step's read is one Query (newest first: the record, the inbox, then the history
 * chunks of the current generation, stopping at what the caller already has).
 */
export class DynamoDbInstanceStore implements InstanceStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly codec: PayloadCodec;
  private readonly retentionSeconds: number;

  constructor(options: DynamoDbStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.codec = options.codec;
    this.retentionSeconds = (options.retentionDays ?? 30) * 86_400;
  }

  async createInstance(instance: InstanceRecord, start: InboxMessage): Promise<void> {
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: this.table, Item: await this.recordItem(instance), ConditionExpression: 'attribute_not_exists(PK)' } },
            { Put: { TableName: this.table, Item: await this.messageItem(instance.instanceId, start) } },
          ],
        }),
      );
    } catch (error) {
      if (reasonCode(error, 0) !== 'ConditionalCheckFailed') throw error;
      const existing = await this.getInstance(instance.instanceId);
      throw new InstanceExistsError(instance.instanceId, existing?.name ?? '?', existing?.status ?? '?');
    }
  }

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.table, Key: key(instanceId, META), ConsistentRead: true }));
    return Item ? parseRecord(Item) : undefined;
  }

  async loadStep(instanceId: string, after?: HistoryPosition): Promise<StepState | undefined> {
    for (let attempt = 1; ; attempt++) {
      const state = await this.readStep(instanceId, after);
      if (state !== 'inconsistent') return state;
      // A commit landed between the pages of the read: read again.
      if (attempt >= MAX_CONSISTENT_READ_ATTEMPTS) throw new Error(`Could not read a consistent state of instance '${instanceId}'.`);
    }
  }

  private async readStep(instanceId: string, after?: HistoryPosition): Promise<StepState | 'inconsistent' | undefined> {
    let instance: InstanceRecord | undefined;
    const inbox: InboxMessage[] = [];
    const chunks: HistoryEvent[][] = [];
    let startKey: Item | undefined;
    let done = false;
    const lowest = after ? historyKey(after.generation, after.eventId) : 'H#';
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'PK = :pk AND SK > :from',
          ExpressionAttributeValues: { ':pk': { S: pk(instanceId) }, ':from': { S: lowest } },
          ScanIndexForward: false,
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const sortKey = item.SK!.S!;
        if (sortKey === META) instance = parseRecord(item);
        else if (sortKey.startsWith('M#')) {
          if (!item.consumed) inbox.push(parseMessage(item));
        }
        else if (!instance) return 'inconsistent';
        else if (generationOf(sortKey) !== instance.generation) done = true;
        else chunks.push(await this.parseChunk(item));
        if (done) break;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey && !done);
    if (!instance) return undefined;
    const afterEventId = after && after.generation === instance.generation ? after.eventId : 0;
    let history = chunks.reverse().flat();
    if (afterEventId > 0 && instance.lastEventId > afterEventId && history[0]?.eventId !== afterEventId + 1) {
      // `after` fell inside a chunk (a step always ends one, so only callers outside the runtime get here).
      history = (await this.readHistory(instanceId, instance.generation)).filter((event) => event.eventId > afterEventId);
    }
    // The history read must end where the record says it does, or a commit came in between pages.
    const lastEventId = history.at(-1)?.eventId ?? afterEventId;
    if (lastEventId !== instance.lastEventId || (history.length > 0 && history[0]!.eventId !== afterEventId + 1)) return 'inconsistent';
    inbox.sort((a, b) => a.receivedAt - b.receivedAt || a.messageId.localeCompare(b.messageId));
    return { instance, history, afterEventId, inbox };
  }

  async readHistory(instanceId: string, generation: number): Promise<HistoryEvent[]> {
    const chunks: HistoryEvent[][] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
          ExpressionAttributeValues: { ':pk': { S: pk(instanceId) }, ':prefix': { S: `H#${pad(generation, 6)}#` } },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) chunks.push(await this.parseChunk(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return chunks.flat();
  }

  async commitStep(instanceId: string, commit: StepCommit): Promise<'committed' | 'conflict'> {
    const required: TransactWriteItem[] = [
      {
        Put: {
          TableName: this.table,
          Item: await this.recordItem(commit.instance),
          ConditionExpression: 'revision = :revision',
          ExpressionAttributeValues: { ':revision': { N: String(commit.expectedRevision) } },
        },
      },
    ];
    const chunk = await this.chunkItem(instanceId, commit.generation, commit.append);
    if (chunk) required.push({ Put: { TableName: this.table, Item: chunk, ConditionExpression: 'attribute_not_exists(SK)' } });
    for (const message of commit.enqueue) required.push({ Put: { TableName: this.table, Item: await this.messageItem(instanceId, message) } });

    // Deleting a consumed completion may wait until after the commit (a leftover is dropped as a duplicate);
    // every other consumed message is deleted inside the transaction.
    const deletes = commit.consumed.map((messageId) => ({ messageId, deferrable: isTaskResultId(messageId) }));
    deletes.sort((a, b) => Number(a.deferrable) - Number(b.deferrable));
    const room = MAX_TRANSACTION_ITEMS - required.length;
    const inTransaction = deletes.slice(0, Math.max(0, room));
    const deferred = deletes.slice(inTransaction.length);
    if (deferred.some((d) => !d.deferrable) || room < 0) {
      throw new Error(`A step of '${instanceId}' writes more than ${MAX_TRANSACTION_ITEMS} items; apply fewer inbox messages per step.`);
    }
    const items = [...required, ...inTransaction.map(({ messageId }) => (isKeyedEventId(messageId) ? { Put: { TableName: this.table, Item: this.tombstone(instanceId, messageId) } } : { Delete: { TableName: this.table, Key: key(instanceId, messageKey(messageId)) } }))];
    try {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        const reasons = error.CancellationReasons ?? [];
        if (reasons[0]?.Code === 'ConditionalCheckFailed' || reasons.some((reason) => reason.Code === 'TransactionConflict')) return 'conflict';
      }
      throw error;
    }
    await this.deleteKeys(deferred.map(({ messageId }) => key(instanceId, messageKey(messageId))));
    return 'committed';
  }

  async deliver(instanceId: string, message: InboxMessage): Promise<'delivered' | 'duplicate' | 'not-found'> {
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { ConditionCheck: { TableName: this.table, Key: key(instanceId, META), ConditionExpression: 'attribute_exists(PK)' } },
            { Put: { TableName: this.table, Item: await this.messageItem(instanceId, message), ConditionExpression: 'attribute_not_exists(SK)' } },
          ],
        }),
      );
      return 'delivered';
    } catch (error) {
      if (reasonCode(error, 0) === 'ConditionalCheckFailed') return 'not-found';
      if (reasonCode(error, 1) === 'ConditionalCheckFailed') return 'duplicate';
      throw error;
    }
  }

  async updateInstance(instance: InstanceRecord, expectedRevision: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: await this.recordItem(instance),
          ConditionExpression: 'revision = :revision',
          ExpressionAttributeValues: { ':revision': { N: String(expectedRevision) } },
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async listInstances(query: InstanceQuery): Promise<InstancePage> {
    const limit = query.limit ?? 100;
    const instances: InstanceRecord[] = [];
    let startKey = query.cursor ? (JSON.parse(Buffer.from(query.cursor, 'base64url').toString()) as Item) : undefined;
    const nameFilter = query.name ? { FilterExpression: '#name = :name', ExpressionAttributeNames: { '#name': 'name' } } : {};
    do {
      // Limit counts items examined, so a page never skips past what it returns.
      const common = { TableName: this.table, Limit: limit - instances.length, ExclusiveStartKey: startKey };
      const page = query.status
        ? await this.client.send(
            new QueryCommand({
              ...common,
              IndexName: TABLE_SCHEMA.statusIndex,
              KeyConditionExpression: '#status = :status',
              ScanIndexForward: false,
              ...nameFilter,
              ExpressionAttributeNames: { '#status': 'status', ...nameFilter.ExpressionAttributeNames },
              ExpressionAttributeValues: { ':status': { S: query.status }, ...(query.name ? { ':name': { S: query.name } } : {}) },
            }),
          )
        : await this.client.send(
            new ScanCommand({
              ...common,
              FilterExpression: `SK = :meta${query.name ? ' AND #name = :name' : ''}`,
              ...(query.name ? { ExpressionAttributeNames: { '#name': 'name' } } : {}),
              ExpressionAttributeValues: { ':meta': { S: META }, ...(query.name ? { ':name': { S: query.name } } : {}) },
            }),
          );
      instances.push(...(query.status ? await this.recordsOf(page.Items ?? []) : (page.Items ?? []).map(parseRecord)));
      startKey = page.LastEvaluatedKey;
    } while (startKey && instances.length < limit);
    return startKey ? { instances, cursor: Buffer.from(JSON.stringify(startKey)).toString('base64url') } : { instances };
  }

  async purgeInstance(instanceId: string): Promise<void> {
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'PK = :pk',
          ExpressionAttributeValues: { ':pk': { S: pk(instanceId) } },
          ProjectionExpression: 'PK, SK',
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      await this.deleteKeys((page.Items ?? []).map((item) => ({ PK: item.PK!, SK: item.SK! })));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    await this.codec.deleteInstance(instanceId);
  }

  private async deleteKeys(keys: Item[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 25) {
      let requests = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 25 * 2 ** attempt)));
        const result = await this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: requests } }));
        requests = (result.UnprocessedItems?.[this.table] ?? []) as typeof requests;
      }
    }
  }

  /**
   * The records behind index entries, in the index's order. The index holds keys and names only, so a
   * step that does not change the status writes nothing to it (about 4 of 14 write units a step before).
   */
  private async recordsOf(entries: Item[]): Promise<InstanceRecord[]> {
    const found = new Map<string, InstanceRecord>();
    for (let i = 0; i < entries.length; i += 100) {
      let keys: Item[] | undefined = entries.slice(i, i + 100).map((entry) => ({ PK: entry.PK!, SK: entry.SK! }));
      for (let attempt = 0; keys?.length; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)));
        const output: BatchGetItemCommandOutput = await this.client.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }));
        for (const item of output.Responses?.[this.table] ?? []) found.set(item.PK!.S!, parseRecord(item));
        keys = output.UnprocessedKeys?.[this.table]?.Keys;
      }
    }
    // An instance purged between the two reads is left out.
    return entries.flatMap((entry) => found.get(entry.PK!.S!) ?? []);
  }

  private async recordItem(instance: InstanceRecord): Promise<Item> {
    const stored = await storeRecordPayloads(instance, this.codec, instance.instanceId);
    const item: Item = {
      ...key(instance.instanceId, META),
      status: { S: instance.status },
      updatedAt: { N: String(instance.updatedAt) },
      createdAt: { N: String(instance.createdAt) },
      name: { S: instance.name },
      revision: { N: String(instance.revision) },
      record: { S: JSON.stringify(stored) },
    };
    if (isTerminal(instance.status)) item[TABLE_SCHEMA.ttlAttribute] = { N: String(Math.floor(instance.updatedAt / 1000) + this.retentionSeconds) };
    return item;
  }

  /**
   * What a consumed keyed event leaves behind for KEYED_EVENT_WINDOW_SECONDS: its key, so that `deliver`
   * (which puts only where no item is) reports a retried raise as a duplicate; then TTL removes it.
   */
  private tombstone(instanceId: string, messageId: string): Item {
    return { ...key(instanceId, messageKey(messageId)), consumed: { BOOL: true }, [TABLE_SCHEMA.ttlAttribute]: { N: String(Math.floor(Date.now() / 1000) + KEYED_EVENT_WINDOW_SECONDS) } };
  }

  private async messageItem(instanceId: string, message: InboxMessage): Promise<Item> {
    const stored: InboxMessage = { ...message, event: await storeEvent(message.event, this.codec, instanceId) };
    return { ...key(instanceId, messageKey(message.messageId)), receivedAt: { N: String(message.receivedAt) }, message: { S: JSON.stringify(stored) } };
  }

  /**
   * A step's events become one history item, so a commit stays within the transaction's item and size
   * limits: large payloads inside were already offloaded one by one, and a chunk still over the inline
   * size is gzipped and, if need be, offloaded as a whole.
   */
  private async chunkItem(instanceId: string, generation: number, events: HistoryEvent[]): Promise<Item | undefined> {
    if (events.length === 0) return undefined;
    const stored = await Promise.all(events.map((event) => storeEvent(event, this.codec, instanceId)));
    const body = await this.codec.encode(stored, instanceId, MAX_CHUNK_BYTES);
    return { ...key(instanceId, historyKey(generation, events[0]!.eventId)), events: { S: JSON.stringify(body) }, last: { N: String(events.at(-1)!.eventId) } };
  }

  private async parseChunk(item: Item): Promise<HistoryEvent[]> {
    return ((await this.codec.decode(JSON.parse(item.events!.S!))) as HistoryEvent[]).map(readEvent);
  }
}

function key(instanceId: string, sortKey: string): Item {
  return { PK: { S: pk(instanceId) }, SK: { S: sortKey } };
}

function parseRecord(item: Item): InstanceRecord {
  return readRecordPayloads(JSON.parse(item.record!.S!) as InstanceRecord);
}

function parseMessage(item: Item): InboxMessage {
  const message = JSON.parse(item.message!.S!) as InboxMessage;
  message.event = readEvent(message.event);
  return message;
}

function reasonCode(error: unknown, index: number): string | undefined {
  return error instanceof TransactionCanceledException ? error.CancellationReasons?.[index]?.Code : undefined;
}
