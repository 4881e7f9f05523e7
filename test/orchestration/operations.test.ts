import { describe, expect, it } from 'vitest';
import { CancelledError, InvalidStateError, SubOrchestrationFailedError, ValidationError } from '../../lib/index.js';
import { eventTypes, testApp } from '../support.js';

describe('cancellation', () => {
  it('fails the pending call with a CancelledError, runs cleanup in ctx.nonCancellable, and ends Cancelled', async () => {
    const { app, start } = testApp();
    const ran: string[] = [];
    app.activity('reserve', async () => ran.push('reserve'));
    app.activity('release', async (what: string) => ran.push(`release ${what}`));
    app.orchestration('booking', async (ctx) => {
      await ctx.callActivity('reserve');
      try {
        await ctx.waitForEvent('paid');
        return 'booked';
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        expect(ctx.isCancellationRequested).toBe(true);
        // Outside the shield a new durable call fails at once.
        await expect(ctx.callActivity('release', 'outside')).rejects.toThrow(CancelledError);
        await ctx.nonCancellable(() => ctx.callActivity('release', 'seat'));
        throw error;
      }
    });
    const env = await start();
    const id = await env.client.start('booking');
    await env.idle();
    await env.client.cancel(id, 'customer left');
    const status = await env.client.waitForCompletion(id);
    expect(status.status).toBe('Cancelled');
    expect(status.error).toMatchObject({ name: 'CancelledError', message: `Instance '${id}' was cancelled: customer left` });
    expect(status.cancelRequested?.reason).toBe('customer left');
    expect(ran).toEqual(['reserve', 'release seat']);
    expect(eventTypes(await env.client.getHistory(id))).toEqual([
      'ExecutionStarted',
      'ActivityScheduled',
      'ActivityCompleted',
      'ExecutionCancelRequested',
      'ActivityScheduled',
      'ActivityCompleted',
      'ExecutionCancelled',
    ]);
    await expect(env.client.cancel(id)).rejects.toThrow(InvalidStateError);
  });

  it('lets code that catches the cancellation complete normally', async () => {
    const { app, start } = testApp();
    app.orchestration('poller', async (ctx) => {
      try {
        await ctx.sleep('1h');
        return 'slept';
      } catch (error) {
        if (error instanceof CancelledError) return `stopped: ${error.reason}`;
        throw error;
      }
    });
    const env = await start();
    const id = await env.client.start('poller');
    await env.idle();
    await env.client.cancel(id, 'enough');
    const status = await env.client.waitForCompletion(id);
    expect(status).toMatchObject({ status: 'Completed', output: 'stopped: enough' });
  });

  it('cancels a suspended instance (it resumes to clean up) and counts a second cancel once', async () => {
    const { app, start } = testApp();
    app.orchestration('waiting', async (ctx) => ctx.waitForEvent('go'));
    const env = await start();
    const id = await env.client.start('waiting');
    await env.idle();
    await env.client.suspend(id);
    await env.idle();
    await env.client.cancel(id, 'first');
    await env.client.cancel(id, 'second');
    const status = await env.client.waitForCompletion(id);
    expect(status.status).toBe('Cancelled');
    expect(eventTypes(await env.client.getHistory(id)).filter((type) => type === 'ExecutionCancelRequested')).toHaveLength(1);
  });

  it('refuses to cancel a quarantined, finished or unknown instance', async () => {
    const { app, start } = testApp();
    app.orchestration('quick', async () => 'done');
    const env = await start();
    const id = await env.client.start('quick');
    await env.client.waitForCompletion(id);
    await expect(env.client.cancel(id)).rejects.toThrow(/already Completed/);
    await expect(env.client.cancel('nope')).rejects.toThrow(/nope/);
    await expect(env.client.cancel(id, 'x'.repeat(5_000))).rejects.toThrow(ValidationError);
  });

  it('reaches the whole tree: children follow their parent-close policy', async () => {
    const { app, start } = testApp();
    const cleaned: string[] = [];
    app.activity('cleanup', async (who: string) => cleaned.push(who));
    app.orchestration('worker', async (ctx, who: string) => {
      try {
        return await ctx.waitForEvent('never');
      } catch (error) {
        if (error instanceof CancelledError) await ctx.nonCancellable(() => ctx.callActivity('cleanup', who));
        throw error;
      }
    });
    app.orchestration('tree', async (ctx) => {
      await ctx.startSubOrchestration('worker', 'abandoned', { instanceId: 'abandoned' });
      await ctx.startSubOrchestration('worker', 'detached-cancel', { instanceId: 'detached-cancel', parentClose: 'cancel' });
      return Promise.all([
        ctx.callSubOrchestration('worker', 'cancelled', { instanceId: 'cancelled' }),
        ctx.callSubOrchestration('worker', 'terminated', { instanceId: 'terminated', parentClose: 'terminate' }),
      ]);
    });
    const env = await start();
    const id = await env.client.start('tree');
    await env.idle();
    await env.client.cancel(id, 'stop all');
    expect((await env.client.waitForCompletion(id)).status).toBe('Cancelled');
    await env.idle();
    expect((await env.client.getStatus('cancelled')).status).toBe('Cancelled');
    expect((await env.client.getStatus('detached-cancel')).status).toBe('Cancelled');
    expect((await env.client.getStatus('terminated')).status).toBe('Terminated');
    expect((await env.client.getStatus('abandoned')).status).toBe('Running');
    expect(cleaned.sort()).toEqual(['cancelled', 'detached-cancel']);
  });

  it('terminates the children of a terminated parent as their policy says', async () => {
    const { app, start } = testApp();
    app.orchestration('child', async (ctx) => ctx.waitForEvent('never'));
    app.orchestration('parent', async (ctx) => Promise.all([ctx.callSubOrchestration('child', null, { instanceId: 'c1' }), ctx.callSubOrchestration('child', null, { instanceId: 'c2', parentClose: 'abandon' })]));
    const env = await start();
    const id = await env.client.start('parent');
    await env.idle();
    await env.client.terminate(id);
    await env.client.waitForCompletion(id);
    await env.idle();
    expect((await env.client.getStatus('c1')).status).toBe('Cancelled');
    expect((await env.client.getStatus('c2')).status).toBe('Running');
  });
});

