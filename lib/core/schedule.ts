import { isoMinute, nextCronFiring, nextIntervalFiring, parseCron, validateTimeZone, type CronSchedule } from './cron.js';
import { formatDuration, toMilliseconds, type Duration } from './durations.js';
import { describeValue, ValidationError } from './errors.js';
import { validateName } from './names.js';
import { toJsonPayload } from './payload.js';

/**
 * What a firing does when the instance the schedule started last is still running (not Completed,
 * Failed or Terminated): `skip` starts nothing, `allow` starts another one beside it, `cancelPrevious`
 * ends the previous one and starts the new one.
 */
export type ScheduleOverlap = 'skip' | 'allow' | 'cancelPrevious';

const OVERLAPS: readonly ScheduleOverlap[] = ['skip', 'allow', 'cancelPrevious'];

/**
 * Options of `app.schedule`: when it fires (`cron` or `every`, one of them), what it starts, and what a
 * firing does while the last instance still runs.
 * @example
 * app.schedule('nightlyReport', { cron: '0 2 * * ? *', timezone: 'Europe/Paris', orchestration: 'dailyReport', overlap: 'skip' });
 */
export interface ScheduleOptions {
  /**
   * EventBridge Scheduler's cron syntax, six fields: `minutes hours day-of-month month day-of-week year`,
   * with or without `cron(...)`; one of day-of-month and day-of-week is `?`. Read in `timezone`.
   * @example '0 2 * * ? *' // 02:00 every day
   */
  cron?: string;
  /**
   * A fixed interval of whole minutes (`'15m'`, `'1h'`, `'1d'`), fired at the multiples of the interval
   * since the Unix epoch (UTC): `'15m'` fires at :00, :15, :30 and :45.
   */
  every?: Duration;
  /** The IANA time zone a `cron` is read in (DST included); `every` takes none. @defaultValue 'UTC' */
  timezone?: string;
  /** The orchestration each firing starts (its latest version); register it before the schedule. */
  orchestration: string;
  /** The input of every instance the schedule starts (JSON). @defaultValue none */
  input?: unknown;
  /** What a firing does while the instance it started last is still running. */
  overlap: ScheduleOverlap;
  /**
   * Deploys the schedule disabled (the EventBridge schedule's State is DISABLED; the local stack does not
   * fire it). Operators pause and resume enabled schedules at run time instead. @defaultValue false
   */
  paused?: boolean;
}

/** A schedule as the app holds it, checked. */
export interface RegisteredSchedule {
  name: string;
  orchestration: string;
  input: unknown;
  overlap: ScheduleOverlap;
  /** Paused in its definition (deployed disabled). */
  paused: boolean;
  /** `cron(0 2 * * ? *)` or `every 15m`: as people read it. */
  expression: string;
  /** The expression EventBridge Scheduler takes: `cron(...)` or `rate(...)` (an `every` that divides an hour or a day is a cron, to fire on the same clock). */
  scheduleExpression: string;
  /** The IANA time zone the schedule is read in ('UTC' for `every`). */
  timezone: string;
  /** The parsed cron, or the interval of an `every` schedule. */
  cron?: CronSchedule;
  intervalMs?: number;
}

const KEYS = new Set(['cron', 'every', 'timezone', 'orchestration', 'input', 'overlap', 'paused']);
const MINUTE = 60_000;

/**
 * Checks the options of `app.schedule(name, options)` and returns the schedule they define. Whether the
 * orchestration is registered is the app's to check.
 */
