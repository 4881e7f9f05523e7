import type { MessageHeaders } from '../core/interceptors.js';
import type { ActivityTask, Doorbell, InboxMessage, TimerTask, WorkQueues } from '../ports.js';
import type { VirtualClock } from './virtual-clock.js';

/** What the queues deliver work to. */
export interface WorkHandlers {
  step(instanceId: string, options: { redelivered: boolean; messages: InboxMessage[]; runInline: boolean; carriedOnly: boolean; deadline?: number; headers: MessageHeaders[] }): Promise<unknown>;
  runActivity(task: ActivityTask, delivery: { redelivered: boolean; deadline?: number; receipt: string }): Promise<void>;
  fireTimer(timer: TimerTask, delivery: { redelivered: boolean; deadline?: number }): Promise<void>;
}

/** The doorbells of one instance waiting for its next step, merged as a FIFO group's batch would be. */
interface PendingDoorbells {
  state: 'queued' | 'running' | 'again';
  messages: InboxMessage[];
  runInline: boolean;
  /** One of the doorbells carried nothing: it rang for a stored message. */
  plain: boolean;
  /** One of the doorbells asked for a repair. */
  repair: boolean;
  /** The headers of the doorbells that carried any, in order. */
  headers: MessageHeaders[];
}

const MAX_REAL_DELAY = 2_147_483_647;
/** How long failed work waits before it is delivered again (SQS's visibility timeout, shortened). */
const REDELIVERY_DELAY_MS = 2;

/**
 * Queues in memory. Doorbells of one instance run one step at a time and coalesce while a step runs (as
 * an SQS FIFO group serialises them); activities run concurrently, for real; timers fire when the virtual
 * clock reaches them. With time skipping on, whenever nothing is running and timers are all that is
 * left, the clock jumps to the next timer, so a 30-day sleep takes milliseconds.
 */
export class MemoryWorkQueues implements WorkQueues {
  private handlers: WorkHandlers | undefined;
  private readonly doorbells = new Map<string, PendingDoorbells>();
  private readonly timers = new Map<string, TimerTask>();
  private busy = 0;
  private skipping = 0;
  private wake: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  /** Errors thrown by handlers (infrastructure errors; orchestration failures are recorded in history). */
  readonly errors: unknown[] = [];
  /**
   * Every lease extension a heartbeat asked for, in order: the delivered task and how long from the
   * virtual clock's now. The queues in memory never redeliver a task whose lease ran out (tests read this).
   */
  readonly leaseExtensions: { instanceId: string; taskId: number; attempt: number; ms: number }[] = [];
  private readonly deliveries = new Map<string, ActivityTask>();
  private nextReceipt = 1;

  /**
   * @param redeliverFailures deliver failed work again after a moment, as SQS does after a visibility
   *   timeout (fault-injection runs); otherwise a failure is recorded in `errors` and the work dropped.
   * @param functionTimeoutMs each delivery gets this long (real time) as its deadline, as a Lambda
   *   invocation does, and failed work comes back only after it (a visibility timeout past the deadline)
   */
  constructor(
    private readonly clock: VirtualClock,
    private readonly onError: (error: unknown, work: string) => void = () => {},
    private readonly redeliverFailures = false,
    private readonly functionTimeoutMs?: number,
  ) {}

  private deadline(): number | undefined {
    return this.functionTimeoutMs === undefined ? undefined : Date.now() + this.functionTimeoutMs;
  }

  private get redeliveryDelayMs(): number {
    return this.functionTimeoutMs === undefined ? REDELIVERY_DELAY_MS : this.functionTimeoutMs + REDELIVERY_DELAY_MS;
  }

  attach(handlers: WorkHandlers): void {
    this.handlers = handlers;
  }

  async ringDoorbell(instanceId: string, doorbell: Doorbell = {}): Promise<void> {
    const pending = this.doorbells.get(instanceId);
    const messages = structuredClone(doorbell.messages ?? []);
    if (pending) {
      pending.messages.push(...messages);
      pending.runInline ||= doorbell.runInline === true;
      pending.plain ||= messages.length === 0;
      pending.repair ||= doorbell.repair === true;
      if (doorbell.headers) pending.headers.push(doorbell.headers);
      if (pending.state === 'running') pending.state = 'again';
      return;
    }
    this.doorbells.set(instanceId, { state: 'queued', messages, runInline: doorbell.runInline === true, plain: messages.length === 0, repair: doorbell.repair === true, headers: doorbell.headers ? [doorbell.headers] : [] });
    this.run(`step of ${instanceId}`, () => this.runDoorbell(instanceId));
  }

