import { describe, expect, it } from 'vitest';
import type { AwsRuntime } from '../../lib/aws/aws-runtime.js';
import { EmfMetrics } from '../../lib/aws/emf-metrics.js';
import { createLambdaHandlers } from '../../lib/aws/lambda-handlers.js';
import { createApp, MetricCounters, silentLogger, TestEnvironment } from '../../lib/index.js';
import { serveHttpApi } from '../../lib/local/http-server.js';
import { HttpApi } from '../../lib/api/http-api.js';

/** An order that retries its payment twice, sleeps, and ships; and an orchestration that is quarantined. */
function shopApp() {
  const app = createApp({ logger: silentLogger });
  let payments = 0;
  app.activity('charge', async () => {
    if (++payments < 3) throw new Error('card declined, try again');
    return 'paid';
  }, { retry: { maxAttempts: 3, initialInterval: '1s' } });
  app.activity('ship', async () => 'shipped', { inline: true });
  app.orchestration('order', async (ctx) => {
    await ctx.callActivity('charge');
    await ctx.sleep('1h');
    return ctx.callActivity('ship');
  });
  app.orchestration('broken', async () => {
    await fetch('http://example.invalid');
  });
  return app;
}

interface EmfLine {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

async function runShop(metrics: EmfMetrics | MetricCounters) {
  const env = await TestEnvironment.create(shopApp(), { metrics });
  await env.client.waitForCompletion(await env.client.start('order', undefined, { instanceId: 'order-1' }));
  await env.client.waitForCompletion(await env.client.start('broken', undefined, { instanceId: 'broken-1' }));
  await env.idle();
  await env.close();
}

describe('metrics', () => {
  it('count steps, commits, replays, attempts, failures, retries, timers and quarantines by orchestration and activity name', async () => {
    const counters = new MetricCounters();
    await runShop(counters);
    const { totals, series } = counters.snapshot();
    expect(totals).toMatchObject({ ActivityAttempts: 4, ActivityFailures: 2, ActivityRetries: 2, Quarantines: 1 });
    // Two retry timers and the sleep.
    expect(totals.TimersFired).toBe(3);
    expect(totals.Commits).toBeGreaterThanOrEqual(6);
    const count = (name: string, dimensions: Record<string, string>) => series.find((s) => s.name === name && JSON.stringify(s.dimensions) === JSON.stringify(dimensions))?.sum;
    expect(count('ActivityAttempts', { Activity: 'charge' })).toBe(3);
    expect(count('ActivityFailures', { Activity: 'charge' })).toBe(2);
    expect(count('ActivityAttempts', { Activity: 'ship' })).toBe(1);
    expect(count('Quarantines', { Orchestration: 'broken' })).toBe(1);
    expect(count('Steps', { Orchestration: 'order' })).toBeGreaterThanOrEqual(4);
    const latency = series.find((s) => s.name === 'StepLatency' && s.dimensions.Orchestration === 'order')!;
    expect(latency).toMatchObject({ unit: 'Milliseconds' });
    expect(latency.count).toBe(count('Steps', { Orchestration: 'order' }));
    // Dimensions name orchestrations, activities and queues only: never an instance.
    expect(new Set(series.flatMap((s) => Object.keys(s.dimensions)))).toEqual(new Set(['Orchestration', 'Activity']));
    expect(JSON.stringify(series)).not.toMatch(/order-1|broken-1/);
  });

  it('write CloudWatch embedded metric format lines: one per dimension set, counts summed, latencies as values, per name and for the whole app', async () => {
    const lines: string[] = [];
    const emf = new EmfMetrics({ common: { Table: 'orders-table' }, write: (line) => lines.push(line) });
    await runShop(emf);
    expect(lines).toEqual([]);
    emf.flush();
    const parsed = lines.map((line) => JSON.parse(line) as EmfLine);
    // Latencies vary from run to run; their number does not.
    const shape = parsed.map((line) => {
      const directive = line._aws.CloudWatchMetrics[0]!;
      const values = Object.fromEntries(directive.Metrics.map(({ Name, Unit }) => [Name, Unit === 'Count' ? line[Name] : `${Unit}×${Array.isArray(line[Name]) ? (line[Name] as number[]).length : 1}`]));
      const dimensions = Object.fromEntries(directive.Dimensions[0]!.map((key) => [key, line[key]]));
      return { namespace: directive.Namespace, dimensionSets: directive.Dimensions, dimensions, values };
    });
    expect(shape).toEqual([
      {
        namespace: 'Perdure',
        dimensionSets: [['Table', 'Orchestration'], ['Table']],
        dimensions: { Table: 'orders-table', Orchestration: 'order' },
        // Seven deliveries: the start, two failures, two retry timers, the payment, the sleep's timer; the last commits twice (ship runs inline).
        values: { Commits: 8, Steps: 7, StepLatency: 'Milliseconds×7' },
      },
      {
        namespace: 'Perdure',
        dimensionSets: [['Table', 'Activity'], ['Table']],
        dimensions: { Table: 'orders-table', Activity: 'charge' },
        values: { ActivityAttempts: 3, ActivityLatency: 'Milliseconds×3', ActivityRetries: 2, ActivityFailures: 2 },
      },
      { namespace: 'Perdure', dimensionSets: [['Table']], dimensions: { Table: 'orders-table' }, values: { TimersFired: 3, TimerDelay: 'Milliseconds×3' } },
      {
        namespace: 'Perdure',
        dimensionSets: [['Table', 'Activity'], ['Table']],
        dimensions: { Table: 'orders-table', Activity: 'ship' },
        values: { ActivityAttempts: 1, ActivityLatency: 'Milliseconds×1' },
      },
      {
        namespace: 'Perdure',
        dimensionSets: [['Table', 'Orchestration'], ['Table']],
        dimensions: { Table: 'orders-table', Orchestration: 'broken' },
        values: { Quarantines: 1, Steps: 1, StepLatency: 'Milliseconds×1' },
      },
    ]);
    for (const line of parsed) expect(line._aws.Timestamp).toBeGreaterThan(Date.parse('2026-01-01'));
    // A second flush writes nothing new: each invocation writes its own.
    lines.length = 0;
    emf.flush();
    expect(lines).toEqual([]);
  });

  it('an EMF line holds at most 100 values of a metric: the sink writes the line when a list is full', () => {
    const lines: string[] = [];
    const emf = new EmfMetrics({ common: { Table: 't' }, write: (line) => lines.push(line) });
    for (let i = 0; i < 250; i++) emf.put('StepLatency', i, 'Milliseconds', { Orchestration: 'order' });
    emf.flush();
    const values = lines.map((line) => (JSON.parse(line) as { StepLatency: number[] }).StepLatency);
    expect(values.map((list) => list.length)).toEqual([100, 100, 50]);
    expect(values.flat()).toEqual([...Array(250).keys()]);
  });

  it('each Lambda queue handler writes its invocation’s metrics when it ends, a failed one too', async () => {
    const lines: string[] = [];
    const metrics = new EmfMetrics({ common: { Table: 't' }, write: (line) => lines.push(line) });
    const handled = async () => {
      metrics.put('Steps', 1, 'Count', { Orchestration: 'order' });
      return { batchItemFailures: [] };
    };
    const runtime = {
      metrics,
      handlers: {
        doorbells: handled,
        activities: async () => {
          metrics.put('ActivityAttempts', 1, 'Count', { Activity: 'charge' });
          throw new Error('the table is unreachable');
        },
      },
    } as unknown as AwsRuntime;
    const handlers = createLambdaHandlers(shopApp(), () => runtime);
    await handlers.orchestrator({ Records: [] });
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([expect.objectContaining({ Orchestration: 'order', Steps: 1, Table: 't' })]);
    await expect(handlers.activity({ Records: [] })).rejects.toThrow('the table is unreachable');
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)[1]).toMatchObject({ Activity: 'charge', ActivityAttempts: 1 });
  });

  it('GET /metrics answers the counters over HTTP; a runtime without counters answers 404 with where to look', async () => {
    const counters = new MetricCounters();
    await runShop(counters);
    const env = await TestEnvironment.create(shopApp());
    const withCounters = await serveHttpApi(new HttpApi({ client: env.client, metrics: () => counters.snapshot() }), 0);
    const without = await serveHttpApi(new HttpApi({ client: env.client }), 0);
    try {
      const response = await fetch(`${withCounters.url}/metrics`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as ReturnType<MetricCounters['snapshot']>;
      expect(body.totals).toMatchObject({ ActivityAttempts: 4, Quarantines: 1 });
      expect(body.series.find((s) => s.name === 'ActivityFailures')).toMatchObject({ dimensions: { Activity: 'charge' }, count: 2, sum: 2 });
      expect(Date.parse(body.since)).toBeLessThanOrEqual(Date.now());
      const missing = await fetch(`${without.url}/metrics`);
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/on AWS the metrics are in CloudWatch \(namespace Perdure\)/);
    } finally {
      await withCounters.close();
      await without.close();
      await env.close();
    }
  });
});
