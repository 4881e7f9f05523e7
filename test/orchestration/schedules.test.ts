import { describe, expect, it } from 'vitest';
import { InvalidStateError, ScheduleNotFoundError, ValidationError } from '../../lib/index.js';
import type { ScheduleOptions } from '../../lib/core/schedule.js';
import { testApp } from '../support.js';

const at = (iso: string) => Date.parse(iso);

/** An app whose `report` orchestration waits for a 'done' event, with one schedule of it. */
async function scheduled(options: Partial<ScheduleOptions> = {}) {
  const { app, log, start } = testApp();
  app.orchestration('report', async (ctx, input: { kind: string }) => `${input.kind} ${await ctx.waitForEvent<string>('done')}`);
  app.schedule('nightly', { cron: '0 2 * * ? *', timezone: 'Europe/Paris', orchestration: 'report', input: { kind: 'daily' }, overlap: 'skip', ...options });
  const env = await start();
  const instances = async () => (await env.client.list()).instances.map((i) => `${i.instanceId} ${i.status}`).sort();
  const finish = async (instanceId: string) => {
    await env.client.raiseEvent(instanceId, 'done', 'ok');
    return env.client.waitForCompletion(instanceId);
  };
  return { app, log, env, instances, finish };
}

describe('schedules in memory', () => {
  it('starts one instance per firing, named by the schedule and the firing minute, with the schedule’s input', async () => {
    const { env, finish } = await scheduled();
    const firing = await env.schedules.fire('nightly', at('2026-03-30T00:00:41Z'));
    expect(firing).toEqual({ schedule: 'nightly', firingTime: '2026-03-30T00:00:00.000Z', outcome: 'started', instanceId: 'sched-nightly-2026-03-30T00:00Z' });
    expect(await finish('sched-nightly-2026-03-30T00:00Z')).toMatchObject({ name: 'report', status: 'Completed', input: { kind: 'daily' }, output: 'daily ok' });
  });

  it('starts nothing for a duplicate firing, and logs it as an outcome, not an error', async () => {
    const { env, log, instances } = await scheduled({ overlap: 'allow' });
    await env.schedules.fire('nightly', at('2026-03-30T00:00:00Z'));
    await env.idle();
    const history = await env.client.getHistory('sched-nightly-2026-03-30T00:00Z');
    const again = await env.schedules.fire('nightly', at('2026-03-30T00:00:59.999Z'));
    expect(again).toMatchObject({ outcome: 'duplicate', instanceId: 'sched-nightly-2026-03-30T00:00Z' });
    await env.idle();
    expect(await instances()).toEqual(['sched-nightly-2026-03-30T00:00Z Running']);
    expect(await env.client.getHistory('sched-nightly-2026-03-30T00:00Z')).toEqual(history);
    expect(log.lines.filter((line) => line.level === 'error' || line.level === 'warn')).toEqual([]);
    expect(log.lines.filter((line) => line.message.startsWith('schedule firing')).map((line) => line.message)).toEqual(['schedule firing started', 'schedule firing duplicate']);
  });

  it('wakes the instance of a firing whose first delivery died between creating it and ringing its doorbell', async () => {
    const { env, finish } = await scheduled();
    const ring = env.queues.ringDoorbell.bind(env.queues);
    env.queues.ringDoorbell = async () => {
      env.queues.ringDoorbell = ring;
      throw new Error('the process died');
    };
    await expect(env.schedules.fire('nightly', at('2026-03-30T00:00Z'))).rejects.toThrow('the process died');
    expect((await env.client.getStatus('sched-nightly-2026-03-30T00:00Z')).status).toBe('Pending');
    expect(await env.schedules.fire('nightly', at('2026-03-30T00:00Z'))).toMatchObject({ outcome: 'duplicate' });
    expect((await finish('sched-nightly-2026-03-30T00:00Z')).status).toBe('Completed');
  });

  it("overlap 'skip': starts nothing while the previous instance runs, and starts again once it finished", async () => {
    const { env, instances, finish } = await scheduled({ overlap: 'skip' });
    await env.schedules.fire('nightly', at('2026-03-30T00:00Z'));
    expect(await env.schedules.fire('nightly', at('2026-03-31T00:00Z'))).toMatchObject({ outcome: 'skipped', previousInstanceId: 'sched-nightly-2026-03-30T00:00Z' });
    await env.idle();
    expect(await instances()).toEqual(['sched-nightly-2026-03-30T00:00Z Running']);
    await finish('sched-nightly-2026-03-30T00:00Z');
    expect(await env.schedules.fire('nightly', at('2026-04-01T00:00Z'))).toMatchObject({ outcome: 'started', instanceId: 'sched-nightly-2026-04-01T00:00Z' });
    expect((await env.schedules.get('nightly')).lastFiring).toBe('2026-04-01T00:00:00.000Z');
  });

  it("overlap 'allow': starts beside the instance still running", async () => {
    const { env, instances } = await scheduled({ overlap: 'allow' });
    await env.schedules.fire('nightly', at('2026-03-30T00:00Z'));
    expect(await env.schedules.fire('nightly', at('2026-03-31T00:00Z'))).toMatchObject({ outcome: 'started' });
    await env.idle();
    expect(await instances()).toEqual(['sched-nightly-2026-03-30T00:00Z Running', 'sched-nightly-2026-03-31T00:00Z Running']);
  });

  it("overlap 'cancelPrevious': ends the instance still running, then starts the new one", async () => {
    const { env, instances } = await scheduled({ overlap: 'cancelPrevious' });
    await env.schedules.fire('nightly', at('2026-03-30T00:00Z'));
    await env.idle();
    expect(await env.schedules.fire('nightly', at('2026-03-31T00:00Z'))).toMatchObject({ outcome: 'started', instanceId: 'sched-nightly-2026-03-31T00:00Z', previousInstanceId: 'sched-nightly-2026-03-30T00:00Z' });
    expect(await env.client.waitForCompletion('sched-nightly-2026-03-30T00:00Z')).toMatchObject({ status: 'Cancelled' });
    const ended = (await env.client.getHistory('sched-nightly-2026-03-30T00:00Z')).find((e) => e.type === 'ExecutionCancelRequested');
    expect(ended).toMatchObject({ reason: "Schedule 'nightly' fired at 2026-03-31T00:00:00.000Z with overlap 'cancelPrevious'." });
    await env.idle();
    expect(await instances()).toEqual(['sched-nightly-2026-03-30T00:00Z Cancelled', 'sched-nightly-2026-03-31T00:00Z Running']);
    // A finished previous instance is left alone.
    await env.client.raiseEvent('sched-nightly-2026-03-31T00:00Z', 'done', 'ok');
    await env.client.waitForCompletion('sched-nightly-2026-03-31T00:00Z');
    expect(await env.schedules.fire('nightly', at('2026-04-01T00:00Z'))).toEqual({ schedule: 'nightly', firingTime: '2026-04-01T00:00:00.000Z', outcome: 'started', instanceId: 'sched-nightly-2026-04-01T00:00Z' });
  });

  it('ignores a late retry of a firing older than the last one handled, unless overlap allows', async () => {
    const { env, instances } = await scheduled({ overlap: 'cancelPrevious' });
    await env.schedules.fire('nightly', at('2026-03-31T00:00Z'));
    expect(await env.schedules.fire('nightly', at('2026-03-30T00:00Z'))).toMatchObject({ outcome: 'superseded' });
    await env.idle();
    expect(await instances()).toEqual(['sched-nightly-2026-03-31T00:00Z Running']);
  });

  it('starts nothing while paused; a trigger still starts one; resume fires again', async () => {
    const { env, instances } = await scheduled({ overlap: 'allow' });
    expect(await env.schedules.pause('nightly')).toMatchObject({ name: 'nightly', paused: true, pausedBy: 'operator' });
    expect(await env.schedules.fire('nightly', at('2026-03-30T00:00Z'))).toMatchObject({ outcome: 'paused' });
    expect(await instances()).toEqual([]);
    env.clock.advanceTo(at('2030-01-01T10:11:12.345Z'));
    // Named by the clock's time (the environment's virtual clock may have moved a millisecond on a busy machine).
    expect(await env.schedules.trigger('nightly')).toMatchObject({ outcome: 'started', instanceId: expect.stringMatching(/^sched-nightly-manual-2030-01-01T10:11:12\.\d{3}Z$/) });
    expect(await env.schedules.resume('nightly')).toMatchObject({ paused: false });
    expect(await env.schedules.fire('nightly', at('2030-01-02T01:00Z'))).toMatchObject({ outcome: 'started' });
  });

  it('lists each schedule with its next firing in its time zone, its last firing and last instance', async () => {
    const { env } = await scheduled();
    env.clock.advanceTo(at('2030-06-15T12:00Z'));
    expect(await env.schedules.list()).toEqual([
      { name: 'nightly', orchestration: 'report', expression: 'cron(0 2 * * ? *)', timezone: 'Europe/Paris', overlap: 'skip', paused: false, nextFiring: '2030-06-16T00:00:00.000Z' },
    ]);
    await env.schedules.fire('nightly', at('2030-06-16T00:00Z'));
    await env.idle();
    expect(await env.schedules.get('nightly')).toMatchObject({ lastFiring: '2030-06-16T00:00:00.000Z', lastInstance: { instanceId: 'sched-nightly-2030-06-16T00:00Z', status: 'Running' } });
    await env.client.terminate('sched-nightly-2030-06-16T00:00Z');
    await env.client.waitForCompletion('sched-nightly-2030-06-16T00:00Z');
    await env.client.purge('sched-nightly-2030-06-16T00:00Z');
    expect((await env.schedules.get('nightly')).lastInstance).toEqual({ instanceId: 'sched-nightly-2030-06-16T00:00Z', startedAt: expect.any(String) });
  });

  it('refuses to resume a schedule paused in its definition, and never fires it', async () => {
    const { env, instances } = await scheduled({ paused: true });
    expect(await env.schedules.get('nightly')).toMatchObject({ paused: true, pausedBy: 'definition' });
    expect(await env.schedules.fire('nightly', at('2026-03-30T00:00Z'))).toMatchObject({ outcome: 'paused' });
    await expect(env.schedules.resume('nightly')).rejects.toThrow(InvalidStateError);
    await expect(env.schedules.resume('nightly')).rejects.toThrow(/paused in its definition \(paused: true\).*remove paused from app.schedule\('nightly', \.\.\.\) and deploy/);
    expect(await instances()).toEqual([]);
  });

  it('answers an unknown or malformed schedule name with a typed error', async () => {
    const { env } = await scheduled();
    await expect(env.schedules.fire('weekly', Date.now())).rejects.toThrow(ScheduleNotFoundError);
    await expect(env.schedules.trigger('no such')).rejects.toThrow(ValidationError);
    await expect(env.schedules.pause('weekly')).rejects.toThrow("No schedule named 'weekly' is defined (defined: nightly)");
  });
});
