import { InstanceExistsError, ValidationError } from '../core/errors.js';
import type { HistoryEvent } from '../core/history-events.js';
import { endedMarker, nextMarker, type AttemptMarker } from '../core/crash-evidence.js';
import { isKeyedEventId } from '../runtime/messages.js';
import type { CostLedger } from '../core/cost-ledger.js';
import type { HeartbeatRecord, HistoryPosition, InboxMessage, InstancePage, InstanceQuery, InstanceRecord, InstanceStore, StepCommit, StepState } from '../ports.js';

interface StoredInstance {
  record: InstanceRecord;
  histories: HistoryEvent[][];
  inbox: Map<string, InboxMessage>;
  /** Keyed events already consumed: a second delivery is a duplicate. */
  consumedKeys: Set<string>;
  attempts: Map<string, AttemptMarker>;
  /** Heartbeat details by call (idempotency key). */
  heartbeats: Map<string, HeartbeatRecord>;
  /** The ledger of the newest commit, which the history holds in a DynamoDB table (the record's may be older). */
  cost?: CostLedger;
}

/** The record with `lastEventId` and the ledger read from the history, as stores that do not write the record every step report them. */
function current(stored: StoredInstance): InstanceRecord {
  const cost = stored.cost ?? stored.record.cost;
  return { ...stored.record, lastEventId: stored.histories[stored.record.generation]?.length ?? 0, ...(cost ? { cost } : {}) };
}

/**
 * The instance store in memory, with the same atomicity and conditions as the DynamoDB store. Everything
 * read is a copy, so code that mutates a value it received cannot change stored history.
 */
export class MemoryInstanceStore implements InstanceStore {
  private readonly instances = new Map<string, StoredInstance>();
  private readonly listeners = new Set<(instanceId: string) => void>();

