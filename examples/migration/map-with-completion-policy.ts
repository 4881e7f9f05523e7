/**
 * A map with a completion policy: renewal reminders to every member, where a few bounces are expected.
 *
 * With the AWS SDK, `context.map(name, members, (ctx, member) => ctx.step(...), { maxConcurrency: 3,
 * completionConfig: { toleratedFailurePercentage: 20 } })` returns a `BatchResult`. In Perdure the options are
 * `concurrency` and `completion`, the item function receives `(item, index)` and makes its durable calls on
 * the orchestration's `ctx` (no child context per item), and with `completion` the result is a `BatchResult`
 * (`items`, `results()`, `failed()`, `completionReason`, `throwIfError()`).
 * Watch the default: without `completionConfig` the AWS SDK stops at the first failure; Perdure's `ctx.map`
 * without `completion` throws the first failure instead of returning a batch, and a `completion` policy
 * without a tolerance tolerates every failure. Say `toleratedFailureCount: 0` for fail-fast.
 */
import { createApp, type AppOptions } from '../../lib/index.js';

export interface Member {
  id: string;
  email: string;
}

/** Sends one reminder; rejects when the address bounces. */
export interface Mailer {
  sendReminder(member: Member, idempotencyKey: string): Promise<string>;
}

export interface ReminderReport {
  sent: string[];
  bounced: string[];
  reason: string;
}

/** A renewal run that loses more than this share of its members to bounces fails, so that someone looks. */
export const TOLERATED_BOUNCES_PERCENT = 20;

export function createRenewalRemindersApp(mailer: Mailer, options: AppOptions = {}) {
  const app = createApp(options);

  app.activity('sendReminder', (member: Member, actx) => mailer.sendReminder(member, actx.idempotencyKey), {
    retry: { maxAttempts: 2, initialInterval: '5s' },
  });

  app.orchestration('renewalReminders', async (ctx, members: Member[]): Promise<ReminderReport> => {
    const batch = await ctx.map(members, (member) => ctx.callActivity<string>('sendReminder', member), {
      concurrency: 3,
      completion: { toleratedFailurePercentage: TOLERATED_BOUNCES_PERCENT },
    });
    // Over the tolerance: fail the instance with the first bounce's error.
    if (batch.completionReason === 'FAILURE_TOLERANCE_EXCEEDED') batch.throwIfError();
    return {
      sent: batch.results(),
      bounced: batch.failed().map((item) => members[item.index]!.email),
      reason: batch.completionReason,
    };
  });

  return app;
}
