import { describe, expect, it } from 'vitest';
import { createApp } from '../../lib/core/app.js';
import { DeterministicRandom } from '../../lib/core/deterministic-random.js';
import { ActivityFailedError, NonRetryableError, NonDeterminismError, rebuildError, toFailureDetails, ValidationError } from '../../lib/core/errors.js';
import { validateEventName, validateInstanceId, validateName } from '../../lib/core/names.js';

describe('names', () => {
  it.each(['order-1', 'a', 'A.b:c@d_e-f', 'x'.repeat(200)])('accepts the instance id %j', (id) => {
    expect(validateInstanceId(id)).toBe(id);
  });

  it.each([[''], ['a/b'], ['a\\b'], ['a\nb'], ['a\u0000b'], ['Ꭺbc'], ['ab\u200bc'], ['-lead'], ['x'.repeat(201)], [42]])('rejects the instance id %j', (id) => {
    expect(() => validateInstanceId(id)).toThrow(ValidationError);
  });

  it('shows a long rejected id shortened, with its length', () => {
    expect(() => validateInstanceId('x'.repeat(10_240))).toThrow(/\.\.\. \(10240 characters\)/);
  });

  it('checks orchestration, activity and event names', () => {
    expect(validateName('chargeCard', 'activity name')).toBe('chargeCard');
    expect(() => validateName('1st', 'activity name')).toThrow(/Invalid activity name "1st"/);
    expect(validateEventName('approval:step-2')).toBe('approval:step-2');
    expect(() => validateEventName('a b')).toThrow(ValidationError);
  });
});

describe('errors', () => {
  it('gives every Perdure error its class name and a stable code', () => {
    const error = new NonDeterminismError('changed');
    expect([error.name, error.code, error instanceof Error]).toEqual(['NonDeterminismError', 'NON_DETERMINISM', true]);
  });

  it('records and rebuilds a failure with its name, message and details', () => {
    const failure = toFailureDetails(new NonRetryableError('declined', { details: { reason: 'funds' } }));
    expect(failure).toMatchObject({ name: 'NonRetryableError', message: 'declined', details: { reason: 'funds' }, nonRetryable: true });
    const rebuilt = rebuildError(failure) as Error & { details: unknown };
    expect([rebuilt.name, rebuilt.message, rebuilt.details]).toEqual(['NonRetryableError', 'declined', { reason: 'funds' }]);
    expect(toFailureDetails('plain string')).toEqual({ name: 'Error', message: 'plain string' });
  });

  it('says which activity failed, after how many attempts, and why', () => {
    const error = new ActivityFailedError('charge', 3, { name: 'CardDeclined', message: 'no funds' });
    expect(error.message).toBe("Activity 'charge' failed after 3 attempts: CardDeclined: no funds");
    expect((error.cause as Error).name).toBe('CardDeclined');
  });
});

describe('app registry', () => {
  it('takes the latest version in natural order and lists what exists when a lookup fails', () => {
    const app = createApp();
    for (const version of ['1', '2', '10']) app.orchestration('job', async () => version, { version });
    expect(app.getOrchestration('job').version).toBe('10');
    expect(() => app.getOrchestration('job', 3)).toThrow('registered: 1, 2, 10');
    expect(() => app.getOrchestration('other')).toThrow("No orchestration named 'other' is registered (registered: job).");
    expect(() => app.orchestration('job', async () => 1, { version: '2' })).toThrow('already registered');
    expect(() => createApp({ maxHistoryEvents: 5 })).toThrow(ValidationError);
    expect(createApp({ maxHistoryEvents: 1_000 }).historyWarningEvents).toBe(800);
  });
});

describe('deterministic random', () => {
  it('repeats its sequence for the same seed and differs for another', () => {
    const a = new DeterministicRandom('seed');
    const b = new DeterministicRandom('seed');
    const c = new DeterministicRandom('other');
    const sequence = [a.next(), a.next(), a.uuid()];
    expect([b.next(), b.next(), b.uuid()]).toEqual(sequence);
    expect(c.next()).not.toBe(sequence[0]);
    expect(sequence.slice(0, 2).every((n) => typeof n === 'number' && n >= 0 && n < 1)).toBe(true);
    expect(sequence[2]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
