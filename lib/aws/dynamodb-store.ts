import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  type PutItemCommandInput,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { addLedgers, decodeLedger, encodeLedger, type CostLedger } from '../core/cost-ledger.js';
import { endedMarker, nextMarker, type AttemptMarker } from '../core/crash-evidence.js';
import { InstanceExistsError, ValidationError } from '../core/errors.js';
import type { HistoryEvent } from '../core/history-events.js';
import {
  isTerminal,
  type HeartbeatRecord,
  type HistoryPosition,
  type InboxMessage,
  type InstancePage,
  type InstanceQuery,
  type InstanceRecord,
  type InstanceStatusName,
  type InstanceStore,
  type StepCommit,
  type StepState,
} from '../ports.js';
import { isKeyedEventId, isTaskResultId } from '../runtime/messages.js';
import type { PayloadCodec } from '../runtime/payload-codec.js';
import { EVENTS_DICTIONARY } from '../runtime/compression.js';
import { hasBody, inlineFields, packBody, unpackBody } from './item-packing.js';
import { eventPayloadFields, readEvent, readRecordPayloads, RECORD_PAYLOAD_FIELDS, storeEvent } from './payload-fields.js';
import { TABLE_SCHEMA } from './table.js';
import { countedByCaller } from './usage-metering.js';
import { putUnits, transactionUnits, valueBytes, WritePacer } from './write-pacing.js';

export interface DynamoDbStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  codec: PayloadCodec;
  /** Finished instances expire (DynamoDB TTL) this long after they finish. @defaultValue 30 */
  retentionDays?: number;
  /**
   * History, inbox and crash-evidence items expire this long (plus the retention) after they are written:
   * the longest a generation of an instance's history may live. @defaultValue 365
   */
  maxLifetimeDays?: number;
  /**
   * Write units a second one instance's steps may use, of the 1,000 its partition takes (the rest is left
   * for events, deliveries and attempt markers): a step that would write more waits (`write-pacing.ts`).
   * @defaultValue 500
   */
  writeUnitsPerSecond?: number;
  /** Tests only: the pacer's clock and sleep. */
  pacingClock?: { now(): number; sleep(ms: number): Promise<void> };
  /**
   * Bytes of history a new instance keeps inside its record, so that each of its steps (status changes
   * included) is one write of one item; past them its history moves to a chain of items of its own. 0 keeps
   * every new instance's history in the chain from its start. @defaultValue 2048
   */
  inlineHistoryBytes?: number;
}

type Item = Record<string, AttributeValue>;

/** The layout this store writes: a history chain keyed by incarnation, one write a step. Records without it are upgraded when first read. */
const FORMAT = 2;
const META = 'META';
/** DynamoDB allows 100 actions per transaction. */
const MAX_TRANSACTION_ITEMS = 100;
const MAX_CONSISTENT_READ_ATTEMPTS = 5;
/**
 * History chunks a record holds at most. The move into the chain writes each as an item of its own in a
 * transaction (two write units apiece), so an instance of many small steps would pay more for its move than
 * it saved inline: at 8, instances of up to 8 steps cost a third to a half fewer units than in the chain, and
 * longer ones about 3 more (decision 44 has the table).
 */
const MAX_INLINE_CHUNKS = 8;
/**
 * The record's attributes of an inline history: its chunks (`h`, a list of maps), the id of its last event
 * (`hl`, present exactly while the history is inline: the layout's flag) and its bytes (`hb`).
 */
const INLINE = { chunks: 'h', last: 'hl', bytes: 'hb' } as const;
/** How long a consumed keyed event is remembered: retries of its raise within this window are recorded once. */
const KEYED_EVENT_WINDOW_SECONDS = 7 * 86_400;

const pk = (instanceId: string) => `I#${instanceId}`;
const pad = (n: number, width: number) => String(n).padStart(width, '0');
/** History keys: `H#<incarnation>#<generation>#<first event>`; records written before incarnations have none. */
const historyPrefix = (incarnation: string, generation: number) => `H#${incarnation ? `${incarnation}#` : ''}${pad(generation, 6)}#`;
const chunkKey = (incarnation: string, generation: number, firstEventId: number) => `${historyPrefix(incarnation, generation)}${pad(firstEventId, 10)}`;
const messageKey = (messageId: string) => `M#${messageId}`;
const markerKey = (key: string) => `C#${key}`;
/** A call's heartbeat details. `B` sorts before `H#`, so a step's Query (the record, the inbox, history) never reads them. */
const heartbeatKey = (idempotencyKey: string) => `BEAT#${idempotencyKey}`;
/** An incarnation sorts after every earlier one of the same id (its creation time, base 36). */
const newIncarnation = (createdAt: number) => `r${createdAt.toString(36).padStart(9, '0')}`;
/** The start message of a generation travels inside the record (one write to start an instance). */
const isStartId = (messageId: string) => /^start#\d+$/.test(messageId);

/**
 * What this store last saw of a record (read or written by this process): whether its history is inline, and
 * if so where it ends and how big it is, so a step that did not read can still pick its write and price it.
 */
type RecordLayout =
  | { inline: false; incarnation: string }
  | {
      inline: true;
      incarnation: string;
      last: number;
      historyBytes: number;
      chunks: number;
      sizes: AttributeSizes;
      /** The inline history's chunks as this store last saw them: moving them into the chain then needs no read. */
      history?: AttributeValue[];
    };
/** The bytes of each attribute of an item, as DynamoDB counts them (its name and its value). */
type AttributeSizes = Record<string, number>;

/** A history chunk as read: where it sits in the chain, and (when decoded) its events. */
interface Chunk {
  first: number;
  last: number;
  /** The record revision written in the same transaction, if any. */
  revision?: number;
  item: Item;
}

/**
 * The instance store on one DynamoDB table. A new instance keeps its history inside its record while it is
 * small (`inlineHistoryBytes`): each step appends its chunk to the record with one UpdateItem, conditional
 * on where the history ended when the step read it, so two steps that read the same history cannot both
 * append, and a status change costs no transaction. Past that size (or at continue-as-new) one transaction
 * moves the inline history into the chain: a chunk item per step, each put at the position right after
 * the history its step read (`attribute_not_exists`), so a step that only appends is one PutItem; a step
 * that changes the record (status, the end, continue-as-new) or consumes stored messages writes them in the
 * same transaction. Records written before inline histories keep the chain. A step's read is one Query,
 * newest first: the record (with its inline history), the inbox, then the history chunks of the current
 * incarnation and generation, down to what the caller already has.
 */
