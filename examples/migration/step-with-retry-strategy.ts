/**
 * A step with a retry strategy function: converting an invoice with a rate from a rate-limited API.
 *
 * With the AWS SDK, `context.step(name, fn, { retryStrategy: (error, attemptCount) => ({ shouldRetry, delay }) })`
 * decides each retry in code, and a step without one is retried by `retryPresets.default` (6 attempts, 5 s
 * doubling to 60 s, full jitter). Perdure's `ctx.step(name, fn, { retry })` takes the same kind of function
 * (`delay` a duration such as `'4s'`), and a step without `retry` makes 3 attempts (1 s, then 2 s, no jitter).
 * Two differences matter when porting a strategy:
 * - It runs in orchestration code on every replay, so it must decide from the error and the attempt only.
 * - It receives the error as history recorded it: the same `name`, `message` and `details`, but not the
 *   same class, so test `error.name`, not `instanceof`. A `NonRetryableError` is never retried, whatever
 *   the strategy says.
 */
import { createApp, type AppOptions, type RetryStrategy } from '../../lib/index.js';

export interface Invoice {
  id: string;
  amount: number;
  currency: string;
}

/** The rates API: rejects with an error named 'RateLimited' (with `details.retryAfterSeconds`) when called too often. */
export interface Rates {
  toEur(currency: string): Promise<number>;
}

/** Retry what the API throttled, after the delay it asked for (else 2^attempt seconds), up to 5 attempts. */
export const retryRateLimits: RetryStrategy = (error, attempt) => {
  if (error.name !== 'RateLimited' || attempt >= 5) return { shouldRetry: false };
  const retryAfter = (error as Error & { details?: { retryAfterSeconds?: number } }).details?.retryAfterSeconds;
  return { shouldRetry: true, delay: `${retryAfter ?? 2 ** attempt}s` };
};

export function createInvoiceConversionApp(rates: Rates, options: AppOptions = {}) {
  const app = createApp(options);

  app.orchestration('convertInvoice', async (ctx, invoice: Invoice) => {
    const rate = await ctx.step('fetch rate', () => rates.toEur(invoice.currency), { retry: retryRateLimits, timeout: '10s' });
    return { ...invoice, currency: 'EUR', amount: Math.round(invoice.amount * rate * 100) / 100, rate };
  });

  return app;
}
