import { Linter } from 'eslint';
import { readdir, readFile } from 'node:fs/promises';
import tseslint from 'typescript-eslint';
import { afterEach, describe, expect, it } from 'vitest';
import { createExpenseApprovalApp, type ApprovalRequest } from '../examples/migration/callback-with-submitter.js';
import { createTicketBookingApp, type Booking } from '../examples/migration/child-context.js';
import { createRenewalRemindersApp, type Member } from '../examples/migration/map-with-completion-policy.js';
import { createInvoiceConversionApp } from '../examples/migration/step-with-retry-strategy.js';
import { createMonthlyReportApp, MAX_CHECKS, type ExportStatus } from '../examples/migration/wait-for-condition.js';
import plugin from '../lib/eslint/index.js';
import { checkReplay, InvalidStateError, NonRetryableError, silentLogger, TestEnvironment, type App, type HistoryEvent, type TestEnvironmentOptions } from '../lib/index.js';

// The patterns of the AWS durable execution SDK's examples, written for Perdure (examples/migration/), run
// in memory. Each history is compared in order, projected to what the code decides.

const open: TestEnvironment[] = [];
afterEach(async () => {
  for (const env of open.splice(0)) await env.close();
});

async function start(app: App, options: TestEnvironmentOptions = {}): Promise<TestEnvironment> {
  const env = await TestEnvironment.create(app, options);
  open.push(env);
  return env;
}

const quiet = { logger: silentLogger };

/** Each event as `Type name #attempt @scope`, without the step markers. */
function shape(history: HistoryEvent[]): string[] {
  return history
    .filter((event) => event.type !== 'StepStarted')
    .map((event) => {
      const name = 'name' in event && event.name !== undefined && event.type !== 'ExecutionStarted' ? ` ${event.name}` : '';
      const attempt = event.type === 'ActivityScheduled' ? ` #${event.attempt}` : '';
      const scope = 'scope' in event && event.scope ? ` @${event.scope}` : '';
      return `${event.type}${name}${attempt}${scope}`;
    });
}

/** The delay of every durable timer, in ms, in the order they were created. */
const timerDelays = (history: HistoryEvent[]) => history.flatMap((event) => (event.type === 'TimerCreated' ? [event.fireAt - event.timestamp] : []));

/** Moves virtual time a minute at a time until the outside world has seen what `done` waits for. */
async function until(env: TestEnvironment, done: () => boolean): Promise<void> {
  for (let minute = 0; minute < 60 && !done(); minute++) await env.advanceTime('1m');
  expect(done()).toBe(true);
}

describe('a callback with a submitter (examples/migration/callback-with-submitter.ts)', () => {
  function approvalsService(failures = 0) {
    const attempts: string[] = [];
    const requests: ApprovalRequest[] = [];
    return {
      attempts,
      requests,
      request: async (request: ApprovalRequest) => {
        attempts.push(request.idempotencyKey);
        if (attempts.length <= failures) throw new Error('approvals service unavailable');
        requests.push(request);
      },
    };
  }
  const expense = { id: 'exp-7', employee: 'ada', amount: 420 };

  it("returns the manager's answer, sent through the token; a failed submission is retried as a step with the same idempotency key", async () => {
    const approvals = approvalsService(1);
    const env = await start(createExpenseApprovalApp(approvals, quiet));
    const id = await env.client.start('expenseApproval', expense);
    await until(env, () => approvals.requests.length === 1);
    expect(approvals.requests[0]).toMatchObject({ expense, token: expect.stringMatching(/^cb1\./) });
    expect(approvals.attempts).toEqual([approvals.attempts[0], approvals.attempts[0]]);

    expect(await env.client.completeCallback(approvals.requests[0]!.token, { approved: true, by: 'grace' })).toBe('recorded');
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: { status: 'approved', by: 'grace' } });
    const history = await env.client.getHistory(id);
    expect(shape(history)).toEqual([
      'ExecutionStarted',
      'CallbackCreated manager approval',
      'TimerCreated callback',
      'ActivityScheduled manager approval submitter #1',
      'ActivityFailed',
      'TimerCreated',
      'TimerFired',
      'ActivityScheduled manager approval submitter #2',
      'ActivityCompleted',
      'CallbackCompleted',
      'ExecutionCompleted',
    ]);
    // The callback's 3-day timeout, then the submitter's retry delay.
    expect(timerDelays(history)).toEqual([3 * 86_400_000, 30_000]);
  });

  it('declines when the outside system fails the callback, with the reason it sent', async () => {
    const approvals = approvalsService();
    const env = await start(createExpenseApprovalApp(approvals, quiet));
    const id = await env.client.start('expenseApproval', expense);
    await until(env, () => approvals.requests.length === 1);
    await env.client.failCallback(approvals.requests[0]!.token, { name: 'PolicyViolation', message: 'receipts missing' });
    expect((await env.client.waitForCompletion(id)).output).toEqual({ status: 'declined', reason: 'receipts missing' });
  });

  it('expires when nobody answers within 3 days, and refuses an answer after that', async () => {
    const approvals = approvalsService();
    const env = await start(createExpenseApprovalApp(approvals, quiet));
    const id = await env.client.start('expenseApproval', expense);
    await until(env, () => approvals.requests.length === 1);
    expect((await env.client.waitForCompletion(id)).output).toEqual({ status: 'expired' });
    await expect(env.client.completeCallback(approvals.requests[0]!.token, { approved: true, by: 'late' })).rejects.toThrow(InvalidStateError);
  });
});

