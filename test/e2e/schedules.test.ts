import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, ValidationError } from '../../lib/index.js';
import { createLambdaHandlers } from '../../lib/aws/lambda-handlers.js';
import { serveHttpApi } from '../../lib/local/http-server.js';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.js';
import { VirtualClock } from '../../lib/memory/virtual-clock.js';
import { HttpApi } from '../../lib/api/http-api.js';
import type { ScheduleSummary } from '../../lib/runtime/schedules.js';
import { captureLogger } from '../support.js';

/**
 * Schedules on the embedded local stack: the local scheduler fires them (driven here by a virtual clock and
 * `scheduler.tick()`, never by waiting), their state lives in DynamoDB Local, and operators list, trigger,
 * pause and resume them over HTTP.
 */

const at = (iso: string) => Date.parse(iso);

function buildApp(logger = captureLogger()) {
  const app = createApp({ logger });
  app.orchestration('report', async (ctx, input: { kind: string }) => `${input.kind} ${await ctx.waitForEvent<string>('done')}`);
  app.schedule('nightly', { cron: '0 2 * * ? *', timezone: 'Europe/Paris', orchestration: 'report', input: { kind: 'daily' }, overlap: 'skip' });
  app.schedule('poll', { every: '5m', orchestration: 'report', input: { kind: 'poll' }, overlap: 'allow' });
  app.schedule('frozen', { every: '1h', orchestration: 'report', input: { kind: 'frozen' }, overlap: 'skip', paused: true });
  return { app, logger };
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('schedules on the embedded local stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-schedules-'));
  const clock = new VirtualClock();
  let built = buildApp();
  let stack: LocalStack;
  let http: Awaited<ReturnType<typeof serveHttpApi>>;

  const start = async () => {
    // A scheduler that never wakes on its own within a test: the test moves the clock and ticks it.
    stack = await startLocalStack(built.app, { dataDir, clock, logger: built.logger, schedules: { maxWaitMs: 3_600_000 }, visibilityTimeout: 4, functionTimeout: 2 });
    http = await serveHttpApi(new HttpApi({ client: stack.runtime.client, schedules: stack.runtime.schedules }), 0);
  };
  const stop = async () => {
    await http?.close();
    await stack?.stop();
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${http.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as any };
  };
  const schedules = async () => (await call('GET', '/schedules')).body.schedules as ScheduleSummary[];
  const scheduleOf = async (name: string) => (await schedules()).find((schedule) => schedule.name === name)!;

  beforeAll(async () => {
    clock.advanceTo(at('2031-06-10T12:00Z'));
    await start();
  });
  afterAll(async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists every schedule with its expression, time zone, next firing and paused state', async () => {
    expect(await schedules()).toEqual([
      { name: 'nightly', orchestration: 'report', expression: 'cron(0 2 * * ? *)', timezone: 'Europe/Paris', overlap: 'skip', paused: false, nextFiring: '2031-06-11T00:00:00.000Z' },
      { name: 'poll', orchestration: 'report', expression: 'every 5m', timezone: 'UTC', overlap: 'allow', paused: false, nextFiring: expect.stringMatching(/^2031-06-10T12:0[05]:00\.000Z$/) },
      { name: 'frozen', orchestration: 'report', expression: 'every 1h', timezone: 'UTC', overlap: 'skip', paused: true, pausedBy: 'definition', nextFiring: expect.any(String) },
    ]);
    expect((await call('GET', '/schedules/nightly')).body).toMatchObject({ name: 'nightly', nextFiring: '2031-06-11T00:00:00.000Z' });
  });

  it('fires each schedule when the clock reaches its firing, once, and records its last instance', async () => {
    clock.advanceTo(at('2031-06-11T00:00:30Z'));
    const fired = await stack.scheduler!.tick();
    expect(fired.map((f) => `${f.schedule} ${f.outcome} ${f.instanceId}`).sort()).toEqual(['nightly started sched-nightly-2031-06-11T00:00Z', 'poll started sched-poll-2031-06-11T00:00Z']);
    expect(await stack.scheduler!.tick()).toEqual([]);
    const nightly = await waitFor(() => scheduleOf('nightly'), (s) => s.lastInstance?.status === 'Running');
    expect(nightly).toMatchObject({ lastFiring: '2031-06-11T00:00:00.000Z', lastInstance: { instanceId: 'sched-nightly-2031-06-11T00:00Z', status: 'Running' }, nextFiring: '2031-06-12T00:00:00.000Z' });
    expect((await stack.runtime.client.getStatus('sched-nightly-2031-06-11T00:00Z')).input).toEqual({ kind: 'daily' });
  });

  it('starts nothing for the same firing delivered again through the Lambda handler, and logs no error', async () => {
    const handlers = createLambdaHandlers(built.app, () => stack.runtime);
    await expect(handlers.scheduleFired({ schedule: 'nightly', firingTime: '2031-06-11T00:00:00Z' })).resolves.toMatchObject({ outcome: 'duplicate', instanceId: 'sched-nightly-2031-06-11T00:00Z' });
    await expect(handlers.scheduleFired({ schedule: 'removed', firingTime: '2031-06-11T00:00:00Z' })).resolves.toEqual({ schedule: 'removed', outcome: 'unknown' });
    await expect(handlers.scheduleFired({ schedule: 'nightly' } as never)).rejects.toThrow(ValidationError);
    expect((await stack.runtime.client.list({ name: 'report' })).instances).toHaveLength(2);
    expect(built.logger.lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('pauses and resumes a schedule over HTTP: a paused firing starts nothing', async () => {
    expect(await call('POST', '/schedules/poll/pause')).toMatchObject({ status: 200, body: { name: 'poll', paused: true, pausedBy: 'operator' } });
    clock.advanceTo(at('2031-06-11T00:05:10Z'));
    expect(await stack.scheduler!.tick()).toEqual([expect.objectContaining({ schedule: 'poll', outcome: 'paused' })]);
    expect((await call('POST', '/schedules/poll/resume', {})).body).toMatchObject({ name: 'poll', paused: false, lastFiring: '2031-06-11T00:05:00.000Z' });
    clock.advanceTo(at('2031-06-11T00:10:10Z'));
    expect(await stack.scheduler!.tick()).toEqual([expect.objectContaining({ schedule: 'poll', outcome: 'started', instanceId: 'sched-poll-2031-06-11T00:10Z' })]);
    expect((await call('POST', '/schedules/frozen/resume')).status).toBe(409);
  });

  it('triggers a schedule over HTTP: skipped while its last instance runs, started once that finished', async () => {
    expect(await call('POST', '/schedules/nightly/trigger')).toMatchObject({ status: 200, body: { schedule: 'nightly', outcome: 'skipped', previousInstanceId: 'sched-nightly-2031-06-11T00:00Z' } });
    expect((await call('POST', '/instances/sched-nightly-2031-06-11T00:00Z/events/done', 'ok')).status).toBe(202);
    await waitFor(() => stack.runtime.client.getStatus('sched-nightly-2031-06-11T00:00Z'), (s) => s.status === 'Completed');
    const triggered = await call('POST', '/schedules/nightly/trigger');
    expect(triggered).toMatchObject({ status: 202, body: { schedule: 'nightly', outcome: 'started', instanceId: expect.stringMatching(/^sched-nightly-manual-2031-06-11T00:1\d:\d\d\.\d{3}Z$/) } });
    expect(triggered.body.statusUrl).toBe(`/instances/${encodeURIComponent(triggered.body.instanceId)}`);
    expect((await scheduleOf('nightly')).lastInstance?.instanceId).toBe(triggered.body.instanceId);
    // A trigger is not a scheduled firing: the last firing stays the night's.
    expect((await scheduleOf('nightly')).lastFiring).toBe('2031-06-11T00:00:00.000Z');
    await call('POST', `/instances/${encodeURIComponent(triggered.body.instanceId)}/events/done`, 'ok');
    await waitFor(() => stack.runtime.client.getStatus(triggered.body.instanceId), (s) => s.status === 'Completed');
  });

  it('after a restart, delivers only the last firing it missed', async () => {
    await stop();
    clock.advanceTo(at('2031-06-14T09:00Z'));
    built = buildApp();
    await start();
    const nightly = await scheduleOf('nightly');
    // Missed: the 12th, 13th and 14th at 02:00 Paris time. Delivered: the 14th only.
    expect(nightly).toMatchObject({ lastFiring: '2031-06-14T00:00:00.000Z', lastInstance: { instanceId: 'sched-nightly-2031-06-14T00:00Z' }, nextFiring: '2031-06-15T00:00:00.000Z' });
    expect((await stack.runtime.client.list({ name: 'report', limit: 100 })).instances.map((i) => i.instanceId).filter((id) => id.startsWith('sched-nightly-2031-06-1') && !id.includes('manual')).sort()).toEqual([
      'sched-nightly-2031-06-11T00:00Z',
      'sched-nightly-2031-06-14T00:00Z',
    ]);
    expect(built.logger.lines.find((line) => line.message.startsWith('schedule missed firings') && line.fields?.schedule === 'nightly')?.fields).toMatchObject({ missed: 2, firingTime: '2031-06-14T00:00:00.000Z' });
  });
});
