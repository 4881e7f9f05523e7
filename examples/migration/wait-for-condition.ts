/**
 * Polling with waitForCondition: a monthly report waits for the data export it started.
 *
 * With the AWS SDK, `context.waitForCondition(check, { initialState, waitStrategy })` runs `check` on the
 * state, asks `waitStrategy(state, attempt)` whether to go on and how long to wait (`{ seconds: n }`), and
 * repeats; `createWaitStrategy` builds a backoff. Perdure's `ctx.waitForCondition` has the same shape: each
 * check is a step named `<name> #<n>`, each wait a durable timer, delays are durations (`'30s'`). There is no
 * `createWaitStrategy`: write the strategy, as here. It runs in orchestration code, so it decides from the
 * state and the attempt only; it may throw to give up. A check that throws fails the wait unless `retry`
 * says otherwise (the AWS SDK does not retry a check).
 */
import { createApp, TimeoutError, type AppOptions, type WaitForConditionOptions } from '../../lib/index.js';

export type ExportStatus = 'running' | 'done' | 'failed';

/** The data warehouse's export jobs. */
export interface Exports {
  start(month: string): Promise<string>;
  status(jobId: string): Promise<ExportStatus>;
}

export interface ExportState {
  jobId: string;
  status: ExportStatus;
  checks: number;
}

/** Give up after this many checks (about 25 minutes with the backoff below). */
export const MAX_CHECKS = 10;

/** 10 s after the first check, doubling up to 5 minutes; stop once the export is no longer running. */
export const exportBackoff: WaitForConditionOptions<ExportState>['waitStrategy'] = (state, attempt) => {
  if (state.status !== 'running') return { shouldContinue: false };
  if (attempt >= MAX_CHECKS) throw new TimeoutError(`Export ${state.jobId} was still running after ${attempt} checks.`);
  return { shouldContinue: true, delay: `${Math.min(10 * 2 ** (attempt - 1), 300)}s` };
};

export function createMonthlyReportApp(warehouse: Exports, options: AppOptions = {}) {
  const app = createApp(options);

  app.orchestration('monthlyReport', async (ctx, month: string) => {
    const jobId = await ctx.step('start export', () => warehouse.start(month));
    const done = await ctx.waitForCondition(
      async (state: ExportState) => ({ ...state, status: await warehouse.status(state.jobId), checks: state.checks + 1 }),
      {
        name: 'export',
        initialState: { jobId, status: 'running', checks: 0 },
        waitStrategy: exportBackoff,
        // The warehouse's status API fails now and then: retry a check before failing the wait.
        retry: { maxAttempts: 3, initialInterval: '5s' },
      },
    );
    if (done.status === 'failed') throw new Error(`Export ${jobId} for ${month} failed.`);
    return done;
  });

  return app;
}
