/**
 * The small interfaces the runtime needs from the outside world. `lib/memory` implements them in
 * memory (tests, the test environment); `lib/aws` on DynamoDB, SQS and S3.
 */
import type { CostLedger } from './core/cost-ledger.js';
import type { FailureDetails } from './core/errors.js';
import type { HistoryEvent, NewHistoryEvent, ParentRef } from './core/history-events.js';
import type { MessageHeaders } from './core/interceptors.js';

/** The lifecycle states of an instance. `ContinuedAsNew` describes earlier history generations only. */
export type InstanceStatusName =
  | 'Pending'
  | 'Running'
  | 'Completed'
  | 'Failed'
  | 'Terminated'
  | 'Suspended'
  | 'Quarantined'
  | 'Cancelled'
  | 'ContinuedAsNew';

export const TERMINAL_STATUSES: readonly InstanceStatusName[] = ['Completed', 'Failed', 'Terminated', 'Cancelled'];

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
  /**
   * The id of the last history event of the current generation. Stores read it from the history itself
   * (a step that only appends history does not write the record); `getInstance` may return it as of the
   * record's last write.
   */
  lastEventId: number;
  /** Optimistic lock of the record: every write of the record expects the revision it read and writes the next one. */
  revision: number;
  /** Asks the next step to re-dispatch the instance's outstanding work first (set when queued work may be lost). */
  dispatchPending?: boolean;
  /** When the instance times out (its orchestration's `timeout` after its start), ms since the epoch. */
  deadline?: number;
  /** Set once a cancellation was applied: running activities see their `actx.signal` aborted on their next heartbeat. */
  cancelRequested?: { reason?: string; at: number };
  /** Set by `client.rewind` (with the status back to Running): the next step rewinds the failure at the end of history. */
  rewindRequested?: true;
  /** What the code last set with `ctx.setStatus` (JSON text): where a long instance is. */
  customStatus?: string;
  /**
   * Set by the store: which life of this instance id the record and its history belong to. An id reused
   * after its expired record was removed starts a new incarnation and never reads the old one's history.
   */
  incarnation?: string;
  /** What interceptors stored with the instance at its start (its trace context); absent when none did. */
  headers?: MessageHeaders;
  /**
   * What the instance's steps and attempts have cost so far (the cost ledger): as of its newest history
   * commit when read with `getInstance` or `loadStep`, as of the record's last write in a listing. Absent
   * for instances written before ledgers.
   */
  cost?: CostLedger;
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
      | 'CallbackCompleted'
      | 'CallbackFailed'
      | 'CallbackHeartbeat'
      | 'EventRaised'
      | 'ExecutionTerminated'
      | 'ExecutionCancelRequested'
      // Applied by the worker's rewind step; never delivered to an inbox.
      | 'ExecutionRewound'
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
  /** What producing it cost (an activity attempt, a timer's hops): added to the ledger of the step that applies it. */
  cost?: CostLedger;
}

/**
 * What one step writes, atomically. History is a chain: the step appends right after the last event it
 * read, and two steps that read the same history cannot both append (the second gets 'conflict').
 */
