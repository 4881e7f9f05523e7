import { emptyLedger } from './core/cost-ledger.js';
import { priceLedger, type PricedCost } from './core/cost-prices.js';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { App } from './core/app.js';
import { callbackSignals, callbackState, describeCallback, type CallbackSignal, type CallbackState } from './core/callback-state.js';
import { formatCallbackToken, parseCallbackToken } from './core/callback-token.js';
import { formatDuration, toMilliseconds, type Duration } from './core/durations.js';
import {
  CallbackAlreadyCompletedError,
  CallbackExpiredError,
  CallbackNotFoundError,
  InstanceExistsError,
  InstanceNotFoundError,
  InvalidStateError,
  TimeoutError,
  ValidationError,
  type FailureDetails,
} from './core/errors.js';
import type { CallbackCreated, HistoryEvent } from './core/history-events.js';
import type { ClientCall, InterceptorChain, MessageHeaders } from './core/interceptors.js';
import { validateEventId, validateEventName, validateInstanceId, validateName } from './core/names.js';
import { toJsonPayload, type PayloadLoader } from './core/payload.js';
import { isTerminal, type Clock, type InboxMessage, type InstanceRecord, type InstanceStatusName, type InstanceStore, type WorkQueues } from './ports.js';
import { runtimeInterceptors } from './runtime/interceptors.js';
import { PRIORITIES, priorityOf, withPriority, type Priority } from './runtime/priority.js';
import { CONTROL_MESSAGE_IDS, messageIds } from './runtime/messages.js';

/** What `getStatus` and `list` return for an instance. */
export interface InstanceStatus {
  instanceId: string;
  name: string;
  version: string;
  status: InstanceStatusName;
  /** Counts continueAsNew restarts. */
  generation: number;
  input?: unknown;
  output?: unknown;
  error?: { name: string; message: string; code?: string };
  parentInstanceId?: string;
  /** What the code last set with `ctx.setStatus`. */
  customStatus?: unknown;
  /** When `cancel` reached the instance (ISO 8601), and why. */
  cancelRequested?: { at: string; reason?: string };
  /** `high` for an instance started on the high-priority lane (absent for normal ones). */
  priority?: 'high';
  /** Events in the current generation's history. */
  historyLength: number;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601. */
  updatedAt: string;
  /**
   * What the instance's steps and attempts cost (its ledger, priced line by line), with `{ cost: true }`:
   * through its newest commit from `getStatus`, as of the record's last write (its last change of status)
   * from `list`. Absent for instances started before ledgers.
   */
  cost?: PricedCost;
}

/**
 * What `getStatus` adds to the status.
 * @example await client.getStatus(id, { cost: true });
 */
export interface StatusOptions {
  /** Include the cost ledger, priced with the app's prices (`createApp({ prices })`). @defaultValue false */
  cost?: boolean;
}

export interface StartOptions {
  /** @defaultValue a random UUID */
  instanceId?: string;
  /** @defaultValue the latest registered version */
  version?: string | number;
  /**
   * `high` runs the instance's steps and activities, and those of its sub-orchestrations, on queues and
   * event sources of their own, so that a backlog of normal work does not hold it up (an interactive
   * request among batch jobs). It is fixed for the instance's life. @defaultValue 'normal'
   */
  priority?: Priority;
}

export interface RestartOptions {
  /** The version to start on. @defaultValue the latest registered version */
  version?: string | number;
  /** The new instance's id. @defaultValue the old id with `.r<time>` appended */
  instanceId?: string;
  /** @defaultValue the old instance's priority */
  priority?: Priority;
}

/** Statuses `restart` takes: ended without completing. */
const RESTARTABLE: readonly InstanceStatusName[] = ['Failed', 'Terminated', 'Cancelled'];

export interface WaitOptions {
  /** Real time to wait before rejecting with a `TimeoutError`. @defaultValue '60s' */
  timeout?: Duration;
}

export interface RaiseEventOptions {
  /**
   * An idempotency key: raising the event again with the same key (a retry after a lost response) records
   * it once, within 7 days on AWS. Without it, every call raises a new event.
   */
  eventId?: string;
}

/** What an outside system sends to fail a callback. */
export interface CallbackFailure {
  /** @defaultValue 'CallbackFailed' */
  name?: string;
  message: string;
  /** JSON the orchestration receives as the error's `details`. */
  details?: unknown;
}

/**
 * What a callback call did: `recorded`, or `duplicate`: the callback already had this very completion (a
 * retry after a lost response), or a heartbeat was already waiting to be applied. A duplicate writes nothing.
 */
export type CallbackDelivery = 'recorded' | 'duplicate';

