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
    const { store, run } = twoWorkers(app, { timersByDoorbell: true });
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
    const { store, run } = twoWorkers(app, { timersByDoorbell: true });
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

describe('a solo timer', () => {
  const sleeper = () => {
    const phases: string[] = [];
    const app = createApp({ logger: silentLogger, interceptors: [{ phase: async (phase, next) => void (await next(), phases.push(`${phase.name} ${phase.events}`)) }] });
    app.activity('work', async (n: number) => n + 1);
    app.orchestration('nap', async (ctx) => {
      const first = await ctx.callActivity<number>('work', 0);
      await ctx.sleep('1s');
      return ctx.callActivity<number>('work', first);
    });
    app.orchestration('napAndWork', async (ctx) => {
      const [, value] = await Promise.all([ctx.sleep('1s'), ctx.callActivity<number>('work', 0)]);
      return value;
    });
    return { app, phases };
  };

  it('is stepped where it fires, by the worker that stepped the result before it: no doorbell, no replay', async () => {
    const { app, phases } = sleeper();
    const { store, run } = twoWorkers(app);
    const rung: Doorbell[] = [];
    const id = await run('nap', undefined, (doorbell) => rung.push(doorbell));
    expect(await store.getInstance(id)).toMatchObject({ status: 'Completed', output: 2 });
    expect(rung.filter((doorbell) => doorbell.messages?.length)).toEqual([]); // the start's own doorbell carries nothing
    expect(phases).toEqual([
      ...['advance 2', 'commit 3'], // the start
      ...['replay 3', 'advance 2', 'commit 3'], // the first result, in the activity worker (cold: it replays the start)
      'replay 3', // the start's own doorbell, in the doorbell worker: it catches up, and finds nothing to apply
      ...['advance 2', 'commit 3'], // the timer, where it fired: the activity worker's executor is warm
      ...['advance 2', 'commit 3'], // the last result
    ]);
  });

  it('rings the doorbell when another call is in flight (their steps would race)', async () => {
    const { app } = sleeper();
    const { store, run } = twoWorkers(app);
    const fired: string[] = [];
    const id = await run('napAndWork', undefined, (doorbell) => void fired.push(...(doorbell.messages ?? []).map((message) => message.event.type)));
    expect(await store.getInstance(id)).toMatchObject({ status: 'Completed', output: 1 });
    expect(fired).toEqual(expect.arrayContaining(['TimerFired', 'ActivityCompleted']));
  });

  it('rings the doorbell as a repair when redelivered, or when its step fails (either may have committed without dispatching)', async () => {
    const { app } = sleeper();
    const rung: Doorbell[] = [];
    const queues: WorkQueues = { ringDoorbell: async (_id, doorbell) => void rung.push(doorbell ?? {}), enqueueActivities: async () => {}, scheduleTimers: async () => {}, extendActivityLease: async () => {} };
    const deps = { app, store: new MemoryInstanceStore(), queues, clock: systemClock, logger: silentLogger };
    let steps = 0;
    const tasks = new TaskWorker({ ...deps, stepInstance: async () => {
      steps++;
      throw new Error('DynamoDB throttled the commit');
    } });
    const timer: TimerTask = { instanceId: 'nap-1', generation: 0, taskId: 2, fireAt: 0, solo: true, sentAt: { generation: 0, eventId: 6 } };
    await tasks.fireTimer(timer, { redelivered: true });
    expect(steps).toBe(0);
    await tasks.fireTimer(timer);
    expect(steps).toBe(1);
    expect(rung).toHaveLength(2);
    for (const doorbell of rung) expect(doorbell).toMatchObject({ repair: true, messages: [{ messageId: 'T#0#2', event: { type: 'TimerFired', taskId: 2 } }] });
  });
});

