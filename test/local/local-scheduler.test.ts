import { describe, expect, it } from 'vitest';
import { LocalScheduler } from '../../lib/local/local-scheduler.js';
import { testApp } from '../support.js';

const at = (iso: string) => Date.parse(iso);

/** A local scheduler over the in-memory runtime, its clock moved by the test and ticked by hand. */
async function scheduler() {
  const { app, log, start } = testApp();
  app.orchestration('report', async () => 'done');
  app.schedule('hourly', { cron: '0 * * * ? *', orchestration: 'report', overlap: 'allow' });
  app.schedule('quarter', { every: '15m', orchestration: 'report', overlap: 'allow' });
  app.schedule('frozen', { every: '1m', orchestration: 'report', overlap: 'allow', paused: true });
  const env = await start();
  env.clock.advanceTo(at('2031-01-01T10:07Z'));
  const local = new LocalScheduler({ app, schedules: env.schedules, clock: env.clock, logger: log, maxWaitMs: 3_600_000, retryMs: 30_000 });
  return { env, log, local };
}

const outcomes = (fired: { schedule: string; outcome: string; instanceId?: string }[]) => fired.map((f) => `${f.schedule} ${f.outcome} ${f.instanceId ?? ''}`.trim()).sort();

describe('the local scheduler', () => {
  it('fires nothing at start for schedules that never fired, then each firing once when the clock reaches it', async () => {
    const { env, local } = await scheduler();
    expect(await local.start()).toEqual([]);
    env.clock.advanceTo(at('2031-01-01T10:15:20Z'));
    expect(outcomes(await local.tick())).toEqual(['quarter started sched-quarter-2031-01-01T10:15Z']);
    expect(await local.tick()).toEqual([]);
    env.clock.advanceTo(at('2031-01-01T11:00:05Z'));
    expect(outcomes(await local.tick())).toEqual(['hourly started sched-hourly-2031-01-01T11:00Z', 'quarter started sched-quarter-2031-01-01T11:00Z']);
    await local.stop();
  });

  it('delivers only the last of the firings it missed, and says how many it left out', async () => {
    const { env, log, local } = await scheduler();
    await local.start();
    env.clock.advanceTo(at('2031-01-01T14:20Z'));
    expect(outcomes(await local.tick())).toEqual(['hourly started sched-hourly-2031-01-01T14:00Z', 'quarter started sched-quarter-2031-01-01T14:15Z']);
    const missed = log.lines.filter((line) => line.message.startsWith('schedule missed firings')).map((line) => line.fields);
    expect(missed).toEqual([
      { schedule: 'hourly', missed: 3, firingTime: '2031-01-01T14:00:00.000Z' },
      { schedule: 'quarter', missed: 16, firingTime: '2031-01-01T14:15:00.000Z' },
    ]);
    await local.stop();
  });

  it('resumes from the last firing recorded: a new scheduler over the same state catches up once', async () => {
    const { env, local } = await scheduler();
    await local.start();
    env.clock.advanceTo(at('2031-01-01T11:00:10Z'));
    await local.tick();
    await local.stop();
    env.clock.advanceTo(at('2031-01-02T09:30Z'));
    const restarted = new LocalScheduler({ app: env.app, schedules: env.schedules, clock: env.clock, logger: env.app.logger, maxWaitMs: 3_600_000 });
    expect(outcomes(await restarted.start())).toEqual(['hourly started sched-hourly-2031-01-02T09:00Z', 'quarter started sched-quarter-2031-01-02T09:30Z']);
    await restarted.stop();
  });

  it('tries a firing that failed again after retryMs, and never fires a schedule paused in its definition', async () => {
    const { env, log, local } = await scheduler();
    await local.start();
    const fire = env.schedules.fire.bind(env.schedules);
    let failures = 1;
    env.schedules.fire = async (name, time) => {
      if (name === 'hourly' && failures-- > 0) throw new Error('the table is unreachable');
      return fire(name, time);
    };
    env.clock.advanceTo(at('2031-01-01T11:00:10Z'));
    expect(outcomes(await local.tick())).toEqual(['quarter started sched-quarter-2031-01-01T11:00Z']);
    expect(log.lines.find((line) => line.level === 'error')?.fields).toMatchObject({ schedule: 'hourly', firingTime: '2031-01-01T11:00:00.000Z', error: 'Error: the table is unreachable' });
    env.clock.advanceTo(at('2031-01-01T11:00:20Z'));
    expect(await local.tick()).toEqual([]);
    env.clock.advanceTo(at('2031-01-01T11:00:45Z'));
    expect(outcomes(await local.tick())).toEqual(['hourly started sched-hourly-2031-01-01T11:00Z']);
    expect((await env.client.list()).instances.map((i) => i.instanceId).filter((id) => id.includes('frozen'))).toEqual([]);
    await local.stop();
  });
});
