import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp, silentLogger, TestEnvironment } from '../../lib/index.js';
import { HttpApi } from '../../lib/api/http-api.js';
import { formatTraceparent } from '../../lib/runtime/tracing.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

/** The span tree under `root`, one line a span, children in the order they started. */
function render(spans: ReadableSpan[], root: ReadableSpan, depth = 0): string[] {
  const children = spans.filter((span) => span.parentSpanContext?.spanId === root.spanContext().spanId).sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
  return [`${'  '.repeat(depth)}${root.name}`, ...children.flatMap((child) => render(spans, child, depth + 1))];
}

function orderApp() {
  const app = createApp({ logger: silentLogger });
  app.activity('reserve', async (sku: string) => `R-${sku}`);
  app.activity('ship', async (reservation: string) => `T-${reservation}`, { inline: true });
  app.orchestration('order', async (ctx, sku: string) => {
    const reservation = await ctx.callActivity<string>('reserve', sku);
    const checked = await ctx.step('check', () => true);
    await ctx.sleep('1h');
    return { reservation, checked, tracking: await ctx.callActivity<string>('ship', reservation) };
  });
  return app;
}

describe('tracing', () => {
  it('one instance is one trace: the start, then its steps (replay, advance, commit), activity attempts and timer under it', async () => {
    const env = await TestEnvironment.create(orderApp());
    const id = await env.client.start('order', 'desk', { instanceId: 'order-1' });
    expect((await env.client.waitForCompletion(id)).status).toBe('Completed');
    await env.idle();
    await env.close();

    const spans = exporter.getFinishedSpans();
    const root = spans.find((span) => span.name === 'start order')!;
    const instance = spans.filter((span) => span.attributes['perdure.instance_id'] === 'order-1');
    expect(new Set(instance.map((span) => span.spanContext().traceId))).toEqual(new Set([root.spanContext().traceId]));
    expect(render(spans, root)).toEqual([
      'start order',
      '  step order',
      '    advance',
      '    commit',
      '  activity reserve',
      '  step order',
      '    advance',
      '    commit',
      '    ctx.step check',
      '    advance',
      '    commit',
      '  timer',
      '  step order',
      '    advance',
      '    commit',
      '    activity ship',
      '    advance',
      '    commit',
    ]);
    // Every span of the instance is in the tree: nothing started a trace of its own.
    expect(render(spans, root)).toHaveLength(instance.length);
  });

  it('links each step to the span that sent its message, and names the instance, orchestration, version, position and attempt', async () => {
    const env = await TestEnvironment.create(orderApp());
    await env.client.waitForCompletion(await env.client.start('order', 'desk', { instanceId: 'order-2' }));
    await env.idle();
    await env.close();

    const spans = exporter.getFinishedSpans();
    const reserve = spans.find((span) => span.name === 'activity reserve')!;
    expect(reserve.attributes).toMatchObject({ 'perdure.instance_id': 'order-2', 'perdure.activity': 'reserve', 'perdure.task_id': 1, 'perdure.attempt': 1, 'perdure.inline': false });
    const [first, second] = spans.filter((span) => span.name === 'step order').sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    expect(first!.attributes).toMatchObject({ 'perdure.instance_id': 'order-2', 'perdure.orchestration': 'order', 'perdure.version': '1', 'perdure.outcome': 'stepped' });
    // The activity was sent by the first step and its result woke the second.
    expect(reserve.links.map((link) => link.context.spanId)).toEqual([first!.spanContext().spanId]);
    expect(second!.links.map((link) => link.context.spanId)).toEqual([reserve.spanContext().spanId]);
    const timer = spans.find((span) => span.name === 'timer')!;
    expect(timer.attributes['perdure.task_id']).toBe(3);
  });

  it('an activity attempt that fails ends its span with the error, and each retry is a span with its attempt', async () => {
    const app = createApp({ logger: silentLogger });
    let calls = 0;
    app.activity('flaky', async () => {
      if (++calls < 3) throw new Error('not yet');
      return 'ok';
    }, { retry: { maxAttempts: 3, initialInterval: '1s' } });
    app.orchestration('retrying', async (ctx) => ctx.callActivity('flaky'));
    const env = await TestEnvironment.create(app);
    await env.client.waitForCompletion(await env.client.start('retrying'));
    await env.idle();
    await env.close();

    const attempts = exporter.getFinishedSpans().filter((span) => span.name === 'activity flaky');
    expect(attempts.map((span) => [span.attributes['perdure.attempt'], span.status.code])).toEqual([
      [1, 2],
      [2, 2],
      [3, 0],
    ]);
    expect(attempts[0]!.events.map((event) => event.name)).toEqual(['exception']);
  });

  it('a sub-orchestration joins its parent’s trace under the step that started it', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('work', async () => 1);
    app.orchestration('child', async (ctx) => ctx.callActivity('work'));
    app.orchestration('parent', async (ctx) => ctx.callSubOrchestration('child'));
    const env = await TestEnvironment.create(app);
    await env.client.waitForCompletion(await env.client.start('parent'));
    await env.idle();
    await env.close();

    const spans = exporter.getFinishedSpans();
    const root = spans.find((span) => span.name === 'start parent')!;
    expect(new Set(spans.map((span) => span.spanContext().traceId))).toEqual(new Set([root.spanContext().traceId]));
    const childSteps = spans.filter((span) => span.name === 'step child');
    const parentSteps = new Set(spans.filter((span) => span.name === 'step parent').map((span) => span.spanContext().spanId));
    expect(childSteps.length).toBeGreaterThan(0);
    for (const step of childSteps) expect(parentSteps.has(step.parentSpanContext!.spanId)).toBe(true);
  });

  it('an event raised by a client links the step it wakes to the caller’s span, which stays in the caller’s trace', async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('approval', async (ctx) => ctx.waitForEvent('approved'));
    const env = await TestEnvironment.create(app);
    const id = await env.client.start('approval');
    await env.idle();
    await env.client.raiseEvent(id, 'approved', true);
    await env.client.waitForCompletion(id);
    await env.idle();
    await env.close();

    const spans = exporter.getFinishedSpans();
    const raise = spans.find((span) => span.name === 'raiseEvent approved')!;
    const start = spans.find((span) => span.name === 'start approval')!;
    expect(raise.spanContext().traceId).not.toBe(start.spanContext().traceId);
    const woken = spans.find((span) => span.name === 'step approval' && span.links.some((link) => link.context.spanId === raise.spanContext().spanId))!;
    expect(woken.spanContext().traceId).toBe(start.spanContext().traceId);
  });

  it('the HTTP API makes a server span per request, named by its route and continuing the caller’s traceparent', async () => {
    const app = orderApp();
    const env = await TestEnvironment.create(app);
    const api = new HttpApi({ client: env.client });
    const caller = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
    const response = await api.handle({ method: 'POST', path: '/orchestrations/order', query: { instanceId: 'order-http' }, headers: { traceparent: formatTraceparent(caller), 'content-type': 'application/json' }, body: '"desk"' });
    expect(response.statusCode).toBe(202);
    await env.client.waitForCompletion('order-http');
    await env.idle();
    await env.close();

    const spans = exporter.getFinishedSpans();
    const server = spans.find((span) => span.name === 'POST /orchestrations/{name}')!;
    expect(server.spanContext().traceId).toBe(caller.traceId);
    expect(server.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(server.attributes).toMatchObject({ 'http.route': '/orchestrations/{name}', 'http.response.status_code': 202 });
    const start = spans.find((span) => span.name === 'start order')!;
    expect(start.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(spans.filter((span) => span.attributes['perdure.instance_id'] === 'order-http').every((span) => span.spanContext().traceId === caller.traceId)).toBe(true);
  });

  it('createApp({ tracing: false }) makes no spans and puts no headers in messages', async () => {
    const app = createApp({ logger: silentLogger, tracing: false });
    app.activity('work', async () => 1);
    app.orchestration('quiet', async (ctx) => ctx.callActivity('work'));
    const env = await TestEnvironment.create(app);
    const id = await env.client.start('quiet');
    await env.client.waitForCompletion(id);
    await env.idle();
    await env.close();
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect((await env.store.getInstance(id))!.headers).toBeUndefined();
  });
});
