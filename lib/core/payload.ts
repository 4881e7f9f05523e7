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
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new ValidationError(`The ${what} is not JSON-serializable (${(error as Error).message}): pass plain data (objects, arrays, strings, numbers, booleans, null).`);
  }
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

/**
 * Turns a stored payload back into its value. Adapters that keep large payloads elsewhere (S3) store a
 * reference in history and supply a loader; replay calls it only for results the code actually receives.
 */
export type PayloadLoader = (stored: unknown) => unknown;

export const inlinePayloads: PayloadLoader = (stored) => stored;