export function defineSchedule(name: string, options: ScheduleOptions): RegisteredSchedule {
  validateName(name, 'schedule name');
  const what = `schedule '${name}'`;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ValidationError(`The options of ${what} must be an object such as { cron: '0 2 * * ? *', orchestration: 'report', overlap: 'skip' }.`);
  }
  const unknown = Object.keys(options).filter((key) => !KEYS.has(key));
  if (unknown.length) throw new ValidationError(`The options of ${what} have the unknown field ${unknown.join(', ')}; use cron or every, timezone, orchestration, input, overlap and paused.`);
  if ((options.cron === undefined) === (options.every === undefined)) {
    throw new ValidationError(`${capital(what)} needs either cron (e.g. '0 2 * * ? *') or every (e.g. '15m'), and not both.`);
  }
  validateName(options.orchestration, 'orchestration name');
  if (!OVERLAPS.includes(options.overlap)) {
    throw new ValidationError(
      `The overlap of ${what} is ${describeValue(options.overlap)}: say what a firing does while the instance it started last is still running: 'skip', 'allow' or 'cancelPrevious'.`,
    );
  }
  if (options.paused !== undefined && typeof options.paused !== 'boolean') throw new ValidationError(`The paused option of ${what} must be true or false, got ${describeValue(options.paused)}.`);
  const input = toJsonPayload(options.input, `input of ${what}`);
  const common = { name, orchestration: options.orchestration, input, overlap: options.overlap, paused: options.paused === true };
  if (options.cron !== undefined) {
    const cron = parseCron(options.cron);
    const timezone = options.timezone === undefined ? 'UTC' : validateTimeZone(options.timezone, `time zone of ${what}`);
    if (nextCronFiring(cron, 0, timezone) === undefined) throw new ValidationError(`The cron of ${what}, ${cron.expression}, never fires (a date such as 30 February): check the day-of-month, month and year fields.`);
    return { ...common, expression: cron.expression, scheduleExpression: cron.expression, timezone, cron };
  }
  if (options.timezone !== undefined) {
    throw new ValidationError(`${capital(what)} fires every ${describeValue(options.every)}, which no time zone changes: a timezone goes with cron (e.g. cron: '0 2 * * ? *', timezone: '${String(options.timezone)}').`);
  }
  const intervalMs = toMilliseconds(options.every!, `every of ${what}`);
  if (intervalMs < MINUTE || intervalMs % MINUTE !== 0) {
    throw new ValidationError(`The every of ${what} is ${describeValue(options.every)}: use a whole number of minutes, at least '1m' (EventBridge Scheduler fires once a minute at most).`);
  }
  return { ...common, expression: `every ${formatDuration(intervalMs)}`, scheduleExpression: eventBridgeInterval(intervalMs / MINUTE), timezone: 'UTC', intervalMs };
}

/**
 * The EventBridge expression of an interval in minutes. One that divides an hour or a day is a cron on the
 * same clock as `nextFiring` (UTC multiples since the epoch); any other is a `rate`, which EventBridge counts
 * from when the schedule was created.
 */
function eventBridgeInterval(minutes: number): string {
  if (minutes < 60 && 60 % minutes === 0) return minutes === 1 ? 'cron(* * * * ? *)' : `cron(0/${minutes} * * * ? *)`;
  if (minutes % 60 === 0 && minutes < 1440 && 24 % (minutes / 60) === 0) return `cron(0 ${minutes === 60 ? '*' : `0/${minutes / 60}`} * * ? *)`;
  if (minutes === 1440) return 'cron(0 0 * * ? *)';
  const [value, unit] = minutes % 1440 === 0 ? [minutes / 1440, 'day'] : minutes % 60 === 0 ? [minutes / 60, 'hour'] : [minutes, 'minute'];
  return `rate(${value} ${unit}${value === 1 ? '' : 's'})`;
}

/**
 * The first firing of `schedule` strictly after `after` (ms since the epoch); undefined when a cron
 * never fires again.
 */
export function nextFiring(schedule: Pick<RegisteredSchedule, 'cron' | 'intervalMs' | 'timezone'>, after: number): number | undefined {
  if (schedule.cron) return nextCronFiring(schedule.cron, after, schedule.timezone);
  return nextIntervalFiring(schedule.intervalMs!, after);
}

/** Every instance a schedule starts has an id that begins with this (IAM policies rely on it). */
export const SCHEDULED_INSTANCE_PREFIX = 'sched-';

/**
 * The instance id of a scheduled firing: `sched-<name>-<ISO minute>`, e.g. `sched-nightly-2026-03-29T01:00Z`.
 * Every delivery of one firing names the same instance, so a duplicate starts nothing.
 */
export function scheduledInstanceId(scheduleName: string, firingTime: number): string {
  return `${SCHEDULED_INSTANCE_PREFIX}${scheduleName}-${isoMinute(firingTime)}`;
}

/** The instance id of a firing an operator asked for: `sched-<name>-manual-<ISO time to the millisecond>`. */
export function manualInstanceId(scheduleName: string, at: number): string {
  return `${SCHEDULED_INSTANCE_PREFIX}${scheduleName}-manual-${new Date(at).toISOString()}`;
}

function capital(text: string): string {
  return text[0]!.toUpperCase() + text.slice(1);
}