export class DynamoDbInstanceStore implements InstanceStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly codec: PayloadCodec;
  private readonly retentionSeconds: number;
  private readonly lifetimeSeconds: number;
  private readonly pacer: WritePacer;
  private readonly inlineHistoryBytes: number;
  /** By instance id: what the last read or write of its record showed (see `RecordLayout`). */
  private readonly layouts = new Map<string, RecordLayout>();

  constructor(options: DynamoDbStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.codec = options.codec;
    this.retentionSeconds = (options.retentionDays ?? 30) * 86_400;
    this.lifetimeSeconds = (options.maxLifetimeDays ?? 365) * 86_400;
    this.pacer = new WritePacer(options.writeUnitsPerSecond ?? 500, options.pacingClock);
    this.inlineHistoryBytes = options.inlineHistoryBytes ?? 2048;
  }

  /** One conditional PutItem: the record with the start message inside it. */
  async createInstance(instance: InstanceRecord, start: InboxMessage): Promise<void> {
    const created = { ...instance, incarnation: newIncarnation(instance.createdAt) };
    const item = await this.recordItem(created, start);
    if (this.inlineHistoryBytes > 0) Object.assign(item, emptyInlineHistory());
    // The put counts in the ledger it writes: one request, its units and the index entry's.
    withOwnWrite(item, [item], created.cost, { operation: 'PutItem', units: (items) => putUnits(items[0] as Item) + 1 });
    try {
      await this.client.send(new PutItemCommand(countedByCaller({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(PK)' })));
      this.learn(instance.instanceId, item);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const existing = await this.getInstance(instance.instanceId);
      throw new InstanceExistsError(instance.instanceId, existing?.name ?? '?', existing?.status ?? '?');
    }
  }

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    const Item = await this.readRecordItem(instanceId);
    if (!Item) return undefined;
    const { record } = await this.parseRecordItem(Item);
    if (record.incarnation === undefined) return record;
    // An inline history ends where the record says; its ledger is the record's.
    if (Item[INLINE.last]) return { ...record, lastEventId: Math.max(record.lastEventId, Number(Item[INLINE.last]!.N)) };
    // The record is written when the status changes; the history's end is the newest chunk's.
    const { Items } = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
        ExpressionAttributeValues: { ':pk': { S: pk(instanceId) }, ':prefix': { S: historyPrefix(record.incarnation, record.generation) } },
        ScanIndexForward: false,
        Limit: 1,
        ProjectionExpression: '#last, #cost',
        ExpressionAttributeNames: { '#last': 'last', '#cost': 'cost' },
        ConsistentRead: true,
      }),
    );
    // So is the ledger: every chunk carries the instance's totals through its step.
    const cost = decodeLedger(Items?.[0]?.cost?.S) ?? record.cost;
    return { ...record, lastEventId: Math.max(record.lastEventId, Number(Items?.[0]?.last?.N ?? 0)), ...(cost ? { cost } : {}) };
  }

  async loadStep(instanceId: string, after?: HistoryPosition): Promise<StepState | undefined> {
    this.pacer.read(instanceId);
    for (let attempt = 1; ; attempt++) {
      const state = await this.readStep(instanceId, after);
      if (state !== 'inconsistent') return state;
      // A commit landed between the pages of the read (or a record was just upgraded): read again.
      if (attempt >= MAX_CONSISTENT_READ_ATTEMPTS) throw new Error(`Could not read a consistent state of instance '${instanceId}'.`);
    }
  }

  private async readStep(instanceId: string, after?: HistoryPosition): Promise<StepState | 'inconsistent' | undefined> {
    let parsed: Awaited<ReturnType<DynamoDbInstanceStore['parseRecordItem']>> | undefined;
    const inbox: InboxMessage[] = [];
    const storedStarts: Item[] = [];
    const chunks: Chunk[] = [];
    let startKey: Item | undefined;
    let done = false;
    const lowest = after?.incarnation !== undefined ? chunkKey(after.incarnation, after.generation, after.eventId) : 'H#';
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
        if (sortKey === META) {
          parsed = await this.parseRecordItem(item);
        } else if (sortKey.startsWith('M#')) {
          if (item.consumed) continue;
          const message = parseMessage(item);
          inbox.push(message);
          if (isStartId(message.messageId)) storedStarts.push(item);
        } else if (sortKey.startsWith('H#')) {
          if (!parsed) return 'inconsistent';
          const record = parsed.record;
          if (!sortKey.startsWith(historyPrefix(record.incarnation ?? '', record.generation))) {
            done = true;
            break;
          }
          chunks.push({ first: Number(sortKey.slice(-10)), last: Number(item.last!.N), revision: item.rev ? Number(item.rev.N) : undefined, item });
        }
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey && !done);
    if (!parsed) return undefined;
    const { record, start } = parsed;
    if (record.incarnation === undefined) return this.upgrade(record, parsed.item, storedStarts);
    this.learn(instanceId, parsed.item);

    // A position without an incarnation is taken to be in the current one.
    const sameHistory = after && (after.incarnation ?? record.incarnation) === record.incarnation && after.generation === record.generation;
    const inlineLast = parsed.item[INLINE.last]?.N;
    if (inlineLast !== undefined) {
      // The history is the record's own: one item, always consistent with it.
      const last = Number(inlineLast);
      const afterEventId = sameHistory && after.eventId <= last ? after.eventId : 0;
      const history = await this.inlineEvents(parsed.item, afterEventId);
      if (start && last === 0) inbox.push(start);
      inbox.sort((a, b) => a.receivedAt - b.receivedAt || a.messageId.localeCompare(b.messageId));
      return { instance: { ...record, lastEventId: last }, history, afterEventId, inbox };
    }
    const afterEventId = sameHistory ? after.eventId : 0;
    chunks.reverse();
    while (chunks.length > 0 && chunks[0]!.last <= afterEventId) chunks.shift();
    let history: HistoryEvent[];
    if (afterEventId > 0 && chunks.length > 0 && chunks[0]!.first <= afterEventId) {
      // `after` fell inside a chunk (a step always ends one, so only callers outside the runtime get here).
      history = (await this.readHistory(instanceId, record.generation, record.incarnation)).filter((event) => event.eventId > afterEventId);
    } else {
      let expected = afterEventId + 1;
      for (const chunk of chunks) {
        if (chunk.first !== expected) return 'inconsistent';
        expected = chunk.last + 1;
      }
      history = (await Promise.all(chunks.map((chunk) => this.parseChunk(chunk.item)))).flat();
    }
    const lastEventId = history.at(-1)?.eventId ?? afterEventId;
    const cost = decodeLedger(chunks.at(-1)?.item.cost?.S) ?? record.cost;
    // The record is never ahead of the chain, nor behind a chunk written in its own transaction: else a commit came in between pages.
    if (lastEventId < record.lastEventId || chunks.some((chunk) => (chunk.revision ?? 0) > record.revision)) return 'inconsistent';
    if (start && lastEventId === 0) inbox.push(start);
    inbox.sort((a, b) => a.receivedAt - b.receivedAt || a.messageId.localeCompare(b.messageId));
    return { instance: { ...record, lastEventId, ...(cost ? { cost } : {}) }, history, afterEventId, inbox };
  }

  /**
   * A record written before history chains (by an earlier Perdure) becomes one: its chunks keep their keys
   * (incarnation ''), its stored start message moves into the record. One transaction, once per instance.
   */
  private async upgrade(record: InstanceRecord, item: Item, storedStarts: Item[]): Promise<'inconsistent'> {
    const start = storedStarts.length ? parseMessage(storedStarts.at(-1)!) : undefined;
    const upgraded: InstanceRecord = { ...record, incarnation: '', revision: record.revision + 1 };
    const items: TransactWriteItem[] = [
      {
        Put: {
          TableName: this.table,
          Item: await this.recordItem(upgraded, start),
          ConditionExpression: 'revision = :revision AND attribute_not_exists(fmt)',
          ExpressionAttributeValues: { ':revision': { N: item.revision!.N! } },
        },
      },
      ...storedStarts.map((start) => ({ Delete: { TableName: this.table, Key: { PK: start.PK!, SK: start.SK! } } })),
    ];
    try {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
    return 'inconsistent';
  }

  async readHistory(instanceId: string, generation: number, incarnation?: string): Promise<HistoryEvent[]> {
    const run = incarnation ?? (await this.getInstance(instanceId))?.incarnation ?? '';
    const chunks = await this.readChunks(instanceId, generation, run);
    if (chunks.length > 0) return chunks;
    // None in the chain: the history may be the record's own (or have just moved from it into the chain).
    const Item = await this.readRecordItem(instanceId);
    if (Item?.[INLINE.last] && (Item.run?.S ?? '') === run && (await this.parseRecordItem(Item)).record.generation === generation) return this.inlineEvents(Item, 0);
    return this.readChunks(instanceId, generation, run);
  }

  private async readChunks(instanceId: string, generation: number, run: string): Promise<HistoryEvent[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
          ExpressionAttributeValues: { ':pk': { S: pk(instanceId) }, ':prefix': { S: historyPrefix(run, generation) } },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return (await Promise.all(items.map((item) => this.parseChunk(item)))).flat();
  }

  async commitStep(instanceId: string, commit: StepCommit): Promise<'committed' | 'conflict'> {
    if (commit.creates) return this.createStarted(instanceId, commit);
    const incarnation = commit.incarnation ?? '';
    // Tells this commit's own write from another's when a lost response makes the SDK send it again.
    const commitId = newCommitId();
    const packed = commit.append.length ? await this.packEvents(instanceId, commit.append) : undefined;
    // A record known to keep its history in the chain does so for good (an incarnation's history never moves back
    // into its record); any other may keep it inline, which its write's condition checks.
    const layout = this.layouts.get(instanceId);
    const knownChain = layout && !layout.inline && layout.incarnation === incarnation;
    if (commit.incarnation !== undefined && !knownChain && (packed || commit.instance)) {
      const inline = await this.commitInline(instanceId, commit, commitId, packed, layout?.inline && layout.incarnation === incarnation ? layout : undefined);
      if (inline !== 'chain') return inline;
    }
    const chunk = packed && this.chunkItem(instanceId, incarnation, commit, commitId, packed);
    const nextStart = commit.enqueue.find((message) => isStartId(message.messageId));
    const required: TransactWriteItem[] = [];
    if (commit.instance) {
      required.push({
        Put: {
          TableName: this.table,
          Item: await this.recordItem({ ...commit.instance, incarnation }, nextStart),
          ConditionExpression: 'revision = :revision',
          ExpressionAttributeValues: { ':revision': { N: String(commit.expectedRevision) } },
        },
      });
    }
    if (chunk) required.push({ Put: { TableName: this.table, Item: chunk, ConditionExpression: 'attribute_not_exists(SK)' } });
    for (const message of commit.enqueue) if (message !== nextStart) required.push({ Put: { TableName: this.table, Item: await this.messageItem(instanceId, message) } });

    // Deleting a consumed task result may wait until after the commit (a leftover is dropped as a duplicate);
    // every other consumed message is deleted (a keyed event: tombstoned) inside the transaction.
    const consumed = commit.consumed.filter((messageId) => !isStartId(messageId));
    const atomic = consumed.filter((messageId) => !isTaskResultId(messageId));
    const deferred = consumed.filter((messageId) => isTaskResultId(messageId));
    const room = MAX_TRANSACTION_ITEMS - required.length - atomic.length;
    if (room < 0) throw new Error(`A step of '${instanceId}' writes more than ${MAX_TRANSACTION_ITEMS} items; apply fewer inbox messages per step.`);
    const inTransaction = [...atomic, ...(required.length + atomic.length > 1 ? deferred.splice(0, room) : [])];
    const removals = inTransaction.map((messageId): TransactWriteItem =>
      isKeyedEventId(messageId) ? { Put: { TableName: this.table, Item: this.tombstone(instanceId, messageId) } } : { Delete: { TableName: this.table, Key: key(instanceId, messageKey(messageId)) } },
    );
    const items = [...required, ...removals];
    const single = items.length === 1 && chunk !== undefined && items[0]!.Put?.Item === chunk;
    if (commit.cost && items.length > 0) {
      // The commit counts in the ledger it writes (on the chunk, and on the record when it writes it); a status
      // change moves the record's index entry: a delete and a put, doubled in a transaction.
      const written = [chunk, commit.instance ? required[0]!.Put!.Item! : undefined].filter((item): item is Item => item !== undefined);
      const indexUnits = commit.statusChanged ? 4 : 0;
      withOwnWrite(written, single ? [chunk] : items, commit.cost, { operation: single ? 'PutItem' : 'TransactWriteItems', units: (all) => (single ? putUnits(all[0] as Item) : transactionUnits(all as TransactWriteItem[])) + indexUnits });
    }
    // Deletes done after the commit count one unit each.
    await this.pacer.beforeWrite(instanceId, (single ? putUnits(chunk) : transactionUnits(items)) + deferred.length);
    if (single) {
      if ((await this.appendChunk(chunk, commitId)) === 'conflict') return 'conflict';
    } else if (items.length > 0) {
      try {
        await this.client.send(new TransactWriteItemsCommand(commit.cost ? countedByCaller({ TransactItems: items }) : { TransactItems: items }));
      } catch (error) {
        if (isConflict(error)) return 'conflict';
        throw error;
      }
    }
    await this.deleteKeys(deferred.map((messageId) => key(instanceId, messageKey(messageId))));
    return 'committed';
  }

  /**
   * An eager start's commit: one conditional PutItem, the record with its first step's history inline (its
   * start message consumed). 'conflict', with nothing written, when that history would not fit the record or
   * the store keeps no history inline: the caller then creates the instance as usual.
   */
  private async createStarted(instanceId: string, commit: StepCommit): Promise<'committed' | 'conflict'> {
    const instance = commit.instance;
    if (!instance || this.inlineHistoryBytes <= 0 || instance.generation !== commit.generation || commit.enqueue.length > 0 || commit.append.length === 0) return 'conflict';
    const commitId = newCommitId();
    const chunk = inlineChunk(commit, commitId, await this.packEvents(instanceId, commit.append));
    const chunkBytes = valueBytes(chunk) + 1;
    if (chunkBytes > (isTerminal(instance.status) ? 2 : 1) * this.inlineHistoryBytes) return 'conflict';
    instance.incarnation = newIncarnation(instance.createdAt);
    const item = await this.recordItem(instance);
    Object.assign(item, { [INLINE.chunks]: { L: [chunk] }, [INLINE.last]: { N: String(commit.append.at(-1)!.eventId) }, [INLINE.bytes]: { N: String(chunkBytes) } });
    // The put counts in the ledger it writes: one request, its units and the index entry's.
    withOwnWrite(item, [item], commit.cost, { operation: 'PutItem', units: (items) => putUnits(items[0] as Item) + 1 });
    try {
      await this.client.send(new PutItemCommand(countedByCaller({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(PK)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' })));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // The SDK sent again a put whose response was lost: the record found is this one.
      if (!error.Item?.[INLINE.chunks]?.L?.some((entry) => entry.M?.c?.S === commitId)) {
        const existing = error.Item ? (await this.parseRecordItem(error.Item)).record : await this.getInstance(instanceId);
        throw new InstanceExistsError(instanceId, existing?.name ?? '?', existing?.status ?? '?');
      }
    }
    this.learn(instanceId, item);
    if (commit.wantsSnapshot) commit.snapshot = toSnapshot(item);
    return 'committed';
  }

  async loadStepFrom(instanceId: string, snapshot: unknown): Promise<StepState | undefined> {
    try {
      const item = fromSnapshot(snapshot);
      if (item?.PK?.S !== pk(instanceId) || item.SK?.S !== META || item[INLINE.last]?.N === undefined) return undefined;
      const { record } = await this.parseRecordItem(item);
      if (record.incarnation === undefined) return undefined;
      const state = { instance: { ...record, lastEventId: Number(item[INLINE.last]!.N) }, history: await this.inlineEvents(item, 0), afterEventId: 0, inbox: [] };
      this.learn(instanceId, item);
      return state;
    } catch {
      // Not a snapshot this store can read (a message changed on its way, an older format): the step reads instead.
      return undefined;
    }
  }

  /**
   * A commit to a record that may keep its history inline: one UpdateItem that appends the step's chunk to
   * the record (with the record's new fields when the step changes it), on the condition that the history
   * still ends where the step read it, at the revision it read; a transaction when the step also writes or
   * deletes inbox messages. 'chain' when the record keeps its history in the chain after all.
   */
  private async commitInline(instanceId: string, commit: StepCommit, commitId: string, packed: Item | undefined, layout: Extract<RecordLayout, { inline: true }> | undefined): Promise<'committed' | 'conflict' | 'chain'> {
    const incarnation = commit.incarnation!;
    let current: Item | undefined;
    if (layout?.last !== commit.afterEventId) {
      // Not known as of the step's position (another process wrote it last): read where the record stands.
      current = await this.readRecordItem(instanceId);
      if (!current) return 'conflict';
      const seen = this.learn(instanceId, current);
      if (!seen.inline) return seen.incarnation === incarnation ? 'chain' : 'conflict';
      if (seen.incarnation !== incarnation || seen.last !== commit.afterEventId) return 'conflict';
      layout = seen;
    }
    const chunk = packed && inlineChunk(commit, commitId, packed);
    const chunkBytes = chunk ? valueBytes(chunk) + 1 : 0;
    const movesOn = commit.instance !== undefined && commit.instance.generation !== commit.generation;
    // The step that ends the instance may take the record past the budget (twice it at most): its history
    // grows no more, and one larger write costs less than moving the history out.
    const budget = commit.instance && isTerminal(commit.instance.status) && !movesOn ? 2 * this.inlineHistoryBytes : this.inlineHistoryBytes;
    if (movesOn || layout.historyBytes + chunkBytes > budget || layout.chunks >= MAX_INLINE_CHUNKS) {
      return this.moveToChain(instanceId, commit, commitId, packed, current, movesOn, layout);
    }

    const update = new RecordUpdate(commit, incarnation);
    if (chunk) update.set(INLINE.chunks, { L: [chunk] }, 'append').set(INLINE.last, { N: String(commit.append.at(-1)!.eventId) }).set(INLINE.bytes, { N: String(layout.historyBytes + chunkBytes) });
    const recordAttributes = commit.instance ? await this.recordFields(commit.instance, incarnation) : undefined;
    if (recordAttributes) update.record(recordAttributes);
    const { others, deferred } = await this.inboxWrites(instanceId, commit, 1);
    const transaction = others.length > 0;
    const indexUnits = commit.statusChanged ? 2 : 0;
    const units = () => {
      const recordUnits = update.setCost().units(layout.sizes) + indexUnits;
      return transaction ? 2 * recordUnits + transactionUnits(others) : recordUnits;
    };
    withOwnWrite(update.cost, [], commit.cost, { operation: transaction ? 'TransactWriteItems' : 'UpdateItem', units });
    update.setCost();
    await this.pacer.beforeWrite(instanceId, units() + deferred.length);
    const request = { TableName: this.table, Key: key(instanceId, META), ...update.expression() };
    try {
      if (transaction) {
        const input = { TransactItems: [{ Update: request }, ...others] };
        await this.client.send(new TransactWriteItemsCommand(commit.cost ? countedByCaller(input) : input));
      } else {
        // The record as it is after the update comes back with it (no read units) when the step's task will carry it.
        const input = { ...request, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const, ...(commit.wantsSnapshot ? { ReturnValues: 'ALL_NEW' as const } : {}) };
        const { Attributes } = await this.client.send(new UpdateItemCommand(commit.cost ? countedByCaller(input) : input));
        if (commit.wantsSnapshot && Attributes) commit.snapshot = toSnapshot(Attributes);
      }
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        // The SDK retried an update whose response was lost: this commit's chunk is there after all.
        if (!(await this.landed(instanceId, commit, commitId, error.Item))) {
          if (error.Item) this.learn(instanceId, error.Item);
          else this.layouts.delete(instanceId);
          return 'conflict';
        }
      } else if (isConflict(error)) {
        this.layouts.delete(instanceId);
        return 'conflict';
      } else {
        this.layouts.delete(instanceId);
        throw error;
      }
    }
    this.layouts.set(instanceId, {
      ...layout,
      ...(chunk ? { last: commit.append.at(-1)!.eventId, historyBytes: layout.historyBytes + chunkBytes, chunks: layout.chunks + 1, ...(layout.history ? { history: [...layout.history, chunk] } : {}) } : {}),
      sizes: update.sizesAfter(layout.sizes),
    });
    await this.deleteKeys(deferred.map((messageId) => key(instanceId, messageKey(messageId))));
    return 'committed';
  }

  /**
   * Whether an inline commit whose condition failed had landed before (its first try's response was lost):
   * its chunk is in the record, even behind later ones, or, when the inline history has moved into the
   * chain since, it is the chain's chunk at its position (or, moved by an earlier Perdure, among the commits
   * the chain's first chunk lists).
   */
  private async landed(instanceId: string, commit: StepCommit, commitId: string, item: Item | undefined): Promise<boolean> {
    if (commit.append.length === 0) return false;
    if (item?.[INLINE.chunks]?.L?.some((entry) => entry.M?.c?.S === commitId)) return true;
    const chunk = async (first: number) =>
      (await this.client.send(new GetItemCommand({ TableName: this.table, Key: key(instanceId, chunkKey(commit.incarnation ?? '', commit.generation, first)), ProjectionExpression: '#commit, commits', ExpressionAttributeNames: { '#commit': 'commit' }, ConsistentRead: true }))).Item;
    if ((await chunk(commit.append[0]!.eventId))?.commit?.S === commitId) return true;
    return (await chunk(1))?.commits?.SS?.includes(commitId) === true;
  }

  /**
   * Ends a record's inline history: one transaction writes it as the chain's first chunk, this step's chunk
   * after it, and the record without it (or, at continue-as-new, with an empty one for the next generation).
   * @param current the record as just read, if it was
   * @param known what this store knows of the record: with its chunks, the move needs no read
   */
  private async moveToChain(instanceId: string, commit: StepCommit, commitId: string, packed: Item | undefined, current: Item | undefined, movesOn: boolean, known?: RecordLayout): Promise<'committed' | 'conflict' | 'chain'> {
    const incarnation = commit.incarnation!;
    let seen: RecordLayout;
    if (!current && known?.inline && known.history && known.incarnation === incarnation && known.last === commit.afterEventId) {
      // The history as this store last saw it, at the step's position: the transaction's condition (the history's
      // end, the revision, the incarnation) makes sure the record is still so.
      seen = known;
    } else {
      current ??= await this.readRecordItem(instanceId);
      if (!current) return 'conflict';
      seen = this.learn(instanceId, current);
      if (!seen.inline) return seen.incarnation === incarnation ? 'chain' : 'conflict';
      if (seen.incarnation !== incarnation || seen.last !== commit.afterEventId || current.revision?.N !== String(commit.expectedRevision)) return 'conflict';
    }

    const inlineChunks = (seen.history ?? []).map((entry) => entry.M!);
    const update = new RecordUpdate(commit, incarnation);
    if (movesOn) Object.entries(emptyInlineHistory()).forEach(([name, value]) => update.set(name, value));
    else update.remove(INLINE.chunks, INLINE.last, INLINE.bytes);
    const recordAttributes = commit.instance ? await this.recordFields(commit.instance, incarnation, commit.enqueue.find((message) => isStartId(message.messageId))) : undefined;
    if (recordAttributes) update.record(recordAttributes);
    // Each inline commit becomes a chunk item of its own, keyed where it starts: a step that read the history
    // inline at any of their ends and appends after the move finds its position taken (a conflict), as in the
    // chain. One chunk for them all would leave those positions free, and such an append would fork the history.
    const chunks: Item[] = inlineChunks.map(({ f, l, c, ...body }) => ({
      ...key(instanceId, chunkKey(incarnation, commit.generation, Number(f!.N))),
      last: l!,
      commit: c!,
      [TABLE_SCHEMA.ttlAttribute]: { N: String(this.expiry()) },
      ...body,
    }));
    const chunk = packed && this.chunkItem(instanceId, incarnation, commit, commitId, packed);
    if (chunk) chunks.push(chunk);
    const { others, deferred } = await this.inboxWrites(instanceId, commit, 1 + chunks.length);
    const units = () => 2 * (update.setCost().units(seen.sizes) + (commit.statusChanged ? 2 : 0)) + transactionUnits([...chunks.map((item) => ({ Put: { TableName: this.table, Item: item } })), ...others]);
    withOwnWrite(chunk ? [update.cost, chunk] : update.cost, [], commit.cost, { operation: 'TransactWriteItems', units });
    update.setCost();
    await this.pacer.beforeWrite(instanceId, units() + deferred.length);
    const input = {
      TransactItems: [
        { Update: { TableName: this.table, Key: key(instanceId, META), ...update.expression() } },
        ...chunks.map((item) => ({ Put: { TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(SK)' } })),
        ...others,
      ],
    };
    try {
      await this.client.send(new TransactWriteItemsCommand(commit.cost ? countedByCaller(input) : input));
    } catch (error) {
      this.layouts.delete(instanceId);
      if (isConflict(error)) return 'conflict';
      throw error;
    }
    this.layouts.delete(instanceId);
    if (!movesOn) this.layouts.set(instanceId, { inline: false, incarnation });
    await this.deleteKeys(deferred.map((messageId) => key(instanceId, messageKey(messageId))));
    return 'committed';
  }

  /**
   * The inbox writes of a commit that go in its transaction (`room` items of which are taken): new messages,
   * deletions (a keyed event: a tombstone), and as many consumed task results as fit; the rest of those is
   * deleted after the commit (a leftover is dropped as a duplicate).
   */
  private async inboxWrites(instanceId: string, commit: StepCommit, taken: number): Promise<{ others: TransactWriteItem[]; deferred: string[] }> {
    const others: TransactWriteItem[] = [];
    for (const message of commit.enqueue) if (!isStartId(message.messageId)) others.push({ Put: { TableName: this.table, Item: await this.messageItem(instanceId, message) } });
    const consumed = commit.consumed.filter((messageId) => !isStartId(messageId));
    const atomic = consumed.filter((messageId) => !isTaskResultId(messageId));
    const deferred = consumed.filter((messageId) => isTaskResultId(messageId));
    const room = MAX_TRANSACTION_ITEMS - taken - others.length - atomic.length;
    if (room < 0) throw new Error(`A step of '${instanceId}' writes more than ${MAX_TRANSACTION_ITEMS} items; apply fewer inbox messages per step.`);
    const removed = [...atomic, ...(others.length + atomic.length > 0 ? deferred.splice(0, room) : [])];
    for (const messageId of removed) {
      others.push(isKeyedEventId(messageId) ? { Put: { TableName: this.table, Item: this.tombstone(instanceId, messageId) } } : { Delete: { TableName: this.table, Key: key(instanceId, messageKey(messageId)) } });
    }
    return { others, deferred };
  }

  /** The record's attributes as a commit sets them (not its keys, its inline history or its ledger). */
  private async recordFields(instance: InstanceRecord, incarnation: string, start?: InboxMessage): Promise<Item> {
    const { PK: _pk, SK: _sk, cost: _cost, ...fields } = await this.recordItem({ ...instance, incarnation }, start);
    return fields;
  }

  /**
   * The one-write commit: the chunk goes at its position unless one is there. When the SDK retried a put
   * whose response was lost, the chunk found there is this commit's own (same commit id): committed.
   */
  private async appendChunk(chunk: Item, commitId: string): Promise<'committed' | 'conflict'> {
    try {
      await this.client.send(new PutItemCommand(countedByCaller({ TableName: this.table, Item: chunk, ConditionExpression: 'attribute_not_exists(SK)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' })));
      return 'committed';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return error.Item?.commit?.S === commitId ? 'committed' : 'conflict';
    }
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

  /** Rewrites the record's fields (not the start message it may carry) if its revision is still `expectedRevision`. */
  async updateInstance(instance: InstanceRecord, expectedRevision: number): Promise<boolean> {
    const item = await this.recordItem(instance);
    const bodies = ['rec', 'recz', 'recref'];
    const set = ['status', 'updatedAt', 'revision', 'fmt', 'run', ...bodies.filter((name) => item[name]), ...(item.ttl ? ['ttl'] : []), ...(item.cost ? ['cost'] : [])];
    const remove = bodies.filter((name) => !item[name]);
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(instance.instanceId, META),
          UpdateExpression: `SET ${set.map((name) => `#${name} = :${name}`).join(', ')} REMOVE ${remove.map((name) => `#${name}`).join(', ')}`,
          ConditionExpression: 'revision = :expected',
          ExpressionAttributeNames: Object.fromEntries([...set, ...remove].map((name) => [`#${name}`, name])),
          ExpressionAttributeValues: { ...Object.fromEntries(set.map((name) => [`:${name}`, item[name]!])), ':expected': { N: String(expectedRevision) } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return true;
    } catch (error) {
      // The SDK sent again an update whose response was lost: the record holds what this update wrote (its body
      // carries its time and revision), so it landed. Another writer's record differs.
      if (error instanceof ConditionalCheckFailedException) return error.Item !== undefined && set.every((name) => sameValue(error.Item![name], item[name]));
      throw error;
    }
  }

  /**
   * Instances newest first, in pages. With a status, one Query of the `byStatus` index; without, a merge of
   * the index's partitions (one per status), each read newest first, so that every page is in order and the
   * cursor says where each partition stands. A step that keeps its status writes nothing to the index.
   */
  async listInstances(query: InstanceQuery): Promise<InstancePage> {
    const limit = query.limit ?? 100;
    if (query.status) {
      const stream = new IndexStream(query.status, query.cursor ? parseCursor<Item>(query.cursor) : undefined);
      const entries: Item[] = [];
      while (entries.length < limit && (await this.fill(stream, limit - entries.length, query.name))) entries.push(stream.take());
      const position = stream.resumeKey();
      const instances = await this.recordsOf(entries);
      // A partition read from its start that has entries left: it resumes from where the page began.
      const resume = position === START ? (query.cursor ? parseCursor<Item>(query.cursor) : undefined) : position;
      return resume ? { instances, cursor: encodeCursor(resume) } : { instances };
    }
    // Each partition's position: 0 from its start, null when it has no more, else the index key to resume after.
    const positions = query.cursor ? parseCursor<Record<string, Item | 0 | null>>(query.cursor) : Object.fromEntries(LISTED_STATUSES.map((status) => [status, 0]));
    const wellFormed = (value: unknown) => value === null || value === 0 || (typeof value === 'object' && !Array.isArray(value));
    if (query.cursor && (typeof positions !== 'object' || positions === null || Array.isArray(positions) || Object.keys(positions).length !== LISTED_STATUSES.length || !LISTED_STATUSES.every((status) => status in positions && wellFormed(positions[status])))) {
      throw foreignCursor(query.cursor);
    }
    const streams = LISTED_STATUSES.filter((status) => positions[status] !== null).map((status) => new IndexStream(status, (positions[status] || undefined) as Item | undefined));
    const entries: Item[] = [];
    while (entries.length < limit) {
      const heads = (await Promise.all(streams.map(async (stream) => ((await this.fill(stream, limit - entries.length, query.name)) ? stream : undefined)))).filter((stream) => stream !== undefined);
      if (heads.length === 0) break;
      const newest = heads.reduce((best, stream) => (newerEntry(stream.head(), best.head()) ? stream : best));
      entries.push(newest.take());
    }
    const next: Record<string, Item | 0 | null> = {};
    let more = false;
    for (const status of LISTED_STATUSES) {
      const position = streams.find((candidate) => candidate.status === status)?.resumeKey();
      next[status] = position === START ? 0 : (position ?? null);
      if (position) more = true;
    }
    const instances = await this.recordsOf(entries);
    return more ? { instances, cursor: encodeCursor(next) } : { instances };
  }

  /** Makes sure the stream has an entry to take, reading its next page if needed; false when it has no more. */
  private async fill(stream: IndexStream, wanted: number, name: string | undefined): Promise<boolean> {
    while (stream.buffer.length === 0 && !stream.exhausted) {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: TABLE_SCHEMA.statusIndex,
          KeyConditionExpression: '#status = :status',
          ScanIndexForward: false,
          // Limit counts items examined, so a page never skips past what it returns.
          Limit: Math.max(1, wanted),
          ExclusiveStartKey: stream.startKey(),
          ...(name ? { FilterExpression: '#name = :name' } : {}),
          ExpressionAttributeNames: { '#status': 'status', ...(name ? { '#name': 'name' } : {}) },
          ExpressionAttributeValues: { ':status': { S: stream.status }, ...(name ? { ':name': { S: name } } : {}) },
        }),
      );
      stream.received(page.Items ?? [], page.LastEvaluatedKey);
    }
    return stream.buffer.length > 0;
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

  async beginAttempt(instanceId: string, attemptKey: string, attempt: { position: number; now: number; deadline: number; owner?: string }): Promise<number> {
    // Written unless the marker changed since it was read (an attempt ended or began meanwhile): then read
    // again, so an attempt that ended just now is not counted as dead.
    for (let tries = 1; ; tries++) {
      const previous = await this.readMarker(instanceId, attemptKey);
      const marker = nextMarker(previous, attempt);
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: { ...key(instanceId, markerKey(attemptKey)), ...markerAttributes(marker), ttl: { N: String(this.expiry()) } },
            ...(tries < 5 ? unchangedMarker(previous) : {}),
          }),
        );
        return marker.crashes;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
  }

  async endAttempt(instanceId: string, attemptKey: string, options: { forget?: boolean; owner?: string } = {}): Promise<void> {
    const Key = key(instanceId, markerKey(attemptKey));
    if (options.forget) {
      await this.client.send(new DeleteItemCommand({ TableName: this.table, Key }));
      return;
    }
    if (options.owner !== undefined) {
      // Its own marker: ended, in one request. Another attempt's (or an older writer's): read, changed and
      // written back unless it was written again meanwhile (then the newer count stands, as it would on Lambda).
      try {
        await this.client.send(new UpdateItemCommand({ TableName: this.table, Key, UpdateExpression: 'SET ended = :true', ConditionExpression: '#owner = :owner', ExpressionAttributeNames: { '#owner': 'owner' }, ExpressionAttributeValues: { ':true': { BOOL: true }, ':owner': { S: options.owner } } }));
        return;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      const marker = await this.readMarker(instanceId, attemptKey);
      const ended = marker && endedMarker(marker, options.owner);
      if (!ended) return;
      try {
        await this.client.send(new PutItemCommand({ TableName: this.table, Item: { ...Key, ...markerAttributes(ended), ttl: { N: String(this.expiry()) } }, ...unchangedMarker(marker) }));
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      return;
    }
    try {
      await this.client.send(new UpdateItemCommand({ TableName: this.table, Key, UpdateExpression: 'SET ended = :true', ConditionExpression: 'attribute_exists(SK)', ExpressionAttributeValues: { ':true': { BOOL: true } } }));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private async readMarker(instanceId: string, attemptKey: string): Promise<AttemptMarker | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.table, Key: key(instanceId, markerKey(attemptKey)), ConsistentRead: true }));
    return (
      Item && {
        position: Number(Item.position!.N),
        crashes: Number(Item.crashes!.N),
        deadline: Number(Item.deadline!.N),
        ended: Item.ended?.BOOL === true,
        ...(Item.owner?.S !== undefined ? { owner: Item.owner.S } : {}),
        ...(Item.died?.SS?.length ? { died: Item.died.SS } : {}),
      }
    );
  }

  async recordHeartbeat(instanceId: string, idempotencyKey: string, heartbeat: HeartbeatRecord): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            ...key(instanceId, heartbeatKey(idempotencyKey)),
            attempt: { N: String(heartbeat.attempt) },
            at: { N: String(heartbeat.at) },
            details: { S: JSON.stringify(heartbeat.details ?? null) },
            ttl: { N: String(this.expiry()) },
          },
          // A later attempt's details are not replaced by an earlier one that is still running.
          ConditionExpression: 'attribute_not_exists(SK) OR attempt <= :attempt',
          ExpressionAttributeValues: { ':attempt': { N: String(heartbeat.attempt) } },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async readHeartbeat(instanceId: string, idempotencyKey: string): Promise<HeartbeatRecord | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.table, Key: key(instanceId, heartbeatKey(idempotencyKey)), ConsistentRead: true }));
    if (!Item) return undefined;
    return { attempt: Number(Item.attempt!.N), at: Number(Item.at!.N), details: JSON.parse(Item.details!.S!) as unknown };
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
   * step that does not change the status writes nothing to it.
   */
  private async recordsOf(entries: Item[]): Promise<InstanceRecord[]> {
    const found = new Map<string, Item>();
    for (let i = 0; i < entries.length; i += 100) {
      let keys: Item[] | undefined = entries.slice(i, i + 100).map((entry) => ({ PK: entry.PK!, SK: entry.SK! }));
      for (let attempt = 0; keys?.length; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)));
        const output: BatchGetItemCommandOutput = await this.client.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }));
        for (const item of output.Responses?.[this.table] ?? []) found.set(item.PK!.S!, item);
        keys = output.UnprocessedKeys?.[this.table]?.Keys;
      }
    }
    // An instance purged between the two reads is left out.
    const items = entries.flatMap((entry): Item[] => { const item = found.get(entry.PK!.S!); return item ? [item] : []; });
    return Promise.all(items.map(async (item) => (await this.parseRecordItem(item)).record));
  }

  /** When an item written now expires: after the longest life of a history, plus the retention. */
  private expiry(): number {
    return Math.floor(Date.now() / 1000) + this.lifetimeSeconds + this.retentionSeconds;
  }

  /**
   * The record item: keys and index fields as attributes, the record as a packed body, and the start
   * message not yet consumed as another (so that `updateInstance` rewrites the record and keeps it).
   */
  private async recordItem(instance: InstanceRecord, start?: InboxMessage): Promise<Item> {
    const { incarnation, cost, ...fields } = instance;
    const record: Record<string, unknown> = { ...fields };
    const slots = await inlineFields(record, RECORD_PAYLOAD_FIELDS, this.codec, instance.instanceId);
    const item: Item = {
      ...key(instance.instanceId, META),
      status: { S: instance.status },
      updatedAt: { N: String(instance.updatedAt) },
      createdAt: { N: String(instance.createdAt) },
      name: { S: instance.name },
      revision: { N: String(instance.revision) },
      fmt: { N: String(FORMAT) },
      run: { S: incarnation ?? '' },
      ...(await packBody('rec', record, slots, this.codec, instance.instanceId)),
    };
    if (start) {
      const event: Record<string, unknown> = { ...start.event };
      const startSlots = await inlineFields(event, eventPayloadFields(start.event.type), this.codec, instance.instanceId);
      Object.assign(item, await packBody('start', { ...start, event }, startSlots, this.codec, instance.instanceId));
    }
    if (isTerminal(instance.status)) item[TABLE_SCHEMA.ttlAttribute] = { N: String(Math.floor(instance.updatedAt / 1000) + this.retentionSeconds) };
    if (cost) item.cost = { S: encodeLedger(cost) };
    return item;
  }

  /** The record, and the start message it carries; a record written before history chains has no incarnation. */
  private async parseRecordItem(item: Item): Promise<{ record: InstanceRecord; start?: InboxMessage; item: Item }> {
    if (!hasBody(item, 'rec')) return { record: readRecordPayloads(JSON.parse(item.record!.S!) as InstanceRecord), item };
    const cost = decodeLedger(item.cost?.S);
    const record = readRecordPayloads({ ...((await unpackBody(item, 'rec', this.codec)) as InstanceRecord), incarnation: item.run?.S ?? '', ...(cost ? { cost } : {}) });
    const start = (await unpackBody(item, 'start', this.codec)) as InboxMessage | undefined;
    if (start) start.event = readEvent(start.event);
    return { record, ...(start ? { start } : {}), item };
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
    return {
      ...key(instanceId, messageKey(message.messageId)),
      receivedAt: { N: String(message.receivedAt) },
      message: { S: JSON.stringify(stored) },
      [TABLE_SCHEMA.ttlAttribute]: { N: String(this.expiry()) },
    };
  }

  /** A step's events as one history item at its chain position, with the commit's id (and the record revision its transaction writes). */
  private chunkItem(instanceId: string, incarnation: string, commit: StepCommit, commitId: string, packed: Item): Item {
    return {
      ...key(instanceId, chunkKey(incarnation, commit.generation, commit.append[0]!.eventId)),
      last: { N: String(commit.append.at(-1)!.eventId) },
      commit: { S: commitId },
      ...(commit.instance ? { rev: { N: String(commit.instance.revision) } } : {}),
      ...(commit.cost ? { cost: { S: encodeLedger(commit.cost) } } : {}),
      [TABLE_SCHEMA.ttlAttribute]: { N: String(this.expiry()) },
      ...packed,
    };
  }

  /**
   * A step's events packed as a chunk's body (`ev`, `evd`, `evz` or `evref`), their large payloads moved to S3
   * as needed. Small ones are deflated with the events' preset dictionary: a third of their JSON, so a history
   * stays in its record three times as long, and every inline write is billed for fewer bytes.
   */
  private async packEvents(instanceId: string, append: HistoryEvent[]): Promise<Item> {
    const events = append.map((event) => ({ ...event }));
    const slots = [];
    for (const event of events) slots.push(...(await inlineFields(event, eventPayloadFields(event.type), this.codec, instanceId)));
    return packBody('ev', events, slots, this.codec, instanceId, EVENTS_DICTIONARY);
  }

  /** The events of a record's inline history after `afterEventId`. */
  private async inlineEvents(item: Item, afterEventId: number): Promise<HistoryEvent[]> {
    const chunks = (item[INLINE.chunks]?.L ?? []).map((entry) => entry.M!).filter((chunk) => Number(chunk.l!.N) > afterEventId);
    const events = (await Promise.all(chunks.map((chunk) => this.parseChunk(chunk)))).flat();
    return events.filter((event) => event.eventId > afterEventId);
  }

  /** The record item as stored (a strongly consistent read). */
  private async readRecordItem(instanceId: string): Promise<Item | undefined> {
    return (await this.client.send(new GetItemCommand({ TableName: this.table, Key: key(instanceId, META), ConsistentRead: true }))).Item;
  }

  /** Notes what a record item shows of its history's layout (see `RecordLayout`). */
  private learn(instanceId: string, item: Item): RecordLayout {
    // Only a cache: a record not found here is read before it is written.
    if (this.layouts.size >= 20_000) this.layouts.clear();
    const incarnation = item.run?.S ?? '';
    let layout: RecordLayout = { inline: false, incarnation };
    if (item[INLINE.last]) {
      const sizes = Object.fromEntries(Object.entries(item).map(([name, value]) => [name, Buffer.byteLength(name) + valueBytes(value)]));
      const history = item[INLINE.chunks]?.L;
      layout = { inline: true, incarnation, last: Number(item[INLINE.last]!.N), historyBytes: Number(item[INLINE.bytes]?.N ?? 0), chunks: history?.length ?? 0, sizes, ...(history ? { history } : {}) };
    }
    this.layouts.set(instanceId, layout);
    return layout;
  }

  private async parseChunk(item: Item): Promise<HistoryEvent[]> {
    // Chunks written before history chains hold their events encoded by the payload codec.
    const events = hasBody(item, 'ev') ? ((await unpackBody(item, 'ev', this.codec)) as HistoryEvent[]) : ((await this.codec.decode(JSON.parse(item.events!.S!))) as HistoryEvent[]);
    return events.map(readEvent);
  }
}

