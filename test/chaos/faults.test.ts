import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { persist } from '../../chaos/programs.js';
import { runChaos } from '../../chaos/run.js';
import { FaultInjector, SimulatedCrash, type FaultRule } from '../../lib/faults.js';
import { createApp, silentLogger, TestEnvironment, type HistoryEvent } from '../../lib/index.js';
import { startLocalStack } from '../../lib/local/local-stack.js';
import type { CrashPoint } from '../../lib/runtime/crash-points.js';
import { OrchestrationWorker } from '../../lib/runtime/orchestration-worker.js';
import { waitUntil } from '../support.js';

/**
 * A saga in small: two activities, a fan-out, a timer, an event. Counts each activity's side effects.
 * With `inline`, the activities run inside the orchestrator's invocation.
 */
function sagaApp(options: { inline?: boolean } = {}) {
  const effects = new Map<string, number>();
  const app = createApp({ logger: silentLogger });
  const inline = { inline: options.inline === true, timeout: '1s' };
  app.activity('charge', async (order: string) => {
    effects.set(`charge ${order}`, (effects.get(`charge ${order}`) ?? 0) + 1);
    // A receipt too large to keep inline (it does not compress): the AWS runtime offloads it to S3.
    return { paid: `paid ${order}`, receipt: randomBytes(120_000).toString('base64') };
  }, inline);
  app.activity('pack', async (item: number) => {
    effects.set(`pack ${item}`, (effects.get(`pack ${item}`) ?? 0) + 1);
    return item * 10;
  }, inline);
  app.orchestration('saga', async (ctx, order: string) => {
    const { paid } = await ctx.callActivity<{ paid: string }>('charge', order);
    const packed = await Promise.all([1, 2, 3].map((item) => ctx.callActivity<number>('pack', item)));
    await ctx.sleep('1s');
    const approval = await ctx.waitForEvent<string>('approval');
    return { paid, packed, approval };
  });
  return { app, effects };
}

const EXPECTED = { paid: 'paid o-1', packed: [10, 20, 30], approval: 'yes' };

/** Each task recorded once; nothing left in the inbox. */
function expectRecordedOnce(history: HistoryEvent[]): void {
  const results = history.filter((event) => event.type === 'ActivityCompleted' || event.type === 'TimerFired').map((event) => (event as { taskId: number }).taskId);
  expect(new Set(results).size).toBe(results.length);
  expect(results).toHaveLength(5);
}

