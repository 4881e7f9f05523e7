import { randomUUID } from 'node:crypto';
import type { App } from './core/app.js';
import { formatDuration, toMilliseconds, type Duration } from './core/durations.js';
import { timingSafeEqual } from 'node:crypto';
import { parseCallbackToken, type CallbackAddress } from './core/callback-token.js';
import { CallbackNotFoundError, InstanceNotFoundError, InvalidStateError, TimeoutError, ValidationError, type FailureDetails } from './core/errors.js';
import type { CallbackCreated, HistoryEvent } from './core/history-events.js';
import { validateEventId, validateEventName, validateInstanceId, validateName } from './core/names.js';
import { toJsonPayload, type PayloadLoader } from './core/payload.js';
import { isTerminal, type Clock, type InstanceRecord, type InstanceStatusName, type InstanceStore, type WorkQueues } from './ports.js';
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
  /** Events in the current generation's history. */
  historyLength: number;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601. */
  updatedAt: string;
}

export interface StartOptions {
  /** @defaultValue a random UUID */
  instanceId?: string;
  /** @defaultValue the latest registered version */
  version?: string | number;
}

export interface RestartOptions {
  /** The version to start on. @defaultValue the latest registered version */
  version?: string | number;
  /** The new instance's id. @defaultValue the old id with `.r<time>` appended */
  instanceId?: string;
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

/** What a callback call did: `recorded`, or `duplicate` (the same completion was already waiting to be applied: recorded once). */
export type CallbackDelivery = 'recorded' | 'duplicate';

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
}

/** Statuses a wait for completion returns on: the terminal ones, and Quarantined, which needs an operator. */
export const SETTLED: readonly InstanceStatusName[] = ['Completed', 'Failed', 'Terminated', 'Cancelled', 'Quarantined'];
const STATUSES: readonly InstanceStatusName[] = ['Pending', 'Running', 'Completed', 'Failed', 'Terminated', 'Cancelled', 'Suspended', 'Quarantined', 'ContinuedAsNew'];

/**
 * Starts and manages orchestration instances. Every method validates its arguments before writing
 * anything, so a rejected call changes nothing.
 */
export class Client {
  constructor(protected readonly deps: ClientDependencies) {}