/** A callback that waits for an outside system, as `listPendingCallbacks` returns it. */
export interface PendingCallback {
  /** The token that completes it: `completeCallback(token, ...)`, `POST /callbacks/{token}/succeed`. */
  token: string;
  /** The name `ctx.createCallback({ name })` or `ctx.waitForCallback(name, ...)` gave it. */
  name?: string;
  /** Its position among the instance's durable calls. */
  position: number;
  /** ISO 8601. */
  createdAt: string;
  /** When it expires unless completed (its timeout), ISO 8601. */
  timeoutAt?: string;
  /** How long the outside system may stay silent, e.g. `10m`, for a callback with a heartbeat timeout. */
  heartbeatTimeout?: string;
  /** The last heartbeat received, ISO 8601. */
  lastHeartbeatAt?: string;
  /** When it expires unless a heartbeat or a completion arrives, ISO 8601. */
  heartbeatDeadline?: string;
}

export interface ListQuery {
  status?: InstanceStatusName;
  name?: string;
  /** @defaultValue 100 */
  limit?: number;
  cursor?: string;
  /**
   * Include each instance's input and output. Off by default: a page of 100 would otherwise fetch up to 200
   * offloaded payloads from S3. `getStatus` always includes them.
   */
  includePayloads?: boolean;
  /** Include each instance's cost ledger as of its record's last write (its last change of status), priced. @defaultValue false */
  cost?: boolean;
}

export interface HistoryOptions {
  /** @defaultValue the current generation */
  generation?: number;
  /**
   * `resolve` (default) replaces offloaded and compressed payloads by their values; `keep` leaves each
   * offloaded payload as a `{ $ref: { key, size, sha256 } }` reference, which is cheaper and keeps an export small.
   */
  payloads?: 'resolve' | 'keep';
}

export interface ClientDependencies {
  app: App;
  store: InstanceStore;
  queues: WorkQueues;
  clock: Clock;
  /** Resolves stored payloads (e.g. S3 references) in statuses and histories. */
  loadPayload?: PayloadLoader;
  /** Like `loadPayload`, but leaves offloaded payloads as `{ $ref }` references (histories exported with `payloads: 'keep'`). */
  loadInlinePayload?: PayloadLoader;
  /** @defaultValue tracing (unless the app turned it off) and the app's interceptors */
  interceptors?: InterceptorChain;
  /**
   * Runs a new instance's first step in `start` and creates the instance with it (an eager start: no doorbell,
   * no read). Without it, or when it declines, `start` creates the instance and rings its doorbell.
   */
  eagerStart?: {
    /** The status the first step left the new instance in; undefined when it did not create it. */
    start(record: InstanceRecord, start: InboxMessage): Promise<InstanceStatusName | undefined>;
    /** Sends again what the instance's first step decided, if nothing has happened to it since. */
    resendStart(instanceId: string): Promise<void>;
  };
}

/** Statuses a wait for completion returns on: the terminal ones, and Quarantined, which needs an operator. */
export const SETTLED: readonly InstanceStatusName[] = ['Completed', 'Failed', 'Terminated', 'Cancelled', 'Quarantined'];
const STATUSES: readonly InstanceStatusName[] = ['Pending', 'Running', 'Completed', 'Failed', 'Terminated', 'Cancelled', 'Suspended', 'Quarantined', 'ContinuedAsNew'];

/**
 * Starts and manages orchestration instances. Every method validates its arguments before writing
 * anything, so a rejected call changes nothing.
 */
export class Client {
  private readonly interceptors: InterceptorChain;

  constructor(protected readonly deps: ClientDependencies) {
    this.interceptors = deps.interceptors ?? runtimeInterceptors(deps.app);
  }

  /** Runs a call inside the interceptors' `client` hooks. */
  private intercepted<T>(call: ClientCall, run: (call: ClientCall) => Promise<T>): Promise<T> {
    return this.interceptors.client(call, run);
  }

  /** Rings the doorbell of an instance, with the headers its messages carry. */
  private ring(record: { instanceId: string; headers?: MessageHeaders }): Promise<void> {
    const headers = this.interceptors.headers(record.headers);
    return this.deps.queues.ringDoorbell(record.instanceId, headers ? { headers } : {});
  }

  /**
   * Starts an instance and returns its id. A second start with the same id is rejected with `InstanceExistsError`.
   * @example const id = await client.start('order', { orderId: 'o-1' }, { instanceId: 'order-o-1' });
   */
  async start(name: string, input?: unknown, options: StartOptions = {}): Promise<string> {
    return (await this.startInstance(name, input, options)).instanceId;
  }

