import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  TimeoutError,
  type ActivityOptions,
  type App,
  type BatchResult,
  type InstanceStatus,
  type OrchestrationContext,
  type TestEnvironment,
  type TestEnvironmentOptions,
} from '../../lib/index.js';
import { waitUntil } from '../support.js';
import { attempts, calls, newApp, pendingToken, run, sleep, startEnv, timerDelays, types } from './support.js';

// Community and vendor samples of durable workflows, ported to Perdure and checked against the outcome each
// sample documents (or its own test expects). Sources, in order:
//   1. github.com/aws-samples/sample-lambda-durable-functions (AWS's sample apps for Lambda durable functions)
//   2. github.com/lukehedger/lambda-durable-functions-examples
//   3. github.com/temporalio/samples-typescript (workflow logic only)
// External services (Bedrock, AgentCore, HTTP APIs, mail) are small in-test fakes. Where Perdure differs from
// the original, a comment says what the original expects; gaps are `it.fails` / `it.skip` with the reason.

/** Reads the status once nothing runs (no time skipping). */
async function statusWhenIdle(env: TestEnvironment, id: string): Promise<InstanceStatus> {
  await env.idle();
  return env.client.getStatus(id);
}

// =======================================================================================================
// 1. aws-samples/sample-lambda-durable-functions
// =======================================================================================================

