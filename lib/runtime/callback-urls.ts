import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseCallbackToken } from '../core/callback-token.js';
import { formatDuration, toMilliseconds } from '../core/durations.js';
import { ValidationError } from '../core/errors.js';
import type { CallbackUrlOptions, CallbackUrls } from '../core/types.js';
import { systemClock, type CallbackSigningKeys, type Clock } from '../ports.js';

/** What a signed callback URL lets its holder do, and nothing else. */
export type CallbackPurpose = 'succeed' | 'fail' | 'heartbeat';
export const CALLBACK_PURPOSES: readonly CallbackPurpose[] = ['succeed', 'fail', 'heartbeat'];

/** The path prefix of signed callback URLs: the one part of the API without IAM authorization. */
export const SIGNED_CALLBACKS_PATH = '/signed/callbacks';

const DEFAULT_EXPIRES_IN = '7d';
const MAX_EXPIRES_IN_MS = toMilliseconds('365d');
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The signature of one purpose of one callback token until `expires` (seconds since the epoch):
 * HMAC-SHA256 over all three with a version tag, base64url. A URL signed for `heartbeat` cannot complete
 * the callback, and changing the expiry breaks the signature.
 */
export function signCallbackUrl(key: Uint8Array, token: string, purpose: CallbackPurpose, expires: number): string {
  return createHmac('sha256', key).update(`perdure-callback-url:v1\n${purpose}\n${expires}\n${token}`).digest('base64url');
}

/**
 * Checks a signed URL's signature against every key in `keys` (the current one and, during a rotation, the
 * previous one), each in constant time, then its expiry. `mismatch` says nothing about which part was wrong.
 */
export function checkCallbackSignature(keys: readonly Uint8Array[], token: string, purpose: CallbackPurpose, expires: number, signature: string, now: number): 'valid' | 'expired' | 'mismatch' {
  const given = Buffer.from(signature);
  let matched = false;
  for (const key of keys) {
    const expected = Buffer.from(signCallbackUrl(key, token, purpose, expires));
    // Every key is compared, so the time taken does not tell which one matched.
    if (expected.length === given.length && timingSafeEqual(expected, given)) matched = true;
  }
  if (!matched) return 'mismatch';
  return now >= expires * 1000 ? 'expired' : 'valid';
}

export interface CallbackUrlSignerOptions {
  keys: CallbackSigningKeys;
  /** The API's base URL, stage included; a function is asked at each signing (the local server learns its port late). */
  baseUrl: string | (() => string | undefined);
  clock?: Clock;
}

/**
 * Signs callback URLs for outside systems without AWS credentials (`actx.callbackUrls`), and checks the
 * signature of one when it comes back (the HTTP API's `/signed/callbacks/...` routes).
 */
export class CallbackUrlSigner {
  private readonly keys: CallbackSigningKeys;
  private readonly baseUrl: () => string | undefined;
  private readonly clock: Clock;

  constructor(options: CallbackUrlSignerOptions) {
    this.keys = options.keys;
    const { baseUrl } = options;
    this.baseUrl = typeof baseUrl === 'function' ? baseUrl : () => baseUrl;
    this.clock = options.clock ?? systemClock;
  }

  async urls(token: string, options: CallbackUrlOptions = {}): Promise<CallbackUrls> {
    parseCallbackToken(token);
    const lifetime = toMilliseconds(options.expiresIn ?? DEFAULT_EXPIRES_IN, 'expiresIn of the callback URLs');
    if (lifetime < 1000 || lifetime > MAX_EXPIRES_IN_MS) {
      throw new ValidationError(`expiresIn of the callback URLs must be from 1s to 365d, got ${formatDuration(lifetime)}: a URL is a credential, so give it the shortest life that works.`);
    }
    const base = apiBase(this.baseUrl());
    const expires = Math.ceil((this.clock.now() + lifetime) / 1000);
    const key = await this.keys.current();
    const url = (purpose: CallbackPurpose) =>
      `${base}${SIGNED_CALLBACKS_PATH}/${encodeURIComponent(token)}/${purpose}?expires=${expires}&signature=${signCallbackUrl(key, token, purpose, expires)}`;
    return { succeed: url('succeed'), fail: url('fail'), heartbeat: url('heartbeat'), expiresAt: new Date(expires * 1000).toISOString() };
  }

  /**
   * Checks `signature` for this token, purpose and expiry. A mismatch is checked once more against freshly
   * read keys, in case they were rotated since they were read.
   */
  async check(token: string, purpose: CallbackPurpose, expires: number, signature: string): Promise<'valid' | 'expired' | 'mismatch'> {
    if (!SIGNATURE.test(signature)) return 'mismatch';
    const now = this.clock.now();
    const result = checkCallbackSignature(await this.keys.all(), token, purpose, expires, signature, now);
    if (result !== 'mismatch') return result;
    return checkCallbackSignature(await this.keys.all({ refresh: true }), token, purpose, expires, signature, now);
  }
}

/** Keys held in memory: `current` signs, `current` and `previous` verify. */
export function staticSigningKeys(current: Uint8Array = randomBytes(32), previous?: Uint8Array): CallbackSigningKeys {
  return {
    current: async () => current,
    all: async () => (previous ? [current, previous] : [current]),
  };
}

function apiBase(baseUrl: string | undefined): string {
  if (!baseUrl) {
    throw new ValidationError(
      "Signed callback URLs need the API's address, and none is configured: on AWS the DurableFunctions construct sets PERDURE_API_URL on the functions; npm start and startLocalStack use the address they serve; TestEnvironment takes { apiUrl }.",
    );
  }
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ValidationError(`The API address for signed callback URLs, ${JSON.stringify(baseUrl)}, is not a URL: set PERDURE_API_URL to the API's base URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ValidationError(`The API address for signed callback URLs must be http(s), got ${url.protocol}`);
  return url.toString().replace(/\/+$/, '');
}
