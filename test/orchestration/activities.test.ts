import { describe, expect, it } from 'vitest';
import { ActivityFailedError, NonRetryableError, type HistoryEvent } from '../../lib/index.js';
import { eventTypes, testApp } from '../support.js';

describe('activities', () => {
  it('runs sequential activities and returns their results in order', async () => {
    const { app, start } = testApp();
    app.activity('double', async (n: number) => n * 2);
    app.orchestration('chain', async (ctx, n: number) => {
      const a = await ctx.callActivity<number>('double', n);
      const b = await ctx.callActivity<number>('double', a);
      return ctx.callActivity<number>('double', b);
    });
    const env = await start();
    const id = await env.client.start('chain', 3);
    const status = await env.client.waitForCompletion(id);
    expect(status).toMatchObject({ status: 'Completed', output: 24, input: 3, name: 'chain', version: '1' });
    expect(eventTypes(await env.client.getHistory(id))).toEqual([
      'ExecutionStarted',
      'ActivityScheduled',
      'ActivityCompleted',
      'ActivityScheduled',
      'ActivityCompleted',
      'ActivityScheduled',
      'ActivityCompleted',
      'ExecutionCompleted',
    ]);
  });

  it('lets the orchestration catch an activity failure and take another path', async () => {
    const { app, start } = testApp();
    app.activity('charge', async () => {
      const error = new Error('card declined') as Error & { details: unknown };
      error.name = 'CardDeclined';
      error.details = { reason: 'insufficient_funds' };
      throw error;
    });
    app.activity('notify', async (text: string) => text);
    app.orchestration('pay', async (ctx) => {
      try {
        await ctx.callActivity('charge');
        return 'charged';
      } catch (error) {
        if (!(error instanceof ActivityFailedError)) throw error;
        await ctx.callActivity('notify', error.failure.name);
        return { handled: error.failure.name, message: error.message, details: error.failure.details, causeName: (error.cause as Error).name };
      }
    });
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('pay'));
    expect(status.status).toBe('Completed');
    expect(status.output).toEqual({
      handled: 'CardDeclined',
      message: "Activity 'charge' failed after 1 attempt: CardDeclined: card declined",
      details: { reason: 'insufficient_funds' },
      causeName: 'CardDeclined',
    });
  });

  it('retries with the exact number of attempts and growing durable delays', async () => {
    const { app, start } = testApp();
    const attempts: number[] = [];
    app.activity('flaky', async (_: unknown, actx) => {
      attempts.push(actx.attempt);
      throw new Error(`attempt ${actx.attempt} failed`);
    });
    app.orchestration('retrying', async (ctx) => {
      await ctx.callActivity('flaky', null, { retry: { maxAttempts: 4, initialInterval: '1s', backoffCoefficient: 3, maxInterval: '5s' } });
    });
    const env = await start();
    const id = await env.client.start('retrying');
    const status = await env.client.waitForCompletion(id);
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(status.status).toBe('Failed');
    expect(status.error).toEqual({ name: 'ActivityFailedError', message: "Activity 'flaky' failed after 4 attempts: Error: attempt 4 failed", code: 'ACTIVITY_FAILED' });
    const history = await env.client.getHistory(id);
    const timers = history.filter((e): e is Extract<HistoryEvent, { type: 'TimerCreated' }> => e.type === 'TimerCreated');
    const failedAt = history.filter((e) => e.type === 'ActivityFailed').map((e) => e.timestamp);
    expect(timers.map((t) => t.purpose)).toEqual(['retry', 'retry', 'retry']);
    // Delays grow 1s, 3s, then are capped at 5s.
    expect(timers.map((t, i) => t.fireAt - failedAt[i]!)).toEqual([1_000, 3_000, 5_000]);
  });

  it('gives every attempt of one call the same idempotency key', async () => {
    const { app, start } = testApp();
    const keys: string[] = [];
    app.activity('flaky', async (_: unknown, actx) => {
      keys.push(actx.idempotencyKey);
      if (actx.attempt < 3) throw new Error('not yet');
      return actx.attempt;
    });
    app.orchestration('twice', async (ctx) => [
      await ctx.callActivity('flaky', null, { retry: { maxAttempts: 3, initialInterval: '1s' } }),
      await ctx.callActivity('flaky', null, { retry: { maxAttempts: 3, initialInterval: '1s' } }),
    ]);
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('twice'));
    expect(status.output).toEqual([3, 3]);
    expect(new Set(keys.slice(0, 3)).size).toBe(1);
    expect(new Set(keys.slice(3)).size).toBe(1);
    expect(keys[0]).not.toBe(keys[3]);
  });

  it('uses the retry policy the activity was registered with, and stops at a NonRetryableError', async () => {
    const { app, start } = testApp();
    let calls = 0;
    app.activity(
      'validate',
      async () => {
        calls++;
        throw new NonRetryableError('bad input', { details: { field: 'email' } });
      },
      { retry: { maxAttempts: 5 } },
    );
    app.orchestration('check', async (ctx) => ctx.callActivity('validate'));
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('check'));
    expect(calls).toBe(1);
    expect(status.error?.message).toBe("Activity 'validate' failed after 1 attempt: NonRetryableError: bad input");
  });

  it('fails an attempt that runs past the activity timeout with a TimeoutError, and aborts its signal', async () => {
    const { app, start } = testApp();
    let signalled!: (aborted: boolean) => void;
    const abortSeen = new Promise<boolean>((resolve) => (signalled = resolve));
    app.activity(
      'slow',
      async (_: unknown, actx) => {
        // Runs until its signal tells it to stop, however long the machine takes to get there.
        await new Promise((resolve) => actx.signal.addEventListener('abort', resolve, { once: true }));
        signalled(actx.signal.aborted);
        return 'late';
      },
      { timeout: 50 },
    );
    app.orchestration('impatient', async (ctx) => {
      try {
        return await ctx.callActivity('slow');
      } catch (error) {
        return ((error as ActivityFailedError).failure).name;
      }
    });
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('impatient'));
    expect(status.output).toBe('TimeoutError');
    expect(await abortSeen).toBe(true);
  });

  it('fails a call to an unregistered activity at once, naming the registered ones', async () => {
    const { app, start } = testApp();
    app.activity('chargeCard', async () => 'ok');
    app.orchestration('typo', async (ctx) => ctx.callActivity('chargCard', null, { retry: { maxAttempts: 5 } }));
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('typo'));
    expect(status.status).toBe('Failed');
    expect(status.error?.message).toContain("failed after 1 attempt: ActivityNotFoundError: No activity named 'chargCard' is registered (registered: chargeCard)");
  });

  it('reports a result that is not JSON data as the activity failure', async () => {
    const { app, start } = testApp();
    app.activity('bigint', async () => 10n);
    app.orchestration('bad-result', async (ctx) => ctx.callActivity('bigint'));
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('bad-result'));
    expect(status.error?.message).toMatch(/result of activity 'bigint' is not JSON-serializable/);
  });
});