describe('fire-and-forget children', () => {
  it('returns the child id at once, and the parent can end first without hearing of the child', async () => {
    const { app, start } = testApp();
    app.orchestration('audit', async (ctx, what: string) => {
      await ctx.waitForEvent('go');
      return `audited ${what}`;
    });
    app.orchestration('order', async (ctx) => ctx.startSubOrchestration('audit', 'o-1'));
    const env = await start();
    const id = await env.client.start('order');
    const status = await env.client.waitForCompletion(id);
    expect(status.output).toBe(`${id}:0.1`);
    await env.client.raiseEvent(`${id}:0.1`, 'go');
    expect((await env.client.waitForCompletion(`${id}:0.1`)).output).toBe('audited o-1');
    expect(eventTypes(await env.client.getHistory(id))).toEqual(['ExecutionStarted', 'SubOrchestrationScheduled', 'ExecutionCompleted']);
  });

  it('rejects an unknown parent-close policy', async () => {
    const { app, start } = testApp();
    app.orchestration('child', async () => 1);
    app.orchestration('bad', async (ctx) => ctx.callSubOrchestration('child', null, { parentClose: 'explode' as never }));
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('bad'));
    expect(status.error?.message).toMatch(/parentClose of sub-orchestration 'child' must be one of 'cancel', 'terminate', 'abandon'/);
  });
});

