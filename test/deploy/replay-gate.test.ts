/**
 * Safe deploys end to end on DynamoDB Local: instances of the example app in flight on the embedded local
 * stack, then the handlers module of another build of the app (the code a deploy would bring) runs its
 * replay gate and shadow replay against the same table, and `perdure deploy-check` asks the same over HTTP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createExampleApp, type Order } from '../../functions/example-app.js';
import { createAwsRuntime, type AwsRuntime } from '../../lib/aws/aws-runtime.js';
import { createLambdaHandlers } from '../../lib/aws/lambda-handlers.js';
import { ensureTable } from '../../lib/aws/table.js';
import { ApiClient } from '../../lib/cli/api-client.js';
import { apiHistorySource } from '../../lib/cli/api-history-source.js';
import { runCli } from '../../lib/cli/main.js';
import { createJsonLogger, silentLogger, type App, type AppOptions, type HistoryEvent } from '../../lib/index.js';
import { serveHttpApi } from '../../lib/local/http-server.js';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.js';
import { HttpApi } from '../../lib/api/http-api.js';
import { createAppWithoutVersion1, createChangedApp } from '../cli/fixtures/changed-app.js';

const IN_FLIGHT = ['gate-approval-1', 'gate-approval-2', 'gate-pickup', 'gate-suspended'];

/** The reason a refused deploy gives; a gate that passes fails the test. */
const refusal = (answer: Promise<unknown>): Promise<string> =>
  answer.then(
    () => {
      throw new Error('the replay gate passed');
    },
    (error: Error) => error.message,
  );

/** Runs `fn` with what it writes to stdout (shadow replay's metric line) captured instead of printed. */
async function capturingStdout<T>(fn: () => Promise<T>): Promise<{ value: T; printed: string[] }> {
  const printed: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((line) => (printed.push(String(line)), true));
  try {
    return { value: await fn(), printed };
  } finally {
    stdout.mockRestore();
  }
}