describe('aws-samples/sample-lambda-durable-functions', () => {
  // --- Industry Solutions/Financial Services (FSI)/FraudDetection/FraudDetection-Lambda/src/index.ts ---
  interface Transaction {
    id: number;
    amount: number;
    location: string;
    vendor: string;
    score?: number;
  }
  interface TransactionResult {
    statusCode: number;
    body: { transaction_id: number; amount: number; fraud_score?: number; result?: string; customerVerificationResult?: string };
  }

  /** The fraud-detection function as a Perdure app; `agent` stands in for the Bedrock AgentCore runtime. */
  function fraudDetection(agent: (payload: { input: { amount: number } }) => Promise<{ output?: { risk_score?: number } }>) {
    const app = newApp();
    const notifications: { callbackId: string; channel: string; txId: number }[] = [];
    const decided = (tx: Required<Transaction>, result: string, customer?: string): TransactionResult => ({
      statusCode: 200,
      body: { transaction_id: tx.id, amount: tx.amount, fraud_score: tx.score, result, ...(customer ? { customerVerificationResult: customer } : {}) },
    });
    app.orchestration('fraud-detection', async (ctx, event: Transaction) => {
      const tx: Required<Transaction> = { ...event, score: event.score ?? 0 };
      tx.score = await ctx.step('fraudCheck', async (actx) => {
        if (tx.score !== 0) return tx.score;
        try {
          const response = await agent({ input: { amount: tx.amount } });
          return response?.output?.risk_score ?? 5;
        } catch (error) {
          actx.log.error('Fraud check failed', { error: String(error), txId: tx.id });
          return 5; // high risk when the agent is unavailable
        }
      });
      ctx.log.info('Transaction Score', { score: tx.score, txId: tx.id });

      if (tx.score < 3) return ctx.step(`authorize-${tx.id}`, async () => decided(tx, 'authorized'));
      if (tx.score >= 5) return ctx.step(`sendToFraudDepartment-${tx.id}`, async () => decided(tx, 'SentToFraudDept'));

      await ctx.step(`suspend-${tx.id}`, async () => true);
      let verified: BatchResult<unknown>;
      try {
        // AWS: context.parallel('human-verification', [...], { maxConcurrency: 2, completionConfig: { minSuccessful: 1 } });
        // Perdure's parallel takes no name: the branches carry names instead.
        verified = await ctx.parallel(
          [
            { name: 'email', fn: (branch) => branch.waitForCallback('SendVerificationEmail', (callbackId) => void notifications.push({ callbackId, channel: 'email', txId: tx.id }), { timeout: { days: 1 } }) },
            { name: 'sms', fn: (branch) => branch.waitForCallback('SendVerificationSMS', (callbackId) => void notifications.push({ callbackId, channel: 'sms', txId: tx.id }), { timeout: { days: 1 } }) },
          ],
          { concurrency: 2, completion: { minSuccessful: 1 } },
        );
      } catch (error) {
        ctx.log.warn('Customer verification failed', { error: String(error) });
        return ctx.step(`timeout-escalate-${tx.id}`, async () => decided(tx, 'SentToFraudDept', 'TransactionDeclined'));
      }
      // AWS: !verified.hasFailure && verified.successCount > 0
      return ctx.step(`finalize-${tx.id}`, async () =>
        verified.failureCount === 0 && verified.successCount > 0 ? decided(tx, 'authorized', 'TransactionApproved') : decided(tx, 'SentToFraudDept', 'TransactionDeclined'),
      );
    });
    return { app, notifications };
  }
  const noAgent = () => Promise.reject(new Error('AGENT_RUNTIME_ARN environment variable is not set'));

  it('FraudDetection: low risk (score 1 and 2) is authorized at once (fraudCheck, authorize-<id>)', async () => {
    const { app } = fraudDetection(noAgent);
    const one = await run(app, 'fraud-detection', { id: 1001, amount: 500, location: 'New York, NY', vendor: 'Amazon.com', score: 1 });
    expect(one.status.status).toBe('Completed');
    expect(one.status.output).toEqual({ statusCode: 200, body: { transaction_id: 1001, amount: 500, fraud_score: 1, result: 'authorized' } });
    expect(calls(one.history)).toEqual(['fraudCheck', 'authorize-1001']);
    const two = await run(app, 'fraud-detection', { id: 1002, amount: 250, location: 'Chicago, IL', vendor: 'Target', score: 2 });
    expect(two.status.output).toMatchObject({ statusCode: 200, body: { result: 'authorized' } });
  });

  it('FraudDetection: high risk (score 5) goes to the fraud department', async () => {
    const { app } = fraudDetection(noAgent);
    const { status, history } = await run(app, 'fraud-detection', { id: 2001, amount: 10000, location: 'Unknown', vendor: 'Suspicious Store', score: 5 });
    expect(status.output).toEqual({ statusCode: 200, body: { transaction_id: 2001, amount: 10000, fraud_score: 5, result: 'SentToFraudDept' } });
    expect(calls(history)).toEqual(['fraudCheck', 'sendToFraudDepartment-2001']);
  });

  it('FraudDetection: unscored transactions ask the agent; an unavailable agent means high risk', async () => {
    const scored = fraudDetection(async ({ input }) => ({ output: { risk_score: input.amount > 1000 ? 4 : 1 } }));
    expect((await run(scored.app, 'fraud-detection', { id: 4001, amount: 20, location: 'Paris', vendor: 'Cafe' })).status.output).toMatchObject({ body: { fraud_score: 1, result: 'authorized' } });
    const down = fraudDetection(noAgent);
    expect((await run(down.app, 'fraud-detection', { id: 4002, amount: 20, location: 'Paris', vendor: 'Cafe' })).status.output).toMatchObject({ body: { fraud_score: 5, result: 'SentToFraudDept' } });
  });

  it('FraudDetection: medium risk (3, 4) suspends, waits for email or SMS; the first approval authorizes', async () => {
    for (const [score, callbackName, id] of [
      [3, 'SendVerificationEmail', 3001],
      [4, 'SendVerificationSMS', 3002],
    ] as const) {
      const { app, notifications } = fraudDetection(noAgent);
      const env = await startEnv(app);
      const instanceId = await env.client.start('fraud-detection', { id, amount: 6500, location: 'Los Angeles, CA', vendor: 'Electronics Store', score });
      const token = await pendingToken(env, instanceId, callbackName);
      expect(notifications.map((n) => n.channel).sort()).toEqual(['email', 'sms']); // both channels were notified with their own token
      await env.client.completeCallback(token, { approved: true, channel: callbackName === 'SendVerificationEmail' ? 'email' : 'sms' });
      const status = await env.client.waitForCompletion(instanceId);
      expect(status.status).toBe('Completed');
      expect(status.output).toEqual({ statusCode: 200, body: { transaction_id: id, amount: 6500, fraud_score: score, result: 'authorized', customerVerificationResult: 'TransactionApproved' } });
      expect(calls(await env.client.getHistory(instanceId))).toEqual(['fraudCheck', `suspend-${id}`, 'SendVerificationEmail submitter', 'SendVerificationSMS submitter', `finalize-${id}`]);
    }
  });

  it('FraudDetection: no answer on either channel within a day escalates to the fraud department', async () => {
    const { app } = fraudDetection(noAgent);
    const { status, history } = await run(app, 'fraud-detection', { id: 3003, amount: 7000, location: 'San Francisco, CA', vendor: 'Tech Store', score: 3 });
    // The sample escalates through either its catch (`timeout-escalate-<id>`, if parallel throws) or `finalize-<id>`
    // (if parallel returns failures). Perdure's parallel with only minSuccessful tolerates every failure and returns.
    expect(status.output).toMatchObject({ body: { result: 'SentToFraudDept', customerVerificationResult: 'TransactionDeclined' } });
    expect(calls(history).at(-1)).toBe('finalize-3003');
  });

  it('FraudDetection, naming the parallel through ctx.child as AWS names it: the BatchResult the child returns, live and after a replay', async () => {
    // AWS names the batch: context.parallel('human-verification', ...). A natural Perdure port wraps the parallel in
    // ctx.child('human-verification', ...) to keep the name. The child's result is recorded as JSON; a BatchResult
    // gets its methods back (succeeded(), results(), throwIfError()), live and on replay.
    const app = newApp();
    app.orchestration('named-parallel', async (ctx) => {
      const verified = await ctx.child('human-verification', (child) =>
        child.parallel(
          [
            { name: 'email', fn: (branch) => branch.step('email', async () => ({ approved: true })) },
            { name: 'sms', fn: (branch) => branch.step('sms', async () => ({ approved: true })) },
          ],
          { completion: { minSuccessful: 1 } },
        ),
      );
      await ctx.sleep('1s');
      return { successCount: verified.successCount, succeeded: verified.succeeded().length, results: verified.results() };
    });
    for (const executorCacheSize of [500, 0]) {
      const { status } = await run(app, 'named-parallel', undefined, { executorCacheSize });
      expect(status.output).toEqual({ successCount: 1, succeeded: 1, results: [{ approved: true }] });
    }
  });

  // --- Industry Solutions/Healthcare/PriorAuthorization/src/handlers/coordinator.ts ---
  interface PriorAuthRequest {
    patientId: string;
    providerId: string;
    payerId: string;
    procedureCode: string;
    diagnosisCode: string;
    clinicalNotes: string;
    requireHumanReview?: boolean;
  }
  interface ClinicalFacts {
    diagnosis: string;
    procedure: string;
    supportingEvidence: string[];
    missingFields: string[];
    requiresEligibilityCheck: boolean;
    requiresPolicyLookup: boolean;
    requiresMedicalNecessity: boolean;
  }
  interface Synthesis {
    recommendation: string;
    confidence: number;
    rationale: string;
    eligible: boolean;
  }
  interface AgentJob {
    agent: string;
    payload: Record<string, unknown> & { callbackId: string; task: string };
  }

  /**
   * The prior-authorization coordinator. `invokeAgent` stands in for AgentCore: like the sample's agents it
   * accepts the task and answers later through the callback id (the test answers the queued jobs).
   */
  function priorAuthorization() {
    const app = newApp();
    const jobs: AgentJob[] = [];
    const sideEffects: string[] = [];
    const invokeAgent = async (agent: string, payload: AgentJob['payload']) => {
      jobs.push({ agent, payload });
      return JSON.stringify({ status: 'accepted', callbackId: payload.callbackId });
    };
    app.orchestration('prior-authorization', async (ctx, event: PriorAuthRequest) => {
      const facts = await ctx.waitForCallback<ClinicalFacts>(
        'extract-clinical-facts',
        async (callbackId) => {
          await invokeAgent('document', { task: 'extract_and_plan', clinicalNotes: event.clinicalNotes, procedureCode: event.procedureCode, diagnosisCode: event.diagnosisCode, patientId: event.patientId, payerId: event.payerId, callbackId });
        },
        { timeout: { minutes: 5 } },
      );
      let finalFacts = facts;
      if (facts.missingFields.length > 0) {
        const uploaded = await ctx.waitForCallback<{ additionalNotes: string }>(
          'wait-for-provider-docs',
          async () => void sideEffects.push(`notify ${event.providerId} missing ${facts.missingFields.join(',')}`),
          { timeout: { hours: 72 } },
        );
        finalFacts = await ctx.waitForCallback<ClinicalFacts>(
          're-extract-clinical-facts',
          async (callbackId) => {
            await invokeAgent('document', { task: 'extract_and_plan', clinicalNotes: `${event.clinicalNotes}\n${uploaded.additionalNotes}`, procedureCode: event.procedureCode, diagnosisCode: event.diagnosisCode, patientId: event.patientId, payerId: event.payerId, callbackId });
          },
          { timeout: { minutes: 5 } },
        );
      }

      const specialists: { name: string; agent: string; prompt: Record<string, unknown> }[] = [];
      if (finalFacts.requiresEligibilityCheck) specialists.push({ name: 'eligibility', agent: 'eligibility', prompt: { task: 'check_eligibility', patientId: event.patientId } });
      if (finalFacts.requiresPolicyLookup) specialists.push({ name: 'policy', agent: 'policy', prompt: { task: 'lookup_policy', payerId: event.payerId } });
      if (finalFacts.requiresMedicalNecessity) specialists.push({ name: 'medical-necessity', agent: 'medical-necessity', prompt: { task: 'assess_necessity', clinicalFacts: finalFacts } });

      // AWS: context.map('specialist-agents', specialists, (mapCtx, s) => mapCtx.waitForCallback(...), { maxConcurrency: 3, itemNamer })
      // and reads `.all` with SUCCEEDED/FAILED items. Perdure: a completion policy (here none: tolerate all) returns a BatchResult.
      const specialistResults = await ctx.map(
        specialists,
        async (specialist) => {
          const response = await ctx.waitForCallback<unknown>(
            `invoke-${specialist.name}`,
            async (callbackId) => {
              await invokeAgent(specialist.agent, { ...specialist.prompt, task: String(specialist.prompt.task), callbackId });
            },
            { timeout: { minutes: 5 } },
          );
          const parsed: unknown = typeof response === 'string' ? JSON.parse(response) : response;
          return { name: specialist.name, result: parsed };
        },
        { concurrency: 3, completion: {} },
      );
      const findings: Record<string, unknown> = {};
      const failures: Record<string, string> = {};
      for (const item of specialistResults.items) {
        if (item.status === 'succeeded' && item.result) findings[item.result.name] = item.result.result;
        else failures[specialists[item.index]!.name] = item.error?.message ?? 'Unknown error';
      }

      const synthesis = await ctx.waitForCallback<Synthesis>(
        'synthesize-findings',
        async (callbackId) => {
          await invokeAgent('synthesis', { task: 'synthesize_pa_decision', clinicalFacts: finalFacts, findings, failures, callbackId });
        },
        { timeout: { minutes: 5 } },
      );
      const specialistsInvoked = specialists.map((s) => s.name);
      if (!synthesis.eligible) return { status: 'denied', referenceId: '', rationale: synthesis.rationale, specialistsInvoked, findings: { ...findings, synthesis, failures } };

      if (event.requireHumanReview || synthesis.confidence < 0.8 || Object.keys(failures).length > 0) {
        const review = await ctx.waitForCallback<{ approved: boolean; referenceId?: string; rationale?: string }>(
          'wait-for-human-review',
          async () => void sideEffects.push('route to reviewer'),
          { timeout: { hours: 48 } },
        );
        if (!review.approved) {
          return { status: 'denied', referenceId: review.referenceId ?? '', rationale: review.rationale ?? 'Denied by clinical reviewer', specialistsInvoked, findings: { ...findings, synthesis, failures } };
        }
      }

      // AWS: retryStrategy createRetryStrategy({ maxAttempts: 3, initialDelay: 2s, maxDelay: 30s, backoffRate: 2, jitter: FULL }),
      // semantics AtMostOncePerRetry. Perdure: no jitter, no at-most-once (idempotency key instead).
      const submission = await ctx.step('submit-prior-auth', async (actx) => ({ trackingId: `PA-${event.patientId}-${actx.idempotencyKey.slice(-6)}` }), {
        retry: { maxAttempts: 3, initialInterval: '2s', maxInterval: '30s', backoffCoefficient: 2 },
      });
      const payerDecision = await ctx.waitForCallback<{ approved: boolean; rationale: string }>(
        'wait-for-payer-decision',
        async () => void sideEffects.push(`register webhook ${submission.trackingId}`),
        { timeout: { days: 14 } },
      );
      await ctx.step('notify-provider', async () => void sideEffects.push(`notify ${event.providerId} ${payerDecision.approved ? 'approved' : 'denied'}`));
      return { status: payerDecision.approved ? 'approved' : 'denied', referenceId: submission.trackingId, rationale: payerDecision.rationale, specialistsInvoked, findings: { ...findings, synthesis, failures } };
    });
    return { app, jobs, sideEffects };
  }

  const baseRequest: PriorAuthRequest = {
    patientId: 'PT-001',
    providerId: 'DR-100',
    payerId: 'PAYER-BCBS',
    procedureCode: '27447',
    diagnosisCode: 'M17.11',
    clinicalNotes: 'Patient presents with severe osteoarthritis of right knee...',
  };
  const completeFacts: ClinicalFacts = { diagnosis: 'M17.11', procedure: '27447', supportingEvidence: ['x-ray'], missingFields: [], requiresEligibilityCheck: true, requiresPolicyLookup: true, requiresMedicalNecessity: true };

  /** Answers the agents' queued jobs as AgentCore's agents would (through the callback), until none is left. */
  async function answerAgents(env: TestEnvironment, jobs: AgentJob[], answer: (job: AgentJob) => { result: unknown } | { error: string }) {
    for (let round = 0; round < 20; round++) {
      await env.idle();
      if (jobs.length === 0) return;
      for (const job of jobs.splice(0)) {
        const outcome = answer(job);
        if ('error' in outcome) await env.client.failCallback(job.payload.callbackId, { name: 'AgentError', message: outcome.error });
        else await env.client.completeCallback(job.payload.callbackId, outcome.result);
      }
    }
  }
  const agentsSay =
    (facts: ClinicalFacts[], synthesis: Synthesis, failing: string[] = []) =>
    (job: AgentJob): { result: unknown } | { error: string } => {
      if (job.agent === 'document') return { result: facts.shift() ?? completeFacts };
      if (job.agent === 'synthesis') return { result: synthesis };
      if (failing.includes(job.agent)) return { error: `${job.agent} agent crashed` };
      return { result: JSON.stringify({ agent: job.agent, ok: true }) }; // a string, as the sample parses
    };

  it('PriorAuthorization: without missing docs or review, the payer decision completes the request as approved', async () => {
    const { app, jobs, sideEffects } = priorAuthorization();
    const env = await startEnv(app);
    const id = await env.client.start('prior-authorization', baseRequest);
    await answerAgents(env, jobs, agentsSay([completeFacts], { recommendation: 'approve', confidence: 0.93, rationale: 'criteria met', eligible: true }));
    await env.client.completeCallback(await pendingToken(env, id, 'wait-for-payer-decision'), { approved: true, rationale: 'Meets medical necessity criteria' });
    const status = await env.client.waitForCompletion(id);
    expect(status.status).toBe('Completed');
    expect(status.output).toMatchObject({ status: 'approved', rationale: 'Meets medical necessity criteria', specialistsInvoked: ['eligibility', 'policy', 'medical-necessity'] });
    expect((status.output as { findings: Record<string, unknown> }).findings).toMatchObject({ eligibility: { agent: 'eligibility', ok: true }, failures: {} });
    expect(sideEffects).toEqual([expect.stringMatching(/^register webhook PA-PT-001-/), 'notify DR-100 approved']);
    const names = calls(await env.client.getHistory(id));
    expect(names).toContain('extract-clinical-facts submitter');
    expect(names.at(-1)).toBe('notify-provider');
  });

  it('PriorAuthorization: missing documentation waits for the provider, re-extracts, then goes on', async () => {
    const { app, jobs, sideEffects } = priorAuthorization();
    const env = await startEnv(app);
    const id = await env.client.start('prior-authorization', baseRequest);
    const synthesis = { recommendation: 'approve', confidence: 0.9, rationale: 'ok', eligible: true };
    const say = agentsSay([{ ...completeFacts, missingFields: ['imaging'] }, { ...completeFacts, requiresPolicyLookup: false }], synthesis);
    await answerAgents(env, jobs, say);
    expect(sideEffects).toEqual(['notify DR-100 missing imaging']);
    await env.client.completeCallback(await pendingToken(env, id, 'wait-for-provider-docs'), { additionalNotes: 'MRI attached' });
    await answerAgents(env, jobs, say);
    await env.client.completeCallback(await pendingToken(env, id, 'wait-for-payer-decision'), { approved: false, rationale: 'Not covered' });
    const status = await env.client.waitForCompletion(id);
    expect(status.output).toMatchObject({ status: 'denied', rationale: 'Not covered', specialistsInvoked: ['eligibility', 'medical-necessity'] });
  });

  it('PriorAuthorization: a failed specialist is kept as a gap and routes the request to a human reviewer', async () => {
    const { app, jobs } = priorAuthorization();
    const env = await startEnv(app);
    const id = await env.client.start('prior-authorization', baseRequest);
    await answerAgents(env, jobs, agentsSay([completeFacts], { recommendation: 'approve', confidence: 0.95, rationale: 'ok', eligible: true }, ['policy']));
    await env.client.completeCallback(await pendingToken(env, id, 'wait-for-human-review'), { approved: false, referenceId: 'REV-001', rationale: 'Policy unknown' });
    const status = await env.client.waitForCompletion(id);
    expect(status.output).toMatchObject({ status: 'denied', referenceId: 'REV-001', rationale: 'Policy unknown' });
    const failures = (status.output as { findings: { failures: Record<string, string> } }).findings.failures;
    expect(Object.keys(failures)).toEqual(['policy']);
    expect(failures.policy).toContain('policy agent crashed');
  });

  it('PriorAuthorization: requireHumanReview routes to a reviewer, then the payer approves', async () => {
    const { app, jobs } = priorAuthorization();
    const env = await startEnv(app);
    const id = await env.client.start('prior-authorization', { ...baseRequest, requireHumanReview: true });
    await answerAgents(env, jobs, agentsSay([completeFacts], { recommendation: 'approve', confidence: 0.99, rationale: 'ok', eligible: true }));
    await env.client.completeCallback(await pendingToken(env, id, 'wait-for-human-review'), { approved: true, referenceId: 'REV-001', rationale: 'Approved after clinical review' });
    await env.client.completeCallback(await pendingToken(env, id, 'wait-for-payer-decision'), { approved: true, rationale: 'Authorized' });
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: { status: 'approved', rationale: 'Authorized' } });
  });

  it('PriorAuthorization: synthesis finds the patient ineligible: denied without review or payer', async () => {
    const { app, jobs } = priorAuthorization();
    const env = await startEnv(app);
    const id = await env.client.start('prior-authorization', baseRequest);
    await answerAgents(env, jobs, agentsSay([completeFacts], { recommendation: 'deny', confidence: 0.9, rationale: 'not covered', eligible: false }));
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: { status: 'denied', referenceId: '', rationale: 'not covered' } });
  });

  // --- Industry Solutions/Retail/OrderProcessing/lib/lambda/{order-processor,payment-processor}.ts ---
  interface Order {
    orderId: string;
    customerId: string;
    amount: number;
  }
  interface PaymentResult {
    paymentApproved: boolean;
    orderId: string;
    customerId: string;
    amount: number;
    timestamp: string;
    reason?: string;
  }
  interface CompensationAction {
    action: string;
    success: boolean;
    timestamp: string;
    error?: string;
  }
  /** The sample's retry strategy (config.ts): up to 10 attempts, 1 s doubling. */
  const orderRetry = (_error: Error, attemptCount: number) => (attemptCount >= 10 ? { shouldRetry: false } : { shouldRetry: true, delay: { seconds: 2 ** (attemptCount - 1) } });

  function buildPaymentResult(order: Order, approved: boolean, reason?: string): PaymentResult {
    return { paymentApproved: approved, orderId: order.orderId, customerId: order.customerId, amount: order.amount, timestamp: new Date().toISOString(), ...(approved ? {} : { reason: reason || 'Payment rejected by approver' }) };
  }

  /** The payment processor: waits for a person's approval (a JSON string, as the AWS callback API delivers it). */
  function registerPaymentProcessor(app: App) {
    app.orchestration('payment-processor', async (ctx, event: Order): Promise<PaymentResult> => {
      try {
        const callbackResult = await ctx.waitForCallback<string>('wait-for-payment-approval', (callbackId, actx) => actx.log.info('Waiting for payment approval callback', { callbackId }), { timeout: { minutes: 5 } });
        let parsed: { approved?: boolean; reason?: string };
        try {
          parsed = JSON.parse(callbackResult) as { approved?: boolean; reason?: string };
        } catch {
          return buildPaymentResult(event, false, 'Invalid callback JSON format');
        }
        return buildPaymentResult(event, parsed?.approved ?? false, parsed?.reason);
      } catch {
        return buildPaymentResult(event, false, 'Payment approval timeout after 5 minutes');
      }
    });
  }

  /** The order processor; `validate` and `isCancelled` are the mocked validation module, `payment` the invoked function. */
  function orderProcessing(options: {
    validate: (order: Order, attempt: number) => { isValid: boolean; message: string; timestamp: string };
    isCancelled?: boolean;
    payment?: 'callback' | ((order: Order) => PaymentResult);
  }) {
    const app = newApp();
    const inventory: string[] = [];
    if (options.payment === undefined || options.payment === 'callback') registerPaymentProcessor(app);
    else {
      const pay = options.payment;
      app.orchestration('payment-processor', async (_ctx, order: Order) => pay(order));
    }
    app.orchestration('order-processor', async (ctx, event: Order) => {
      const orderReceived = await ctx.step('capture-order-time', async () => new Date().toISOString());
      let validation: { isValid: boolean; message: string; timestamp: string };
      try {
        validation = await ctx.step('validate-order', async (actx) => options.validate(event, actx.attempt), { retry: orderRetry });
      } catch (error) {
        return { status: 'PROCESSING_FAILED', orderId: event.orderId || 'unknown', message: `Order processing failed during validation: ${error instanceof Error ? error.message : String(error)}`, processingTime: { orderReceived, orderCompleted: new Date().toISOString() } };
      }
      if (!validation.isValid) {
        return { status: 'VALIDATION_FAILED', orderId: event.orderId || 'unknown', message: `Order validation failed: ${validation.message}`, validationResult: validation.message, processingTime: { orderReceived, validationCompleted: validation.timestamp, orderCompleted: new Date().toISOString() } };
      }
      await ctx.sleep('processing-delay', { seconds: 10 });
      const cancellation = await ctx.step('check-cancellation', async () => ({ isCancelled: options.isCancelled ?? false, timestamp: new Date().toISOString() }), { retry: orderRetry });
      if (cancellation.isCancelled) {
        return { status: 'CANCELLED', orderId: event.orderId, message: 'Order was cancelled by user before payment processing', validationResult: validation.message, processingTime: { orderReceived, validationCompleted: validation.timestamp, cancellationChecked: cancellation.timestamp, orderCompleted: new Date().toISOString() } };
      }

      const compensations: { name: string; fn: () => Promise<void> }[] = [];
      try {
        const reservation = await ctx.step('reserve-inventory', async () => {
          const reservationId = `RSV-${event.orderId}-${Date.now()}`;
          inventory.push(`reserve ${reservationId}`);
          return { reservationId, orderId: event.orderId, amount: event.amount, timestamp: new Date().toISOString() };
        }, { retry: orderRetry });
        compensations.push({
          name: 'release-inventory',
          fn: async () => {
            await ctx.step('compensate-release-inventory', async () => void inventory.push(`release ${reservation.reservationId}`));
          },
        });
        // AWS: context.invoke('process-payment', PAYMENT_PROCESSOR.functionName, {...}): another durable function.
        const paymentResult = await ctx.callSubOrchestration<PaymentResult>('payment-processor', { orderId: event.orderId, customerId: event.customerId, amount: event.amount });
        if (!paymentResult.paymentApproved) throw Object.assign(new Error(`Payment rejected: ${paymentResult.reason || 'rejected'}`), { paymentResult });
        return {
          status: 'PAYMENT_COMPLETED',
          orderId: event.orderId,
          message: `Order completed successfully. Payment of ${event.amount} approved.`,
          validationResult: validation.message,
          paymentResult,
          reservationId: reservation.reservationId,
          processingTime: { orderReceived, validationCompleted: validation.timestamp, cancellationChecked: cancellation.timestamp, paymentCompleted: paymentResult.timestamp, orderCompleted: new Date().toISOString() },
        };
      } catch (error) {
        const compensationActions: CompensationAction[] = [];
        for (const compensation of compensations.reverse()) {
          const timestamp = new Date().toISOString();
          try {
            await compensation.fn();
            compensationActions.push({ action: compensation.name, success: true, timestamp });
          } catch (compensationError) {
            compensationActions.push({ action: compensation.name, success: false, timestamp, error: String(compensationError) });
          }
        }
        const message = error instanceof Error ? error.message : String(error);
        const paymentResult = (error as { paymentResult?: PaymentResult }).paymentResult;
        return {
          status: 'PAYMENT_FAILED',
          orderId: event.orderId,
          message: `${message}. ${compensationActions.every((c) => c.success) ? 'All compensations completed successfully' : 'One or more compensations failed'}.`,
          validationResult: validation.message,
          ...(paymentResult ? { paymentResult } : {}),
          compensationActions,
          processingTime: { orderReceived, validationCompleted: validation.timestamp, cancellationChecked: cancellation.timestamp, paymentCompleted: paymentResult?.timestamp, orderCompleted: new Date().toISOString() },
        };
      }
    });
    return { app, inventory };
  }
  const valid = () => ({ isValid: true, message: 'VALID', timestamp: '2025-01-01T00:00:00.000Z' });
  const validOrder: Order = { orderId: 'ORD-123', customerId: 'CUST-456', amount: 99.99 };
  const paid = (approved: boolean, reason?: string) => (order: Order): PaymentResult => ({ paymentApproved: approved, orderId: order.orderId, customerId: order.customerId, amount: order.amount, timestamp: '2025-01-01T00:00:15.000Z', ...(reason ? { reason } : {}) });

  it('OrderProcessing: approved payment completes the order and keeps the reservation (6 operations)', async () => {
    const { app, inventory } = orderProcessing({ validate: valid, payment: paid(true) });
    const { status, history } = await run(app, 'order-processor', validOrder);
    expect(status.status).toBe('Completed');
    const result = status.output as Record<string, unknown> & { paymentResult: PaymentResult; reservationId: string; processingTime: Record<string, string> };
    expect(result).toMatchObject({ status: 'PAYMENT_COMPLETED', orderId: 'ORD-123', paymentResult: { paymentApproved: true } });
    expect(result.message).toContain('Order completed successfully');
    expect(result.reservationId).toContain('RSV-ORD-123');
    expect(result.compensationActions).toBeUndefined();
    expect(Object.keys(result.processingTime).sort()).toEqual(['cancellationChecked', 'orderCompleted', 'orderReceived', 'paymentCompleted', 'validationCompleted']);
    // AWS's test counts 6 operations: 4 steps, a wait and a chained invoke.
    expect(history.filter((e) => ['ActivityScheduled', 'TimerCreated', 'SubOrchestrationScheduled'].includes(e.type))).toHaveLength(6);
    expect(timerDelays(history)).toEqual([10_000]);
    expect(inventory).toHaveLength(1);
  });

  it('OrderProcessing: a rejected payment or a failing payment function releases the inventory (saga)', async () => {
    const rejected = orderProcessing({ validate: valid, payment: paid(false, 'Insufficient funds') });
    const r = await run(rejected.app, 'order-processor', validOrder);
    expect(r.status.output).toMatchObject({ status: 'PAYMENT_FAILED', orderId: 'ORD-123', paymentResult: { paymentApproved: false, reason: 'Insufficient funds' }, compensationActions: [{ action: 'release-inventory', success: true }] });
    expect((r.status.output as { message: string }).message).toContain('Payment rejected');
    expect(r.history.filter((e) => ['ActivityScheduled', 'TimerCreated', 'SubOrchestrationScheduled'].includes(e.type))).toHaveLength(7);
    expect(rejected.inventory.map((line) => line.split(' ')[0])).toEqual(['reserve', 'release']);

    const failing = orderProcessing({
      validate: valid,
      payment: () => {
        throw new Error('Payment service unavailable');
      },
    });
    const f = await run(failing.app, 'order-processor', validOrder);
    expect(f.status.output).toMatchObject({ status: 'PAYMENT_FAILED', compensationActions: [{ action: 'release-inventory', success: true }] });
    expect((f.status.output as { paymentResult?: unknown }).paymentResult).toBeUndefined();
    expect((f.status.output as { message: string }).message).toContain('Payment service unavailable');
  });

  it('OrderProcessing: invalid orders and cancelled orders stop early', async () => {
    const invalid = orderProcessing({ validate: () => ({ isValid: false, message: 'INVALID: Missing orderId', timestamp: '2025-01-01T00:00:00.000Z' }) });
    const i = await run(invalid.app, 'order-processor', validOrder);
    expect(i.status.output).toMatchObject({ status: 'VALIDATION_FAILED', validationResult: 'INVALID: Missing orderId' });
    expect((i.status.output as { message: string }).message).toContain('Order validation failed');
    expect(calls(i.history)).toEqual(['capture-order-time', 'validate-order']);

    const cancelled = orderProcessing({ validate: valid, isCancelled: true });
    const c = await run(cancelled.app, 'order-processor', validOrder);
    expect(c.status.output).toMatchObject({ status: 'CANCELLED' });
    expect((c.status.output as { message: string }).message).toContain('cancelled by user');
    expect(calls(c.history)).toEqual(['capture-order-time', 'validate-order', 'check-cancellation']);
  });

  it('OrderProcessing: the flaky Bedrock validation is retried (1 s, 2 s, ...); 10 failures end as PROCESSING_FAILED', async () => {
    const flaky = orderProcessing({ validate: (_order, attempt) => (attempt < 3 ? (() => { throw new Error('Simulated transient failure for retry demonstration'); })() : valid()), payment: paid(true) });
    const f = await run(flaky.app, 'order-processor', validOrder);
    expect(f.status.output).toMatchObject({ status: 'PAYMENT_COMPLETED' });
    expect(attempts(f.history).filter((a) => a.startsWith('validate-order'))).toEqual(['validate-order #1', 'validate-order #2', 'validate-order #3']);
    expect(timerDelays(f.history)).toEqual([1_000, 2_000, 10_000]);

    const down = orderProcessing({ validate: () => { throw new Error('Bedrock unavailable'); } });
    const d = await run(down.app, 'order-processor', validOrder);
    expect(d.status.output).toMatchObject({ status: 'PROCESSING_FAILED' });
    expect((d.status.output as { message: string }).message).toContain('Bedrock unavailable');
    expect(attempts(d.history)).toHaveLength(1 + 10);
  });

  it('OrderProcessing: the payment processor reads the approver\'s JSON string: approved, rejected, invalid, empty, timeout', async () => {
    const cases: [unknown, Partial<PaymentResult>][] = [
      [JSON.stringify({ approved: true }), { paymentApproved: true, orderId: 'ORD-123', customerId: 'CUST-456', amount: 99.99 }],
      [JSON.stringify({ approved: false, reason: 'Insufficient funds' }), { paymentApproved: false, reason: 'Insufficient funds' }],
      ['not valid json', { paymentApproved: false, reason: 'Invalid callback JSON format' }],
      [JSON.stringify({}), { paymentApproved: false }],
    ];
    for (const [sent, expected] of cases) {
      const app = newApp();
      registerPaymentProcessor(app);
      const env = await startEnv(app);
      const id = await env.client.start('payment-processor', validOrder);
      await env.client.completeCallback(await pendingToken(env, id, 'wait-for-payment-approval'), sent);
      const { output } = await env.client.waitForCompletion(id);
      expect(output).toMatchObject(expected);
      if ((expected as PaymentResult).paymentApproved) expect((output as PaymentResult).reason).toBeUndefined();
    }
    const app = newApp();
    registerPaymentProcessor(app);
    const timedOut = await run(app, 'payment-processor', validOrder);
    expect(timedOut.status.output).toMatchObject({ paymentApproved: false, reason: 'Payment approval timeout after 5 minutes' });
  });

  it('OrderProcessing: end to end, the order waits in its payment child for a person\'s approval', async () => {
    const { app } = orderProcessing({ validate: valid, payment: 'callback' });
    const env = await startEnv(app);
    const id = await env.client.start('order-processor', validOrder, { instanceId: 'order-ORD-123' });
    // The callback is the child's: find the child through the parent's history.
    let childId: string | undefined;
    for (let i = 0; i < 60 && !childId; i++) {
      await env.advanceTime('1s');
      childId = (await env.client.getHistory(id)).flatMap((e) => (e.type === 'SubOrchestrationScheduled' ? [e.instanceId] : []))[0];
    }
    expect(childId).toBeDefined();
    await env.client.completeCallback(await pendingToken(env, childId!, 'wait-for-payment-approval'), JSON.stringify({ approved: true }));
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: { status: 'PAYMENT_COMPLETED' } });
  });
});