describe('chosen faults in the in-memory runtime', () => {
  // Inline runs take fewer invocations (and doorbells): their later faults come sooner.
  const crashesAt = (points: CrashPoint[], later: number) =>
    points.flatMap((point): [string, FaultRule[]][] => [
      [`a crash at ${point} (first time)`, [{ operation: point, nth: 1, fault: 'crash' }]],
      [`a crash at ${point} (time ${later})`, [{ operation: point, nth: later, fault: 'crash' }]],
    ]);
  const common = (later: number): [string, FaultRule[]][] => [
    ...crashesAt(['step:before-commit', 'step:after-commit', 'step:before-ack'], later),
    ['a lost response of the first commit', [{ operation: 'store.commitStep', nth: 1, fault: 'lost-response' }]],
    ['a lost response of the second commit', [{ operation: 'store.commitStep', nth: 2, fault: 'lost-response' }]],
    ['a lost response of the third commit', [{ operation: 'store.commitStep', nth: 3, fault: 'lost-response' }]],
    ['a throttled step load', [{ operation: 'store.loadStep', nth: 1, fault: 'throttle' }]],
    ['a failed timer dispatch', [{ operation: 'queues.scheduleTimers', nth: 1, fault: 'server-error' }]],
  ];
  const queued: [string, FaultRule[]][] = [
    ...common(3),
    ...crashesAt(['activity:before-record', 'activity:before-ack'], 3),
    ['a crash where the timer fired, after its step', [{ operation: 'timer:before-ack', nth: 1, fault: 'crash' }]],
    ['a failed doorbell', [{ operation: 'queues.ringDoorbell', nth: 2, fault: 'server-error' }]],
    ['a lost response of a doorbell carrying a result', [{ operation: 'queues.ringDoorbell', nth: 2, fault: 'lost-response' }]],
    ['a failed dispatch of activities', [{ operation: 'queues.enqueueActivities', nth: 2, fault: 'server-error' }]],
    ['a lost response of a dispatch of activities', [{ operation: 'queues.enqueueActivities', nth: 2, fault: 'lost-response' }]],
  ];
  const inline: [string, FaultRule[]][] = [
    ...common(2),
    ...crashesAt(['inline:before-run', 'inline:before-commit'], 2),
    // The solo timer steps the instance where it fires; when that commit fails, the firing goes through the doorbell.
    ['a failed commit where the timer fired', [{ operation: 'store.commitStep', nth: 4, fault: 'server-error' }]],
    ['a crash where the timer fired, after its step', [{ operation: 'timer:before-ack', nth: 1, fault: 'crash' }]],
  ];

  const runSaga = async (chosen: FaultRule[], options: { inline?: boolean } = {}) => {
    const { app, effects } = sagaApp(options);
    const faults = new FaultInjector(1, {}, chosen);
    const env = await TestEnvironment.create(app, { faults });
    try {
      const id = await env.client.start('saga', 'o-1');
      await env.client.raiseEvent(id, 'approval', 'yes');
      const status = await env.client.waitForCompletion(id, { timeout: '10s' });
      expect(status).toMatchObject({ status: 'Completed', output: EXPECTED });
      expectRecordedOnce(await env.client.getHistory(id));
      for (const key of ['charge o-1', 'pack 1', 'pack 2', 'pack 3']) expect(effects.get(key)).toBeGreaterThanOrEqual(1);
      await env.idle();
      expect(faults.total).toBe(1);
      expect((await env.store.loadStep(id))?.inbox).toEqual([]);
    } finally {
      await env.close();
    }
  };

  it.each(queued)('%s: the instance completes, each result recorded once, each activity run at least once', async (_what, chosen) => runSaga(chosen));
  it.each(inline)('inline activities, %s: the instance completes, each result recorded once, each activity run at least once', async (_what, chosen) => runSaga(chosen, { inline: true }));

  // A solo child's last step commits the child's result as the parent's next step, in the same invocation: a fault
  // at any of the steps (the parent's there included) ends with the parent completed and each result recorded once.
  const family: [string, FaultRule[]][] = [1, 2, 3, 4, 5, 6].flatMap((nth): [string, FaultRule[]][] => [
    [`a crash after commit ${nth}`, [{ operation: 'step:after-commit', nth, fault: 'crash' }]],
    [`a crash before the acknowledgement of step ${nth}`, [{ operation: 'step:before-ack', nth, fault: 'crash' }]],
    [`a failed commit ${nth}`, [{ operation: 'store.commitStep', nth, fault: 'server-error' }]],
  ]);
  it.each(family)('a parent and its solo child, %s: both complete, each result recorded once', async (_what, chosen) => {
    const app = createApp({ logger: silentLogger });
    app.activity('work', async (n: number) => n + 1);
    app.orchestration('child', async (ctx, n: number) => ctx.callActivity<number>('work', n));
    app.orchestration('parent', async (ctx) => {
      const first = await ctx.callActivity<number>('work', 0);
      const fromChild = await ctx.callSubOrchestration<number>('child', first, { instanceId: 'family-child' });
      return ctx.callActivity<number>('work', fromChild);
    });
    const faults = new FaultInjector(1, {}, chosen);
    const env = await TestEnvironment.create(app, { faults });
    try {
      const id = await env.client.start('parent', undefined, { instanceId: 'family' });
      expect(await env.client.waitForCompletion(id, { timeout: '10s' })).toMatchObject({ status: 'Completed', output: 3 });
      await env.idle();
      expect(faults.total).toBe(1);
      for (const [instance, calls] of [[id, 3], ['family-child', 1]] as const) {
        const history = await env.client.getHistory(instance);
        const settled = history.filter((event) => event.type === 'ActivityCompleted' || event.type === 'SubOrchestrationCompleted').map((event) => (event as { taskId: number }).taskId);
        expect(settled).toHaveLength(calls);
        expect(new Set(settled).size).toBe(calls);
        expect((await env.store.loadStep(instance))?.inbox).toEqual([]);
      }
    } finally {
      await env.close();
    }
  });

  it('an inline commit that loses to another worker leaves its results to be applied, once, by the next step', async () => {
    const { app, effects } = sagaApp({ inline: true });
    // Between the inline run and its commit, a second worker steps the instance: the commit finds the chain moved on.
    class Meddler extends FaultInjector {
      interfered = 0;
      override readonly crashHook = (point: CrashPoint, instanceId: string) => {
        if (point !== 'inline:before-commit' || this.interfered++ > 0) return;
        void env.store.deliver(instanceId, { messageId: 'E#early', receivedAt: env.clock.now(), event: { type: 'EventRaised', name: 'approval', data: 'yes' } }).then(() => rogue.step(instanceId));
        throw new SimulatedCrash(point);
      };
    }
    const faults = new Meddler(1);
    const env = await TestEnvironment.create(app, { faults });
    const rogue = new OrchestrationWorker({ app, store: env.store, queues: env.queues, clock: env.clock, logger: silentLogger });
    try {
      const id = await env.client.start('saga', 'o-1');
      expect(await env.client.waitForCompletion(id, { timeout: '10s' })).toMatchObject({ status: 'Completed', output: EXPECTED });
      expect(faults.interfered).toBeGreaterThan(0);
      expectRecordedOnce(await env.client.getHistory(id));
      expect(effects.get('charge o-1')).toBeGreaterThanOrEqual(1);
      await env.idle();
      expect((await env.store.loadStep(id))?.inbox).toEqual([]);
    } finally {
      await env.close();
    }
  });

  it('delivers duplicated activity tasks and timers, and records each result once', async () => {
    const { app, effects } = sagaApp();
    const faults = new FaultInjector(2, { duplicate: 1 });
    const env = await TestEnvironment.create(app, { faults });
    try {
      const id = await env.client.start('saga', 'o-1');
      await env.client.raiseEvent(id, 'approval', 'yes');
      expect(await env.client.waitForCompletion(id, { timeout: '10s' })).toMatchObject({ status: 'Completed', output: EXPECTED });
      expectRecordedOnce(await env.client.getHistory(id));
      expect(effects.get('pack 2')).toBe(2); // ran twice, recorded once
    } finally {
      await env.close();
    }
  });
});

