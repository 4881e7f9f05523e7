import { describe, expect, it } from 'vitest';
import {
  checkReplay,
  ChildFailedError,
  type BatchResult,
  StepFailedError,
  type OrchestrationContext,
} from '../../lib/index.js';
import { testApp } from '../support.js';
import { attempts, newApp, pendingToken, run, sleep, timerDelays, types } from './support.js';

// The examples of AWS's durable execution SDK (packages/aws-durable-execution-sdk-js-examples/src/examples),
// ported to Perdure as docs/migrating-from-aws-durable-functions.md says, each checked against the outcome
// the example's own test expects. Where Perdure differs, the comment says what AWS's test expects.

describe('hello-world', () => {
  it('returns "Hello World!" with no durable operation', async () => {
    const app = newApp();
    app.orchestration('hello-world', async (ctx) => {
      ctx.log.info('Hello world from a durable function!');
      return 'Hello World!';
    });
    const { status, history } = await run(app, 'hello-world');
    expect(status).toMatchObject({ status: 'Completed', output: 'Hello World!' });
    expect(types(history)).toEqual(['ExecutionStarted', 'ExecutionCompleted']);
  });
});

describe('step', () => {
  it('step/basic: one step, its result is the output', async () => {
    const app = newApp();
    // AWS: context.step(fn) (anonymous); Perdure requires a name.
    app.orchestration('step-basic', async (ctx) => ctx.step('step', async () => 'step completed'));
    const { status, history } = await run(app, 'step-basic');
    expect(status).toMatchObject({ status: 'Completed', output: 'step completed' });
    expect(types(history)).toEqual(['ExecutionStarted', 'ActivityScheduled', 'ActivityCompleted', 'ExecutionCompleted']);
    expect(history.find((event) => event.type === 'ActivityCompleted')).toMatchObject({ result: 'step completed' });
  });

  it('step/named: "processed: <event.data or default>"', async () => {
    const app = newApp();
    app.orchestration('step-named', async (ctx, event: { data?: unknown } | undefined) =>
      // AWS's handler reads event.data; its runner passes {} when the test gives no payload.
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- as AWS's example: an object input reads "[object Object]", which its test expects
      ctx.step('process-data', async () => `processed: ${String(event?.data || 'default')}`),
    );
    expect((await run(app, 'step-named')).status.output).toBe('processed: default');
    expect((await run(app, 'step-named', {})).status.output).toBe('processed: default');
    expect((await run(app, 'step-named', { data: { foo: 'bar' } })).status.output).toBe('processed: [object Object]');
  });

  it('step/with-retry: a strategy that allows 3 attempts, 1 s then 2 s apart; succeeds on a later attempt, fails when all 3 fail', async () => {
    /** A flaky step: fails while `failures` says so (AWS's test mocks Math.random instead). */
    const flaky = (failures: number) => {
      const app = newApp();
      let calls = 0;
      app.orchestration('step-with-retry', async (ctx) =>
        ctx.step(
          'step',
          async () => {
            if (calls++ < failures) throw new Error('Random failure');
            return 'step succeeded';
          },
          // AWS also passes semantics: StepSemantics.AtMostOncePerRetry, which Perdure does not have (steps are at least once).
          { retry: (_error, attemptCount) => (attemptCount >= 3 ? { shouldRetry: false } : { shouldRetry: true, delay: `${attemptCount}s` }) },
        ),
      );
      return app;
    };
    expect((await run(flaky(0), 'step-with-retry')).status).toMatchObject({ status: 'Completed', output: 'step succeeded' });
    const twice = await run(flaky(2), 'step-with-retry');
    expect(twice.status).toMatchObject({ status: 'Completed', output: 'step succeeded' });
    expect(attempts(twice.history)).toEqual(['step #1', 'step #2', 'step #3']);
    expect(timerDelays(twice.history)).toEqual([1_000, 2_000]);
    const always = await run(flaky(99), 'step-with-retry');
    expect(always.status).toMatchObject({ status: 'Failed', error: { name: 'StepFailedError', message: "Step 'step' failed after 3 attempts: Error: Random failure" } });
  });

  it('steps-with-retry: polls a table with a retried step and a 1 s wait, up to 5 polls', async () => {
    type Item = Record<string, { S: string }>;
    /** The DynamoDB GetItem the AWS example calls, as a list of answers (an Error is thrown); the last repeats. */
    const build = (answers: ({ Item?: Item } | Error)[]) => {
      const app = newApp();
      let calls = 0;
      const send = async () => {
        const answer = answers[Math.min(calls++, answers.length - 1)]!;
        if (answer instanceof Error) throw answer;
        return answer;
      };
      app.orchestration('steps-with-retry', async (ctx, _event: { name: string }) => {
        let item: Item | undefined;
        for (let poll = 1; poll <= 5; poll++) {
          // AWS: an anonymous step per poll; here each poll's step has the same name.
          const response = await ctx.step('get-item', () => send(), {
            retry: (_error, attemptsMade) => (attemptsMade <= 5 ? { shouldRetry: true, delay: '1s' } : { shouldRetry: false }),
          });
          if (response.Item) {
            item = response.Item;
            break;
          }
          await ctx.sleep('1s');
        }
        if (!item) throw new Error('Item Not Found');
        return item;
      });
      return app;
    };
    const found = { Item: { id: { S: 'test-item' }, data: { S: 'test-data' } } };
    expect((await run(build([found]), 'steps-with-retry', { name: 'test-item' })).status.output).toEqual(found.Item);

    const polled = await run(build([{ Item: undefined }, found]), 'steps-with-retry', { name: 'test-item' });
    expect(polled.status.output).toEqual(found.Item);
    expect(timerDelays(polled.history)).toEqual([1_000]);

    const retried = await run(build([new Error('Temporary failure'), found]), 'steps-with-retry', { name: 'test-item' });
    expect(retried.status.output).toEqual(found.Item);

    // AWS's test: errorType "StepError", errorMessage "Persistent failure" (the step's own message).
    const exhausted = await run(build([new Error('Persistent failure')]), 'steps-with-retry', { name: 'test-item' });
    expect(exhausted.status).toMatchObject({ status: 'Failed', error: { name: 'StepFailedError', message: "Step 'get-item' failed after 6 attempts: Error: Persistent failure" } });
    expect(attempts(exhausted.history)).toHaveLength(6);

    const missing = await run(build([{ Item: undefined }]), 'steps-with-retry', { name: 'test-item' });
    expect(missing.status).toMatchObject({ status: 'Failed', error: { name: 'Error', message: 'Item Not Found' } });
    expect(timerDelays(missing.history)).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
  });

  it('retry-exhaustion: 6 attempts (delays 2..6 s), then the execution fails', async () => {
    const app = newApp();
    app.orchestration('retry-exhaustion', async (ctx) => {
      await ctx.step('retries', () => Promise.reject(new Error('There was an error')), {
        retry: (_error, attemptsMade) => ({ shouldRetry: attemptsMade <= 5, delay: `${1 + attemptsMade}s` }),
      });
      return { success: true, step: 'completed' };
    });
    const { status, history } = await run(app, 'retry-exhaustion');
    // AWS's test: errorType "StepError", errorMessage "There was an error", attempt 6.
    expect(status).toMatchObject({ status: 'Failed', error: { name: 'StepFailedError', message: "Step 'retries' failed after 6 attempts: Error: There was an error" } });
    expect(attempts(history)).toEqual([1, 2, 3, 4, 5, 6].map((attempt) => `retries #${attempt}`));
    expect(timerDelays(history)).toEqual([2_000, 3_000, 4_000, 5_000, 6_000]);
  });
});

