import { describe, expect, it } from 'vitest';
import { QueueHandlers } from '../../lib/aws/sqs-handlers.js';
import type { SqsWorkQueues } from '../../lib/aws/sqs-queues.js';
import { Client, createApp, silentLogger } from '../../lib/index.js';
import { MemoryInstanceStore } from '../../lib/memory/memory-store.js';
import type { Doorbell, WorkQueues } from '../../lib/ports.js';
import { TaskWorker } from '../../lib/runtime/activity-worker.js';
import { OrchestrationWorker } from '../../lib/runtime/orchestration-worker.js';

/**
 * Queues that deliver nothing by themselves: the test rings each doorbell by hand, and can lose one, as the
 * local stack's in-memory queues lose everything when it is killed (its table survives).
 */
function handQueues() {
  const doorbells: { instanceId: string; doorbell: Doorbell }[] = [];
  const queues: WorkQueues = {
    ringDoorbell: async (instanceId, doorbell = {}) => void doorbells.push({ instanceId, doorbell }),
    enqueueActivities: async () => undefined,
    scheduleTimers: async () => undefined,
    extendActivityLease: async () => undefined,
  };
  return { queues, doorbells };
}

describe('work lost with the queues (the local stack killed mid-flight)', () => {
  it('a parent whose child finished before the crash gets the child’s result again when its dispatch is repaired', async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('child', async (_ctx, n: number) => `done ${n}`);
    // Two children at once: neither is the parent's only call, so each rings its parent with its result.
    app.orchestration('parent', async (ctx) => `children said ${(await Promise.all([1, 2].map((n) => ctx.callSubOrchestration<string>('child', n)))).join(', ')}`);
    const store = new MemoryInstanceStore();
    const { queues, doorbells } = handQueues();
    const clock = { now: () => Date.now() };
    const worker = new OrchestrationWorker({ app, store, queues, clock, logger: silentLogger });
    const client = new Client({ app, store, queues, clock });

    const parentId = await client.start('parent');
    await worker.step(parentId); // schedules and starts the children
    const childIds = doorbells.filter((ring) => ring.instanceId !== parentId).map((ring) => ring.instanceId);
    expect(childIds).toHaveLength(2);
    for (const childId of childIds) await worker.step(childId); // each child completes and rings its parent with its result...
    for (const childId of childIds) expect((await client.getStatus(childId)).status).toBe('Completed');
    doorbells.length = 0; // ...and those doorbells are lost with the queue

    // The restart marks every unfinished instance for repair and rings it (lib/local/local-stack.ts).
    const parent = (await store.getInstance(parentId))!;
    expect(parent.status).toBe('Running');
    await store.updateInstance({ ...parent, dispatchPending: true, revision: parent.revision + 1 }, parent.revision);
    await worker.step(parentId);
    for (let ring = doorbells.shift(); ring; ring = doorbells.shift()) await worker.step(ring.instanceId, { messages: ring.doorbell.messages ?? [] });

    expect(await client.getStatus(parentId)).toMatchObject({ status: 'Completed', output: 'children said done 1, done 2' });
  });
});

