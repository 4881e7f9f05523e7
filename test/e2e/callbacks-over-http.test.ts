/**
 * Callbacks end to end over HTTP on the embedded local stack: instances waiting in `ctx.waitForCallback`,
 * completed, failed and kept alive through the API's routes and through signed URLs, the way an outside
 * system would; and bad calls, each answered with a 4xx that leaves the table as it was.
 */
import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpApi } from '../../lib/api/http-api.js';
import { formatCallbackToken, parseCallbackToken } from '../../lib/core/callback-token.js';
import { createApp, silentLogger, type CallbackUrls, type HistoryEvent, type PendingCallback } from '../../lib/index.js';
import { serveHttpApi } from '../../lib/local/http-server.js';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.js';
import { VirtualClock } from '../../lib/memory/virtual-clock.js';

const MINUTE = 60_000;

/** One orchestration: waits for a callback whose submitter hands out signed URLs, and reports how it ended. */
function callbackApp(links: Map<string, CallbackUrls>) {
  const app = createApp({ logger: silentLogger });
  app.orchestration('approval', async (ctx, options: { timeout?: string; heartbeatTimeout?: string }) => {
    try {
      const result = await ctx.waitForCallback<unknown>('manager', async (token, actx) => void links.set(ctx.instanceId, await actx.callbackUrls(token, { expiresIn: '1h' })), options);
      return { result };
    } catch (error) {
      return { caught: (error as Error).name, cause: ((error as Error).cause as Error | undefined)?.name, message: (error as Error).message };
    }
  });
  return app;
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}; last value: ${JSON.stringify(value).slice(0, 400)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('callbacks over HTTP on the embedded local stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-callbacks-'));
  const clock = new VirtualClock();
  const links = new Map<string, CallbackUrls>();
  let stack: LocalStack;
  let http: Awaited<ReturnType<typeof serveHttpApi>>;

  /** A request as curl or a partner's webhook sends it: JSON, no credentials. */
  const call = async (method: string, pathOrUrl: string, body?: unknown) => {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${http.url}${pathOrUrl}`;
    const response = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
  };
  const history = async (id: string) => ((await call('GET', `/instances/${id}/history`)).body.events ?? []) as HistoryEvent[];
  const status = async (id: string) => (await call('GET', `/instances/${id}`)).body;
  const completion = (id: string) => waitFor(() => status(id), (s) => ['Completed', 'Failed'].includes(s.status), `${id} completes`);
  /** Starts an instance through the API and waits until its callback is listed (its submitter has run). */
  const startWaiting = async (id: string, options: { timeout?: string; heartbeatTimeout?: string } = {}): Promise<PendingCallback> => {
    expect((await call('POST', `/orchestrations/approval?instanceId=${id}`, options)).status).toBe(202);
    const listed = await waitFor(() => call('GET', `/instances/${id}/callbacks`), (r) => r.body.callbacks?.length === 1 && links.has(id), `${id} waits for its callback`);
    return listed.body.callbacks[0] as PendingCallback;
  };

  /** Every item of the table, in key order. */
  const table = async () => {
    const items: Record<string, AttributeValue>[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await stack.runtime.clients.dynamodb.send(new ScanCommand({ TableName: stack.config.tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    const key = (item: Record<string, AttributeValue>) => `${item.PK!.S}|${item.SK!.S}`;
    return items.sort((a, b) => key(a).localeCompare(key(b)));
  };
  /** The table once two reads a moment apart agree (a step may still delete the inbox message it applied). */
  const quietTable = async () => {
    let last = JSON.stringify(await table());
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const now = JSON.stringify(await table());
      if (now === last) return JSON.parse(now) as unknown;
      last = now;
    }
    throw new Error('The table did not settle');
  };
  /** Sends a request that must be refused, and checks that it changed nothing in the table. */
  const refused = async (method: string, pathOrUrl: string, body?: unknown) => {
    const before = await quietTable();
    const response = await call(method, pathOrUrl, body);
    expect(JSON.parse(JSON.stringify(await table()))).toEqual(before);
    return response;
  };

  beforeAll(async () => {
    stack = await startLocalStack(callbackApp(links), { dataDir, clock, logger: silentLogger, maxTimerHopSeconds: 1, apiUrl: () => http?.url });
    http = await serveHttpApi(new HttpApi({ client: stack.runtime.client, callbackUrls: stack.runtime.callbackUrls }), 0);
  });
  afterAll(async () => {
    await http?.close();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the signing key in the data folder, readable by this user only', () => {
    const file = join(dataDir, 'callback-signing.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url')).toHaveLength(32);
  });

  it('completes a waitForCallback through POST /callbacks/{token}/succeed, and answers a retry as a duplicate that writes nothing', async () => {
    const callback = await startWaiting('http-succeed');
    expect(callback).toMatchObject({ name: 'manager', position: 1 });
    expect(parseCallbackToken(callback.token).instanceId).toBe('http-succeed');
    expect(await call('POST', `/callbacks/${callback.token}/succeed`, { approved: true, by: 'ada' })).toEqual({ status: 202, body: { instanceId: 'http-succeed', outcome: 'recorded' } });
    expect((await completion('http-succeed')).output).toEqual({ result: { approved: true, by: 'ada' } });
    expect(await refused('POST', `/callbacks/${callback.token}/succeed`, { by: 'ada', approved: true })).toEqual({ status: 202, body: { instanceId: 'http-succeed', outcome: 'duplicate' } });
    expect((await history('http-succeed')).filter((event) => event.type === 'CallbackCompleted')).toHaveLength(1);
    const another = await refused('POST', `/callbacks/${callback.token}/succeed`, { approved: false });
    expect(another).toMatchObject({ status: 409, body: { error: { code: 'CALLBACK_ALREADY_COMPLETED', message: expect.stringMatching(/already completed at .*a different one is refused/) } } });
    expect((await call('GET', '/instances/http-succeed/callbacks')).body.callbacks).toEqual([]);
  });

  it('fails a callback through POST /callbacks/{token}/fail: the orchestration catches a CallbackFailedError carrying the sent error', async () => {
    const callback = await startWaiting('http-fail');
    const failed = await call('POST', `/callbacks/${callback.token}/fail`, { error: { name: 'Declined', message: 'over budget', details: { limit: 100 } } });
    expect(failed).toEqual({ status: 202, body: { instanceId: 'http-fail', outcome: 'recorded' } });
    expect((await completion('http-fail')).output).toEqual({ caught: 'CallbackFailedError', cause: 'Declined', message: "Callback 'manager' was failed by the outside system: Declined: over budget" });
    const recorded = (await history('http-fail')).find((event) => event.type === 'CallbackFailed');
    expect(recorded).toMatchObject({ error: { name: 'Declined', message: 'over budget', details: { limit: 100 } } });
  });

  it('keeps a callback alive with POST /callbacks/{token}/heartbeat past its heartbeat timeout, and fails it once the heartbeats stop', async () => {
    const callback = await startWaiting('http-heartbeat', { heartbeatTimeout: '10m' });
    expect(callback.heartbeatTimeout).toBe('10m');
    clock.advance(8 * MINUTE);
    expect(await call('POST', `/callbacks/${callback.token}/heartbeat`)).toEqual({ status: 202, body: { instanceId: 'http-heartbeat', outcome: 'recorded' } });
    const beat = await waitFor(() => history('http-heartbeat'), (events) => events.some((e) => e.type === 'CallbackHeartbeat'), 'the heartbeat is applied');
    const heartbeatAt = beat.find((e) => e.type === 'CallbackHeartbeat')!.timestamp;
    // Past the first deadline: the heartbeat timer fires, finds the heartbeat, and waits for the next deadline.
    clock.advance(4 * MINUTE);
    const rearmed = await waitFor(() => history('http-heartbeat'), (events) => events.filter((e) => e.type === 'TimerCreated').length >= 2, 'the heartbeat timer is set again');
    expect(rearmed.filter((e) => e.type === 'TimerCreated').at(-1)).toMatchObject({ fireAt: heartbeatAt + 10 * MINUTE });
    expect((await status('http-heartbeat')).status).toBe('Running');
    expect((await call('GET', '/instances/http-heartbeat/callbacks')).body.callbacks[0]).toMatchObject({ lastHeartbeatAt: new Date(heartbeatAt).toISOString(), heartbeatDeadline: new Date(heartbeatAt + 10 * MINUTE).toISOString() });
    clock.advance(10 * MINUTE);
    expect((await completion('http-heartbeat')).output).toMatchObject({ caught: 'CallbackTimeoutError', message: expect.stringMatching(/had no heartbeat for 10m/) });
    const late = await refused('POST', `/callbacks/${callback.token}/heartbeat`);
    expect(late).toMatchObject({ status: 410, body: { error: { code: 'CALLBACK_EXPIRED', message: expect.stringMatching(/had no heartbeat for 10m and expired at/) } } });
  });

  describe('signed URLs, for outside systems without credentials', () => {
    it('completes a callback through the succeed URL its submitter was given; the same request again is a duplicate', async () => {
      await startWaiting('signed-succeed');
      const urls = links.get('signed-succeed')!;
      expect(urls.succeed.startsWith(`${http.url}/signed/callbacks/`)).toBe(true);
      expect(await call('POST', urls.succeed, { approved: true })).toEqual({ status: 202, body: { instanceId: 'signed-succeed', outcome: 'recorded' } });
      expect((await completion('signed-succeed')).output).toEqual({ result: { approved: true } });
      expect(await refused('POST', urls.succeed, { approved: true })).toEqual({ status: 202, body: { instanceId: 'signed-succeed', outcome: 'duplicate' } });
      expect(await refused('POST', urls.succeed, { approved: false })).toMatchObject({ status: 409, body: { error: { code: 'CALLBACK_ALREADY_COMPLETED' } } });
    });

    it('fails a callback and sends heartbeats through its fail and heartbeat URLs', async () => {
      await startWaiting('signed-fail', { heartbeatTimeout: '1h' });
      const urls = links.get('signed-fail')!;
      expect(await call('POST', urls.heartbeat)).toMatchObject({ status: 202, body: { outcome: 'recorded' } });
      await waitFor(() => history('signed-fail'), (events) => events.some((e) => e.type === 'CallbackHeartbeat'), 'the heartbeat is applied');
      expect(await call('POST', urls.heartbeat)).toMatchObject({ status: 202, body: { outcome: 'recorded' } });
      expect(await call('POST', urls.fail, { error: { name: 'OutOfStock', message: 'no desks left' } })).toMatchObject({ status: 202, body: { outcome: 'recorded' } });
      expect((await completion('signed-fail')).output).toMatchObject({ caught: 'CallbackFailedError', cause: 'OutOfStock' });
    });

    it('refuses a URL used for another purpose, a changed signature, and a URL past its expiry, and writes nothing', async () => {
      const callback = await startWaiting('signed-refused');
      const urls = links.get('signed-refused')!;
      const wrongPurpose = await refused('POST', urls.heartbeat.replace('/heartbeat?', '/succeed?'), { approved: true });
      expect(wrongPurpose).toMatchObject({ status: 403, body: { error: { code: 'SIGNATURE_MISMATCH', message: expect.stringMatching(/each one does one thing/) } } });
      const signature = new URL(urls.succeed).searchParams.get('signature')!;
      const tampered = urls.succeed.replace(signature, `${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`);
      expect(await refused('POST', tampered, { approved: true })).toMatchObject({ status: 403, body: { error: { code: 'SIGNATURE_MISMATCH' } } });
      const otherToken = formatCallbackToken({ ...parseCallbackToken(callback.token), instanceId: 'signed-succeed' });
      expect(await refused('POST', urls.succeed.replace(encodeURIComponent(callback.token), otherToken), { approved: true })).toMatchObject({ status: 403, body: { error: { code: 'SIGNATURE_MISMATCH' } } });
      // Signed for an hour: an hour and a minute later it no longer works, though the callback still waits.
      clock.advance(61 * MINUTE);
      const expired = await refused('POST', urls.succeed, { approved: true });
      expect(expired).toMatchObject({ status: 403, body: { error: { code: 'SIGNED_URL_EXPIRED', message: expect.stringMatching(/This callback URL expired at .*: ask whoever sent it for a new one/) } } });
      const fresh = await call('POST', `/callbacks/${callback.token}/urls`, { expiresIn: '10m' });
      expect(fresh.status).toBe(200);
      expect(await call('POST', (fresh.body as CallbackUrls).succeed, { approved: 'late but signed' })).toMatchObject({ status: 202, body: { outcome: 'recorded' } });
      expect((await completion('signed-refused')).output).toEqual({ result: { approved: 'late but signed' } });
    });
  });

  describe('bad tokens: a clear 4xx, and the table is unchanged', () => {
    let token: string;
    beforeAll(async () => {
      token = (await startWaiting('bad-tokens')).token;
      await startWaiting('bad-tokens-other');
    });

    it('refuses a malformed token with 400', async () => {
      const response = await refused('POST', '/callbacks/cb1.not-a-token/succeed', true);
      expect(response).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION', message: expect.stringMatching(/Invalid callback token: .*Pass the callback's id exactly as ctx\.createCallback returned it/) } } });
    });

    it('refuses a token of an unknown instance with 404', async () => {
      const unknown = formatCallbackToken({ ...parseCallbackToken(token), instanceId: 'nobody-here' });
      expect(await refused('POST', `/callbacks/${unknown}/succeed`, true)).toMatchObject({ status: 404, body: { error: { code: 'CALLBACK_NOT_FOUND', message: expect.stringMatching(/no such instance exists/) } } });
    });

    it('refuses a token forged into another instance (its nonce is not that instance’s) with 404', async () => {
      const forged = formatCallbackToken({ ...parseCallbackToken(token), instanceId: 'bad-tokens-other' });
      const response = await refused('POST', `/callbacks/${forged}/fail`, { error: { message: 'forged' } });
      expect(response).toMatchObject({ status: 404, body: { error: { code: 'CALLBACK_NOT_FOUND', message: expect.stringMatching(/instance 'bad-tokens-other', position 1\): the instance handed out no such token/) } } });
      expect((await status('bad-tokens-other')).status).toBe('Running');
    });

    it('refuses a different completion of a callback already completed with 409', async () => {
      expect((await call('POST', `/callbacks/${token}/succeed`, 'first')).status).toBe(202);
      expect((await completion('bad-tokens')).output).toEqual({ result: 'first' });
      const response = await refused('POST', `/callbacks/${token}/succeed`, 'second');
      expect(response).toMatchObject({ status: 409, body: { error: { code: 'CALLBACK_ALREADY_COMPLETED' } } });
    });
  });
});
