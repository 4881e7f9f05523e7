import { describe, expect, it } from 'vitest';
import { Client, createApp, silentLogger, type App } from '../../lib/index.js';
import { MemoryInstanceStore } from '../../lib/memory/memory-store.js';
import type { ActivityTask, Doorbell, WorkQueues } from '../../lib/ports.js';
import { SimulatedCrash, type CrashPoint } from '../../lib/runtime/crash-points.js';
import { OrchestrationWorker } from '../../lib/runtime/orchestration-worker.js';

/** Queues that keep what is sent, for the test to deliver by hand; `failSends` makes the next task sends fail. */
function handQueues() {
  const doorbells: { instanceId: string; doorbell: Doorbell }[] = [];
  const tasks: ActivityTask[] = [];
  let failSends = 0;
  const queues: WorkQueues = {
    ringDoorbell: async (instanceId, doorbell = {}) => void doorbells.push({ instanceId, doorbell }),
    enqueueActivities: async (sent) => {
      if (failSends > 0) {
        failSends--;
        throw new Error('SQS.SendMessageBatch: throttled');
      }
      tasks.push(...sent);
    },
    scheduleTimers: async () => undefined,
    extendActivityLease: async () => undefined,
  };
  return { queues, doorbells, tasks, failNextSends: (count: number) => void (failSends = count) };
}

function setUp(app: App, crashAt?: CrashPoint) {
  const store = new MemoryInstanceStore();
  const hand = handQueues();
  const clock = { now: () => Date.now() };
  let crashes = crashAt ? 1 : 0;
  const crash = (point: CrashPoint) => {
    if (point === crashAt && crashes > 0) {
      crashes--;
      throw new SimulatedCrash(point);
    }
  };
  const deps = { app, store, queues: hand.queues, clock, logger: silentLogger };
  const starter = new OrchestrationWorker({ ...deps, crash });
  const worker = new OrchestrationWorker(deps);
  const client = new Client({ ...deps, eagerStart: starter });
  /** Steps every doorbell rung so far, in order. */
  const ringAll = async () => {
    for (let ring = hand.doorbells.shift(); ring; ring = hand.doorbells.shift()) {
      await worker.step(ring.instanceId, { messages: ring.doorbell.messages ?? [], redelivered: ring.doorbell.repair === true, runInline: ring.doorbell.runInline === true });
    }
  };
  return { store, client, worker, ringAll, ...hand };
}

const completed = (task: ActivityTask, result: unknown) => ({
  messages: [{ messageId: `A#${task.generation}#${task.taskId}`, generation: task.generation, receivedAt: Date.now(), event: { type: 'ActivityCompleted' as const, taskId: task.taskId, result } }],
});