  /**
   * Starts an instance as `start` does, and returns its id with the status the start left it in: Running (or
   * ended already) when the start ran its first step, Pending when that step waits for its doorbell.
   * @example const { instanceId, status } = await client.startInstance('order', { orderId: 'o-1' });
   */
  async startInstance(name: string, input?: unknown, options: StartOptions = {}): Promise<{ instanceId: string; status: InstanceStatusName }> {
    // The interceptors see a start's result as its id, whatever the status.
    let status: InstanceStatusName = 'Pending';
    const instanceId = await this.intercepted({ operation: 'start', name, input, ...(options.instanceId !== undefined ? { instanceId: options.instanceId } : {}) }, async (call) => {
      validateName(name, 'orchestration name');
      const instanceId = options.instanceId === undefined ? randomUUID() : validateInstanceId(options.instanceId);
      const priority = validatePriority(options.priority, this.deps.queues);
      const definition = this.deps.app.getOrchestration(name, options.version);
      const payload = toJsonPayload(call.input, `input of orchestration '${name}'`);
      const now = this.deps.clock.now();
      const record: InstanceRecord = {
        instanceId,
        name,
        version: definition.version,
        status: 'Pending',
        generation: 0,
        input: payload,
        createdAt: now,
        updatedAt: now,
        lastEventId: 0,
        revision: 0,
        // The instance's ledger starts with the write that creates it.
        cost: emptyLedger(),
      };
      // The instance's trace starts here: interceptors store its context with the record, beside its priority.
      const headers = withPriority(this.interceptors.headers(), priority);
      if (headers) record.headers = headers;
      const start: InboxMessage = {
        messageId: messageIds.start(0),
        generation: 0,
        receivedAt: now,
        event: { type: 'ExecutionStarted', name, version: definition.version, input: payload },
      };
      try {
        const started = await this.deps.eagerStart?.start({ ...record }, start);
        if (started !== undefined) {
          status = started;
          return instanceId;
        }
        await this.deps.store.createInstance(record, start);
      } catch (error) {
        if (!(error instanceof InstanceExistsError)) throw error;
        // A start retried after its first try died between creating the instance and waking it (a Lambda
        // timeout, a lost connection) finds it Pending with no doorbell coming: wake it. One more doorbell for
        // an instance whose first is still queued costs an idle step, nothing else. One that died after its
        // eager first step, before sending what the step decided, finds the instance at revision 1 with that one
        // step in its history: send it again (before anything else happened, it may not have been sent).
        const existing = await this.deps.store.getInstance(instanceId);
        if (existing?.status === 'Pending') await this.ring(existing);
        else if (this.deps.eagerStart && existing?.revision === 1 && !isTerminal(existing.status)) await this.deps.eagerStart.resendStart(instanceId);
        throw error;
      }
      await this.ring(record);
      return instanceId;
    });
    return { instanceId, status };
  }

  /**
   * The instance's current status; `InstanceNotFoundError` if there is none.
   * @example const { cost } = await client.getStatus(id, { cost: true });   // cost.totalUsd, cost.lines, cost.ledger
   */
  getStatus(instanceId: string, options: StatusOptions = {}): Promise<InstanceStatus> {
    return this.intercepted({ operation: 'getStatus', instanceId }, async () => {
      if (options.cost !== undefined && typeof options.cost !== 'boolean') throw new ValidationError(`cost must be true or false, got ${JSON.stringify(options.cost)}.`);
      return this.toStatus(await this.getRecord(instanceId), true, options.cost === true);
    });
  }