describe('a step that gives up', () => {
  it('keeps the result it carried in the inbox and rings again when its repairs kept finding dispatch pending', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('charge', async () => 'charged');
    app.orchestration('pay', async (ctx) => ctx.callActivity('charge'));
    const store = new MemoryInstanceStore();
    const { queues, doorbells } = handQueues();
    const clock = { now: () => Date.now() };
    const worker = new OrchestrationWorker({ app, store, queues, clock, logger: silentLogger });
    const instanceId = await new Client({ app, store, queues, clock }).start('pay');
    await worker.step(instanceId);
    const record = (await store.getInstance(instanceId))!;
    await store.updateInstance({ ...record, dispatchPending: true, revision: record.revision + 1 }, record.revision);
    // The flag cannot be cleared (the record keeps changing under the repair): every attempt of the step repairs.
    const clearing = store.updateInstance.bind(store);
    store.updateInstance = async (instance, expected) => (instance.dispatchPending === false ? false : clearing(instance, expected));
    doorbells.length = 0;
    const result = { messageId: 'A#0#1', generation: 0, receivedAt: clock.now(), event: { type: 'ActivityCompleted' as const, taskId: 1, result: 'charged' } };
    expect(await worker.step(instanceId, { messages: [result] })).toBe('repaired');
    expect((await store.loadStep(instanceId))!.inbox.map((message) => message.messageId)).toEqual(['A#0#1']);
    expect(doorbells.filter((ring) => ring.instanceId === instanceId && !ring.doorbell.messages)).toHaveLength(1);

    // Once the record holds still, that doorbell's step applies the stored result.
    store.updateInstance = clearing;
    await worker.step(instanceId);
    expect(await new Client({ app, store, queues, clock }).getStatus(instanceId)).toMatchObject({ status: 'Completed', output: 'charged' });
  });
});

describe('crash evidence of activities', () => {
  it('a redelivered activity that ran to the end is not counted as a crash when it comes back again (its acknowledgement was lost, or it outlasted its invocation)', async () => {
    const app = createApp({ logger: silentLogger });
    let runs = 0;
    app.activity('charge', async () => ++runs);
    app.orchestration('pay', async (ctx) => ctx.callActivity('charge'));
    const store = new MemoryInstanceStore();
    const { queues, doorbells } = handQueues();
    const clock = { now: () => Date.now() };
    const tasks = new TaskWorker({ app, store, queues, clock, logger: silentLogger });
    const instanceId = await new Client({ app, store, queues, clock }).start('pay');
    doorbells.length = 0;
    const task = { instanceId, generation: 0, taskId: 1, name: 'charge', input: undefined, attempt: 1, idempotencyKey: `${instanceId}:0:1` };
    // Delivered again and again, each time already past its invocation's deadline when the next one comes.
    for (let delivery = 0; delivery < 6; delivery++) await tasks.runActivity(task, { redelivered: true, deadline: Date.now() - 1 });
    expect(runs).toBe(6);
    expect(doorbells.map((ring) => ring.doorbell.messages?.[0]?.event.type)).toEqual(Array(6).fill('ActivityCompleted'));
  });
});

