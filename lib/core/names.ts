import { describeValue, ValidationError } from './errors.js';

// Ids and names become storage keys and URL segments: a small alphabet keeps them safe in both.
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$/;
const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;
const EVENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;
/** Names of steps and other operations are labels in history and views: a space and `# /` are allowed too. */
const OPERATION_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.:#/-]{0,99}$/;

function check(pattern: RegExp, value: unknown, what: string, rule: string): string {
  if (typeof value === 'function') {
    // AWS's SDK takes anonymous steps (`context.step(fn)`); here the name identifies the call in history.
    throw new ValidationError(`Missing ${what}: a function was passed where the name goes. Pass the name first, then the function, e.g. ctx.step('charge-card', fn) or ctx.child('billing', fn); names identify calls in history.`);
  }
  if (typeof value !== 'string' || !pattern.test(value)) {
    const shown = typeof value === 'string' && value.length > 60 ? `${JSON.stringify(value.slice(0, 60))}... (${value.length} characters)` : describeValue(value);
    throw new ValidationError(`Invalid ${what} ${shown}: ${rule}`);
  }
  return value;
}

/** Checks an instance id: 1–200 characters of letters, digits and `_ . : @ -`, starting with a letter or digit. */
export function validateInstanceId(value: unknown): string {
  return check(INSTANCE_ID, value, 'instance id', 'use 1–200 characters of letters, digits and _ . : @ -, starting with a letter or digit.');
}

/** Checks an orchestration, activity or schedule name: a letter, then up to 99 letters, digits and `_ . -`. */
export function validateName(value: unknown, what: 'orchestration name' | 'activity name' | 'schedule name'): string {
  return check(NAME, value, what, 'use a letter followed by up to 99 letters, digits and _ . -');
}

/** Checks the name of a `ctx.step` (or another named operation): 1–100 letters, digits, spaces and `_ . : # / -`. */
export function validateOperationName(value: unknown, what: string): string {
  return check(OPERATION_NAME, value, what, 'use 1–100 characters of letters, digits, spaces and _ . : # / -, starting with a letter or digit.');
}

/** Checks an external event name: 1–100 letters, digits and `_ . : -`. */
export function validateEventName(value: unknown): string {
  return check(EVENT_NAME, value, 'event name', 'use 1–100 characters of letters, digits and _ . : -, starting with a letter or digit.');
}

/** Checks an event's idempotency key (the same alphabet as instance ids). */
export function validateEventId(value: unknown): string {
  return check(INSTANCE_ID, value, 'event id', 'use 1–200 characters of letters, digits and _ . : @ -, starting with a letter or digit (a UUID works).');
}