  /**
   * Waits until the instance is Completed, Failed, Terminated or Quarantined, and returns its status.
   * @example const { status, output } = await client.waitForCompletion(id, { timeout: '5m' });
   */
  async waitForCompletion(instanceId: string, options: WaitOptions = {}): Promise<InstanceStatus> {
    const timeoutMs = toMilliseconds(options.timeout ?? '60s', 'wait timeout');
    const deadline = Date.now() + timeoutMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 1_000)) {
      const record = await this.getRecord(instanceId);
      if (SETTLED.includes(record.status)) return this.toStatus(record);
      if (Date.now() >= deadline) throw this.waitTimeout(record, timeoutMs);
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))));
    }
  }

  /**
   * Sends an event to a running instance; `ctx.waitForEvent(eventName)` receives `data`.
   * @example await client.raiseEvent(id, 'approval', { approved: true });
   */
  raiseEvent(instanceId: string, eventName: string, data?: unknown, options: RaiseEventOptions = {}): Promise<void> {
    return this.intercepted({ operation: 'raiseEvent', instanceId, name: eventName, input: data }, async (call) => {
      validateEventName(eventName);
      if (options.eventId !== undefined) validateEventId(options.eventId);
      const payload = toJsonPayload(call.input, `data of event '${eventName}'`);
      const record = await this.getRecord(instanceId);
      this.assertNotFinished(record, `raise event '${eventName}' on`);
      const messageId = options.eventId === undefined ? `E#${randomUUID()}` : messageIds.keyedEvent(options.eventId);
      await this.send(record, messageId, { type: 'EventRaised', name: eventName, data: payload });
    });
  }

  /** Ends a running, suspended or quarantined instance at its next step; its parent sees a failed sub-orchestration. */
  terminate(instanceId: string, reason?: string): Promise<void> {
    return this.intercepted({ operation: 'terminate', instanceId }, async () => {
      checkReason(reason);
      const record = await this.getRecord(instanceId);
      this.assertNotFinished(record, 'terminate');
      await this.send(record, CONTROL_MESSAGE_IDS.terminate, { type: 'ExecutionTerminated', ...(reason ? { reason } : {}) });
    });
  }

  /**
   * Cancels the instance: its code sees a `CancelledError` at its pending durable calls and may clean up
   * (in `ctx.nonCancellable`) before it ends `Cancelled`; its running activities see `actx.signal` aborted
   * at their next heartbeat; its sub-orchestrations follow their `parentClose` policy. A suspended instance
   * is resumed to clean up. Cancelling twice is the same as once.
   * @example await client.cancel('order-42', 'customer asked');
   */
  cancel(instanceId: string, reason?: string): Promise<void> {
    return this.intercepted({ operation: 'cancel', instanceId }, async () => {
      checkReason(reason);
      const record = await this.getRecord(instanceId);
      this.assertNotFinished(record, 'cancel');
      if (record.status === 'Quarantined') {
        throw new InvalidStateError(`Cannot cancel instance '${instanceId}': it is Quarantined, so its code cannot run to clean up. Resume it after deploying a fix, or terminate it.`);
      }
      await this.send(record, CONTROL_MESSAGE_IDS.cancel, { type: 'ExecutionCancelRequested', ...(reason ? { reason } : {}) });
    });
  }

  /**
   * Resumes a `Failed` instance from its failure point, after a fix is deployed: the failed activity, step
   * or sub-orchestration (rewound in turn) of its last step runs again, and the code goes on from there.
   * History keeps the failure, marked rewound. Refused for any other status.
   * @example await client.rewind('order-42');
   */
  rewind(instanceId: string): Promise<void> {
    return this.intercepted({ operation: 'rewind', instanceId }, async () => {
      const record = await this.getRecord(instanceId);
      if (record.rewindRequested) {
        // Asked already, and not applied yet: the doorbell of that call may not have rung (a retry after an error).
        await this.ring(record);
        return;
      }
      if (record.status !== 'Failed') {
        throw new InvalidStateError(`Cannot rewind instance '${instanceId}': it is ${record.status}, and only a Failed instance can be rewound${record.status === 'Quarantined' ? ' (resume a Quarantined one after the fix)' : ''}.`);
      }
      const { error: _cleared, ...rest } = record;
      const rewinding: InstanceRecord = { ...rest, status: 'Running', rewindRequested: true, updatedAt: this.deps.clock.now(), revision: record.revision + 1 };
      if (!(await this.deps.store.updateInstance(rewinding, record.revision))) {
        throw new InvalidStateError(`Instance '${instanceId}' changed while it was being rewound; check its status and try again.`);
      }
      await this.ring(record);
    });
  }

  /**
   * Starts a fresh instance of a `Failed`, `Terminated` or `Cancelled` instance's orchestration with the
   * same input (on `version`, default the latest) and returns its id.
   * @example const retryId = await client.restart('order-42', { version: 3 });
   */
  restart(instanceId: string, options: RestartOptions = {}): Promise<string> {
    return this.intercepted({ operation: 'restart', instanceId }, async () => {
      const record = await this.getRecord(instanceId);
      if (!RESTARTABLE.includes(record.status)) {
        throw new InvalidStateError(`Cannot restart instance '${instanceId}': it is ${record.status}; only ${RESTARTABLE.join(', ')} instances can be restarted.`);
      }
      const input = await (this.deps.loadPayload ?? ((value: unknown) => value))(record.input);
      return this.start(record.name, input, { ...(options.version !== undefined ? { version: options.version } : {}), priority: options.priority ?? priorityOf(record.headers), instanceId: options.instanceId ?? `${instanceId}.r${this.deps.clock.now().toString(36)}` });
    });
  }

  /** Pauses the instance: results and events queue up in its inbox until `resume`. */
  suspend(instanceId: string, reason?: string): Promise<void> {
    return this.intercepted({ operation: 'suspend', instanceId }, async () => {
      checkReason(reason);
      const record = await this.getRecord(instanceId);
      this.assertNotFinished(record, 'suspend');
      await this.send(record, `X#suspend#${randomUUID()}`, { type: 'ExecutionSuspended', ...(reason ? { reason } : {}) });
    });
  }

  /** Resumes a suspended instance, or retries the step of a quarantined one (after the fix is deployed). */
  resume(instanceId: string): Promise<void> {
    return this.intercepted({ operation: 'resume', instanceId }, async () => {
      const record = await this.getRecord(instanceId);
      this.assertNotFinished(record, 'resume');
      if (record.status === 'Quarantined') {
        const { error: _cleared, ...rest } = record;
        // dispatchPending: the step re-sends work that was in flight and re-runs the ctx.step calls that were running.
        const resumed: InstanceRecord = { ...rest, status: record.lastEventId === 0 && record.generation === 0 ? 'Pending' : 'Running', dispatchPending: true, updatedAt: this.deps.clock.now(), revision: record.revision + 1 };
        if (!(await this.deps.store.updateInstance(resumed, record.revision))) {
          throw new InvalidStateError(`Instance '${instanceId}' changed while it was being resumed; check its status and try again.`);
        }
        await this.ring(record);
        return;
      }
      await this.send(record, `X#resume#${randomUUID()}`, { type: 'ExecutionResumed' });
    });
  }

  /**
   * Completes a callback with its result; `ctx.createCallback`'s promise resolves with it. The same
   * completion sent again (a retry after a lost response) is recorded once and answered `duplicate`.
   * Refused, with nothing written, for a malformed token (`ValidationError`), an unknown or forged one
   * (`CallbackNotFoundError`), a callback already completed or failed otherwise
   * (`CallbackAlreadyCompletedError`), one that expired (`CallbackExpiredError`), or a finished instance.
   * @example await client.completeCallback(token, { approved: true });
   */
  completeCallback(token: string, result?: unknown): Promise<CallbackDelivery> {
    return this.intercepted({ operation: 'completeCallback', input: result }, async (call) => {
      const payload = toJsonPayload(call.input, 'result of the callback');
      return this.settleCallback(token, { type: 'CallbackCompleted', result: payload });
    });
  }

  /**
   * Fails a callback; `ctx.createCallback`'s promise rejects with a `CallbackFailedError` carrying `error`
   * (without one: a `CallbackFailed` error saying the outside system gave no reason). Refused and answered as
   * `completeCallback` is.
   * @example await client.failCallback(token, { name: 'Declined', message: 'The card was declined.' });
   */
  failCallback(token: string, error?: CallbackFailure): Promise<CallbackDelivery> {
    return this.intercepted({ operation: 'failCallback' }, async () => {
      return this.settleCallback(token, { type: 'CallbackFailed', error: checkCallbackFailure(error) });
    });
  }

  /**
   * Tells a callback with a heartbeat timeout that the outside system still works on it: its heartbeat
   * deadline moves to now + the heartbeat timeout. Refused for a callback already completed or expired.
   * @example await client.heartbeatCallback(token);
   */
  heartbeatCallback(token: string): Promise<CallbackDelivery> {
    return this.intercepted({ operation: 'heartbeatCallback' }, async () => {
      const target = await this.callbackTarget(token);
      if (target.state.state === 'settled') throw alreadySettled(target.state, target.record, 'heartbeat');
      this.assertCallbackOpen(target, 'send a heartbeat to');
      return this.sendCallback(target.record, messageIds.callbackHeartbeat(target.record.generation, target.created.taskId), { type: 'CallbackHeartbeat', taskId: target.created.taskId });
    });
  }

  /**
   * The callbacks of an instance that wait for an outside system: not completed, failed or expired, with
   * their tokens and deadlines. Empty for a finished instance.
   * @example for (const callback of await client.listPendingCallbacks(id)) console.log(callback.name, callback.timeoutAt);
   */
  async listPendingCallbacks(instanceId: string): Promise<PendingCallback[]> {
    validateInstanceId(instanceId);
    const state = await this.deps.store.loadStep(instanceId);
    if (!state) throw new InstanceNotFoundError(instanceId);
    const { instance, history, inbox } = state;
    if (isTerminal(instance.status)) return [];
    const signals = [...callbackSignals(history), ...inboxSignals(inbox, instance.generation)];
    const now = this.deps.clock.now();
    const pending: PendingCallback[] = [];
    for (const event of history) {
      if (event.type !== 'CallbackCreated') continue;
      const state = callbackState(event, signals, now);
      if (state.state !== 'open') continue;
      const iso = (ms: number) => new Date(ms).toISOString();
      pending.push({
        token: formatCallbackToken({ instanceId, generation: instance.generation, taskId: event.taskId, nonce: event.nonce }),
        ...(event.name !== undefined ? { name: event.name } : {}),
        position: event.taskId,
        createdAt: iso(event.timestamp),
        ...(event.timeoutAt !== undefined ? { timeoutAt: iso(event.timeoutAt) } : {}),
        ...(event.heartbeatTimeoutMs !== undefined ? { heartbeatTimeout: formatDuration(event.heartbeatTimeoutMs) } : {}),
        ...(state.lastHeartbeat !== undefined ? { lastHeartbeatAt: iso(state.lastHeartbeat) } : {}),
        ...(state.heartbeatDeadline !== undefined ? { heartbeatDeadline: iso(state.heartbeatDeadline) } : {}),
      });
    }
    return pending;
  }

  /** Sends a completion or failure, unless the callback already has one: the same one is a duplicate, another is refused. */
  private async settleCallback(token: string, outcome: CallbackOutcome): Promise<CallbackDelivery> {
    const target = await this.callbackTarget(token);
    const action = outcome.type === 'CallbackCompleted' ? 'complete' : 'fail';
    if (target.state.state === 'settled') {
      if (await this.sameOutcome(target.state.outcome, outcome)) return 'duplicate';
      throw alreadySettled(target.state, target.record, action);
    }
    this.assertCallbackOpen(target, action);
    return this.sendCallback(target.record, messageIds.callback(target.record.generation, target.created.taskId), { ...outcome, taskId: target.created.taskId });
  }

  /** The callback a token names, checked against its instance's history and inbox (one read). */
  private async callbackTarget(token: string): Promise<{ record: InstanceRecord; created: CallbackCreated; state: CallbackState }> {
    const address = parseCallbackToken(token);
    const unknown = (why: string) =>
      new CallbackNotFoundError(`No callback has this token (instance '${address.instanceId}', position ${address.taskId}): ${why}. Check that the token is the one ctx.createCallback handed out, whole. Nothing was written.`);
    const loaded = await this.deps.store.loadStep(address.instanceId);
    if (!loaded) throw unknown('no such instance exists (it may have been purged)');
    const { instance: record, history, inbox } = loaded;
    if (record.generation !== address.generation) throw unknown(`the instance has continued as new (it is in generation ${record.generation}, the token names ${address.generation})`);
    const created = history.find((event): event is CallbackCreated => event.type === 'CallbackCreated' && event.taskId === address.taskId);
    if (!created || !sameSecret(created.nonce, address.nonce)) throw unknown('the instance handed out no such token');
    const state = callbackState(created, [...callbackSignals(history), ...inboxSignals(inbox, record.generation)], this.deps.clock.now());
    return { record, created, state };
  }

  private assertCallbackOpen(target: { record: InstanceRecord; created: CallbackCreated; state: CallbackState }, action: string): void {
    const { record, created, state } = target;
    if (state.state === 'expired') {
      throw new CallbackExpiredError(
        state.reason === 'timeout'
          ? `Cannot ${action} the callback ${describeCallback(created)} of instance '${record.instanceId}': it expired at ${new Date(state.at).toISOString()} (its timeout), and the orchestration no longer takes it. Nothing was written.`
          : `Cannot ${action} the callback ${describeCallback(created)} of instance '${record.instanceId}': it had no heartbeat for ${formatDuration(created.heartbeatTimeoutMs!)} and expired at ${new Date(state.at).toISOString()}. Send heartbeats more often than that. Nothing was written.`,
      );
    }
    if (isTerminal(record.status)) {
      throw new InvalidStateError(`Cannot ${action} the callback ${describeCallback(created)}: instance '${record.instanceId}' is already ${record.status} and no longer waits for it. Nothing was written.`);
    }
  }

  /** True when `sent` is what the callback already received: the same kind, the same JSON. */
  private async sameOutcome(received: Extract<CallbackSignal, { type: 'CallbackCompleted' | 'CallbackFailed' }>, sent: CallbackOutcome): Promise<boolean> {
    if (received.type !== sent.type) return false;
    const load = this.deps.loadPayload ?? ((value: unknown) => value);
    if (received.type === 'CallbackCompleted' && sent.type === 'CallbackCompleted') return sameJson(await load(received.result), sent.result);
    if (received.type === 'CallbackFailed' && sent.type === 'CallbackFailed') {
      const { name, message, details } = received.error;
      return name === sent.error.name && message === sent.error.message && sameJson(details === undefined ? undefined : await load(details), sent.error.details);
    }
    return false;
  }

  private async sendCallback(record: InstanceRecord, messageId: string, event: CallbackEvent): Promise<CallbackDelivery> {
    const outcome = await this.deps.store.deliver(record.instanceId, { messageId, generation: record.generation, receivedAt: this.deps.clock.now(), event });
    if (outcome === 'not-found') throw new InstanceNotFoundError(record.instanceId);
    await this.ring(record);
    return outcome === 'duplicate' ? 'duplicate' : 'recorded';
  }

  /** The history of the current generation, or of an earlier one. */
  getHistory(instanceId: string, options: HistoryOptions = {}): Promise<HistoryEvent[]> {
    return this.intercepted({ operation: 'getHistory', instanceId }, async () => {
      if (options.payloads !== undefined && options.payloads !== 'resolve' && options.payloads !== 'keep') {
        throw new ValidationError(`payloads must be 'resolve' or 'keep', got ${JSON.stringify(options.payloads)}.`);
      }
      const record = await this.getRecord(instanceId);
      const generation = options.generation ?? record.generation;
      if (!Number.isInteger(generation) || generation < 0 || generation > record.generation) {
        throw new ValidationError(`Instance '${instanceId}' has generations 0 to ${record.generation}; got ${JSON.stringify(options.generation)}.`);
      }
      const history = await this.deps.store.readHistory(instanceId, generation, record.incarnation);
      const load = options.payloads === 'keep' ? (this.deps.loadInlinePayload ?? this.deps.loadPayload) : this.deps.loadPayload;
      return load ? Promise.all(history.map((event) => loadEventPayloads(event, load))) : history;
    });
  }

  /** Deletes a finished instance and all its data. Terminate a running instance first. */
  purge(instanceId: string): Promise<void> {
    return this.intercepted({ operation: 'purge', instanceId }, async () => {
      const record = await this.getRecord(instanceId);
      if (!isTerminal(record.status)) {
        throw new InvalidStateError(`Instance '${instanceId}' is ${record.status}; only Completed, Failed or Terminated instances can be purged. Terminate it first.`);
      }
      await this.deps.store.purgeInstance(instanceId);
    });
  }

  /** Lists instances, newest created first when filtered by status, filtered by status and/or name; pass `cursor` back for the next page. */
  list(query: ListQuery = {}): Promise<{ instances: InstanceStatus[]; cursor?: string }> {
    return this.intercepted({ operation: 'list' }, async () => {
      if (query.status !== undefined && !STATUSES.includes(query.status)) {
        throw new ValidationError(`Unknown status ${JSON.stringify(query.status)}: use one of ${STATUSES.join(', ')}.`);
      }
      if (query.name !== undefined) validateName(query.name, 'orchestration name');
      const limit = query.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationError(`limit must be an integer from 1 to 1000, got ${JSON.stringify(query.limit)}.`);
      const { cost: _cost, includePayloads: _payloads, ...storeQuery } = query;
      const page = await this.deps.store.listInstances({ ...storeQuery, limit });
      const instances = await Promise.all(page.instances.map((record) => this.toStatus(record, query.includePayloads === true, query.cost === true)));
      return page.cursor ? { instances, cursor: page.cursor } : { instances };
    });
  }

  protected async getRecord(instanceId: string): Promise<InstanceRecord> {
    validateInstanceId(instanceId);
    const record = await this.deps.store.getInstance(instanceId);
    if (!record) throw new InstanceNotFoundError(instanceId);
    return record;
  }

  protected async toStatus(record: InstanceRecord, includePayloads = true, cost = false): Promise<InstanceStatus> {
    const load = this.deps.loadPayload ?? ((value: unknown) => value);
    const status: InstanceStatus = {
      instanceId: record.instanceId,
      name: record.name,
      version: record.version,
      status: record.status,
      generation: record.generation,
      historyLength: record.lastEventId,
      createdAt: new Date(record.createdAt).toISOString(),
      updatedAt: new Date(record.updatedAt).toISOString(),
    };
    if (includePayloads && record.input !== undefined) status.input = await load(record.input);
    if (includePayloads && record.output !== undefined) status.output = await load(record.output);
    if (record.error) status.error = publicError(record.error);
    if (record.parent) status.parentInstanceId = record.parent.instanceId;
    if (record.customStatus !== undefined) status.customStatus = JSON.parse(record.customStatus) as unknown;
    if (record.cancelRequested) status.cancelRequested = { at: new Date(record.cancelRequested.at).toISOString(), ...(record.cancelRequested.reason !== undefined ? { reason: record.cancelRequested.reason } : {}) };
    if (priorityOf(record.headers) === 'high') status.priority = 'high';
    if (cost && record.cost) status.cost = priceLedger(record.cost, this.deps.app.prices);
    return status;
  }

  protected waitTimeout(record: InstanceRecord, timeoutMs: number): TimeoutError {
    return new TimeoutError(
      `Instance '${record.instanceId}' is still ${record.status} after waiting ${formatDuration(timeoutMs)}: it may be waiting for an event (raise it with raiseEvent) or a long timer. Wait longer with { timeout }.`,
    );
  }

  private assertNotFinished(record: InstanceRecord, action: string): void {
    if (isTerminal(record.status)) {
      throw new InvalidStateError(
        `Cannot ${action} instance '${record.instanceId}': it is already ${record.status}. A finished instance takes no more events or commands: start a new instance instead.`,
      );
    }
  }

  private async send(record: InstanceRecord, messageId: string, event: Parameters<InstanceStore['deliver']>[1]['event']): Promise<void> {
    const outcome = await this.deps.store.deliver(record.instanceId, { messageId, receivedAt: this.deps.clock.now(), event });
    if (outcome === 'not-found') throw new InstanceNotFoundError(record.instanceId);
    await this.ring(record);
  }

}

