import { describe, expect, it } from 'vitest';
import {
  ActivityFailedError,
  ActivityNotFoundError,
  DeterminismViolationError,
  HistoryLimitError,
  InstanceExistsError,
  InstanceNotFoundError,
  InvalidStateError,
  CallbackAlreadyCompletedError,
  CallbackExpiredError,
  CallbackNotFoundError,
  NonDeterminismError,
  NonRetryableError,
  OrchestrationNotFoundError,
  PerdureError,
  PoisonMessageError,
  SubOrchestrationFailedError,
  TimeoutError,
  ValidationError,
  rebuildError,
  toFailureDetails,
  type FailureDetails,
} from '../../lib/core/errors.js';

const circular: Record<string, unknown> = {};
circular.self = circular;

const cause: FailureDetails = { name: 'CardDeclined', message: 'no funds' };

describe('error classes', () => {
  it.each<[string, PerdureError, string]>([
    ['ValidationError', new ValidationError('m'), 'VALIDATION'],
    ['NonDeterminismError', new NonDeterminismError('m'), 'NON_DETERMINISM'],
    ['DeterminismViolationError', new DeterminismViolationError('m'), 'DETERMINISM_VIOLATION'],
    ['ActivityFailedError', new ActivityFailedError('charge', 1, cause), 'ACTIVITY_FAILED'],
    ['SubOrchestrationFailedError', new SubOrchestrationFailedError('child', 'c-1', cause), 'SUB_ORCHESTRATION_FAILED'],
    ['TimeoutError', new TimeoutError('m'), 'TIMEOUT'],
    ['PoisonMessageError', new PoisonMessageError('m'), 'POISON_MESSAGE'],
    ['HistoryLimitError', new HistoryLimitError('m'), 'HISTORY_LIMIT'],
    ['InstanceNotFoundError', new InstanceNotFoundError('i-1'), 'INSTANCE_NOT_FOUND'],
    ['InstanceExistsError', new InstanceExistsError('i-1', 'order', 'Running'), 'INSTANCE_EXISTS'],
    ['OrchestrationNotFoundError', new OrchestrationNotFoundError('m'), 'ORCHESTRATION_NOT_FOUND'],
    ['ActivityNotFoundError', new ActivityNotFoundError('m'), 'ACTIVITY_NOT_FOUND'],
    ['InvalidStateError', new InvalidStateError('m'), 'INVALID_STATE'],
    ['CallbackNotFoundError', new CallbackNotFoundError('m'), 'CALLBACK_NOT_FOUND'],
    ['CallbackAlreadyCompletedError', new CallbackAlreadyCompletedError('m'), 'CALLBACK_ALREADY_COMPLETED'],
    ['CallbackExpiredError', new CallbackExpiredError('m'), 'CALLBACK_EXPIRED'],
  ])('names a %s after its class and gives it a stable code', (className, error, code) => {
    expect(error.name).toBe(className);
    expect(error.constructor.name).toBe(className);
    expect(error.code).toBe(code);
    expect(error).toBeInstanceOf(PerdureError);
    expect(error).toBeInstanceOf(Error);
  });

  it('names a NonRetryableError after its class and marks it nonRetryable', () => {
    const error = new NonRetryableError('declined', { details: { reason: 'funds' } });
    expect([error.name, error.nonRetryable, error.details, error instanceof Error]).toEqual(['NonRetryableError', true, { reason: 'funds' }, true]);
  });

  it('keeps its name, message and fields in JSON (an output, a log line)', () => {
    const error = new ActivityFailedError('charge', 3, { name: 'Declined', message: 'over budget' });
    expect(JSON.parse(JSON.stringify({ reason: error }))).toEqual({
      reason: { name: 'ActivityFailedError', message: "Activity 'charge' failed after 3 attempts: Declined: over budget", code: 'ACTIVITY_FAILED', activityName: 'charge', attempts: 3, failure: { name: 'Declined', message: 'over budget' } },
    });
  });

  it('says which instance exists and what to do about it', () => {
    expect(new InstanceExistsError('i-1', 'order', 'Running').message).toMatch(/^An instance 'i-1' already exists \(orchestration 'order', status Running\).*Use another instance id/);
  });
});