describe('rewind and cancel under duplicates and crashes', () => {
  /** An activity that fails until fixed; once fixed, each run waits until the test lets it finish. */
  function fixableApp() {
    const app = createApp({ logger: silentLogger });
    const service = { fixed: false, runs: 0, release: () => {}, held: Promise.resolve() };
    app.activity('fragile', async () => {
      service.runs++;
      if (!service.fixed) throw new Error('broken');
      await service.held;
      return 'fixed';
    });
    app.orchestration('one', async (ctx) => ctx.callActivity<string>('fragile'));
    app.orchestration('kid', async (ctx) => ctx.callActivity<string>('fragile'));
    app.orchestration('parent', async (ctx) => ctx.callSubOrchestration<string>('kid', null, { instanceId: `${ctx.instanceId}-kid` }));
    const fix = () => {
      service.fixed = true;
      service.held = new Promise<void>((resolve) => (service.release = resolve));
    };
    return { app, service, fix };
  }

  it.each([
    ['an activity', 'one', 'A', 'ActivityFailed'],
    ['a sub-orchestration', 'parent', 'S', 'SubOrchestrationFailed'],
  ] as const)('a late duplicate of the failure a rewind undid is not taken for the new run of %s', async (_what, orchestration, prefix, failedType) => {
    const { app, service, fix } = fixableApp();
    const env = await TestEnvironment.create(app);
    try {
      const id = await env.client.start(orchestration);
      expect((await env.client.waitForCompletion(id)).status).toBe('Failed');
      const failure = (await env.client.getHistory(id)).find((event) => event.type === failedType) as Extract<HistoryEvent, { type: typeof failedType }>;
      fix();
      const runs = service.runs;
      await env.client.rewind(id);
      await waitUntil(() => service.runs > runs); // the call runs again, and is held
      // The failure arrives once more, as a duplicated queue message or a repair's re-send would bring it; a step takes it from the inbox.
      await env.store.deliver(id, { messageId: `${prefix}#0#${failure.taskId}`, generation: 0, receivedAt: env.clock.now(), event: { type: failedType, taskId: failure.taskId, error: failure.error } });
      await env.queues.ringDoorbell(id);
      await waitUntil(async () => (await env.store.loadStep(id))?.inbox.length === 0);
      service.release();
      expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'fixed' });
    } finally {
      await env.close();
    }
  });

  it("a rewind whose first try crashed after rewinding the child still undoes the child's failure", async () => {
    const { app, service, fix } = fixableApp();
    class CrashOnce extends FaultInjector {
      armed: string | undefined;
      override readonly crashHook = (point: CrashPoint, instanceId: string) => {
        if (point !== 'step:before-commit' || instanceId !== this.armed) return;
        this.armed = undefined;
        throw new SimulatedCrash(point);
      };
    }
    const faults = new CrashOnce(0);
    const env = await TestEnvironment.create(app, { faults });
    try {
      const id = await env.client.start('parent', null, { instanceId: 'p-1' });
      expect((await env.client.waitForCompletion(id)).status).toBe('Failed');
      fix();
      service.release();
      faults.armed = id; // the rewind step dies before its commit, after it rewound the child
      await env.client.rewind(id);
      expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'fixed' });
      expect(faults.armed).toBeUndefined();
      const rewound = (await env.client.getHistory(id)).filter((event) => event.type === 'ExecutionRewound');
      expect(rewound).toHaveLength(1);
    } finally {
      await env.close();
    }
  });

  it.each([
    ['its response was lost (the update landed)', true],
    ['the child changed in between (it did not)', false],
  ] as const)("a rewind whose update of the failed child reads as refused because %s still runs the child again", async (_why, landed) => {
    const { app, service, fix } = fixableApp();
    // A fault injector with no faults of its own: a step that throws has its doorbell delivered again.
    const env = await TestEnvironment.create(app, { faults: new FaultInjector(0) });
    try {
      const id = await env.client.start('parent', null, { instanceId: `p-lost-${landed}` });
      expect((await env.client.waitForCompletion(id)).status).toBe('Failed');
      fix();
      service.release();
      const update = env.store.updateInstance.bind(env.store);
      let refused = 0;
      env.store.updateInstance = async (instance, expectedRevision) => {
        if (instance.instanceId !== `${id}-kid` || !instance.rewindRequested || refused++ > 0) return update(instance, expectedRevision);
        if (landed) await update(instance, expectedRevision);
        return false;
      };
      await env.client.rewind(id);
      expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'fixed' });
      expect(refused).toBeGreaterThan(0);
      expect((await env.client.getHistory(id)).filter((event) => event.type === 'ExecutionRewound')).toHaveLength(1);
    } finally {
      await env.close();
    }
  });

  it('a rewind retried after its doorbell failed rings again instead of refusing a Running instance', async () => {
    const { app, service, fix } = fixableApp();
    const env = await TestEnvironment.create(app);
    try {
      const id = await env.client.start('one');
      expect((await env.client.waitForCompletion(id)).status).toBe('Failed');
      fix();
      service.release();
      const ring = env.queues.ringDoorbell.bind(env.queues);
      env.queues.ringDoorbell = async () => {
        env.queues.ringDoorbell = ring;
        throw new Error('SQS unavailable (injected)');
      };
      await expect(env.client.rewind(id)).rejects.toThrow(/SQS unavailable/);
      expect((await env.client.getStatus(id)).status).toBe('Running'); // asked, not yet applied
      await env.client.rewind(id); // the caller's retry
      expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'fixed' });
    } finally {
      await env.close();
    }
  });

  it("a cancel reaches a child whose doorbell failed the first time: the retried step rings it again", async () => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('child', async (ctx) => ctx.waitForEvent('never'));
    app.orchestration('parent', async (ctx) => ctx.callSubOrchestration('child', null, { instanceId: 'c-1' }));
    const env = await TestEnvironment.create(app, { faults: new FaultInjector(0) });
    try {
      const id = await env.client.start('parent', null, { instanceId: 'p-2' });
      await waitUntil(async () => (await env.client.getStatus('c-1').catch(() => undefined))?.status === 'Running');
      const ring = env.queues.ringDoorbell.bind(env.queues);
      let failures = 0;
      env.queues.ringDoorbell = async (instanceId, doorbell) => {
        if (instanceId === 'c-1' && failures++ === 0) throw new Error('SQS unavailable (injected)');
        return ring(instanceId, doorbell);
      };
      await env.client.cancel(id);
      expect((await env.client.waitForCompletion(id)).status).toBe('Cancelled');
      expect(await env.client.waitForCompletion('c-1')).toMatchObject({ status: 'Cancelled', error: { message: "Instance 'c-1' was cancelled: its parent 'p-2' was cancelled" } });
      expect(failures).toBeGreaterThan(1);
    } finally {
      await env.close();
    }
  });
});