// =======================================================================================================
// 2. lukehedger/lambda-durable-functions-examples
// =======================================================================================================

describe('lukehedger/lambda-durable-functions-examples', () => {
  /** AWS's retryPresets.default, as the migration guide writes it (without the jitter). */
  const defaultPreset = { maxAttempts: 6, initialInterval: '5s', maxInterval: '1m' } as const;
  /** An HTTP request to Perdure's API (in memory), as API Gateway or an outside system would send it. */
  const http = async (env: TestEnvironment, method: string, path: string, body?: unknown) => {
    const { HttpApi } = await import('../../lib/api/http-api.js');
    const api = new HttpApi({ client: env.client, callbackUrls: env.callbackUrls });
    const url = new URL(path, 'http://x');
    const response = await api.handle({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.statusCode, body: response.body ? (JSON.parse(response.body) as Record<string, unknown>) : undefined };
  };

  it('examples/api-gateway/function.ts: three steps; started over HTTP, its result read back', async () => {
    const app = newApp();
    const log: string[] = [];
    app.orchestration('apigateway', async (ctx) => {
      await ctx.step('reserve-inventory', async () => (log.push('Reserving inventory'), {}));
      await ctx.step('process-payment', async () => (log.push('Processing payment'), {}));
      await ctx.step('create-shipment', async () => (log.push('Creating shipment'), {}));
      return { statusCode: 200, body: JSON.stringify({ message: 'Order processed successfully' }) };
    });
    const env = await startEnv(app);
    // The sample's RestApi invokes the durable function synchronously and answers with its result. Perdure's
    // API answers 202 with a status URL: the caller reads the result once the instance completed.
    const started = await http(env, 'POST', '/orchestrations/apigateway?instanceId=req-1', {});
    expect(started).toMatchObject({ status: 202, body: { instanceId: 'req-1', statusUrl: '/instances/req-1' } });
    await env.client.waitForCompletion('req-1');
    const read = await http(env, 'GET', '/instances/req-1');
    expect(read).toMatchObject({ status: 200, body: { status: 'Completed', output: { statusCode: 200, body: '{"message":"Order processed successfully"}' } } });
    expect(log).toEqual(['Reserving inventory', 'Processing payment', 'Creating shipment']);
  });

  it('examples/basic-cdk/function.ts: a step, a 1 s wait, two steps', async () => {
    const app = newApp();
    app.orchestration('basic-cdk', async (ctx) => {
      await ctx.step('reserve-inventory', async () => ({}));
      await ctx.sleep({ seconds: 1 });
      await ctx.step('process-payment', async () => ({}));
      await ctx.step('create-shipment', async () => ({}));
      return { status: 200 };
    });
    const { status, history } = await run(app, 'basic-cdk');
    expect(status).toMatchObject({ status: 'Completed', output: { status: 200 } });
    expect(calls(history)).toEqual(['reserve-inventory', 'process-payment', 'create-shipment']);
    expect(timerDelays(history)).toEqual([1_000]);
  });

  it('examples/basic-error-handling/function.ts: steps with retryPresets.default; a step that keeps failing ends as { status: 500 } after 6 attempts', async () => {
    const build = (failing?: string) => {
      const app = newApp();
      app.orchestration('basic-error-handling', async (ctx) => {
        try {
          for (const name of ['reserve-inventory', 'process-payment', 'create-shipment']) {
            await ctx.step(name, async () => {
              if (name === failing) throw new Error(`${name} failed`);
              return {};
            }, { retry: defaultPreset });
          }
          return { status: 200 };
        } catch (error) {
          ctx.log.error(String(error));
          return { status: 500 };
        }
      });
      return app;
    };
    expect((await run(build(), 'basic-error-handling')).status.output).toEqual({ status: 200 });
    const failed = await run(build('process-payment'), 'basic-error-handling');
    expect(failed.status.output).toEqual({ status: 500 });
    expect(attempts(failed.history).filter((a) => a.startsWith('process-payment'))).toHaveLength(6);
    expect(timerDelays(failed.history)).toEqual([5_000, 10_000, 20_000, 40_000, 60_000]);
  });

  it('examples/callback/function-d.ts: the submitter calls an API whose function completes the callback before answering', async () => {
    const app = newApp();
    const deployed: { env?: TestEnvironment } = {};
    // function-a.ts: reads { callbackId } from the request body and sends the callback's success (no result).
    const functionA = async (request: { body: string }) => {
      const { callbackId } = JSON.parse(request.body) as { callbackId: string };
      const answered = await http(deployed.env!, 'POST', `/callbacks/${encodeURIComponent(callbackId)}/succeed`);
      if (answered.status !== 202) throw new Error(`callback not accepted: ${JSON.stringify(answered)}`);
      return { status: 200 };
    };
    app.orchestration('callback-function-d', async (ctx) => {
      await ctx.waitForCallback('external-api', async (callbackId) => {
        await functionA({ body: JSON.stringify({ callbackId }) }); // the sample: fetch(CALLBACK_API_URL, { method: 'POST', body })
      }, { timeout: { minutes: 1 } });
      return { status: 200 };
    });
    const env = (deployed.env = await startEnv(app));
    const id = await env.client.start('callback-function-d');
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: { status: 200 } });
    expect(types(await env.client.getHistory(id))).toContain('CallbackCompleted');
  });

  it('examples/callback/function-d.ts: an API that never calls back fails the execution after 1 minute', async () => {
    const app = newApp();
    app.orchestration('callback-function-d', async (ctx) => {
      await ctx.waitForCallback('external-api', async () => undefined, { timeout: { minutes: 1 } });
      return { status: 200 };
    });
    const { status } = await run(app, 'callback-function-d');
    expect(status).toMatchObject({ status: 'Failed', error: { name: 'CallbackTimeoutError' } });
  });

  it('examples/lambda-orchestration/function-d.ts: invokes three plain functions in turn (as activities)', async () => {
    const app = newApp();
    const invoked: string[] = [];
    // AWS: context.invoke(name, FUNCTION_X_ARN, payload) of non-durable functions. Perdure's callSubOrchestration
    // starts orchestrations only: a plain function is an activity (the migration guide says so).
    for (const name of ['function-a', 'function-b', 'function-c']) app.activity(name, async (_event: { data: { name: string } }) => (invoked.push(name), { status: 200 }));
    app.orchestration('function-d', async (ctx) => {
      await ctx.callActivity('function-a', { data: { name: 'Function D' } });
      await ctx.callActivity('function-b', { data: { name: 'Function D' } });
      await ctx.callActivity('function-c', { data: { name: 'Function D' } });
      return { status: 200 };
    });
    const { status } = await run(app, 'function-d');
    expect(status.output).toEqual({ status: 200 });
    expect(invoked).toEqual(['function-a', 'function-b', 'function-c']);
  });

  /** examples/saga/function.ts, with each compensation registered after its step returned (see the next test). */
  function saga(registerInsideStep: boolean, options?: TestEnvironmentOptions) {
    const app = newApp();
    const effects: string[] = [];
    app.orchestration('saga', async (ctx, event: { simulateFailure?: boolean } | undefined) => {
      const completedSteps: { name: string; rollback: () => void }[] = [];
      const step = async (name: string, rollback: string, fail = false) => {
        const compensation = { name, rollback: () => void effects.push(rollback) };
        await ctx.step(name, async () => {
          effects.push(name);
          if (fail) throw new Error('Payment processing failed');
          if (registerInsideStep) completedSteps.push(compensation); // as the sample writes it
        }, { retry: defaultPreset });
        if (!registerInsideStep) completedSteps.push(compensation);
      };
      try {
        await step('reserve-inventory', 'Releasing inventory reservation');
        await step('process-payment', 'Refunding payment', event?.simulateFailure);
        await step('create-shipment', 'Cancelling shipment');
        return { status: 200 };
      } catch {
        await ctx.child('compensation', async (child) => {
          for (const done of completedSteps.reverse()) await child.step(`compensate-${done.name}`, async () => done.rollback(), { retry: defaultPreset });
        });
        return { status: 500 };
      }
    });
    return { app, effects, options };
  }

  it('examples/saga/function.ts: success runs three steps; a failed payment compensates the reservation', async () => {
    const ok = saga(false);
    expect((await run(ok.app, 'saga', {})).status.output).toEqual({ status: 200 });
    expect(ok.effects).toEqual(['reserve-inventory', 'process-payment', 'create-shipment']);

    const failed = saga(false, { executorCacheSize: 0 });
    const { status, history } = await run(failed.app, 'saga', { simulateFailure: true }, failed.options);
    expect(status.output).toEqual({ status: 500 });
    expect(failed.effects.filter((e) => !e.startsWith('process-payment'))).toEqual(['reserve-inventory', 'Releasing inventory reservation']);
    expect(calls(history)).toEqual(['reserve-inventory', 'process-payment', 'compensate-reserve-inventory']);
  });

  it('examples/saga/function.ts as written (compensations pushed inside the step bodies) loses them on replay, as on AWS', async () => {
    // A step body does not run again on replay, so what it pushed is gone: after the payment's retry waits
    // (durable timers) the compensation list is empty once the code replays. With a warm executor (Perdure's
    // default in one process) the list survives; with every step a full replay (as after a cold start) it does not.
    const warm = saga(true);
    await run(warm.app, 'saga', { simulateFailure: true });
    expect(warm.effects).toContain('Releasing inventory reservation');
    const cold = saga(true, { executorCacheSize: 0 });
    await run(cold.app, 'saga', { simulateFailure: true }, cold.options);
    expect(cold.effects).not.toContain('Releasing inventory reservation');
  });

  it('examples/testing/function.ts: a step adds a and b (8)', async () => {
    const app = newApp();
    app.orchestration('calculate', async (ctx, event: { a: number; b: number }) => ctx.step('calculate', async () => event.a + event.b));
    expect((await run(app, 'calculate', { a: 5, b: 3 })).status).toMatchObject({ status: 'Completed', output: 8 });
  });

  it('examples/workflow/function.ts: picks a strategy that runs in a child context; an unknown type is answered with a message', async () => {
    const app = newApp();
    const strategies = new Map<string, (ctx: OrchestrationContext) => Promise<{ status: number }>>([
      ['a', async (ctx) => (await ctx.child('strategy-a', async () => ({})), { status: 200 })],
      ['b', async (ctx) => (await ctx.child('strategy-b', async () => ({})), { status: 200 })],
    ]);
    app.orchestration('workflow', async (ctx, event: { type: string }) => {
      const strategy = strategies.get(event.type);
      if (!strategy) return { body: `Type '${event.type}' is not supported. Valid types are: a, b` };
      return strategy(ctx);
    });
    const a = await run(app, 'workflow', { type: 'a' });
    expect(a.status.output).toEqual({ status: 200 });
    expect(a.history.find((e) => e.type === 'ChildStarted')).toMatchObject({ name: 'strategy-a' });
    expect((await run(app, 'workflow', { type: 'b' })).status.output).toEqual({ status: 200 });
    expect((await run(app, 'workflow', { type: 'c' })).status.output).toEqual({ body: "Type 'c' is not supported. Valid types are: a, b" });
  });
});