async function loadEventPayloads(event: HistoryEvent, load: PayloadLoader): Promise<HistoryEvent> {
  const copy = { ...event } as Record<string, unknown>;
  for (const key of ['input', 'result', 'output', 'data']) if (copy[key] !== undefined) copy[key] = await load(copy[key]);
  return copy as unknown as HistoryEvent;
}

function publicError(error: FailureDetails): { name: string; message: string; code?: string } {
  return error.code ? { name: error.name, message: error.message, code: error.code } : { name: error.name, message: error.message };
}


type CallbackOutcome = { type: 'CallbackCompleted'; result: unknown } | { type: 'CallbackFailed'; error: FailureDetails };
type CallbackEvent = Extract<InboxMessage['event'], { type: 'CallbackCompleted' | 'CallbackFailed' | 'CallbackHeartbeat' }>;

/** The failure an outside system sends, checked, as history records it. */
function checkCallbackFailure(error: CallbackFailure | undefined): FailureDetails {
  if (error === undefined) return { name: 'CallbackFailed', message: 'The outside system failed the callback without giving an error.' };
  if (typeof error !== 'object' || error === null || typeof error.message !== 'string' || error.message.length > 10_000 || (error.name !== undefined && (typeof error.name !== 'string' || error.name.length === 0 || error.name.length > 200))) {
    throw new ValidationError('A callback failure needs { message: string (at most 10,000 characters), name?: string (1 to 200 characters), details?: JSON }.');
  }
  const details = toJsonPayload(error.details, 'details of the callback failure');
  return { name: error.name ?? 'CallbackFailed', message: error.message, ...(details !== undefined ? { details } : {}) };
}

