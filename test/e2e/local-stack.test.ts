import { GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExampleApp } from '../../functions/example-app.js';
import { createJsonLogger, silentLogger, type ActivityFailedError } from '../../lib/index.js';
import { FaultInjector, SimulatedCrash } from '../../lib/faults.js';
import { addClientMiddleware, removeClientMiddleware } from '../../lib/aws/client-middleware.js';
import type { CrashPoint } from '../../lib/runtime/crash-points.js';

/** Crashes the chosen instances' invocations at one crash point whenever `ran` says their code ran since; injects nothing else. */
class CrashesOf extends FaultInjector {
  private lastRuns = -1;
  constructor(
    private readonly point: CrashPoint,
    private readonly chosen: (instanceId: string) => boolean,
    private readonly ran: () => number,
  ) {
    super(0);
  }
  override readonly crashHook = (point: CrashPoint, instanceId: string) => {
    if (point !== this.point || !this.chosen(instanceId) || this.ran() === this.lastRuns) return;
    this.lastRuns = this.ran();
    throw new SimulatedCrash(point);
  };
}
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.js';
import { HttpApi } from '../../lib/api/http-api.js';
import { serveHttpApi } from '../../lib/local/http-server.js';
import { VirtualClock } from '../../lib/memory/virtual-clock.js';
import type { HistoryEvent } from '../../lib/index.js';

const DAY = 86_400_000;