describe('wait', () => {
  it('wait/basic: waits 2 s, then returns', async () => {
    const app = newApp();
    app.orchestration('wait', async (ctx) => {
      await ctx.sleep('2s');
      return 'Function Completed';
    });
    const { status, history } = await run(app, 'wait');
    expect(status.output).toBe('Function Completed');
    expect(timerDelays(history)).toEqual([2_000]);
    expect(types(history)).toEqual(['ExecutionStarted', 'TimerCreated', 'TimerFired', 'ExecutionCompleted']);
  });

  it('multiple-waits: two named 5 s waits in a row', async () => {
    const app = newApp();
    app.orchestration('multiple-waits', async (ctx) => {
      await ctx.sleep('wait-1', '5s');
      await ctx.sleep('wait-2', '5s');
      return { completedWaits: 2, finalStep: 'done' };
    });
    const { status, history } = await run(app, 'multiple-waits');
    expect(status.output).toEqual({ completedWaits: 2, finalStep: 'done' });
    expect(timerDelays(history)).toEqual([5_000, 5_000]);
    expect(history.flatMap((event) => (event.type === 'TimerCreated' ? [event.name] : []))).toEqual(['wait-1', 'wait-2']);
  });

  it('wait/unawaited: a 1-day wait that is never awaited does not hold the result', async () => {
    const app = newApp();
    app.orchestration('wait-unawaited', async (ctx) => {
      void ctx.sleep('1d');
      // AWS's example then awaits setTimeout(1 s) "to let the wait be scheduled"; setTimeout throws in
      // Perdure orchestration code, and nothing needs it: the call is recorded when it is made.
      return 'result';
    });
    const { status, history } = await run(app, 'wait-unawaited');
    expect(status).toMatchObject({ status: 'Completed', output: 'result' });
    expect(timerDelays(history)).toEqual([86_400_000]);
    expect(types(history)).not.toContain('TimerFired');
  });
});

describe('promise combinators', () => {
  it('promise/all: three steps, all results in order', async () => {
    const app = newApp();
    app.orchestration('promise-all', async (ctx) => {
      const first = ctx.step('step 1', async () => 'result 1');
      const second = ctx.step('step 2', async () => 'result 2');
      const third = ctx.step('step 3', async () => 'result 3');
      return Promise.all([first, second, third]);
    });
    const { status, history } = await run(app, 'promise-all');
    expect(status.output).toEqual(['result 1', 'result 2', 'result 3']);
    expect(attempts(history)).toHaveLength(3);
  });

  it('promise/all-settled: one of three steps fails after 3 attempts; allSettled reports it', async () => {
    const app = newApp();
    const retry = (_error: Error, attemptCount: number) => ({ shouldRetry: attemptCount < 3, delay: '1s' });
    app.orchestration('promise-all-settled', async (ctx) => {
      const first = ctx.step('step 1', async () => 'success');
      const second = ctx.step('step 2', async () => {
        throw new Error('failure');
      }, { retry });
      const third = ctx.step('step 3', async () => 'another success');
      return Promise.allSettled([first, second, third]);
    });
    const { status } = await run(app, 'promise-all-settled');
    // AWS's test expects the rejected entry's reason to serialize as exactly { name: 'StepError' }. Perdure's
    // StepFailedError serializes its name, message and fields (code, activityName, attempts, failure with the stack).
    expect(status.output).toMatchObject([
      { status: 'fulfilled', value: 'success' },
      { status: 'rejected', reason: { name: 'StepFailedError', message: "Step 'step 2' failed after 3 attempts: Error: failure", code: 'STEP_FAILED', attempts: 3, failure: { name: 'Error', message: 'failure' } } },
      { status: 'fulfilled', value: 'another success' },
    ]);
    expect((status.output as { reason?: { failure: object } }[])[1]!.reason!.failure).toHaveProperty('stack');
  });

  it('promise/any: the first success wins; when all fail, "All promises were rejected"', async () => {
    const app = newApp();
    const retry = (_error: Error, attemptCount: number) => ({ shouldRetry: attemptCount < 3, delay: '1s' });
    app.orchestration('promise-any', async (ctx, event: { shouldFail?: boolean } = {}) => {
      const first = ctx.step('step 1', async () => {
        throw new Error('failure 1');
      }, { retry });
      const second = ctx.step('step 2', async () => {
        if (event.shouldFail) throw new Error('ERROR 1');
        return 'first success';
      }, { retry });
      const third = ctx.step('step 3', async () => {
        if (event.shouldFail) throw new Error('ERROR 2');
        return 'second success';
      }, { retry });
      return Promise.any([first, second, third]);
    });
    expect((await run(app, 'promise-any', {})).status).toMatchObject({ status: 'Completed', output: 'first success' });
    // AWS's test: errorType "StepError", errorMessage "All promises were rejected".
    expect((await run(app, 'promise-any', { shouldFail: true })).status).toMatchObject({ status: 'Failed', error: { name: 'AggregateError', message: 'All promises were rejected' } });
  });

  // Inline steps started together run concurrently, and history records their results in the order they
  // finished: the race settles on the fastest, live and on replay.
  it('promise/race: the fast step wins', async () => {
    const app = newApp();
    app.orchestration('promise-race', async (ctx) => {
      const slow = ctx.step('slow', async () => (await sleep(200), 'slow result'));
      const fast = ctx.step('fast', async () => 'fast result');
      const slower = ctx.step('slower', async () => (await sleep(300), 'slower result'));
      return Promise.race([slow, fast, slower]);
    });
    const { id, status, history } = await run(app, 'promise-race');
    expect(status).toMatchObject({ status: 'Completed', output: 'fast result' });
    expect(history.flatMap((event) => (event.type === 'ActivityCompleted' ? [event.result] : []))).toEqual(['fast result', 'slow result', 'slower result']);
    expect(await checkReplay(app, { instanceId: id, events: history })).toMatchObject({ ok: true });
  });

  it('promise/combinators: all, race, allSettled and any in one orchestration', async () => {
    const app = newApp();
    const retry = (_error: Error, attemptCount: number) => ({ shouldRetry: attemptCount < 3, delay: '1s' });
    app.orchestration('promise-combinators', async (ctx) => {
      const step1 = ctx.step('step1', async () => (await sleep(100), 'Result from step 1'));
      const step2 = ctx.step('step2', async () => (await sleep(200), 'Result from step 2'));
      const step3 = ctx.step('step3', async () => (await sleep(50), 'Result from step 3'));
      const allResults = await Promise.all([step1, step2, step3]);

      const step4 = ctx.step('step4', async () => (await sleep(300), 'Slow result'));
      const step5 = ctx.step('step5', async () => (await sleep(10), 'Fast result'));
      const raceResult = await Promise.race([step4, step5]);

      const success = ctx.step('success-step', async () => 'Success!');
      const failure = ctx.step('failure-step', async () => {
        throw new Error('This step failed');
      }, { retry });
      const settledResults = await Promise.allSettled([success, failure]);

      const fail1 = ctx.step('fail1', async () => {
        throw new Error('First failure');
      }, { retry });
      const fail2 = ctx.step('fail2', async () => {
        throw new Error('Second failure');
      }, { retry });
      const success2 = ctx.step('success2', async () => (await sleep(100), 'First success!'));
      let anyResult: string;
      try {
        anyResult = await Promise.any([fail1, fail2, success2]);
      } catch {
        anyResult = 'All promises failed';
      }
      return { message: 'Promise combinators example completed successfully', allResults, raceResult, settledResults, anyResult };
    });
    const { status } = await run(app, 'promise-combinators');
    expect(status.output).toMatchObject({
      message: 'Promise combinators example completed successfully',
      allResults: ['Result from step 1', 'Result from step 2', 'Result from step 3'],
      // AWS's test: reason exactly { name: 'StepError' }.
      settledResults: [
        { status: 'fulfilled', value: 'Success!' },
        { status: 'rejected', reason: { name: 'StepFailedError' } },
      ],
      anyResult: 'First success!',
    });
    // Fails: 'Slow result' (the race gap of promise/race above).
    expect((status.output as { raceResult: string }).raceResult).toBe('Fast result');
  });

  it('promise/unhandled-rejection: failed steps caught in combinators, some awaited only after a wait, do not fail the execution', async () => {
    const app = newApp();
    const noRetry = { retry: () => ({ shouldRetry: false }) };
    const failing = (ctx: OrchestrationContext, name: string, message: string) =>
      ctx.step(name, async () => {
        throw new Error(message);
      }, noRetry);
    app.orchestration('promise-unhandled-rejection', async (ctx) => {
      const failure = failing(ctx, 'failure-step', 'This step failed');
      await Promise.all([failure]).catch(() => {});
      await ctx.sleep('wait-after-basic', '1s');

      const step1 = failing(ctx, 'step1', 'Step 1 failed');
      const step2 = failing(ctx, 'step2', 'Step 2 failed');
      await Promise.all([step1]).catch(() => {});
      await Promise.any([step2]).catch(() => {});

      const step3 = failing(ctx, 'step3', 'Step 3 failed');
      const step4 = failing(ctx, 'step4', 'Step 4 failed');
      await Promise.all([step3]).catch(() => {});
      await ctx.sleep('wait-middle', '1s');
      await Promise.any([step4]).catch(() => {});

      const step5 = failing(ctx, 'step5', 'Step 5 failed');
      const step6 = failing(ctx, 'step6', 'Step 6 failed');
      await ctx.sleep('wait-before-final', '1s');
      await Promise.all([step5]).catch(() => {});
      await Promise.any([step6]).catch(() => {});

      const successStep = await ctx.step('success-step', async () => (await sleep(500), 'Success'));
      return { successStep, scenariosTested: ['basic-promise-all', 'immediate-combinator-usage', 'combinator-after-operations', 'combinator-after-wait-replay'] };
    });
    // No live executors: every step replays the history, so the combinators after a wait run in a replay.
    const { status } = await run(app, 'promise-unhandled-rejection', undefined, { executorCacheSize: 0 });
    expect(status).toMatchObject({
      status: 'Completed',
      output: { successStep: 'Success', scenariosTested: ['basic-promise-all', 'immediate-combinator-usage', 'combinator-after-operations', 'combinator-after-wait-replay'] },
    });
  });
});