describe('crash evidence across generations', () => {
  it('a step marker left by an earlier generation does not count as a crash of a step at the same position after continueAsNew', async () => {
    const app = createApp({ logger: silentLogger });
    let armed = false;
    app.orchestration('looping', async (ctx, n: number) => {
      if (!ctx.isReplaying && n === 1) armed = true; // the first step of generation 1 dies before its doorbell is acknowledged
      await ctx.sleep('1s');
      if (n === 0) ctx.continueAsNew(1);
      return n;
    });
    class CrashWhenArmed extends FaultInjector {
      override readonly crashHook = (point: CrashPoint) => {
        if (point !== 'step:before-ack' || !armed) return;
        armed = false;
        throw new SimulatedCrash(point);
      };
    }
    const env = await TestEnvironment.create(app, { faults: new CrashWhenArmed(0), poisonAfterCrashes: 2 });
    try {
      const id = await env.client.start('looping', 0);
      // What a step of generation 0 at history position 3 leaves when it died once and its retry made progress.
      const now = Date.now();
      await env.store.beginAttempt(id, 'step', { position: 3, now: now - 2, deadline: now - 1 });
      await env.store.beginAttempt(id, 'step', { position: 3, now, deadline: now });
      const status = await env.client.waitForCompletion(id);
      expect(armed).toBe(false); // the crash happened
      expect(status).toMatchObject({ status: 'Completed', output: 1, generation: 1 });
    } finally {
      await env.close();
    }
  });
});