describe('a map with a completion policy (examples/migration/map-with-completion-policy.ts)', () => {
  function mailer() {
    const mailed: string[] = [];
    return {
      mailed,
      sendReminder: async (member: Member) => {
        mailed.push(member.email);
        if (member.email.startsWith('bounce')) throw new Error(`mailbox ${member.email} does not exist`);
        return member.email;
      },
    };
  }
  const members = (emails: string[]): Member[] => emails.map((email, index) => ({ id: `m${index}`, email }));
  const mailedInHistory = (history: HistoryEvent[]) => history.flatMap((event) => (event.type === 'ActivityScheduled' ? [`${(event.input as Member).email} #${event.attempt}`] : []));

  it('completes with one bounce in five: a failure within the tolerance does not fail the batch', async () => {
    const env = await start(createRenewalRemindersApp(mailer(), quiet));
    const id = await env.client.start('renewalReminders', members(['bounce@a', 'b@x', 'c@x', 'd@x', 'e@x']));
    expect(await env.client.waitForCompletion(id)).toMatchObject({
      status: 'Completed',
      output: { sent: ['b@x', 'c@x', 'd@x', 'e@x'], bounced: ['bounce@a'], reason: 'ALL_COMPLETED' },
    });
    // Three at a time; the bounce is retried once (the activity's policy) after the others were sent.
    expect(mailedInHistory(await env.client.getHistory(id))).toEqual(['bounce@a #1', 'b@x #1', 'c@x #1', 'd@x #1', 'e@x #1', 'bounce@a #2']);
  });

  it('ends the batch at the bounce that passes the tolerance: later members get no mail, and the instance fails with the first bounce', async () => {
    const service = mailer();
    const env = await start(createRenewalRemindersApp(service, quiet));
    const emails = ['bounce0@a', 'bounce1@a', 'bounce2@a', ...Array.from({ length: 7 }, (_, index) => `m${index + 3}@x`)];
    const id = await env.client.start('renewalReminders', members(emails));
    expect(await env.client.waitForCompletion(id)).toMatchObject({
      status: 'Failed',
      error: { name: 'ActivityFailedError', message: "Activity 'sendReminder' failed after 2 attempts: Error: mailbox bounce0@a does not exist" },
    });
    await env.idle();
    // 3 of 10 is over 20%: the batch ended there. The two members started after the first bounces ran
    // (abandoned, not awaited); the other five were never started.
    expect(new Set(service.mailed)).toEqual(new Set(['bounce0@a', 'bounce1@a', 'bounce2@a', 'm3@x', 'm4@x']));
  });
});

