import { describeValue, ValidationError } from './errors.js';

/**
 * Cron expressions as EventBridge Scheduler reads them — six fields, `minutes hours day-of-month month
 * day-of-week year`, e.g. `cron(0 2 * * ? *)` — and the next firing time of one in an IANA time zone.
 * The same text is deployed to EventBridge Scheduler unchanged, so what the local stack and the web view
 * compute is what AWS fires. Pure: no clock, no I/O (time zones come from `Intl`).
 */

/** A parsed cron expression. Sets hold the values each field allows, sorted. */
export interface CronSchedule {
  /** As EventBridge Scheduler takes it: `cron(0 2 * * ? *)`. */
  readonly expression: string;
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly months: readonly number[];
  /** Undefined: every year. */
  readonly years?: ReadonlySet<number>;
  readonly dayOfMonth: DayOfMonthRule;
  readonly dayOfWeek: DayOfWeekRule;
}

/** `any` is `?` or `*`; `days` a set of days; `last` is `L`; `lastWeekday` is `LW`; `nearestWeekday` is `<day>W`. */
type DayOfMonthRule =
  | { kind: 'any' }
  | { kind: 'days'; days: ReadonlySet<number> }
  | { kind: 'last' }
  | { kind: 'lastWeekday' }
  | { kind: 'nearestWeekday'; day: number };

/** Days are 1 (SUN) to 7 (SAT). `last` is `<day>L` (the last such day of the month); `nth` is `<day>#<n>`. */
type DayOfWeekRule =
  | { kind: 'any' }
  | { kind: 'days'; days: ReadonlySet<number> }
  | { kind: 'last'; day: number }
  | { kind: 'nth'; day: number; nth: number };

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  wildcards: string;
  names?: readonly string[];
}

const MINUTES: FieldSpec = { name: 'minutes', min: 0, max: 59, wildcards: ', - * /' };
const HOURS: FieldSpec = { name: 'hours', min: 0, max: 23, wildcards: ', - * /' };
const DAY_OF_MONTH: FieldSpec = { name: 'day-of-month', min: 1, max: 31, wildcards: ', - * ? / L W' };
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, wildcards: ', - * /', names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] };
const DAY_OF_WEEK: FieldSpec = { name: 'day-of-week', min: 1, max: 7, wildcards: ', - * ? L #', names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] };
const YEAR: FieldSpec = { name: 'year', min: 1970, max: 2199, wildcards: ', - * /' };

const FORMAT =
  "Write six fields, minutes hours day-of-month month day-of-week year, as EventBridge Scheduler reads them (with or without cron(...)), e.g. '0 2 * * ? *' (02:00 every day) or '0/15 9-17 ? * MON-FRI *'; one of day-of-month and day-of-week must be ?.";

/**
 * Parses an EventBridge Scheduler cron expression: `'0 2 * * ? *'` or `'cron(0 2 * * ? *)'`. Throws a
 * `ValidationError` that names the field at fault and what it accepts.
 * @example parseCron('0 9 ? * MON-FRI *') // 09:00 on weekdays
 */