/** What AWS's batch examples return from a BatchResult, in Perdure's names (`all` → `items`, `totalCount` → `items.length`, `hasFailure` → `failureCount > 0`). */
const summary = <T>(batch: BatchResult<T>) => ({
  successCount: batch.successCount,
  failureCount: batch.failureCount,
  totalCount: batch.items.length,
  completionReason: batch.completionReason,
  hasFailure: batch.failureCount > 0,
  failurePercentage: Math.round((batch.failureCount / batch.items.length) * 100),
  results: batch.results(),
  statuses: batch.items.map((item) => item.status),
});

describe('parallel', () => {
  it('parallel/basic: three branches, two at a time, one of them waits 1 s', async () => {
    const app = newApp();
    app.orchestration('parallel-basic', async (ctx) => {
      const batch = await ctx.parallel<string>(
        [
          (branch) => branch.step('task 1', async () => 'task 1 completed'),
          (branch) => branch.step('task 2', async () => 'task 2 completed'),
          async (branch) => {
            await branch.sleep('1s');
            return 'task 3 completed after wait';
          },
        ],
        { concurrency: 2 },
      );
      return batch.results();
    });
    const { status, history } = await run(app, 'parallel-basic');
    expect(status.output).toEqual(['task 1 completed', 'task 2 completed', 'task 3 completed after wait']);
    expect(history.filter((event) => event.type === 'ChildStarted')).toHaveLength(3);
  });

  it('parallel/min-successful: done after 2 of 4 branches succeed', async () => {
    const app = newApp();
    app.orchestration('parallel-min-successful', async (ctx) => {
      const branch = (n: number) => (c: OrchestrationContext) => c.step(`branch-${n}`, async () => (await sleep(100 * n), `Branch ${n} result`));
      const batch = await ctx.parallel([branch(1), branch(2), branch(3), branch(4)], { completion: { minSuccessful: 2 } });
      await ctx.sleep('1s');
      return summary(batch);
    });
    const { status } = await run(app, 'parallel-min-successful');
    expect(status.output).toMatchObject({ successCount: 2, completionReason: 'MIN_SUCCESSFUL_REACHED', totalCount: 4, results: ['Branch 1 result', 'Branch 2 result'] });
  });

  const fiveBranches = () =>
    [1, 2, 3, 4, 5].map((n) => (c: OrchestrationContext) =>
      c.step(
        `branch-${n}`,
        async () => {
          if (n % 2 === 0) throw new Error(`Branch ${n} failed`);
          return `Branch ${n} success`;
        },
        // AWS: retryStrategy: retryPresets.noRetry
        { retry: { maxAttempts: 1 } },
      ),
    );

  it('parallel/tolerated-failure-count: 2 failures of 5 tolerated, ALL_COMPLETED', async () => {
    const app = newApp();
    app.orchestration('parallel-tolerated-failure-count', async (ctx) => {
      const batch = await ctx.parallel(fiveBranches(), { completion: { toleratedFailureCount: 2 } });
      await ctx.sleep('1s');
      return summary(batch);
    });
    const { status } = await run(app, 'parallel-tolerated-failure-count');
    expect(status.output).toMatchObject({
      failureCount: 2,
      successCount: 3,
      completionReason: 'ALL_COMPLETED',
      hasFailure: true,
      totalCount: 5,
      statuses: ['succeeded', 'failed', 'succeeded', 'failed', 'succeeded'],
    });
  });

  it('parallel/tolerated-failure-percentage: 40 % failed of 40 % tolerated, ALL_COMPLETED', async () => {
    const app = newApp();
    app.orchestration('parallel-tolerated-failure-percentage', async (ctx) => {
      const batch = await ctx.parallel(fiveBranches(), { completion: { toleratedFailurePercentage: 40 } });
      await ctx.sleep('1s');
      return summary(batch);
    });
    const { status } = await run(app, 'parallel-tolerated-failure-percentage');
    expect(status.output).toMatchObject({
      failureCount: 2,
      successCount: 3,
      failurePercentage: 40,
      completionReason: 'ALL_COMPLETED',
      totalCount: 5,
      statuses: ['succeeded', 'failed', 'succeeded', 'failed', 'succeeded'],
    });
  });

  it('parallel/failure-threshold-exceeded-count: a third failure with 2 tolerated, FAILURE_TOLERANCE_EXCEEDED', async () => {
    const app = newApp();
    app.orchestration('parallel-failure-threshold-exceeded-count', async (ctx) => {
      const task = (n: number) => (c: OrchestrationContext) =>
        c.step(
          `task-${n}`,
          async () => {
            if (n <= 3) throw new Error(`Task ${n} failed`);
            return `Task ${n} success`;
          },
          // AWS: createRetryStrategy({ maxAttempts: 2 })
          { retry: { maxAttempts: 2 } },
        );
      const batch = await ctx.parallel([1, 2, 3, 4, 5].map(task), { completion: { toleratedFailureCount: 2 } });
      await ctx.sleep('1s');
      return summary(batch);
    });
    const { status } = await run(app, 'parallel-failure-threshold-exceeded-count');
    expect(status.output).toMatchObject({ completionReason: 'FAILURE_TOLERANCE_EXCEEDED', successCount: 2, failureCount: 3, totalCount: 5 });
  });
});

