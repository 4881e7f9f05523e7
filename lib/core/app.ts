import { resolvePrices, type CostPrices } from './cost-prices.js';
import { formatDuration, toMilliseconds, type Duration } from './durations.js';
import { ActivityNotFoundError, describeValue, OrchestrationNotFoundError, ScheduleNotFoundError, ValidationError } from './errors.js';
import { InterceptorChain, type Interceptor } from './interceptors.js';
import { createJsonLogger, defaultRedact, redactingLogger, type Logger } from './logger.js';
import { validateName } from './names.js';
import { resolveRetry, type RetryRule } from './retry-policy.js';
import { defineSchedule, type RegisteredSchedule, type ScheduleOptions } from './schedule.js';
import type { ActivityFunction, ActivityOptions, OrchestrationFunction, OrchestrationOptions } from './types.js';

/** Options of {@link createApp}. */
export interface AppOptions {
  /** A generation's history may hold at most this many events; the step that would pass it fails the instance. @defaultValue 10000 */
  maxHistoryEvents?: number;
  /** From this many events on, `ctx.isContinueAsNewSuggested` is true and a warning is logged. @defaultValue 80% of maxHistoryEvents */
  historyWarningEvents?: number;
  /**
   * Where the runtime and `ctx.log` write: Perdure's JSON logger, or any logger with `debug`, `info`, `warn`
   * and `error(message, fields)`, such as a Powertools for AWS Lambda `Logger`. @defaultValue JSON lines on stderr
   */
  logger?: Logger;
  /**
   * Field names whose values are replaced by `"[redacted]"` in what `ctx.log` and `actx.log` write, at any
   * depth, whatever the logger (a `logger` you pass is wrapped). @defaultValue the comma-separated `PERDURE_LOG_REDACT` environment variable
   */
  redact?: string[];
  /**
   * Hooks around activity attempts, orchestration steps, timers and client calls, the first outermost
   * (see {@link Interceptor}). More can be added with `app.use`.
   */
  interceptors?: Interceptor[];
  /**
   * OpenTelemetry spans (through `@opentelemetry/api`) for client calls, steps, activity attempts and timers,
   * and a W3C `traceparent` in every message. Without an OpenTelemetry SDK registered (the ADOT Lambda layer
   * registers one) they cost nothing. @defaultValue true
   */
  tracing?: boolean;
  /**
   * Prices of the cost ledger (`client.getStatus(id, { cost: true })`, `GET /instances/{id}?cost=true`, the web
   * view), each overriding one of {@link DEFAULT_PRICES}. @defaultValue AWS list prices, us-east-1 (DEFAULT_PRICES)
   */
  prices?: Partial<CostPrices>;
}

export interface RegisteredActivity {
  name: string;
  fn: ActivityFunction<never, unknown>;
  retry: RetryRule | undefined;
  timeoutMs: number;
  /** Calls may run inside the orchestrator's invocation. */
  inline: boolean;
  /** An attempt without a heartbeat for this long fails with a TimeoutError. */
  heartbeatTimeoutMs?: number;
  /** A call's budget across its attempts, from its first schedule. */
  scheduleToCloseTimeoutMs?: number;
}

export interface RegisteredOrchestration {
  name: string;
  version: string;
  fn: OrchestrationFunction<never, unknown>;
  /** An instance still running this long after its start fails with a TimeoutError. */
  timeoutMs?: number;
}

const DEFAULT_ACTIVITY_TIMEOUT = '5m';

/**
 * The registry of a Perdure application: its activities and orchestrations (several versions of one
 * name side by side). The same app runs on the in-memory test environment and on AWS.
 */
export class App {
  readonly maxHistoryEvents: number;
  readonly historyWarningEvents: number;
  readonly logger: Logger;
  readonly tracing: boolean;
  /** What the cost ledger is priced with: the defaults with `createApp({ prices })` applied. */
  readonly prices: CostPrices;
  private userInterceptors: Interceptor[];
  private readonly activities = new Map<string, RegisteredActivity>();
  private readonly orchestrations = new Map<string, Map<string, RegisteredOrchestration>>();
  private readonly scheduled = new Map<string, RegisteredSchedule>();