  async enqueueActivities(tasks: ActivityTask[]): Promise<void> {
    for (const task of tasks) {
      this.run(`activity ${task.name} of ${task.instanceId}`, async (redelivered) => {
        // Each delivery has its own receipt, as each receive of an SQS message has its own handle.
        const receipt = `receipt-${this.nextReceipt++}`;
        this.deliveries.set(receipt, task);
        try {
          await this.handlers!.runActivity(task, { redelivered, deadline: this.deadline(), receipt });
        } finally {
          this.deliveries.delete(receipt);
        }
      });
    }
  }

  async extendActivityLease(receipt: string, ms: number): Promise<void> {
    const task = this.deliveries.get(receipt);
    // SQS refuses a handle whose message is no longer in flight.
    if (!task) throw new Error(`No activity task is in flight with receipt '${receipt}'.`);
    this.leaseExtensions.push({ instanceId: task.instanceId, taskId: task.taskId, attempt: task.attempt, ms });
  }

  async scheduleTimers(timers: TimerTask[]): Promise<void> {
    for (const timer of timers) this.timers.set(`${timer.instanceId}#${timer.generation}#${timer.taskId}`, timer);
    this.fireDueTimers();
  }

  /** While held, the clock skips ahead whenever only timers are pending. Returns the release function. */
  holdTimeSkipping(): () => void {
    this.skipping++;
    let released = false;
    this.afterWork();
    return () => {
      if (!released) this.skipping--;
      released = true;
    };
  }

  /** Moves the clock forward and fires the timers that became due. */
  advanceTime(ms: number): void {
    this.clock.advance(ms);
    this.fireDueTimers();
  }

  /** When the earliest pending timer is due (virtual time), if any. */
  nextTimerAt(): number | undefined {
    let next: number | undefined;
    for (const timer of this.timers.values()) if (next === undefined || timer.fireAt < next) next = timer.fireAt;
    return next;
  }

  /** Resolves when no step, activity or timer delivery is running (timers may still be pending). */
  idle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.wake);
    this.timers.clear();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async runDoorbell(instanceId: string, redelivered = false): Promise<void> {
    const pending = this.doorbells.get(instanceId)!;
    const { messages, runInline, plain, repair, headers } = pending;
    Object.assign(pending, { state: 'running', messages: [], runInline: false, plain: false, repair: false, headers: [] });
    let failed = false;
    try {
      await this.handlers!.step(instanceId, { redelivered: redelivered || repair, messages, runInline, carriedOnly: !plain, deadline: this.deadline(), headers });
    } catch (error) {
      if (!this.redeliverFailures) throw error;
      failed = true;
      this.onError(error, `step of ${instanceId}`);
      // Not acknowledged: what the doorbell carried comes back with it.
      pending.messages.unshift(...messages);
      pending.runInline ||= runInline;
      pending.plain ||= plain;
      pending.repair ||= repair;
      pending.headers.unshift(...headers);
    } finally {
      if (failed || pending.state === 'again') {
        pending.state = 'queued';
        this.run(`step of ${instanceId}`, () => this.runDoorbell(instanceId, failed), failed ? this.redeliveryDelayMs : 0);
      } else {
        this.doorbells.delete(instanceId);
      }
    }
  }

  /** Runs `work` soon; with redelivery on, work that fails runs again (as redelivered) after a moment. */
  private run(what: string, work: (redelivered: boolean) => Promise<unknown>, delayMs = 0, redelivered = false): void {
    if (this.closed) return;
    this.busy++;
    const start = () =>
      void work(redelivered)
        .catch((error: unknown) => {
          this.onError(error, what);
          if (this.redeliverFailures) this.run(what, work, this.redeliveryDelayMs, true);
          else this.errors.push(error);
        })
        .finally(() => {
          this.busy--;
          this.afterWork();
        });
    if (delayMs > 0) setTimeout(start, delayMs);
    else setImmediate(start);
  }

  private afterWork(): void {
    if (this.busy > 0 || this.closed) return;
    if (this.skipping > 0 && this.timers.size > 0) {
      this.clock.advanceTo(Math.min(...[...this.timers.values()].map((timer) => timer.fireAt)));
      this.fireDueTimers();
      if (this.busy > 0) return;
    }
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private fireDueTimers(): void {
    if (this.closed) return;
    const now = this.clock.now();
    let next = Infinity;
    for (const [key, timer] of this.timers) {
      if (timer.fireAt <= now) {
        this.timers.delete(key);
        this.run(`timer ${timer.taskId} of ${timer.instanceId}`, (redelivered) => this.handlers!.fireTimer(timer, { redelivered, deadline: this.deadline() }));
      } else {
        next = Math.min(next, timer.fireAt);
      }
    }
    clearTimeout(this.wake);
    this.wake = next === Infinity ? undefined : setTimeout(() => this.fireDueTimers(), Math.min(next - now, MAX_REAL_DELAY));
    this.wake?.unref();
  }
}
