import { ValidationError } from './errors.js';

/** What a callback token says: the callback's instance and position, and the unguessable part history keeps. */
export interface CallbackAddress {
  instanceId: string;
  generation: number;
  taskId: number;
  nonce: string;
}

const PREFIX = 'cb1';
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * A callback's token: `cb1.<instance, generation, position>.<nonce>`, all base64url. It names its callback
 * (so it is answered without an index), and only the token handed out completes it: its nonce is 128 random
 * bits that history records, and a token whose nonce does not match is refused as unknown.
 */
export function formatCallbackToken(address: CallbackAddress): string {
  const where = Buffer.from(JSON.stringify([address.instanceId, address.generation, address.taskId])).toString('base64url');
  return `${PREFIX}.${where}.${address.nonce}`;
}

/** The address a token names; a `ValidationError` that says what is wrong for anything else. */
export function parseCallbackToken(token: unknown): CallbackAddress {
  const refuse = (why: string) => new ValidationError(`Invalid callback token: ${why}. Pass the callback's id exactly as ctx.createCallback returned it.`);
  if (typeof token !== 'string' || token.length > 600) throw refuse('expected a string of at most 600 characters');
  const [prefix, where, nonce, ...rest] = token.split('.');
  if (prefix !== PREFIX || where === undefined || nonce === undefined || rest.length > 0) throw refuse(`expected three parts, 'cb1.<...>.<...>'`);
  if (!NONCE.test(nonce)) throw refuse('its last part is not one Perdure makes');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(where, 'base64url').toString());
  } catch {
    throw refuse('its middle part does not decode');
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || typeof parsed[0] !== 'string' || !Number.isInteger(parsed[1]) || !Number.isInteger(parsed[2]) || parsed[1] < 0 || parsed[2] < 1) {
    throw refuse('its middle part does not name a callback');
  }
  return { instanceId: parsed[0], generation: parsed[1] as number, taskId: parsed[2] as number, nonce };
}
