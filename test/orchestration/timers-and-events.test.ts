import { describe, expect, it } from 'vitest';
import { InstanceNotFoundError, InvalidStateError, TimeoutError, ValidationError } from '../../lib/index.js';
import { eventTypes, testApp } from '../support.js';

const DAY = 86_400_000;

describe('timers', () => {
  it('sleeps 30 days in milliseconds of real time, and ctx.now() moves by 30 days', async () => {
    const { app, start } = testApp();
    app.orchestration('nap', async (ctx) => {
      const before = ctx.now().getTime();
      await ctx.sleep('30d');
      return ctx.now().getTime() - before;
    });
    const env = await start();
    const began = Date.now();
    const status = await env.client.waitForCompletion(await env.client.start('nap'));
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(status.output).toBeGreaterThanOrEqual(30 * DAY);
    expect(status.output).toBeLessThan(30 * DAY + 1_000);
  });

  it('does not skip time while nobody waits for completion; advanceTime fires due timers', async () => {
    const { app, start } = testApp();
    app.orchestration('nap', async (ctx) => ctx.sleep('1h'));
    const env = await start();
    const id = await env.client.start('nap');
    await env.idle();
    expect((await env.client.getStatus(id)).status).toBe('Running');
    await env.advanceTime('59m');
    expect((await env.client.getStatus(id)).status).toBe('Running');
    await env.advanceTime('1m');
    await env.idle();
    expect((await env.client.getStatus(id)).status).toBe('Completed');
  });

  it('rejects an invalid duration with a ValidationError the code can catch', async () => {
    const { app, start } = testApp();
    app.orchestration('bad-sleep', async (ctx) => {
      try {
        await ctx.sleep('soon');
        return 'slept';
      } catch (error) {
        return [(error as Error).name, error instanceof ValidationError];
      }
    });
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('bad-sleep'));
    expect(status.output).toEqual(['ValidationError', true]);
  });
});

