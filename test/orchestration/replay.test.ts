import { describe, expect, it } from 'vitest';
import { createApp, DeterminismViolationError, HistoryLimitError, NonDeterminismError, silentLogger, TestEnvironment, type HistoryEvent } from '../../lib/index.js';
import { eventTypes, testApp } from '../support.js';

describe('replay', () => {
  it('never re-runs a completed activity, even when every step replays the whole history', async () => {
    const { app, start } = testApp();
    const invocations = new Map<number, number>();
    let orchestrationRuns = 0;
    app.activity('step', async (n: number) => {
      invocations.set(n, (invocations.get(n) ?? 0) + 1);
      return n;
    });
    app.orchestration('steps', async (ctx) => {
      orchestrationRuns++;
      let sum = 0;
      for (let i = 0; i < 10; i++) sum += await ctx.callActivity<number>('step', i);
      return sum;
    });
    const env = await start({ executorCacheSize: 0 });
    const status = await env.client.waitForCompletion(await env.client.start('steps'));
    expect(status.output).toBe(45);
    expect(orchestrationRuns).toBe(11);
    expect([...invocations.values()]).toEqual(Array(10).fill(1));
  });

  it('a warm executor applies only new events: the code runs once across all steps', async () => {
    const { app, start } = testApp();
    let orchestrationRuns = 0;
    app.activity('step', async (n: number) => n);
    app.orchestration('steps', async (ctx) => {
      orchestrationRuns++;
      for (let i = 0; i < 10; i++) await ctx.callActivity('step', i);
    });
    const env = await start();
    await env.client.waitForCompletion(await env.client.start('steps'));
    expect(orchestrationRuns).toBe(1);
  });

  it('ctx.now/random/uuid and Date/Math.random/crypto.randomUUID are identical on every replay', async () => {
    const { app, start } = testApp();
    const seen: unknown[] = [];
    app.activity('record', async (values: unknown) => values);
    app.orchestration('dice', async (ctx) => {
      const values = {
        now: ctx.now().toISOString(),
        random: ctx.random(),
        uuid: ctx.uuid(),
        dateNow: Date.now(),
        newDate: new Date().toISOString(),
        mathRandom: Math.random(),
        randomUUID: crypto.randomUUID(),
      };
      seen.push(values);
      await ctx.callActivity('record', values);
      await ctx.sleep('1d');
      await ctx.callActivity('record', values);
      return values;
    });
    const env = await start({ executorCacheSize: 0 });
    const id = await env.client.start('dice');
    const status = await env.client.waitForCompletion(id);
    expect(seen.length).toBeGreaterThanOrEqual(4);
    for (const values of seen) expect(values).toEqual(status.output);
    const scheduled = (await env.client.getHistory(id)).filter((e) => e.type === 'ActivityScheduled');
    expect(scheduled.map((e) => (e).input)).toEqual([status.output, status.output]);
    const output = status.output as { now: string; newDate: string; dateNow: number; uuid: string; randomUUID: string };
    expect(output.newDate).toBe(output.now);
    expect(output.dateNow).toBe(Date.parse(output.now));
    expect(output.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(output.uuid).not.toBe(output.randomUUID);
  });

  it('holds an instance whose code no longer matches its history, with a message that says where and what to do', async () => {
    const { app, start } = testApp();
    let firstCall = 'reserveStock';
    app.activity('reserveStock', async () => 'reserved');
    app.activity('chargeCard', async () => 'charged');
    app.orchestration('order', async (ctx) => {
      await ctx.callActivity(firstCall);
      await ctx.waitForEvent('approval');
      return 'done';
    });
    const env = await start();
    const id = await env.client.start('order', null, { instanceId: 'order-7' });
    await env.idle();

    firstCall = 'chargeCard'; // an incompatible deploy
    env.forceReplay();
    await env.client.raiseEvent(id, 'approval', true);
    const held = await env.client.waitForCompletion(id);
    expect(held.status).toBe('Quarantined');
    expect(held.error?.name).toBe('NonDeterminismError');
    expect(held.error?.message).toMatch(
      /^Orchestration 'order' version 1 \(instance 'order-7'\) no longer matches its history at position 1 \(history event 3\): history recorded callActivity\('reserveStock'\), the code asked for callActivity\('chargeCard'\) \(at .*replay\.test\.ts:\d+:\d+\)\. Deploy the change as a new version/,
    );
    expect(held.error?.message).toContain("ctx.patched('<change-id>')");
    expect(new NonDeterminismError('x').code).toBe('NON_DETERMINISM');
    expect(eventTypes(await env.client.getHistory(id))).toEqual(['ExecutionStarted', 'ActivityScheduled', 'ActivityCompleted']);

    firstCall = 'reserveStock'; // the fix is deployed
    await env.client.resume(id);
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'done' });
  });

  it('reports code that stops making a call history recorded', async () => {
    const { app, start } = testApp();
    let skipLookup = false;
    app.activity('lookup', async () => 1);
    app.orchestration('shrinking', async (ctx) => {
      if (!skipLookup) await ctx.callActivity('lookup');
      return ctx.waitForEvent('go');
    });
    const env = await start();
    const id = await env.client.start('shrinking');
    await env.idle();
    skipLookup = true;
    env.forceReplay();
    await env.client.raiseEvent(id, 'go');
    const held = await env.client.waitForCompletion(id);
    expect(held.error?.message).toContain("history recorded callActivity('lookup'), the code asked for nothing there: it is waiting on other calls");
  });

  it('reports code that awaits a promise Perdure does not control instead of hanging', async () => {
    const { app, start } = testApp();
    app.orchestration('stuck', async () => {
      await new Promise(() => {});
    });
    app.orchestration('fetcher', async () => {
      await fetch('http://127.0.0.1:9/');
    });
    const env = await start();
    const stuck = await env.client.waitForCompletion(await env.client.start('stuck'));
    expect(stuck.status).toBe('Quarantined');
    expect(stuck.error?.name).toBe(DeterminismViolationError.name);
    expect(stuck.error?.message).toContain('awaits a promise Perdure does not control');
    const fetcher = await env.client.waitForCompletion(await env.client.start('fetcher'));
    expect(fetcher.status).toBe('Quarantined');
    expect(fetcher.error?.message).toContain('called fetch, which would make replay diverge: do I/O in an activity');
  });

  it('reports setTimeout in orchestration code even when the code catches the error', async () => {
    const { app, start } = testApp();
    app.orchestration('timer', async () => {
      try {
        setTimeout(() => {}, 10);
      } catch {
        // swallowed by the user's code: the step is still not committed
      }
      return 'ok';
    });
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('timer'));
    expect(status.status).toBe('Quarantined');
    expect(status.error?.message).toContain('called setTimeout');
  });
});

