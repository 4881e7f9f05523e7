import { describe, expect, it } from 'vitest';
import { createApp, type App } from '../../lib/core/app.js';
import { OrchestrationNotFoundError, ScheduleNotFoundError, ValidationError } from '../../lib/core/errors.js';
import { silentLogger } from '../../lib/core/logger.js';
import { defineSchedule, manualInstanceId, nextFiring, scheduledInstanceId, type ScheduleOptions } from '../../lib/core/schedule.js';

function appWithReport(): App {
  return createApp({ logger: silentLogger }).orchestration('report', async () => 'done');
}

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('app.schedule', () => {
  it('defines a cron schedule read in its time zone, and lists it', () => {
    const app = appWithReport().schedule('nightly', { cron: '0 2 * * ? *', timezone: 'Europe/Paris', orchestration: 'report', input: { kind: 'daily' }, overlap: 'skip' });
    const nightly = app.getSchedule('nightly');
    expect(nightly).toMatchObject({ name: 'nightly', orchestration: 'report', input: { kind: 'daily' }, overlap: 'skip', paused: false, expression: 'cron(0 2 * * ? *)', scheduleExpression: 'cron(0 2 * * ? *)', timezone: 'Europe/Paris' });
    expect(app.schedules().map((s) => s.name)).toEqual(['nightly']);
    expect(iso(nextFiring(nightly, at('2026-07-01T12:00Z')))).toBe('2026-07-02T00:00:00.000Z');
  });

  it.each<[string, string, string]>([
    ['1m', 'every 1m', 'cron(* * * * ? *)'],
    ['15m', 'every 15m', 'cron(0/15 * * * ? *)'],
    ['1h', 'every 1h', 'cron(0 * * * ? *)'],
    ['6h', 'every 6h', 'cron(0 0/6 * * ? *)'],
    ['1d', 'every 1d', 'cron(0 0 * * ? *)'],
    ['7m', 'every 7m', 'rate(7 minutes)'],
    ['90m', 'every 1h30m', 'rate(90 minutes)'],
    ['5h', 'every 5h', 'rate(5 hours)'],
    ['2d', 'every 2d', 'rate(2 days)'],
    ['1w', 'every 7d', 'rate(7 days)'],
  ])('deploys every %s (%s) as %s', (every, expression, scheduleExpression) => {
    expect(defineSchedule('poll', { every, orchestration: 'report', overlap: 'allow' })).toMatchObject({ expression, scheduleExpression, timezone: 'UTC' });
  });

  it('fires an every schedule on the multiples of its interval since the epoch', () => {
    const poll = defineSchedule('poll', { every: '15m', orchestration: 'report', overlap: 'allow' });
    expect(iso(nextFiring(poll, at('2026-01-10T10:07:13Z')))).toBe('2026-01-10T10:15:00.000Z');
  });

  it('rejects a schedule of an orchestration that is not registered (yet), with a typed error that says to register it first', () => {
    const app = appWithReport();
    const define = () => app.schedule('nightly', { cron: '0 2 * * ? *', orchestration: 'reprot', overlap: 'skip' });
    expect(define).toThrow(OrchestrationNotFoundError);
    expect(define).toThrow("Schedule 'nightly' starts orchestration 'reprot', which is not registered (registered: report): register it with app.orchestration('reprot', ...) before the schedule.");
    expect(app.schedules()).toEqual([]);
  });

  it('rejects a second schedule of the same name, and keeps the first', () => {
    const app = appWithReport().schedule('nightly', { cron: '0 2 * * ? *', orchestration: 'report', overlap: 'skip' });
    expect(() => app.schedule('nightly', { every: '1h', orchestration: 'report', overlap: 'skip' })).toThrow("Schedule 'nightly' is already defined: give the new one another name.");
    expect(app.getSchedule('nightly').expression).toBe('cron(0 2 * * ? *)');
  });

  it('says which schedules exist when asked for another', () => {
    const app = appWithReport().schedule('nightly', { cron: '0 2 * * ? *', orchestration: 'report', overlap: 'skip' });
    expect(() => app.getSchedule('weekly')).toThrow(ScheduleNotFoundError);
    expect(() => app.getSchedule('weekly')).toThrow("No schedule named 'weekly' is defined (defined: nightly); define it with app.schedule('weekly', ...).");
    expect(() => appWithReport().getSchedule('weekly')).toThrow('(the app defines none)');
  });

  const base: ScheduleOptions = { cron: '0 2 * * ? *', orchestration: 'report', overlap: 'skip' };
  it.each<[string, string, Partial<ScheduleOptions> | Record<string, unknown>, RegExp]>([
    ['a name with a space', 'night ly', {}, /^Invalid schedule name "night ly": use a letter followed by up to 99 letters, digits and _ \. -/],
    ['a name starting with a digit', '2am', {}, /^Invalid schedule name "2am"/],
    ['a malformed cron', 'nightly', { cron: '0 2 * * *' }, /^Invalid cron expression "0 2 \* \* \*": it has 5 fields/],
    ['a cron that never fires', 'nightly', { cron: '0 0 30 2 ? *' }, /cron\(0 0 30 2 \? \*\), never fires \(a date such as 30 February\)/],
    ['an unknown time zone', 'nightly', { timezone: 'Europe/Pariss' }, /^Unknown time zone of schedule 'nightly' "Europe\/Pariss": use an IANA time zone name/],
    ['neither cron nor every', 'nightly', { cron: undefined }, /needs either cron \(e\.g\. '0 2 \* \* \? \*'\) or every \(e\.g\. '15m'\), and not both/],
    ['both cron and every', 'nightly', { every: '1h' }, /and not both/],
    ['an every of seconds', 'poll', { cron: undefined, every: '30s' }, /use a whole number of minutes, at least '1m'/],
    ['an every of 90 seconds', 'poll', { cron: undefined, every: '90s' }, /use a whole number of minutes/],
    ['a malformed every', 'poll', { cron: undefined, every: 'often' }, /^Invalid every of schedule 'poll' "often": use a non-negative number/],
    ['a time zone with every', 'poll', { cron: undefined, every: '1h', timezone: 'Europe/Paris' }, /a timezone goes with cron/],
    ['no overlap', 'nightly', { overlap: undefined }, /The overlap of schedule 'nightly' is undefined: say what a firing does .* 'skip', 'allow' or 'cancelPrevious'/],
    ['an unknown overlap', 'nightly', { overlap: 'queue' }, /The overlap of schedule 'nightly' is "queue"/],
    ['a malformed orchestration name', 'nightly', { orchestration: 'a/b' }, /^Invalid orchestration name "a\/b"/],
    ['an input JSON cannot carry', 'nightly', { input: () => 1 }, /The input of schedule 'nightly' is a function, which JSON cannot carry/],
    ['a misspelled option', 'nightly', { timeZone: 'UTC' }, /unknown field timeZone; use cron or every, timezone/],
    ['paused as a string', 'nightly', { paused: 'yes' }, /The paused option of schedule 'nightly' must be true or false, got "yes"/],
  ])('rejects %s with a ValidationError that says what to fix', (_label, name, change, message) => {
    const app = appWithReport();
    const define = () => app.schedule(name, { ...base, ...change });
    expect(define).toThrow(ValidationError);
    expect(define).toThrow(message);
    expect(app.schedules()).toEqual([]);
  });

  it('names a scheduled firing by its minute, and a manual one by its millisecond', () => {
    expect(scheduledInstanceId('nightly', at('2026-03-30T00:00:37.5Z'))).toBe('sched-nightly-2026-03-30T00:00Z');
    expect(manualInstanceId('nightly', at('2026-03-30T10:11:12.345Z'))).toBe('sched-nightly-manual-2026-03-30T10:11:12.345Z');
  });
});
