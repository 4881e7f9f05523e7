import { describe, expect, it } from 'vitest';
import { formatDuration, toMilliseconds } from '../../lib/core/durations.js';
import { ValidationError } from '../../lib/core/errors.js';

const circular: Record<string, unknown> = {};
circular.self = circular;

const ACCEPTED = /non-negative number of milliseconds, a string like '500ms', '30s', '5m', '2h', '3d' or '1h30m', or an object of non-negative weeks, days, hours, minutes, seconds and milliseconds like \{ minutes: 5 \}/;

describe('toMilliseconds', () => {
  it.each([
    [0, 0],
    [1500, 1500],
    [1.4, 1],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['3d', 259_200_000],
    ['1w', 604_800_000],
    ['1h30m', 5_400_000],
    ['1m5s', 65_000],
    ['1.5s', 1_500],
    ['  10s\n', 10_000],
    [{ seconds: 5 }, 5_000],
    [{ hours: 1, minutes: 30 }, 5_400_000],
    [{ weeks: 1, days: 1, hours: 1, minutes: 1, seconds: 1, milliseconds: 1 }, 694_861_001],
    [{ minutes: 0.5 }, 30_000],
  ])('reads %j as %i milliseconds', (input, ms) => {
    expect(toMilliseconds(input)).toBe(ms);
  });

  it.each([[''], ['   '], ['abc'], ['5x'], ['5'], ['-1s'], ['10 s'], ['s'], ['.5s'], ['1h 30m'], [-5], [Number.NaN], [Number.POSITIVE_INFINITY], [null], [undefined], [{}], [[]], [true], [{ seconds: -1 }], [{ seconds: '5' }], [{ secs: 5 }], [{ seconds: 5, name: 'x' }], [{ minutes: Number.NaN }]])(
    'rejects %j with a ValidationError that says what is accepted',
    (input) => {
      const parse = () => toMilliseconds(input as never, 'sleep duration');
      expect(parse).toThrow(ValidationError);
      expect(parse).toThrow(/^Invalid sleep duration /);
      expect(parse).toThrow(ACCEPTED);
    },
  );

  it('names the value as "duration" when no description is given', () => {
    expect(() => toMilliseconds('soon')).toThrow('Invalid duration "soon"');
  });

  it.each([
    ['a BigInt', 5n],
    ['a circular object', circular],
  ])('rejects %s with a ValidationError instead of crashing while describing it', (_label, input) => {
    expect(() => toMilliseconds(input as never)).toThrow(ValidationError);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [1, '1ms'],
    [1_000, '1s'],
    [1_001, '1s1ms'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [259_200_000, '3d'],
    [604_800_000, '7d'],
    [90_061_001, '1d1h1m1s1ms'],
  ])('formats %i ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([['500ms'], ['30s'], ['1h30m'], ['3d'], ['1d2h3m4s5ms']])('formats a parsed %j back to a string that parses to the same length', (text) => {
    const ms = toMilliseconds(text);
    expect(toMilliseconds(formatDuration(ms))).toBe(ms);
  });
});