describe('map', () => {
  it('map/basic: doubles 5 items, two at a time; results survive a wait', async () => {
    const app = newApp();
    app.orchestration('map-basic', async (ctx) => {
      // AWS: context.map('map', items, (childCtx, item) => childCtx.step(...), { maxConcurrency: 2 }) → BatchResult.
      const results = await ctx.map([1, 2, 3, 4, 5], (item, index) => ctx.step(`double ${index}`, async () => item * 2), { concurrency: 2 });
      await ctx.sleep('1s');
      return results;
    });
    const { status, history } = await run(app, 'map-basic');
    expect(status.output).toEqual([2, 4, 6, 8, 10]);
    expect(attempts(history)).toHaveLength(5);
  });

  it('map/min-successful: done after 2 of 5 items succeed', async () => {
    const app = newApp();
    app.orchestration('map-min-successful', async (ctx) => {
      const batch = await ctx.map([1, 2, 3, 4, 5], (item, index) => ctx.step(`process-${index}`, async () => (await sleep(100 * item), `Item ${item} processed`)), {
        completion: { minSuccessful: 2 },
      });
      await ctx.sleep('1s');
      return summary(batch);
    });
    const { status } = await run(app, 'map-min-successful');
    expect(status.output).toMatchObject({ successCount: 2, completionReason: 'MIN_SUCCESSFUL_REACHED', totalCount: 5, results: ['Item 1 processed', 'Item 2 processed'] });
    expect((status.output as { statuses: string[] }).statuses.slice(0, 2)).toEqual(['succeeded', 'succeeded']);
  });

  // The same with the fastest items called last: the batch ends with the two that finished first.
  it('map/min-successful, variant: the fastest items are called last', async () => {
    const app = newApp();
    app.orchestration('map-min-successful-reversed', async (ctx) => {
      const batch = await ctx.map([4, 3, 2, 1], (item, index) => ctx.step(`process-${index}`, async () => (await sleep(50 * item), item)), { completion: { minSuccessful: 2 } });
      return batch.results();
    });
    expect((await run(app, 'map-min-successful-reversed')).status.output).toEqual([2, 1]);
  });

  it('map/tolerated-failure-percentage: 3 of 10 fail with 30 % tolerated, ALL_COMPLETED', async () => {
    const app = newApp();
    app.orchestration('map-tolerated-failure-percentage', async (ctx) => {
      const items = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
      const batch = await ctx.map(
        items,
        (item, index) =>
          ctx.step(
            `process-${index}`,
            async () => {
              if (item % 3 === 0) throw new Error(`Processing failed for item ${item}`);
              return `Item ${item} processed`;
            },
            { retry: { maxAttempts: 1 } },
          ),
        { completion: { toleratedFailurePercentage: 30 } },
      );
      await ctx.sleep('1s');
      return summary(batch);
    });
    const { status } = await run(app, 'map-tolerated-failure-percentage');
    expect(status.output).toMatchObject({ failureCount: 3, successCount: 7, failurePercentage: 30, completionReason: 'ALL_COMPLETED', totalCount: 10 });
    expect((status.output as { statuses: string[] }).statuses.slice(0, 6)).toEqual(['succeeded', 'succeeded', 'failed', 'succeeded', 'succeeded', 'failed']);
  });

  it('map/failure-threshold-exceeded-percentage: 3 of 5 fail with 50 % tolerated, FAILURE_TOLERANCE_EXCEEDED', async () => {
    const app = newApp();
    app.orchestration('map-failure-threshold-exceeded-percentage', async (ctx) => {
      const batch = await ctx.map(
        [1, 2, 3, 4, 5],
        (item, index) =>
          ctx.step(
            `process-${index}`,
            async () => {
              if (item <= 3) throw new Error(`Item ${item} failed`);
              return item * 2;
            },
            { retry: { maxAttempts: 2 } },
          ),
        { completion: { toleratedFailurePercentage: 50 } },
      );
      await ctx.sleep('1s');
      return summary(batch);
    });
    const { status } = await run(app, 'map-failure-threshold-exceeded-percentage');
    expect(status.output).toMatchObject({
      completionReason: 'FAILURE_TOLERANCE_EXCEEDED',
      successCount: 2,
      failureCount: 3,
      totalCount: 5,
      statuses: ['failed', 'failed', 'failed', 'succeeded', 'succeeded'],
    });
  });

  it('map/large-scale: 50 items of 100 KB each, 10 at a time, results used after a wait', async () => {
    const app = newApp();
    const bigString = (kb: number) => 'B'.repeat(kb * 1024);
    app.orchestration('map-large-scale', async (ctx) => {
      const items = Array.from({ length: 50 }, (_, index) => index + 1);
      const results = await ctx.map(
        items,
        (item, index) =>
          ctx.step(`process-item-${item}`, async () => {
            const data = bigString(100);
            return { itemId: item, index, dataSize: data.length, data, processed: true };
          }),
        { concurrency: 10 },
      );
      await ctx.sleep('wait1', '1s');
      const totalDataSize = results.reduce((sum, result) => sum + result.dataSize, 0);
      const summaryOfItems = {
        itemsProcessed: results.length,
        totalDataSizeMB: Math.round(totalDataSize / (1024 * 1024)),
        totalDataSizeBytes: totalDataSize,
        maxConcurrency: 10,
        averageItemSize: Math.round(totalDataSize / results.length),
        allItemsProcessed: results.every((result) => result.processed),
      };
      await ctx.sleep('wait2', '1s');
      return { success: true, message: 'Successfully processed 50 items with substantial data using map', summary: summaryOfItems };
    });
    const { status } = await run(app, 'map-large-scale');
    expect(status.status).toBe('Completed');
    const result = status.output as { success: boolean; summary: Record<string, number | boolean> };
    expect(result.success).toBe(true);
    expect(result.summary).toMatchObject({ itemsProcessed: 50, allItemsProcessed: true, maxConcurrency: 10 });
    expect(result.summary.totalDataSizeMB).toBeGreaterThan(4);
    expect(result.summary.totalDataSizeMB).toBeLessThan(6);
    expect(result.summary.totalDataSizeBytes).toBeGreaterThan(5_000_000);
    expect(result.summary.averageItemSize).toBeGreaterThan(100_000);
  });
});

