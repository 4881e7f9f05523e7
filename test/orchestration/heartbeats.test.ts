import { describe, expect, it, vi } from 'vitest';
import { checkReplay, createApp, silentLogger, TestEnvironment, type ActivityContext, type ActivityFailedError, type HistoryEvent } from '../../lib/index.js';
import { testApp } from '../support.js';

/** A promise with its resolve function, to hand control between a test and its activity. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves when the attempt's signal is aborted, with its reason. */
function aborted(actx: ActivityContext): Promise<unknown> {
  return new Promise((resolve) => actx.signal.addEventListener('abort', () => resolve(actx.signal.reason as unknown), { once: true }));
}

type Scheduled = Extract<HistoryEvent, { type: 'ActivityScheduled' }>;
type Failed = Extract<HistoryEvent, { type: 'ActivityFailed' }>;
const scheduled = (history: HistoryEvent[]) => history.filter((event): event is Scheduled => event.type === 'ActivityScheduled');
const failures = (history: HistoryEvent[]) => history.filter((event): event is Failed => event.type === 'ActivityFailed').map((event) => event.error);

describe('activity heartbeats', () => {
  it('hands the last details of a failed attempt to the next attempt of the same call, and none to another call', async () => {
    const { app, start } = testApp();
    const seen: unknown[] = [];
    app.activity(
      'import',
      async (rows: number, actx) => {
        seen.push(actx.heartbeatDetails);
        let done = (actx.heartbeatDetails as number | undefined) ?? 0;
        for (; done < rows; done++) {
          if (actx.attempt === 1 && done === 3) throw new Error('connection reset');
          await actx.heartbeat(done + 1);
        }
        return done;
      },
      { retry: { maxAttempts: 2, initialInterval: '1s' } },
    );
    app.orchestration('imports', async (ctx) => [await ctx.callActivity<number>('import', 5), await ctx.callActivity<number>('import', 1)]);
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('imports'));
    expect(status).toMatchObject({ status: 'Completed', output: [5, 1] });
    // The second attempt resumed after row 3; the second call started afresh.
    expect(seen).toEqual([undefined, 3, undefined]);
  });

  it('writes at most once per interval however often it is called, and the last details before a failure', async () => {
    const { app, start } = testApp();
    let instanceReads = 0;
    app.activity(
      'busy',
      async (_: unknown, actx) => {
        if (actx.attempt === 2) return actx.heartbeatDetails;
        const before = reads.mock.calls.length;
        for (let i = 1; i <= 100; i++) await actx.heartbeat({ page: i });
        instanceReads = reads.mock.calls.length - before;
        throw new Error('gave up at the end');
      },
      { retry: { maxAttempts: 2, initialInterval: '1s' } },
    );
    app.orchestration('paging', async (ctx) => ctx.callActivity('busy'));
    const env = await start();
    const writes = vi.spyOn(env.store, 'recordHeartbeat');
    const reads = vi.spyOn(env.store, 'getInstance');
    const id = await env.client.start('paging');
    const status = await env.client.waitForCompletion(id);
    expect(status).toMatchObject({ status: 'Completed', output: { page: 100 } });
    // The first heartbeat writes at once; the other 99 fall in its interval; the failure writes the last.
    expect(writes.mock.calls.map(([, , heartbeat]) => heartbeat.details)).toEqual([{ page: 1 }, { page: 100 }]);
    expect(writes.mock.calls.map(([instanceId, key]) => [instanceId, key])).toEqual([
      [id, `${id}:0:1`],
      [id, `${id}:0:1`],
    ]);
    // One look at the instance, and one lease extension of the queued task, for the whole attempt.
    expect(instanceReads).toBe(1);
    expect(env.queues.leaseExtensions).toEqual([{ instanceId: id, taskId: 1, attempt: 1, ms: expect.any(Number) as number }]);
    expect(env.queues.leaseExtensions[0]!.ms).toBeGreaterThanOrEqual(30_000);
  });

  it('refuses details over 4 KiB with a ValidationError that fails the call without retries', async () => {
    const { app, start } = testApp();
    let attempts = 0;
    app.activity(
      'chatty',
      async (_: unknown, actx) => {
        attempts++;
        await actx.heartbeat({ rows: 'x'.repeat(5_000) });
      },
      { retry: { maxAttempts: 3 } },
    );
    app.orchestration('chat', async (ctx) => ctx.callActivity('chatty'));
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('chat'));
    expect(attempts).toBe(1);
    expect(status.status).toBe('Failed');
    expect(status.error?.message).toMatch(/ValidationError: The heartbeat details of Activity 'chatty' are 5\d{3} bytes of JSON, over the limit of 4096: keep a cursor/);
  });

  it('accepts heartbeats of a ctx.step: details reach its retry, and there is no queue message to extend', async () => {
    const { app, start } = testApp();
    app.orchestration('stepping', async (ctx) =>
      ctx.step(
        'crawl',
        async (actx) => {
          if (actx.attempt === 2) return actx.heartbeatDetails;
          await actx.heartbeat({ cursor: 'page-7' });
          throw new Error('rate limited');
        },
        { retry: { maxAttempts: 2, initialInterval: '1s' } },
      ),
    );
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('stepping'));
    expect(status).toMatchObject({ status: 'Completed', output: { cursor: 'page-7' } });
    expect(env.queues.leaseExtensions).toEqual([]);
  });
});

