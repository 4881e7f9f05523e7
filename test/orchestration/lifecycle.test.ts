import { describe, expect, it } from 'vitest';
import { InstanceExistsError, InvalidStateError, OrchestrationNotFoundError, ValidationError } from '../../lib/index.js';
import { eventTypes, testApp } from '../support.js';

describe('instance lifecycle', () => {
  it('rejects a second start with the same instance id and changes nothing', async () => {
    const { app, start } = testApp();
    app.orchestration('greet', async (ctx, name: string) => ctx.waitForEvent<string>('go').then((g) => `${g} ${name}`));
    const env = await start();
    await env.client.start('greet', 'Ada', { instanceId: 'greet-1' });
    await env.idle();
    const before = await env.client.getStatus('greet-1');
    await expect(env.client.start('greet', 'Bob', { instanceId: 'greet-1' })).rejects.toThrow(
      new InstanceExistsError('greet-1', 'greet', 'Running'),
    );
    expect(await env.client.getStatus('greet-1')).toEqual(before);
    await env.client.raiseEvent('greet-1', 'go', 'Hello');
    expect((await env.client.waitForCompletion('greet-1')).output).toBe('Hello Ada');
  });

  it('wakes an instance whose start died before its doorbell when the start is retried, and still rejects the retry', async () => {
    const { app, start } = testApp();
    app.orchestration('greet', async (_ctx, name: string) => `Hello ${name}`);
    const env = await start();
    const ring = env.queues.ringDoorbell.bind(env.queues);
    env.queues.ringDoorbell = async () => {
      env.queues.ringDoorbell = ring;
      throw new Error('the connection was reset');
    };
    await expect(env.client.start('greet', 'Ada', { instanceId: 'greet-1' })).rejects.toThrow('the connection was reset');
    await env.idle();
    expect((await env.client.getStatus('greet-1')).status).toBe('Pending');
    await expect(env.client.start('greet', 'Ada', { instanceId: 'greet-1' })).rejects.toThrow(new InstanceExistsError('greet-1', 'greet', 'Pending'));
    expect(await env.client.waitForCompletion('greet-1')).toMatchObject({ status: 'Completed', output: 'Hello Ada' });
  });

  it('rejects starts with an unknown orchestration, bad instance id or input that is not JSON', async () => {
    const { app, start } = testApp();
    app.orchestration('known', async () => 1);
    const env = await start();
    await expect(env.client.start('unknown')).rejects.toThrow(new OrchestrationNotFoundError("No orchestration named 'unknown' is registered (registered: known)."));
    await expect(env.client.start('known', null, { instanceId: 'a/b' })).rejects.toThrow(ValidationError);
    await expect(env.client.start('known', null, { version: 7 })).rejects.toThrow(/has no version 7 registered \(registered: 1\)/);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(env.client.start('known', circular)).rejects.toThrow(/input of orchestration 'known' is not JSON-serializable/);
    expect((await env.client.list()).instances).toEqual([]);
  });

  it('terminates a running instance with a reason', async () => {
    const { app, start } = testApp();
    app.orchestration('forever', async (ctx) => ctx.waitForEvent('never'));
    const env = await start();
    const id = await env.client.start('forever');
    await env.idle();
    await env.client.terminate(id, 'operator request');
    const status = await env.client.waitForCompletion(id);
    expect(status.status).toBe('Terminated');
    expect(status.error).toEqual({ name: 'TerminatedError', message: `Instance '${id}' was terminated: operator request` });
    expect(eventTypes(await env.client.getHistory(id))).toEqual(['ExecutionStarted', 'ExecutionTerminated']);
    await expect(env.client.terminate(id)).rejects.toThrow(InvalidStateError);
  });

  it('suspends an instance (results wait in its inbox) and resumes it where it left off', async () => {
    const { app, start } = testApp();
    app.orchestration('stepper', async (ctx) => {
      const a = await ctx.waitForEvent<number>('n');
      const b = await ctx.waitForEvent<number>('n');
      return a + b;
    });
    const env = await start();
    const id = await env.client.start('stepper');
    await env.idle();
    await env.client.suspend(id, 'maintenance');
    await env.idle();
    expect((await env.client.getStatus(id)).status).toBe('Suspended');
    await env.client.raiseEvent(id, 'n', 1);
    await env.client.raiseEvent(id, 'n', 2);
    await env.idle();
    expect((await env.client.getStatus(id)).status).toBe('Suspended');
    expect(env.store.inboxSize(id)).toBe(2);
    await env.client.resume(id);
    const status = await env.client.waitForCompletion(id);
    expect(status).toMatchObject({ status: 'Completed', output: 3 });
    expect(eventTypes(await env.client.getHistory(id))).toEqual([
      'ExecutionStarted',
      'ExecutionSuspended',
      'ExecutionResumed',
      'EventRaised',
      'EventRaised',
      'ExecutionCompleted',
    ]);
  });

  it('applies a burst of events over several steps, in order, losing none', async () => {
    const { app, start } = testApp();
    app.orchestration('collector', async (ctx) => {
      const items: number[] = [];
      while (items.length < 120) items.push(await ctx.waitForEvent<number>('item'));
      return items;
    });
    const env = await start();
    const id = await env.client.start('collector');
    await env.client.suspend(id);
    await env.idle();
    for (let i = 0; i < 120; i++) await env.client.raiseEvent(id, 'item', i);
    await env.client.resume(id);
    const status = await env.client.waitForCompletion(id);
    expect(status.output).toEqual(Array.from({ length: 120 }, (_, i) => i));
    const steps = (await env.client.getHistory(id)).filter((e) => e.type === 'StepStarted');
    expect(steps.length).toBeGreaterThanOrEqual(4);
  });

  it('terminates a suspended instance', async () => {
    const { app, start } = testApp();
    app.orchestration('forever', async (ctx) => ctx.waitForEvent('never'));
    const env = await start();
    const id = await env.client.start('forever');
    await env.client.suspend(id);
    await env.idle();
    await env.client.terminate(id);
    expect((await env.client.waitForCompletion(id)).status).toBe('Terminated');
  });

  it('lists instances by status and name, page by page, and purges finished ones', async () => {
    const { app, start } = testApp();
    app.orchestration('quick', async (_ctx, n: number) => n);
    app.orchestration('slow', async (ctx) => ctx.waitForEvent('go'));
    const env = await start();
    for (let i = 0; i < 5; i++) await env.client.waitForCompletion(await env.client.start('quick', i, { instanceId: `q-${i}` }));
    const slow = await env.client.start('slow', null, { instanceId: 's-1' });
    await env.idle();
    expect((await env.client.list({ status: 'Running' })).instances.map((i) => i.instanceId)).toEqual(['s-1']);
    const page1 = await env.client.list({ name: 'quick', limit: 3 });
    const page2 = await env.client.list({ name: 'quick', limit: 3, cursor: page1.cursor });
    expect(page1.instances).toHaveLength(3);
    expect(page2.instances).toHaveLength(2);
    expect(page2.cursor).toBeUndefined();
    expect(new Set([...page1.instances, ...page2.instances].map((i) => i.instanceId)).size).toBe(5);
    await expect(env.client.list({ status: 'Sleeping' as never })).rejects.toThrow(/Unknown status "Sleeping"/);
    await expect(env.client.list({ cursor: 'garbage!' })).rejects.toThrow(/cursor "garbage!" is not one this API returned/);
    await expect(env.client.waitForCompletion(slow, { timeout: '30d' })).rejects.toThrow(/real time, at most 24 days/);

    await expect(env.client.purge(slow)).rejects.toThrow(/only Completed, Failed or Terminated instances can be purged/);
    await env.client.purge('q-0');
    await expect(env.client.getStatus('q-0')).rejects.toThrow("No orchestration instance 'q-0' exists");
    expect((await env.client.list({ name: 'quick' })).instances).toHaveLength(4);
  });

  it('fails an orchestration whose output is not JSON data', async () => {
    const { app, start } = testApp();
    app.orchestration('bad-output', async () => ({ when: 1n }));
    const env = await start();
    const status = await env.client.waitForCompletion(await env.client.start('bad-output'));
    expect(status.status).toBe('Failed');
    expect(status.error?.message).toMatch(/output of orchestration 'bad-output' is not JSON-serializable/);
  });
});
