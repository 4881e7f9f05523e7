import { describe, expect, it } from 'vitest';
import { isoMinute, nextCronFiring, nextIntervalFiring, parseCron, validateTimeZone } from '../../lib/core/cron.js';
import { ValidationError } from '../../lib/core/errors.js';

/** The next `count` firings of `expression` after `from`, as ISO instants (UTC). */
function firings(expression: string, from: string, count: number, timeZone = 'UTC'): string[] {
  const cron = parseCron(expression);
  const found: string[] = [];
  let after = Date.parse(from);
  for (let i = 0; i < count; i++) {
    const next = nextCronFiring(cron, after, timeZone);
    if (next === undefined) break;
    found.push(new Date(next).toISOString().replace(':00.000Z', 'Z'));
    after = next;
  }
  return found;
}

describe('parseCron: EventBridge Scheduler syntax', () => {
  it('takes the six fields with or without cron(...), and normalizes them for EventBridge', () => {
    expect(parseCron('0 2 * * ? *').expression).toBe('cron(0 2 * * ? *)');
    expect(parseCron(' cron(0/15 9-17 ? * mon-fri *) ').expression).toBe('cron(0/15 9-17 ? * MON-FRI *)');
    expect(parseCron('0/15 9-17 ? * MON-FRI *')).toMatchObject({ minutes: [0, 15, 30, 45], hours: [9, 10, 11, 12, 13, 14, 15, 16, 17], dayOfWeek: { kind: 'days', days: new Set([2, 3, 4, 5, 6]) } });
    expect(parseCron('5,10-12,50/5 * * JAN,MAR-APR ? 2026-2027').minutes).toEqual([5, 10, 11, 12, 50, 55]);
    expect(parseCron('5,10-12,50/5 * * JAN,MAR-APR ? 2026-2027').months).toEqual([1, 3, 4]);
    expect(parseCron('1/20 * * * ? *').minutes).toEqual([1, 21, 41]);
    expect(parseCron('*/20 * * * ? *').minutes).toEqual([0, 20, 40]);
    expect(parseCron('10-40/15 * * * ? *').minutes).toEqual([10, 25, 40]);
  });

  it.each<[string, unknown, RegExp]>([
    ['five fields (Unix cron)', '0 2 * * *', /it has 5 fields \(the five of Unix cron: add the year, and \? for day-of-month or day-of-week\)/],
    ['seven fields', '0 0 2 * * ? *', /it has 7 fields/],
    ['an empty string', '', /it has 0 fields/],
    ['a number', 5, /Invalid cron expression 5: Write six fields/],
    ['minute 60', '60 2 * * ? *', /the minutes field has "60": use 0-59/],
    ['hour 24', '0 24 * * ? *', /the hours field has "24": use 0-23/],
    ['day 32', '0 2 32 * ? *', /the day-of-month field has "32": use 1-31/],
    ['month 13', '0 2 * 13 ? *', /the month field has "13": use 1-12 or JAN, FEB/],
    ['day-of-week 0 (Sunday is 1)', '0 2 ? * 0 *', /the day-of-week field has "0": use 1-7 or SUN, MON/],
    ['year 2200', '0 2 * * ? 2200', /the year field has "2200": use 1970-2199/],
    ['both days given', '0 2 1 * MON *', /exactly one of them must be \?/],
    ['both days ?', '0 2 ? * ? *', /exactly one of them must be \?/],
    ['* in both days', '0 2 * * * *', /exactly one of them must be \?/],
    ['? in the hours', '0 ? * * ? *', /has \? \(only day-of-month and day-of-week take it\)/],
    ['a backwards range', '0 22-2 * * ? *', /runs backwards \(write it as a list, e.g. 22-23,0-2\)/],
    ['an increment of 0', '0/0 * * * ? *', /has an increment of 0/],
    ['an empty list item', '0,,5 * * * ? *', /has an empty item/],
    ['a word', '0 2 * * ? every', /the year field has "EVERY": use 1970-2199/],
    ['a word in place of a range', '0 2 * * ? 2026/x', /the year field "2026\/X" has "2026\/X", which is not a value, a range or an increment/],
    ['L in a list', '0 2 1,L * ? *', /L, LW and <day>W stand alone/],
    ['# twice', '0 2 ? * 3#1,6#3 *', /stand alone \(e.g. 6L, MON#1\), one expression only/],
    ['#6', '0 2 ? * MON#6 *', /the n of <day>#<n> is 1 to 5/],
  ])('rejects %s with a ValidationError that names the field and the format', (_label, text, message) => {
    expect(() => parseCron(text)).toThrow(ValidationError);
    expect(() => parseCron(text)).toThrow(message);
    expect(() => parseCron(text)).toThrow(/Write six fields, minutes hours day-of-month month day-of-week year/);
  });
});

describe('nextCronFiring in UTC', () => {
  it('fires strictly after the given instant, at whole minutes', () => {
    expect(firings('0 2 * * ? *', '2026-01-10T02:00:00Z', 2)).toEqual(['2026-01-11T02:00Z', '2026-01-12T02:00Z']);
    expect(firings('0 2 * * ? *', '2026-01-10T01:59:59.999Z', 1)).toEqual(['2026-01-10T02:00Z']);
    expect(firings('* * * * ? *', '2026-01-10T02:00:30Z', 2)).toEqual(['2026-01-10T02:01Z', '2026-01-10T02:02Z']);
  });

  it('walks month and year ends', () => {
    expect(firings('0 0 1 * ? *', '2026-12-15T00:00Z', 2)).toEqual(['2027-01-01T00:00Z', '2027-02-01T00:00Z']);
    expect(firings('0 12 29 2 ? *', '2026-01-01T00:00Z', 2)).toEqual(['2028-02-29T12:00Z', '2032-02-29T12:00Z']);
  });

  it('reads weekdays 1 (SUN) to 7 (SAT), names and ranges', () => {
    // 2026-03-02 is a Monday.
    expect(firings('0 9 ? * MON-FRI *', '2026-03-06T10:00Z', 2)).toEqual(['2026-03-09T09:00Z', '2026-03-10T09:00Z']);
    expect(firings('0 9 ? * 1 *', '2026-03-02T00:00Z', 1)).toEqual(['2026-03-08T09:00Z']);
    expect(firings('0 9 ? * L *', '2026-03-02T00:00Z', 1)).toEqual(['2026-03-07T09:00Z']);
  });

  it('takes L, LW and <day>W in the day of the month', () => {
    expect(firings('0 0 L * ? *', '2026-01-31T00:00Z', 3)).toEqual(['2026-02-28T00:00Z', '2026-03-31T00:00Z', '2026-04-30T00:00Z']);
    // The last weekday: 31 January 2026 is a Saturday, 31 May a Sunday.
    expect(firings('0 0 LW * ? *', '2026-01-01T00:00Z', 1)).toEqual(['2026-01-30T00:00Z']);
    expect(firings('0 0 LW 5 ? *', '2026-01-01T00:00Z', 1)).toEqual(['2026-05-29T00:00Z']);
    // The weekday nearest the 15th (Sunday 15 March → Monday 16), and the 1st (Saturday 1 August → Monday 3, not into July).
    expect(firings('0 0 15W 3 ? *', '2026-01-01T00:00Z', 1)).toEqual(['2026-03-16T00:00Z']);
    expect(firings('0 0 1W 8 ? *', '2026-01-01T00:00Z', 1)).toEqual(['2026-08-03T00:00Z']);
    // 31W in a month of 30 days does not fire.
    expect(firings('0 0 31W 4,5 ? *', '2026-01-01T00:00Z', 1)).toEqual(['2026-05-29T00:00Z']);
  });

  it('takes <day>L and <day>#<n> in the day of the week', () => {
    expect(firings('0 0 ? * 6L *', '2026-01-01T00:00Z', 2)).toEqual(['2026-01-30T00:00Z', '2026-02-27T00:00Z']);
    expect(firings('0 0 ? * MON#1 *', '2026-01-01T00:00Z', 2)).toEqual(['2026-01-05T00:00Z', '2026-02-02T00:00Z']);
    expect(firings('0 0 ? * 3#5 *', '2026-01-01T00:00Z', 1)).toEqual(['2026-03-31T00:00Z']);
  });

  it('stops when the years run out, or when the date never comes', () => {
    expect(firings('0 0 1 1 ? 2026-2027', '2026-06-01T00:00Z', 3)).toEqual(['2027-01-01T00:00Z']);
    expect(firings('0 0 30 2 ? *', '2026-01-01T00:00Z', 1)).toEqual([]);
  });
});

describe('nextCronFiring in a time zone, across daylight saving time', () => {
  it('reads the fields in the zone’s wall-clock time', () => {
    expect(firings('0 9 * * ? *', '2026-01-10T00:00Z', 1, 'America/New_York')).toEqual(['2026-01-10T14:00Z']);
    expect(firings('0 9 * * ? *', '2026-07-10T00:00Z', 1, 'America/New_York')).toEqual(['2026-07-10T13:00Z']);
    expect(firings('0 9 * * ? *', '2026-07-10T00:00Z', 1, 'Asia/Kolkata')).toEqual(['2026-07-10T03:30Z']);
  });

  it('skips a firing whose wall time does not exist when the clocks go forward (Europe/Paris, 29 March 2026)', () => {
    expect(firings('30 2 * * ? *', '2026-03-27T12:00Z', 3, 'Europe/Paris')).toEqual(['2026-03-28T01:30Z', '2026-03-30T00:30Z', '2026-03-31T00:30Z']);
    expect(firings('0 2 * * ? *', '2026-03-28T12:00Z', 1, 'Europe/Paris')).toEqual(['2026-03-30T00:00Z']);
    // 03:00 comes right after 01:59.
    expect(firings('0 * * * ? *', '2026-03-28T23:30Z', 3, 'Europe/Paris')).toEqual(['2026-03-29T00:00Z', '2026-03-29T01:00Z', '2026-03-29T02:00Z']);
  });

  it('fires once, at the first occurrence, a wall time the clocks repeat when they go back (Europe/Paris, 25 October 2026)', () => {
    // 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET).
    expect(firings('30 2 * * ? *', '2026-10-24T12:00Z', 2, 'Europe/Paris')).toEqual(['2026-10-25T00:30Z', '2026-10-26T01:30Z']);
    // Hourly: 02:00 CEST fires, the repeated 02:00 CET does not, then 03:00 CET.
    expect(firings('0 * * * ? *', '2026-10-24T22:30Z', 3, 'Europe/Paris')).toEqual(['2026-10-24T23:00Z', '2026-10-25T00:00Z', '2026-10-25T02:00Z']);
    // Asked from inside the repeated hour, it does not go back to it.
    expect(firings('*/20 * * * ? *', '2026-10-25T01:10Z', 2, 'Europe/Paris')).toEqual(['2026-10-25T02:00Z', '2026-10-25T02:20Z']);
  });

  it('keeps every-15-minutes crons on the quarter hours through both changes (America/New_York, 2026)', () => {
    expect(firings('0/15 * * * ? *', '2026-03-08T06:30Z', 3, 'America/New_York')).toEqual(['2026-03-08T06:45Z', '2026-03-08T07:00Z', '2026-03-08T07:15Z']);
    expect(firings('0/15 * * * ? *', '2026-11-01T05:30Z', 3, 'America/New_York')).toEqual(['2026-11-01T05:45Z', '2026-11-01T07:00Z', '2026-11-01T07:15Z']);
  });

  it('handles a half-hour change (Australia/Lord_Howe, 4 October 2026)', () => {
    // On 4 October 02:00 becomes 02:30: 02:15 does not exist that day.
    expect(firings('15 2 * * ? *', '2026-10-03T12:00Z', 2, 'Australia/Lord_Howe')).toEqual(['2026-10-04T15:15Z', '2026-10-05T15:15Z']);
    const [first] = firings('15 2 4 10 ? 2026', '2026-01-01T00:00Z', 1, 'Australia/Lord_Howe');
    expect(first).toBeUndefined();
  });
});

describe('time zones, intervals and firing names', () => {
  it('accepts IANA names and gives their canonical spelling', () => {
    expect(validateTimeZone('Europe/Paris')).toBe('Europe/Paris');
    expect(validateTimeZone('UTC')).toBe('UTC');
  });

  it.each([['Mars/Olympus_Mons'], ['Europe/Pariss'], [''], [42]])('rejects the time zone %j', (zone) => {
    expect(() => validateTimeZone(zone)).toThrow(ValidationError);
    expect(() => validateTimeZone(zone)).toThrow(/IANA time zone name such as 'Europe\/Paris'/);
  });

  it('fires intervals at their multiples since the epoch', () => {
    expect(new Date(nextIntervalFiring(15 * 60_000, Date.parse('2026-01-10T10:07:13Z'))).toISOString()).toBe('2026-01-10T10:15:00.000Z');
    expect(new Date(nextIntervalFiring(15 * 60_000, Date.parse('2026-01-10T10:15:00Z'))).toISOString()).toBe('2026-01-10T10:30:00.000Z');
  });

  it('names a firing by its minute', () => {
    expect(isoMinute(Date.parse('2026-03-29T01:00:42.123Z'))).toBe('2026-03-29T01:00Z');
  });
});