describe('heartbeatTimeout', () => {
  it('fails an attempt that sends no heartbeat in time with a TimeoutError, which the call retries', async () => {
    const { app, start } = testApp();
    const reasons: unknown[] = [];
    app.activity(
      'stuck',
      async (_: unknown, actx) => {
        if (actx.attempt === 2) return 'unstuck';
        reasons.push(await aborted(actx));
        return 'too late';
      },
      { heartbeatTimeout: '150ms', timeout: '1m', retry: { maxAttempts: 2, initialInterval: '1s' } },
    );
    app.orchestration('unsticking', async (ctx) => ctx.callActivity('stuck'));
    const env = await start();
    const id = await env.client.start('unsticking');
    const status = await env.client.waitForCompletion(id);
    expect(status).toMatchObject({ status: 'Completed', output: 'unstuck' });
    const [failure] = failures(await env.client.getHistory(id));
    expect(failure).toMatchObject({ name: 'TimeoutError', code: 'TIMEOUT' });
    expect(failure!.message).toMatch(/^Activity 'stuck' sent no heartbeat for 150ms, its heartbeatTimeout \(attempt 1\), so it was taken to be stuck\./);
    expect(failure!.nonRetryable).toBeUndefined();
    expect((reasons[0] as Error).name).toBe('TimeoutError');
  });
});

describe('scheduleToCloseTimeout', () => {
  /** An activity that always fails, with a 25 s budget and retries 10 s, then 20 s apart. */
  function budgetApp(budget: string | undefined) {
    const app = createApp({ logger: silentLogger });
    const attempts: number[] = [];
    app.activity(
      'flaky',
      async (_: unknown, actx) => {
        attempts.push(actx.attempt);
        throw new Error(`attempt ${actx.attempt} failed`);
      },
      { retry: { maxAttempts: 10, initialInterval: '10s' }, ...(budget ? { scheduleToCloseTimeout: budget } : {}) },
    );
    app.orchestration('budgeted', async (ctx) => {
      try {
        return await ctx.callActivity('flaky');
      } catch (error) {
        const failed = error as ActivityFailedError;
        return { attempts: failed.attempts, name: failed.failure.name, nonRetryable: failed.failure.nonRetryable, message: failed.failure.message };
      }
    });
    return { app, attempts };
  }

  it('fails the call with a TimeoutError, not retried, when the next retry would start after the budget', async () => {
    const { app, attempts } = budgetApp('25s');
    const env = await TestEnvironment.create(app);
    try {
      const id = await env.client.start('budgeted');
      const status = await env.client.waitForCompletion(id);
      // Attempt 1 fails at 0 s and is retried at 10 s; attempt 2's retry would start at 30 s, after the budget's 25 s.
      expect(attempts).toEqual([1, 2]);
      expect(status.output).toEqual({
        attempts: 2,
        name: 'TimeoutError',
        nonRetryable: true,
        message: expect.stringMatching(/^Activity 'flaky' used up its scheduleToCloseTimeout after 2 attempts \(only 1\ds(\d+ms)? of it was left for a retry in 20s\); the last attempt failed with Error: attempt 2 failed$/) as string,
      });
      const history = await env.client.getHistory(id);
      const [first, second] = scheduled(history);
      const firstStep = history.find((event) => event.type === 'StepStarted')!;
      // The budget is recorded with the first attempt, from the step's time, and repeated on the retry.
      expect(first!.scheduleToCloseAt).toBe(firstStep.timestamp + 25_000);
      expect(second!.scheduleToCloseAt).toBe(first!.scheduleToCloseAt);
      expect(history.filter((event) => event.type === 'TimerCreated').length).toBe(1);

      // Replay decides from the recorded budget, whatever the code's is now.
      const recorded = { instanceId: id, events: history };
      expect(await checkReplay(app, recorded)).toMatchObject({ ok: true });
      expect(await checkReplay(budgetApp('1h').app, recorded)).toMatchObject({ ok: true });
      expect(await checkReplay(budgetApp(undefined).app, recorded)).toMatchObject({ ok: true });
    } finally {
      await env.close();
    }
  });

  it('gives no budget to a call history recorded without one, when the code adds one later', async () => {
    const before = budgetApp(undefined);
    const env = await TestEnvironment.create(before.app);
    try {
      const id = await env.client.start('budgeted');
      const status = await env.client.waitForCompletion(id);
      expect(status.output).toMatchObject({ attempts: 10, name: 'Error' });
      const history = await env.client.getHistory(id);
      expect(scheduled(history).every((event) => event.scheduleToCloseAt === undefined)).toBe(true);
      // With a 25 s budget the code would stop after 2 attempts; the recorded call has none, so replay goes on to 10.
      expect(await checkReplay(budgetApp('25s').app, { instanceId: id, events: history })).toMatchObject({ ok: true });
    } finally {
      await env.close();
    }
  });

  it('cuts a running attempt when the budget runs out, and does not retry the call', async () => {
    const { app, start } = testApp();
    const reasons: unknown[] = [];
    app.activity(
      'slow',
      async (_: unknown, actx) => {
        reasons.push(await aborted(actx));
        return 'too late';
      },
      { timeout: '1m', scheduleToCloseTimeout: '300ms', retry: { maxAttempts: 3 } },
    );
    app.orchestration('slowly', async (ctx) => ctx.callActivity('slow'));
    const env = await start();
    const id = await env.client.start('slowly');
    const status = await env.client.waitForCompletion(id);
    expect(status.status).toBe('Failed');
    expect(status.error?.message).toBe(
      "Activity 'slow' failed after 1 attempt: TimeoutError: Activity 'slow' (attempt 1) was stopped: its call used up its scheduleToCloseTimeout of 300ms, so it is not retried.",
    );
    expect(failures(await env.client.getHistory(id))).toEqual([expect.objectContaining({ name: 'TimeoutError', nonRetryable: true })]);
    expect((reasons[0] as Error).name).toBe('TimeoutError');
  });
});