describe('versioning', () => {
  it('keeps an instance on the version it started with while new starts take the latest', async () => {
    const { app, start } = testApp();
    app.orchestration('greet', async (ctx) => `v1:${await ctx.waitForEvent<string>('name')}`, { version: 1 });
    const env = await start();
    const old = await env.client.start('greet');
    await env.idle();

    app.orchestration('greet', async (ctx) => `v2:${await ctx.waitForEvent<string>('name')}`, { version: 2 });
    env.forceReplay();
    const fresh = await env.client.start('greet');
    const pinned = await env.client.start('greet', null, { version: 1 });
    await env.idle();
    for (const id of [old, fresh, pinned]) await env.client.raiseEvent(id, 'name', 'Ada');

    expect(await env.client.waitForCompletion(old)).toMatchObject({ version: '1', output: 'v1:Ada' });
    expect(await env.client.waitForCompletion(fresh)).toMatchObject({ version: '2', output: 'v2:Ada' });
    expect(await env.client.waitForCompletion(pinned)).toMatchObject({ version: '1', output: 'v1:Ada' });
  });

  it('holds instances of a version that is no longer registered instead of failing them', async () => {
    const { app, start } = testApp();
    app.orchestration('job', async (ctx) => ctx.waitForEvent('go'), { version: '2024-01' });
    const env = await start();
    const id = await env.client.start('job');
    await env.idle();
    await env.close();

    const redeployed = createApp({ logger: silentLogger });
    redeployed.orchestration('job', async (ctx) => ctx.waitForEvent('go'), { version: '2024-02' });
    const next = await TestEnvironment.create(redeployed, { store: env.store });
    await next.client.raiseEvent(id, 'go');
    const status = await next.client.waitForCompletion(id);
    await next.close();
    expect(status.status).toBe('Quarantined');
    expect(status.error?.message).toBe(
      "Orchestration 'job' has no version 2024-01 registered (registered: 2024-02). Instances pinned to a version need it registered until they finish: keep it in the app, or terminate them.",
    );
  });

  it('ctx.patched takes the old path for instances already past it and the new path (recorded) for new runs', async () => {
    const { app, start } = testApp();
    let deployed: 'old' | 'new' = 'old';
    const extraCalls: string[] = [];
    app.activity('prepare', async () => 'ok');
    app.activity('extra', async (_: unknown, actx) => void extraCalls.push(actx.instanceId));
    app.orchestration('flow', async (ctx) => {
      await ctx.callActivity('prepare');
      let path = 'old';
      if (deployed === 'new' && ctx.patched('add-extra')) {
        await ctx.callActivity('extra');
        path = 'new';
      }
      await ctx.waitForEvent('finish');
      return path;
    });
    const env = await start({ executorCacheSize: 0 });
    const before = await env.client.start('flow', null, { instanceId: 'before' });
    await env.idle();

    deployed = 'new';
    const after = await env.client.start('flow', null, { instanceId: 'after' });
    await env.idle();
    await env.client.raiseEvent(before, 'finish');
    await env.client.raiseEvent(after, 'finish');

    expect((await env.client.waitForCompletion(before)).output).toBe('old');
    expect((await env.client.waitForCompletion(after)).output).toBe('new');
    expect(extraCalls).toEqual(['after']);
    expect((await env.client.getHistory(after)).some((e) => e.type === 'PatchMarker' && e.changeId === 'add-extra')).toBe(true);
    expect((await env.client.getHistory(before)).some((e) => e.type === 'PatchMarker')).toBe(false);
  });
});