/** A commit's id: 16 hex digits, enough to tell its own write from another's. */
const newCommitId = () => randomUUID().replaceAll('-', '').slice(0, 16);

/** A commit's chunk inside a record's inline history: its first and last event, its id, its packed events. */
function inlineChunk(commit: StepCommit, commitId: string, packed: Item): AttributeValue {
  return { M: { f: { N: String(commit.append[0]!.eventId) }, l: { N: String(commit.append.at(-1)!.eventId) }, c: { S: commitId }, ...packed } };
}

/** A snapshot larger than this is not left for a task to carry (a record holding a large input). */
const MAX_SNAPSHOT_CHARS = 8_192;

/** A record item as JSON (binary attributes in base64), for a task message to carry; undefined when too large. */
function toSnapshot(item: Item): unknown {
  const json = (value: AttributeValue): unknown =>
    value.B !== undefined ? { B64: Buffer.from(value.B).toString('base64') } : value.L ? { L: value.L.map(json) } : value.M ? { M: Object.fromEntries(Object.entries(value.M).map(([name, inner]) => [name, json(inner)])) } : value;
  const snapshot = { record: Object.fromEntries(Object.entries(item).map(([name, value]) => [name, json(value)])) };
  return JSON.stringify(snapshot).length <= MAX_SNAPSHOT_CHARS ? snapshot : undefined;
}