  /**
   * Starts an instance and returns its id. A second start with the same id is rejected with `InstanceExistsError`.
   * @example const id = await client.start('order', { orderId: 'o-1' }, { instanceId: 'order-o-1' });
   */
  async start(name: string, input?: unknown, options: StartOptions = {}): Promise<string> {
    validateName(name, 'orchestration name');
    const instanceId = options.instanceId === undefined ? randomUUID() : validateInstanceId(options.instanceId);
    const definition = this.deps.app.getOrchestration(name, options.version);
    const payload = toJsonPayload(input, `input of orchestration '${name}'`);
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
    };
    await this.deps.store.createInstance(record, {
      messageId: messageIds.start(0),
      generation: 0,
      receivedAt: now,
      event: { type: 'ExecutionStarted', name, version: definition.version, input: payload },
    });
    await this.deps.queues.ringDoorbell(instanceId);
    return instanceId;
  }

  /** The instance's current status; `InstanceNotFoundError` if there is none. */
  async getStatus(instanceId: string): Promise<InstanceStatus> {
    return this.toStatus(await this.getRecord(instanceId));
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
  async raiseEvent(instanceId: string, eventName: string, data?: unknown, options: RaiseEventOptions = {}): Promise<void> {
    validateEventName(eventName);
    if (options.eventId !== undefined) validateEventId(options.eventId);
    const payload = toJsonPayload(data, `data of event '${eventName}'`);
    const record = await this.getRecord(instanceId);
    this.assertNotFinished(record, `raise event '${eventName}' on`);
    const messageId = options.eventId === undefined ? `E#${randomUUID()}` : messageIds.keyedEvent(options.eventId);
    await this.send(record, messageId, { type: 'EventRaised', name: eventName, data: payload });
  }

  /** Ends a running, suspended or quarantined instance at its next step; its parent sees a failed sub-orchestration. */
  async terminate(instanceId: string, reason?: string): Promise<void> {
    checkReason(reason);
    const record = await this.getRecord(instanceId);
    this.assertNotFinished(record, 'terminate');
    await this.send(record, CONTROL_MESSAGE_IDS.terminate, { type: 'ExecutionTerminated', ...(reason ? { reason } : {}) });
  }

  /**
   * Cancels the instance: its code sees a `CancelledError` at its pending durable calls and may clean up
   * (in `ctx.nonCancellable`) before it ends `Cancelled`; its running activities see `actx.signal` aborted
   * at their next heartbeat; its sub-orchestrations follow their `parentClose` policy. A suspended instance
   * is resumed to clean up. Cancelling twice is the same as once.
   * @example await client.cancel('order-42', 'customer asked');
   */
  async cancel(instanceId: string, reason?: string): Promise<void> {
    checkReason(reason);
    const record = await this.getRecord(instanceId);
    this.assertNotFinished(record, 'cancel');
    if (record.status === 'Quarantined') {
      throw new InvalidStateError(`Cannot cancel instance '${instanceId}': it is Quarantined, so its code cannot run to clean up. Resume it after deploying a fix, or terminate it.`);
    }
    await this.send(record, CONTROL_MESSAGE_IDS.cancel, { type: 'ExecutionCancelRequested', ...(reason ? { reason } : {}) });
  }

  /**
   * Resumes a `Failed` instance from its failure point, after a fix is deployed: the failed activity, step
   * or sub-orchestration (rewound in turn) of its last step runs again, and the code goes on from there.
   * History keeps the failure, marked rewound. Refused for any other status.
   * @example await client.rewind('order-42');
   */
  async rewind(instanceId: string): Promise<void> {
    const record = await this.getRecord(instanceId);
    if (record.rewindRequested) {
      // Asked already, and not applied yet: the doorbell of that call may not have rung (a retry after an error).
      await this.deps.queues.ringDoorbell(instanceId);
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
    await this.deps.queues.ringDoorbell(instanceId);
  }

  /**
   * Starts a fresh instance of a `Failed`, `Terminated` or `Cancelled` instance's orchestration with the
   * same input (on `version`, default the latest) and returns its id.
   * @example const retryId = await client.restart('order-42', { version: 3 });
   */
  async restart(instanceId: string, options: RestartOptions = {}): Promise<string> {
    const record = await this.getRecord(instanceId);
    if (!RESTARTABLE.includes(record.status)) {
      throw new InvalidStateError(`Cannot restart instance '${instanceId}': it is ${record.status}; only ${RESTARTABLE.join(', ')} instances can be restarted.`);
    }
    const input = await (this.deps.loadPayload ?? ((value: unknown) => value))(record.input);
    return this.start(record.name, input, { ...(options.version !== undefined ? { version: options.version } : {}), instanceId: options.instanceId ?? `${instanceId}.r${this.deps.clock.now().toString(36)}` });
  }

  /** Pauses the instance: results and events queue up in its inbox until `resume`. */
  async suspend(instanceId: string, reason?: string): Promise<void> {
    checkReason(reason);
    const record = await this.getRecord(instanceId);
    this.assertNotFinished(record, 'suspend');
    await this.send(record, `X#suspend#${randomUUID()}`, { type: 'ExecutionSuspended', ...(reason ? { reason } : {}) });
  }

  /** Resumes a suspended instance, or retries the step of a quarantined one (after the fix is deployed). */
  async resume(instanceId: string): Promise<void> {
    const record = await this.getRecord(instanceId);
    this.assertNotFinished(record, 'resume');
    if (record.status === 'Quarantined') {
      const { error: _cleared, ...rest } = record;
      // dispatchPending: the step re-sends work that was in flight and re-runs the ctx.step calls that were running.
      const resumed: InstanceRecord = { ...rest, status: record.lastEventId === 0 && record.generation === 0 ? 'Pending' : 'Running', dispatchPending: true, updatedAt: this.deps.clock.now(), revision: record.revision + 1 };
      if (!(await this.deps.store.updateInstance(resumed, record.revision))) {
        throw new InvalidStateError(`Instance '${instanceId}' changed while it was being resumed; check its status and try again.`);
      }
      await this.deps.queues.ringDoorbell(instanceId);
      return;
    }
    await this.send(record, `X#resume#${randomUUID()}`, { type: 'ExecutionResumed' });
  }

  /**
   * Completes a callback with its result; `ctx.createCallback`'s promise resolves with it. Refused (and
   * nothing written) for a malformed or unknown token, an expired callback, or one already completed.
   * @example await client.completeCallback(token, { approved: true });
   */
  async completeCallback(token: string, result?: unknown): Promise<CallbackDelivery> {
    const payload = toJsonPayload(result, 'result of the callback');
    const target = await this.callbackTarget(token, 'complete');
    return this.sendCallback(target, messageIds.callback(target.generation, target.taskId), { type: 'CallbackCompleted', taskId: target.taskId, result: payload });
  }

  /**
   * Fails a callback; `ctx.createCallback`'s promise rejects with a `CallbackFailedError` carrying `error`.
   * @example await client.failCallback(token, { name: 'Declined', message: 'The card was declined.' });
   */
  async failCallback(token: string, error: CallbackFailure): Promise<CallbackDelivery> {
    if (typeof error !== 'object' || error === null || typeof error.message !== 'string' || error.message.length > 10_000 || (error.name !== undefined && (typeof error.name !== 'string' || error.name.length > 200))) {
      throw new ValidationError('A callback failure needs { message: string (at most 10,000 characters), name?: string, details?: JSON }.');
    }
    const details = toJsonPayload(error.details, 'details of the callback failure');
    const target = await this.callbackTarget(token, 'fail');
    const failure: FailureDetails = { name: error.name ?? 'CallbackFailed', message: error.message, ...(details !== undefined ? { details } : {}) };
    return this.sendCallback(target, messageIds.callback(target.generation, target.taskId), { type: 'CallbackFailed', taskId: target.taskId, error: failure });
  }

  /** Tells a callback with a heartbeat timeout that the outside system still works on it. */
  async heartbeatCallback(token: string): Promise<CallbackDelivery> {
    const target = await this.callbackTarget(token, 'heartbeat');
    return this.sendCallback(target, messageIds.callbackHeartbeat(target.generation, target.taskId), { type: 'CallbackHeartbeat', taskId: target.taskId });
  }

  /** The pending callback a token names, checked against history: its nonce, its end, its deadlines. */
  private async callbackTarget(token: string, action: string): Promise<CallbackAddress & { record: InstanceRecord; created: CallbackCreated }> {
    const address = parseCallbackToken(token);
    const unknown = () => new CallbackNotFoundError(`No callback has this token (instance '${address.instanceId}', position ${address.taskId}): it was never handed out, or its instance was purged or continued as new. Nothing was written.`);
    const record = await this.deps.store.getInstance(address.instanceId);
    if (!record || record.generation !== address.generation) throw unknown();
    if (isTerminal(record.status)) throw new InvalidStateError(`Cannot ${action} the callback: instance '${record.instanceId}' is already ${record.status}. Nothing was written.`);
    const history = await this.deps.store.readHistory(record.instanceId, record.generation, record.incarnation);
    const created = history.find((event): event is CallbackCreated => event.type === 'CallbackCreated' && event.taskId === address.taskId);
    if (!created || !sameSecret(created.nonce, address.nonce)) throw unknown();
    const ended = history.find((event) => (event.type === 'CallbackCompleted' || event.type === 'CallbackFailed') && event.taskId === address.taskId);
    if (ended) throw new InvalidStateError(`The callback ${describeCallback(created)} of instance '${record.instanceId}' was already ${ended.type === 'CallbackCompleted' ? 'completed' : 'failed'} at ${new Date(ended.timestamp).toISOString()}. Nothing was written.`);
    const now = this.deps.clock.now();
    if (created.timeoutAt !== undefined && now > created.timeoutAt) {
      throw new InvalidStateError(`The callback ${describeCallback(created)} of instance '${record.instanceId}' expired at ${new Date(created.timeoutAt).toISOString()}. Nothing was written.`);
    }
    if (created.heartbeatTimeoutMs !== undefined) {
      const lastHeard = Math.max(created.timestamp, ...history.filter((event) => event.type === 'CallbackHeartbeat' && event.taskId === address.taskId).map((event) => event.timestamp));
      if (now - lastHeard > created.heartbeatTimeoutMs) {
        throw new InvalidStateError(`The callback ${describeCallback(created)} of instance '${record.instanceId}' had no heartbeat for ${formatDuration(created.heartbeatTimeoutMs)} and expired. Nothing was written.`);
      }
    }
    return { ...address, record, created };
  }

  private async sendCallback(target: { record: InstanceRecord }, messageId: string, event: Parameters<InstanceStore['deliver']>[1]['event']): Promise<CallbackDelivery> {
    const outcome = await this.deps.store.deliver(target.record.instanceId, { messageId, generation: target.record.generation, receivedAt: this.deps.clock.now(), event });
    if (outcome === 'not-found') throw new InstanceNotFoundError(target.record.instanceId);
    await this.deps.queues.ringDoorbell(target.record.instanceId);
    return outcome === 'duplicate' ? 'duplicate' : 'recorded';
  }

  /** The history of the current generation, or of an earlier one. */
  async getHistory(instanceId: string, options: HistoryOptions = {}): Promise<HistoryEvent[]> {
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
  }

  /** Deletes a finished instance and all its data. Terminate a running instance first. */
  async purge(instanceId: string): Promise<void> {
    const record = await this.getRecord(instanceId);
    if (!isTerminal(record.status)) {
      throw new InvalidStateError(`Instance '${instanceId}' is ${record.status}; only Completed, Failed or Terminated instances can be purged. Terminate it first.`);
    }
    await this.deps.store.purgeInstance(instanceId);
  }

  /** Lists instances, newest created first when filtered by status, filtered by status and/or name; pass `cursor` back for the next page. */
  async list(query: ListQuery = {}): Promise<{ instances: InstanceStatus[]; cursor?: string }> {
    if (query.status !== undefined && !STATUSES.includes(query.status)) {
      throw new ValidationError(`Unknown status ${JSON.stringify(query.status)}: use one of ${STATUSES.join(', ')}.`);
    }
    if (query.name !== undefined) validateName(query.name, 'orchestration name');
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationError(`limit must be an integer from 1 to 1000, got ${JSON.stringify(query.limit)}.`);
    const page = await this.deps.store.listInstances({ ...query, limit });
    const instances = await Promise.all(page.instances.map((record) => this.toStatus(record, query.includePayloads === true)));
    return page.cursor ? { instances, cursor: page.cursor } : { instances };
  }

  protected async getRecord(instanceId: string): Promise<InstanceRecord> {
    validateInstanceId(instanceId);
    const record = await this.deps.store.getInstance(instanceId);
    if (!record) throw new InstanceNotFoundError(instanceId);
    return record;
  }

  protected async toStatus(record: InstanceRecord, includePayloads = true): Promise<InstanceStatus> {
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
    await this.deps.queues.ringDoorbell(record.instanceId);
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


function describeCallback(created: CallbackCreated): string {
  return created.name ? `'${created.name}'` : `at position ${created.taskId}`;
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
