import { describe, expect, it } from 'vitest';
import { SubOrchestrationFailedError } from '../../lib/index.js';
import { testApp } from '../support.js';

describe('fan-out', () => {
  it('runs 1,000 activities with Promise.all and returns the results in order', async () => {
    const { app, start } = testApp();
    let calls = 0;
    app.activity('square', async (n: number) => {
      calls++;
      return n * n;
    });
    app.orchestration('squares', async (ctx, count: number) => {
      const results = await Promise.all(Array.from({ length: count }, (_, i) => ctx.callActivity<number>('square', i)));
      return results.reduce((sum, value, i) => (value === i * i ? sum + 1 : sum), 0);
    });
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('squares', 1_000));
    expect(status).toMatchObject({ status: 'Completed', output: 1_000 });
    expect(calls).toBe(1_000);
  });

  it('ctx.map over 1,000 items never runs more than 10 at once and keeps item order', async () => {
    const { app, start } = testApp();
    let running = 0;
    let peak = 0;
    app.activity('slowSquare', async (n: number) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return n * n;
    });
    app.orchestration('mapped', async (ctx, count: number) => {
      const items = Array.from({ length: count }, (_, i) => i);
      const results = await ctx.map(items, (n) => ctx.callActivity<number>('slowSquare', n), { concurrency: 10 });
      return results.every((value, i) => value === i * i) ? results.length : -1;
    });
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('mapped', 1_000));
    expect(status.output).toBe(1_000);
    expect(peak).toBeLessThanOrEqual(10);
    expect(peak).toBeGreaterThan(1);
  });

  it('ctx.map stops starting items after the first failure and rejects with it', async () => {
    const { app, start } = testApp();
    const seen: number[] = [];
    app.activity('check', async (n: number) => {
      seen.push(n);
      if (n === 3) throw new Error('three is bad');
      return n;
    });
    app.orchestration('checked', async (ctx) => {
      try {
        await ctx.map([1, 2, 3, 4, 5, 6, 7, 8], (n) => ctx.callActivity('check', n), { concurrency: 1 });
        return 'all good';
      } catch (error) {
        return (error as Error).message;
      }
    });
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('checked'));
    expect(status.output).toBe("Activity 'check' failed after 1 attempt: Error: three is bad");
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe('sub-orchestrations', () => {
  it('returns the output of a child orchestration', async () => {
    const { app, start } = testApp();
    app.activity('label', async (order: string) => `label-for-${order}`);
    app.orchestration('ship', async (ctx, order: string) => ctx.callActivity<string>('label', order));
    app.orchestration('order', async (ctx, order: string) => {
      const label = await ctx.callSubOrchestration<string>('ship', order);
      return { label };
    });
    const env = await start();
    const id = await env.client.start('order', 'o-1', { instanceId: 'order-1' });
    expect((await env.client.waitForCompletion(id)).output).toEqual({ label: 'label-for-o-1' });
    const child = await env.client.getStatus('order-1:0.1');
    expect(child).toMatchObject({ name: 'ship', status: 'Completed', parentInstanceId: 'order-1', output: 'label-for-o-1' });
  });

  it('surfaces a failed child as a SubOrchestrationFailedError carrying its error', async () => {
    const { app, start } = testApp();
    app.orchestration('child', async () => {
      throw new RangeError('out of stock');
    });
    app.orchestration('parent', async (ctx) => {
      try {
        await ctx.callSubOrchestration('child', null, { instanceId: 'the-child' });
        return 'no error';
      } catch (error) {
        const failure = error as SubOrchestrationFailedError;
        return { isClass: error instanceof SubOrchestrationFailedError, name: failure.failure.name, message: failure.message };
      }
    });
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('parent'));
    expect(status.output).toEqual({
      isClass: true,
      name: 'RangeError',
      message: "Sub-orchestration 'child' (instance 'the-child') failed: RangeError: out of stock",
    });
  });

  it('fails the call of an unregistered child orchestration without creating it', async () => {
    const { app, start } = testApp();
    app.orchestration('parent', async (ctx) => ctx.callSubOrchestration('missing', null, { instanceId: 'ghost' }));
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('parent'));
    expect(status.error?.message).toContain("failed: OrchestrationNotFoundError: No orchestration named 'missing' is registered");
    await expect(env.client.getStatus('ghost')).rejects.toThrow("No orchestration instance 'ghost' exists");
  });

  it('a terminated child fails its parent with TerminatedError', async () => {
    const { app, start } = testApp();
    app.orchestration('waiter', async (ctx) => ctx.waitForEvent('never'));
    app.orchestration('parent', async (ctx) => {
      try {
        return await ctx.callSubOrchestration('waiter', null, { instanceId: 'kid' });
      } catch (error) {
        return (error as SubOrchestrationFailedError).failure.name;
      }
    });
    const env = await start();
    const id = await env.client.start('parent');
    await env.idle();
    await env.client.terminate('kid', 'not needed');
    expect((await env.client.waitForCompletion(id)).output).toBe('TerminatedError');
  });
});

describe('continueAsNew', () => {
  it('carries state across three generations with a fresh history each time', async () => {
    const { app, start } = testApp();
    app.activity('add', async ({ total, n }: { total: number; n: number }) => total + n);
    app.orchestration('counter', async (ctx, state: { round: number; total: number }) => {
      const total = await ctx.callActivity<number>('add', { total: state.total, n: state.round });
      if (state.round < 3) ctx.continueAsNew({ round: state.round + 1, total });
      return { total, generation: ctx.generation };
    });
    const env = await start();
    const id = await env.client.start('counter', { round: 1, total: 0 });
    const status = await env.client.waitForCompletion(id);
    expect(status).toMatchObject({ status: 'Completed', generation: 2, output: { total: 6, generation: 2 }, input: { round: 3, total: 3 } });
    const first = await env.client.getHistory(id, { generation: 0 });
    expect(first.at(-1)).toMatchObject({ type: 'ContinuedAsNew', input: { round: 2, total: 1 } });
    const last = await env.client.getHistory(id);
    expect(last.filter((e) => e.type === 'ExecutionStarted')).toHaveLength(1);
    expect(last.at(-1)?.type).toBe('ExecutionCompleted');
  });

  it('carries events raised but not yet awaited into the next generation', async () => {
    const { app, start } = testApp();
    app.orchestration('loop', async (ctx, round: number) => {
      const value = await ctx.waitForEvent<number>('tick');
      if (round === 0) ctx.continueAsNew(1);
      return value;
    });
    const env = await start();
    const id = await env.client.start('loop', 0);
    await env.idle();
    await env.client.raiseEvent(id, 'tick', 10);
    await env.client.raiseEvent(id, 'tick', 20);
    expect((await env.client.waitForCompletion(id)).output).toBe(20);
  });
});