describe('faults through the AWS SDK on the local stack', () => {
  it('survives chosen DynamoDB, SQS and S3 faults: throttling, 5xx, a commit whose response was lost, slow calls and invocations, and crashes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'perdure-faults-'));
    const { app, effects } = sagaApp();
    const chosen: FaultRule[] = [
      { operation: 'DynamoDB.PutItem', nth: 1, fault: 'lost-response' }, // the start: retried, found there
      { operation: 'DynamoDB.PutItem', nth: 3, fault: 'lost-response' }, // a one-write commit
      { operation: 'DynamoDB.PutItem', nth: 4, fault: 'throttle' },
      { operation: 'DynamoDB.TransactWriteItems', nth: 1, fault: 'lost-response' }, // the first step's commit
      { operation: 'DynamoDB.TransactWriteItems', nth: 2, fault: 'throttle' },
      { operation: 'DynamoDB.Query', nth: 3, fault: 'throttle' },
      { operation: 'DynamoDB.Query', nth: 5, fault: 'server-error' },
      { operation: 'SQS.SendMessageBatch', nth: 3, fault: 'server-error' },
      { operation: 'SQS.SendMessageBatch', nth: 5, fault: 'lost-response' },
      { operation: 'SQS.DeleteMessageBatch', nth: 2, fault: 'lost-response' },
      { operation: 'S3.PutObject', nth: 1, fault: 'server-error' },
      { operation: 'S3.PutObject', nth: 2, fault: 'lost-response' },
      { operation: 'step:after-commit', nth: 2, fault: 'crash' },
      { operation: 'activity:before-record', nth: 1, fault: 'crash' },
      // Slower than the function timeout (1 s), sometimes than the visibility timeout (2 s): the message comes back while the slow one still runs.
      { operation: 'DynamoDB.PutItem', nth: 6, fault: 'slow' },
      { operation: 'SQS.SendMessageBatch', nth: 7, fault: 'slow' },
      { operation: 'Lambda.activity', nth: 2, fault: 'slow' },
      { operation: 'Lambda.orchestrator', nth: 4, fault: 'slow' },
    ];
    const faults = new FaultInjector(3, { slowMs: [1_200, 3_000] }, chosen);
    // A busy machine makes this stack's invocations outlive their one second as well (Lambda's would not: each has
    // its own CPU), and each counts as a crash: five, not three, before an instance is set aside.
    const stack = await startLocalStack(app, { dataDir, faults, visibilityTimeout: 2, functionTimeout: 1, poisonAfterCrashes: 5, maxTimerHopSeconds: 1, logger: silentLogger });
    try {
      const client = stack.runtime.client;
      faults.enabled = false; // rules still fire; no random faults
      const id = 'saga-faults';
      await persist(() => client.start('saga', 'o-1', { instanceId: id }).catch((error: Error) => {
        if (error.name !== 'InstanceExistsError') throw error;
        return id;
      }));
      await persist(() => client.raiseEvent(id, 'approval', 'yes'));
      let status = await persist(() => client.getStatus(id));
      const deadline = Date.now() + 180_000;
      while (status.status !== 'Completed' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        status = await persist(() => client.getStatus(id));
      }
      expect(status).toMatchObject({ status: 'Completed', output: EXPECTED });
      expectRecordedOnce(await persist(() => client.getHistory(id)));
      for (const key of ['charge o-1', 'pack 1', 'pack 2', 'pack 3']) expect(effects.get(key)).toBeGreaterThanOrEqual(1);
      expect(faults.total).toBe(chosen.length);
    } finally {
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);
});

describe('randomized orchestrations under random faults (bounded; `npm run chaos` runs the long one)', () => {
  it.each([
    [1, false],
    [2, false],
    [1, true],
    [2, true],
  ])('in memory, seed %i, inline %s: 150 programs (some cancelled at a gate, some rewound after a fix) reach the reference outcome with every invariant held', async (seed, inline) => {
    const report = await runChaos({ seed, instances: 150, runtime: 'memory', inline });
    expect(report.faultCount, `seed ${seed}`).toBeGreaterThan(100);
    expect(report.cancelled, `seed ${seed}`).toBeGreaterThan(10);
    expect(report.rewound, `seed ${seed}`).toBeGreaterThan(10);
    expect(report.violations, `seed ${seed}: reproduce with npm run chaos -- --runtime memory --instances 150 --seed ${seed}${inline ? ' --inline' : ''}`).toEqual([]);
  }, 120_000);

  it('on the local stack, seed 3: 12 programs under SDK faults, crashes, duplicates and a second worker', async () => {
    const report = await runChaos({ seed: 3, instances: 12, runtime: 'local' });
    expect(report.faultCount).toBeGreaterThan(20);
    expect(report.violations, 'seed 3: reproduce with npm run chaos -- --runtime local --instances 12 --seed 3').toEqual([]);
  }, 240_000);
});