export function parseCron(text: unknown): CronSchedule {
  if (typeof text !== 'string') throw new ValidationError(`Invalid cron expression ${describeValue(text)}: ${FORMAT}`);
  const inner = /^\s*cron\((.*)\)\s*$/i.exec(text)?.[1] ?? text;
  const fields = inner.trim().split(/\s+/);
  const fail = (why: string) => new ValidationError(`Invalid cron expression ${JSON.stringify(text)}: ${why} ${FORMAT}`);
  const count = fields[0] === '' ? 0 : fields.length;
  if (count !== 6) {
    throw fail(`it has ${count} field${count === 1 ? '' : 's'}${count === 5 ? ' (the five of Unix cron: add the year, and ? for day-of-month or day-of-week)' : ''}.`);
  }
  const [minutes, hours, dom, month, dow, year] = fields.map((field) => field.toUpperCase()) as [string, string, string, string, string, string];
  const field = (value: string, spec: FieldSpec) => parseValues(value, spec, fail);
  if ((dom === '?') === (dow === '?')) {
    throw fail(`day-of-month ${JSON.stringify(dom)} and day-of-week ${JSON.stringify(dow)}: exactly one of them must be ? (the other says which days).`);
  }
  const years = year === '*' ? undefined : new Set(field(year, YEAR));
  return {
    expression: `cron(${[minutes, hours, dom, month, dow, year].join(' ')})`,
    minutes: field(minutes, MINUTES),
    hours: field(hours, HOURS),
    months: field(month, MONTH),
    ...(years ? { years } : {}),
    dayOfMonth: parseDayOfMonth(dom, fail),
    dayOfWeek: parseDayOfWeek(dow, fail),
  };
}

function parseDayOfMonth(text: string, fail: (why: string) => ValidationError): DayOfMonthRule {
  if (text === '?' || text === '*') return { kind: 'any' };
  if (text === 'L') return { kind: 'last' };
  if (text === 'LW') return { kind: 'lastWeekday' };
  const weekday = /^(\d{1,2})W$/.exec(text);
  if (weekday) return { kind: 'nearestWeekday', day: parseNumber(weekday[1]!, DAY_OF_MONTH, fail) };
  if (/[LW]/.test(text)) throw fail(`the day-of-month field ${JSON.stringify(text)}: L, LW and <day>W stand alone (e.g. L, LW, 15W).`);
  return { kind: 'days', days: new Set(parseValues(text, DAY_OF_MONTH, fail)) };
}

function parseDayOfWeek(text: string, fail: (why: string) => ValidationError): DayOfWeekRule {
  if (text === '?' || text === '*') return { kind: 'any' };
  // L alone is the last day of the week, Saturday.
  if (text === 'L') return { kind: 'days', days: new Set([7]) };
  const last = /^([A-Z]{3}|\d)L$/.exec(text);
  if (last) return { kind: 'last', day: parseNumber(last[1]!, DAY_OF_WEEK, fail) };
  const nth = /^([A-Z]{3}|\d)#(\d+)$/.exec(text);
  if (nth) {
    const n = Number(nth[2]);
    if (n < 1 || n > 5) throw fail(`the day-of-week field ${JSON.stringify(text)}: the n of <day>#<n> is 1 to 5.`);
    return { kind: 'nth', day: parseNumber(nth[1]!, DAY_OF_WEEK, fail), nth: n };
  }
  if (/[L#]/.test(text)) throw fail(`the day-of-week field ${JSON.stringify(text)}: <day>L and <day>#<n> stand alone (e.g. 6L, MON#1), one expression only.`);
  return { kind: 'days', days: new Set(parseValues(text, DAY_OF_WEEK, fail)) };
}

/** A list of values, ranges (`a-b`) and increments (`a/n`, `*\/n`, `a-b/n`), as the sorted values it allows. */
function parseValues(text: string, spec: FieldSpec, fail: (why: string) => ValidationError): number[] {
  const values = new Set<number>();
  const bad = (why: string) => fail(`the ${spec.name} field ${JSON.stringify(text)} ${why}; it takes ${spec.min}-${spec.max}${spec.names ? ` or ${spec.names[0]}-${spec.names.at(-1)}` : ''} with ${spec.wildcards}.`);
  for (const part of text.split(',')) {
    const match = /^(\*|[A-Z0-9]+(?:-[A-Z0-9]+)?)(?:\/(\d+))?$/.exec(part);
    if (!match) throw bad(part === '' ? 'has an empty item' : part === '?' ? 'has ? (only day-of-month and day-of-week take it)' : `has ${JSON.stringify(part)}, which is not a value, a range or an increment`);
    const [from, to] = match[1] === '*' ? [spec.min, spec.max] : rangeOf(match[1]!, spec, fail, bad);
    const step = match[2] === undefined ? 1 : Number(match[2]);
    if (step < 1) throw bad('has an increment of 0');
    // `5/15` runs from 5 to the field's end; `5` alone is just 5.
    const end = match[2] !== undefined && !match[1]!.includes('-') && match[1] !== '*' ? spec.max : to;
    for (let value = from; value <= end; value += step) values.add(value);
  }
  return [...values].sort((a, b) => a - b);
}

function rangeOf(text: string, spec: FieldSpec, fail: (why: string) => ValidationError, bad: (why: string) => ValidationError): [number, number] {
  const [first, second] = text.split('-') as [string, string | undefined];
  const from = parseNumber(first, spec, fail);
  const to = second === undefined ? from : parseNumber(second, spec, fail);
  if (to < from) throw bad(`has the range ${text}, which runs backwards (write it as a list, e.g. 22-23,0-2)`);
  return [from, to];
}

function parseNumber(text: string, spec: FieldSpec, fail: (why: string) => ValidationError): number {
  const named = spec.names?.indexOf(text) ?? -1;
  const value = named >= 0 ? named + spec.min : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= spec.min && value <= spec.max)) throw fail(`the ${spec.name} field has ${JSON.stringify(text)}: use ${spec.min}-${spec.max}${spec.names ? ` or ${spec.names.join(', ')}` : ''}.`);
  return value;
}

