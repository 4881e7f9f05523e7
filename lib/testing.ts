import type { App } from './core/app.js';
import { formatDuration, toMilliseconds, type Duration } from './core/durations.js';
import { ValidationError } from './core/errors.js';
import type { Logger } from './core/logger.js';
import { Client, SETTLED, type InstanceStatus, type WaitOptions } from './client.js';
import { MemoryWorkQueues } from './memory/memory-queues.js';
import { MemoryInstanceStore } from './memory/memory-store.js';
import { MemoryScheduleStates } from './memory/memory-schedule-states.js';
import { VirtualClock } from './memory/virtual-clock.js';
import { TaskWorker } from './runtime/activity-worker.js';
import { CallbackUrlSigner, staticSigningKeys } from './runtime/callback-urls.js';
import { OrchestrationWorker, type InlineOptions } from './runtime/orchestration-worker.js';
import { ScheduleService } from './runtime/schedules.js';
import { withFaults, type FaultInjector } from './faults.js';
import type { ActivityTask, InstanceStore, MetricsSink, TimerTask, WorkQueues } from './ports.js';
import { runtimeInterceptors } from './runtime/interceptors.js';
import { metricsInterceptor } from './runtime/metrics.js';
import { takeOverUnfinished } from './runtime/take-over.js';

export interface TestEnvironmentOptions {
  /** Skip ahead to the next timer whenever a `waitForCompletion` is waiting and nothing else is running. @defaultValue true */
  timeSkipping?: boolean;
  /** @defaultValue the app's logger */
  logger?: Logger;
  /** Live executors kept between steps; 0 makes every step a full replay. @defaultValue 500 */
  executorCacheSize?: number;
  /**
   * Reuse the instances of another environment (closed first), e.g. to test a new deployment of the app against
   * them: the unfinished ones are taken over, their timers and calls in flight sent again. @defaultValue a new store
   */
  store?: MemoryInstanceStore;
  /**
   * Gives every step and activity delivery a deadline this far ahead (real time), as Lambda's function
   * timeout does: inline steps are bounded by it, and failed work comes back only after it. @defaultValue none
   */
  functionTimeout?: Duration;
  /** How inline calls run (e.g. `{ activities: false }` sends activities registered inline to the queue). */
  inline?: InlineOptions;
  /** A step or activity whose invocation died this many times is poison. @defaultValue 3 */
  poisonAfterCrashes?: number;
  /**
   * Fault injection: the workers' store and queue calls fail as the injector decides, workers crash at its
   * crash points, task messages may be delivered twice, and failed work is delivered again (as SQS does).
   * The client is not affected.
   */
  faults?: FaultInjector;
  /** Where the runtime's metrics go (the names and dimensions CloudWatch gets on AWS). @defaultValue none */
  metrics?: MetricsSink;
  /** The API address in the URLs `actx.callbackUrls` signs (with a key made for this environment). @defaultValue 'http://127.0.0.1:3000' */
  apiUrl?: string;
}

/** The longest delay setTimeout takes; a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

const STORE_METHODS = ['createInstance', 'getInstance', 'loadStep', 'readHistory', 'commitStep', 'deliver', 'updateInstance', 'listInstances', 'purgeInstance', 'beginAttempt', 'endAttempt', 'recordHeartbeat', 'readHeartbeat'] as const;
const QUEUE_METHODS = ['ringDoorbell', 'enqueueActivities', 'scheduleTimers', 'extendActivityLease'] as const;

/** The queues as faulty workers see them: calls may fail, messages may be sent twice and in another order. */
function faultyQueues(queues: MemoryWorkQueues, faults: FaultInjector): WorkQueues {
  const twice = <T>(items: T[], what: string): T[] => faults.reorder(items.flatMap((item) => (faults.duplicate(what) ? [item, item] : [item])), what);
  const duplicating: WorkQueues = {
    ringDoorbell: async (instanceId, doorbell) => {
      await queues.ringDoorbell(instanceId, doorbell);
      if (faults.duplicate('queues.ringDoorbell')) await queues.ringDoorbell(instanceId, doorbell);
    },
    enqueueActivities: (tasks: ActivityTask[]) => queues.enqueueActivities(twice(tasks, 'queues.enqueueActivities')),
    scheduleTimers: (timers: TimerTask[]) => queues.scheduleTimers(twice(timers, 'queues.scheduleTimers')),
    extendActivityLease: (receipt, ms) => queues.extendActivityLease(receipt, ms),
  };
  return withFaults(duplicating, faults, 'queues', QUEUE_METHODS);
}