describe('a solo child', () => {
  const family = () => {
    const app = createApp({ logger: silentLogger });
    app.activity('work', async (n: number) => n + 1);
    app.orchestration('child', async (ctx, n: number) => ctx.callActivity<number>('work', n));
    app.orchestration('parent', async (ctx) => {
      const first = await ctx.callActivity<number>('work', 0);
      const fromChild = await ctx.callSubOrchestration<number>('child', first, { instanceId: `${ctx.instanceId}-child` });
      return ctx.callActivity<number>('work', fromChild);
    });
    app.orchestration('childAndWork', async (ctx) => {
      const [fromChild, own] = await Promise.all([ctx.callSubOrchestration<number>('child', 10, { instanceId: `${ctx.instanceId}-child` }), ctx.callActivity<number>('work', 0)]);
      return fromChild + own;
    });
    return app;
  };
  const childResults = (rung: { doorbell: Doorbell; instanceId: string }[]) =>
    rung.filter(({ doorbell }) => doorbell.messages?.some((message) => message.event.type === 'SubOrchestrationCompleted'));

  it("commits the child's result as the parent's next step where the child ended: no doorbell for the parent", async () => {
    const { store, run } = twoWorkers(family());
    const rung: { doorbell: Doorbell; instanceId: string }[] = [];
    const id = await run('parent', undefined, (doorbell, instanceId) => rung.push({ doorbell, instanceId }));
    expect(await store.getInstance(id)).toMatchObject({ status: 'Completed', output: 3 });
    expect(childResults(rung)).toEqual([]);
    // The child's start is its doorbell; its result, like every activity's, was committed where it was made.
    expect(rung.map(({ instanceId }) => instanceId)).toEqual([id, `${id}-child`]);
    expect((await store.getInstance(`${id}-child`))?.parent).toMatchObject({ instanceId: id, taskId: 2, solo: { eventId: expect.any(Number) } });
  });

  it('rings the parent\'s doorbell when another call is in flight (their steps would race)', async () => {
    const { store, run } = twoWorkers(family());
    const rung: { doorbell: Doorbell; instanceId: string }[] = [];
    const id = await run('childAndWork', undefined, (doorbell, instanceId) => rung.push({ doorbell, instanceId }));
    expect(await store.getInstance(id)).toMatchObject({ status: 'Completed', output: 12 });
    expect(childResults(rung).map(({ instanceId, doorbell }) => [instanceId, doorbell.repair ?? false])).toEqual([[id, false]]);
    expect((await store.getInstance(`${id}-child`))?.parent?.solo).toBeUndefined();
  });

  it("rings the parent's doorbell as a repair when the parent's step fails there (it may have committed without dispatching)", async () => {
    const store = new MemoryInstanceStore();
    const commitStep = store.commitStep.bind(store);
    let refused = 0;
    store.commitStep = async (instanceId, commit) => {
      if (refused === 0 && commit.append.some((event) => event.type === 'SubOrchestrationCompleted')) {
        refused++;
        throw new Error('DynamoDB throttled the commit');
      }
      return commitStep(instanceId, commit);
    };
    const { run } = twoWorkers(family(), { store });
    const rung: { doorbell: Doorbell; instanceId: string }[] = [];
    const id = await run('parent', undefined, (doorbell, instanceId) => rung.push({ doorbell, instanceId }));
    expect(refused).toBe(1);
    // The repair's re-dispatch finds the child ended, and it reports again (a duplicate the parent drops).
    expect(childResults(rung).map(({ instanceId, doorbell }) => [instanceId, doorbell.repair ?? false])).toEqual([[id, true], [id, false]]);
    expect(await store.getInstance(id)).toMatchObject({ status: 'Completed', output: 3 });
    const history = await store.readHistory(id, 0);
    expect(history.filter((event) => event.type === 'SubOrchestrationCompleted')).toHaveLength(1);
    expect(history.filter((event) => event.type === 'ActivityScheduled')).toHaveLength(2);
  });
});

/**
 * A doorbell worker and an activity function's worker (each with its executor cache, as in the AWS runtime)
 * over one memory store. `run` starts an instance, then delivers every doorbell (what it carries, as the queue
 * handler passes it) and fires every timer until nothing is left in flight. A solo timer steps the instance
 * where it fires, as a solo task's result does; with `timersByDoorbell` every firing goes through the doorbell,
 * as a timer's in a fan-out does, so that the two workers take turns.
 */
function twoWorkers(app: App, options: { timersByDoorbell?: boolean; store?: MemoryInstanceStore } = {}) {
  const store = options.store ?? new MemoryInstanceStore();
  const doorbells: { instanceId: string; doorbell: Doorbell }[] = [];
  const timers: TimerTask[] = [];
  const queues: WorkQueues = {
    ringDoorbell: async (instanceId, doorbell) => void doorbells.push({ instanceId, doorbell: doorbell ?? {} }),
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
  const timerTasks = options.timersByDoorbell ? new TaskWorker(deps) : tasks;
  const run = async (orchestration: string, input: unknown, onDoorbell: (doorbell: Doorbell, instanceId: string) => void = () => undefined): Promise<string> => {
    const id = await new Client(deps).start(orchestration, input);
    await doorbellSteps.step(id);
    while (doorbells.length > 0 || timers.length > 0) {
      const rung = doorbells.shift();
      if (!rung) {
        await timerTasks.fireTimer(timers.shift()!);
        continue;
      }
      const { instanceId, doorbell } = rung;
      onDoorbell(doorbell, instanceId);
      const messages = doorbell.messages ?? [];
      await doorbellSteps.step(instanceId, { messages, carriedOnly: messages.length > 0, redelivered: doorbell.repair === true, ...(doorbell.sentAt ? { sentAt: doorbell.sentAt } : {}) });
    }
    return id;
  };
  return { store, run, tasks };
}