  constructor(options: AppOptions = {}) {
    this.maxHistoryEvents = options.maxHistoryEvents ?? 10_000;
    if (!Number.isInteger(this.maxHistoryEvents) || this.maxHistoryEvents < 10) {
      throw new ValidationError(`maxHistoryEvents must be an integer ≥ 10, got ${describeValue(options.maxHistoryEvents)}.`);
    }
    this.historyWarningEvents = options.historyWarningEvents ?? Math.floor(this.maxHistoryEvents * 0.8);
    if (!Number.isInteger(this.historyWarningEvents) || this.historyWarningEvents < 1 || this.historyWarningEvents > this.maxHistoryEvents) {
      throw new ValidationError(`historyWarningEvents must be an integer from 1 to maxHistoryEvents (${this.maxHistoryEvents}), got ${describeValue(options.historyWarningEvents)}.`);
    }
    const redact = options.redact ?? defaultRedact();
    // Perdure's own JSON logger redacts by itself; another logger is wrapped.
    this.logger = options.logger ? (redact.length ? redactingLogger(options.logger, redact) : options.logger) : createJsonLogger({ redact });
    this.tracing = options.tracing ?? true;
    this.prices = resolvePrices(options.prices, 'createApp({ prices })');
    if (options.tracing !== undefined && typeof options.tracing !== 'boolean') throw new ValidationError(`tracing must be true or false, got ${describeValue(options.tracing)}.`);
    this.userInterceptors = [];
    for (const interceptor of options.interceptors ?? []) this.use(interceptor);
  }

  /**
   * Adds an interceptor after those already added (see {@link Interceptor}).
   * @example app.use({ activity: async (attempt, next) => next({ ...attempt, input: decrypt(attempt.input) }) });
   */
  use(interceptor: Interceptor): this {
    if (typeof interceptor !== 'object' || interceptor === null) throw new ValidationError(`An interceptor must be an object with hooks (activity, step, phase, timer, client, headers, notice, call), got ${describeValue(interceptor)}.`);
    const hooks = ['activity', 'step', 'phase', 'timer', 'client', 'headers', 'notice', 'call'] as const;
    for (const [key, value] of Object.entries(interceptor)) {
      if (!(hooks as readonly string[]).includes(key)) throw new ValidationError(`Unknown interceptor hook '${key}': use ${hooks.join(', ')}.`);
      if (value !== undefined && typeof value !== 'function') throw new ValidationError(`The interceptor hook '${key}' must be a function, got ${describeValue(value)}.`);
    }
    this.userInterceptors = [...this.userInterceptors, interceptor];
    return this;
  }

  /** The interceptors added with `createApp({ interceptors })` and `app.use`, in order. */
  get interceptors(): readonly Interceptor[] {
    return this.userInterceptors;
  }

  /** The app's interceptors after `first` (the runtime's own: tracing, metrics). */
  interceptorChain(first: readonly Interceptor[] = []): InterceptorChain {
    return new InterceptorChain([...first, ...this.userInterceptors]);
  }

