import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, createApp, silentLogger, TestEnvironment, ValidationError } from '../../lib/index.js';
import { startLocalStack, type EventSourceRequest, type LocalStack } from '../../lib/local/local-stack.js';

/** A parent that waits for an event, runs an activity and a child (an activity and a timer of its own). */
function laneApp() {
  const app = createApp({ logger: silentLogger });
  app.activity('work', async (input: string) => `worked:${input}`);
  app.orchestration('child', async (ctx, input: string) => {
    const done = await ctx.callActivity<string>('work', input);
    await ctx.sleep('1s');
    return done;
  });
  app.orchestration('parent', async (ctx, input: string) => {
    const go = await ctx.waitForEvent<string>('go');
    const own = await ctx.callActivity<string>('work', input);
    const child = await ctx.callSubOrchestration<string>('child', `${input}-child`, { instanceId: `${ctx.instanceId}-child` });
    return [go, own, child];
  });
  return app;
}

describe('the priority lane on the local stack', () => {
  let stack: LocalStack;
  const received: EventSourceRequest[] = [];
  /** Messages the pollers received from each queue since `from` (an index into `received`). */
  const messagesByQueue = (from: number) => {
    const urls = stack.config.queues;
    const name = new Map<string, string>([
      [urls.orchestrator, 'orchestrator'],
      [urls.activities, 'activities'],
      [urls.timers, 'timers'],
      [urls.orchestratorHigh!, 'orchestratorHigh'],
      [urls.activitiesHigh!, 'activitiesHigh'],
    ]);
    const counts: Record<string, number> = {};
    for (const request of received.slice(from)) {
      if (request.operation !== 'ReceiveMessage' || request.messages === 0) continue;
      const queue = name.get(request.queueUrl) ?? 'dead letters';
      counts[queue] = (counts[queue] ?? 0) + request.messages;
    }
    return counts;
  };

  beforeAll(async () => {
    stack = await startLocalStack(laneApp(), { logger: silentLogger, maxTimerHopSeconds: 1, onEventSourceRequest: (request) => received.push(request) });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('runs a high-priority instance, its event, activities, child and timer on the lane’s queues alone', async () => {
    const from = received.length;
    const id = await stack.runtime.client.start('parent', 'a', { instanceId: 'lane-high', priority: 'high' });
    expect(await stack.runtime.client.getStatus(id)).toMatchObject({ priority: 'high' });
    await stack.runtime.client.raiseEvent(id, 'go', 'now');
    const done = await stack.runtime.client.waitForCompletion(id, { timeout: '60s' });
    expect(done).toMatchObject({ status: 'Completed', output: ['now', 'worked:a', 'worked:a-child'], priority: 'high' });
    expect(await stack.runtime.client.getStatus('lane-high-child')).toMatchObject({ status: 'Completed', priority: 'high' });

    const counts = messagesByQueue(from);
    // The event's doorbell and the child's start (the activities' results, the child's timer and the child's result step where they run).
    expect(counts.orchestratorHigh).toBeGreaterThanOrEqual(2);
    expect(counts.activitiesHigh).toBe(2);
    expect(counts.orchestrator ?? 0).toBe(0);
    expect(counts.activities ?? 0).toBe(0);
    expect(counts.timers).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('keeps a normal instance off the lane, and says so in its status', async () => {
    const from = received.length;
    const id = await stack.runtime.client.start('parent', 'b', { instanceId: 'lane-normal' });
    await stack.runtime.client.raiseEvent(id, 'go', 'later');
    const done = await stack.runtime.client.waitForCompletion(id, { timeout: '60s' });
    expect(done.status).toBe('Completed');
    expect(done.priority).toBeUndefined();
    const counts = messagesByQueue(from);
    expect(counts.orchestrator).toBeGreaterThanOrEqual(2);
    expect(counts.activities).toBe(2);
    expect(counts.orchestratorHigh ?? 0).toBe(0);
    expect(counts.activitiesHigh ?? 0).toBe(0);
  }, 90_000);

  it('restarts an instance on the lane it ran on, unless told otherwise', async () => {
    const id = await stack.runtime.client.start('parent', 'c', { instanceId: 'lane-restart', priority: 'high' });
    await stack.runtime.client.terminate(id, 'to restart it');
    await stack.runtime.client.waitForCompletion(id, { timeout: '30s' }).catch(() => undefined);
    const again = await stack.runtime.client.restart(id, { instanceId: 'lane-restart-2' });
    expect(await stack.runtime.client.getStatus(again)).toMatchObject({ priority: 'high' });
    const normal = await stack.runtime.client.restart(id, { instanceId: 'lane-restart-3', priority: 'normal' });
    expect((await stack.runtime.client.getStatus(normal)).priority).toBeUndefined();
    for (const instanceId of [again, normal]) await stack.runtime.client.terminate(instanceId, 'done');
  }, 90_000);
});

describe('starting with a priority', () => {
  it('refuses a priority that is not one, and writes nothing', async () => {
    const env = await TestEnvironment.create(laneApp(), { logger: silentLogger });
    try {
      await expect(env.client.start('parent', 'x', { instanceId: 'bad', priority: 'urgent' as 'high' })).rejects.toThrow(ValidationError);
      await expect(env.client.start('parent', 'x', { instanceId: 'bad', priority: 'urgent' as 'high' })).rejects.toThrow(/Invalid priority "urgent": use 'high' or 'normal'/);
      expect((await env.client.list()).instances).toEqual([]);
    } finally {
      await env.close();
    }
  });

  it('refuses priority high where the deployment has no lane (priorityLane: false), and writes nothing', async () => {
    const env = await TestEnvironment.create(laneApp(), { logger: silentLogger });
    try {
      const laneless = Object.assign(Object.create(env.queues) as typeof env.queues, { priorityLane: false });
      const client = new Client({ app: env.app, store: env.store, queues: laneless, clock: env.clock });
      await expect(client.start('parent', 'x', { instanceId: 'no-lane', priority: 'high' })).rejects.toThrow(/This deployment has no high-priority lane/);
      expect(await env.store.getInstance('no-lane')).toBeUndefined();
      // Normal starts go on as before.
      expect(await client.start('parent', 'x', { instanceId: 'no-lane-normal' })).toBe('no-lane-normal');
    } finally {
      await env.close();
    }
  });
});