  /** Calls `listener` after every change to an instance record. Returns the unsubscribe function. */
  onChange(listener: (instanceId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async createInstance(instance: InstanceRecord, start: InboxMessage): Promise<void> {
    const existing = this.instances.get(instance.instanceId);
    if (existing) throw new InstanceExistsError(instance.instanceId, existing.record.name, existing.record.status);
    this.instances.set(instance.instanceId, {
      record: structuredClone(instance),
      histories: [[]],
      inbox: new Map([[start.messageId, structuredClone(start)]]),
      consumedKeys: new Set(),
      attempts: new Map(),
      heartbeats: new Map(),
    });
    this.changed(instance.instanceId);
  }

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    const stored = this.instances.get(instanceId);
    return stored && structuredClone(current(stored));
  }

  async loadStep(instanceId: string, after?: HistoryPosition): Promise<StepState | undefined> {
    const stored = this.instances.get(instanceId);
    if (!stored) return undefined;
    const history = stored.histories[stored.record.generation] ?? [];
    const afterEventId = after && after.generation === stored.record.generation ? after.eventId : 0;
    return structuredClone({ instance: current(stored), history: history.slice(afterEventId), afterEventId, inbox: [...stored.inbox.values()] });
  }

  async readHistory(instanceId: string, generation: number): Promise<HistoryEvent[]> {
    return structuredClone(this.instances.get(instanceId)?.histories[generation] ?? []);
  }

  async commitStep(instanceId: string, commit: StepCommit): Promise<'committed' | 'conflict'> {
    if (commit.creates) return this.createStarted(instanceId, commit);
    const stored = this.instances.get(instanceId);
    if (!stored || stored.record.generation !== commit.generation) return 'conflict';
    if (commit.instance && stored.record.revision !== commit.expectedRevision) return 'conflict';
    const history = stored.histories[commit.generation]!;
    // The chain: a step appends right after the history it read, or not at all.
    if (commit.append.length > 0 && history.length !== commit.afterEventId) return 'conflict';
    history.push(...structuredClone(commit.append));
    for (const id of commit.consumed) {
      stored.inbox.delete(id);
      if (isKeyedEventId(id)) stored.consumedKeys.add(id);
    }
    for (const message of commit.enqueue) stored.inbox.set(message.messageId, structuredClone(message));
    if (commit.instance) stored.record = structuredClone(commit.instance);
    if (commit.cost) stored.cost = structuredClone(commit.cost);
    while (stored.histories.length <= stored.record.generation) stored.histories.push([]);
    this.changed(instanceId);
    return 'committed';
  }

  /** An eager start's commit: the instance with its first step's history (its start message consumed). */
  private createStarted(instanceId: string, commit: StepCommit): 'committed' | 'conflict' {
    const existing = this.instances.get(instanceId);
    if (existing) throw new InstanceExistsError(instanceId, existing.record.name, existing.record.status);
    const record = commit.instance;
    if (!record || record.generation !== commit.generation || commit.enqueue.length > 0) return 'conflict';
    this.instances.set(instanceId, {
      record: structuredClone(record),
      histories: [structuredClone(commit.append)],
      inbox: new Map(),
      consumedKeys: new Set(),
      attempts: new Map(),
      heartbeats: new Map(),
      ...(commit.cost ? { cost: structuredClone(commit.cost) } : {}),
    });
    this.changed(instanceId);
    return 'committed';
  }

  async deliver(instanceId: string, message: InboxMessage): Promise<'delivered' | 'duplicate' | 'not-found'> {
    const stored = this.instances.get(instanceId);
    if (!stored) return 'not-found';
    if (stored.inbox.has(message.messageId) || stored.consumedKeys.has(message.messageId)) return 'duplicate';
    stored.inbox.set(message.messageId, structuredClone(message));
    return 'delivered';
  }

  async updateInstance(instance: InstanceRecord, expectedRevision: number): Promise<boolean> {
    const stored = this.instances.get(instance.instanceId);
    if (!stored || stored.record.revision !== expectedRevision) return false;
    stored.record = structuredClone(instance);
    this.changed(instance.instanceId);
    return true;
  }

  async listInstances(query: InstanceQuery): Promise<InstancePage> {
    const matching = [...this.instances.values()]
      .map((stored) => stored.record)
      .filter((record) => (!query.status || record.status === query.status) && (!query.name || record.name === query.name))
      .sort((a, b) => b.createdAt - a.createdAt || a.instanceId.localeCompare(b.instanceId));
    const offset = query.cursor === undefined ? 0 : Number(Buffer.from(query.cursor, 'base64url').toString());
    if (!Number.isInteger(offset) || offset < 0) {
      throw new ValidationError(`cursor ${JSON.stringify(query.cursor!.slice(0, 60))} is not one this API returned: pass back the cursor of the previous page unchanged, or omit it for the first page.`);
    }
    const limit = query.limit ?? 100;
    const page = matching.slice(offset, offset + limit);
    const next = offset + limit < matching.length ? Buffer.from(String(offset + limit)).toString('base64url') : undefined;
    return next ? { instances: structuredClone(page), cursor: next } : { instances: structuredClone(page) };
  }

  async purgeInstance(instanceId: string): Promise<void> {
    this.instances.delete(instanceId);
    this.changed(instanceId);
  }

  async beginAttempt(instanceId: string, key: string, attempt: { position: number; now: number; deadline: number; owner?: string }): Promise<number> {
    const stored = this.instances.get(instanceId);
    if (!stored) return 0;
    const marker = nextMarker(stored.attempts.get(key), attempt);
    stored.attempts.set(key, marker);
    return marker.crashes;
  }

  async endAttempt(instanceId: string, key: string, options: { forget?: boolean; owner?: string } = {}): Promise<void> {
    const attempts = this.instances.get(instanceId)?.attempts;
    if (options.forget) return void attempts?.delete(key);
    const marker = attempts?.get(key);
    const ended = marker && endedMarker(marker, options.owner);
    if (ended) attempts!.set(key, ended);
  }

  async recordHeartbeat(instanceId: string, idempotencyKey: string, heartbeat: HeartbeatRecord): Promise<void> {
    const heartbeats = this.instances.get(instanceId)?.heartbeats;
    const previous = heartbeats?.get(idempotencyKey);
    // A later attempt's details are not replaced by an earlier one that is still running.
    if (heartbeats && !(previous && previous.attempt > heartbeat.attempt)) heartbeats.set(idempotencyKey, structuredClone(heartbeat));
  }

  async readHeartbeat(instanceId: string, idempotencyKey: string): Promise<HeartbeatRecord | undefined> {
    const heartbeat = this.instances.get(instanceId)?.heartbeats.get(idempotencyKey);
    return heartbeat && structuredClone(heartbeat);
  }

  /** Inbox messages waiting for a step (tests check that none are left behind). */
  inboxSize(instanceId: string): number {
    return this.instances.get(instanceId)?.inbox.size ?? 0;
  }

  private changed(instanceId: string): void {
    for (const listener of this.listeners) listener(instanceId);
  }
}
