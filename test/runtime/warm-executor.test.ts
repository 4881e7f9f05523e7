import { describe, expect, it } from 'vitest';
import { Client } from '../../lib/client.js';
import { createApp, silentLogger } from '../../lib/index.js';
import { MemoryInstanceStore } from '../../lib/memory/memory-store.js';
import { systemClock, type ActivityTask, type Doorbell, type WorkQueues } from '../../lib/ports.js';
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
    const tasks = new TaskWorker({ ...deps, stepInstance: (instanceId, message, deadline) => activitySteps.step(instanceId, { messages: [message], carriedOnly: true, deadline }) });

    const id = await new Client(deps).start('sequence', 6);
    await doorbellSteps.step(id);

    expect(await store.getInstance(id)).toMatchObject({ status: 'Completed', output: 6 });
    // The start's step reads, and the first result's (the activity's worker has no executor yet); no other does.
    expect(reads).toBe(2);
    // Every result was committed where its activity ran: only the start rang.
    expect(doorbells).toHaveLength(1);
  });
});
