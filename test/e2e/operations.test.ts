import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, createApp, silentLogger, type HistoryEvent, type InstanceStatus } from '../../lib/index.js';
import { serveHttpApi } from '../../lib/local/http-server.js';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.js';
import { HttpApi } from '../../lib/api/http-api.js';

/**
 * The operations on instances end to end: the local stack (DynamoDB Local, SQS and S3 on 127.0.0.1, the
 * pollers standing in for Lambda), driven through the HTTP API as an operator would.
 */

/** An app whose activities the test holds and releases, and whose failures it can fix. */
function operationsApp() {
  const app = createApp({ logger: silentLogger });
  const cleanedUp: string[] = [];
  const started = new Set<string>();
  const release = new Map<string, () => void>();
  const service = { down: new Set<string>() };
  app.activity('slowWork', async (key: string) => {
    started.add(key);
    // Held until the test lets it go (bounded, so a failed test does not leave it hanging).
    await new Promise<void>((resolve) => {
      release.set(key, resolve);
      setTimeout(resolve, 10_000);
    });
    return `${key} done`;
  });
  app.activity('cleanUp', async (what: string) => void cleanedUp.push(what));
  app.activity('callService', async (what: string) => {
    if (service.down.has(what)) throw new Error(`service unavailable for ${what}`);
    return `${what} ok`;
  });
  const cleanUpOnCancel = async <T>(ctx: Parameters<Parameters<typeof app.orchestration>[1]>[0], what: string, work: () => Promise<T>) => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof CancelledError) await ctx.nonCancellable(() => ctx.callActivity('cleanUp', what));
      throw error;
    }
  };
  app.orchestration('waiter', async (ctx, what: string) => cleanUpOnCancel(ctx, what, () => ctx.waitForEvent('never')));
  app.orchestration('busy', async (ctx, key: string) => {
    ctx.setStatus({ stage: 'working', key });
    return cleanUpOnCancel(ctx, key, () => Promise.all([ctx.callActivity('slowWork', key), ctx.callSubOrchestration('waiter', `${ctx.instanceId}-child`, { instanceId: `${ctx.instanceId}-child` })]));
  });
  app.orchestration('fragile', async (ctx, what: string) => ctx.callActivity<string>('callService', what));
  app.orchestration('fragileParent', async (ctx, what: string) => {
    const first = await ctx.callActivity<string>('callService', `${what} first`);
    const child = await ctx.callSubOrchestration<string>('fragile', `${what} child`, { instanceId: `${ctx.instanceId}-child` });
    return [first, child];
  });
  return { app, cleanedUp, started, release, service };
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting; last value: ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('operations over HTTP on the embedded local stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-ops-'));
  const { app, cleanedUp, started, release, service } = operationsApp();
  let stack: LocalStack;
  let http: Awaited<ReturnType<typeof serveHttpApi>>;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${http.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const statusOf = async (id: string) => (await call('GET', `/instances/${id}`)).body as InstanceStatus;
  const settled = (id: string, status: string) => waitFor(() => statusOf(id), (s) => s.status === status);
  const history = async (id: string) => (await call('GET', `/instances/${id}/history`)).body.events as HistoryEvent[];

  beforeAll(async () => {
    stack = await startLocalStack(app, { dataDir, logger: silentLogger });
    http = await serveHttpApi(new HttpApi({ client: stack.runtime.client, deadLetters: stack.runtime.deadLetters }), 0);
  }, 60_000);
  afterAll(async () => {
    for (const resolve of release.values()) resolve();
    await http?.close();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('publishes the custom status through GET /instances/{id} and the list', async () => {
    expect((await call('POST', '/orchestrations/busy?instanceId=status-1', 'status-1')).status).toBe(202);
    const status = await waitFor(() => statusOf('status-1'), (s) => s.customStatus !== undefined);
    expect(status).toMatchObject({ status: 'Running', customStatus: { stage: 'working', key: 'status-1' } });
    expect(status.cancelRequested).toBeUndefined();
    const listed = (await call('GET', '/instances?status=Running&name=busy')).body.instances as InstanceStatus[];
    expect(listed.find((i) => i.instanceId === 'status-1')?.customStatus).toEqual({ stage: 'working', key: 'status-1' });
  });

  it('cancels over HTTP an instance with an activity in flight and a child waiting: both end Cancelled, each after its cleanup', async () => {
    expect((await call('POST', '/orchestrations/busy?instanceId=cancel-1', 'cancel-1')).status).toBe(202);
    await waitFor(async () => started.has('cancel-1') && (await statusOf('cancel-1-child')).status === 'Running', (ready) => ready);
    const cancelled = await call('POST', '/instances/cancel-1/cancel', { reason: 'order withdrawn' });
    expect(cancelled).toMatchObject({ status: 202, body: { instanceId: 'cancel-1' } });

    const parent = await settled('cancel-1', 'Cancelled');
    expect(parent).toMatchObject({ error: { name: 'CancelledError', message: "Instance 'cancel-1' was cancelled: order withdrawn" }, cancelRequested: { reason: 'order withdrawn' } });
    const child = await settled('cancel-1-child', 'Cancelled');
    expect(child.error?.message).toBe("Instance 'cancel-1-child' was cancelled: its parent 'cancel-1' was cancelled");
    expect(cleanedUp.sort()).toEqual(['cancel-1', 'cancel-1-child']);
    release.get('cancel-1')!(); // the activity was still running: its result now reaches an ended instance
    const events = await history('cancel-1');
    expect(events.filter((e) => e.type === 'ExecutionCancelRequested')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'ExecutionCancelled', reason: 'order withdrawn' });
    expect(await call('POST', '/instances/cancel-1/cancel')).toMatchObject({ status: 409, body: { error: { code: 'INVALID_STATE' } } });
  });

  it('rewinds a failed instance over HTTP once the fault is fixed: its failed child is rewound in turn, and it completes', async () => {
    service.down.add('stock child');
    expect((await call('POST', '/orchestrations/fragileParent?instanceId=rewind-1', 'stock')).status).toBe(202);
    const failed = await settled('rewind-1', 'Failed');
    expect(failed.error).toMatchObject({ name: 'SubOrchestrationFailedError' });
    expect((await statusOf('rewind-1-child')).status).toBe('Failed');

    service.down.delete('stock child'); // the fix is deployed
    expect(await call('POST', '/instances/rewind-1/rewind')).toMatchObject({ status: 202, body: { instanceId: 'rewind-1', status: 'Running' } });
    const done = await settled('rewind-1', 'Completed');
    expect(done.output).toEqual(['stock first ok', 'stock child ok']);
    expect(done.error).toBeUndefined();
    expect(await statusOf('rewind-1-child')).toMatchObject({ status: 'Completed', output: 'stock child ok' });
    // History keeps the failure, marked rewound; the call that had succeeded did not run again.
    const events = await history('rewind-1');
    const rewound = events.find((e): e is Extract<HistoryEvent, { type: 'ExecutionRewound' }> => e.type === 'ExecutionRewound')!;
    expect(rewound.rewound.map((id) => events.find((e) => e.eventId === id)!.type).sort()).toEqual(['ExecutionFailed', 'SubOrchestrationFailed']);
    expect(events.filter((e) => e.type === 'ActivityCompleted')).toHaveLength(1);
    expect(await call('POST', '/instances/rewind-1/rewind')).toMatchObject({ status: 409, body: { error: { code: 'INVALID_STATE' } } });
  });

  it('restarts a failed and a cancelled instance over HTTP as new instances with the same input; the old ones keep their history', async () => {
    service.down.add('pay');
    expect((await call('POST', '/orchestrations/fragile?instanceId=restart-1', 'pay')).status).toBe(202);
    await settled('restart-1', 'Failed');
    service.down.delete('pay');
    const restarted = await call('POST', '/instances/restart-1/restart');
    expect(restarted).toMatchObject({ status: 202, body: { instanceId: expect.stringMatching(/^restart-1\.r[0-9a-z]+$/) } });
    expect(await settled(restarted.body.instanceId as string, 'Completed')).toMatchObject({ name: 'fragile', input: 'pay', output: 'pay ok' });
    expect(await statusOf('restart-1')).toMatchObject({ status: 'Failed', input: 'pay' });

    const again = await call('POST', '/instances/cancel-1/restart', { instanceId: 'cancel-1-again', version: '1' });
    expect(again).toMatchObject({ status: 202, body: { instanceId: 'cancel-1-again' } });
    expect(await waitFor(() => statusOf('cancel-1-again'), (s) => s.status === 'Running')).toMatchObject({ name: 'busy', input: 'cancel-1' });
    expect(await call('POST', '/instances/cancel-1/restart', { instanceId: 'cancel-1-again' })).toMatchObject({ status: 409, body: { error: { code: 'INSTANCE_EXISTS' } } });
    expect((await call('POST', '/instances/cancel-1-again/cancel')).status).toBe(202);
    await settled('cancel-1-again', 'Cancelled');
  });
});