describe('toFailureDetails', () => {
  it('records the name, message and stack of an Error', () => {
    const error = new TypeError('bad input');
    expect(toFailureDetails(error)).toEqual({ name: 'TypeError', message: 'bad input', stack: error.stack });
  });

  it('records a NonRetryableError as nonRetryable and keeps its details', () => {
    const failure = toFailureDetails(new NonRetryableError('declined', { details: { reason: 'funds', codes: [1, 2] } }));
    expect(failure).toMatchObject({ name: 'NonRetryableError', message: 'declined', nonRetryable: true, details: { reason: 'funds', codes: [1, 2] } });
  });

  it('records the code of a PerdureError', () => {
    expect(toFailureDetails(new TimeoutError('too slow'))).toMatchObject({ name: 'TimeoutError', message: 'too slow', code: 'TIMEOUT' });
  });

  it('records details as a JSON copy, and as a string when they are not JSON', () => {
    const details = { when: new Date(0) };
    const failure = toFailureDetails(Object.assign(new Error('x'), { details }));
    expect(failure.details).toEqual({ when: '1970-01-01T00:00:00.000Z' });
    expect(toFailureDetails(Object.assign(new Error('x'), { details: 5n })).details).toBe('5');
  });

  it('leaves out nonRetryable unless it is exactly true', () => {
    expect(toFailureDetails(Object.assign(new Error('x'), { nonRetryable: 'yes' }))).not.toHaveProperty('nonRetryable');
  });

  it.each<[string, unknown, string]>([
    ['a string', 'plain string', 'plain string'],
    ['an object', { status: 502 }, '{"status":502}'],
    ['a number', 42, '42'],
    ['undefined', undefined, 'undefined'],
  ])('records %s thrown as an Error with that value as message', (_label, thrown, message) => {
    expect(toFailureDetails(thrown)).toEqual({ name: 'Error', message });
  });

  it.each<[string, unknown]>([
    ['a circular object', circular],
    ['a BigInt', 7n],
  ])('records %s thrown instead of crashing while describing it', (_label, thrown) => {
    expect(toFailureDetails(thrown)).toEqual({ name: 'Error', message: expect.any(String) });
  });
});

describe('rebuildError', () => {
  it('restores the name, message, stack, details, code and nonRetryable flag of a recorded failure', () => {
    const rebuilt = rebuildError({ name: 'CardDeclined', message: 'no funds', stack: 'CardDeclined: no funds\n    at x', details: { reason: 'funds' }, code: 'X', nonRetryable: true });
    expect(rebuilt).toBeInstanceOf(Error);
    expect(rebuilt).toMatchObject({ name: 'CardDeclined', message: 'no funds', stack: 'CardDeclined: no funds\n    at x', details: { reason: 'funds' }, code: 'X', nonRetryable: true });
  });

  it('round-trips a NonRetryableError through toFailureDetails', () => {
    const rebuilt = rebuildError(toFailureDetails(new NonRetryableError('declined', { details: { reason: 'funds' } })));
    expect(rebuilt).toMatchObject({ name: 'NonRetryableError', message: 'declined', details: { reason: 'funds' }, nonRetryable: true });
  });

  it('adds no details, code or nonRetryable that the failure did not record', () => {
    const rebuilt = rebuildError({ name: 'Error', message: 'x' });
    expect(['details' in rebuilt, 'code' in rebuilt, 'nonRetryable' in rebuilt]).toEqual([false, false, false]);
  });
});

describe('ActivityFailedError', () => {
  it('says which activity failed, after how many attempts, and why', () => {
    const error = new ActivityFailedError('x', 3, { name: 'Name', message: 'message' });
    expect(error.message).toBe("Activity 'x' failed after 3 attempts: Name: message");
    expect([error.activityName, error.attempts, error.failure]).toEqual(['x', 3, { name: 'Name', message: 'message' }]);
  });

  it('says "attempt" for a single attempt', () => {
    expect(new ActivityFailedError('x', 1, cause).message).toBe("Activity 'x' failed after 1 attempt: CardDeclined: no funds");
  });

  it("gives as cause an Error carrying the activity's own error name and message", () => {
    const error = new ActivityFailedError('charge', 3, { ...cause, details: { reason: 'funds' } });
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.cause).toMatchObject({ name: 'CardDeclined', message: 'no funds', details: { reason: 'funds' } });
  });
});

describe('SubOrchestrationFailedError', () => {
  it("names the child orchestration and instance, and gives the child's error as cause", () => {
    const error = new SubOrchestrationFailedError('shipping', 'order-1:ship', cause);
    expect(error.message).toBe("Sub-orchestration 'shipping' (instance 'order-1:ship') failed: CardDeclined: no funds");
    expect(error.cause).toMatchObject({ name: 'CardDeclined', message: 'no funds' });
  });
});