describe('custom status', () => {
  it('publishes what the code sets, step by step, and keeps it after the end', async () => {
    const { app, start } = testApp();
    app.orchestration('progress', async (ctx) => {
      ctx.setStatus({ stage: 'waiting' });
      await ctx.waitForEvent('go');
      ctx.setStatus({ stage: 'done', items: 3 });
      return 'ok';
    });
    const env = await start();
    const id = await env.client.start('progress');
    await env.idle();
    expect((await env.client.getStatus(id)).customStatus).toEqual({ stage: 'waiting' });
    await env.client.raiseEvent(id, 'go');
    expect((await env.client.waitForCompletion(id)).customStatus).toEqual({ stage: 'done', items: 3 });
  });

  it('refuses a status over 4 KiB or not JSON with a clear error', async () => {
    const { app, start } = testApp();
    app.orchestration('big', async (ctx) => ctx.setStatus({ blob: 'x'.repeat(5_000) }));
    app.orchestration('cyclic', async (ctx) => {
      const self: Record<string, unknown> = {};
      self.self = self;
      ctx.setStatus(self);
    });
    const env = await start();
    const big = await env.client.waitForCompletion(await env.client.start('big'));
    expect(big.error?.message).toMatch(/ctx.setStatus takes at most 4096 bytes of JSON, got 50\d\d/);
    const cyclic = await env.client.waitForCompletion(await env.client.start('cyclic'));
    expect(cyclic.error?.message).toMatch(/ctx.setStatus takes JSON data/);
  });
});

