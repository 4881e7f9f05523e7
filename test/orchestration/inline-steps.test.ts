import { describe, expect, it } from 'vitest';
import { FaultInjector, SimulatedCrash } from '../../lib/faults.js';
import { ActivityFailedError, StepFailedError, TimeoutError, type HistoryEvent } from '../../lib/index.js';
import type { CrashPoint } from '../../lib/runtime/crash-points.js';
import { eventTypes, testApp } from '../support.js';

/** History without what differs between two runs of the same code: timestamps, and the stacks of errors. */
const timeless = (history: HistoryEvent[]) =>
  history.map(({ timestamp: _t, ...event }) => {
    if (event.type === 'TimerCreated') return { ...event, fireAt: 0 };
    if (event.type === 'ActivityFailed') return { ...event, error: { ...event.error, stack: undefined } };
    return event;
  });

/** Counts the store's commits and the worker's steps. */
function countCommits(env: { store: { commitStep: (...args: never[]) => Promise<unknown> } }): { commits: number } {
  const counts = { commits: 0 };
  const commit = env.store.commitStep.bind(env.store);
  env.store.commitStep = (async (...args: never[]) => {
    counts.commits++;
    return commit(...args);
  });
  return counts;
}

describe('ctx.step: inline steps', () => {
  it('runs the function inside the orchestrator, records its result with the next commit, and never runs it again on replay', async () => {
    const { app, start } = testApp();
    let runs = 0;
    app.orchestration('quote', async (ctx, sku: string) => {
      const price = await ctx.step('fetchPrice', () => {
        runs++;
        return { sku, price: 42 };
      });
      await ctx.sleep('1h');
      return price;
    });
    const env = await start();
    const id = await env.client.start('quote', 'desk');
    await env.idle();
    env.forceReplay();
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: { sku: 'desk', price: 42 } });
    expect(runs).toBe(1);
    const history = await env.client.getHistory(id);
    expect(history.find((event) => event.type === 'ActivityScheduled')).toMatchObject({ name: 'fetchPrice', step: true, attempt: 1, idempotencyKey: `${id}:0:1` });
    expect(eventTypes(history)).toEqual(['ExecutionStarted', 'ActivityScheduled', 'ActivityCompleted', 'TimerCreated', 'TimerFired', 'ExecutionCompleted']);
  });

  it('runs consecutive steps in one invocation, one commit each, without a queue hop', async () => {
    const { app, start } = testApp();
    app.orchestration('chain', async (ctx, count: number) => {
      let total = 0;
      for (let i = 0; i < count; i++) total = await ctx.step(`add ${i}`, () => total + i);
      return total;
    });
    const env = await start();
    const counts = countCommits(env);
    let doorbells = 0;
    const ring = env.queues.ringDoorbell.bind(env.queues);
    env.queues.ringDoorbell = async (...args) => {
      doorbells++;
      return ring(...args);
    };
    const id = await env.client.start('chain', 20);
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 190 });
    // The start, then one commit per step (the last also completes the instance).
    expect(counts.commits).toBe(21);
    expect(doorbells).toBe(1); // the client rang the start; the worker rang nothing
  });

  it('hands the rest to the next invocation after maxStepsPerInvocation inline steps', async () => {
    const { app, start } = testApp();
    app.orchestration('long', async (ctx) => {
      for (let i = 0; i < 25; i++) await ctx.step(`s${i}`, () => i);
      return 'done';
    });
    const env = await start({ inline: { maxStepsPerInvocation: 10 } });
    let handOffs = 0;
    const ring = env.queues.ringDoorbell.bind(env.queues);
    env.queues.ringDoorbell = async (instanceId, doorbell) => {
      if (doorbell?.runInline) handOffs++;
      return ring(instanceId, doorbell);
    };
    const id = await env.client.start('long');
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'done' });
    expect(handOffs).toBe(2);
  });

  it('runs the steps of a fan-out together and commits their results in one step', async () => {
    const { app, start } = testApp();
    let running = 0;
    let peak = 0;
    app.orchestration('fan', async (ctx) => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          ctx.step(`item ${i}`, async () => {
            peak = Math.max(peak, ++running);
            await new Promise((resolve) => setImmediate(resolve));
            running--;
            return i * 2;
          }),
        ),
      );
      return results.reduce((a, b) => a + b, 0);
    });
    const env = await start({ inline: { concurrency: 8 } });
    const counts = countCommits(env);
    const id = await env.client.start('fan');
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 2450 });
    expect(peak).toBe(8);
    expect(counts.commits).toBe(2);
  });

  it('retries a failing step with durable timers (3 attempts by default) and fails it with a StepFailedError', async () => {
    const { app, start } = testApp();
    const attempts: { attempt: number; key: string }[] = [];
    app.orchestration('flaky', async (ctx) => {
      try {
        return await ctx.step('charge', (actx) => {
          attempts.push({ attempt: actx.attempt, key: actx.idempotencyKey });
          throw new Error(`declined on attempt ${actx.attempt}`);
        });
      } catch (error) {
        return { name: (error as Error).name, message: (error as Error).message, isActivityFailure: error instanceof ActivityFailedError, isStepFailure: error instanceof StepFailedError };
      }
    });
    const env = await start();
    const id = await env.client.start('flaky');
    const { output } = await env.client.waitForCompletion(id);
    expect(output).toEqual({ name: 'StepFailedError', message: "Step 'charge' failed after 3 attempts: Error: declined on attempt 3", isActivityFailure: true, isStepFailure: true });
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(new Set(attempts.map((a) => a.key)).size).toBe(1);
    const history = await env.client.getHistory(id);
    expect(history.filter((e) => e.type === 'TimerCreated').map((e) => (e as { purpose: string }).purpose)).toEqual(['retry', 'retry']);
  });

  it('fails an attempt that runs past its timeout with a TimeoutError and aborts its signal', async () => {
    const { app, start } = testApp();
    let aborted: unknown;
    app.orchestration('slow', async (ctx) => {
      try {
        await ctx.step(
          'wait',
          (actx) =>
            new Promise((resolve) => {
              actx.signal.addEventListener('abort', () => {
                aborted = actx.signal.reason;
                resolve('too late');
              });
            }),
          { timeout: 50, retry: { maxAttempts: 1 } },
        );
        return 'finished';
      } catch (error) {
        return (error as StepFailedError).failure.name;
      }
    });
    const env = await start();
    const id = await env.client.start('slow');
    expect((await env.client.waitForCompletion(id)).output).toBe('TimeoutError');
    expect(aborted).toBeInstanceOf(TimeoutError);
  });

  it('refuses a durable call made inside a step, at once and without retrying', async () => {
    const { app, start } = testApp();
    let calls = 0;
    app.activity('send', async () => 'sent');
    app.orchestration('nested', async (ctx) => {
      try {
        await ctx.step('outer', async () => {
          calls++;
          return ctx.callActivity('send');
        });
        return 'no error';
      } catch (error) {
        return (error as StepFailedError).failure.message;
      }
    });
    const env = await start();
    const id = await env.client.start('nested');
    const { status, output } = await env.client.waitForCompletion(id);
    expect(status).toBe('Completed');
    expect(output).toMatch(/A durable call was made inside the function of ctx.step\('outer'\).*Make the calls in the orchestration around the step/);
    expect(calls).toBe(1);
  });

  it('records the same history for an activity run inline and from the queue, apart from timestamps', async () => {
    const run = async (inline: boolean) => {
      const { app, start } = testApp();
      app.activity('double', async (n: number) => n * 2, { inline: true, timeout: '10s', retry: { maxAttempts: 2 } });
      app.activity('fail', async () => {
        throw new Error('nope');
      }, { inline: true, retry: { maxAttempts: 2, initialInterval: '1s' } });
      app.orchestration('mixed', async (ctx) => {
        const a = await ctx.callActivity<number>('double', 1);
        const [b, c] = await Promise.all([ctx.callActivity<number>('double', a), ctx.callActivity<number>('double', 10)]);
        const failed = await ctx.callActivity('fail').catch((error: Error) => error.name);
        await ctx.sleep('1m');
        return [a, b, c, failed];
      });
      const env = await start({ inline: { activities: inline } });
      const id = await env.client.start('mixed', undefined, { instanceId: 'same-id' });
      expect((await env.client.waitForCompletion(id)).output).toEqual([2, 4, 20, 'ActivityFailedError']);
      return timeless(await env.client.getHistory(id));
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it('records and runs the calls made in the step where the code returns, though nothing waits for them', async () => {
    const { app, start } = testApp();
    const sent: string[] = [];
    let stepRuns = 0;
    app.activity('sendReceipt', async (to: string) => void sent.push(to));
    app.orchestration('fireAndForget', async (ctx, to: string) => {
      void ctx.callActivity('sendReceipt', to);
      void ctx.step('audit', () => void stepRuns++);
      return 'done';
    });
    const env = await start();
    const id = await env.client.start('fireAndForget', 'ada@example.com');
    expect((await env.client.waitForCompletion(id)).output).toBe('done');
    await env.idle();
    expect(sent).toEqual(['ada@example.com']);
    expect(stepRuns).toBe(1);
    expect(eventTypes(await env.client.getHistory(id))).toEqual(['ExecutionStarted', 'ActivityScheduled', 'ActivityScheduled', 'ExecutionCompleted']);
  });
});

describe('ctx.step after a crash', () => {
  /** Crashes the invocation right after a run of `step`, as a process killed before it could commit would. */
  class CrashAfterRuns extends FaultInjector {
    crashes = 0;
    constructor(private readonly runs: () => number, private readonly times: number) {
      super(1);
    }
    private lastRuns = 0;
    override readonly crashHook = (point: CrashPoint) => {
      if (point !== 'inline:before-commit' || this.runs() === this.lastRuns || this.crashes >= this.times) return;
      this.lastRuns = this.runs();
      this.crashes++;
      throw new SimulatedCrash(point);
    };
  }

  it('runs again once its invocation died before the commit (at least once), and records one result', async () => {
    const { app, start } = testApp();
    let runs = 0;
    app.orchestration('once', async (ctx) => ctx.step('charge', () => ++runs));
    const faults = new CrashAfterRuns(() => runs, 1);
    const env = await start({ faults, functionTimeout: '30ms' });
    const id = await env.client.start('once');
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 2 });
    expect(faults.crashes).toBe(1);
    expect((await env.client.getHistory(id)).filter((e) => e.type === 'ActivityCompleted')).toHaveLength(1);
  });

  it('fails a step whose runs keep killing the invocation with a PoisonMessageError the code can catch, instead of quarantining the instance', async () => {
    const { app, start } = testApp();
    let runs = 0;
    app.orchestration('poisoned', async (ctx) => {
      try {
        await ctx.step('explode', () => ++runs, { retry: { maxAttempts: 1 } });
        return 'ran';
      } catch (error) {
        return (error as StepFailedError).failure.name;
      }
    });
    const faults = new CrashAfterRuns(() => runs, 100);
    const env = await start({ faults, functionTimeout: '30ms', poisonAfterCrashes: 2 });
    const id = await env.client.start('poisoned');
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'PoisonMessageError' });
    // The first run (not recorded), then two recorded runs that died: poison, without a fourth run.
    expect(runs).toBe(3);
    const failed = (await env.client.getHistory(id)).find((e) => e.type === 'ActivityFailed');
    expect(failed).toMatchObject({ error: { name: 'PoisonMessageError', message: expect.stringMatching(/^Step 'explode' \(attempt 1\) crashed its invocation 2 times/) } });
  });

  it('does not count an invocation that failed with an error it caught (a write refused after the step ran) as a crash of the step', async () => {
    const { app, start } = testApp();
    let runs = 0;
    app.orchestration('once', async (ctx) => {
      try {
        return await ctx.step('charge', () => ++runs, { retry: { maxAttempts: 1 } });
      } catch (error) {
        return (error as StepFailedError).failure.name;
      }
    });
    /** One crash before the first commit, then the commit of each of the next three runs is refused (a throttled write). */
    class RefusedCommits extends CrashAfterRuns {
      refused = 0;
      private refusedAtRuns = 1;
      override callFault(operation: string) {
        if (operation !== 'store.commitStep' || runs <= this.refusedAtRuns || this.refused >= 3) return undefined;
        this.refusedAtRuns = runs;
        this.refused++;
        return 'throttle' as const;
      }
    }
    const faults = new RefusedCommits(() => runs, 1);
    const env = await start({ faults, functionTimeout: '30ms', poisonAfterCrashes: 2 });
    const id = await env.client.start('once');
    // The crash is the one death; the three refused commits were errors the invocations caught, so the fifth run's result is recorded.
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 5 });
    expect([faults.crashes, faults.refused]).toEqual([1, 3]);
  });
});
