/**
 * The small interfaces the runtime needs from the outside world. `lib/memory` implements them in
 * memory (tests, the test environment); `lib/aws` on DynamoDB, SQS and S3.
 */
import type { FailureDetails } from './core/errors.js';
import type { HistoryEvent, NewHistoryEvent, ParentRef } from './core/history-events.js';

/** The lifecycle states of an instance. `ContinuedAsNew` describes earlier history generations only. */
export type InstanceStatusName =
  | 'Pending'
  | 'Running'
  | 'Completed'
  | 'Failed'
  | 'Terminated'
  | 'Suspended'
  | 'Quarantined'
  | 'ContinuedAsNew';

export const TERMINAL_STATUSES: readonly InstanceStatusName[] = ['Completed', 'Failed', 'Terminated'];

export function isTerminal(status: InstanceStatusName): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** The stored state of one instance (the META item). */
export interface InstanceRecord {
  instanceId: string;
  name: string;
  version: string;
  status: InstanceStatusName;
  /** Counts continueAsNew restarts; history events are kept per generation. */
  generation: number;
  input: unknown;
  output?: unknown;
  error?: FailureDetails;
  parent?: ParentRef;
  createdAt: number;
  updatedAt: number;
  /** The id of the last history event of the current generation. */
  lastEventId: number;
  /** Optimistic lock: every commit expects the revision it read and writes the next one. */
  revision: number;
  /** Asks the next step to re-dispatch the instance's outstanding work first (set when queued work may be lost). */
  dispatchPending?: boolean;
}

/** The events that arrive from outside a step and wait in the instance's inbox. */
export type InboxEvent = Extract<
  NewHistoryEvent,
  {
    type:
      | 'ExecutionStarted'
      | 'ActivityCompleted'
      | 'ActivityFailed'
      | 'TimerFired'
      | 'SubOrchestrationCompleted'
      | 'SubOrchestrationFailed'
      | 'EventRaised'
      | 'ExecutionTerminated'
      | 'ExecutionSuspended'
      | 'ExecutionResumed';
  }
>;

/** An inbox message. Its id is derived from what produced it, so a duplicate delivery writes the same key. */
export interface InboxMessage {
  messageId: string;
  /** Results of tasks belong to one history generation; a result for an earlier generation is dropped. */
  generation?: number;
  receivedAt: number;
  event: InboxEvent;
}

/** What one step writes, atomically. */
export interface StepCommit {
  /** The revision the step read; the commit fails with 'conflict' if the instance changed since. */
  expectedRevision: number;
  /** The generation the step read: `append` belongs to its history (the record may move to the next one). */
  generation: number;
  /** New history events of that generation. */
  append: HistoryEvent[];
  /** Inbox messages the step applied or dropped. */
  consumed: string[];
  /** Messages to add to the inbox (the next generation's start after continueAsNew). */
  enqueue: InboxMessage[];
  /** The new instance record (its revision is expectedRevision + 1). */
  instance: InstanceRecord;
}

/** What a step needs to run: the instance, the history it does not have yet, and the inbox. */
export interface StepState {
  instance: InstanceRecord;
  /** Events of the current generation after `afterEventId`. */
  history: HistoryEvent[];
  /** 0 (the whole history) unless the caller's `after` was in the current generation. */
  afterEventId: number;
  inbox: InboxMessage[];
}

/** The point of a history a caller already has. */
export interface HistoryPosition {
  generation: number;
  eventId: number;
}

export interface InstanceQuery {
  status?: InstanceStatusName;
  name?: string;
  limit?: number;
  cursor?: string;
}

export interface InstancePage {
  instances: InstanceRecord[];
  /** Pass back to get the next page; absent on the last page. */
  cursor?: string;
}

/** Durable storage of instances: records, history, inbox. */
export interface InstanceStore {
  /** Creates the instance with its start message; throws InstanceExistsError if the id is taken (nothing changes). */
  createInstance(instance: InstanceRecord, start: InboxMessage): Promise<void>;
  getInstance(instanceId: string): Promise<InstanceRecord | undefined>;
  /**
   * The instance, its history of the current generation (only the events after `after` when the caller
   * already has those of the current generation), and its inbox in arrival order. One read where possible.
   */
  loadStep(instanceId: string, after?: HistoryPosition): Promise<StepState | undefined>;
  readHistory(instanceId: string, generation: number): Promise<HistoryEvent[]>;
  commitStep(instanceId: string, commit: StepCommit): Promise<'committed' | 'conflict'>;
  /** Adds a message unless one with its id exists. */
  deliver(instanceId: string, message: InboxMessage): Promise<'delivered' | 'duplicate' | 'not-found'>;
  /** Replaces the record if its revision is still `expectedRevision`. */
  updateInstance(instance: InstanceRecord, expectedRevision: number): Promise<boolean>;
  listInstances(query: InstanceQuery): Promise<InstancePage>;
  /** Deletes the instance, every generation of its history and its inbox. */
  purgeInstance(instanceId: string): Promise<void>;
}

/** An activity to run. */
export interface ActivityTask {
  instanceId: string;
  generation: number;
  taskId: number;
  name: string;
  input: unknown;
  attempt: number;
  idempotencyKey: string;
}

/** A durable timer. */
export interface TimerTask {
  instanceId: string;
  generation: number;
  taskId: number;
  fireAt: number;
}

/** Carries work between steps: doorbells that wake an instance, activity tasks, timers. */
export interface WorkQueues {
  /** Wakes the instance so a step applies its inbox. Work of one instance is serialised. */
  ringDoorbell(instanceId: string): Promise<void>;
  enqueueActivities(tasks: ActivityTask[]): Promise<void>;
  /** Delivers each timer as TimerFired once its `fireAt` has passed (however long that is). */
  scheduleTimers(timers: TimerTask[]): Promise<void>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Object storage for payloads too large to keep inline (S3 in production). */
export interface BlobStore {
  put(key: string, body: Uint8Array): Promise<void>;
  /** Throws if the object does not exist. */
  get(key: string): Promise<Uint8Array>;
  /** Deletes every object whose key starts with `prefix`. */
  deletePrefix(prefix: string): Promise<void>;
}

export type DeadLetterQueue = 'activities' | 'orchestrations';

/** A message a dead-letter queue received, kept for operators after its handler dealt with it. */
export interface DeadLetter {
  queue: DeadLetterQueue;
  messageId: string;
  instanceId: string;
  /** What the handler did about it. */
  outcome: string;
  /** ISO 8601. */
  deadAt: string;
  /** The message as it was sent (an activity task or a doorbell). */
  message: unknown;
}

/** Inspecting and redriving dead letters (the AWS runtime; the in-memory runtime has no dead-letter queues). */
export interface DeadLetterOperations {
  list(queue: DeadLetterQueue, options?: { limit?: number; cursor?: string }): Promise<{ deadLetters: DeadLetter[]; cursor?: string }>;
  /** Sends one message (or all) back to work; returns the ids redriven and those not found. */
  redrive(queue: DeadLetterQueue, messageId?: string): Promise<{ redriven: string[]; notFound: string[] }>;
}
