import { describe, expect, it } from 'vitest';
import { ValidationError, type FailureDetails } from '../../lib/core/errors.js';
import { NO_RETRY, nextRetryDelay, resolveRetryPolicy, type RetryPolicy } from '../../lib/core/retry-policy.js';

const failure: FailureDetails = { name: 'Error', message: 'boom' };

describe('resolveRetryPolicy', () => {
  it('fills in 3 attempts, 1s initial interval, coefficient 2 and a 10m maximum for an empty policy', () => {
    expect(resolveRetryPolicy({})).toEqual({ maxAttempts: 3, initialIntervalMs: 1_000, backoffCoefficient: 2, maxIntervalMs: 600_000, nonRetryableErrors: [] });
  });

  it('makes a single attempt when no policy is given', () => {
    expect(resolveRetryPolicy(undefined)).toBe(NO_RETRY);
    expect(NO_RETRY.maxAttempts).toBe(1);
  });

  it('keeps the fields it is given, with durations in milliseconds', () => {
    expect(resolveRetryPolicy({ maxAttempts: 5, initialInterval: '2s', backoffCoefficient: 1.5, maxInterval: '1m', nonRetryableErrors: ['CardDeclined'] })).toEqual({
      maxAttempts: 5,
      initialIntervalMs: 2_000,
      backoffCoefficient: 1.5,
      maxIntervalMs: 60_000,
      nonRetryableErrors: ['CardDeclined'],
    });
  });

  it.each<[string, unknown, RegExp]>([
    ['maxAttempts 0', { maxAttempts: 0 }, /maxAttempts must be an integer ≥ 1, got 0/],
    ['maxAttempts 1.5', { maxAttempts: 1.5 }, /maxAttempts must be an integer ≥ 1, got 1.5/],
    ['maxAttempts as a string', { maxAttempts: '3' }, /maxAttempts must be an integer ≥ 1, got "3"/],
    ['backoffCoefficient 0.5', { backoffCoefficient: 0.5 }, /backoffCoefficient must be a number ≥ 1, got 0.5/],
    ['backoffCoefficient Infinity', { backoffCoefficient: Number.POSITIVE_INFINITY }, /backoffCoefficient must be a number ≥ 1/],
    ['an invalid initialInterval', { initialInterval: 'soon' }, /Invalid retry initialInterval "soon"/],
    ['a negative initialInterval', { initialInterval: -1 }, /Invalid retry initialInterval -1/],
    ['an invalid maxInterval', { maxInterval: '5x' }, /Invalid retry maxInterval "5x"/],
    ['nonRetryableErrors that is not an array', { nonRetryableErrors: 'TypeError' }, /nonRetryableErrors must be an array of error names/],
    ['nonRetryableErrors holding a non-string', { nonRetryableErrors: ['TypeError', 42] }, /nonRetryableErrors must be an array of error names/],
    ['a policy that is not an object', 'fast', /Invalid retry policy "fast": pass an object/],
    ['a null policy', null, /Invalid retry policy null: pass an object/],
  ])('rejects a retry policy with %s, naming the field', (_label, policy, message) => {
    const resolve = () => resolveRetryPolicy(policy as RetryPolicy);
    expect(resolve).toThrow(ValidationError);
    expect(resolve).toThrow(message);
  });

  it('rejects a retry policy whose maxInterval is shorter than its initialInterval', () => {
    expect(() => resolveRetryPolicy({ initialInterval: '1m', maxInterval: '10s' })).toThrow(
      new ValidationError('Invalid retry policy: maxInterval (10000 ms) is shorter than initialInterval (60000 ms).'),
    );
  });

  it('accepts a maxInterval equal to the initialInterval', () => {
    expect(resolveRetryPolicy({ initialInterval: '5s', maxInterval: '5s' }).maxIntervalMs).toBe(5_000);
  });
});

describe('nextRetryDelay', () => {
  it('doubles the delay from 1s after each failed attempt', () => {
    const policy = resolveRetryPolicy({ maxAttempts: 4 });
    expect([1, 2, 3].map((attempt) => nextRetryDelay(policy, attempt, failure))).toEqual([1_000, 2_000, 4_000]);
  });

  it('caps the delay at maxInterval', () => {
    const policy = resolveRetryPolicy({ maxAttempts: 6, initialInterval: '1s', maxInterval: '3s' });
    expect([1, 2, 3, 4, 5].map((attempt) => nextRetryDelay(policy, attempt, failure))).toEqual([1_000, 2_000, 3_000, 3_000, 3_000]);
  });

  it('stays at maxInterval even when the growth overflows to Infinity', () => {
    const policy = resolveRetryPolicy({ maxAttempts: 10_000, backoffCoefficient: 10 });
    expect(nextRetryDelay(policy, 5_000, failure)).toBe(600_000);
  });

  it('gives no delay after the last attempt', () => {
    const policy = resolveRetryPolicy({ maxAttempts: 3 });
    expect(nextRetryDelay(policy, 2, failure)).toBe(2_000);
    expect(nextRetryDelay(policy, 3, failure)).toBeUndefined();
    expect(nextRetryDelay(NO_RETRY, 1, failure)).toBeUndefined();
  });

  it('gives no delay for a failure marked nonRetryable', () => {
    const policy = resolveRetryPolicy({ maxAttempts: 5 });
    expect(nextRetryDelay(policy, 1, { ...failure, nonRetryable: true })).toBeUndefined();
  });

  it('gives no delay for a failure whose name is in nonRetryableErrors, and retries other names', () => {
    const policy = resolveRetryPolicy({ maxAttempts: 5, nonRetryableErrors: ['CardDeclined'] });
    expect(nextRetryDelay(policy, 1, { name: 'CardDeclined', message: 'no funds' })).toBeUndefined();
    expect(nextRetryDelay(policy, 1, { name: 'CardDeclinedLater', message: 'x' })).toBe(1_000);
  });
});