  /**
   * Registers an activity: the code that does the work (I/O, side effects). It runs at least once per call.
   * @example app.activity('chargeCard', async (order: Order, actx) => payments.charge(order, { idempotencyKey: actx.idempotencyKey }));
   */
  activity<I, O>(name: string, fn: ActivityFunction<I, O>, options: ActivityOptions = {}): this {
    validateName(name, 'activity name');
    if (typeof fn !== 'function') throw new ValidationError(`Activity '${name}' must be a function.`);
    if (this.activities.has(name)) throw new ValidationError(`Activity '${name}' is already registered: give the new one another name.`);
    checkOptionNames(options, name);
    const timeoutMs = toMilliseconds(options.timeout ?? DEFAULT_ACTIVITY_TIMEOUT, `timeout of activity '${name}'`);
    const heartbeatTimeoutMs = positiveDuration(options.heartbeatTimeout, `heartbeatTimeout of activity '${name}'`);
    if (heartbeatTimeoutMs !== undefined && heartbeatTimeoutMs >= timeoutMs) {
      throw new ValidationError(
        `The heartbeatTimeout of activity '${name}' (${formatDuration(heartbeatTimeoutMs)}) must be shorter than its timeout (${formatDuration(timeoutMs)}): an attempt ends at its timeout anyway, so the heartbeat timeout could never fire. Shorten heartbeatTimeout, or raise timeout.`,
      );
    }
    const scheduleToCloseTimeoutMs = positiveDuration(options.scheduleToCloseTimeout, `scheduleToCloseTimeout of activity '${name}'`);
    this.activities.set(name, {
      name,
      fn: fn,
      retry: options.retry === undefined ? undefined : resolveRetry(options.retry),
      timeoutMs,
      inline: validateInline(options.inline, name),
      ...(heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs } : {}),
      ...(scheduleToCloseTimeoutMs !== undefined ? { scheduleToCloseTimeoutMs } : {}),
    });
    return this;
  }

  /**
   * Registers an orchestration: deterministic code that coordinates activities, timers and events.
   * Register a changed orchestration under a new `version`: running instances keep the version they started on.
   * @example app.orchestration('order', async (ctx, order: Order) => ctx.callActivity('chargeCard', order), { version: 2 });
   */
  orchestration<I, O>(name: string, fn: OrchestrationFunction<I, O>, options: OrchestrationOptions = {}): this {
    validateName(name, 'orchestration name');
    if (typeof fn !== 'function') throw new ValidationError(`Orchestration '${name}' must be a function.`);
    const version = normalizeVersion(options.version ?? 1);
    const versions = this.orchestrations.get(name) ?? new Map<string, RegisteredOrchestration>();
    if (versions.has(version)) throw new ValidationError(`Orchestration '${name}' version ${version} is already registered: register a changed orchestration under a new version ({ version: ... }).`);
    const timeoutMs = options.timeout === undefined ? undefined : toMilliseconds(options.timeout, `timeout of orchestration '${name}'`);
    versions.set(version, { name, version, fn: fn, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    this.orchestrations.set(name, versions);
    return this;
  }

  /**
   * Defines a schedule: each firing starts an instance of `orchestration`, with the id
   * `sched-<name>-<ISO minute of the firing>`, so a firing delivered twice starts it once. The orchestration
   * must be registered first. On AWS the `DurableFunctions` construct creates one EventBridge Scheduler
   * schedule per definition (pass it `schedules: app.schedules()`); `npm start` fires them locally.
   * @example
   * app.schedule('nightlyReport', { cron: '0 2 * * ? *', timezone: 'Europe/Paris', orchestration: 'report', overlap: 'skip' });
   * app.schedule('poll', { every: '5m', orchestration: 'pollInbox', input: { folder: 'in' }, overlap: 'allow' });
   */
  schedule(name: string, options: ScheduleOptions): this {
    const schedule = defineSchedule(name, options);
    if (this.scheduled.has(name)) throw new ValidationError(`Schedule '${name}' is already defined: give the new one another name.`);
    if (!this.orchestrations.has(schedule.orchestration)) {
      throw new OrchestrationNotFoundError(
        `Schedule '${name}' starts orchestration '${schedule.orchestration}', which is not registered${listing(this.orchestrations.keys())}: register it with app.orchestration('${schedule.orchestration}', ...) before the schedule.`,
      );
    }
    this.scheduled.set(name, schedule);
    return this;
  }

  /** Every defined schedule, in the order defined. */
  schedules(): RegisteredSchedule[] {
    return [...this.scheduled.values()];
  }

  /** The schedule, or a `ScheduleNotFoundError` that lists the defined names. */
  getSchedule(name: string): RegisteredSchedule {
    const schedule = this.scheduled.get(name);
    if (!schedule) {
      const names = [...this.scheduled.keys()];
      throw new ScheduleNotFoundError(`No schedule named '${name}' is defined${names.length ? ` (defined: ${names.join(', ')})` : ' (the app defines none)'}; define it with app.schedule('${name}', ...).`);
    }
    return schedule;
  }

  findActivity(name: string): RegisteredActivity | undefined {
    return this.activities.get(name);
  }

  /** The activity, or an `ActivityNotFoundError` that lists the registered names. */
  getActivity(name: string): RegisteredActivity {
    const activity = this.activities.get(name);
    if (!activity) {
      throw new ActivityNotFoundError(`No activity named '${name}' is registered${listing(this.activities.keys())}; register it with app.activity('${name}', ...).`);
    }
    return activity;
  }

  /** The orchestration at `version` (the latest when omitted), or an `OrchestrationNotFoundError` that says what exists. */
  getOrchestration(name: string, version?: string | number): RegisteredOrchestration {
    const versions = this.orchestrations.get(name);
    if (!versions) {
      throw new OrchestrationNotFoundError(`No orchestration named '${name}' is registered${listing(this.orchestrations.keys())}.`);
    }
    const wanted = version === undefined ? this.latestVersion(name) : normalizeVersion(version);
    const found = versions.get(wanted!);
    if (!found) {
      throw new OrchestrationNotFoundError(
        `Orchestration '${name}' has no version ${wanted} registered (registered: ${[...versions.keys()].join(', ')}). Instances pinned to a version need it registered until they finish: keep it in the app, or terminate them.`,
      );
    }
    return found;
  }

  /** Every registered orchestration name with its versions, oldest first. */
  orchestrationVersions(): { name: string; versions: string[] }[] {
    return [...this.orchestrations].map(([name, versions]) => ({ name, versions: [...versions.keys()].sort(compareVersions) }));
  }

  /** The highest registered version of `name`, in natural order ('2' > '1', '1.10' > '1.9'). */
  latestVersion(name: string): string | undefined {
    const versions = this.orchestrations.get(name);
    return versions ? [...versions.keys()].sort(compareVersions).at(-1) : undefined;
  }
}

/**
 * Creates an app to register activities and orchestrations on.
 * @example
 * const app = createApp();
 * app.activity('greet', async (name: string) => `Hello, ${name}!`);
 * app.orchestration('hello', async (ctx, name: string) => ctx.callActivity<string>('greet', name));
 */
export function createApp(options?: AppOptions): App {
  return new App(options);
}

export function normalizeVersion(version: string | number): string {
  const text = String(version);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/.test(text)) {
    throw new ValidationError(`Invalid version ${describeValue(version)}: use a number or up to 40 letters, digits and _ . -`);
  }
  return text;
}