describe('a heartbeat stops an attempt whose instance no longer needs it', () => {
  /** An activity that waits for the test between its start and its heartbeat, and reports what the heartbeat did. */
  function gatedApp() {
    const { app, start } = testApp();
    const started = deferred();
    const gate = deferred();
    const result = deferred<{ error?: Error; aborted: boolean; reason?: unknown }>();
    app.activity('longJob', async (_: unknown, actx) => {
      started.resolve();
      await gate.promise;
      try {
        await actx.heartbeat({ at: 'row 10' });
        result.resolve({ aborted: actx.signal.aborted });
      } catch (error) {
        result.resolve({ error: error as Error, aborted: actx.signal.aborted, reason: actx.signal.reason as unknown });
      }
      return 'finished';
    });
    app.orchestration('job', async (ctx) => ctx.callActivity('longJob'));
    app.orchestration('fireAndForget', async (ctx) => {
      void ctx.callActivity('longJob');
      return 'done';
    });
    return { app, start, started, gate, result };
  }

  it('rejects the heartbeat and aborts the signal of an activity whose instance was terminated', async () => {
    const { start, started, gate, result } = gatedApp();
    const env = await start();
    const id = await env.client.start('job');
    await started.promise;
    await env.client.terminate(id, 'operator says stop');
    expect((await env.client.waitForCompletion(id)).status).toBe('Terminated');
    gate.resolve();
    const { error, aborted, reason } = await result.promise;
    expect(aborted).toBe(true);
    expect(reason).toBe(error);
    expect(error).toMatchObject({ name: 'CancelledError', message: `Activity 'longJob' (attempt 1) was stopped on a heartbeat: instance '${id}' was terminated, so its result is no longer needed.` });
    await env.idle();
    expect(env.workerErrors).toEqual([]);
  });

  it('rejects the heartbeat of an activity whose instance has a cancellation request', async () => {
    const { start, started, gate, result } = gatedApp();
    const env = await start();
    const id = await env.client.start('job');
    await started.promise;
    const record = (await env.store.getInstance(id))!;
    expect(await env.store.updateInstance({ ...record, cancelRequested: { reason: 'customer left', at: env.clock.now() }, revision: record.revision + 1 }, record.revision)).toBe(true);
    gate.resolve();
    const { error, aborted } = await result.promise;
    expect(aborted).toBe(true);
    expect(error?.message).toMatch(new RegExp(`instance '${id}' was cancelled \\(customer left\\), so its result is no longer needed`));
    await env.client.waitForCompletion(id);
  });

  it('lets a call the code made without awaiting it run on after the instance completed', async () => {
    const { start, started, gate, result } = gatedApp();
    const env = await start();
    const id = await env.client.start('fireAndForget');
    await started.promise;
    expect((await env.client.waitForCompletion(id)).status).toBe('Completed');
    gate.resolve();
    expect(await result.promise).toEqual({ aborted: false });
  });
});
