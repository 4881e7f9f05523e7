import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createExampleApp } from '../functions/example-app.js';
import { createApp, silentLogger } from '../lib/index.js';
import { checkReplay, replayHistories, type RecordedHistory } from '../lib/replay-check.js';

const folder = fileURLToPath(new URL('./histories/', import.meta.url));
const golden = async (name: string) => JSON.parse(await readFile(`${folder}${name}.history.json`, 'utf8')) as RecordedHistory;

describe('replay checks', () => {
  it('every golden history of the example app still replays against the current code', async () => {
    const results = await replayHistories(createExampleApp({ logger: silentLogger }), folder);
    expect(results.length).toBeGreaterThanOrEqual(4);
    expect(results.filter((result) => !result.ok)).toEqual([]);
  });

  it('names the first diverging position and both calls when the code changed the order of its calls', async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('order', async (ctx) => {
      await ctx.callActivity('chargeCard');
      await ctx.callActivity('reserveStock');
    });
    const result = await checkReplay(app, await golden('order-shipped'));
    expect(result).toMatchObject({ ok: false, instanceId: 'order-shipped', orchestration: 'order@1' });
    expect(result.problem).toMatch(/at position 1 \(history event 3\): history recorded callActivity\('reserveStock'\), the code asked for callActivity\('chargeCard'\)/);
  });

  it('reports code that now returns before the calls history recorded', async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('order', async () => 'done early');
    const result = await checkReplay(app, await golden('order-shipped'));
    expect(result.problem).toContain("history recorded callActivity('reserveStock'), the code had already returned");
  });

  it('reports code that now makes a call after the point where history completed', async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('order', async (ctx) => {
      try {
        await ctx.callActivity('reserveStock');
      } catch {
        await ctx.callActivity('notifyCustomer');
      }
    });
    const result = await checkReplay(app, await golden('order-out-of-stock'));
    expect(result.problem).toMatch(/^History recorded ExecutionCompleted at event \d+, but the code asks for callActivity\('notifyCustomer'\) there instead\.$/);
  });

  it('reports code that now fails an instance in flight where the code that recorded its history was still running', async () => {
    // Two calls in flight; the first has completed with a result recorded by an older version, without `warehouse`.
    const events = [
      { type: 'StepStarted', eventId: 1, timestamp: 1 },
      { type: 'ExecutionStarted', name: 'pair', version: '1', input: null, eventId: 2, timestamp: 1 },
      { type: 'ActivityScheduled', taskId: 1, name: 'reserve', input: null, attempt: 1, idempotencyKey: 'p:0:1', eventId: 3, timestamp: 1 },
      { type: 'ActivityScheduled', taskId: 2, name: 'charge', input: null, attempt: 1, idempotencyKey: 'p:0:2', eventId: 4, timestamp: 1 },
      { type: 'StepStarted', eventId: 5, timestamp: 2 },
      { type: 'ActivityCompleted', taskId: 1, result: { reservationId: 'r-1' }, eventId: 6, timestamp: 2 },
    ] as RecordedHistory['events'];
    const app = createApp({ logger: silentLogger });
    app.orchestration('pair', async (ctx) => {
      const reserved = ctx.callActivity<{ warehouse: { id: string } }>('reserve');
      const charged = ctx.callActivity('charge');
      const warehouse = (await reserved).warehouse.id;
      return { warehouse, charged: await charged };
    });
    const result = await checkReplay(app, { instanceId: 'p', events });
    expect(result.problem).toMatch(/^History ends at event 6 with the instance still running, but the code now fails it there with TypeError: Cannot read properties of undefined \(reading 'id'\)\. The instance would fail at its next step/);
  });

  it('reports a version that is no longer registered', async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('order', async () => 'v2', { version: 2 });
    const result = await checkReplay(app, await golden('order-out-of-stock'));
    expect(result.problem).toContain("Orchestration 'order' has no version 1 registered (registered: 2)");
  });
});
