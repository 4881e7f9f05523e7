import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExampleApp, type Order } from '../functions/example-app.js';
import { formatDeployCheck, runDeployCheck, storeHistorySource, type HistorySource, type InFlightInstance } from '../lib/deploy-check.js';
import { createApp, silentLogger, TestEnvironment } from '../lib/index.js';

/** The sample the deploy check takes, on the in-memory runtime: which histories it reads, and what it reports. */
describe('the deploy check', () => {
  let env: TestEnvironment;
  const order = (orderId: string): Order => ({ orderId, customer: 'ada@example.com', amount: 5_000, items: [{ sku: 'desk', quantity: 1 }] });
  /** The store as the gate reads it, recording which histories were read. */
  const source = (): HistorySource & { read: string[] } => {
    const inner = storeHistorySource(env.store, (value) => value);
    const read: string[] = [];
    return { ...inner, read, readHistory: (instance) => (read.push(instance.instanceId), inner.readHistory(instance)) };
  };

  beforeAll(async () => {
    const app = createExampleApp({ logger: silentLogger });
    app.orchestration('order', async (ctx) => ctx.waitForEvent('never'), { version: 2 });
    env = await TestEnvironment.create(app);
    // Five orders on version 1 (waiting for approval), started a minute apart, and two on version 2.
    for (let i = 1; i <= 5; i++) {
      await env.client.start('order', order(`o${i}`), { instanceId: `v1-${i}`, version: 1 });
      await env.advanceTime('1m');
    }
    for (let i = 1; i <= 2; i++) await env.client.start('order', order(`n${i}`), { instanceId: `v2-${i}` });
    await env.idle();
  });
  afterAll(() => env.close());

  it('replays the newest instances of each version, up to the sample, and reads no history of a version the code no longer registers', async () => {
    const onlyVersion1 = createExampleApp({ logger: silentLogger });
    const from = source();
    const report = await runDeployCheck(onlyVersion1, from, { samplePerVersion: 2 });
    expect(from.read).toEqual(['v1-5', 'v1-4']);
    expect(report).toMatchObject({
      ok: false,
      inFlight: 7,
      replayed: 2,
      diverged: 0,
      versions: [
        { name: 'order', version: '1', inFlight: 5, registered: true, replayed: 2 },
        { name: 'order', version: '2', inFlight: 2, registered: false, replayed: 0 },
      ],
    });
    expect(report.results.filter((r) => !r.ok).map((r) => r.instanceId).sort()).toEqual(['v2-1', 'v2-2']);
    expect(report.results.find((r) => r.instanceId === 'v2-1')!.problem).toContain("Orchestration 'order' has no version 2 registered (registered: 1)");
  });

  it('passes the code the instances run on, and shows the first failures only when asked to be short', async () => {
    const all = await runDeployCheck(env.app, source());
    expect(all).toMatchObject({ ok: true, replayed: 7, diverged: 0 });

    const changed = createApp({ logger: silentLogger });
    changed.orchestration('order', async (ctx) => ctx.callActivity('chargeCard'), { version: 1 });
    changed.orchestration('order', async (ctx) => ctx.callActivity('chargeCard'), { version: 2 });
    const report = await runDeployCheck(changed, source());
    // Version 2 recorded no call yet (it waits for an event): a new call past the end of its history is no divergence.
    expect(report).toMatchObject({ ok: false, replayed: 7, diverged: 5 });
    const short = formatDeployCheck(report, { maxFailures: 2, maxProblemLength: 60 });
    expect(short.match(/^FAIL /gm)).toHaveLength(2);
    expect(short).toContain('... and 3 more (the full report is in the log).');
    expect(short.split('\n').filter((line) => line.startsWith('  ')).every((line) => line.length <= 62 && line.endsWith('…'))).toBe(true);
  });

  it('lists an instance once when it changed status between pages, and leaves out one purged since it was listed', async () => {
    const instance = (instanceId: string, status: InFlightInstance['status']): InFlightInstance => ({ instanceId, name: 'order', version: '1', status, generation: 0, createdAt: 0, historyLength: 0 });
    const read: string[] = [];
    const moving: HistorySource = {
      name: 'a moving table',
      listInFlight: async (status) => ({ instances: status === 'Running' ? [instance('a', 'Running'), instance('gone', 'Running')] : status === 'Suspended' ? [instance('a', 'Suspended')] : [] }),
      readHistory: async ({ instanceId }) => (read.push(instanceId), instanceId === 'gone' ? undefined : { events: [] }),
    };
    const report = await runDeployCheck(env.app, moving);
    expect(read).toEqual(['a', 'gone']);
    expect(report).toMatchObject({ ok: true, inFlight: 2, replayed: 1, results: [{ instanceId: 'a', status: 'Running', ok: true }] });
  });
});