/** The record item of a snapshot (`toSnapshot`), or undefined when it is not one. */
function fromSnapshot(snapshot: unknown): Item | undefined {
  const record = (snapshot as { record?: unknown } | undefined)?.record;
  if (typeof record !== 'object' || record === null) return undefined;
  const attribute = (value: Record<string, unknown>): AttributeValue =>
    typeof value.B64 === 'string'
      ? { B: Buffer.from(value.B64, 'base64') }
      : Array.isArray(value.L)
        ? { L: (value.L as Record<string, unknown>[]).map(attribute) }
        : typeof value.M === 'object' && value.M !== null
          ? { M: Object.fromEntries(Object.entries(value.M as Record<string, Record<string, unknown>>).map(([name, inner]) => [name, attribute(inner)])) }
          : (value as unknown as AttributeValue);
  return Object.fromEntries(Object.entries(record as Record<string, Record<string, unknown>>).map(([name, value]) => [name, attribute(value)]));
}

/** The attributes of a record whose history is inline and empty (a new instance's, a new generation's). */
function emptyInlineHistory(): Item {
  return { [INLINE.chunks]: { L: [] }, [INLINE.last]: { N: '0' }, [INLINE.bytes]: { N: '0' } };
}

/** Attributes a record may hold or not, which a commit that rewrites the record removes when its new record has none. */
const OPTIONAL_RECORD_ATTRIBUTES = ['rec', 'recz', 'recref', 'start', 'startz', 'startref', TABLE_SCHEMA.ttlAttribute];

