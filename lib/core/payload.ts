import { ValidationError } from './errors.js';

/**
 * Payloads (inputs, outputs, activity results, event data) travel as JSON. Copying through JSON at the
 * boundary makes the in-memory runtime behave as the AWS one does, and reports a value that JSON cannot
 * carry where it is made rather than after a round trip through storage.
 */
export function toJsonPayload(value: unknown, what: string): unknown {
  if (value === undefined) return undefined;
  // JSON would turn these into nothing, and the call would go on without its data.
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new ValidationError(`The ${what} is a ${typeof value}, which JSON cannot carry: pass plain data (objects, arrays, strings, numbers, booleans, null).`);
  }
  // Plain data (most payloads) is copied as JSON would copy it, sharing its strings: a 300 KB string is not
  // escaped, copied and parsed again. Anything else (a Date, a class, a toJSON, a cycle, a BigInt) takes JSON.
  let copy: unknown = NOT_PLAIN;
  try {
    copy = plainCopy(value, new Set());
  } catch {
    // A getter that throws: JSON calls it too, and its error is reported below.
  }
  if (copy !== NOT_PLAIN) return copy;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new ValidationError(`The ${what} is not JSON-serializable (${(error as Error).message}): pass plain data (objects, arrays, strings, numbers, booleans, null).`);
  }
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

const NOT_PLAIN = Symbol('not plain data');
/** Plain data nested deeper than this takes JSON (which has its own limit), not this function's recursion. */
const MAX_PLAIN_DEPTH = 500;

/**
 * What `JSON.parse(JSON.stringify(value))` gives, for plain data: objects (of `Object.prototype` or none) and
 * arrays of strings, numbers, booleans and null. As JSON does, it drops undefined, functions and symbols
 * from objects and turns them into null in arrays, and turns non-finite numbers into null and -0 into 0.
 * `NOT_PLAIN` for anything else, and for a value nested in itself: JSON decides those (or refuses them).
 */
function plainCopy(value: unknown, ancestors: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value + 0 : null;
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object':
      break;
    default:
      return NOT_PLAIN;
  }
  if (value === null) return null;
  if (ancestors.has(value) || ancestors.size >= MAX_PLAIN_DEPTH) return NOT_PLAIN;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (Array.isArray(value)) {
    if (prototype !== Array.prototype) return NOT_PLAIN;
    ancestors.add(value);
    const copy: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = plainCopy(value[i], ancestors);
      if (item === NOT_PLAIN) return NOT_PLAIN;
      copy[i] = item === undefined ? null : item;
    }
    ancestors.delete(value);
    return copy;
  }
  if ((prototype !== Object.prototype && prototype !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') return NOT_PLAIN;
  ancestors.add(value);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const field = plainCopy((value as Record<string, unknown>)[key], ancestors);
    if (field === NOT_PLAIN) return NOT_PLAIN;
    if (field === undefined) continue;
    // JSON.parse makes "__proto__" an own field; an assignment would set the prototype instead.
    if (key === '__proto__') Object.defineProperty(copy, key, { value: field, enumerable: true, writable: true, configurable: true });
    else copy[key] = field;
  }
  ancestors.delete(value);
  return copy;
}

/**
 * Turns a stored payload back into its value. Adapters that keep large payloads elsewhere (S3) store a
 * reference in history and supply a loader; replay calls it only for results the code actually receives.
 */
export type PayloadLoader = (stored: unknown) => unknown;

export const inlinePayloads: PayloadLoader = (stored) => stored;