// ---------------------------------------------------------------------------------------------------
// The next firing. Candidates are walked in the time zone's wall-clock time and each is turned into an
// instant: a wall time that does not exist (the hour skipped when DST starts) does not fire, and one that
// exists twice (the hour repeated when it ends) fires once, at its first occurrence — what EventBridge
// Scheduler does.
// ---------------------------------------------------------------------------------------------------

const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * The first firing of `cron` strictly after the instant `after` (ms since the epoch), read in `timeZone`;
 * undefined when it never fires again (its years are past, or a date such as 30 February).
 * @example nextCronFiring(parseCron('0 2 * * ? *'), Date.parse('2026-03-28T12:00Z'), 'Europe/Paris') // 2026-03-30T00:00Z: 02:00 does not exist on 29 March
 */
export function nextCronFiring(cron: CronSchedule, after: number, timeZone = 'UTC'): number | undefined {
  const zone = zoneOf(timeZone);
  const start = zone.wallOf(after);
  const lastYear = cron.years ? Math.max(...cron.years) : YEAR.max;
  for (let year = start.year; year <= lastYear; year++) {
    if (cron.years && !cron.years.has(year)) continue;
    for (const month of cron.months) {
      if (year === start.year && month < start.month) continue;
      const days = daysInMonth(year, month);
      const firstDay = year === start.year && month === start.month ? start.day : 1;
      for (let day = firstDay; day <= days; day++) {
        if (!dayMatches(cron, year, month, day, days)) continue;
        const today = year === start.year && month === start.month && day === start.day;
        for (const hour of cron.hours) {
          if (today && hour < start.hour) continue;
          for (const minute of cron.minutes) {
            if (today && hour === start.hour && minute <= start.minute) continue;
            const instant = zone.instantOf(Date.UTC(year, month - 1, day, hour, minute));
            if (instant !== undefined && instant > after) return instant;
          }
        }
      }
    }
  }
  return undefined;
}

function dayMatches(cron: CronSchedule, year: number, month: number, day: number, days: number): boolean {
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
  const dom = cron.dayOfMonth;
  switch (dom.kind) {
    case 'any':
      break;
    case 'days':
      return dom.days.has(day);
    case 'last':
      return day === days;
    case 'lastWeekday':
      return day === nearestWeekday(year, month, days, days);
    case 'nearestWeekday':
      return dom.day <= days && day === nearestWeekday(year, month, dom.day, days);
    default:
      return exhaustive(dom);
  }
  const dow = cron.dayOfWeek;
  switch (dow.kind) {
    case 'any':
      return true;
    case 'days':
      return dow.days.has(weekday);
    case 'last':
      return weekday === dow.day && day + 7 > days;
    case 'nth':
      return weekday === dow.day && Math.ceil(day / 7) === dow.nth;
    default:
      return exhaustive(dow);
  }
}

