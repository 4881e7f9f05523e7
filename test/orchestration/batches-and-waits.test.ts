import { describe, expect, it } from 'vitest';
import { TimeoutError, type BatchResult, type TestEnvironment } from '../../lib/index.js';
import { testApp } from '../support.js';

const summary = <T>(batch: BatchResult<T>) => ({ reason: batch.completionReason, statuses: batch.items.map((item) => item.status), results: batch.results() });

describe('completion policies', () => {
  it('ctx.map with minSuccessful ends as soon as enough items succeeded: the rest are not started, the running ones abandoned', async () => {
    const { app, start } = testApp();
    const started: number[] = [];
    app.activity('quote', async (n: number) => {
      started.push(n);
      if (n === 1) throw new Error('no quote');
      return n * 10;
    });
    app.orchestration('quotes', async (ctx) => summary(await ctx.map([1, 2, 3, 4, 5, 6], (n) => ctx.callActivity<number>('quote', n), { concurrency: 3, completion: { minSuccessful: 2 } })));
    const env = await start();
    const id = await env.client.start('quotes');
    const { output } = await env.client.waitForCompletion(id);
    expect(output).toMatchObject({ reason: 'MIN_SUCCESSFUL_REACHED', results: [20, 30] });
    // Three at a time: 1 failed and 4 started, 2 succeeded and 5 started, 3 succeeded: two successes, done.
    expect((output as { statuses: string[] }).statuses).toEqual(['failed', 'succeeded', 'succeeded', 'abandoned', 'abandoned', 'notStarted']);
    await env.idle();
    expect(started.sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('ends when more items failed than tolerated, by count or by percentage, and reports every item', async () => {
    const { app, start } = testApp();
    app.activity('send', async (n: number) => {
      if (n % 2 === 0) throw new Error(`bounced ${n}`);
      return n;
    });
    app.orchestration('mailing', async (ctx, policy: { toleratedFailureCount?: number; toleratedFailurePercentage?: number }) => {
      const batch = await ctx.map([1, 2, 3, 4, 5, 6], (n) => ctx.callActivity<number>('send', n), { concurrency: 1, completion: policy });
      let thrown = '';
      try {
        batch.throwIfError();
      } catch (error) {
        thrown = (error as Error).message;
      }
      return { ...summary(batch), failures: batch.failureCount, thrown };
    });
    const env = await start();
    const byCount = await env.client.waitForCompletion(await env.client.start('mailing', { toleratedFailureCount: 1 }));
    expect(byCount.output).toMatchObject({ reason: 'FAILURE_TOLERANCE_EXCEEDED', statuses: ['succeeded', 'failed', 'succeeded', 'failed', 'notStarted', 'notStarted'], failures: 2, thrown: expect.stringMatching(/bounced 2/) });
    const all = await env.client.waitForCompletion(await env.client.start('mailing', { toleratedFailurePercentage: 50 }));
    expect(all.output).toMatchObject({ reason: 'ALL_COMPLETED', results: [1, 3, 5], failures: 3 });
  });

  it('ctx.parallel runs named branches as child contexts and returns their batch', async () => {
    const { app, start } = testApp();
    app.activity('offer', async (vendor: string) => (vendor === 'slow' ? new Promise(() => {}) : `${vendor}-offer`), { timeout: '1s' });
    app.orchestration('offers', async (ctx) => {
      const batch = await ctx.parallel(
        [
          { name: 'vendor a', fn: (c) => c.callActivity<string>('offer', 'a') },
          (c) => c.callActivity<string>('offer', 'b'),
        ],
        { completion: { minSuccessful: 2 } },
      );
      return summary(batch);
    });
    const env = await start();
    const id = await env.client.start('offers');
    expect((await env.client.waitForCompletion(id)).output).toEqual({ reason: 'MIN_SUCCESSFUL_REACHED', statuses: ['succeeded', 'succeeded'], results: ['a-offer', 'b-offer'] });
    const names = (await env.client.getHistory(id)).flatMap((event) => (event.type === 'ChildStarted' ? [event.name] : []));
    expect(names).toEqual(['vendor a', 'branch 1']);
  });

  it('refuses a completion policy that makes no sense, naming the field', async () => {
    const { app, start } = testApp();
    app.orchestration('badPolicy', async (ctx) => ctx.map([1], async (n) => n, { completion: { minSuccessful: 0 } }).catch((error: Error) => error.message));
    const env = await start();
    const id = await env.client.start('badPolicy');
    expect((await env.client.waitForCompletion(id)).output).toMatch(/completion.minSuccessful must be an integer ≥ 1, got 0/);
  });
});

describe('named waits, sleepUntil, retry strategies, waitForCondition, execution timeouts', () => {
  it('names a sleep in history, and sleeps until a date', async () => {
    const { app, start } = testApp();
    app.orchestration('naps', async (ctx) => {
      await ctx.sleep('cool-off', '1h');
      await ctx.sleep('30m', { name: 'short' });
      const target = ctx.now().getTime() + 86_400_000;
      await ctx.sleepUntil(new Date(target));
      return ctx.now().getTime() >= target;
    });
    const env = await start();
    const id = await env.client.start('naps');
    expect((await env.client.waitForCompletion(id)).output).toBe(true);
    const timers = (await env.client.getHistory(id)).flatMap((event) => (event.type === 'TimerCreated' ? [event.name ?? '-'] : []));
    expect(timers).toEqual(['cool-off', 'short', '-']);
  });

  it('retries as a strategy function decides, with the delays it returns', async () => {
    const { app, start } = testApp();
    let attempts = 0;
    app.activity('flaky', async () => {
      attempts++;
      throw Object.assign(new Error('throttled'), { name: attempts < 4 ? 'Throttled' : 'Broken' });
    });
    app.orchestration('strategy', async (ctx) =>
      ctx
        .callActivity('flaky', undefined, { retry: (error, attempt) => ({ shouldRetry: error.name === 'Throttled', delay: `${attempt * 10}s` }) })
        .catch((error: Error) => error.message),
    );
    const env = await start();
    const id = await env.client.start('strategy');
    expect((await env.client.waitForCompletion(id)).output).toBe("Activity 'flaky' failed after 4 attempts: Broken: throttled");
    const history = await env.client.getHistory(id);
    const delays = history.flatMap((event) => (event.type === 'TimerCreated' ? [event.fireAt - event.timestamp] : []));
    expect(delays).toEqual([10_000, 20_000, 30_000]);
  });

  it('polls with waitForCondition until the strategy says stop', async () => {
    const { app, start } = testApp();
    let polls = 0;
    app.orchestration('poll', async (ctx) =>
      ctx.waitForCondition(
        async (state: { done: boolean; polls: number }) => ({ done: ++polls >= 3, polls: state.polls + 1 }),
        { initialState: { done: false, polls: 0 }, waitStrategy: (state) => (state.done ? { shouldContinue: false } : { shouldContinue: true, delay: '30s' }), name: 'job' },
      ),
    );
    const env = await start();
    const id = await env.client.start('poll');
    expect((await env.client.waitForCompletion(id)).output).toEqual({ done: true, polls: 3 });
    const steps = (await env.client.getHistory(id)).flatMap((event) => (event.type === 'ActivityScheduled' ? [event.name] : []));
    expect(steps).toEqual(['job #1', 'job #2', 'job #3']);
  });

  it('fails an instance that runs past its orchestration\'s timeout with a TimeoutError, and not one that finishes in time', async () => {
    const { app, start } = testApp();
    app.orchestration('slow', async (ctx, days: number) => {
      await ctx.sleep(`${days}d`);
      return 'done';
    }, { timeout: '2d' });
    const env: TestEnvironment = await start();
    const late = await env.client.start('slow', 3);
    const status = await env.client.waitForCompletion(late);
    expect(status).toMatchObject({ status: 'Failed', error: { name: 'TimeoutError', message: expect.stringMatching(/ran longer than its orchestration's timeout of 2d/) } });
    expect(TimeoutError).toBeDefined();
    const inTime = await env.client.start('slow', 1);
    expect((await env.client.waitForCompletion(inTime)).status).toBe('Completed');
  });
});