/** The client of a test environment: `waitForCompletion` lets the clock skip ahead while it waits. */
export class TestClient extends Client {
  constructor(
    deps: ConstructorParameters<typeof Client>[0],
    private readonly env: { store: MemoryInstanceStore; queues: MemoryWorkQueues; timeSkipping: boolean },
  ) {
    super(deps);
  }

  /** Like `Client.waitForCompletion`, with time skipping while it waits. @defaultValue timeout '20s' of real time */
  override async waitForCompletion(instanceId: string, options: WaitOptions = {}): Promise<InstanceStatus> {
    const timeoutMs = toMilliseconds(options.timeout ?? '20s', 'wait timeout');
    if (timeoutMs > MAX_TIMER_MS) throw new ValidationError(`The wait timeout is real time, at most 24 days (${MAX_TIMER_MS} ms), got ${formatDuration(timeoutMs)}: timers in the workflow are skipped anyway.`);
    const first = await this.getRecord(instanceId);
    if (SETTLED.includes(first.status)) return this.toStatus(first);
    const release = this.env.timeSkipping ? this.env.queues.holdTimeSkipping() : () => {};
    try {
      const record = await new Promise<Awaited<ReturnType<TestClient['getRecord']>>>((resolve, reject) => {
        const timer = setTimeout(() => {
          unsubscribe();
          this.getRecord(instanceId).then((latest) => reject(this.waitTimeout(latest, timeoutMs)), reject);
        }, timeoutMs);
        const unsubscribe = this.env.store.onChange((changed) => {
          if (changed !== instanceId) return;
          this.getRecord(instanceId).then(
            (latest) => {
              if (!SETTLED.includes(latest.status)) return;
              clearTimeout(timer);
              unsubscribe();
              resolve(latest);
            },
            (error: unknown) => {
              clearTimeout(timer);
              unsubscribe();
              reject(error instanceof Error ? error : new Error(String(error)));
            },
          );
        });
      });
      return await this.toStatus(record);
    } finally {
      release();
    }
  }
}

/**
 * The whole runtime in memory: the same workers the AWS runtime uses, over in-memory adapters and a
 * virtual clock. Activities run for real; timers are skipped over while a test waits for completion.
 * @example
 * const env = await TestEnvironment.create(app);
 * const id = await env.client.start('order', order);
 * const { status, output } = await env.client.waitForCompletion(id);
 * await env.close();
 */
export class TestEnvironment {
  readonly client: TestClient;
  readonly clock = new VirtualClock();
  readonly store: MemoryInstanceStore;
  readonly queues: MemoryWorkQueues;
  readonly orchestrations: OrchestrationWorker;
  readonly tasks: TaskWorker;
  /**
   * The app's schedules over this environment. Nothing fires them on its own: a test fires one with
   * `env.schedules.fire(name, firingTime)`, as EventBridge Scheduler or the local scheduler would.
   */
  readonly schedules: ScheduleService;
  /** Signs the URLs of `actx.callbackUrls` and checks them: pass it to an `HttpApi` over this environment. */
  readonly callbackUrls: CallbackUrlSigner;

