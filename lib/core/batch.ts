import { describeValue, rebuildError, ValidationError } from './errors.js';
import type { BatchCompletionReason, BatchItem, BatchOptions, BatchResult, CompletionPolicy } from './types.js';

/**
 * Runs a batch of durable work (`ctx.map` with a completion policy, `ctx.parallel`) with bounded
 * concurrency, and ends it as soon as its policy is met: items not started then are not started, items
 * still running are abandoned (their calls stay in history; nothing waits for them). Every decision is made
 * as an item settles, which happens as replay applies history, so a replay ends the batch at the same point.
 */
export async function runBatch<T>(tasks: readonly (() => Promise<T>)[], options: BatchOptions, what: string): Promise<BatchResult<T>> {
  const concurrency = validateConcurrency(options.concurrency, tasks.length, what);
  const policy = validatePolicy(options.completion ?? {}, what);
  const items: BatchItem<T>[] = tasks.map((_, index) => ({ index, status: 'notStarted' }));
  if (tasks.length === 0) return batchResult(items, 'ALL_COMPLETED');
  return new Promise((resolve) => {
    let next = 0;
    let settled = 0;
    let ended = false;
    const counts = { succeeded: 0, failed: 0 };
    const end = (reason: BatchCompletionReason) => {
      ended = true;
      resolve(batchResult(items, reason));
    };
    const startNext = (): void => {
      if (ended || next >= tasks.length) return;
      const index = next++;
      const item = items[index]!;
      // A running item is 'abandoned' until it settles; one the batch ended before is left so.
      item.status = 'abandoned';
      tasks[index]!().then(
        (result) => settle(item, { status: 'succeeded', result }),
        (error: unknown) => settle(item, { status: 'failed', error: error instanceof Error ? error : new Error(String(error)) }),
      );
    };
    const settle = (item: BatchItem<T>, outcome: Pick<BatchItem<T>, 'status' | 'result' | 'error'>) => {
      if (ended) return;
      Object.assign(item, outcome);
      settled++;
      counts[outcome.status === 'succeeded' ? 'succeeded' : 'failed']++;
      if (policy.minSuccessful !== undefined && counts.succeeded >= policy.minSuccessful) return end('MIN_SUCCESSFUL_REACHED');
      if (toleranceExceeded(policy, counts.failed, tasks.length)) return end('FAILURE_TOLERANCE_EXCEEDED');
      if (settled === tasks.length) return end('ALL_COMPLETED');
      startNext();
    };
    for (let lane = 0; lane < concurrency; lane++) startNext();
  });
}

function toleranceExceeded(policy: CompletionPolicy, failed: number, total: number): boolean {
  if (policy.toleratedFailureCount !== undefined && failed > policy.toleratedFailureCount) return true;
  return policy.toleratedFailurePercentage !== undefined && (failed / total) * 100 > policy.toleratedFailurePercentage;
}

function batchResult<T>(items: BatchItem<T>[], completionReason: BatchCompletionReason): BatchResult<T> {
  const succeeded = items.filter((item) => item.status === 'succeeded');
  const failed = items.filter((item) => item.status === 'failed');
  return {
    items,
    completionReason,
    successCount: succeeded.length,
    failureCount: failed.length,
    succeeded: () => [...succeeded],
    failed: () => [...failed],
    results: () => succeeded.map((item) => item.result as T),
    throwIfError: () => {
      if (failed.length > 0) throw failed[0]!.error!;
    },
  };
}

const ITEM_STATUSES = new Set(['succeeded', 'failed', 'abandoned', 'notStarted']);
const REASONS = new Set(['ALL_COMPLETED', 'MIN_SUCCESSFUL_REACHED', 'FAILURE_TOLERANCE_EXCEEDED']);

/**
 * A `BatchResult` that went through JSON (returned by a `ctx.child`, whose result is recorded as JSON) gets its
 * methods back, and its items' errors become `Error`s again; any other value is returned as it is. Matched by
 * shape, so histories need no marker: an object of the same shape only gains the methods.
 */
export function restoreBatchResult(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const batch = value as { items?: unknown; completionReason?: unknown; successCount?: unknown; failureCount?: unknown; succeeded?: unknown };
  if (typeof batch.succeeded === 'function' || !Array.isArray(batch.items) || !REASONS.has(batch.completionReason as string)) return value;
  if (typeof batch.successCount !== 'number' || typeof batch.failureCount !== 'number') return value;
  const items = batch.items as unknown[];
  if (!items.every((item) => typeof item === 'object' && item !== null && ITEM_STATUSES.has((item as BatchItem<unknown>).status) && typeof (item as BatchItem<unknown>).index === 'number')) return value;
  const restored = (items as BatchItem<unknown>[]).map((item) => {
    if (item.error === undefined || item.error instanceof Error) return item;
    const error = item.error as { name?: unknown; message?: unknown };
    return { ...item, error: rebuildError({ name: typeof error.name === 'string' ? error.name : 'Error', message: typeof error.message === 'string' ? error.message : 'The item failed (its error was not recorded).' }) };
  });
  return batchResult(restored, batch.completionReason as BatchCompletionReason);
}

function validateConcurrency(concurrency: unknown, count: number, what: string): number {
  if (concurrency === undefined) return Math.max(1, count);
  if (!Number.isInteger(concurrency) || (concurrency as number) < 1) throw new ValidationError(`${what} concurrency must be an integer ≥ 1, got ${describeValue(concurrency)}.`);
  return concurrency as number;
}

function validatePolicy(policy: CompletionPolicy, what: string): CompletionPolicy {
  const known = ['minSuccessful', 'toleratedFailureCount', 'toleratedFailurePercentage'];
  if (typeof policy !== 'object' || policy === null) throw new ValidationError(`${what} completion must be an object such as { minSuccessful: 1 }, got ${describeValue(policy)}.`);
  const unknownFields = Object.keys(policy).filter((key) => !known.includes(key));
  if (unknownFields.length > 0) throw new ValidationError(`${what} completion has unknown field${unknownFields.length > 1 ? 's' : ''} ${unknownFields.join(', ')}: use ${known.join(', ')}.`);
  const count = (field: 'minSuccessful' | 'toleratedFailureCount', min: number) => {
    const value = policy[field];
    if (value !== undefined && (!Number.isInteger(value) || value < min)) throw new ValidationError(`${what} completion.${field} must be an integer ≥ ${min}, got ${describeValue(value)}.`);
  };
  count('minSuccessful', 1);
  count('toleratedFailureCount', 0);
  const percentage = policy.toleratedFailurePercentage;
  if (percentage !== undefined && (typeof percentage !== 'number' || !(percentage >= 0 && percentage <= 100))) {
    throw new ValidationError(`${what} completion.toleratedFailurePercentage must be a number from 0 to 100, got ${describeValue(percentage)}.`);
  }
  return policy;
}
