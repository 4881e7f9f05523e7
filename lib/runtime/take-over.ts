import type { InstanceStore, WorkQueues } from '../ports.js';

/**
 * Hands every unfinished instance to a runtime whose queues start empty (a local stack started again, a test
 * environment over another's store): each is marked for re-dispatch and its doorbell rung, so its next step
 * sends again the work the lost queues held (tasks, timers, children), as after a crash.
 */
export async function takeOverUnfinished(store: InstanceStore, queues: WorkQueues): Promise<void> {
  for (const status of ['Pending', 'Running', 'Suspended'] as const) {
    let cursor: string | undefined;
    do {
      const page = await store.listInstances({ status, limit: 100, ...(cursor ? { cursor } : {}) });
      for (const instance of page.instances) {
        await store.updateInstance({ ...instance, dispatchPending: true, revision: instance.revision + 1 }, instance.revision);
        // Its headers keep it on its lane (priority) and in its trace.
        await queues.ringDoorbell(instance.instanceId, instance.headers ? { headers: instance.headers } : {});
      }
      cursor = page.cursor;
    } while (cursor);
  }
}