describe('a child context (examples/migration/child-context.ts)', () => {
  function boxOffice(available: number) {
    const calls = { hold: 0, price: 0, charge: 0 };
    return {
      calls,
      hold: async (booking: Booking) => {
        calls.hold++;
        if (booking.seats > available) throw new NonRetryableError(`sold out: ${available} seats left`);
        return { holdId: `hold-${booking.bookingId}`, seats: booking.seats };
      },
      price: async (hold: { seats: number }) => (calls.price++, hold.seats * 30),
      charge: async (_customer: string, amount: number) => (calls.charge++, `pay-${amount}`),
    };
  }
  const booking = (seats: number): Booking => ({ bookingId: 'bk-1', showId: 'hamlet', seats, customer: 'ada' });

  it('groups the hold and its price under the child, records its result, and replays it without calling anything again', async () => {
    const office = boxOffice(10);
    const app = createTicketBookingApp(office, quiet);
    const env = await start(app);
    const id = await env.client.start('ticketBooking', booking(2));
    expect((await env.client.waitForCompletion(id)).output).toEqual({ status: 'booked', holdId: 'hold-bk-1', price: 60, paymentId: 'pay-60' });
    const history = await env.client.getHistory(id);
    const child = history.find((event) => event.type === 'ChildStarted')!;
    expect(shape(history)).toEqual([
      'ExecutionStarted',
      'ChildStarted reserve',
      `ActivityScheduled holdSeats #1 @${child.taskId}`,
      'ActivityCompleted',
      `ActivityScheduled price hold #1 @${child.taskId}`,
      'ActivityCompleted',
      'ChildCompleted',
      'ActivityScheduled chargeCard #1',
      'ActivityCompleted',
      'ExecutionCompleted',
    ]);
    expect(history.find((event) => event.type === 'ChildCompleted')).toMatchObject({ taskId: child.taskId, result: { holdId: 'hold-bk-1', price: 60 } });

    expect(await checkReplay(app, { instanceId: id, events: history })).toMatchObject({ ok: true });
    expect(office.calls).toEqual({ hold: 1, price: 1, charge: 1 });
  });

  it('ends the child with a ChildFailedError carrying what failed inside, which the orchestration turns into an outcome', async () => {
    const office = boxOffice(4);
    const env = await start(createTicketBookingApp(office, quiet));
    const id = await env.client.start('ticketBooking', booking(6));
    expect(await env.client.waitForCompletion(id)).toMatchObject({
      status: 'Completed',
      output: { status: 'not reserved', reason: "Activity 'holdSeats' failed after 1 attempt: NonRetryableError: sold out: 4 seats left" },
    });
    expect(shape(await env.client.getHistory(id))).toEqual(['ExecutionStarted', 'ChildStarted reserve', 'ActivityScheduled holdSeats #1 @1', 'ActivityFailed', 'ChildFailed', 'ExecutionCompleted']);
    expect(office.calls).toEqual({ hold: 1, price: 0, charge: 0 });
  });
});

describe('polling with waitForCondition (examples/migration/wait-for-condition.ts)', () => {
  /** An export that is done at check `doneAt`; the status API fails at the checks listed in `outages`. */
  function warehouse(doneAt: number, outages: number[] = [], finalStatus: ExportStatus = 'done') {
    let calls = 0;
    return {
      start: async (month: string) => `export-${month}`,
      status: async (): Promise<ExportStatus> => {
        calls++;
        if (outages.includes(calls)) throw new Error('503 from the status API');
        return calls >= doneAt ? finalStatus : 'running';
      },
    };
  }
  const checkSteps = (history: HistoryEvent[]) => history.flatMap((event) => (event.type === 'ActivityScheduled' && event.name.startsWith('export #') ? [`${event.name} (attempt ${event.attempt})`] : []));

  it('checks, waits with a doubling delay, checks again until the export is done; a failed check is retried', async () => {
    const env = await start(createMonthlyReportApp(warehouse(5, [2]), quiet));
    const id = await env.client.start('monthlyReport', '2026-05');
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: { jobId: 'export-2026-05', status: 'done', checks: 4 } });
    const history = await env.client.getHistory(id);
    expect(checkSteps(history)).toEqual(['export #1 (attempt 1)', 'export #2 (attempt 1)', 'export #2 (attempt 2)', 'export #3 (attempt 1)', 'export #4 (attempt 1)']);
    // Between checks 10 s, 20 s, 40 s; the 5 s is the retry of the failed check.
    expect(timerDelays(history)).toEqual([10_000, 5_000, 20_000, 40_000]);
  });

  it('gives up with a TimeoutError after the last check the strategy allows', async () => {
    const env = await start(createMonthlyReportApp(warehouse(Number.POSITIVE_INFINITY), quiet));
    const id = await env.client.start('monthlyReport', '2026-06');
    expect(await env.client.waitForCompletion(id)).toMatchObject({
      status: 'Failed',
      error: { name: 'TimeoutError', message: `Export export-2026-06 was still running after ${MAX_CHECKS} checks.` },
    });
    expect(checkSteps(await env.client.getHistory(id))).toHaveLength(MAX_CHECKS);
  });

  it('fails the report when the export itself failed', async () => {
    const env = await start(createMonthlyReportApp(warehouse(2, [], 'failed'), quiet));
    const id = await env.client.start('monthlyReport', '2026-07');
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Failed', error: { message: 'Export export-2026-07 for 2026-07 failed.' } });
  });
});

