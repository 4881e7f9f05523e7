import { describe, expect, it } from 'vitest';
import { formatCallbackToken } from '../../lib/core/callback-token.js';
import { ValidationError } from '../../lib/index.js';
import { VirtualClock } from '../../lib/memory/virtual-clock.js';
import type { CallbackSigningKeys } from '../../lib/ports.js';
import { CallbackUrlSigner, checkCallbackSignature, signCallbackUrl, staticSigningKeys, type CallbackPurpose } from '../../lib/runtime/callback-urls.js';

const TOKEN = formatCallbackToken({ instanceId: 'order-42', generation: 0, taskId: 3, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
const OTHER_TOKEN = formatCallbackToken({ instanceId: 'order-43', generation: 0, taskId: 3, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
const KEY = Buffer.alloc(32, 1);
const OLD_KEY = Buffer.alloc(32, 2);
const OLDER_KEY = Buffer.alloc(32, 3);

/** Keys that can be rotated, and count their reads. */
function rotatingKeys(): CallbackSigningKeys & { rotate(next: Uint8Array): void; cached: Uint8Array[]; reads: number } {
  let stored: Uint8Array[] = [KEY];
  const keys = {
    cached: stored,
    reads: 0,
    rotate: (next: Uint8Array) => void (stored = [next, stored[0]!]),
    current: async () => keys.cached[0]!,
    all: async (options?: { refresh?: boolean }) => {
      if (options?.refresh) {
        keys.reads++;
        keys.cached = stored;
      }
      return keys.cached;
    },
  };
  return keys;
}

function parts(url: string): { path: string; token: string; purpose: CallbackPurpose; expires: number; signature: string } {
  const parsed = new URL(url);
  const [, token, purpose] = /\/signed\/callbacks\/([^/]+)\/([^/]+)$/.exec(parsed.pathname)!;
  return { path: parsed.pathname, token: decodeURIComponent(token!), purpose: purpose as CallbackPurpose, expires: Number(parsed.searchParams.get('expires')), signature: parsed.searchParams.get('signature')! };
}

describe('signed callback URLs', () => {
  const clock = new VirtualClock();
  const signer = new CallbackUrlSigner({ keys: staticSigningKeys(KEY), baseUrl: 'https://api.example.com/prod/', clock });

  it('gives one URL per purpose under /signed/callbacks, each with the expiry and its own signature', async () => {
    const urls = await signer.urls(TOKEN, { expiresIn: '1h' });
    const expires = Math.ceil((clock.now() + 3_600_000) / 1000);
    expect(urls.expiresAt).toBe(new Date(expires * 1000).toISOString());
    for (const purpose of ['succeed', 'fail', 'heartbeat'] as const) {
      const url = parts(urls[purpose]);
      expect(urls[purpose].startsWith(`https://api.example.com/prod/signed/callbacks/${TOKEN}/${purpose}?expires=${expires}&signature=`)).toBe(true);
      expect(url).toMatchObject({ token: TOKEN, purpose, expires });
      expect(url.signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    expect(new Set([urls.succeed, urls.fail, urls.heartbeat].map((url) => parts(url).signature)).size).toBe(3);
  });

  it('lasts 7 days unless told otherwise', async () => {
    const { expiresAt } = await signer.urls(TOKEN);
    expect(Date.parse(expiresAt)).toBe(Math.ceil((clock.now() + 7 * 86_400_000) / 1000) * 1000);
  });

  it('accepts a URL as signed, and nothing else', async () => {
    const url = parts((await signer.urls(TOKEN, { expiresIn: '1h' })).succeed);
    const check = (changes: Partial<typeof url>) => {
      const { token, purpose, expires, signature } = { ...url, ...changes };
      return signer.check(token, purpose, expires, signature);
    };
    expect(await check({})).toBe('valid');
    expect(await check({ purpose: 'heartbeat' })).toBe('mismatch');
    expect(await check({ purpose: 'fail' })).toBe('mismatch');
    expect(await check({ token: OTHER_TOKEN })).toBe('mismatch');
    expect(await check({ expires: url.expires + 86_400 })).toBe('mismatch');
    const flipped = url.signature.startsWith('A') ? `B${url.signature.slice(1)}` : `A${url.signature.slice(1)}`;
    expect(await check({ signature: flipped })).toBe('mismatch');
    expect(await check({ signature: url.signature.slice(0, 42) })).toBe('mismatch');
    expect(await check({ signature: `${url.signature}=` })).toBe('mismatch');
    expect(await check({ signature: '' })).toBe('mismatch');
    expect(await check({ signature: signCallbackUrl(OLD_KEY, url.token, url.purpose, url.expires) })).toBe('mismatch');
  });

  it('refuses a URL once it expired, and only if its signature is right', async () => {
    const local = new VirtualClock();
    const shortLived = new CallbackUrlSigner({ keys: staticSigningKeys(KEY), baseUrl: 'http://127.0.0.1:3000', clock: local });
    const url = parts((await shortLived.urls(TOKEN, { expiresIn: '10m' })).heartbeat);
    local.advance(9 * 60_000);
    expect(await shortLived.check(url.token, url.purpose, url.expires, url.signature)).toBe('valid');
    local.advance(2 * 60_000);
    expect(await shortLived.check(url.token, url.purpose, url.expires, url.signature)).toBe('expired');
    expect(await shortLived.check(url.token, 'succeed', url.expires, url.signature)).toBe('mismatch');
  });

  it('keeps URLs signed with the previous key working through one rotation, not two', () => {
    const expires = Math.ceil(Date.now() / 1000) + 600;
    const byOld = signCallbackUrl(OLD_KEY, TOKEN, 'succeed', expires);
    const byOlder = signCallbackUrl(OLDER_KEY, TOKEN, 'succeed', expires);
    expect(checkCallbackSignature([KEY, OLD_KEY], TOKEN, 'succeed', expires, byOld, Date.now())).toBe('valid');
    expect(checkCallbackSignature([KEY, OLD_KEY], TOKEN, 'succeed', expires, byOlder, Date.now())).toBe('mismatch');
  });

  it('reads the keys again on a mismatch, so that a URL signed with a key rotated in since they were read is accepted', async () => {
    const keys = rotatingKeys();
    const verifier = new CallbackUrlSigner({ keys, baseUrl: 'http://127.0.0.1:3000' });
    const expires = Math.ceil(Date.now() / 1000) + 600;
    const byNewKey = signCallbackUrl(OLD_KEY, TOKEN, 'fail', expires);
    keys.rotate(OLD_KEY);
    expect(await verifier.check(TOKEN, 'fail', expires, byNewKey)).toBe('valid');
    expect(keys.reads).toBe(1);
    expect(await verifier.check(TOKEN, 'fail', expires, signCallbackUrl(KEY, TOKEN, 'fail', expires))).toBe('valid');
    expect(keys.reads).toBe(1);
  });

  it.each([
    ['a malformed token', () => signer.urls('not-a-token'), /Invalid callback token/],
    ['a lifetime under a second', () => signer.urls(TOKEN, { expiresIn: 500 }), /must be from 1s to 365d, got 500ms: a URL is a credential/],
    ['a lifetime over a year', () => signer.urls(TOKEN, { expiresIn: '366d' }), /must be from 1s to 365d, got 366d/],
    ['a lifetime that is no duration', () => signer.urls(TOKEN, { expiresIn: 'a week' }), /Invalid expiresIn of the callback URLs "a week"/],
    ['no API address', () => new CallbackUrlSigner({ keys: staticSigningKeys(), baseUrl: () => undefined }).urls(TOKEN), /need the API's address.*PERDURE_API_URL/],
    ['an API address that is no URL', () => new CallbackUrlSigner({ keys: staticSigningKeys(), baseUrl: 'api.example.com' }).urls(TOKEN), /is not a URL: set PERDURE_API_URL/],
  ])('refuses %s with a ValidationError that says what to do', async (_what, sign, message) => {
    const refused = sign();
    await expect(refused).rejects.toThrow(ValidationError);
    await expect(refused).rejects.toThrow(message);
  });
});
