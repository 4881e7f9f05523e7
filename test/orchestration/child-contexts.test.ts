import { describe, expect, it } from 'vitest';
import { ChildFailedError, createApp, silentLogger, TestEnvironment, type HistoryEvent } from '../../lib/index.js';
import { eventTypes, testApp } from '../support.js';

const scopes = (history: HistoryEvent[]) =>
  history.flatMap((event) => (event.type === 'ActivityScheduled' || event.type === 'ChildStarted' || event.type === 'TimerCreated' ? [`${event.type}:${'name' in event ? event.name : ''}@${event.scope ?? 0}`] : []));

describe('ctx.child: child contexts', () => {
  it('groups the calls it makes under its name and returns what its function returns', async () => {
    const { app, start } = testApp();
    app.activity('stock', async (sku: string) => (sku === 'desk' ? 3 : 0));
    app.activity('price', async (count: number) => count * 100);
    app.orchestration('quote', async (ctx, sku: string) => {
      const quote = await ctx.child('pricing', async (child) => child.callActivity<number>('price', await child.callActivity<number>('stock', sku)));
      return { quote, after: await ctx.callActivity<number>('price', 1) };
    });
    const env = await start();
    const id = await env.client.start('quote', 'desk');
    expect((await env.client.waitForCompletion(id)).output).toEqual({ quote: 300, after: 100 });
    const history = await env.client.getHistory(id);
    const child = history.find((event) => event.type === 'ChildStarted')!;
    expect(scopes(history)).toEqual(['ChildStarted:pricing@0', `ActivityScheduled:stock@${child.taskId}`, `ActivityScheduled:price@${child.taskId}`, 'ActivityScheduled:price@0']);
    expect(history.find((event) => event.type === 'ChildCompleted')).toMatchObject({ taskId: child.taskId, result: 300 });
  });

  it('does not run an ended child again on replay: its recorded result comes back, even after its code changed', async () => {
    const runs = { inner: 0 };
    const define = (app: ReturnType<typeof createApp>, body: 'first' | 'changed') => {
      app.activity('work', async (n: number) => {
        runs.inner++;
        return n * 2;
      });
      app.orchestration('grouped', async (ctx) => {
        const grouped = await ctx.child('block', async (child) => {
          if (body === 'changed') return child.callActivity<number>('work', 999);
          const values = await Promise.all([1, 2, 3].map((n) => child.callActivity<number>('work', n)));
          return values.reduce((a, b) => a + b, 0);
        });
        await ctx.sleep('1h');
        return grouped + (await ctx.callActivity<number>('work', 10));
      });
    };
    const first = createApp({ logger: silentLogger });
    define(first, 'first');
    const env = await TestEnvironment.create(first);
    const id = await env.client.start('grouped', undefined, { instanceId: 'grouped-1' });
    await env.idle();
    expect(runs.inner).toBe(3);
    // The same history under code whose child now does something else: the child ended, so it is not run.
    const second = createApp({ logger: silentLogger });
    define(second, 'changed');
    await env.close();
    // The new environment takes the instance over: its next step sends the sleep's timer again.
    const redeployed = await TestEnvironment.create(second, { store: env.store, executorCacheSize: 0 });
    expect(await redeployed.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 12 + 20 });
    expect(runs.inner).toBe(4);
    await redeployed.close();
  });

  it('fails with a ChildFailedError that carries the error the child threw, the same on every replay', async () => {
    const { app, start } = testApp();
    app.activity('fail', async () => {
      throw new Error('no stock');
    });
    app.orchestration('failing', async (ctx) => {
      try {
        await ctx.child('reserve', async (child) => {
          await child.callActivity('fail').catch(() => undefined);
          throw new RangeError('the child gave up');
        });
        return 'no error';
      } catch (error) {
        const failure = error as ChildFailedError;
        return { isChildFailure: error instanceof ChildFailedError, name: failure.name, inner: failure.failure.name, message: failure.message };
      }
    });
    const env = await start({ executorCacheSize: 0 });
    const id = await env.client.start('failing');
    expect((await env.client.waitForCompletion(id)).output).toEqual({ isChildFailure: true, name: 'ChildFailedError', inner: 'RangeError', message: "Child 'reserve' failed: RangeError: the child gave up" });
    expect(eventTypes(await env.client.getHistory(id))).toContain('ChildFailed');
  });

  it('runs children side by side, nested, and keeps each one\'s positions apart', async () => {
    const { app, start } = testApp();
    app.activity('echo', async (value: string) => value);
    app.orchestration('tree', async (ctx) =>
      Promise.all(
        ['a', 'b'].map((branch) =>
          ctx.child(`branch ${branch}`, async (child) => {
            const first = await child.callActivity<string>('echo', `${branch}1`);
            const nested = await child.child(`inner ${branch}`, async (inner) => inner.callActivity<string>('echo', `${branch}2`));
            return `${first}+${nested}`;
          }),
        ),
      ),
    );
    const env = await start({ executorCacheSize: 0 });
    const id = await env.client.start('tree');
    expect((await env.client.waitForCompletion(id)).output).toEqual(['a1+a2', 'b1+b2']);
    const history = await env.client.getHistory(id);
    const children = history.filter((event) => event.type === 'ChildStarted');
    expect(children.map((event) => [event.name, event.scope ?? 0])).toEqual([
      ['branch a', 0],
      ['branch b', 0],
      ['inner a', children[0]!.taskId],
      ['inner b', children[1]!.taskId],
    ]);
  });

  it('refuses continueAsNew inside a child', async () => {
    const { app, start } = testApp();
    app.orchestration('looping', async (ctx) => ctx.child('loop', async (child) => child.continueAsNew({})).catch((error: ChildFailedError) => error.failure.message));
    const env = await start();
    const id = await env.client.start('looping');
    expect((await env.client.waitForCompletion(id)).output).toMatch(/ctx.continueAsNew cannot be called inside a ctx.child/);
  });

  it('gives a BatchResult returned by a child its methods back, its failed items as errors, live and on replay', async () => {
    const { app, start } = testApp();
    app.orchestration('batched', async (ctx) => {
      const batch = await ctx.child('checks', (child) =>
        child.map([1, 2, 3], (n) => child.step(`check-${n}`, async () => (n === 2 ? Promise.reject(new Error(`item ${n} is bad`)) : n * 10), { retry: { maxAttempts: 1 } }), { completion: {} }),
      );
      await ctx.sleep('1s');
      let thrown: Error | undefined;
      try {
        batch.throwIfError();
      } catch (error) {
        thrown = error as Error;
      }
      return { results: batch.results(), failed: batch.failed().map((item) => item.index), thrown: thrown && { name: thrown.name, message: thrown.message, isError: thrown instanceof Error } };
    });
    for (const executorCacheSize of [500, 0]) {
      const env = await start({ executorCacheSize });
      const id = await env.client.start('batched');
      expect((await env.client.waitForCompletion(id)).output).toEqual({
        results: [10, 30],
        failed: [1],
        thrown: { name: 'StepFailedError', message: "Step 'check-2' failed after 1 attempt: Error: item 2 is bad", isError: true },
      });
    }
  });
});