describe('external events', () => {
  it('records a keyed event once, however often it is raised again, even after it was consumed', async () => {
    const { app, start } = testApp();
    app.orchestration('adder', async (ctx) => (await ctx.waitForEvent<number>('add')) + (await ctx.waitForEvent<number>('add')));
    const env = await start();
    const id = await env.client.start('adder');
    await env.client.raiseEvent(id, 'add', 5, { eventId: 'add-a' });
    await env.client.raiseEvent(id, 'add', 5, { eventId: 'add-a' }); // a retry while it waits in the inbox
    await env.idle();
    expect(eventTypes(await env.client.getHistory(id)).filter((type) => type === 'EventRaised')).toHaveLength(1);
    await env.client.raiseEvent(id, 'add', 5, { eventId: 'add-a' }); // a retry after it was consumed
    await env.idle();
    expect((await env.client.getStatus(id)).status).toBe('Running');
    await env.client.raiseEvent(id, 'add', 7, { eventId: 'add-b' });
    expect((await env.client.waitForCompletion(id)).output).toBe(12);
    await expect(env.client.raiseEvent(id, 'add', 1, { eventId: 'bad/key' })).rejects.toThrow(/Invalid event id "bad\/key"/);
  });

  it('delivers the data of a raised event to the waiting code', async () => {
    const { app, start } = testApp();
    app.orchestration('approve', async (ctx) => ctx.waitForEvent<{ approved: boolean }>('approval'));
    const env = await start();
    const id = await env.client.start('approve');
    await env.idle();
    await env.client.raiseEvent(id, 'approval', { approved: true });
    expect((await env.client.waitForCompletion(id)).output).toEqual({ approved: true });
  });

  it('rejects a wait that times out with a TimeoutError the code can catch', async () => {
    const { app, start } = testApp();
    app.orchestration('approve', async (ctx) => {
      try {
        return await ctx.waitForEvent('approval', { timeout: '3d' });
      } catch (error) {
        return { timedOut: error instanceof TimeoutError, message: (error as Error).message, at: ctx.now().getTime() };
      }
    });
    const env = await start();
    const began = env.clock.now();
    const id = await env.client.start('approve');
    const status = await env.client.waitForCompletion(id);
    const output = status.output as { timedOut: boolean; message: string; at: number };
    expect(output.timedOut).toBe(true);
    expect(output.message).toBe(`No 'approval' event arrived within 3d (instance '${id}').`);
    expect(output.at - began).toBeGreaterThanOrEqual(3 * DAY);
  });

  it('an event that arrives before its timeout wins, and the later timer changes nothing', async () => {
    const { app, start } = testApp();
    app.orchestration('approve', async (ctx) => {
      const answer = await ctx.waitForEvent('approval', { timeout: '1h' });
      await ctx.sleep('2h');
      return answer;
    });
    const env = await start();
    const id = await env.client.start('approve');
    await env.idle();
    await env.client.raiseEvent(id, 'approval', 'yes');
    expect((await env.client.waitForCompletion(id)).output).toBe('yes');
  });

  it('buffers events that arrive before the code waits, and delivers them in arrival order', async () => {
    const { app, start } = testApp();
    app.activity('work', async () => 'done');
    app.orchestration('collect', async (ctx) => {
      await ctx.callActivity('work');
      return [await ctx.waitForEvent('item'), await ctx.waitForEvent('item'), await ctx.waitForEvent('item')];
    });
    const env = await start();
    const id = await env.client.start('collect');
    await env.client.raiseEvent(id, 'item', 1);
    await env.client.raiseEvent(id, 'item', 2);
    await env.client.raiseEvent(id, 'item', 3);
    expect((await env.client.waitForCompletion(id)).output).toEqual([1, 2, 3]);
  });

  it('serves two waits whose events arrive in the reverse order', async () => {
    const { app, start } = testApp();
    app.orchestration('both', async (ctx) => {
      const b = await ctx.waitForEvent('b');
      const a = await ctx.waitForEvent('a');
      return { a, b };
    });
    const env = await start();
    const id = await env.client.start('both');
    await env.idle();
    await env.client.raiseEvent(id, 'a', 'first');
    await env.idle();
    await env.client.raiseEvent(id, 'b', 'second');
    expect((await env.client.waitForCompletion(id)).output).toEqual({ a: 'first', b: 'second' });
    expect(eventTypes(await env.client.getHistory(id))).toEqual(['ExecutionStarted', 'EventRaised', 'EventRaised', 'ExecutionCompleted']);
  });

  it('rejects an event for an unknown or finished instance with a clear error', async () => {
    const { app, start } = testApp();
    app.orchestration('quick', async () => 'done');
    const env = await start();
    await expect(env.client.raiseEvent('nobody', 'go')).rejects.toThrow(InstanceNotFoundError);
    const id = await env.client.start('quick');
    await env.client.waitForCompletion(id);
    await expect(env.client.raiseEvent(id, 'go')).rejects.toThrow(
      new InvalidStateError(`Cannot raise event 'go' on instance '${id}': it is already Completed. A finished instance takes no more events or commands: start a new instance instead.`),
    );
    await expect(env.client.raiseEvent(id, 'bad/name')).rejects.toThrow(ValidationError);
  });

  it('advanceTime stops at each timer on the way: a loop of 30-day sleeps advanced by 90 days wakes three times, on time', async () => {
    const { app, start } = testApp();
    const wokeAt: number[] = [];
    app.activity('note', async (at: number) => void wokeAt.push(at));
    app.orchestration('monthly', async (ctx) => {
      const began = ctx.now().getTime();
      for (;;) {
        await ctx.sleep('30d');
        await ctx.callActivity('note', Math.round((ctx.now().getTime() - began) / DAY));
      }
    });
    const env = await start({ timeSkipping: false });
    await env.client.start('monthly');
    await env.idle();
    await env.advanceTime('90d');
    expect(wokeAt).toEqual([30, 60, 90]);
    await env.advanceTime('29d');
    expect(wokeAt).toEqual([30, 60, 90]);
  });
});