describe('history guardrails', () => {
  it('suggests continueAsNew and warns before the limit, then fails the instance at the limit', async () => {
    const { app, log, start } = testApp({ maxHistoryEvents: 50 });
    const suggestions: boolean[] = [];
    app.activity('tick', async () => 1);
    app.orchestration('endless', async (ctx) => {
      for (;;) {
        suggestions.push(ctx.isContinueAsNewSuggested);
        await ctx.callActivity('tick');
      }
    });
    const env = await start();
    const id = await env.client.start('endless', null, { instanceId: 'endless-1' });
    const status = await env.client.waitForCompletion(id);
    expect(status.status).toBe('Failed');
    expect(status.error?.name).toBe(HistoryLimitError.name);
    expect(status.error?.message).toMatch(/^The history of instance 'endless-1' \(orchestration 'endless' version 1\) reached 5\d events, over the limit of 50\. Call ctx\.continueAsNew/);
    expect(suggestions[0]).toBe(false);
    expect(suggestions.at(-1)).toBe(true);
    expect(log.lines.filter((line) => line.level === 'warn' && line.message.startsWith('history is getting long'))).toHaveLength(1);
    expect((await env.client.getHistory(id)).length).toBeLessThanOrEqual(52);
  });
});

describe('warm and cold replay', () => {
  it('record the same history for the same run of a complex orchestration', async () => {
    const shape = (history: HistoryEvent[]) =>
      history.map((e) => {
        const { timestamp: _t, ...rest } = e as HistoryEvent & { fireAt?: number };
        if ('fireAt' in rest) rest.fireAt = 0;
        return rest;
      });
    const run = async (executorCacheSize: number) => {
      const { app, start } = testApp();
      let failures = 0;
      app.activity('work', async (n: number, actx) => {
        if (n % 7 === 0 && actx.attempt === 1) {
          failures++;
          throw new Error(`flaky ${n}`);
        }
        return n * 10;
      });
      app.orchestration('child', async (ctx, n: number) => ctx.callActivity<number>('work', n + 100));
      app.orchestration('complex', async (ctx, round: number) => {
        const fanned = await Promise.all([1, 2, 3, 7].map((n) => ctx.callActivity<number>('work', n, { retry: { maxAttempts: 2 } })));
        const mapped = await ctx.map([4, 5, 6, 14], (n) => ctx.callActivity<number>('work', n, { retry: { maxAttempts: 2 } }), { concurrency: 2 });
        const [child, event] = await Promise.all([ctx.callSubOrchestration<number>('child', round), ctx.waitForEvent<number>('bonus', { timeout: '1h' }).catch(() => -1)]);
        if (ctx.patched('v2')) await ctx.sleep('10m');
        const token = ctx.uuid();
        if (round < 2) ctx.continueAsNew(round + 1);
        return { fanned, mapped, child, event, token: token.length, random: ctx.random() };
      });
      const env = await start({ executorCacheSize });
      const id = await env.client.start('complex', 1, { instanceId: 'complex-1' });
      const status = await env.client.waitForCompletion(id);
      return { status, failures, histories: [shape(await env.client.getHistory(id, { generation: 0 })), shape(await env.client.getHistory(id))] };
    };
    const warm = await run(500);
    const cold = await run(0);
    expect(warm.status.status).toBe('Completed');
    expect(warm.failures).toBe(4);
    expect(cold.status.output).toEqual(warm.status.output);
    expect(cold.histories).toEqual(warm.histories);
  });
});