export interface StepCommit {
  /** The generation the step read: `append` belongs to its history (the record may move to the next one). */
  generation: number;
  /** The last event of that generation the step read; `append` starts right after it. */
  afterEventId: number;
  /** New history events of that generation. */
  append: HistoryEvent[];
  /** Stored inbox messages the step applied or dropped. */
  consumed: string[];
  /** Messages to add to the inbox (the next generation's start after continueAsNew). */
  enqueue: InboxMessage[];
  /**
   * The new instance record when the step changes it (status, generation, output, error), its revision
   * `expectedRevision + 1`; absent when the step only appends history (the common case: one write).
   */
  instance?: InstanceRecord;
  /** The record's revision the step read; a commit that writes the record fails with 'conflict' if it changed. */
  expectedRevision: number;
  /** The incarnation the step read (the record's), which keys its history. */
  incarnation?: string;
  /**
   * The instance's cost ledger through this step, written with the commit (on its history, and on the record
   * when the commit writes it). A store whose commit is itself a billed request adds that request to it, in
   * place, before it writes it, so the caller holds what was stored.
   */
  cost?: CostLedger;
  /** The commit moves the record to another status (its index entry moves with it). */
  statusChanged?: boolean;
  /**
   * The instance does not exist yet (an eager start): the commit creates it, `instance` as its record and
   * `append` as its history, in one write; `InstanceExistsError` if the id is taken. A store that cannot create
   * it that way returns 'conflict' and writes nothing (the caller then creates it with `createInstance`). The
   * store sets the new record's `incarnation` in `instance`, in place.
   */
  creates?: true;
  /** The step sends activity tasks or timers: the store may leave `snapshot` for the step a result starts. */
  wantsSnapshot?: boolean;
  /**
   * Set in place by a store that can, when `wantsSnapshot`: the record as this commit left it, JSON, for
   * `loadStepFrom` (the tasks and timers carry it, and the step a result starts skips its read).
   */
  snapshot?: unknown;
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
  /** The incarnation it belongs to: a position in another one is no position at all. */
  incarnation?: string;
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
  /**
   * Creates the instance with its start message; throws InstanceExistsError if the id is taken (nothing changes).
   * When the record carries a ledger (`cost`), a store whose write is a billed request adds it to the ledger it stores.
   */
  createInstance(instance: InstanceRecord, start: InboxMessage): Promise<void>;
  getInstance(instanceId: string): Promise<InstanceRecord | undefined>;
  /**
   * The instance, its history of the current generation (only the events after `after` when the caller
   * already has those of the current generation), and its inbox in arrival order. One read where possible.
   */
  loadStep(instanceId: string, after?: HistoryPosition): Promise<StepState | undefined>;
  /**
   * A step's state from a `StepCommit.snapshot` this kind of store left, without reading: the record and its
   * history, no inbox (stored messages wait for the steps their doorbells start). Undefined when the snapshot
   * is not one it can use; a stale one makes the step's commit a conflict, and the step then reads.
   */
  loadStepFrom?(instanceId: string, snapshot: unknown): Promise<StepState | undefined>;
  /** One generation's history; `incarnation` saves the store a read of the record. */
  readHistory(instanceId: string, generation: number, incarnation?: string): Promise<HistoryEvent[]>;
  commitStep(instanceId: string, commit: StepCommit): Promise<'committed' | 'conflict'>;
  /** Adds a message unless one with its id exists. */
  deliver(instanceId: string, message: InboxMessage): Promise<'delivered' | 'duplicate' | 'not-found'>;
  /** Replaces the record if its revision is still `expectedRevision`. */
  updateInstance(instance: InstanceRecord, expectedRevision: number): Promise<boolean>;
  listInstances(query: InstanceQuery): Promise<InstancePage>;
  /** Deletes the instance, every generation of its history and its inbox. */
  purgeInstance(instanceId: string): Promise<void>;
  /**
   * Crash evidence. Records that an attempt of `key` (a step at a history position, an activity attempt)
   * starts and may run until `deadline`, and returns how many earlier recorded attempts of it at the same
   * position died: did not end before their deadline. Only redelivered work records attempts, so the
   * normal path writes nothing; an attempt that was received but never run (throttling) records nothing.
   * `owner` names the attempt (see `endAttempt`).
   */
  beginAttempt(instanceId: string, key: string, attempt: { position: number; now: number; deadline: number; owner?: string }): Promise<number>;
  /**
   * Marks the attempt `owner` of `key` as ended (it stopped on an error it caught, or without progress): not a
   * crash. When a later attempt has begun since and counted this one as dead (it outlived its deadline),
   * that crash is taken back instead. Without `owner`, the attempt begun last is marked ended. `forget`
   * deletes the evidence instead (after it quarantined the instance, so that a resume starts afresh).
   */
  endAttempt(instanceId: string, key: string, options?: { forget?: boolean; owner?: string }): Promise<void>;
  /**
   * Keeps what an attempt of a call reported with `actx.heartbeat(details)`, for the call's later attempts:
   * one small item per call, keyed by the call's idempotency key, replaced by each write unless a later
   * attempt already wrote it. It expires as the instance's other items do.
   */
  recordHeartbeat(instanceId: string, idempotencyKey: string, heartbeat: HeartbeatRecord): Promise<void>;
  /** What the call's attempts last reported, if any did. */
  readHeartbeat(instanceId: string, idempotencyKey: string): Promise<HeartbeatRecord | undefined>;
}