describe('run-in-child-context', () => {
  it('run-in-child-context/basic: a child with one step returns its result', async () => {
    const app = newApp();
    // AWS: context.runInChildContext(fn) (anonymous); Perdure requires a name.
    app.orchestration('run-in-child-context', async (ctx) => ctx.child('child', (child) => child.step('child step', async () => 'child step completed')));
    const { status, history } = await run(app, 'run-in-child-context');
    expect(status.output).toBe('child step completed');
    expect(types(history)).toEqual(['ExecutionStarted', 'ChildStarted', 'ActivityScheduled', 'ActivityCompleted', 'ChildCompleted', 'ExecutionCompleted']);
    expect(history.find((event) => event.type === 'ChildCompleted')).toMatchObject({ result: 'child step completed' });
  });

  it('run-in-child-context/with-failing-step: the child fails after 3 attempts; the parent catches it and goes on', async () => {
    const app = newApp();
    let caught: unknown;
    app.orchestration('run-in-child-context-failing-step', async (ctx) => {
      try {
        await ctx.child('child-with-failure', async (child) => {
          await child.step(
            'failing-step',
            async () => {
              throw new Error('Step failed in child context');
            },
            { retry: (_error, attemptCount) => ({ shouldRetry: attemptCount < 3, delay: `${attemptCount}s` }) },
          );
        });
      } catch (error) {
        caught = error;
        // AWS: ChildContextError or StepError
        if (!(error instanceof ChildFailedError) && !(error instanceof StepFailedError)) throw error;
      }
      await ctx.sleep('wait-after-failure', '1s');
      return { success: true };
    });
    const { status, history } = await run(app, 'run-in-child-context-failing-step');
    expect(status).toMatchObject({ status: 'Completed', output: { success: true } });
    expect(caught).toBeInstanceOf(ChildFailedError);
    expect(attempts(history)).toEqual(['failing-step #1', 'failing-step #2', 'failing-step #3']);
  });

  it('run-in-child-context/large-data: a child returns ~250 KB built from 5 steps; it is intact after a wait', async () => {
    const app = newApp();
    app.orchestration('run-in-child-context-large-data', async (ctx) => {
      const large = await ctx.child('large-data-processor', async (child) => {
        const parts: string[] = [];
        for (let i = 1; i <= 5; i++) parts.push(await child.step(`generate-data-${i}`, async () => 'A'.repeat(50 * 1024)));
        const data = parts.join('');
        return { totalSize: data.length, sizeInKB: Math.round(data.length / 1024), data, stepSizes: parts.map((part) => part.length) };
      });
      await ctx.sleep('post-processing-wait', '1s');
      const dataIntegrityCheck = large.data.length === large.totalSize && large.data.length > 0;
      return {
        success: true,
        dataIntegrityCheck,
        summary: { totalDataSize: large.sizeInKB, stepsExecuted: 5, childContextUsed: true, waitExecuted: true, dataPreservedAcrossWait: dataIntegrityCheck },
      };
    });
    const { status } = await run(app, 'run-in-child-context-large-data');
    expect(status.status).toBe('Completed');
    const result = status.output as { success: boolean; dataIntegrityCheck: boolean; summary: { totalDataSize: number } };
    expect(result).toMatchObject({ success: true, dataIntegrityCheck: true, summary: { stepsExecuted: 5, childContextUsed: true, waitExecuted: true, dataPreservedAcrossWait: true } });
    expect(result.summary.totalDataSize).toBeGreaterThan(240);
  });
});

describe('create-callback', () => {
  const createCallbackApp = () => {
    const { app, start } = testApp();
    // AWS: const [promise, callbackId] = await context.createCallback<string>(); ... return await promise;
    app.orchestration('create-callback', async (ctx) => {
      const callback = ctx.createCallback<string | undefined>();
      ctx.log.info('Send this callbackId to external system', { callbackId: callback.id });
      return callback.promise;
    });
    return start;
  };

  it('create-callback/simple: the result the outside system sends (also undefined); a failure fails the execution', async () => {
    for (const result of ['successful', undefined]) {
      const env = await createCallbackApp()();
      const id = await env.client.start('create-callback');
      expect(await env.client.completeCallback(await pendingToken(env, id), result)).toBe('recorded');
      const status = await env.client.waitForCompletion(id);
      expect(status.status).toBe('Completed');
      expect(status.output).toStrictEqual(result);
    }

    const env = await createCallbackApp()();
    const id = await env.client.start('create-callback');
    await env.client.failCallback(await pendingToken(env, id), { message: 'ERROR' });
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Failed', error: { name: 'CallbackFailedError' } });
  });

  it('create-callback/simple: a failure sent without an error object fails the execution', async () => {
    const env = await createCallbackApp()();
    const id = await env.client.start('create-callback');
    await env.client.failCallback(await pendingToken(env, id));
    expect(await env.client.waitForCompletion(id)).toMatchObject({
      status: 'Failed',
      error: { name: 'CallbackFailedError', message: expect.stringContaining('The outside system failed the callback without giving an error.') },
    });
  });

  it('create-callback/timeout: no heartbeat within 1 s, or no answer within 1 s, fails the execution', async () => {
    const { app, start } = testApp();
    app.orchestration('create-callback-timeout', async (ctx, event: { timeoutType?: 'heartbeat' | 'general' }) => {
      const callback = ctx.createCallback({ name: 'long-running-task', ...(event.timeoutType === 'heartbeat' ? { heartbeatTimeout: '1s' } : { timeout: '1s' }) });
      return { longTaskResult: await callback.promise };
    });
    const env = await start();
    // AWS's test: errorType "CallbackError", errorMessage "Callback timed out on heartbeat" / "Callback timed out".
    const heartbeat = await env.client.waitForCompletion(await env.client.start('create-callback-timeout', { timeoutType: 'heartbeat' }));
    expect(heartbeat).toMatchObject({ status: 'Failed', error: { name: 'CallbackTimeoutError' } });
    expect(heartbeat.error!.message).toMatch(/long-running-task.*heartbeat/i);
    const general = await env.client.waitForCompletion(await env.client.start('create-callback-timeout', { timeoutType: 'general' }));
    expect(general).toMatchObject({ status: 'Failed', error: { name: 'CallbackTimeoutError' } });
    expect(general.error!.message).toMatch(/long-running-task/);
  });

  it('create-callback/failures: the outside system fails the callback; the execution fails with its message', async () => {
    const { app, start } = testApp();
    app.orchestration('create-callback-failures', async (ctx, event: { shouldCatchError?: boolean }) => {
      if (event.shouldCatchError) {
        try {
          await ctx.createCallback({ name: 'failing-operation', timeout: '60s' }).promise;
          return { success: true };
        } catch (error) {
          return { success: false, error: error instanceof Error ? error.message : String(error) };
        }
      }
      await ctx.createCallback({ name: 'failing-operation' }).promise;
      return { success: true };
    });
    const env = await start();
    const id = await env.client.start('create-callback-failures', { shouldCatchError: false });
    await env.client.failCallback(await pendingToken(env, id, 'failing-operation'), { name: 'APIException', message: 'External API failure' });
    // AWS's test: { errorMessage: 'External API failure', errorType: 'CallbackError' }.
    expect(await env.client.waitForCompletion(id)).toMatchObject({
      status: 'Failed',
      error: { name: 'CallbackFailedError', message: "Callback 'failing-operation' was failed by the outside system: APIException: External API failure" },
    });
  });
});