/** The weekday (Monday to Friday) nearest to `day`, within its month. */
function nearestWeekday(year: number, month: number, day: number, days: number): number {
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  if (weekday === 6) return day === 1 ? 3 : day - 1;
  if (weekday === 0) return day === days ? day - 2 : day + 1;
  return day;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function exhaustive(value: never): never {
  throw new Error(`Unhandled cron rule ${JSON.stringify(value)}`);
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

interface Zone {
  wallOf(instant: number): Wall;
  /** The first instant whose wall-clock time is `wall` (a UTC timestamp of the wall time), or undefined in a gap. */
  instantOf(wall: number): number | undefined;
}

const zones = new Map<string, Zone>();

function zoneOf(timeZone: string): Zone {
  let zone = zones.get(timeZone);
  if (!zone) {
    zone = makeZone(timeZone);
    zones.set(timeZone, zone);
  }
  return zone;
}

function makeZone(timeZone: string): Zone {
  const format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  /** The wall-clock time of `instant`, as a UTC timestamp, to the second. */
  const wallMs = (instant: number): number => {
    const parts: Record<string, number> = {};
    for (const part of format.formatToParts(instant)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
    return Date.UTC(parts.year!, parts.month! - 1, parts.day, parts.hour, parts.minute, parts.second);
  };
  const offsetAt = (instant: number) => wallMs(instant) - Math.floor(instant / 1000) * 1000;
  return {
    wallOf(instant) {
      const wall = new Date(wallMs(instant));
      return { year: wall.getUTCFullYear(), month: wall.getUTCMonth() + 1, day: wall.getUTCDate(), hour: wall.getUTCHours(), minute: wall.getUTCMinutes() };
    },
    instantOf(wall) {
      // A transition moves the offset at most once within a day either side: one of these offsets is the wall time's.
      const offsets = new Set([offsetAt(wall - DAY), offsetAt(wall), offsetAt(wall + DAY)]);
      const instants = [...offsets].map((offset) => wall - offset).filter((instant) => wallMs(instant) === wall);
      return instants.length ? Math.min(...instants) : undefined;
    },
  };
}

/**
 * Checks an IANA time zone name (`'Europe/Paris'`, `'America/New_York'`, `'UTC'`) with `Intl` and returns
 * its canonical spelling; throws a `ValidationError` for a name it does not know.
 */
export function validateTimeZone(timeZone: unknown, what = 'time zone'): string {
  if (typeof timeZone !== 'string' || timeZone.trim() === '') throw new ValidationError(`Invalid ${what} ${describeValue(timeZone)}: use an IANA time zone name such as 'Europe/Paris', 'America/New_York' or 'UTC'.`);
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch {
    throw new ValidationError(`Unknown ${what} ${JSON.stringify(timeZone)}: use an IANA time zone name such as 'Europe/Paris', 'America/New_York' or 'UTC' (Intl.supportedValuesOf('timeZone') lists them).`);
  }
}

/** The firing of an interval schedule strictly after `after`: multiples of the interval since the Unix epoch. */
export function nextIntervalFiring(intervalMs: number, after: number): number {
  return (Math.floor(after / intervalMs) + 1) * intervalMs;
}

/** Whole minutes of a firing time, as the ISO 8601 minute that names it: `2026-03-29T01:00Z`. */
export function isoMinute(instant: number): string {
  return new Date(Math.floor(instant / MINUTE) * MINUTE).toISOString().slice(0, 16) + 'Z';
}
