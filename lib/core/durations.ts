import { describeValue, ValidationError } from './errors.js';

/**
 * A span of time: milliseconds as a number, a string of one or more `<number><unit>` parts with units
 * `ms`, `s`, `m`, `h`, `d`, `w` (for example `'30s'`, `'5m'`, `'1h30m'`, `'3d'`), or its parts as an object
 * (`{ minutes: 5 }`, `{ hours: 1, minutes: 30 }`: how AWS's durable-execution SDK writes them).
 */
export type Duration = number | string | DurationParts;

/** A span of time as parts, added up: `{ days: 1, hours: 12 }` is 36 hours. */
export interface DurationParts {
  weeks?: number;
  days?: number;
  hours?: number;
  minutes?: number;
  seconds?: number;
  milliseconds?: number;
}

const PART_MS: Record<keyof DurationParts, number> = {
  weeks: 604_800_000,
  days: 86_400_000,
  hours: 3_600_000,
  minutes: 60_000,
  seconds: 1_000,
  milliseconds: 1,
};

/** True for a {@link DurationParts} object: at least one part, and nothing else. */
export function isDurationParts(value: unknown): value is DurationParts {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((key) => key in PART_MS);
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;

/** 100 years: longer spans are mistakes, and would put timers past the dates JavaScript can represent. */
const MAX_MS = 36_500 * 86_400_000;

/** Parses a {@link Duration} into milliseconds; throws a `ValidationError` that says what is accepted. */
export function toMilliseconds(duration: Duration, what = 'duration'): number {
  if (typeof duration === 'number') {
    if (!Number.isFinite(duration) || duration < 0) throw invalid(duration, what);
    return checkMaximum(Math.round(duration), duration, what);
  }
  if (isDurationParts(duration)) {
    let total = 0;
    for (const [part, value] of Object.entries(duration)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalid(duration, what);
      total += value * PART_MS[part as keyof DurationParts];
    }
    return checkMaximum(Math.round(total), duration, what);
  }
  if (typeof duration !== 'string') throw invalid(duration, what);
  const text = duration.trim();
  let total = 0;
  let consumed = 0;
  PART.lastIndex = 0;
  for (let match = PART.exec(text); match; match = PART.exec(text)) {
    total += Number(match[1]) * (UNIT_MS[match[2]!] ?? Number.NaN);
    consumed = PART.lastIndex;
  }
  if (text.length === 0 || consumed !== text.length || !Number.isFinite(total)) throw invalid(duration, what);
  return checkMaximum(Math.round(total), duration, what);
}

/** Formats milliseconds as the shortest readable duration, e.g. `90000` → `'1m30s'`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const size = UNIT_MS[unit]!;
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return text;
}

function checkMaximum(ms: number, value: Duration, what: string): number {
  if (ms > MAX_MS) throw new ValidationError(`Invalid ${what} ${describeValue(value)}: it must be at most 36500d (100 years).`);
  return ms;
}

function invalid(value: unknown, what: string): ValidationError {
  // JSON shows NaN and Infinity as null.
  const shown = typeof value === 'number' ? String(value) : describeValue(value);
  return new ValidationError(
    `Invalid ${what} ${shown}: use a non-negative number of milliseconds, a string like '500ms', '30s', '5m', '2h', '3d' or '1h30m', or an object of non-negative weeks, days, hours, minutes, seconds and milliseconds like { minutes: 5 }.`,
  );
}