describe('the replay gate, shadow replay and perdure deploy-check against DynamoDB Local', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-gate-'));
  let stack: LocalStack;
  let http: Awaited<ReturnType<typeof serveHttpApi>>;
  const runtimes: AwsRuntime[] = [];
  let logs: string[] = [];
  const logger = createJsonLogger({ level: 'info', write: (line) => logs.push(line) });

  /** The handlers module of `build` deployed over the local stack's table: what the new code would run. */
  const deployed = (build: (options: AppOptions) => App, tableName?: string) => {
    const app = build({ logger });
    const runtime = createAwsRuntime(app, { ...stack.config, ...(tableName ? { tableName } : {}) }, { logger: silentLogger });
    runtimes.push(runtime);
    return createLambdaHandlers(app, () => runtime);
  };
  const update = (from: number, to: number) => ({ RequestType: 'Update' as const, PhysicalResourceId: 'gate', ResourceProperties: { OrchestratorVersion: String(to) }, OldResourceProperties: { OrchestratorVersion: String(from) } });
  const cli = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, { out: (text) => out.push(text), err: (text) => err.push(text) }, { PERDURE_ENDPOINT: http.url });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    stack = await startLocalStack(createExampleApp({ logger: silentLogger }), { dataDir, logger: silentLogger });
    http = await serveHttpApi(new HttpApi({ client: stack.runtime.client, deadLetters: stack.runtime.deadLetters, replayFindings: stack.runtime.replayFindings }), 0);
    const client = stack.runtime.client;
    const order = (orderId: string, amount: number, pickupAfter = '1h'): Order => ({ orderId, customer: 'ada@example.com', amount, items: [{ sku: 'desk', quantity: 1 }], pickupAfter });
    // Two wait for approval, one for its pickup (past the invoice, a payload offloaded to S3), one is suspended.
    await client.start('order', order('a1', 5_000), { instanceId: 'gate-approval-1' });
    await client.start('order', order('a2', 7_000), { instanceId: 'gate-approval-2' });
    await client.start('order', order('p', 100), { instanceId: 'gate-pickup' });
    await client.start('order', order('s', 9_000), { instanceId: 'gate-suspended' });
    const reached = async (id: string, done: (events: HistoryEvent[]) => boolean) => {
      for (const deadline = Date.now() + 30_000; !done(await client.getHistory(id)); ) {
        if (Date.now() > deadline) throw new Error(`${id} did not get there`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const timer = (purpose: string) => (events: HistoryEvent[]) => events.some((e) => e.type === 'TimerCreated' && e.purpose === purpose);
    await Promise.all([...['gate-approval-1', 'gate-approval-2', 'gate-suspended'].map((id) => reached(id, timer('timeout'))), reached('gate-pickup', timer('sleep'))]);
    await client.suspend('gate-suspended');
    await reached('gate-suspended', (events) => events.some((e) => e.type === 'ExecutionSuspended'));
  }, 90_000);

  afterAll(async () => {
    for (const runtime of runtimes) for (const sdk of Object.values(runtime.clients)) sdk.destroy();
    await http?.close();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('passes a deploy of compatible code (the same, or a new version beside the old) and logs what it replayed', async () => {
    logs = [];
    await expect(deployed(createExampleApp).replayGate({ RequestType: 'Create', ResourceProperties: { OrchestratorVersion: '1' } })).resolves.toEqual({
      PhysicalResourceId: `perdure-replay-gate-${stack.config.tableName}`,
      Data: { Outcome: 'passed', InFlight: '4', Replayed: '4' },
    });
    const passed = JSON.parse(logs.find((line) => line.includes('replay gate'))!) as { report: string; failures: number };
    expect(passed.failures).toBe(0);
    expect(passed.report).toMatch(/^Checked table perdure-local: 4 instances in flight \(order@1: 4, 4 replayed\); replayed 4 \(up to the newest 10 of each version, \d+ events\), all replay\.\nSafe to deploy/);

    const withVersion2 = deployed((options) => createExampleApp(options).orchestration('order', async () => 'v2', { version: 2 }));
    await expect(withVersion2.replayGate(update(1, 2))).resolves.toMatchObject({ Data: { Outcome: 'passed' } });
  });

  it('refuses an incompatible change with the replay-check report: instance, name@version, position, recorded vs asked, code location', async () => {
    logs = [];
    const refused = await deployed(createChangedApp).replayGate(update(2, 3)).catch((error: Error) => error);
    expect(refused).toMatchObject({ name: 'ReplayGateRefusedError', code: 'REPLAY_GATE_REFUSED' });
    // CloudFormation takes 4 KB at most: the reason shows the first three; the log has the whole report.
    const reason = (refused as Error).message;
    expect(reason.length).toBeLessThan(2_800);
    expect(reason.match(/^FAIL gate-\S+ \(order@1, (Running|Suspended)\)$/gm)).toHaveLength(3);
    expect(reason).toMatch(/at position 1 \(history event 3\): history recorded callActivity\('reserveStock'\), the code asked for callActivity\('chargeCard'\) \(at .*changed-app\.ts:\d+:\d+\)/);
    expect(reason).toContain('... and 1 more (the full report is in the log).');
    expect(reason).toMatch(/4 no longer replay\.\nThis deploy would break instances in flight: refused\./);
    const logged = JSON.parse(logs.find((line) => line.includes('refused the deploy'))!) as { report: string };
    for (const id of IN_FLIGHT) expect(logged.report).toContain(`FAIL ${id} (order@1, ${id === 'gate-suspended' ? 'Suspended' : 'Running'})`);
    // Lambda reports the stack line by line and the provider framework appends them to the reason: one line only.
    expect((refused as Error).stack).toBe('ReplayGateRefusedError: the deploy would break instances in flight');
    expect(JSON.parse(logs.find((line) => line.includes('refused the deploy'))!)).toMatchObject({ level: 'error', failures: 4, orchestratorVersion: '3' });
  });

  it('refuses a deploy that unregisters a version with instances in flight, naming each', async () => {
    logs = [];
    const reason = await refusal(deployed(createAppWithoutVersion1).replayGate(update(3, 4)));
    for (const id of IN_FLIGHT) expect(logs.join('\n')).toContain(`FAIL ${id} (order@1,`);
    expect(reason).toContain("Orchestration 'order' has no version 1 registered (registered: 2)");
    expect(reason).toMatch(/4 instances are pinned to order@1, which the code no longer registers: keep that version registered until they finish/);
    expect(reason).toMatch(/4 instances in flight \(order@1: 4, NOT REGISTERED\); none replayed\.\n/);
    expect(reason).toMatch(/This deploy would break instances in flight: refused\.$/);
  });

  it('lets CloudFormation delete it and roll back to the running code without checking', async () => {
    const changed = deployed(createChangedApp);
    await expect(changed.replayGate({ RequestType: 'Delete', PhysicalResourceId: 'gate', ResourceProperties: {} })).resolves.toEqual({ PhysicalResourceId: 'gate' });
    await expect(changed.replayGate(update(5, 4))).resolves.toEqual({ PhysicalResourceId: 'gate', Data: { Outcome: 'rollback' } });
  });

  it('refuses, never passes, when the sample needs more than its budget or the check runs out of time', async () => {
    const gate = deployed(createExampleApp).replayGate;
    const budget = await refusal(gate({ ...update(1, 2), ResourceProperties: { OrchestratorVersion: '2', MaxEvents: '10' } }));
    expect(budget).toMatch(/^INCOMPLETE The sample needs more than its budget of 10 history events: gate-\S+ \(order@1\) has \d+ and 0 were replayed before it, in 0 histories\. Lower the sample per version or raise the budget/);
    expect(budget).toMatch(/Not checked to the end: the deploy is refused until the check can finish\.$/);
    const late = await refusal(gate(update(1, 2), { getRemainingTimeInMillis: () => 1_000 }));
    expect(late).toMatch(/^INCOMPLETE Ran out of time listing the instances in flight/);
  });

  it('passes on an empty table, saying that there was nothing to replay', async () => {
    await ensureTable(stack.runtime.clients.dynamodb, 'perdure-empty');
    logs = [];
    await expect(deployed(createChangedApp, 'perdure-empty').replayGate({ RequestType: 'Create', ResourceProperties: { OrchestratorVersion: '1' } })).resolves.toMatchObject({ Data: { Outcome: 'passed', InFlight: '0', Replayed: '0' } });
    expect(logs.join('\n')).toContain('No instance is in flight (Running, Pending, Suspended or Quarantined) in table perdure-empty: there is nothing to replay, so this deploy can break no instance.');
  });

  it('perdure deploy-check gives the same answer over the HTTP API, before cdk deploy', async () => {
    const same = await cli('deploy-check', '--app', 'functions/example-app.ts');
    expect(same).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^Checked ${http.url.replace(/[.]/g, '\\.')}: 4 instances in flight .*\nSafe to deploy`)) });
    expect((await cli('deploy-check', '--app', 'test/cli/fixtures/changed-app.ts', '--export', 'sideBySide')).code).toBe(0);

    const changed = await cli('deploy-check', '--app', 'test/cli/fixtures/changed-app.ts');
    expect(changed.code).toBe(1);
    logs = [];
    await refusal(deployed(createChangedApp).replayGate(update(6, 7)));
    const gateReport = (JSON.parse(logs.find((line) => line.includes('refused the deploy'))!) as { report: string }).report;
    const failures = (text: string) => text.split('\n').filter((line) => !line.startsWith('Checked '));
    expect(failures(changed.out)).toEqual(failures(gateReport));

    const removal = await cli('deploy-check', '--app', 'test/cli/fixtures/changed-app.ts', '--export', 'createAppWithoutVersion1', '--json');
    expect(removal.code).toBe(1);
    expect(JSON.parse(removal.out)).toMatchObject({ ok: false, inFlight: 4, replayed: 0, versions: [{ name: 'order', version: '1', inFlight: 4, registered: false }] });

    expect(await cli('deploy-check', '--app', 'functions/example-app.ts', '--sample', '1', '--max-events', '5')).toMatchObject({ code: 1, out: expect.stringMatching(/^INCOMPLETE The sample needs more than its budget of 5 history events/) });
  });

  it('reads histories over HTTP with offloaded payloads as references, and fetches one only when the code receives it', async () => {
    const source = apiHistorySource(new ApiClient({ endpoint: http.url }));
    const listed = await source.listInFlight('Running');
    const pickup = listed.instances.find((instance) => instance.instanceId === 'gate-pickup')!;
    expect(pickup).toMatchObject({ name: 'order', version: '1', status: 'Running', generation: 0 });
    const { events, loadPayload } = (await source.readHistory(pickup))!;
    const invoice = events.find((e) => e.type === 'ActivityCompleted' && typeof e.result === 'object' && e.result !== null && '$ref' in e.result);
    expect(invoice).toBeDefined();
    const loaded = (await loadPayload!((invoice as { result: unknown }).result)) as { pdfBase64: string };
    expect(loaded.pdfBase64).toHaveLength(300_000);
    expect(await loadPayload!({ inline: true })).toEqual({ inline: true });
    expect(await source.readHistory({ ...pickup, instanceId: 'gate-purged' })).toBeUndefined();
  });

  it('shadow replay stores what no longer replays, publishes a metric, and perdure replay-check --live lists it', async () => {
    expect(await cli('replay-check', '--live')).toMatchObject({ code: 0, out: 'Shadow replay has not run yet: the construct schedules it (hourly by default).' });
    const { value: run, printed } = await capturingStdout(() => deployed(createChangedApp).shadowReplay({ samplePerVersion: 2 }));
    expect(run).toMatchObject({ inFlight: 4, replayed: 2, diverged: 2 });
    const metric = JSON.parse(printed.find((line) => line.includes('CloudWatchMetrics'))!) as Record<string, unknown>;
    expect(metric).toMatchObject({ _aws: { CloudWatchMetrics: [{ Namespace: 'Perdure', Dimensions: [['Table']] }] }, Table: 'perdure-local', ReplayDivergences: 2, ReplaysChecked: 2, ReplayIncomplete: 0 });

    const { lastRun, findings } = await stack.runtime.replayFindings.list();
    expect(lastRun).toMatchObject({ inFlight: 4, replayed: 2, diverged: 2 });
    expect(findings).toHaveLength(2);
    for (const finding of findings) expect(finding).toMatchObject({ instanceId: expect.stringMatching(/^gate-/), orchestration: 'order@1', problem: expect.stringContaining("the code asked for callActivity('chargeCard')") });

    const live = await cli('replay-check', '--live');
    expect(live.code).toBe(1);
    expect(live.out).toMatch(/^FAIL gate-\S+ \(order@1, (Running|Suspended), found \S+\)\n {2}Orchestration 'order' version 1/);
    expect(live.out).toMatch(/Last shadow replay at \S+: 2 of 4 instances in flight replayed, 2 no longer replay\.$/);

    await capturingStdout(() => deployed(createExampleApp).shadowReplay({ samplePerVersion: 2 }));
    expect(await cli('replay-check', '--live')).toMatchObject({ code: 0, out: expect.stringMatching(/0 no longer replay\.$/) });
  });
});
