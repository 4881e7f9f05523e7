import { describe, expect, it } from 'vitest';
import { createApp, silentLogger, TestEnvironment } from '../../lib/index.js';
import { HttpApi, type HttpRequest } from '../../lib/api/http-api.js';

async function setup() {
  const app = createApp({ logger: silentLogger });
  app.orchestration('approve', async (ctx) => {
    try {
      return await ctx.waitForCallback<{ approved: boolean }>('manager', () => undefined, { heartbeatTimeout: '1h' });
    } catch (error) {
      return { caught: (error as Error).name, cause: ((error as Error).cause as Error).name, message: (error as Error).message };
    }
  });
  app.activity('greet', async (name: string) => `Hello, ${name}!`);
  app.orchestration('hello', async (ctx, input: { name: string }) => {
    const approved = await ctx.waitForEvent<boolean>('approve');
    return approved ? ctx.callActivity('greet', input.name) : 'rejected';
  });
  const env = await TestEnvironment.create(app);
  const api = new HttpApi({ client: env.client, callbackUrls: env.callbackUrls, maxBodyBytes: 1_000 });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
    const url = new URL(path, 'http://x');
    const request: HttpRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body: typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body) };
    const response = await api.handle(request);
    return { status: response.statusCode, body: response.body ? (JSON.parse(response.body) as Record<string, any>) : undefined, headers: response.headers };
  };
  /** Starts an `approve` instance and returns its callback's token once it waits. */
  const waitingCallback = async (instanceId: string) => {
    await call('POST', `/orchestrations/approve?instanceId=${instanceId}`);
    await env.idle();
    const listed = await call('GET', `/instances/${instanceId}/callbacks`);
    return listed.body!.callbacks[0].token as string;
  };
  return { env, call, waitingCallback };
}