describe('crash evidence of steps', () => {
  it('a redelivered step that made progress leaves no crash behind for the same position of the next generation', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('noop', async () => 'ok');
    app.orchestration('twice', async (ctx, round: number) => {
      await ctx.callActivity('noop');
      if (round === 0) ctx.continueAsNew(1);
      return 'done';
    });
    const store = new MemoryInstanceStore();
    const { queues, doorbells } = handQueues();
    const clock = { now: () => Date.now() };
    // One counted crash would be poison: a crash that did not happen shows at once.
    const worker = new OrchestrationWorker({ app, store, queues, clock, logger: silentLogger, poisonAfterCrashes: 1 });
    const client = new Client({ app, store, queues, clock });
    const id = await client.start('twice', 0);
    const complete = (taskId: number, generation: number) => ({ messages: [{ messageId: `A#${generation}#${taskId}`, generation, receivedAt: clock.now(), event: { type: 'ActivityCompleted' as const, taskId, result: 'ok' } }] });

    // Generation 0 starts from a redelivered doorbell (its invocation's deadline long past), and makes progress.
    await worker.step(id, { redelivered: true, deadline: Date.now() - 1 });
    await worker.step(id, complete(1, 0)); // continues as new
    expect((await store.getInstance(id))?.generation).toBe(1);
    // Generation 1 starts from a redelivered doorbell too, at the same position (0).
    doorbells.length = 0;
    await worker.step(id, { redelivered: true, deadline: Date.now() - 1 });
    await worker.step(id, complete(1, 1));
    expect(await client.getStatus(id)).toMatchObject({ status: 'Completed', output: 'done' });
  });

  it('a delivery past its deadline that is still running when the next one comes, then ends, is not a crash: a busy machine does not poison a healthy activity', async () => {
    const app = createApp({ logger: silentLogger });
    const running: (() => void)[] = [];
    app.activity('charge', () => new Promise<string>((resolve) => running.push(() => resolve('charged'))));
    app.orchestration('pay', async (ctx) => ctx.callActivity('charge'));
    const store = new MemoryInstanceStore();
    const { queues, doorbells } = handQueues();
    const clock = { now: () => Date.now() };
    const tasks = new TaskWorker({ app, store, queues, clock, logger: silentLogger, poisonAfterCrashes: 2 });
    const instanceId = await new Client({ app, store, queues, clock }).start('pay');
    doorbells.length = 0;
    const task = { instanceId, generation: 0, taskId: 1, name: 'charge', input: undefined, attempt: 1, idempotencyKey: `${instanceId}:0:1` };
    // Each delivery comes while the one before still runs past its deadline (Lambda would have ended it; this
    // host did not), and that one then finishes: alive all along.
    const deliveries: Promise<void>[] = [];
    for (let delivery = 0; delivery < 5; delivery++) {
      deliveries.push(tasks.runActivity(task, { redelivered: true, deadline: Date.now() - 1 }));
      while (running.length <= delivery) await new Promise((resolve) => setTimeout(resolve, 1));
      if (delivery > 0) {
        running[delivery - 1]!();
        await deliveries[delivery - 1];
      }
    }
    running[4]!();
    await Promise.all(deliveries);
    // Every delivery ran the activity and reported its result; none was failed as poison.
    expect(doorbells.map((ring) => ring.doorbell.messages?.[0]?.event.type)).toEqual(Array(5).fill('ActivityCompleted'));
  });
});

describe('a doorbell that reached the dead-letter queue', () => {
  it('is rung again as a repair: a step that committed and then failed to dispatch on its last delivery leaves no call unsent', async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('charge', async () => 'charged');
    app.orchestration('pay', async (ctx) => ctx.callActivity('charge'));
    const store = new MemoryInstanceStore();
    const { queues, doorbells } = handQueues();
    const sent: string[] = [];
    let sendFails = true;
    // The queue refuses the task once (throttled), after the step committed it.
    queues.enqueueActivities = async (tasks) => {
      if (sendFails) {
        sendFails = false;
        throw new Error('SQS.SendMessageBatch: throttled');
      }
      sent.push(...tasks.map((task) => task.name));
    };
    const clock = { now: () => Date.now() };
    const deps = { app, store, queues: queues as unknown as SqsWorkQueues, clock, logger: silentLogger };
    const handlers = new QueueHandlers({ ...deps, orchestrations: new OrchestrationWorker(deps), tasks: new TaskWorker(deps), maxReceiveCount: 3 });
    const record = (ring: (typeof doorbells)[number], receiveCount: number) => ({
      messageId: `m-${doorbells.indexOf(ring)}-${receiveCount}`,
      body: JSON.stringify({ instanceId: ring.instanceId, ...ring.doorbell }),
      attributes: { ApproximateReceiveCount: String(receiveCount) },
    });

    await new Client({ app, store, queues, clock }).start('pay');
    const start = doorbells.shift()!;
    // Its last allowed delivery: the step commits the activity's schedule, and the send fails.
    expect((await handlers.doorbells([record(start, 3)])).batchItemFailures).toHaveLength(1);
    expect(sent).toEqual([]);
    // SQS moves it to the dead-letter queue; the handler finds no crash evidence and rings again.
    await handlers.orchestratorDeadLetters([record(start, 4)]);
    const again = doorbells.shift()!;
    expect(again.doorbell).toMatchObject({ repair: true });
    expect((await handlers.doorbells([record(again, 1)])).batchItemFailures).toEqual([]);
    expect(sent).toEqual(['charge']);
  });
});