/**
 * An UpdateItem of a record by a commit: what it sets and removes, on the condition that the record is as
 * the commit's step read it (its history ending at the same event, at the same revision and incarnation).
 */
class RecordUpdate {
  /** Where the commit's ledger is written (`withOwnWrite`) before it is set. */
  readonly cost: Item = {};
  private readonly sets = new Map<string, string>();
  private readonly removals = new Set<string>();
  private readonly values: Item = {};

  constructor(
    private readonly commit: StepCommit,
    private readonly incarnation: string,
  ) {}

  set(name: string, value: AttributeValue, how: 'replace' | 'append' = 'replace'): this {
    this.values[`:v_${name}`] = value;
    this.sets.set(name, how === 'append' ? `#${name} = list_append(#${name}, :v_${name})` : `#${name} = :v_${name}`);
    this.removals.delete(name);
    return this;
  }

  remove(...names: string[]): this {
    for (const name of names) if (!this.sets.has(name)) this.removals.add(name);
    return this;
  }

  /** The record's new fields; the optional ones it no longer has are removed. */
  record(attributes: Item): this {
    for (const [name, value] of Object.entries(attributes)) this.set(name, value);
    return this.remove(...OPTIONAL_RECORD_ATTRIBUTES.filter((name) => !(name in attributes)));
  }