const collator = new Intl.Collator('en', { numeric: true });

export function compareVersions(a: string, b: string): number {
  return collator.compare(a, b);
}

const ACTIVITY_OPTIONS = ['retry', 'timeout', 'heartbeatTimeout', 'scheduleToCloseTimeout', 'inline'] as const satisfies readonly (keyof ActivityOptions)[];

/** A misspelt option would be ignored without a word (a `heartbeatTimout` would never time anything out). */
function checkOptionNames(options: ActivityOptions, name: string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ValidationError(`The options of activity '${name}' must be an object such as { retry: { maxAttempts: 3 }, timeout: '1m' }, got ${describeValue(options)}.`);
  }
  const unknownFields = Object.keys(options).filter((key) => !(ACTIVITY_OPTIONS as readonly string[]).includes(key));
  if (unknownFields.length) {
    throw new ValidationError(`Unknown option${unknownFields.length > 1 ? 's' : ''} ${unknownFields.join(', ')} of activity '${name}': use ${ACTIVITY_OPTIONS.slice(0, -1).join(', ')} or ${ACTIVITY_OPTIONS.at(-1)}.`);
  }
}

/** A duration that must be longer than 0 when given. */
function positiveDuration(duration: Duration | undefined, what: string): number | undefined {
  if (duration === undefined) return undefined;
  const ms = toMilliseconds(duration, what);
  if (ms === 0) throw new ValidationError(`Invalid ${what} ${describeValue(duration)}: it must be longer than 0, e.g. '30s' (leave it out for none).`);
  return ms;
}

function validateInline(inline: unknown, name: string): boolean {
  if (inline !== undefined && typeof inline !== 'boolean') throw new ValidationError(`The inline option of activity '${name}' must be true or false, got ${describeValue(inline)}.`);
  return inline === true;
}

function listing(names: Iterable<string>): string {
  const all = [...names];
  return all.length ? ` (registered: ${all.join(', ')})` : ' (none are registered)';
}
