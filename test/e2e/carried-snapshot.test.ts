import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RequestCounter } from '../../bench/request-counter.js';
import { createApp, silentLogger } from '../../lib/index.js';
import { startLocalStack } from '../../lib/local/local-stack.js';

/**
 * The reads a carried snapshot saves (architecture decision 41), counted on the local stack: the step a result
 * or a timer starts begins from the record its task or timer carried, whether its executor cache is cold (the
 * first task after the start, the orchestrator's first step) or holds an executor that other workers' steps
 * left behind (a task sent by the orchestrator after a timer).
 */
describe('tasks and timers carry the record the step they start begins from', () => {
  it('reads nothing: every step starts from a carried record or a warm executor', async () => {
    // The events each replay phase replays, in order.
    const replays: number[] = [];
    const app = createApp({ logger: silentLogger, interceptors: [{ phase: (phase, next) => (phase.name === 'replay' && replays.push(phase.events), next()) }] });
    app.activity('add', async (n: number) => n + 1, { timeout: '5s' });
    app.orchestration('flow', async (ctx, n: number) => {
      const first = await ctx.callActivity<number>('add', n);
      await ctx.sleep('100ms');
      return ctx.callActivity<number>('add', first * 10);
    });
    const dataDir = mkdtempSync(join(tmpdir(), 'perdure-snapshot-'));
    const stack = await startLocalStack(app, { dataDir, logger: silentLogger, maxTimerHopSeconds: 1 });
    try {
      const counter = new RequestCounter();
      counter.attach('DynamoDB', stack.runtime.clients.dynamodb);
      const id = await stack.runtime.client.start('flow', 1);
      const status = await stack.runtime.client.waitForCompletion(id, { timeout: '30s' });
      expect(status).toMatchObject({ status: 'Completed', output: 21 });
      counter.counts.delete('DynamoDB.GetItem'); // the waits above
      // The start and its first step; the first result's step (a cold executor, from the task's snapshot); the
      // timer's step (the orchestrator's cold executor, from the timer's); the last result's step (a warm executor
      // left behind by the timer's step, from the task's).
      expect(Object.fromEntries(counter.counts)).toEqual({ 'DynamoDB.PutItem': 1, 'DynamoDB.UpdateItem': 3 });
      // The activity function's executor, left behind by the timer's step, replays only the events it missed
      // (the timer's step: StepStarted, TimerFired, ActivityScheduled), not the instance's whole history.
      const history = await stack.runtime.client.getHistory(id);
      const timerStep = history.filter((event) => event.type === 'TimerFired');
      expect(timerStep).toHaveLength(1);
      expect(replays.at(-1)).toBe(3);
      expect(replays.every((events) => events < history.length - 3)).toBe(true);
    } finally {
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a fan-out\'s first result starts from the record its task carried; the second finds the executor warm', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('double', async (n: number) => n * 2, { timeout: '5s' });
    app.orchestration('fan', async (ctx, n: number) => {
      const parts = await Promise.all([ctx.callActivity<number>('double', n), ctx.callActivity<number>('double', n + 1)]);
      return parts[0] + parts[1];
    });
    const dataDir = mkdtempSync(join(tmpdir(), 'perdure-snapshot-'));
    const stack = await startLocalStack(app, { dataDir, logger: silentLogger });
    try {
      const counter = new RequestCounter();
      counter.attach('DynamoDB', stack.runtime.clients.dynamodb);
      const id = await stack.runtime.client.start('fan', 1);
      expect(await stack.runtime.client.waitForCompletion(id, { timeout: '30s' })).toMatchObject({ status: 'Completed', output: 6 });
      counter.counts.delete('DynamoDB.GetItem'); // the waits above
      // The eager start writes the record; each result's step appends (the results ride doorbells to the orchestrator).
      expect(counter.counts.get('DynamoDB.Query') ?? 0).toBe(0);
      expect(counter.counts.get('DynamoDB.PutItem')).toBe(1);
    } finally {
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