describe('HTTP API', () => {
  it('records an event raised twice with the same Idempotency-Key once', async () => {
    const { env, call } = await setup();
    await call('POST', '/orchestrations/hello?instanceId=k-1', { name: 'Ada' });
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'approve-k-1' };
    expect((await call('POST', '/instances/k-1/events/approve', false, headers)).status).toBe(202);
    expect((await call('POST', '/instances/k-1/events/approve', false, headers)).status).toBe(202);
    expect((await call('POST', '/instances/k-1/events/approve', true, { ...headers, 'idempotency-key': 'bad key' })).status).toBe(400);
    const status = await env.client.waitForCompletion('k-1');
    expect(status.output).toBe('rejected');
    expect((await env.client.getHistory('k-1')).filter((event) => event.type === 'EventRaised')).toHaveLength(1);
  });

  it('starts an instance, raises its event and reads status and history', async () => {
    const { env, call } = await setup();
    const started = await call('POST', '/orchestrations/hello?instanceId=h-1', { name: 'Ada' });
    expect(started).toMatchObject({ status: 202, body: { instanceId: 'h-1', statusUrl: '/instances/h-1', eventUrl: '/instances/h-1/events/{eventName}' }, headers: { location: '/instances/h-1' } });
    await env.idle();
    expect((await call('POST', '/instances/h-1/events/approve', true)).status).toBe(202);
    await env.client.waitForCompletion('h-1');
    expect(await call('GET', '/instances/h-1')).toMatchObject({ status: 200, body: { status: 'Completed', output: 'Hello, Ada!' } });
    const history = await call('GET', '/instances/h-1/history');
    expect(history.body!.events.map((e: { type: string }) => e.type)).toContain('EventRaised');
    expect((await call('GET', '/instances?status=Completed&name=hello')).body!.instances).toHaveLength(1);
    // The cost ledger, priced, only when asked for.
    expect((await call('GET', '/instances/h-1')).body!.cost).toBeUndefined();
    const costed = await call('GET', '/instances/h-1?cost=true');
    expect(costed.body!.cost).toMatchObject({ ledger: { steps: 3, attempts: 1 }, lines: expect.arrayContaining([expect.objectContaining({ item: 'Lambda duration' })]), totalUsd: expect.any(Number) });
    expect((await call('GET', '/instances?status=Completed&name=hello&cost=true')).body!.instances[0].cost.ledger.steps).toBe(3);
    expect((await call('DELETE', '/instances/h-1')).status).toBe(204);
    expect((await call('GET', '/instances/h-1')).status).toBe(404);
    await env.close();
  });

  it('terminates, suspends and resumes through the API', async () => {
    const { env, call } = await setup();
    await call('POST', '/orchestrations/hello?instanceId=h-2', { name: 'Bob' });
    await env.idle();
    expect((await call('POST', '/instances/h-2/suspend', { reason: 'maintenance' })).status).toBe(202);
    await env.idle();
    expect((await call('GET', '/instances/h-2')).body!.status).toBe('Suspended');
    expect((await call('POST', '/instances/h-2/resume')).status).toBe(202);
    expect((await call('POST', '/instances/h-2/terminate', { reason: 'done' })).status).toBe(202);
    await env.idle();
    expect((await call('GET', '/instances/h-2')).body!.status).toBe('Terminated');
    await env.close();
  });

  it.each([
    ['malformed JSON', 'POST', '/orchestrations/hello', '{"name":', 400, 'MALFORMED_JSON'],
    ['an unknown orchestration', 'POST', '/orchestrations/nope', {}, 404, 'ORCHESTRATION_NOT_FOUND'],
    ['an invalid instance id', 'POST', '/orchestrations/hello?instanceId=a%2Fb', {}, 400, 'VALIDATION'],
    ['an instance id with control characters', 'POST', '/orchestrations/hello?instanceId=a%0Ab', {}, 400, 'VALIDATION'],
    ['a body over the limit', 'POST', '/orchestrations/hello', { name: 'x'.repeat(2_000) }, 413, 'PAYLOAD_TOO_LARGE'],
    ['an unknown instance', 'GET', '/instances/ghost', undefined, 404, 'INSTANCE_NOT_FOUND'],
    ['an event for an unknown instance', 'POST', '/instances/ghost/events/approve', true, 404, 'INSTANCE_NOT_FOUND'],
    ['an invalid event name', 'POST', '/instances/ghost/events/bad%20name', true, 400, 'VALIDATION'],
    ['an unknown route', 'GET', '/nothing/here', undefined, 404, 'ROUTE_NOT_FOUND'],
    ['a wrong method', 'PUT', '/instances/x', {}, 405, 'METHOD_NOT_ALLOWED'],
    ['an unknown status filter', 'GET', '/instances?status=Sleeping', undefined, 400, 'VALIDATION'],
    ['a non-numeric limit', 'GET', '/instances?limit=ten', undefined, 400, 'VALIDATION'],
    ['a terminate body with unknown fields', 'POST', '/instances/ghost/terminate', { reason: 'x', force: true }, 400, 'VALIDATION'],
    ['a bad history generation', 'GET', '/instances/ghost/history?generation=-1', undefined, 400, 'VALIDATION'],
    ['dead letters of a runtime without queues', 'GET', '/dlq/activities', undefined, 404, 'ROUTE_NOT_FOUND'],
    ['an unknown dead-letter queue', 'POST', '/dlq/timers/redrive', undefined, 404, 'ROUTE_NOT_FOUND'],
  ])('rejects %s with %i and writes nothing', async (_what, method, path, body, status, code) => {
    const { env, call } = await setup();
    const response = await call(method, path, body);
    expect(response.status).toBe(status);
    expect(response.body!.error.code).toBe(code);
    expect(typeof response.body!.error.message).toBe('string');
    expect((await env.client.list()).instances).toEqual([]);
    await env.close();
  });

  it('rejects a duplicate start with 409 and keeps the first instance', async () => {
    const { env, call } = await setup();
    await call('POST', '/orchestrations/hello?instanceId=same', { name: 'first' });
    const second = await call('POST', '/orchestrations/hello?instanceId=same', { name: 'second' });
    expect(second).toMatchObject({ status: 409, body: { error: { code: 'INSTANCE_EXISTS' } } });
    expect((await call('GET', '/instances/same')).body!.input).toEqual({ name: 'first' });
    await env.close();
  });

  it('rejects a body that is not JSON by content type with 415', async () => {
    const { env, call } = await setup();
    const response = await call('POST', '/orchestrations/hello', 'name=Ada', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(response).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    await env.close();
  });

  describe('callbacks', () => {
    it('lists a waiting callback, completes it, answers the same completion again as a duplicate and refuses another', async () => {
      const { env, call, waitingCallback } = await setup();
      const token = await waitingCallback('cb-1');
      const listed = await call('GET', '/instances/cb-1/callbacks');
      expect(listed).toMatchObject({ status: 200, body: { instanceId: 'cb-1', callbacks: [{ token, name: 'manager', position: 1, heartbeatTimeout: '1h', heartbeatDeadline: expect.any(String) }] } });
      expect(await call('POST', `/callbacks/${token}/heartbeat`)).toMatchObject({ status: 202, body: { instanceId: 'cb-1', outcome: 'recorded' } });
      expect(await call('POST', `/callbacks/${token}/succeed`, { approved: true })).toMatchObject({ status: 202, body: { outcome: 'recorded' } });
      expect(await call('POST', `/callbacks/${token}/succeed`, { approved: true })).toMatchObject({ status: 202, body: { outcome: 'duplicate' } });
      expect(await call('POST', `/callbacks/${token}/succeed`, { approved: false })).toMatchObject({ status: 409, body: { error: { code: 'CALLBACK_ALREADY_COMPLETED' } } });
      expect((await env.client.waitForCompletion('cb-1')).output).toEqual({ approved: true });
      expect((await call('GET', '/instances/cb-1/callbacks')).body!.callbacks).toEqual([]);
      await env.close();
    });

    it('fails a callback with the error the body carries, which the orchestration catches', async () => {
      const { env, call, waitingCallback } = await setup();
      const token = await waitingCallback('cb-2');
      const failed = await call('POST', `/callbacks/${token}/fail`, { error: { name: 'Declined', message: 'over budget', details: { limit: 100 } } });
      expect(failed).toMatchObject({ status: 202, body: { outcome: 'recorded' } });
      expect((await env.client.waitForCompletion('cb-2')).output).toEqual({ caught: 'CallbackFailedError', cause: 'Declined', message: "Callback 'manager' was failed by the outside system: Declined: over budget" });
      await env.close();
    });

    it('fails a callback without a reason when the body is empty', async () => {
      const { env, call, waitingCallback } = await setup();
      const token = await waitingCallback('cb-2b');
      expect(await call('POST', `/callbacks/${token}/fail`)).toMatchObject({ status: 202, body: { outcome: 'recorded' } });
      expect((await env.client.waitForCompletion('cb-2b')).output).toEqual({ caught: 'CallbackFailedError', cause: 'CallbackFailed', message: "Callback 'manager' was failed by the outside system: CallbackFailed: The outside system failed the callback without giving an error." });
      await env.close();
    });

    it('signs URLs for a third party, which work without credentials for their one purpose', async () => {
      const { env, call, waitingCallback } = await setup();
      const token = await waitingCallback('cb-3');
      const signed = await call('POST', `/callbacks/${token}/urls`, { expiresIn: '1h' });
      expect(signed).toMatchObject({ status: 200, body: { succeed: expect.stringMatching(/^http:\/\/127\.0\.0\.1:3000\/signed\/callbacks\//), expiresAt: expect.any(String) } });
      const path = (url: string) => url.slice('http://127.0.0.1:3000'.length);
      const { succeed, heartbeat } = signed.body as { succeed: string; heartbeat: string };
      expect(await call('POST', path(heartbeat))).toMatchObject({ status: 202, body: { outcome: 'recorded' } });
      expect(await call('POST', path(heartbeat).replace('/heartbeat?', '/succeed?'), { approved: true })).toMatchObject({ status: 403, body: { error: { code: 'SIGNATURE_MISMATCH' } } });
      expect(await call('POST', path(succeed), { approved: true })).toMatchObject({ status: 202, body: { outcome: 'recorded' } });
      expect(await call('POST', path(succeed), { approved: true })).toMatchObject({ status: 202, body: { outcome: 'duplicate' } });
      expect((await env.client.waitForCompletion('cb-3')).output).toEqual({ approved: true });
      expect(await call('POST', `/callbacks/${token}/urls`)).toMatchObject({ status: 404, body: { error: { code: 'CALLBACK_NOT_FOUND' } } });
      await env.close();
    });
  });
});