/** The last heartbeat with details of an activity call (or a `ctx.step`). */
export interface HeartbeatRecord {
  /** The attempt that sent it. */
  attempt: number;
  /** When it was recorded (ms since the epoch). */
  at: number;
  /** The details the attempt passed (JSON, at most 4 KiB). */
  details: unknown;
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
  /** The call's round: n when n rewinds undid its earlier results; its result says so, and one of another round is dropped. @defaultValue 0 */
  round?: number;
  /**
   * The instance had no other call in flight when this one was sent: the worker that runs it may commit
   * its result as the instance's next step itself, instead of sending it back through the doorbell.
   */
  solo?: boolean;
  /** When the call's `scheduleToCloseTimeout` runs out (ms since the epoch): the attempt is cut there. */
  scheduleToCloseAt?: number;
  /** What interceptors added (the W3C trace context, ...). */
  headers?: MessageHeaders;
  /** The record as the step that sent the task left it (`StepCommit.snapshot`), so the step its result starts need not read. */
  snapshot?: unknown;
  /** Where the instance's history ended when the task was sent (see `Doorbell.sentAt`). */
  sentAt?: HistoryPosition;
}

/** A durable timer. */
export interface TimerTask {
  instanceId: string;
  generation: number;
  taskId: number;
  fireAt: number;
  /** What interceptors added (the W3C trace context, ...). */
  headers?: MessageHeaders;
  /** What the timer's earlier hops cost: it rides with the timer until it fires. */
  cost?: CostLedger;
  /**
   * The instance had no other call in flight when the timer was set: the worker that fires it may commit
   * `TimerFired` as the instance's next step itself, instead of sending it through the doorbell.
   */
  solo?: boolean;
  /** The record as the step that set the timer left it (`StepCommit.snapshot`): the step it starts need not read. */
  snapshot?: unknown;
  /** Where the instance's history ended when the timer was set (see `Doorbell.sentAt`). */
  sentAt?: HistoryPosition;
}

/** What a doorbell carries besides the instance it wakes. */
export interface Doorbell {
  /** Results (and other inbox messages) for the step to apply; it stores in the inbox those it cannot apply yet. */
  messages?: InboxMessage[];
  /** Hands the instance's outstanding inline calls to the step this doorbell starts (the last invocation ran out of time). */
  runInline?: boolean;
  /** A step may have died between its commit and its dispatch: re-dispatch the outstanding work first, as for a redelivered doorbell. */
  repair?: boolean;
  /**
   * The record as the step that sent the carried result's task or timer left it (`StepCommit.snapshot`): the
   * step may start from it instead of reading (it is checked against the store when the step commits).
   */
  snapshot?: unknown;
  /**
   * Where the instance's history ended when the carried result's task or timer was sent: a warm executor
   * behind it reads what it missed first, instead of skipping its read and failing its commit.
   */
  sentAt?: HistoryPosition;
  /** What interceptors added (the W3C trace context, ...). */
  headers?: MessageHeaders;
}

/** Carries work between steps: doorbells that wake an instance, activity tasks, timers. */
export interface WorkQueues {
  /** Wakes the instance so a step applies its inbox and what the doorbell carries. Work of one instance is serialised. */
  ringDoorbell(instanceId: string, doorbell?: Doorbell): Promise<void>;
  enqueueActivities(tasks: ActivityTask[]): Promise<void>;
  /** Delivers each timer as TimerFired once its `fireAt` has passed (however long that is). */
  scheduleTimers(timers: TimerTask[]): Promise<void>;
  /**
   * Keeps a received activity task from being delivered again for `ms` from now: its attempt said it is
   * alive (`actx.heartbeat`). `receipt` is the handle the delivery came with (SQS: ChangeMessageVisibility
   * on the received message). `task` is the delivered task (its headers name the lane it came from).
   */
  extendActivityLease(receipt: string, ms: number, task?: ActivityTask): Promise<void>;
  /**
   * False when high-priority instances have no queues of their own here (a deployment without the lane):
   * starting one is then refused rather than queued behind normal work. @defaultValue true
   */
  readonly priorityLane?: boolean;
}