// =======================================================================================================
// 3. temporalio/samples-typescript (workflow logic)
// =======================================================================================================

describe('temporalio/samples-typescript', () => {
  it('hello-world/src/workflows.ts: example(name) calls greet: "Hello, Temporal!"', async () => {
    const app = newApp();
    app.activity('greet', async (name: string) => `Hello, ${name}!`, { timeout: '1m' });
    app.orchestration('example', async (ctx, name: string) => ctx.callActivity<string>('greet', name));
    expect((await run(app, 'example', 'Temporal')).status).toMatchObject({ status: 'Completed', output: 'Hello, Temporal!' });
  });

  /** activities-examples/src/workflows.ts: httpWorkflow, its activity mocked as the sample's tests do. */
  function httpWorkflow(makeHTTPRequest: () => Promise<string>) {
    const app = newApp();
    let callCount = 0;
    // Temporal: retry { initialInterval: '50 milliseconds', maximumAttempts: 2 }, startToCloseTimeout '30 seconds'.
    app.activity('makeHTTPRequest', async () => (callCount++, makeHTTPRequest()), { retry: { maxAttempts: 2, initialInterval: '50ms' }, timeout: '30s' });
    app.orchestration('httpWorkflow', async (ctx) => `The answer is ${await ctx.callActivity<string>('makeHTTPRequest')}`);
    return { app, calls: () => callCount };
  }

  it('activities-examples: httpWorkflow returns the answer, retries one failure, and bubbles up the activity error', async () => {
    expect((await run(httpWorkflow(async () => '42').app, 'httpWorkflow')).status.output).toBe('The answer is 42');

    let first = true;
    const retried = httpWorkflow(async () => {
      if (first) {
        first = false;
        throw new Error('example error');
      }
      return '88';
    });
    const r = await run(retried.app, 'httpWorkflow');
    expect(r.status.output).toBe('The answer is 88');
    expect(retried.calls()).toBe(2);
    expect(timerDelays(r.history)).toEqual([50]);

    // Temporal: WorkflowFailedError whose cause is an ActivityFailure whose cause is an ApplicationFailure('example error').
    const failing = await run(httpWorkflow(async () => Promise.reject(new Error('example error'))).app, 'httpWorkflow');
    expect(failing.status.status).toBe('Failed');
    expect(failing.status.error).toMatchObject({ name: 'ActivityFailedError' });
    expect(failing.status.error!.message).toContain('example error');
  });

  it('activities-examples: asyncActivityWorkflow (async completion) as a callback completed later by another process', async () => {
    // Temporal: the activity throws CompleteAsyncError and another process completes it with its task token.
    // Perdure: an activity cannot complete later; the token is a callback's, handed over by the submitter.
    const app = newApp();
    const background: string[] = [];
    app.orchestration('asyncActivityWorkflow', async (ctx) => {
      const answer = await ctx.waitForCallback<string>('completeSomethingAsync', (token) => void background.push(token), { timeout: '30s' });
      return `The Peon says: ${answer}`;
    });
    const env = await startEnv(app);
    const id = await env.client.start('asyncActivityWorkflow');
    await env.idle();
    expect(background).toHaveLength(1);
    await env.advanceTime('1s'); // "does some work..."
    await env.client.completeCallback(background[0]!, "Job's done!");
    expect((await env.client.waitForCompletion(id)).output).toBe("The Peon says: Job's done!");
  });

  it('child-workflows/src/workflows.ts: parentWorkflow runs a child per name in parallel and joins their answers', async () => {
    const app = newApp();
    app.orchestration('childWorkflow', async (_ctx, name: string) => `I am a child named ${name}`);
    app.orchestration('parentWorkflow', async (ctx, names: string[]) => {
      const responses = await Promise.all(names.map((name) => ctx.callSubOrchestration<string>('childWorkflow', name)));
      return responses.join('\n');
    });
    const { env, id, status } = await run(app, 'parentWorkflow', ['Alice', 'Bob', 'Charlie']);
    expect(status.output).toBe('I am a child named Alice\nI am a child named Bob\nI am a child named Charlie');
    const children = (await env.client.list({ name: 'childWorkflow' })).instances;
    expect(children).toHaveLength(3);
    expect(children.every((child) => child.parentInstanceId === id)).toBe(true);
  });

  /** signals-queries/src/workflows.ts: unblockOrCancel; the isBlocked query becomes the custom status. */
  function unblockOrCancel() {
    const app = newApp();
    const logged: string[] = [];
    app.orchestration('unblockOrCancel', async (ctx) => {
      ctx.setStatus({ isBlocked: true });
      logged.push('Blocked');
      try {
        await ctx.waitForEvent('unblock');
        ctx.setStatus({ isBlocked: false });
        logged.push('Unblocked');
      } catch (error) {
        if (error instanceof CancelledError) logged.push('Cancelled');
        throw error;
      }
    });
    return { app, logged };
  }

  it('signals-queries: blocked until the unblock signal; the query reads isBlocked', async () => {
    const { app, logged } = unblockOrCancel();
    const env = await startEnv(app);
    const id = await env.client.start('unblockOrCancel', undefined, { instanceId: 'unblock-or-cancel-0' });
    expect((await statusWhenIdle(env, id)).customStatus).toEqual({ isBlocked: true });
    await env.client.raiseEvent(id, 'unblock');
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', customStatus: { isBlocked: false } });
    expect(logged.filter((line, i) => logged.indexOf(line) === i)).toEqual(['Blocked', 'Unblocked']);
  });

  it('signals-queries: a cancel while blocked ends the workflow Cancelled (CancelledFailure)', async () => {
    const { app, logged } = unblockOrCancel();
    const env = await startEnv(app);
    const id = await env.client.start('unblockOrCancel', undefined, { instanceId: 'unblock-or-cancel-1' });
    await env.idle();
    await env.client.cancel(id);
    const status = await env.client.waitForCompletion(id);
    expect(status.status).toBe('Cancelled');
    expect(status.cancelRequested).toBeDefined();
    expect(logged).toContain('Cancelled');
  });

  /** timer-examples/src/workflows.ts: processOrderWorkflow races the order's processing against a reminder timer. */
  function processOrderWorkflow(processOrder: (env: TestEnvironment) => Promise<void>) {
    const app = newApp();
    let emailSent = false;
    let env!: TestEnvironment;
    // Temporal takes startToCloseTimeout from the input (orderProcessingMS); Perdure's timeout is the activity's, fixed at registration.
    app.activity('processOrder', async () => processOrder(env), { timeout: '3d' });
    app.activity('sendNotificationEmail', async () => void (emailSent = true), { timeout: '5m' });
    app.orchestration('processOrderWorkflow', async (ctx, { sendDelayedEmailTimeoutMS }: { orderProcessingMS: number; sendDelayedEmailTimeoutMS: number }) => {
      let processing = true;
      const processOrderPromise = ctx.callActivity('processOrder').then(() => {
        processing = false;
      });
      await Promise.race([processOrderPromise, ctx.sleep(sendDelayedEmailTimeoutMS)]);
      if (processing) {
        await ctx.callActivity('sendNotificationEmail');
        await processOrderPromise;
      }
      return 'Order completed!';
    });
    return {
      app,
      emailSent: () => emailSent,
      start: async () => {
        env = await startEnv(app);
        return env;
      },
    };
  }
  const day = 24 * 60 * 60 * 1000;

  it('timer-examples: sends the reminder email when processOrder takes longer than a day', async () => {
    const sample = processOrderWorkflow(async (env) => {
      // Temporal's test: `await env.sleep('2 days')` inside the activity. Here the activity moves the virtual
      // clock (which fires the 1-day timer) and runs until the reminder went out, as a 2-day job would.
      env.queues.advanceTime(2 * day);
      await waitUntil(() => sample.emailSent());
    });
    const env = await sample.start();
    const id = await env.client.start('processOrderWorkflow', { orderProcessingMS: 3 * day, sendDelayedEmailTimeoutMS: day });
    expect((await env.client.waitForCompletion(id)).output).toBe('Order completed!');
    expect(sample.emailSent()).toBe(true);
  });

  it('timer-examples: no reminder when processing completes in time', async () => {
    const sample = processOrderWorkflow(async () => undefined);
    const env = await sample.start();
    const id = await env.client.start('processOrderWorkflow', { orderProcessingMS: 3 * day, sendDelayedEmailTimeoutMS: day });
    expect((await env.client.waitForCompletion(id)).output).toBe('Order completed!');
    expect(sample.emailSent()).toBe(false);
  });

  /** timer-examples/src/updatable-timer.ts: countdownWorkflow, a 1-day timer whose deadline a signal moves. */
  it('timer-examples: countdownWorkflow ends at the deadline a setDeadline signal moved earlier', async () => {
    const app = newApp();
    app.orchestration('countdownWorkflow', async (ctx) => {
      let deadline = ctx.now().getTime() + day;
      const update = () => ctx.waitForEvent<number>('setDeadline');
      let next = update();
      for (;;) {
        ctx.setStatus({ timeLeft: deadline - ctx.now().getTime() });
        const outcome = await Promise.race([next.then((value) => ({ deadline: value })), ctx.sleepUntil(deadline).then(() => 'done' as const)]);
        if (outcome === 'done') return 'countdown done!';
        deadline = outcome.deadline;
        next = update();
      }
    });
    const env = await startEnv(app);
    const start = env.clock.now();
    const id = await env.client.start('countdownWorkflow');
    await env.idle();
    await env.client.raiseEvent(id, 'setDeadline', start + 60 * 60 * 1000);
    // The virtual clock also moves with real time (a few ms here), so the time left is just under an hour.
    const timeLeft = ((await statusWhenIdle(env, id)).customStatus as { timeLeft: number }).timeLeft;
    expect(timeLeft).toBeLessThanOrEqual(60 * 60 * 1000);
    expect(timeLeft).toBeGreaterThan(59 * 60 * 1000);
    const status = await env.client.waitForCompletion(id);
    expect(status.output).toBe('countdown done!');
    expect(env.clock.now() - start).toBeLessThan(2 * 60 * 60 * 1000); // the 1-hour deadline, not the day
  });

  /** sleep-for-days/src/workflows.ts: an email, then 30 days of sleep or the complete signal, until complete. */
  function sleepForDays(eventPerIteration: boolean) {
    const app = newApp();
    let emails = 0;
    app.activity('sendEmail', async (_message: string) => void emails++, { timeout: '1m' });
    app.orchestration('sleepForDays', async (ctx) => {
      let isComplete = false;
      const onComplete = () => ctx.waitForEvent('complete').then(() => void (isComplete = true));
      let complete = onComplete();
      while (!isComplete) {
        await ctx.callActivity('sendEmail', 'Sleeping for 30 days');
        await Promise.race([ctx.sleep('30d'), complete]);
        // Temporal's condition(() => isComplete) is re-evaluated each time; the natural port asks for the event again.
        if (eventPerIteration && !isComplete) complete = onComplete();
      }
      return 'done!';
    });
    return { app, emails: () => emails };
  }

  async function checkSleepForDays(sample: ReturnType<typeof sleepForDays>) {
    const env = await startEnv(sample.app);
    const start = env.clock.now();
    const id = await env.client.start('sleepForDays');
    expect(sample.emails()).toBe(0);
    await env.advanceTime('5m');
    expect(sample.emails()).toBe(1);
    // As Temporal's test: 90 days at once, three more emails (advanceTime stops at each timer on the way).
    await env.advanceTime('90d');
    expect(sample.emails()).toBe(4);
    await env.client.raiseEvent(id, 'complete');
    const status = await env.client.waitForCompletion(id, { timeout: '5s' });
    expect(status.output).toBe('done!');
    expect(sample.emails()).toBe(4);
    expect(env.clock.now() - start).toBeGreaterThan(90 * day);
  }

  it('sleep-for-days: emails every 30 days until the complete signal (one waitForEvent for the whole loop)', async () => {
    await checkSleepForDays(sleepForDays(false));
  });

  it('sleep-for-days: the same with a fresh waitForEvent each iteration (the losing wait of a race stays pending)', async () => {
    await checkSleepForDays(sleepForDays(true));
  });

  it('saga/src/workflows.ts: openAccount compensates what succeeded, in reverse, when addBankAccount keeps failing, then fails', async () => {
    const app = newApp();
    const done: string[] = [];
    // Temporal's activities retry without limit (its default policy) within scheduleToCloseTimeout (3 s, or 8 s
    // for addBankAccount). Perdure has no unlimited maxAttempts: a large one, bounded by the same budget.
    const defaultActivity = { timeout: '2s', scheduleToCloseTimeout: '3s', retry: { maxAttempts: 1000, initialInterval: '1s', backoffCoefficient: 2, maxInterval: '100s' } } as const;
    const longRunning = { ...defaultActivity, timeout: '4s', scheduleToCloseTimeout: '8s' } as const;
    const activity = (name: string, options: ActivityOptions = defaultActivity) =>
      app.activity(name, async (params: { shouldThrow?: string }) => {
        if (params.shouldThrow) throw new Error(params.shouldThrow);
        done.push(name);
      }, options);
    for (const name of ['createAccount', 'addClient', 'removeClient', 'addAddress', 'clearPostalAddresses', 'disconnectBankAccounts']) activity(name);
    activity('addBankAccount', longRunning);
    app.orchestration('openAccount', async (ctx, params: { accountId: string; clientEmail: string; address: unknown; bankDetails: unknown }) => {
      const compensations: { message: string; fn: () => Promise<unknown> }[] = [];
      await ctx.callActivity('createAccount', { accountId: params.accountId }); // fatal: no compensation
      try {
        await ctx.callActivity('addAddress', { accountId: params.accountId, address: params.address });
        compensations.unshift({ message: 'reversing add address', fn: () => ctx.callActivity('clearPostalAddresses', { accountId: params.accountId }) });
        await ctx.callActivity('addClient', { accountId: params.accountId, clientEmail: params.clientEmail });
        compensations.unshift({ message: 'reversing add client', fn: () => ctx.callActivity('removeClient', { accountId: params.accountId }) });
        await ctx.callActivity('addBankAccount', { accountId: params.accountId, details: params.bankDetails, shouldThrow: 'add bank account failed: ' });
        compensations.unshift({ message: 'reversing add bank account', fn: () => ctx.callActivity('disconnectBankAccounts', { accountId: params.accountId }) });
      } catch (error) {
        for (const compensation of compensations) {
          try {
            await compensation.fn();
          } catch {
            // swallow errors
          }
        }
        throw error;
      }
    });
    const { status, history } = await run(app, 'openAccount', { accountId: 'acc-1', clientEmail: 'bart@simpson.io', address: { address1: '123 Temporal Street', postalCode: '98006' }, bankDetails: { accountNumber: 'n', routingNumber: '1234555' } });
    expect(status.status).toBe('Failed');
    expect(status.error).toMatchObject({ name: 'ActivityFailedError' });
    expect(done).toEqual(['createAccount', 'addAddress', 'addClient', 'removeClient', 'clearPostalAddresses']);
    // Retried until its 8 s budget ran out: attempts at 0, 1, 3 and 7 s (the next, at 15 s, would start after it).
    expect(attempts(history).filter((a) => a.startsWith('addBankAccount'))).toHaveLength(4);
  });

  /** expense/src/workflows.ts: createExpense, then approve, reject or a timeout; payment when approved. */
  function expense() {
    const app = newApp();
    const server: string[] = [];
    app.activity('createExpense', async (id: string) => void server.push(`create ${id}`), { timeout: '5m' });
    app.activity('payment', async (id: string) => void server.push(`payment ${id}`), { timeout: '5m' });
    app.orchestration('expense', async (ctx, [expenseId, timeout = '10s']: [string, string?]) => {
      await ctx.callActivity('createExpense', expenseId);
      // Temporal: two signal handlers set the status; condition(() => status !== TIMED_OUT, timeout).
      const status = await Promise.race([
        ctx.waitForEvent('approve').then(() => 'APPROVED' as const),
        ctx.waitForEvent('reject').then(() => 'REJECTED' as const),
        ctx.sleep(timeout).then(() => 'TIMED_OUT' as const),
      ]);
      if (status !== 'APPROVED') return { status };
      await ctx.callActivity('payment', expenseId);
      return { status: 'COMPLETED' };
    });
    return { app, server };
  }

  it('expense: approved -> COMPLETED (paid); rejected -> REJECTED; no answer within 1 s -> TIMED_OUT', async () => {
    for (const [signal, expected, paid] of [
      ['approve', 'COMPLETED', true],
      ['reject', 'REJECTED', false],
    ] as const) {
      const { app, server } = expense();
      const env = await startEnv(app);
      const id = await env.client.start('expense', ['my-business-id'], { instanceId: 'my-business-id' });
      await env.idle();
      await env.client.raiseEvent(id, signal);
      expect((await env.client.waitForCompletion(id)).output).toEqual({ status: expected });
      expect(server.includes('payment my-business-id')).toBe(paid);
    }
    const { app, server } = expense();
    expect((await run(app, 'expense', ['my-business-id', '1s'])).status.output).toEqual({ status: 'TIMED_OUT' });
    expect(server).toEqual(['create my-business-id']);
  });

  it('continue-as-new/src/workflows.ts: loopingWorkflow sleeps 1 s and continues as new until iteration 10', async () => {
    const app = newApp();
    app.orchestration('loopingWorkflow', async (ctx, iteration: number | undefined) => {
      const current = iteration ?? 0; // Temporal: a default parameter (iteration = 0); Perdure passes undefined without input
      if (current === 10) return;
      await ctx.sleep(1000);
      ctx.continueAsNew(current + 1);
    });
    const { env, id, status } = await run(app, 'loopingWorkflow', undefined);
    expect(status).toMatchObject({ status: 'Completed', generation: 10 });
    expect(status.output).toBeUndefined();
    expect((await env.client.getHistory(id, { generation: 3 })).find((e) => e.type === 'ContinuedAsNew')).toMatchObject({ input: 4 });
  });

  it('cron-workflows: a workflow started every minute becomes a schedule; each firing runs scheduledWorkflow', async () => {
    const app = newApp();
    const logged: string[] = [];
    app.activity('logTime', async ([name, time]: [string, string]) => void logged.push(`${name} ${time}`), { timeout: '1m' });
    app.orchestration('scheduledWorkflow', async (ctx, name: string) => {
      await ctx.callActivity('logTime', [name, String(Date.now())]); // Date.now() in orchestration code is ctx.now()
    });
    // Temporal: cronSchedule '* * * * *' (five Unix fields) on the start call. Perdure refuses Unix cron with a
    // message that says what to add, and takes EventBridge's six fields.
    expect(() => app.schedule('my-schedule', { cron: '* * * * *', orchestration: 'scheduledWorkflow', input: 'Temporal', overlap: 'skip' })).toThrow(/six fields|year|\?/);
    app.schedule('my-schedule', { cron: '* * * * ? *', orchestration: 'scheduledWorkflow', input: 'Temporal', overlap: 'skip' });
    const env = await startEnv(app);
    const t0 = Date.parse('2026-03-30T00:00:00Z');
    for (const firingTime of [t0, t0 + 60_000]) {
      const firing = await env.schedules.fire('my-schedule', firingTime);
      expect(firing).toMatchObject({ outcome: 'started' });
      await env.client.waitForCompletion((firing as { instanceId: string }).instanceId);
    }
    expect(logged).toHaveLength(2);
    expect(logged.every((line) => line.startsWith('Temporal '))).toBe(true);
  });

  /** schedules/src/workflows.ts: reminder, started by a schedule. */
  function reminderApp() {
    const app = newApp();
    const notified: string[] = [];
    app.activity('addReminderToDatabase', async (_text: string) => undefined, { timeout: '1m' });
    app.activity('notifyUser', async (text: string) => void notified.push(text), { timeout: '1m' });
    app.orchestration('reminder', async (ctx, text: string) => {
      await ctx.callActivity('addReminderToDatabase', text);
      await ctx.callActivity('notifyUser', text);
    });
    return { app, notified };
  }
  const recycling = '♻️ Dear future self, please take out the recycling tonight. Sincerely, past you ❤️';

  it('schedules: start-schedule (every 10 s, overlap ALLOW_ALL) is refused: Perdure intervals are whole minutes', () => {
    const { app } = reminderApp();
    expect(() => app.schedule('sample-schedule', { every: '10s', orchestration: 'reminder', input: recycling, overlap: 'allow' })).toThrow(/minute/);
  });

  it('schedules: the reminder schedule (every minute) fires, triggers, pauses and resumes', async () => {
    const { app, notified } = reminderApp();
    app.schedule('sample-schedule', { every: '1m', orchestration: 'reminder', input: recycling, overlap: 'allow' });
    const env = await startEnv(app);
    const t0 = Date.parse('2026-03-30T00:00:00Z');
    const fired = await env.schedules.fire('sample-schedule', t0);
    expect(fired).toMatchObject({ outcome: 'started', instanceId: 'sched-sample-schedule-2026-03-30T00:00Z' });
    await env.client.waitForCompletion((fired as { instanceId: string }).instanceId);
    const triggered = await env.schedules.trigger('sample-schedule'); // trigger-schedule.ts
    await env.client.waitForCompletion((triggered as { instanceId: string }).instanceId);
    expect(notified).toEqual([recycling, recycling]);
    await env.schedules.pause('sample-schedule'); // pause-schedule.ts
    expect(await env.schedules.fire('sample-schedule', t0 + 60_000)).not.toMatchObject({ outcome: 'started' });
    await env.schedules.resume('sample-schedule'); // unpause-schedule.ts
    expect(await env.schedules.fire('sample-schedule', t0 + 120_000)).toMatchObject({ outcome: 'started' });
    // backfill-schedule.ts: an older firing time is still started with overlap 'allow' (a late retry), which is as
    // close as Perdure comes; update-schedule.ts (new args at run time) and delete-schedule.ts have no counterpart:
    // a schedule's input and existence are code, changed by a deploy.
    expect(await env.schedules.fire('sample-schedule', t0 - 10 * 60_000)).toMatchObject({ outcome: 'started' });
  });

  it('activities-cancellation-heartbeating/src/cancellation-scopes.ts: handleExternalWorkflowCancellationWhileActivityRunning cleans up in nonCancellable', async () => {
    const app = newApp();
    const effects: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    app.activity('httpPostJSON', async ([url]: [string, unknown]) => {
      await gate;
      effects.push(`posted ${url}`);
    }, { timeout: '10m' });
    app.activity('cleanup', async (url: string) => void effects.push(`cleanup ${url}`), { timeout: '10m' });
    app.orchestration('handleExternalWorkflowCancellationWhileActivityRunning', async (ctx, [url, data]: [string, unknown]) => {
      try {
        await ctx.callActivity('httpPostJSON', [url, data]);
      } catch (error) {
        if (error instanceof CancelledError) await ctx.nonCancellable(() => ctx.callActivity('cleanup', url));
        throw error;
      }
    });
    const env = await startEnv(app);
    const id = await env.client.start('handleExternalWorkflowCancellationWhileActivityRunning', ['http://example.com', { a: 1 }]);
    await sleep(20); // the activity is running
    await env.client.cancel(id, 'user asked');
    const status = await env.client.waitForCompletion(id);
    expect(status.status).toBe('Cancelled');
    expect(effects).toEqual(['cleanup http://example.com']);
    release(); // the running activity is not interrupted: it finishes, and nothing waits for it
    await env.idle();
    expect(effects).toEqual(['cleanup http://example.com', 'posted http://example.com']);
  });

  it('activities-cancellation-heartbeating/src/cancellation-scopes.ts: nonCancellable(httpGetJSON) shields the call; the workflow returns its result', async () => {
    const app = newApp();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    app.activity('httpGetJSON', async (url: string) => (await gate, { url, ok: true }), { timeout: '10m' });
    app.orchestration('nonCancellable', async (ctx, url: string) => ctx.nonCancellable(() => ctx.callActivity('httpGetJSON', url)));
    const env = await startEnv(app);
    const id = await env.client.start('nonCancellable', 'http://example.com');
    await sleep(20);
    await env.client.cancel(id);
    release();
    // Temporal: "the Workflow is completely oblivious and impervious to cancellation in this example".
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: { url: 'http://example.com', ok: true } });
  });

  it('activities-cancellation-heartbeating/src/cancellation-scopes.ts: multipleActivitiesSingleTimeout, with a race against a durable timer', async () => {
    // Temporal: CancellationScope.withTimeout(timeoutMs, () => Promise.all(...)) cancels the activities and fails
    // with CancelledFailure. Perdure has no scopes: a race with ctx.sleep ends the wait, the calls run on unawaited.
    const app = newApp();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    app.activity('httpGetJSON', async (url: string) => {
      if (url.includes('slow')) await gate;
      return { url };
    }, { timeout: '10m' });
    app.orchestration('multipleActivitiesSingleTimeout', async (ctx, [urls, timeoutMs]: [string[], number]) => {
      const all = Promise.all(urls.map((url) => ctx.callActivity('httpGetJSON', url)));
      const timedOut = ctx.sleep(timeoutMs).then(() => {
        throw new TimeoutError(`Activities did not complete within ${timeoutMs} ms`);
      });
      return Promise.race([all, timedOut]);
    });
    expect((await run(app, 'multipleActivitiesSingleTimeout', [['http://a', 'http://b'], 5_000])).status.output).toEqual([{ url: 'http://a' }, { url: 'http://b' }]);
    const env = await startEnv(app);
    const id = await env.client.start('multipleActivitiesSingleTimeout', [['http://a', 'http://slow'], 5_000]);
    await sleep(20);
    // Time is not skipped while an activity runs (as in Temporal's time-skipping environment): move it by hand.
    env.queues.advanceTime(5_000);
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Failed', error: { name: 'TimeoutError' } });
    release();
  });

  it.todo('activities-cancellation-heartbeating/src/cancellation-scopes.ts: cancelTimer, cancelTimerAltImpl, sharedScopes, cancellationScopesWithCallbacks, resumeAfterCancellation: no CancellationScope (a scope cancelling its own timers and calls, `cancelRequested` as a promise)');

  it('activities-cancellation-heartbeating/src/workflows.ts: runCancellableActivity: the heartbeating activity learns of the cancel and the workflow ends Cancelled', async () => {
    const app = newApp();
    const activityLog: string[] = [];
    const deployed: { env?: TestEnvironment } = {};
    app.activity('fakeProgress', async (_input: undefined, actx) => {
      const startingPoint = (actx.heartbeatDetails as number | undefined) ?? 1;
      try {
        for (let progress = startingPoint; progress <= 100; ++progress) {
          // Temporal heartbeats reach the server at most every 0.8 × heartbeatTimeout (here 2.4 s) and learn of a
          // cancel then. Perdure checks the instance on the first heartbeat and then at most every 30 s of real
          // time: this attempt waits for the cancel before its first heartbeat so that it sees it.
          if (progress === startingPoint) await waitForCancel(deployed.env!, actx.instanceId);
          await actx.heartbeat(progress);
        }
      } catch (error) {
        if (error instanceof CancelledError) activityLog.push('Fake progress activity cancelled');
        throw error;
      }
    }, { timeout: '60s', heartbeatTimeout: '3s' });
    app.orchestration('runCancellableActivity', async (ctx) => {
      try {
        await ctx.callActivity('fakeProgress');
      } catch (error) {
        if (error instanceof CancelledError) ctx.log.info('Workflow cancelled along with its activity');
        throw error;
      }
    });
    const env = (deployed.env = await startEnv(app));
    const id = await env.client.start('runCancellableActivity');
    await sleep(20);
    await env.client.cancel(id);
    expect((await env.client.waitForCompletion(id)).status).toBe('Cancelled');
    await env.idle();
    expect(activityLog).toEqual(['Fake progress activity cancelled']);
  });

  it('state/src/workflows.ts: trackState keeps values set by signals, read by a query, until cancelled', async () => {
    const app = newApp();
    app.orchestration('trackState', async (ctx) => {
      const state: Record<string, number> = {};
      for (;;) {
        const [key, value] = await ctx.waitForEvent<[string, number]>('setValue'); // Temporal: CancellationScope.current().cancelRequested ends it
        state[key] = value;
        ctx.setStatus(state); // the getValue(key) query: the caller reads the key from the custom status
      }
    });
    const env = await startEnv(app);
    const id = await env.client.start('trackState');
    await env.client.raiseEvent(id, 'setValue', ['a', 1]);
    await env.client.raiseEvent(id, 'setValue', ['b', 2]);
    await env.client.raiseEvent(id, 'setValue', ['a', 3]);
    expect(((await statusWhenIdle(env, id)).customStatus as Record<string, number>).a).toBe(3);
    await env.client.cancel(id);
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Cancelled', customStatus: { a: 3, b: 2 } });
  });

  it('timer-progress/src/workflows.ts: progress goes up 10 % a second; the getProgress query reads it', async () => {
    const app = newApp();
    app.orchestration('progress', async (ctx) => {
      let currentProgress = 0;
      ctx.setStatus(currentProgress);
      for (let i = 1; i <= 10; ++i) {
        await ctx.sleep('1s');
        currentProgress += 10;
        ctx.setStatus(currentProgress);
      }
    });
    const env = await startEnv(app);
    const id = await env.client.start('progress');
    expect((await statusWhenIdle(env, id)).customStatus).toBe(0);
    for (let second = 0; second < 3; second++) await env.advanceTime('1s');
    expect((await env.client.getStatus(id)).customStatus).toBe(30);
    expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', customStatus: 100 });
  });

  it('early-return/src/workflows.ts: the confirmation is read before the transaction completes (update-with-start -> status)', async () => {
    // Temporal: executeUpdateWithStart(getTransactionConfirmation) returns once the workflow confirms. Perdure has
    // no updates: the workflow publishes its confirmation as the custom status and the caller polls it.
    const app = newApp();
    app.orchestration('transactionWorkflow', async (ctx) => {
      await ctx.sleep(500);
      ctx.setStatus({ status: 'confirmed' });
      await ctx.sleep(5000);
      return { finalAmount: 77, status: 'complete' };
    });
    const env = await startEnv(app);
    const id = await env.client.start('transactionWorkflow');
    let confirmation: unknown;
    for (let i = 0; i < 20 && !confirmation; i++) {
      await env.advanceTime('100ms');
      confirmation = (await env.client.getStatus(id)).customStatus;
    }
    expect(confirmation).toEqual({ status: 'confirmed' });
    expect((await env.client.getStatus(id)).status).toBe('Running');
    expect((await env.client.waitForCompletion(id)).output).toEqual({ finalAmount: 77, status: 'complete' });
  });

  it('message-passing/introduction/src/workflows.ts: queries as custom status, the approve signal as an event, setLanguage as an event', async () => {
    const app = newApp();
    const greetings: Record<string, string> = { CHINESE: '你好，世界', ENGLISH: 'Hello, world' };
    app.orchestration('greetingWorkflow', async (ctx) => {
      let language = 'ENGLISH';
      const publish = () => ctx.setStatus({ language, supportedLanguages: Object.keys(greetings) });
      publish();
      const approved = ctx.waitForEvent<{ name: string }>('approve');
      let done = false;
      void approved.then(() => (done = true)).catch(() => undefined);
      while (!done) {
        // Temporal's setLanguage is an update: it validates, changes state and answers the caller. Perdure has no
        // request/response message: an event changes the state, the caller reads the result from the status.
        const next = await Promise.race([approved.then(() => undefined), ctx.waitForEvent<string>('setLanguage')]);
        if (next !== undefined && next in greetings) language = next;
        publish();
      }
      return greetings[language];
    });
    const env = await startEnv(app);
    const id = await env.client.start('greetingWorkflow');
    expect((await statusWhenIdle(env, id)).customStatus).toEqual({ language: 'ENGLISH', supportedLanguages: ['CHINESE', 'ENGLISH'] });
    await env.client.raiseEvent(id, 'setLanguage', 'CHINESE');
    expect(((await statusWhenIdle(env, id)).customStatus as { language: string }).language).toBe('CHINESE');
    await env.client.raiseEvent(id, 'approve', { name: 'test-approver' });
    expect((await env.client.waitForCompletion(id)).output).toBe('你好，世界');
  });

  it('mutex/src/workflows.ts: oneAtATimeWorkflow takes a lock from lockWorkflow (signal-with-start, workflow-to-workflow signals)', async () => {
    const app = newApp();
    const deployed: { env?: TestEnvironment } = {};
    const lockedEvents: string[] = [];
    // Temporal: client.workflow.signalWithStart. Perdure has no signal-with-start: the activity starts the lock
    // workflow (an InstanceExistsError means it runs already) and raises the event; events raised before the
    // instance exists would be refused (InstanceNotFoundError), so the start comes first.
    app.activity('signalWithStartLockWorkflow', async ([resourceId, timeoutMs]: [string, number], actx) => {
      const client = deployed.env!.client;
      await client.start('lockWorkflow', [], { instanceId: resourceId }).catch((error: Error) => {
        if (error.name !== 'InstanceExistsError') throw error;
      });
      await client.raiseEvent(resourceId, 'lock-requested', { initiatorId: actx.instanceId, timeoutMs }, { eventId: actx.idempotencyKey });
    }, { timeout: '1m', retry: { maxAttempts: 3 } });
    // Workflow-to-workflow signals (getExternalWorkflowHandle(id).signal) have no orchestration API: an activity raises them.
    app.activity('signal', async ([instanceId, name, data]: [string, string, unknown], actx) => deployed.env!.client.raiseEvent(instanceId, name, data, { eventId: actx.idempotencyKey }), { timeout: '1m' });
    app.activity('useAPIThatCantBeCalledInParallel', async (_sleepForMs: number) => undefined, { timeout: '1m' });
    app.activity('notifyLocked', async ([resourceId, by]: [string, string]) => void lockedEvents.push(`locked ${resourceId} by ${by}`), { timeout: '1m' });
    app.activity('notifyUnlocked', async ([resourceId, by]: [string, string]) => void lockedEvents.push(`unlocked ${resourceId} by ${by}`), { timeout: '1m' });

    app.orchestration('lockWorkflow', async (ctx, carried: { initiatorId: string; timeoutMs: number }[] | undefined) => {
      const requests = [...(carried ?? [])];
      ctx.setStatus({ currentWorkflowId: null });
      while (!ctx.isContinueAsNewSuggested) {
        const request = requests.shift() ?? (await ctx.waitForEvent<{ initiatorId: string; timeoutMs: number }>('lock-requested'));
        ctx.setStatus({ currentWorkflowId: request.initiatorId }); // the current-workflow-id query
        const releaseSignalName = ctx.uuid();
        await ctx.callActivity('signal', [request.initiatorId, 'lock-acquired', { releaseSignalName }]);
        // Released by the holder, or automatically after its timeout (to prevent a deadlock).
        await Promise.race([ctx.waitForEvent(releaseSignalName), ctx.sleep(request.timeoutMs)]);
        ctx.setStatus({ currentWorkflowId: null });
      }
      if (requests.length > 0) ctx.continueAsNew(requests);
    });
    app.orchestration('oneAtATimeWorkflow', async (ctx, [resourceId, sleepForMs = 500, lockTimeoutMs = 1000]: [string, number?, number?]) => {
      await ctx.callActivity('signalWithStartLockWorkflow', [resourceId, lockTimeoutMs]);
      const { releaseSignalName } = await ctx.waitForEvent<{ releaseSignalName: string }>('lock-acquired');
      await ctx.callActivity('notifyLocked', [resourceId, ctx.instanceId]);
      await ctx.callActivity('useAPIThatCantBeCalledInParallel', sleepForMs);
      await ctx.callActivity('signal', [resourceId, releaseSignalName, null]);
      await ctx.callActivity('notifyUnlocked', [resourceId, ctx.instanceId]);
    });
    const env = (deployed.env = await startEnv(app));
    const first = await env.client.start('oneAtATimeWorkflow', ['lock-1', 1000, 60_000], { instanceId: 'test-1' });
    const second = await env.client.start('oneAtATimeWorkflow', ['lock-1', 1000, 60_000], { instanceId: 'test-2' });
    await env.client.waitForCompletion(first);
    await env.client.waitForCompletion(second);
    // One holder at a time: each lock is released before the next is taken.
    expect(lockedEvents.map((line) => line.split(' ')[0])).toEqual(['locked', 'unlocked', 'locked', 'unlocked']);
    expect(lockedEvents[0]!.split(' by ')[1]).toBe(lockedEvents[1]!.split(' by ')[1]);
    expect((await statusWhenIdle(env, 'lock-1')).customStatus).toEqual({ currentWorkflowId: null });
  });

  /** patching-api/src/workflows-{v1,v2,v3,vFinal}.ts: one app whose deployed code changes while an instance sleeps. */
  function patching() {
    const app = newApp();
    const effects: string[] = [];
    const deployment = { code: 'v1' as 'v1' | 'v2' | 'vFinal' };
    for (const name of ['activityA', 'activityB', 'activityThatMustRunAfterA']) app.activity(name, async (_: undefined, actx) => void effects.push(`${deployment.code}:${name}:${actx.instanceId}`), { timeout: '30s' });
    app.orchestration('myWorkflow', async (ctx) => {
      const code = deployment.code;
      if (code === 'v1' || (code === 'v2' && !ctx.patched('my-change-id'))) {
        await ctx.callActivity('activityA');
        await ctx.sleep('1d');
        await ctx.callActivity('activityThatMustRunAfterA');
        return 'old path';
      }
      // v2 with the patch, and vFinal. Temporal's v3 calls deprecatePatch('my-change-id'), which Perdure does not
      // have: vFinal below (no patched call at all) replays the recorded PatchMarker instead.
      await ctx.callActivity('activityB');
      await ctx.sleep('1d');
      return 'new path';
    });
    return { app, effects, deployment };
  }

  it('patching-api: an instance in flight under v1 keeps its path under v2 (patched false); a new one takes the patch; vFinal replays both', async () => {
    const { app, effects, deployment } = patching();
    const env = await startEnv(app);
    const old = await env.client.start('myWorkflow', undefined, { instanceId: 'patching-workflows-v1' });
    await env.idle();
    deployment.code = 'v2';
    env.forceReplay(); // as after a deploy: the next steps replay whole histories on the new code
    const fresh = await env.client.start('myWorkflow', undefined, { instanceId: 'patching-workflows-v2' });
    await env.idle();
    expect(types(await env.client.getHistory(fresh))).toContain('PatchMarker');
    expect(await env.client.waitForCompletion(old)).toMatchObject({ status: 'Completed', output: 'old path' });
    const third = await env.client.start('myWorkflow', undefined, { instanceId: 'patching-workflows-v2b' });
    await env.idle();
    deployment.code = 'vFinal';
    env.forceReplay();
    expect(await env.client.waitForCompletion(fresh)).toMatchObject({ status: 'Completed', output: 'new path' });
    expect(await env.client.waitForCompletion(third)).toMatchObject({ status: 'Completed', output: 'new path' });
    expect(effects).toEqual(['v1:activityA:patching-workflows-v1', 'v2:activityB:patching-workflows-v2', 'v2:activityThatMustRunAfterA:patching-workflows-v1', 'v2:activityB:patching-workflows-v2b']);
  });

  // A second environment over the first one's store takes its unfinished instances over, as a deploy would.
  it('patching-api, as a redeploy: a second environment over the same store (v2 code) finishes the v1 instance', async () => {
    const { app } = patching();
    const v1 = await startEnv(app);
    const old = await v1.client.start('myWorkflow', undefined, { instanceId: 'patching-workflows-v1' });
    await v1.idle();
    await v1.close();
    const v2 = await startEnv(app, { store: v1.store });
    expect(await v2.client.waitForCompletion(old, { timeout: '1s' })).toMatchObject({ status: 'Completed', output: 'old path' });
  });
});

/** Waits (real time) until the instance's cancel was requested. */
const waitForCancel = (env: TestEnvironment, instanceId: string) => waitUntil(async () => !!(await env.client.getStatus(instanceId)).cancelRequested, { what: `the cancel of ${instanceId}` });
