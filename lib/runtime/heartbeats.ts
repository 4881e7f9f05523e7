import { CancelledError, ValidationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { toJsonPayload } from '../core/payload.js';
import { isTerminal, type Clock, type InstanceRecord, type InstanceStore } from '../ports.js';

/** The largest heartbeat details, as JSON bytes: a cursor or a count, not the work's state. */
export const MAX_HEARTBEAT_DETAILS_BYTES = 4_096;

/**
 * At most one write (details, the instance check, the lease) per attempt this often: an activity may call
 * `heartbeat` in a tight loop, and each write costs a DynamoDB request. The first heartbeat of an attempt
 * writes at once, and the last details of an attempt that fails are written before its failure is
 * recorded, so only a crash can lose what the last 30 s reported.
 */
export const HEARTBEAT_WRITE_INTERVAL_MS = 30_000;

/** A task's lease is extended past the time its attempt may run by this much, for the attempt's outcome to be recorded. */
const LEASE_GRACE_MS = 30_000;

/** Where one attempt's heartbeats go beyond the attempt itself. */
export interface HeartbeatTarget {
  store: InstanceStore;
  clock: Clock;
  logger: Logger;
  instanceId: string;
  /** The call's key: its attempts share it, and so its heartbeat details. */
  idempotencyKey: string;
  attempt: number;
  /** `Activity 'x'` or `Step 'x'`, for messages. */
  what: string;
  /**
   * Keeps the queued task from being delivered again for the given ms (absent for inline calls, which have
   * no message of their own), and when the attempt's invocation is surely over (real time), which the
   * lease must cover: a task delivered again while its first run may still be alive would run twice at
   * once, and its crash evidence would count nothing.
   */
  lease?: { extend: (ms: number) => Promise<void>; until: number };
  /** A heartbeat that finds the instance terminated or cancelled calls this, with the reason to abort. */
  onStop: (reason: Error) => void;
}

/**
 * Checks heartbeat details where they are given: plain JSON of at most 4 KiB, so a mistake shows in the
 * attempt that made it (a `ValidationError`, which fails the attempt without retries when uncaught).
 */
export function checkHeartbeatDetails(details: unknown, what: string): { value: unknown; json: string } {
  const value = toJsonPayload(details, `heartbeat details of ${what}`);
  const json = JSON.stringify(value ?? null);
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_HEARTBEAT_DETAILS_BYTES) {
    throw new ValidationError(
      `The heartbeat details of ${what} are ${bytes} bytes of JSON, over the limit of ${MAX_HEARTBEAT_DETAILS_BYTES}: keep a cursor, an offset or a page token there, and larger state in your own storage.`,
    );
  }
  return { value, json };
}

/**
 * What an earlier run of the call reported with `actx.heartbeat(details)`: a previous attempt's, or, on a
 * redelivery, this attempt's own run that crashed. A first attempt's first delivery reads nothing: no run
 * came before it, and the common path stays free of reads.
 */
export async function previousHeartbeatDetails(store: InstanceStore, call: { instanceId: string; idempotencyKey: string; attempt: number }, redelivered: boolean): Promise<unknown> {
  if (call.attempt === 1 && !redelivered) return undefined;
  const heartbeat = await store.readHeartbeat(call.instanceId, call.idempotencyKey);
  if (!heartbeat) return undefined;
  return heartbeat.attempt < call.attempt || (redelivered && heartbeat.attempt === call.attempt) ? heartbeat.details : undefined;
}

/**
 * The heartbeats of one attempt, throttled: a heartbeat sends what changed (the details, the task's lease
 * once) and reads the instance record, at most once per `HEARTBEAT_WRITE_INTERVAL_MS`. Failures of those
 * writes are logged and retried at the next one: a heartbeat is a report, and the attempt's liveness is
 * judged by its own worker (the `heartbeatTimeout`), not by what reached the store.
 */
export class AttemptHeartbeats {
  private lastWriteAt: number | undefined;
  private writing: Promise<void> | undefined;
  /** The details given last, and the JSON of the details the store holds. */
  private pending: { value: unknown; json: string } | undefined;
  private written: string | undefined;
  private leaseExtended = false;
  private ended = false;

  constructor(private readonly target: HeartbeatTarget) {}

  /** A heartbeat of the attempt, details already checked. Resolves once a write it started is done. */
  async beat(details: { value: unknown; json: string } | undefined): Promise<void> {
    if (this.ended) return;
    if (details) this.pending = details;
    if (this.writing) return this.writing;
    const now = Date.now();
    if (this.lastWriteAt !== undefined && now - this.lastWriteAt < HEARTBEAT_WRITE_INTERVAL_MS) return;
    this.lastWriteAt = now;
    this.writing = this.write().finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** The attempt ended. A failed one writes its last details first, so that the retry sees them. */
  async end(failed: boolean): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.writing;
    if (failed && this.pending && this.pending.json !== this.written) await this.writeDetails(this.pending);
  }

  private async write(): Promise<void> {
    const { lease } = this.target;
    await Promise.all([
      this.pending && this.pending.json !== this.written ? this.writeDetails(this.pending) : undefined,
      lease && !this.leaseExtended ? this.extendLease(lease) : undefined,
      this.checkInstance(),
    ]);
  }

  private async writeDetails(details: { value: unknown; json: string }): Promise<void> {
    const { store, clock, instanceId, idempotencyKey, attempt } = this.target;
    try {
      await store.recordHeartbeat(instanceId, idempotencyKey, { attempt, at: clock.now(), details: details.value });
      this.written = details.json;
    } catch (error) {
      this.warn('could not record heartbeat details; the next heartbeat tries again', error);
    }
  }

  private async extendLease(lease: NonNullable<HeartbeatTarget['lease']>): Promise<void> {
    try {
      await lease.extend(Math.max(0, lease.until - Date.now()) + LEASE_GRACE_MS);
      this.leaseExtended = true;
    } catch (error) {
      this.warn('could not extend the lease of the activity task; the next heartbeat tries again', error);
    }
  }

  private async checkInstance(): Promise<void> {
    const { store, instanceId, what, attempt } = this.target;
    let record: InstanceRecord | undefined;
    try {
      record = await store.getInstance(instanceId);
    } catch (error) {
      this.warn('could not read the instance on a heartbeat; the next heartbeat tries again', error);
      return;
    }
    const why = stopReason(record);
    if (why && !this.ended) this.target.onStop(stopped(`${what} (attempt ${attempt}) was stopped on a heartbeat: instance '${instanceId}' ${why}, so its result is no longer needed.`));
  }

  private warn(message: string, error: unknown): void {
    this.target.logger.warn(message, { instanceId: this.target.instanceId, what: this.target.what, error: error instanceof Error ? error.message : String(error) });
  }
}

/**
 * Why running work of this instance should stop, if it should: it was terminated, cancelled or purged. An
 * instance that completed or failed keeps the calls it made without awaiting them: they run to their end.
 */
function stopReason(record: InstanceRecord | undefined): string | undefined {
  if (!record) return 'no longer exists (it was purged)';
  if (record.cancelRequested) return `was cancelled${record.cancelRequested.reason ? ` (${record.cancelRequested.reason})` : ''}`;
  if (isTerminal(record.status) && record.status !== 'Completed' && record.status !== 'Failed') return `was ${record.status.toLowerCase()}`;
  return undefined;
}

/** The reason an attempt's signal is aborted with when its instance no longer needs it. */
function stopped(message: string): Error {
  const error = new CancelledError(message) as CancelledError & { nonRetryable: boolean };
  // Nothing waits for the result: a retry would be work for nobody.
  error.nonRetryable = true;
  return error;
}