export type MetricUnit = 'Count' | 'Milliseconds' | 'Bytes';

/**
 * Where the runtime's metrics go: CloudWatch's embedded metric format on Lambda, counters for `npm start`'s
 * `GET /metrics`. Dimensions name orchestrations, activities and queues, never instances (each distinct
 * set of dimensions is a metric of its own, billed as one).
 */
export interface MetricsSink {
  put(name: string, value: number, unit: MetricUnit, dimensions?: Record<string, string>): void;
  /** Writes what was put since the last flush (the end of a Lambda invocation). */
  flush?(): void;
}

/**
 * Where the AWS adapters report the requests they make: the runtime adds each to the ledger of the step or
 * attempt it was made for. A request made outside any step or attempt (a client's) is not counted.
 */
export interface UsageMeter {
  /** One request (or `usage.count` of them), with the units and bytes it moved. */
  request(service: string, operation: string, usage?: { count?: number; wru?: number; rru?: number; s3PutBytes?: number; s3GetBytes?: number }): void;
}

export interface Clock {
  now(): number;
}

/**
 * The secret keys that sign callback URLs (a Secrets Manager secret on AWS, a file in `.perdure/` locally).
 * `current` signs new URLs; `all` lists every key a URL may have been signed with, the current one first
 * and then, during a rotation, the previous one, so that URLs handed out before the rotation keep working.
 */
export interface CallbackSigningKeys {
  current(): Promise<Uint8Array>;
  /** `refresh` asks to read the keys again rather than from a cache; an implementation may limit how often it does. */
  all(options?: { refresh?: boolean }): Promise<Uint8Array[]>;
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

/** An instance in flight that shadow replay found the deployed code can no longer replay. */
export interface ReplayFinding {
  instanceId: string;
  /** `name@version`. */
  orchestration: string;
  status: InstanceStatusName;
  /** What `perdure replay-check` prints: the position, what history recorded, what the code asked for, where. */
  problem: string;
  /** ISO 8601. */
  foundAt: string;
}

/** One run of shadow replay. */
export interface ReplayRun {
  /** ISO 8601. */
  at: string;
  inFlight: number;
  replayed: number;
  diverged: number;
  /** Why the run stopped before its sample was replayed (its event budget, its time). */
  incomplete?: string;
}

/** What shadow replay found, kept for operators (the AWS runtime: the table's `REPLAY#` partition, expired by TTL). */
export interface ReplayFindings {
  record(run: ReplayRun, findings: ReplayFinding[]): Promise<void>;
  /** The newest findings first, and the last run. */
  list(options?: { limit?: number }): Promise<{ lastRun?: ReplayRun; findings: ReplayFinding[] }>;
}

/** What the runtime keeps about one schedule between its firings (`app.schedule`). */
export interface ScheduleState {
  name: string;
  /** Paused by an operator: its firings start nothing until it is resumed. */
  paused?: boolean;
  /** The latest scheduled firing handled, started or not (ms since the epoch); never moves back. */
  lastFiringAt?: number;
  /** The instance the schedule started last (by a firing or a trigger), and when. */
  lastInstanceId?: string;
  lastStartedAt?: number;
}

/** The schedules' state: one small item each (the AWS runtime: the table's `SCHEDULE#` partition). */
export interface ScheduleStates {
  get(name: string): Promise<ScheduleState | undefined>;
  list(): Promise<ScheduleState[]>;
  setPaused(name: string, paused: boolean): Promise<void>;
  /** Moves `lastFiringAt` forward to `firingAt`; an earlier firing changes nothing. */
  recordFiring(name: string, firingAt: number): Promise<void>;
  /** Records the instance a firing or trigger started, unless a later start is recorded already. */
  recordStart(name: string, instanceId: string, startedAt: number): Promise<void>;
}
