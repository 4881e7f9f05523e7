import { describe, expect, it } from 'vitest';
import { Client } from '../../lib/client.js';
import { createApp, silentLogger, type App } from '../../lib/index.js';
import { MemoryInstanceStore } from '../../lib/memory/memory-store.js';
import { systemClock, type ActivityTask, type Doorbell, type TimerTask, type WorkQueues } from '../../lib/ports.js';
import { TaskWorker } from '../../lib/runtime/activity-worker.js';
import { OrchestrationWorker } from '../../lib/runtime/orchestration-worker.js';

describe('the warm executor of a solo step', () => {
  it('steps the next result without a read, even when its task runs before the send that dispatched it returns', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('work', async (n: number) => n + 1);
    app.orchestration('sequence', async (ctx, count: number) => {
      let value = 0;
      for (let i = 0; i < count; i++) value = await ctx.callActivity<number>('work', value);
      return value;
    });
    const store = new MemoryInstanceStore();
    let reads = 0;
    const loadStep = store.loadStep.bind(store);
    store.loadStep = (...args) => {
      reads++;
      return loadStep(...args);
    };
    const doorbells: Doorbell[] = [];
    // A poller in the sending process (the local stack's) receives a task while its send is still on the way
    // back: the task runs, and its result's step ends, before the dispatching step's send returns.
    const queues: WorkQueues = {
      ringDoorbell: async (_instanceId, doorbell) => void doorbells.push(doorbell ?? {}),
      enqueueActivities: async (sent: ActivityTask[]) => {
        for (const task of sent) await tasks.runActivity(task);
      },
      scheduleTimers: async () => {},
      extendActivityLease: async () => {},
    };
    const deps = { app, store, queues, clock: systemClock, logger: silentLogger };
    const doorbellSteps = new OrchestrationWorker(deps);
    // The activity function steps instances with a worker of its own, as in the AWS runtime.
    const activitySteps = new OrchestrationWorker(deps);
    const tasks = new TaskWorker({ ...deps, stepInstance: (instanceId, message, { deadline, sentAt }) => activitySteps.step(instanceId, { messages: [message], carriedOnly: true, deadline, ...(sentAt ? { sentAt } : {}) }) });

    const id = await new Client(deps).start('sequence', 6);
    await doorbellSteps.step(id);

    expect(await store.getInstance(id)).toMatchObject({ status: 'Completed', output: 6 });
    // The start's step reads, and the first result's (the activity's worker has no executor yet); no other does.
    expect(reads).toBe(2);
    // Every result was committed where its activity ran: only the start rang.
    expect(doorbells).toHaveLength(1);
  });

  it('does not drop a result of the next generation when another worker continued the instance as new', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('work', async (n: number) => n + 1);
    // The activity's result is stepped by the activity function's worker, the timer's by the doorbell's, which continues as new.
    app.orchestration('twoGenerations', async (ctx, generation: number) => {
      const value = await ctx.callActivity<number>('work', generation);
      if (generation > 0) return value;
      await ctx.sleep('1s');
      ctx.continueAsNew(generation + 1);
    });
    const { store, run } = twoWorkers(app);
    const id = await run('twoGenerations', 0);

    expect(await store.getInstance(id)).toMatchObject({ status: 'Completed', generation: 1, output: 2 });
  });

  it('reads just what it missed, instead of failing its commit and replaying it all, when another worker stepped the instance since', async () => {
    // Each result is stepped by the activity function's worker, each timer by the doorbell's: each finds its
    // executor one step behind. The carried position (`sentAt`) tells it so before it commits.
    const phases: string[] = [];
    const app = createApp({ logger: silentLogger, interceptors: [{ phase: async (phase, next) => {
      await next();
      phases.push(`${phase.name}${phase.conflict ? ' conflict' : ''} ${phase.events}`);
    } }] });
    app.activity('work', async (n: number) => n + 1);
    app.orchestration('alternate', async (ctx, rounds: number) => {
      let value = 0;
      for (let i = 0; i < rounds; i++) {
        value = await ctx.callActivity<number>('work', value);
        await ctx.sleep('1s');
      }
      return value;
    });
    const { store, run } = twoWorkers(app);
    let resultsByDoorbell = 0;
    const id = await run('alternate', 4, (doorbell) => {
      if (doorbell.messages?.some((message) => message.event.type === 'ActivityCompleted')) resultsByDoorbell++;
    });

    expect(await store.getInstance(id)).toMatchObject({ status: 'Completed', output: 4 });
    expect(resultsByDoorbell).toBe(0); // every result was stepped by the activity's worker, every timer by the doorbell's
    expect(phases.filter((phase) => phase.includes('conflict'))).toEqual([]);
    // After each worker's first step (a cold executor), a replay is the one step the worker missed.
    const replays = phases.filter((phase) => phase.startsWith('replay')).map((phase) => Number(phase.split(' ')[1]));
    expect(replays.length).toBeGreaterThanOrEqual(7);
    expect(replays.every((events) => events <= 3)).toBe(true);
  });
});

/**
 * A doorbell worker and an activity function's worker (each with its executor cache, as in the AWS runtime)
 * over one memory store. `run` starts an instance, then delivers every doorbell (what it carries, as the queue
 * handler passes it) and fires every timer until nothing is left in flight.
 */
function twoWorkers(app: App) {
  const store = new MemoryInstanceStore();
  const doorbells: Doorbell[] = [];
  const timers: TimerTask[] = [];
  const queues: WorkQueues = {
    ringDoorbell: async (_instanceId, doorbell) => void doorbells.push(doorbell ?? {}),
    enqueueActivities: async (sent: ActivityTask[]) => {
      for (const task of sent) await tasks.runActivity(task);
    },
    scheduleTimers: async (scheduled) => void timers.push(...scheduled),
    extendActivityLease: async () => {},
  };
  const deps = { app, store, queues, clock: systemClock, logger: silentLogger };
  const doorbellSteps = new OrchestrationWorker(deps);
  const activitySteps = new OrchestrationWorker(deps);
  const tasks = new TaskWorker({ ...deps, stepInstance: (instanceId, message, { deadline, sentAt }) => activitySteps.step(instanceId, { messages: [message], carriedOnly: true, deadline, ...(sentAt ? { sentAt } : {}) }) });
  const run = async (orchestration: string, input: unknown, onDoorbell: (doorbell: Doorbell) => void = () => undefined): Promise<string> => {
    const id = await new Client(deps).start(orchestration, input);
    await doorbellSteps.step(id);
    while (doorbells.length > 0 || timers.length > 0) {
      const doorbell = doorbells.shift();
      if (!doorbell) {
        await tasks.fireTimer(timers.shift()!);
        continue;
      }
      onDoorbell(doorbell);
      await doorbellSteps.step(id, { messages: doorbell.messages ?? [], carriedOnly: (doorbell.messages?.length ?? 0) > 0, ...(doorbell.sentAt ? { sentAt: doorbell.sentAt } : {}) });
    }
    return id;
  };
  return { store, run };
}