  setCost(): this {
    if (this.cost.cost) this.set('cost', this.cost.cost);
    return this;
  }

  /** The item's attribute sizes after this update, from what they were before it. */
  sizesAfter(before: AttributeSizes): AttributeSizes {
    const after = { ...before };
    for (const name of this.removals) delete after[name];
    for (const [name, clause] of this.sets) {
      const value = this.values[`:v_${name}`]!;
      after[name] = clause.includes('list_append') ? (before[name] ?? Buffer.byteLength(name) + 3) + value.L!.reduce((sum, entry) => sum + 1 + valueBytes(entry), 0) : Buffer.byteLength(name) + valueBytes(value);
    }
    return after;
  }

  /** Write units of the update: one per started KB of the larger of the item before it and after it. */
  units(before: AttributeSizes): number {
    const total = (sizes: AttributeSizes) => Object.values(sizes).reduce((sum, bytes) => sum + bytes, 0);
    return Math.max(1, Math.ceil(Math.max(total(before), total(this.sizesAfter(before))) / 1024));
  }

  expression(): { UpdateExpression: string; ConditionExpression: string; ExpressionAttributeNames: Record<string, string>; ExpressionAttributeValues: Item } {
    const names = new Set([...this.sets.keys(), ...this.removals, INLINE.last, 'revision', 'run']);
    return {
      UpdateExpression: [this.sets.size > 0 ? `SET ${[...this.sets.values()].join(', ')}` : '', this.removals.size > 0 ? `REMOVE ${[...this.removals].map((name) => `#${name}`).join(', ')}` : ''].filter(Boolean).join(' '),
      ConditionExpression: `#${INLINE.last} = :c_after AND #revision = :c_revision AND #run = :c_run`,
      ExpressionAttributeNames: Object.fromEntries([...names].map((name) => [`#${name}`, name])),
      ExpressionAttributeValues: { ...this.values, ':c_after': { N: String(this.commit.afterEventId) }, ':c_revision': { N: String(this.commit.expectedRevision) }, ':c_run': { S: this.incarnation } },
    };
  }
}

/** The statuses a record can have, each a partition of the `byStatus` index (ContinuedAsNew describes earlier generations only). */
const LISTED: Record<Exclude<InstanceStatusName, 'ContinuedAsNew'>, true> = { Pending: true, Running: true, Suspended: true, Quarantined: true, Completed: true, Failed: true, Terminated: true, Cancelled: true };
// A record, so that a new status cannot be left out of the merge.
const LISTED_STATUSES = Object.keys(LISTED) as InstanceStatusName[];

const START = 'start';

/** One partition of the `byStatus` index, read newest first a page at a time. */
class IndexStream {
  buffer: Item[] = [];
  exhausted = false;
  /** The index key of the last entry taken (or of the end of the last page read, when all of it was taken). */
  private position: Item | undefined;
  private pageEnd: Item | undefined;