describe('wait-for-callback', () => {
  it('wait-for-callback/basic: the result sent through the token; a failure fails the execution; silence fails it after 5 s', async () => {
    const { app, start } = testApp();
    app.orchestration('wait-for-callback', async (ctx) => {
      const result = await ctx.waitForCallback('my callback function', async () => {}, { timeout: '5s' });
      return result;
    });
    const env = await start();
    const succeeded = await env.client.start('wait-for-callback');
    await env.client.completeCallback(await pendingToken(env, succeeded, 'my callback function'), 'succeeded');
    expect(await env.client.waitForCompletion(succeeded)).toMatchObject({ status: 'Completed', output: 'succeeded' });

    const failed = await env.client.start('wait-for-callback');
    await env.client.failCallback(await pendingToken(env, failed, 'my callback function'), { message: 'ERROR' });
    expect(await env.client.waitForCompletion(failed)).toMatchObject({ status: 'Failed', error: { name: 'CallbackFailedError' } });

    const silent = await env.client.start('wait-for-callback');
    expect(await env.client.waitForCompletion(silent)).toMatchObject({ status: 'Failed', error: { name: 'CallbackTimeoutError' } });
  });

  it('wait-for-callback/timeout: the 1 s timeout is caught and returned as { success: false, error }', async () => {
    const app = newApp();
    app.orchestration('wait-for-callback-timeout', async (ctx) => {
      try {
        // AWS: context.waitForCallback(submitter, { timeout }) (anonymous); Perdure requires a name.
        const result = await ctx.waitForCallback('callback', async () => {}, { timeout: '1s' });
        return { callbackResult: result, success: true };
      } catch (error) {
        return { success: false, error: error instanceof Error ? error.message : String(error) };
      }
    });
    const { status } = await run(app, 'wait-for-callback-timeout', { test: 'timeout-scenario' });
    expect(status.output).toEqual({ success: false, error: expect.any(String) });
  });

  it('wait-for-callback/submitter-failure-catchable: a submitter that fails 3 times is caught', async () => {
    const app = newApp();
    app.orchestration('wait-for-callback-submitter-failure-catchable', async (ctx) => {
      try {
        const result = await ctx.waitForCallback(
          'failing-submitter-callback',
          async () => {
            await sleep(50);
            throw new Error('Submitter failed');
          },
          { retry: (_error, attemptCount) => ({ shouldRetry: attemptCount < 3, delay: '1s' }) },
        );
        return { callbackResult: result, success: true };
      } catch (error) {
        return { success: false, error: error instanceof Error ? error.message : String(error) };
      }
    });
    const { status, history } = await run(app, 'wait-for-callback-submitter-failure-catchable');
    expect(status.output).toEqual({ success: false, error: expect.stringContaining('Submitter failed') });
    expect(attempts(history)).toHaveLength(3);
  });

  it('wait-for-callback/nested: callbacks in the parent, a child and a grandchild (after a 5 s wait), answered in turn', async () => {
    const { app, start } = testApp();
    app.orchestration('wait-for-callback-nested', async (ctx) => {
      const outerCallback = await ctx.waitForCallback<string>('outer-callback-op', async () => {});
      const nestedResults = await ctx.child('outer-child-context', async (outer) => {
        const innerCallback = await outer.waitForCallback<string>('inner-callback-op', async () => {});
        const deepNested = await outer.child('inner-child-context', async (inner) => {
          await inner.sleep('deep-wait', '5s');
          const nestedCallback = await inner.waitForCallback<string>('nested-callback-op', async () => {});
          return { nestedCallback, deepLevel: 'inner-child' };
        });
        return { innerCallback, deepNested, level: 'outer-child' };
      });
      return { outerCallback, nestedResults };
    });
    const env = await start();
    const id = await env.client.start('wait-for-callback-nested');
    // AWS's callbacks answer a string (JSON text), and the SDK hands the raw string over; Perdure hands over the JSON value sent, here the same string.
    const outer = JSON.stringify({ level: 'outer-completed' });
    const inner = JSON.stringify({ level: 'inner-completed' });
    const nested = JSON.stringify({ level: 'nested-completed' });
    await env.client.completeCallback(await pendingToken(env, id, 'outer-callback-op'), outer);
    await env.client.completeCallback(await pendingToken(env, id, 'inner-callback-op'), inner);
    await env.client.completeCallback(await pendingToken(env, id, 'nested-callback-op'), nested);
    expect((await env.client.waitForCompletion(id)).output).toEqual({
      outerCallback: outer,
      nestedResults: { innerCallback: inner, deepNested: { nestedCallback: nested, deepLevel: 'inner-child' }, level: 'outer-child' },
    });
  });

  it('wait-for-callback/child-context: a callback in the parent, then a wait and a callback in a child', async () => {
    const { app, start } = testApp();
    app.orchestration('wait-for-callback-child-context', async (ctx) => {
      const parentResult = await ctx.waitForCallback<string>('parent-callback-op', async () => {});
      const childContextResult = await ctx.child('child-context-with-callback', async (child) => {
        await child.sleep('child-wait', '1s');
        const childResult = await child.waitForCallback<string>('child-callback-op', async () => {});
        return { childResult, childProcessed: true };
      });
      return { parentResult, childContextResult };
    });
    const env = await start();
    const id = await env.client.start('wait-for-callback-child-context', { test: 'child-context-callbacks' });
    const parent = JSON.stringify({ parentData: 'parent-completed' });
    const child = JSON.stringify({ childData: 42 });
    await env.client.completeCallback(await pendingToken(env, id, 'parent-callback-op'), parent);
    await env.client.completeCallback(await pendingToken(env, id, 'child-callback-op'), child);
    expect((await env.client.waitForCompletion(id)).output).toEqual({ parentResult: parent, childContextResult: { childResult: child, childProcessed: true } });
    const history = await env.client.getHistory(id);
    const childStarted = history.find((event) => event.type === 'ChildStarted')!;
    // The child's wait and callback are under the child (its own scope).
    expect(history.filter((event) => 'scope' in event && event.scope === childStarted.taskId && (event.type === 'TimerCreated' || event.type === 'CallbackCreated')).map((event) => event.type)).toEqual(['TimerCreated', 'CallbackCreated']);
  });
});