/** The completions and heartbeats waiting in the inbox of the current generation. */
function inboxSignals(inbox: readonly InboxMessage[], generation: number): CallbackSignal[] {
  const signals: CallbackSignal[] = [];
  for (const { event, receivedAt, generation: of } of inbox) {
    if (of !== undefined && of !== generation) continue;
    if (event.type === 'CallbackCompleted') signals.push({ type: event.type, taskId: event.taskId, result: event.result, timestamp: receivedAt, pending: true });
    else if (event.type === 'CallbackFailed') signals.push({ type: event.type, taskId: event.taskId, error: event.error, timestamp: receivedAt, pending: true });
    else if (event.type === 'CallbackHeartbeat') signals.push({ type: event.type, taskId: event.taskId, timestamp: receivedAt, pending: true });
  }
  return signals;
}

function alreadySettled(state: Extract<CallbackState, { state: 'settled' }>, record: InstanceRecord, action: string): CallbackAlreadyCompletedError {
  const how = state.outcome.type === 'CallbackCompleted' ? 'completed' : `failed (${state.outcome.error.name})`;
  const when = state.outcome.pending ? ' (its next step applies it)' : '';
  const retry = action === 'heartbeat' ? '' : ' Sending the same completion again is answered as a duplicate; a different one is refused.';
  return new CallbackAlreadyCompletedError(
    `Cannot ${action === 'heartbeat' ? 'send a heartbeat to' : action} the callback ${describeCallback(state.created)} of instance '${record.instanceId}': it was already ${how} at ${new Date(state.outcome.timestamp).toISOString()}${when}.${retry} Nothing was written.`,
  );
}

/** Equal as JSON, whatever the order of object keys. */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]));
}

/** Compares two nonces in constant time, so the time taken tells an attacker nothing. */
function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function checkReason(reason: unknown): void {
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1000)) {
    throw new ValidationError('reason must be a string of at most 1000 characters.');
  }
}

/** The priority a start asked for, refused when it is not one or when the deployment has no lane for it. */
function validatePriority(priority: unknown, queues: WorkQueues): Priority {
  if (priority === undefined) return 'normal';
  if (typeof priority !== 'string' || !PRIORITIES.includes(priority as Priority)) {
    throw new ValidationError(`Invalid priority ${JSON.stringify(priority)}: use ${PRIORITIES.map((p) => `'${p}'`).join(' or ')}.`);
  }
  if (priority === 'high' && queues.priorityLane === false) {
    throw new ValidationError(
      "This deployment has no high-priority lane: deploy the DurableFunctions construct with priorityLane (on by default) or start the instance without priority 'high'.",
    );
  }
  return priority as Priority;
}
