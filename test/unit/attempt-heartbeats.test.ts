import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger, type ActivityContext } from '../../lib/index.js';
import { MemoryInstanceStore } from '../../lib/memory/memory-store.js';
import { runAttempt, type AttemptSpec } from '../../lib/runtime/attempt.js';

/** One attempt of `fn`, and the event it ends with. */
const attempt = async (fn: (actx: ActivityContext) => unknown, spec: AttemptSpec) => (await runAttempt((_input, actx) => fn(actx), spec)).outcome;
import { HEARTBEAT_WRITE_INTERVAL_MS } from '../../lib/runtime/heartbeats.js';

const spec: AttemptSpec = { instanceId: 'i-1', taskId: 1, name: 'sync', kind: 'activity', attempt: 1, idempotencyKey: 'i-1:0:1', timeoutMs: 60_000, logger: silentLogger };

/** An instance record for the store to find: a heartbeat reads it. */
async function storeWithInstance(): Promise<MemoryInstanceStore> {
  const store = new MemoryInstanceStore();
  const record = { instanceId: 'i-1', name: 'o', version: '1', status: 'Running' as const, generation: 0, input: null, createdAt: 0, updatedAt: 0, lastEventId: 0, revision: 0 };
  await store.createInstance(record, { messageId: 'start#0', receivedAt: 0, event: { type: 'ExecutionStarted', name: 'o', version: '1', input: null } });
  return store;
}

describe('an attempt with a heartbeatTimeout, on a fake clock', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lives as long as heartbeats come more often than the heartbeatTimeout, each restarting it', async () => {
    const outcome = attempt(async (actx: ActivityContext) => {
      for (let i = 0; i < 10; i++) {
        await new Promise((resolve) => setTimeout(resolve, 900));
        await actx.heartbeat();
      }
      return 'ten heartbeats, 9 s';
    }, { ...spec, heartbeatTimeoutMs: 1_000 });
    await vi.advanceTimersByTimeAsync(9_000);
    expect(await outcome).toEqual({ type: 'ActivityCompleted', taskId: 1, result: 'ten heartbeats, 9 s' });
  });

  it('fails with a TimeoutError and aborts the signal once a heartbeat is late', async () => {
    let signal: AbortSignal | undefined;
    const outcome = attempt(async (actx: ActivityContext) => {
      signal = actx.signal;
      await new Promise((resolve) => setTimeout(resolve, 900));
      await actx.heartbeat();
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      return 'too late';
    }, { ...spec, heartbeatTimeoutMs: 1_000 });
    await vi.advanceTimersByTimeAsync(1_899);
    expect(signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const result = await outcome;
    expect(result).toMatchObject({ type: 'ActivityFailed', error: { name: 'TimeoutError', message: expect.stringMatching(/^Activity 'sync' sent no heartbeat for 1s, its heartbeatTimeout \(attempt 1\)/) as string } });
    expect(signal?.aborted).toBe(true);
    expect((signal?.reason as Error).name).toBe('TimeoutError');
  });

  it('writes details at the first heartbeat and then once per interval, without losing the latest', async () => {
    const store = await storeWithInstance();
    const writes = vi.spyOn(store, 'recordHeartbeat');
    const outcome = attempt(async (actx: ActivityContext) => {
      for (let second = 1; second <= 75; second++) {
        await actx.heartbeat({ second });
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      return 'done';
    }, { ...spec, timeoutMs: 120_000, heartbeats: { store, clock: { now: () => Date.now() } } });
    await vi.advanceTimersByTimeAsync(75_000);
    expect(await outcome).toMatchObject({ type: 'ActivityCompleted' });
    expect(HEARTBEAT_WRITE_INTERVAL_MS).toBe(30_000);
    // At 0 s, 30 s and 60 s: 3 writes for 75 heartbeats. A completed attempt leaves the rest unwritten.
    expect(writes.mock.calls.map(([, , heartbeat]) => heartbeat.details)).toEqual([{ second: 1 }, { second: 31 }, { second: 61 }]);
  });

  it('is a no-op after the attempt completed (work it left running may still call it)', async () => {
    let kept: ActivityContext | undefined;
    const outcome = await attempt((actx: ActivityContext) => {
      kept = actx;
      return 'returned';
    }, { ...spec, heartbeatTimeoutMs: 1_000 });
    expect(outcome).toMatchObject({ type: 'ActivityCompleted' });
    await expect(kept!.heartbeat({ late: true })).resolves.toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });
});