describe('wait-for-condition', () => {
  it('wait-for-condition: counts to 3, checking that the state matches the attempt each time', async () => {
    const app = newApp();
    app.orchestration('wait-for-condition', async (ctx) =>
      ctx.waitForCondition(async (state: number) => state + 1, {
        initialState: 0,
        waitStrategy: (state, attempt) => {
          if (state !== attempt) throw new Error('State does not match attempt');
          return state >= 3 ? { shouldContinue: false } : { shouldContinue: true, delay: '1s' };
        },
      }),
    );
    const { status, history } = await run(app, 'wait-for-condition');
    expect(status).toMatchObject({ status: 'Completed', output: 3 });
    expect(attempts(history)).toEqual(['waitForCondition #1 #1', 'waitForCondition #2 #1', 'waitForCondition #3 #1']);
    expect(timerDelays(history)).toEqual([1_000, 1_000]);
  });
});

describe('invoke', () => {
  /** The functions AWS's invoke test registers, as orchestrations of the same app (Perdure's sub-orchestrations). */
  function invokeApp() {
    const { app, start } = testApp();
    app.orchestration('invoke-simple', async (ctx, event: { functionName: string; payload?: unknown }) =>
      // AWS: context.invoke(event.functionName, event.payload)
      ctx.callSubOrchestration(event.functionName, event.payload),
    );
    app.orchestration('wait-named', async (ctx) => {
      await ctx.sleep('wait-2-seconds', '2s');
      return 'wait finished';
    });
    app.orchestration('step-named', async (ctx, event: { data?: unknown } | undefined) =>
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- as AWS's example
      ctx.step('process-data', async () => `processed: ${String(event?.data || 'default')}`),
    );
    app.orchestration('handler-error', async () => {
      throw new Error('Intentional handler failure');
    });
    // AWS invokes a plain (non-durable) Lambda function too. Perdure can only start orchestrations of its own
    // app; the guide says to call other functions from a step or an activity. Here the plain handler is an
    // activity, behind an orchestration of the same name so that the generic invoke port can reach it.
    app.activity('non-durable', nonDurableHandler);
    app.orchestration('non-durable', async (ctx, event: { failure?: boolean } | undefined) => ctx.callActivity('non-durable', event ?? {}));
    return start;
  }

  it('invoke/simple: the child\'s result, or its failure as the parent\'s error', async () => {
    const env = await invokeApp()();
    const runInvoke = async (payload: unknown) => env.client.waitForCompletion(await env.client.start('invoke-simple', payload));
    expect(await runInvoke({ functionName: 'wait-named' })).toMatchObject({ status: 'Completed', output: 'wait finished' });
    expect(await runInvoke({ functionName: 'step-named', payload: { data: 'data from parent' } })).toMatchObject({ status: 'Completed', output: 'processed: data from parent' });
    // AWS's test: { errorMessage: 'Intentional handler failure', errorType: 'InvokeError' }.
    const failed = await runInvoke({ functionName: 'handler-error' });
    expect(failed).toMatchObject({ status: 'Failed', error: { name: 'SubOrchestrationFailedError' } });
    expect(failed.error!.message).toMatch(/^Sub-orchestration 'handler-error' \(instance '.+'\) failed: Error: Intentional handler failure$/);
    expect(await runInvoke({ functionName: 'non-durable' })).toMatchObject({ status: 'Completed', output: { status: 200, body: JSON.stringify({ message: 'Hello from Lambda!' }) } });
    // AWS's test: { errorMessage: 'This is a failure', errorType: 'InvokeError' }.
    const nonDurableFailed = await runInvoke({ functionName: 'non-durable', payload: { failure: true } });
    expect(nonDurableFailed).toMatchObject({ status: 'Failed', error: { name: 'SubOrchestrationFailedError' } });
    expect(nonDurableFailed.error!.message).toMatch(/failed: ActivityFailedError: Activity 'non-durable' failed after 1 attempt: Error: This is a failure$/);
  });
});

/** AWS's non-durable example: a plain Lambda handler. */
async function nonDurableHandler(event: { failure?: boolean }) {
  if (event.failure) throw new Error('This is a failure');
  await sleep(50); // AWS: 1 s
  return { status: 200, body: JSON.stringify({ message: 'Hello from Lambda!' }) };
}

describe('non-durable', () => {
  it('non-durable: a plain function, run as an activity, succeeds or fails', async () => {
    // AWS's example has no test of its own (invoke/simple calls it). Perdure has no non-durable function: a
    // plain handler is an activity (or the function of a ctx.step).
    const { app, start } = testApp();
    app.activity('non-durable', nonDurableHandler);
    app.orchestration('call-non-durable', async (ctx, event: { failure?: boolean }) => ctx.callActivity('non-durable', event));
    const env = await start();
    expect(await env.client.waitForCompletion(await env.client.start('call-non-durable', {}))).toMatchObject({ status: 'Completed', output: { status: 200 } });
    expect(await env.client.waitForCompletion(await env.client.start('call-non-durable', { failure: true }))).toMatchObject({
      status: 'Failed',
      error: { name: 'ActivityFailedError', message: "Activity 'non-durable' failed after 1 attempt: Error: This is a failure" },
    });
  });
});