describe('an eager start: the first step runs in the start', () => {
  it('creates the instance with its first step and dispatches its first activity, with no doorbell and no read', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('charge', async () => 'charged');
    app.orchestration('pay', async (ctx, amount: number) => `paid ${amount}: ${await ctx.callActivity<string>('charge', amount)}`);
    const { store, client, worker, doorbells, tasks } = setUp(app);
    let reads = 0;
    const loadStep = store.loadStep.bind(store);
    store.loadStep = (...args) => (reads++, loadStep(...args));

    const id = await client.start('pay', 5);
    expect(await client.getStatus(id)).toMatchObject({ status: 'Running' });
    expect((await client.getHistory(id)).map((event) => event.type)).toEqual(['StepStarted', 'ExecutionStarted', 'ActivityScheduled']);
    expect(tasks.map((task) => [task.name, task.input])).toEqual([['charge', 5]]);
    expect(doorbells).toEqual([]);
    expect(reads).toBe(0);

    await worker.step(id, completed(tasks[0]!, 'charged'));
    expect(await client.getStatus(id)).toMatchObject({ status: 'Completed', output: 'paid 5: charged' });
  });

  it('ends an orchestration that awaits nothing within the start, and says so (startInstance, the HTTP API\'s 202)', async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('echo', async (_ctx, input: string) => `echo ${input}`);
    app.orchestration('again', async (ctx, round: number) => (round < 1 ? ctx.continueAsNew(round + 1) : 'done'));
    const { client, doorbells } = setUp(app);
    const { instanceId, status } = await client.startInstance('echo', 'hi');
    expect(status).toBe('Completed');
    expect(await client.getStatus(instanceId)).toMatchObject({ status: 'Completed', output: 'echo hi' });
    expect(doorbells).toEqual([]);
    // A start that falls back to the doorbell leaves the instance Pending.
    expect(await client.startInstance('again', 0)).toMatchObject({ status: 'Pending' });
  });

  it('records a first step that throws as the instance failing, and still returns its id', async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('broken', async () => {
      throw new Error('bad input');
    });
    const { client } = setUp(app);
    const id = await client.start('broken');
    expect(await client.getStatus(id)).toMatchObject({ status: 'Failed', error: { message: 'bad input' } });
  });

  it('refuses a second start of the same id and writes nothing; before the instance moved on, it sends the first step\'s work again', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('charge', async () => 'charged');
    app.orchestration('pay', async (ctx) => {
      await ctx.callActivity('charge', 1);
      return ctx.callActivity('charge', 2);
    });
    const { client, worker, tasks } = setUp(app);
    await client.start('pay', undefined, { instanceId: 'pay-1' });
    // The caller cannot tell a first request that died before its sends from one whose answer was lost: the retry sends again.
    await expect(client.start('pay', undefined, { instanceId: 'pay-1' })).rejects.toMatchObject({ name: 'InstanceExistsError' });
    expect(tasks.map((task) => task.input)).toEqual([1, 1]);
    expect(await client.getHistory('pay-1')).toHaveLength(3);
    // Once a later step is recorded, the first step's work was sent: a retry sends nothing.
    await worker.step('pay-1', completed(tasks[0]!, 'charged'));
    await expect(client.start('pay', undefined, { instanceId: 'pay-1' })).rejects.toMatchObject({ name: 'InstanceExistsError' });
    expect(tasks.map((task) => task.input)).toEqual([1, 1, 2]);
  });

  it('hands the ctx.step calls of its first step to an orchestrator invocation instead of running them in the start', async () => {
    const app = createApp({ logger: silentLogger });
    let ran = 0;
    app.orchestration('stepped', async (ctx) => ctx.step('work', async () => ++ran));
    const { client, doorbells, ringAll } = setUp(app);
    const id = await client.start('stepped');
    expect(ran).toBe(0);
    expect(doorbells).toEqual([{ instanceId: id, doorbell: { runInline: true } }]);
    await ringAll();
    expect(await client.getStatus(id)).toMatchObject({ status: 'Completed', output: 1 });
    expect(ran).toBe(1);
  });

  it('starts from the doorbell, as without, when the store cannot create the instance with its first step (continue-as-new at once)', async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('again', async (ctx, round: number) => (round < 1 ? ctx.continueAsNew(round + 1) : 'done'));
    const { client, doorbells, ringAll } = setUp(app);
    const id = await client.start('again', 0);
    expect(await client.getStatus(id)).toMatchObject({ status: 'Pending' });
    expect(doorbells.map((ring) => ring.instanceId)).toEqual([id]);
    await ringAll();
    expect(await client.getStatus(id)).toMatchObject({ status: 'Completed', output: 'done' });
  });

  it('rings a repair when the dispatch fails after the commit: the start succeeds and the activity is sent by the repair', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('charge', async () => 'charged');
    app.orchestration('pay', async (ctx) => ctx.callActivity('charge'));
    const { client, doorbells, tasks, failNextSends, ringAll } = setUp(app);
    failNextSends(1);
    const id = await client.start('pay');
    expect(tasks).toEqual([]);
    expect(doorbells).toEqual([{ instanceId: id, doorbell: { repair: true } }]);
    await ringAll();
    expect(tasks.map((task) => task.name)).toEqual(['charge']);
  });

  it.each(['step:before-commit', 'step:after-commit'] as const)(
    'survives a start whose request died at %s: the caller retries, and the instance runs once',
    async (point) => {
      const app = createApp({ logger: silentLogger });
      app.activity('charge', async () => 'charged');
      app.orchestration('pay', async (ctx) => ctx.callActivity('charge'));
      const { client, tasks, ringAll } = setUp(app, point);
      await expect(client.start('pay', undefined, { instanceId: 'pay-crash' })).rejects.toBeInstanceOf(SimulatedCrash);
      // The caller did not hear back and starts again: after a commit the id is taken, and the instance is repaired.
      const retried = await client.start('pay', undefined, { instanceId: 'pay-crash' }).then(
        () => 'started',
        (error: Error) => error.name,
      );
      expect(retried).toBe(point === 'step:before-commit' ? 'started' : 'InstanceExistsError');
      await ringAll();
      expect(tasks.map((task) => task.name)).toEqual(['charge']);
      expect((await client.getHistory('pay-crash')).filter((event) => event.type === 'ActivityScheduled')).toHaveLength(1);
    },
  );
});