  constructor(
    readonly status: InstanceStatusName,
    start: Item | undefined,
  ) {
    this.position = start;
  }

  startKey(): Item | undefined {
    return this.pageEnd ?? this.position;
  }

  received(items: Item[], lastEvaluatedKey: Item | undefined): void {
    this.buffer = items;
    this.pageEnd = lastEvaluatedKey;
    this.exhausted = lastEvaluatedKey === undefined;
  }

  head(): Item {
    return this.buffer[0]!;
  }

  take(): Item {
    const entry = this.buffer.shift()!;
    this.position = { PK: entry.PK!, SK: entry.SK!, status: entry.status!, createdAt: entry.createdAt! };
    // Taken to the end of its page: the next read starts after what the page examined (filtered entries included).
    if (this.buffer.length === 0) this.position = this.pageEnd ?? this.position;
    return entry;
  }

  /** Where the next page of this partition starts (START: where this one did); undefined when it has no more. */
  resumeKey(): Item | typeof START | undefined {
    if (this.buffer.length > 0) return this.position ?? START;
    return this.exhausted ? undefined : (this.pageEnd ?? this.position ?? START);
  }
}

/** Newest first; among instances created in the same millisecond, by id. */
function newerEntry(a: Item, b: Item): boolean {
  const at = Number(a.createdAt!.N);
  const bt = Number(b.createdAt!.N);
  return at !== bt ? at > bt : a.PK!.S! < b.PK!.S!;
}

function encodeCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

function parseCursor<T>(cursor: string): T {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString()) as T;
  } catch {
    throw foreignCursor(cursor);
  }
}