describe('results and errors', () => {
  it('undefined-results: a step and a child that return undefined, then a wait', async () => {
    const app = newApp();
    app.orchestration('undefined-results', async (ctx) => {
      await ctx.step('fetch-user', () => Promise.resolve(undefined));
      await ctx.child('parent', () => Promise.resolve(undefined));
      await ctx.sleep('1s');
      return 'result';
    });
    const { status, history, id } = await run(app, 'undefined-results');
    expect(status).toMatchObject({ status: 'Completed', output: 'result' });
    // Every event is there, but not in this order: a child that ends in the step it started in is recorded
    // ChildCompleted before ChildStarted (lib/core/replay.ts takeDecisions puts completions before new calls).
    // Replay is not affected (checked below).
    expect(types(history).sort()).toEqual(['ExecutionStarted', 'ActivityScheduled', 'ActivityCompleted', 'ChildStarted', 'ChildCompleted', 'TimerCreated', 'TimerFired', 'ExecutionCompleted'].sort());
    expect(await checkReplay(app, { instanceId: id, events: history })).toMatchObject({ ok: true });
    expect(history.find((event) => event.type === 'ActivityCompleted')).toMatchObject({ result: undefined });
    expect(history.find((event) => event.type === 'ChildCompleted')).toMatchObject({ result: undefined });
    expect(timerDelays(history)).toEqual([1_000]);
  });

  it('error-determinism: a step error caught before a wait looks the same after replay', async () => {
    class CustomBusinessError extends Error {
      constructor(
        message: string,
        readonly errorCode: string,
      ) {
        super(message);
        this.name = 'CustomBusinessError';
      }
    }
    const { app, start } = testApp();
    app.orchestration('error-determinism', async (ctx) => {
      let stepError: StepFailedError | undefined;
      try {
        await ctx.step('failing-step', async () => {
          throw new CustomBusinessError('Business validation failed', 'VALIDATION_ERROR');
        });
      } catch (error) {
        stepError = error as StepFailedError;
      }
      const props = () => ({
        isStepError: stepError instanceof StepFailedError,
        message: stepError?.message,
        causeName: (stepError?.cause as Error | undefined)?.name,
        causeMessage: (stepError?.cause as Error | undefined)?.message,
      });
      const before = await ctx.step('check-before-replay', async () => props());
      await ctx.sleep('1s');
      const after = await ctx.step('check-after-replay', async () => props());
      const isDeterministic = await ctx.step('verify-determinism', async () => JSON.stringify(before) === JSON.stringify(after));
      return { isDeterministic, errorPropsBeforeReplay: before, errorPropsAfterReplay: after };
    });
    // No live executors: every step replays the whole history, so the error after the wait is the one rebuilt from history.
    const env = await start({ executorCacheSize: 0 });
    const status = await env.client.waitForCompletion(await env.client.start('error-determinism'));
    // AWS's recorded result: { isStepError: true, message: 'Business validation failed', causeName: 'CustomBusinessError', causeMessage: 'Business validation failed' }.
    const props = { isStepError: true, message: "Step 'failing-step' failed after 3 attempts: CustomBusinessError: Business validation failed", causeName: 'CustomBusinessError', causeMessage: 'Business validation failed' };
    expect(status.output).toEqual({ isDeterministic: true, errorPropsBeforeReplay: props, errorPropsAfterReplay: props });
  });

  it('handler-error: the handler throws before any operation; the execution fails with its error', async () => {
    const app = newApp();
    app.orchestration('handler-error', async () => {
      throw new Error('Intentional handler failure');
    });
    const { status, history } = await run(app, 'handler-error', { test: 'error-case' });
    expect(status).toMatchObject({ status: 'Failed', error: { name: 'Error', message: 'Intentional handler failure' } });
    expect(types(history)).toEqual(['ExecutionStarted', 'ExecutionFailed']);
  });
});

describe('comprehensive-operations', () => {
  it('comprehensive-operations: a step, a wait, a map and a parallel, their batch results in the output', async () => {
    const app = newApp();
    app.orchestration('comprehensive-operations', async (ctx) => {
      const step1 = await ctx.step('step1', async () => 'Step 1 completed successfully');
      await ctx.sleep('1s');
      // AWS's map returns a BatchResult; Perdure's only with a completion policy ({} tolerates every failure, as AWS's default does not).
      const mapResults = await ctx.map([1, 2, 3, 4, 5], (item, index) => ctx.step(`map-step-${index}`, async () => item), { completion: {} });
      const parallelResults = await ctx.parallel<string>([
        (c) => c.step('fruit-step-1', async () => 'apple'),
        (c) => c.step('fruit-step-2', async () => 'banana'),
        (c) => c.step('fruit-step-3', async () => 'orange'),
      ]);
      return {
        step1,
        waitCompleted: true,
        mapResults,
        parallelResults,
        summary: { totalOperations: 4, stepResult: step1, numbersProcessed: mapResults, fruitsSelected: parallelResults },
      };
    });
    const { status, history } = await run(app, 'comprehensive-operations');
    type Batch = { items: { result: unknown }[]; completionReason: string };
    const result = status.output as { step1: string; waitCompleted: boolean; mapResults: Batch; parallelResults: Batch; summary: { totalOperations: number; stepResult: string; numbersProcessed: Batch; fruitsSelected: Batch } };
    expect(result.step1).toBe('Step 1 completed successfully');
    expect(result.waitCompleted).toBe(true);
    // AWS's BatchResult serializes as `all`; Perdure's as `items`.
    expect(result.mapResults.items.map((item) => item.result)).toEqual([1, 2, 3, 4, 5]);
    expect(result.mapResults.completionReason).toBe('ALL_COMPLETED');
    expect(result.parallelResults.items.map((item) => item.result)).toEqual(['apple', 'banana', 'orange']);
    expect(result.parallelResults.completionReason).toBe('ALL_COMPLETED');
    expect(result.summary.totalOperations).toBe(4);
    expect(result.summary.numbersProcessed.items.map((item) => item.result)).toEqual([1, 2, 3, 4, 5]);
    expect(result.summary.fruitsSelected.items.map((item) => item.result)).toEqual(['apple', 'banana', 'orange']);
    expect(timerDelays(history)).toEqual([1_000]);
    const steps = history.flatMap((event) => (event.type === 'ActivityScheduled' ? [event.name] : []));
    expect(steps).toEqual(['step1', 'map-step-0', 'map-step-1', 'map-step-2', 'map-step-3', 'map-step-4', 'fruit-step-1', 'fruit-step-2', 'fruit-step-3']);
  });
});


describe("AWS's spellings, taken as written or refused with a way out", () => {
  it('createCallback(name, options): the name first, as AWS writes it, with its timeout applied', async () => {
    const app = newApp();
    app.orchestration('named-callback', async (ctx) => {
      const callback = ctx.createCallback<string>('long-running-task', { timeout: '1s' });
      return callback.promise;
    });
    const { status, history } = await run(app, 'named-callback');
    expect(history.find((event) => event.type === 'CallbackCreated')).toMatchObject({ name: 'long-running-task' });
    expect(status).toMatchObject({ status: 'Failed', error: { name: 'CallbackTimeoutError', message: expect.stringContaining("Callback 'long-running-task'") } });
  });

  it('durations as objects: sleep(name, { seconds }), a retry delay of { minutes }', async () => {
    const app = newApp();
    let runs = 0;
    app.orchestration('object-durations', async (ctx) => {
      await ctx.sleep('wait-1', { seconds: 5 });
      await ctx.sleep({ minutes: 1, seconds: 30 }, { name: 'wait-2' });
      return ctx.step('flaky', async () => (++runs < 2 ? Promise.reject(new Error('not yet')) : 'done'), { retry: { maxAttempts: 2, initialInterval: { minutes: 2 } } });
    });
    const { status, history } = await run(app, 'object-durations');
    expect(status).toMatchObject({ status: 'Completed', output: 'done' });
    expect(timerDelays(history)).toEqual([5_000, 90_000, 120_000]);
  });

  it('an anonymous step fails the instance with an error that says to name it', async () => {
    const app = newApp();
    app.orchestration('anonymous-step', async (ctx) => (ctx.step as unknown as (fn: () => Promise<string>) => Promise<string>)(async () => 'x'));
    const { status } = await run(app, 'anonymous-step');
    expect(status).toMatchObject({ status: 'Failed', error: { name: 'ValidationError', message: expect.stringMatching(/^Missing step name: a function was passed where the name goes\. Pass the name first/) } });
  });
});