describe('rewind and restart', () => {
  it('keeps the events that reached a failing instance, so that its rewind applies them; a stray result for it is dropped', async () => {
    const { app, start } = testApp();
    let broken = true;
    app.activity('charge', async () => {
      if (broken) throw new Error('card service down');
      return 'charged';
    });
    app.orchestration('order', async (ctx) => {
      const charged = await ctx.callActivity<string>('charge');
      const approval = await ctx.waitForEvent<string>('approval');
      return `${charged}, ${approval}`;
    });
    const env = await start();
    const id = await env.client.start('order');
    expect((await env.client.waitForCompletion(id)).status).toBe('Failed');
    // What a raise that read the instance while it ran delivers once it has failed (the client refuses one that reads it Failed),
    // beside a stray result of the failed round: both carried by one doorbell, as a step's worker would ring it.
    const now = env.clock.now();
    await env.queues.ringDoorbell(id, {
      messages: [
        { messageId: 'raced-approval', generation: 0, receivedAt: now, event: { type: 'EventRaised', name: 'approval', data: 'approved' } },
        { messageId: 'A#0#9', generation: 0, receivedAt: now, event: { type: 'ActivityCompleted', taskId: 9, result: 'stray' } },
      ],
    });
    await env.idle();
    expect((await env.store.loadStep(id))?.inbox.map((message) => message.messageId)).toEqual(['raced-approval']);
    broken = false;
    await env.client.rewind(id);
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'charged, approved' });
  });

  it('rewinds a failed instance: the failed activity runs again and the code goes on; history keeps the failure', async () => {
    const { app, start } = testApp();
    let broken = true;
    const runs: string[] = [];
    app.activity('charge', async () => {
      runs.push('charge');
      if (broken) throw new Error('card service down');
      return 'charged';
    });
    app.activity('ship', async () => runs.push('ship'));
    app.orchestration('order', async (ctx) => {
      await ctx.callActivity('ship');
      return ctx.callActivity('charge');
    });
    const env = await start();
    const id = await env.client.start('order');
    expect((await env.client.waitForCompletion(id)).status).toBe('Failed');
    broken = false;
    await env.client.rewind(id);
    const status = await env.client.waitForCompletion(id);
    expect(status).toMatchObject({ status: 'Completed', output: 'charged' });
    expect(status.error).toBeUndefined();
    expect(runs).toEqual(['ship', 'charge', 'charge']);
    const history = await env.client.getHistory(id);
    expect(eventTypes(history)).toEqual([
      'ExecutionStarted',
      'ActivityScheduled',
      'ActivityCompleted',
      'ActivityScheduled',
      'ActivityFailed',
      'ExecutionFailed',
      'ExecutionRewound',
      'ActivityCompleted',
      'ExecutionCompleted',
    ]);
    const rewound = history.find((event) => event.type === 'ExecutionRewound');
    const undone = history.filter((event) => event.type === 'ActivityFailed' || event.type === 'ExecutionFailed').map((event) => event.eventId);
    expect(rewound?.type === 'ExecutionRewound' && [...rewound.rewound].sort()).toEqual(undone);
    await expect(env.client.rewind(id)).rejects.toThrow(/it is Completed, and only a Failed instance can be rewound/);
  });

  it('rewinds a failed sub-orchestration with its parent', async () => {
    const { app, start } = testApp();
    let broken = true;
    app.activity('flaky', async () => {
      if (broken) throw new Error('down');
      return 'fixed';
    });
    app.orchestration('child', async (ctx) => ctx.callActivity('flaky'));
    app.orchestration('parent', async (ctx) => {
      const result = await ctx.callSubOrchestration('child', null, { instanceId: 'the-child' });
      return `child said ${String(result)}`;
    });
    const env = await start();
    const id = await env.client.start('parent');
    const failed = await env.client.waitForCompletion(id);
    expect(failed.error?.name).toBe(new SubOrchestrationFailedError('child', 'the-child', { name: 'Error', message: 'down' }).name);
    broken = false;
    await env.client.rewind(id);
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'child said fixed' });
    expect((await env.client.getStatus('the-child')).status).toBe('Completed');
  });

  it('rewinds a failure beside calls still in flight: their results, dropped while it was Failed, are asked for again', async () => {
    const { app, start } = testApp();
    let broken = true;
    const runs: string[] = [];
    app.activity('fragile', async () => {
      runs.push('fragile');
      if (broken) throw new Error('down');
      return 'fixed';
    });
    app.activity('slow', async () => {
      runs.push('slow');
      return 'slow';
    });
    app.orchestration('helper', async (ctx) => ctx.waitForEvent<string>('go'));
    app.orchestration('fan', async (ctx) =>
      Promise.all([
        ctx.callActivity('fragile'),
        ctx.callActivity('slow'),
        ctx.sleep('1h').then(() => 'slept'),
        ctx.callSubOrchestration('helper', null, { instanceId: 'helper-1', parentClose: 'abandon' }),
      ]),
    );
    const env = await start();
    const id = await env.client.start('fan');
    expect((await env.client.waitForCompletion(id)).status).toBe('Failed');
    // While it is Failed, the other calls end: the timer fires, the child completes; their results are dropped.
    await env.client.raiseEvent('helper-1', 'go', 'went');
    expect((await env.client.waitForCompletion('helper-1')).status).toBe('Completed');
    await env.advanceTime('2h');
    await env.idle();
    broken = false;
    await env.client.rewind(id);
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: ['fixed', 'slow', 'slept', 'went'] });
    const history = await env.client.getHistory(id);
    const results = history.filter((event) => event.type === 'ActivityCompleted' || event.type === 'TimerFired' || event.type === 'SubOrchestrationCompleted');
    expect(results.map((event) => event.type).sort()).toEqual(['ActivityCompleted', 'ActivityCompleted', 'SubOrchestrationCompleted', 'TimerFired']);
    expect(runs.filter((run) => run === 'fragile')).toHaveLength(2);
  });

  it('rewinds a failure of the code itself once the code is fixed', async () => {
    const { app, start } = testApp();
    let bug = true;
    app.activity('fetch', async () => ({ total: 5 }));
    app.orchestration('sum', async (ctx) => {
      const data = await ctx.callActivity<{ total: number }>('fetch');
      if (bug) throw new TypeError('cannot read total');
      return data.total;
    });
    const env = await start();
    const id = await env.client.start('sum');
    expect((await env.client.waitForCompletion(id)).status).toBe('Failed');
    bug = false;
    await env.client.rewind(id);
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 5 });
  });

  it('restarts a failed, terminated or cancelled instance with its input, and refuses others', async () => {
    const { app, start } = testApp();
    app.orchestration('echo', async (ctx, input: { n: number }) => {
      if (ctx.instanceId === 'first') throw new Error('first run fails');
      return input.n;
    });
    const env = await start();
    await env.client.start('echo', { n: 7 }, { instanceId: 'first' });
    expect((await env.client.waitForCompletion('first')).status).toBe('Failed');
    const again = await env.client.restart('first', { instanceId: 'second' });
    expect(again).toBe('second');
    expect(await env.client.waitForCompletion('second')).toMatchObject({ status: 'Completed', output: 7 });
    await expect(env.client.restart('second')).rejects.toThrow(/it is Completed; only Failed, Terminated, Cancelled instances can be restarted/);
    await expect(env.client.restart('first', { instanceId: 'second' })).rejects.toThrow(/second/);
  });
});