/** The example app plus a few orchestrations that exercise the AWS runtime's edges. */
function testApp() {
  const app = createExampleApp({ logger: silentLogger });
  const runs = new Map<string, number>();
  app.activity('count', async (key: string) => {
    runs.set(key, (runs.get(key) ?? 0) + 1);
    return runs.get(key);
  });
  app.activity('echoSize', async (payload: { data: string }) => ({ size: payload.data.length, echo: 'R'.repeat(1024 * 1024) }));
  // Would run far past the function timeout: its attempt is cut at the invocation's deadline.
  app.activity('hang', async () => new Promise(() => {}), { timeout: '60s' });
  // Kills its invocation every time it runs (a crash hook below), as a task that runs the process out of memory would.
  app.activity('explode', async () => {
    runs.set('explode', (runs.get('explode') ?? 0) + 1);
    return 'never recorded';
  });
  app.orchestration('exploding', async (ctx) => ctx.callActivity('explode').catch((error: ActivityFailedError) => error.failure.name));
  // Reports its progress with heartbeats; its first attempt fails after two rows, and its retry resumes from there.
  app.activity(
    'resumable',
    async (rows: number, actx) => {
      const resumedFrom = (actx.heartbeatDetails as number | undefined) ?? 0;
      for (let done = resumedFrom; done < rows; done++) {
        if (actx.attempt === 1 && done === 2) throw new Error('connection reset');
        await actx.heartbeat(done + 1);
      }
      return { resumedFrom, attempt: actx.attempt };
    },
    { heartbeatTimeout: '1s', retry: { maxAttempts: 2, initialInterval: '1s' } },
  );
  app.orchestration('resuming', async (ctx, rows: number) => ctx.callActivity('resumable', rows));
  app.orchestration('big', async (ctx, input: { data: string }) => {
    const result = await ctx.callActivity<{ size: number; echo: string }>('echoSize', input);
    return { inputSize: input.data.length, seen: result.size, echoSize: result.echo.length };
  });
  app.orchestration('nap', async (ctx, days: number) => {
    const before = ctx.now().getTime();
    await ctx.sleep(`${days}d`);
    return ctx.now().getTime() - before;
  });
  app.orchestration('poison', async (ctx) => {
    try {
      await ctx.callActivity('hang');
      return 'finished';
    } catch (error) {
      return (error as ActivityFailedError).failure.name;
    }
  });
  app.orchestration('counted', async (ctx, key: string) => {
    const first = await ctx.callActivity<number>('count', key);
    await ctx.sleep('2s');
    return first;
  });
  return { app, runs };
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('AWS runtime on the embedded local stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-e2e-'));
  const clock = new VirtualClock();
  const { app, runs } = testApp();
  let stack: LocalStack;
  // A handler may run 2 s; one that dies is received again 4 s after it was and counted as a crash; two crashes are poison.
  const faults = new CrashesOf('activity:before-record', (instanceId) => instanceId.startsWith('exploding-'), () => runs.get('explode') ?? 0);
  const start = () => startLocalStack(app, { dataDir, clock, faults, visibilityTimeout: 4, functionTimeout: 2, poisonAfterCrashes: 2, maxTimerHopSeconds: 1, logger: process.env.DBG ? createJsonLogger() : silentLogger });

  beforeAll(async () => {
    stack = await start();
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the example saga to completion through the HTTP API: approval event, fan-out, offloaded invoice, a day of sleep, shipping', async () => {
    const http = await serveHttpApi(new HttpApi({ client: stack.runtime.client, deadLetters: stack.runtime.deadLetters }), 0);
    try {
      const call = async (method: string, path: string, body?: unknown) => {
        const response = await fetch(`${http.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: response.status, body: (await response.json()) as Record<string, any> };
      };
      const order = { orderId: 'o-9', customer: 'grace', amount: 2_500, items: [{ sku: 'desk', quantity: 1 }, { sku: 'chair', quantity: 4 }] };
      const started = await call('POST', '/orchestrations/order?instanceId=order-o-9', order);
      expect(started).toMatchObject({ status: 202, body: { instanceId: 'order-o-9' } });
      const history = async () => ((await call('GET', '/instances/order-o-9/history')).body.events as HistoryEvent[]) ?? [];
      await waitFor(history, (events) => events.some((e) => e.type === 'ActivityCompleted'));
      expect((await call('POST', '/instances/order-o-9/events/approval', { approved: true })).status).toBe(202);
      await waitFor(history, (events) => events.some((e) => e.type === 'TimerCreated' && e.purpose === 'sleep'));
      clock.advance(DAY);
      const status = await waitFor(() => call('GET', '/instances/order-o-9'), (response) => response.body.status === 'Completed');
      expect(status.body).toMatchObject({ status: 'Completed', output: { orderId: 'o-9', status: 'shipped', trackingNumber: 'TRK-o-9', invoiceBytes: 300_000 } });
    } finally {
      await http.close();
    }
    // The 300 KB invoice lives in S3, and no table item comes near the 400 KB limit.
    const objects = await stack.runtime.clients.s3.send(new ListObjectsV2Command({ Bucket: stack.config.bucketName, Prefix: 'payloads/order-o-9/' }));
    expect(objects.Contents?.length).toBeGreaterThanOrEqual(1);
    const items = await stack.runtime.clients.dynamodb.send(new QueryCommand({ TableName: stack.config.tableName, KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': { S: 'I#order-o-9' } } }));
    for (const item of items.Items ?? []) expect(JSON.stringify(item).length).toBeLessThan(100_000);
    // The same counters CloudWatch gets on AWS: queue ages from SQS's SentTimestamp, by queue; the invoice's offload.
    const { totals, series } = stack.metrics.snapshot();
    expect(totals).toMatchObject({ PayloadOffloads: expect.any(Number), Steps: expect.any(Number), ActivityAttempts: expect.any(Number) });
    expect(new Set(series.filter((s) => s.name === 'QueueAge').map((s) => s.dimensions.Queue))).toEqual(new Set(['orchestrator', 'activities']));
    expect(series.find((s) => s.name === 'Steps' && s.dimensions.Orchestration === 'order')!.sum).toBeGreaterThanOrEqual(5);
    expect(series.find((s) => s.name === 'PayloadOffloadBytes')!.max).toBeGreaterThanOrEqual(300_000);
  });

  it.skipIf(process.platform === 'win32')('keeps the table and the payloads in folders only their user may open', () => {
    for (const folder of ['dynamodb', 's3']) expect(statSync(join(dataDir, folder)).mode & 0o077).toBe(0);
  });

  it('sends its DynamoDB and SQS requests to the emulators without SigV4 (they check none); S3 requests stay signed', async () => {
    const authorizations = new Map<string, string>();
    for (const [service, client] of Object.entries(stack.runtime.clients)) {
      addClientMiddleware(
        client,
        (next: (args: { request: { headers: Record<string, string> } }) => Promise<unknown>) => async (args: { request: { headers: Record<string, string> } }) => {
          authorizations.set(service, args.request.headers.authorization ?? '');
          return next(args);
        },
        { step: 'finalizeRequest', priority: 'low', name: `seeAuthorization-${service}` },
      );
    }
    const id = await stack.runtime.client.start('nap', 0);
    await stack.runtime.codec.store(randomBytes(300_000).toString('base64'), id); // does not compress: goes to S3
    expect(authorizations.get('dynamodb')).toBe(`AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`);
    expect(authorizations.get('sqs')).toMatch(/^AWS4-HMAC-SHA256 Credential=local\/20000101\/us-east-1\/sqs\/aws4_request, SignedHeaders=host, Signature=0{64}$/);
    expect(authorizations.get('s3')).toMatch(/^AWS4-HMAC-SHA256 Credential=local\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/);
    expect(authorizations.get('s3')).not.toMatch(/Signature=0{64}/);
  });

  it('round-trips a 5 MB input and a 1 MB activity result through S3, intact', async () => {
    const client = stack.runtime.client;
    const data = Array.from({ length: 5 * 1024 * 1024 / 32 }, (_, i) => i.toString(36).padStart(32, '-')).join('');
    const id = await client.start('big', { data });
    const status = await client.waitForCompletion(id, { timeout: '30s' });
    expect(status.output).toEqual({ inputSize: data.length, seen: data.length, echoSize: 1024 * 1024 });
    expect((status.input as { data: string }).data).toBe(data);
  });

  it('fires a 30-day sleep through 1-second timer hops when the clock moves on', async () => {
    const client = stack.runtime.client;
    const id = await client.start('nap', 30);
    await waitFor(() => client.getHistory(id), (history) => history.some((e) => e.type === 'TimerCreated'));
    clock.advance(30 * DAY);
    const status = await client.waitForCompletion(id, { timeout: '20s' });
    expect(status.status).toBe('Completed');
    expect(status.output).toBeGreaterThanOrEqual(30 * DAY);
  });

  it('cuts an activity attempt at its invocation\'s deadline: a TimeoutError the orchestration catches, not a killed invocation', async () => {
    const client = stack.runtime.client;
    const id = await client.start('poison');
    expect(await client.waitForCompletion(id, { timeout: '30s' })).toMatchObject({ status: 'Completed', output: 'TimeoutError' });
    const failed = (await client.getHistory(id)).find((e): e is Extract<HistoryEvent, { type: 'ActivityFailed' }> => e.type === 'ActivityFailed');
    expect(failed?.error.message).toMatch(/^Activity 'hang' ran longer than its timeout of /);
  });

  it('turns an activity whose runs keep killing their invocation into a PoisonMessageError the orchestration catches', async () => {
    const client = stack.runtime.client;
    const id = await client.start('exploding', undefined, { instanceId: 'exploding-1' });
    expect(await client.waitForCompletion(id, { timeout: '45s' })).toMatchObject({ status: 'Completed', output: 'PoisonMessageError' });
    const failed = (await client.getHistory(id)).find((e): e is Extract<HistoryEvent, { type: 'ActivityFailed' }> => e.type === 'ActivityFailed');
    expect(failed?.error.message).toMatch(/^Activity 'explode' \(attempt 1\) crashed its invocation 2 times/);
    // The poison task is kept with the dead letters for operators, over the HTTP API.
    const api = new HttpApi({ client, deadLetters: stack.runtime.deadLetters });
    const listed = await api.handle({ method: 'GET', path: '/dlq/activities', query: {}, headers: {} });
    const { deadLetters } = JSON.parse(listed.body) as { deadLetters: { instanceId: string; outcome: string; message: { name: string } }[] };
    expect(deadLetters.find((letter) => letter.instanceId === id)).toMatchObject({ outcome: expect.stringMatching(/^call failed with PoisonMessageError/), message: { name: 'explode' } });
    const missing = await api.handle({ method: 'POST', path: '/dlq/activities/redrive', query: {}, headers: {}, body: '{"messageId":"nope"}' });
    expect(missing.statusCode).toBe(404);
  }, 60_000);

  it("resumes an activity's retry from its heartbeat details (DynamoDB), each attempt extending its task's visibility (SQS)", async () => {
    const { runtime } = stack;
    const extended: (string | undefined)[] = [];
    addClientMiddleware(
      runtime.clients.sqs,
      (next: (args: { input: object }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: object }) => {
        const result = await next(args);
        if (context.commandName === 'ChangeMessageVisibilityCommand') extended.push((args.input as { QueueUrl?: string }).QueueUrl);
        return result;
      },
      { step: 'initialize', name: 'recordExtensions' },
    );
    try {
      const id = await runtime.client.start('resuming', 4);
      expect(await runtime.client.waitForCompletion(id, { timeout: '30s' })).toMatchObject({ status: 'Completed', output: { resumedFrom: 2, attempt: 2 } });
    } finally {
      removeClientMiddleware(runtime.clients.sqs, 'recordExtensions');
    }
    expect(extended).toEqual([stack.config.queues.activities, stack.config.queues.activities]);
  });

  it('records a result once when the same activity task is delivered twice', async () => {
    const { runtime } = stack;
    const id = await runtime.client.start('counted', 'dup');
    await waitFor(() => runtime.client.getHistory(id), (history) => history.some((e) => e.type === 'TimerCreated'));
    const scheduled = (await runtime.client.getHistory(id)).find((e): e is Extract<HistoryEvent, { type: 'ActivityScheduled' }> => e.type === 'ActivityScheduled')!;
    // Deliver the same task again, as SQS may.
    await runtime.queues.enqueueActivities([{ instanceId: id, generation: 0, taskId: scheduled.taskId, name: 'count', input: 'dup', attempt: 1, idempotencyKey: scheduled.idempotencyKey }]);
    await waitFor(async () => runs.get('dup'), (count) => count === 2);
    clock.advance(5_000);
    const status = await runtime.client.waitForCompletion(id, { timeout: '20s' });
    expect(status.output).toBe(1);
    expect((await runtime.client.getHistory(id)).filter((e) => e.type === 'ActivityCompleted')).toHaveLength(1);
    const meta = await runtime.clients.dynamodb.send(new GetItemCommand({ TableName: stack.config.tableName, Key: { PK: { S: `I#${id}` }, SK: { S: 'META' } } }));
    expect(meta.Item?.ttl?.N).toBeDefined();
  });

  it('quarantines an instance whose steps crash every time, while other instances keep running', async () => {
    const { runtime } = stack;
    const store = runtime.store;
    const commit = store.commitStep.bind(store);
    // Every step of this one instance dies, as a step that crashes its worker would (its eager start, in the
    // API's request, does not: a start that crashed would fail the caller's request and create nothing).
    store.commitStep = async (instanceId, step) => {
      if (instanceId === 'always-crashes' && !step.creates) throw new SimulatedCrash('step:before-commit');
      return commit(instanceId, step);
    };
    try {
      const doomed = await runtime.client.start('counted', 'doomed', { instanceId: 'always-crashes' });
      const healthy = await runtime.client.start('big', { data: 'small' });
      expect((await runtime.client.waitForCompletion(healthy, { timeout: '20s' })).status).toBe('Completed');
      const status = await runtime.client.waitForCompletion(doomed, { timeout: '45s' });
      expect(status.status).toBe('Quarantined');
      expect(status.error?.name).toBe('PoisonMessageError');
      expect(status.error?.message).toContain("The step of instance 'always-crashes' after history event 3 crashed its invocation 2 times in a row");
    } finally {
      store.commitStep = commit;
    }
    // After the fix, redriving its dead letter resumes it from where it stopped.
    const { deadLetters } = await runtime.deadLetters.list('orchestrations');
    const letter = deadLetters.find((entry) => entry.instanceId === 'always-crashes')!;
    expect(letter.outcome).toMatch(/^instance quarantined/);
    expect(await runtime.deadLetters.redrive('orchestrations', letter.messageId)).toEqual({ redriven: [letter.messageId], notFound: [] });
    await waitFor(() => runtime.client.getHistory('always-crashes'), (history) => history.some((e) => e.type === 'TimerCreated'));
    clock.advance(5_000);
    expect((await runtime.client.waitForCompletion('always-crashes', { timeout: '20s' })).status).toBe('Completed');
  }, 60_000);

  it('recovers a step whose worker died between commit and dispatch, with no lost or doubled step', async () => {
    const { runtime } = stack;
    const queues = runtime.queues;
    const enqueue = queues.enqueueActivities.bind(queues);
    let crashes = 0;
    // Fault injection: the first dispatch after the commit dies, as a worker killed at that point would.
    queues.enqueueActivities = async (tasks) => {
      if (tasks.some((task) => task.instanceId === 'crash-after-commit') && crashes === 0) {
        crashes++;
        throw new Error('injected crash after commit');
      }
      return enqueue(tasks);
    };
    try {
      const id = await runtime.client.start('counted', 'after-commit', { instanceId: 'crash-after-commit' });
      await waitFor(() => runtime.client.getHistory(id), (history) => history.some((e) => e.type === 'TimerCreated'), 20_000);
      clock.advance(5_000);
      const status = await runtime.client.waitForCompletion(id, { timeout: '20s' });
      expect(status).toMatchObject({ status: 'Completed', output: 1 });
      expect(crashes).toBe(1);
      expect(runs.get('after-commit')).toBe(1);
      expect((await runtime.client.getHistory(id)).filter((e) => e.type === 'ActivityScheduled')).toHaveLength(1);
    } finally {
      queues.enqueueActivities = enqueue;
    }
  });

  it('loses nothing when the local stack restarts mid-orchestration', async () => {
    let client = stack.runtime.client;
    const id = await client.start('nap', 1);
    await waitFor(() => client.getHistory(id), (history) => history.some((e) => e.type === 'TimerCreated'));
    await stack.stop();
    stack = await start();
    client = stack.runtime.client;
    clock.advance(DAY);
    const status = await client.waitForCompletion(id, { timeout: '20s' });
    expect(status.status).toBe('Completed');
  });
});