  private constructor(readonly app: App, options: TestEnvironmentOptions) {
    const logger = options.logger ?? app.logger;
    this.store = options.store ?? new MemoryInstanceStore();
    const faults = options.faults;
    const functionTimeoutMs = options.functionTimeout === undefined ? undefined : toMilliseconds(options.functionTimeout, 'functionTimeout');
    this.queues = new MemoryWorkQueues(this.clock, (error, work) => logger.error(`${work} failed`, { error: String(error) }), !!faults, functionTimeoutMs);
    const interceptors = runtimeInterceptors(app, options.metrics ? [metricsInterceptor(options.metrics)] : []);
    const deps = { app, store: this.store, queues: this.queues, clock: this.clock, logger, interceptors };
    this.callbackUrls = new CallbackUrlSigner({ keys: staticSigningKeys(), baseUrl: options.apiUrl ?? 'http://127.0.0.1:3000', clock: this.clock });
    const workerDeps = faults
      ? { ...deps, callbackUrls: this.callbackUrls, store: withFaults<InstanceStore>(this.store, faults, 'store', STORE_METHODS), queues: faultyQueues(this.queues, faults), crash: faults.crashHook }
      : { ...deps, callbackUrls: this.callbackUrls };
    this.orchestrations = new OrchestrationWorker({ ...workerDeps, executorCacheSize: options.executorCacheSize, inline: options.inline, poisonAfterCrashes: options.poisonAfterCrashes });
    this.tasks = new TaskWorker({
      ...workerDeps,
      poisonAfterCrashes: options.poisonAfterCrashes,
      stepInstance: (instanceId, message, { headers, ...from }) => this.orchestrations.step(instanceId, { messages: [message], carriedOnly: true, ...from, ...(headers ? { headers: [headers] } : {}) }),
    });
    this.queues.attach({
      step: (instanceId, options) => this.orchestrations.step(instanceId, options),
      runActivity: (task, delivery) => this.tasks.runActivity(task, delivery),
      fireTimer: (timer, delivery) => this.tasks.fireTimer(timer, delivery),
    });
    this.client = new TestClient(deps, { store: this.store, queues: this.queues, timeSkipping: options.timeSkipping ?? true });
    this.schedules = new ScheduleService({ ...deps, client: this.client, states: new MemoryScheduleStates() });
  }

  static async create(app: App, options: TestEnvironmentOptions = {}): Promise<TestEnvironment> {
    const env = new TestEnvironment(app, options);
    // Another environment's instances: its queues (timers, tasks in flight) did not come along, as a deploy's
    // would on AWS. Their next steps send that work again.
    if (options.store) await takeOverUnfinished(env.store, env.queues);
    return env;
  }

  /**
   * Moves the virtual clock forward by `duration`, stopping at each timer due on the way: it fires there (the
   * code sees that time), and timers the work it caused sets within the span fire in their turn too. Returns
   * once the work is done. A loop of 30-day sleeps advanced by 90 days wakes three times, on time.
   */
  async advanceTime(duration: Duration): Promise<void> {
    // The clock also runs in real time; what moves by `duration` is its lead over real time, so the few
    // milliseconds the work takes at each stop do not push the last timer out of the span.
    let left = toMilliseconds(duration);
    // A bound for code that keeps setting timers due at once (a zero-length sleep in a loop).
    for (let stops = 0; stops < 10_000; stops++) {
      await this.idle();
      const next = this.queues.nextTimerAt();
      if (next === undefined || next - this.clock.now() > left) break;
      const step = Math.max(0, next - this.clock.now());
      this.queues.advanceTime(step);
      left -= step;
    }
    this.queues.advanceTime(left);
    await this.idle();
  }

  /** Resolves once no step, activity or timer delivery is running (timers may still be pending). */
  async idle(): Promise<void> {
    await this.queues.idle();
  }

  /** Drops the live executors, so the next step of each instance replays its whole history. */
  forceReplay(instanceId?: string): void {
    this.orchestrations.evict(instanceId);
  }

  /** Errors thrown by workers (not orchestration failures, which are recorded in history). */
  get workerErrors(): readonly unknown[] {
    return this.queues.errors;
  }

  async close(): Promise<void> {
    this.queues.close();
  }
}
