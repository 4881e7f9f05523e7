import { toMilliseconds, type Duration } from './durations.js';
import { describeValue, rebuildError, ValidationError, type FailureDetails } from './errors.js';
import type { RetryStrategy } from './types.js';

/**
 * How a failed activity is retried. Every delay is a durable timer, so retries are visible in history
 * and survive restarts.
 * @example
 * { maxAttempts: 5, initialInterval: '2s', backoffCoefficient: 2, maxInterval: '1m' }
 */
export interface RetryPolicy {
  /** Total attempts, the first included. @defaultValue 3 */
  maxAttempts?: number;
  /** Delay before the second attempt. @defaultValue '1s' */
  initialInterval?: Duration;
  /** Each delay is the previous one times this. @defaultValue 2 */
  backoffCoefficient?: number;
  /** Upper bound of any delay. @defaultValue '10m' */
  maxInterval?: Duration;
  /** Error names that fail at once, without retrying. `NonRetryableError` never retries. */
  nonRetryableErrors?: string[];
}

/** A validated retry policy with every field filled in. */
export interface ResolvedRetryPolicy {
  maxAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maxIntervalMs: number;
  nonRetryableErrors: readonly string[];
}

/** The policy of a call with no retry option anywhere: one attempt. */
export const NO_RETRY: ResolvedRetryPolicy = Object.freeze({
  maxAttempts: 1,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maxIntervalMs: 600_000,
  nonRetryableErrors: [],
});

const POLICY_FIELDS = ['maxAttempts', 'initialInterval', 'backoffCoefficient', 'maxInterval', 'nonRetryableErrors'] as const satisfies readonly (keyof RetryPolicy)[];

/** Validates a policy and fills in the defaults; throws a `ValidationError` naming the bad field. */
export function resolveRetryPolicy(policy: RetryPolicy | undefined): ResolvedRetryPolicy {
  if (policy === undefined) return NO_RETRY;
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    throw new ValidationError(`Invalid retry policy ${describeValue(policy)}: pass an object such as { maxAttempts: 3, initialInterval: '1s' }.`);
  }
  const unknownFields = Object.keys(policy).filter((key) => !(POLICY_FIELDS as readonly string[]).includes(key));
  if (unknownFields.length) {
    throw new ValidationError(`Invalid retry policy: unknown field${unknownFields.length > 1 ? 's' : ''} ${unknownFields.join(', ')}; use ${POLICY_FIELDS.slice(0, -1).join(', ')} or ${POLICY_FIELDS.at(-1)}.`);
  }
  const maxAttempts = policy.maxAttempts ?? 3;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new ValidationError(`Invalid retry policy: maxAttempts must be an integer ≥ 1, got ${describeValue(policy.maxAttempts)}.`);
  }
  const backoffCoefficient = policy.backoffCoefficient ?? 2;
  if (typeof backoffCoefficient !== 'number' || !Number.isFinite(backoffCoefficient) || backoffCoefficient < 1) {
    throw new ValidationError(`Invalid retry policy: backoffCoefficient must be a number ≥ 1, got ${describeValue(policy.backoffCoefficient)}.`);
  }
  const initialIntervalMs = toMilliseconds(policy.initialInterval ?? '1s', 'retry initialInterval');
  const maxIntervalMs = toMilliseconds(policy.maxInterval ?? '10m', 'retry maxInterval');
  if (maxIntervalMs < initialIntervalMs) {
    throw new ValidationError(`Invalid retry policy: maxInterval (${maxIntervalMs} ms) is shorter than initialInterval (${initialIntervalMs} ms).`);
  }
  const nonRetryableErrors = policy.nonRetryableErrors ?? [];
  if (!Array.isArray(nonRetryableErrors) || nonRetryableErrors.some((name) => typeof name !== 'string')) {
    throw new ValidationError('Invalid retry policy: nonRetryableErrors must be an array of error names.');
  }
  return { maxAttempts, initialIntervalMs, backoffCoefficient, maxIntervalMs, nonRetryableErrors };
}

/** The delay after failed attempt `attempt` (1-based), or undefined when no attempt is left for this failure. */
export function nextRetryDelay(policy: ResolvedRetryPolicy, attempt: number, failure: FailureDetails): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  if (failure.nonRetryable || policy.nonRetryableErrors.includes(failure.name)) return undefined;
  const delay = policy.initialIntervalMs * policy.backoffCoefficient ** (attempt - 1);
  return Math.min(Math.round(delay), policy.maxIntervalMs);
}

/** A policy, or code that decides (`RetryStrategy`). */
export type RetryRule = ResolvedRetryPolicy | RetryStrategy;

/** Validates a retry option: a policy object (defaults filled in) or a strategy function. */
export function resolveRetry(retry: RetryPolicy | RetryStrategy | undefined): RetryRule {
  return typeof retry === 'function' ? retry : resolveRetryPolicy(retry);
}

/**
 * The delay before the next attempt after failed attempt `attempt`, or undefined when there is none. A
 * failure that asked not to be retried (`NonRetryableError`) never is, whatever a strategy says.
 */
export function retryDelay(rule: RetryRule, attempt: number, failure: FailureDetails): number | undefined {
  if (typeof rule !== 'function') return nextRetryDelay(rule, attempt, failure);
  if (failure.nonRetryable) return undefined;
  const decision = rule(rebuildError(failure), attempt) as unknown;
  if (typeof decision !== 'object' || decision === null || typeof (decision as { shouldRetry?: unknown }).shouldRetry !== 'boolean') {
    throw new ValidationError(`A retry strategy must return { shouldRetry: boolean, delay?: duration }, got ${describeValue(decision)}.`);
  }
  const { shouldRetry, delay } = decision as { shouldRetry: boolean; delay?: Duration };
  return shouldRetry ? toMilliseconds(delay ?? '1s', 'retry strategy delay') : undefined;
}
