import { describe, expect, it } from 'vitest';
import { formatDuration, toMilliseconds } from '../../lib/core/durations.js';
import { ValidationError } from '../../lib/core/errors.js';
import { nextRetryDelay, resolveRetryPolicy } from '../../lib/core/retry-policy.js';

describe('durations', () => {
  it.each([
    [1500, 1500],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['3d', 259_200_000],
    ['1w', 604_800_000],
    ['1h30m', 5_400_000],
    [' 10s ', 10_000],
    ['1.5s', 1_500],
  ])('reads %j as %i ms', (input, ms) => {
    expect(toMilliseconds(input)).toBe(ms);
  });

  it.each([[''], ['abc'], ['5x'], ['-1s'], [-5], [Number.NaN], [Number.POSITIVE_INFINITY], ['10 s'], [null], [{}]])('rejects %j and says what is accepted', (input) => {
    expect(() => toMilliseconds(input as never, 'sleep duration')).toThrow(ValidationError);
    expect(() => toMilliseconds(input as never, 'sleep duration')).toThrow(/Invalid sleep duration .*'30s', '5m'/);
  });

  it('formats milliseconds as the shortest readable duration', () => {
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(259_200_000)).toBe('3d');
    expect(formatDuration(1_001)).toBe('1s1ms');
    expect(formatDuration(0)).toBe('0s');
  });
});

describe('retry policies', () => {
  it('fills in the defaults', () => {
    expect(resolveRetryPolicy({})).toEqual({ maxAttempts: 3, initialIntervalMs: 1_000, backoffCoefficient: 2, maxIntervalMs: 600_000, nonRetryableErrors: [] });
    expect(resolveRetryPolicy(undefined).maxAttempts).toBe(1);
  });

  it.each([
    [{ maxAttempts: 0 }, /maxAttempts must be an integer ≥ 1/],
    [{ maxAttempts: 1.5 }, /maxAttempts must be an integer ≥ 1/],
    [{ backoffCoefficient: 0.5 }, /backoffCoefficient must be a number ≥ 1/],
    [{ initialInterval: '1m', maxInterval: '10s' }, /maxInterval .* is shorter than initialInterval/],
    [{ initialInterval: 'soon' }, /Invalid retry initialInterval "soon"/],
    [{ nonRetryableErrors: 'TypeError' }, /nonRetryableErrors must be an array/],
  ])('rejects %j with a message naming the field', (policy, message) => {
    expect(() => resolveRetryPolicy(policy as never)).toThrow(message);
  });

  it('grows the delay by the coefficient up to maxInterval, and stops at the last attempt', () => {
    const policy = resolveRetryPolicy({ maxAttempts: 5, initialInterval: '1s', backoffCoefficient: 2, maxInterval: '3s' });
    const failure = { name: 'Error', message: 'x' };
    expect([1, 2, 3, 4, 5].map((attempt) => nextRetryDelay(policy, attempt, failure))).toEqual([1_000, 2_000, 3_000, 3_000, undefined]);
  });

  it('does not retry a non-retryable failure or a listed error name', () => {
    const policy = resolveRetryPolicy({ maxAttempts: 5, nonRetryableErrors: ['CardDeclined'] });
    expect(nextRetryDelay(policy, 1, { name: 'CardDeclined', message: '' })).toBeUndefined();
    expect(nextRetryDelay(policy, 1, { name: 'Error', message: '', nonRetryable: true })).toBeUndefined();
    expect(nextRetryDelay(policy, 1, { name: 'Error', message: '' })).toBe(1_000);
  });
});