function foreignCursor(cursor: string): ValidationError {
  return new ValidationError(`cursor ${JSON.stringify(cursor.slice(0, 60))} is not one this API returned: pass back the cursor of the previous page unchanged, or omit it for the first page.`);
}

function key(instanceId: string, sortKey: string): Item {
  return { PK: { S: pk(instanceId) }, SK: { S: sortKey } };
}

/**
 * Adds a write's own request and units to `ledger` (in place) and stores the sum in each of `written` (its
 * `cost` attribute). The units depend on the items' sizes, which the ledger's text is part of: counted with
 * the text as it will be written (a second pass when the new numbers changed the size of a started KB).
 */
function withOwnWrite(written: Item | Item[], request: unknown[], ledger: CostLedger | undefined, write: { operation: string; units: (request: unknown[]) => number }): void {
  if (!ledger) return;
  const items = Array.isArray(written) ? written : [written];
  const before = addLedgers(ledger, undefined);
  let units = 0;
  for (let pass = 0; pass < 2; pass++) {
    const total = addLedgers(before, { requests: { [`DynamoDB.${write.operation}`]: 1 }, wru: units });
    for (const item of items) item.cost = { S: encodeLedger(total) };
    const measured = write.units(request);
    if (measured === units) break;
    units = measured;
  }
  Object.assign(ledger, addLedgers(before, { requests: { [`DynamoDB.${write.operation}`]: 1 }, wru: units }));
  for (const item of items) item.cost = { S: encodeLedger(ledger) };
}

function parseMessage(item: Item): InboxMessage {
  const message = JSON.parse(item.message!.S!) as InboxMessage;
  message.event = readEvent(message.event);
  return message;
}

function reasonCode(error: unknown, index: number): string | undefined {
  return error instanceof TransactionCanceledException ? error.CancellationReasons?.[index]?.Code : undefined;
}

/** A transaction that lost to another writer: a condition on the record or the chain, or a concurrent transaction. */
function isConflict(error: unknown): boolean {
  if (!(error instanceof TransactionCanceledException)) return false;
  return (error.CancellationReasons ?? []).some((reason) => reason.Code === 'ConditionalCheckFailed' || reason.Code === 'TransactionConflict');
}

/** A marker's attributes (a string set cannot be empty: no `died` when none died). */
function markerAttributes(marker: AttemptMarker): Item {
  return {
    position: { N: String(marker.position) },
    crashes: { N: String(marker.crashes) },
    deadline: { N: String(marker.deadline) },
    ended: { BOOL: marker.ended },
    ...(marker.owner !== undefined ? { owner: { S: marker.owner } } : {}),
    ...(marker.died?.length ? { died: { SS: [...new Set(marker.died)] } } : {}),
  };
}

/** The condition that the marker is still the one read (`undefined`: still none). */
function unchangedMarker(marker: AttemptMarker | undefined): Pick<PutItemCommandInput, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> {
  if (!marker) return { ConditionExpression: 'attribute_not_exists(SK)' };
  return {
    ConditionExpression: `${marker.owner === undefined ? 'attribute_not_exists(#owner)' : '#owner = :owner'} AND crashes = :crashes AND ended = :ended`,
    ExpressionAttributeNames: { '#owner': 'owner' },
    ExpressionAttributeValues: { ':crashes': { N: String(marker.crashes) }, ':ended': { BOOL: marker.ended }, ...(marker.owner === undefined ? {} : { ':owner': { S: marker.owner } }) },
  };
}

/** Whether two attribute values hold the same scalar (a string, a number, bytes). */
function sameValue(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.S !== undefined || b.S !== undefined) return a.S === b.S;
  if (a.N !== undefined || b.N !== undefined) return a.N === b.N;
  if (a.B !== undefined || b.B !== undefined) return a.B !== undefined && b.B !== undefined && Buffer.from(a.B).equals(Buffer.from(b.B));
  return false;
}
