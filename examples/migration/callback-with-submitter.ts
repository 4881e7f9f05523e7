/**
 * A callback with a submitter: an expense waits for a manager's answer.
 *
 * With the AWS SDK, `context.waitForCallback(name, submitter, { timeout: { days: 3 } })` creates a callback,
 * runs the submitter as a step that hands its id to the outside system, and waits for
 * SendDurableExecutionCallbackSuccess / Failure. Perdure's `ctx.waitForCallback` does the same: the submitter
 * is a `ctx.step` (retried, 3 attempts by default) that receives the callback's token, and the outside
 * system answers with `client.completeCallback(token, result)` or `client.failCallback(token, error)`.
 * Differences: the name is required, durations are strings, and the callback fails with a
 * `CallbackTimeoutError` or a `CallbackFailedError` (the AWS SDK: `CallbackTimeoutError`, `CallbackExternalError`).
 */
import { CallbackFailedError, CallbackTimeoutError, createApp, type AppOptions } from '../../lib/index.js';

export interface Expense {
  id: string;
  employee: string;
  amount: number;
}

/** What the approvals service receives: the token to answer with, and a key that makes a repeated request harmless. */
export interface ApprovalRequest {
  token: string;
  expense: Expense;
  idempotencyKey: string;
}

/** The outside system: it shows the request to a manager and answers the callback later. */
export interface Approvals {
  request(request: ApprovalRequest): Promise<void>;
}

export interface ManagerVerdict {
  approved: boolean;
  by: string;
}

export type ExpenseOutcome =
  | { status: 'approved' | 'rejected'; by: string }
  | { status: 'declined'; reason: string }
  | { status: 'expired' };

export function createExpenseApprovalApp(approvals: Approvals, options: AppOptions = {}) {
  const app = createApp(options);

  app.orchestration('expenseApproval', async (ctx, expense: Expense): Promise<ExpenseOutcome> => {
    try {
      const verdict = await ctx.waitForCallback<ManagerVerdict>(
        'manager approval',
        // The submitter runs as a step: at least once, so the request carries the step's idempotency key.
        (token, actx) => approvals.request({ token, expense, idempotencyKey: actx.idempotencyKey }),
        { timeout: '3d', retry: { maxAttempts: 5, initialInterval: '30s' } },
      );
      return { status: verdict.approved ? 'approved' : 'rejected', by: verdict.by };
    } catch (error) {
      if (error instanceof CallbackTimeoutError) return { status: 'expired' };
      if (error instanceof CallbackFailedError) return { status: 'declined', reason: error.failure.message };
      throw error;
    }
  });

  return app;
}