describe('a step with a retry strategy function (examples/migration/step-with-retry-strategy.ts)', () => {
  const throttled = (retryAfterSeconds?: number) =>
    Object.assign(new Error('too many requests'), { name: 'RateLimited', ...(retryAfterSeconds !== undefined ? { details: { retryAfterSeconds } } : {}) });
  /** Rejects with each error in turn, then answers 0.9. */
  function ratesApi(errors: Error[]) {
    let calls = 0;
    return {
      calls: () => calls,
      toEur: async () => {
        const error = errors[calls++];
        if (error) throw error;
        return 0.9;
      },
    };
  }
  const invoice = { id: 'inv-1', amount: 100, currency: 'USD' };
  const attempts = (history: HistoryEvent[]) => history.flatMap((event) => (event.type === 'ActivityScheduled' ? [{ attempt: event.attempt, key: event.idempotencyKey }] : []));

  it('retries throttled calls after the delay the API asked for, else 2^attempt seconds, and converts the invoice', async () => {
    const rates = ratesApi([throttled(7), throttled()]);
    const env = await start(createInvoiceConversionApp(rates, quiet));
    const id = await env.client.start('convertInvoice', invoice);
    expect((await env.client.waitForCompletion(id)).output).toEqual({ id: 'inv-1', amount: 90, currency: 'EUR', rate: 0.9 });
    const history = await env.client.getHistory(id);
    expect(shape(history)).toEqual([
      'ExecutionStarted',
      'ActivityScheduled fetch rate #1',
      'ActivityFailed',
      'TimerCreated',
      'TimerFired',
      'ActivityScheduled fetch rate #2',
      'ActivityFailed',
      'TimerCreated',
      'TimerFired',
      'ActivityScheduled fetch rate #3',
      'ActivityCompleted',
      'ExecutionCompleted',
    ]);
    expect(timerDelays(history)).toEqual([7_000, 4_000]);
    // One step: every attempt carries the same idempotency key.
    expect(new Set(attempts(history).map((attempt) => attempt.key)).size).toBe(1);
  });

  it('stops at 5 attempts of throttling, and fails at once on an error the strategy does not retry', async () => {
    const env = await start(createInvoiceConversionApp(ratesApi(Array.from({ length: 9 }, () => throttled())), quiet));
    const throttledId = await env.client.start('convertInvoice', invoice);
    expect(await env.client.waitForCompletion(throttledId)).toMatchObject({
      status: 'Failed',
      error: { name: 'StepFailedError', message: "Step 'fetch rate' failed after 5 attempts: RateLimited: too many requests" },
    });
    expect(timerDelays(await env.client.getHistory(throttledId))).toEqual([2_000, 4_000, 8_000, 16_000]);

    const unknown = Object.assign(new Error('no rate for XXX'), { name: 'UnknownCurrency' });
    const other = await start(createInvoiceConversionApp(ratesApi([unknown]), quiet));
    const unknownId = await other.client.start('convertInvoice', { ...invoice, currency: 'XXX' });
    expect(await other.client.waitForCompletion(unknownId)).toMatchObject({ status: 'Failed', error: { name: 'StepFailedError', message: "Step 'fetch rate' failed after 1 attempt: UnknownCurrency: no rate for XXX" } });
  });
});

describe('the migration examples', () => {
  it('pass the perdure lint rules', async () => {
    const folder = new URL('../examples/migration/', import.meta.url);
    const files = (await readdir(folder)).filter((file) => file.endsWith('.ts'));
    expect(files).toHaveLength(5);
    const linter = new Linter({ configType: 'flat' });
    const config = [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser }, ...plugin.configs.recommended }];
    for (const file of files) {
      expect({ file, messages: linter.verify(await readFile(new URL(file, folder), 'utf8'), config, file) }).toEqual({ file, messages: [] });
    }
  });
});
