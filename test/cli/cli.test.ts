import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExampleApp } from '../../functions/example-app.js';
import { ApiClient } from '../../lib/cli/api-client.js';
import { runCli } from '../../lib/cli/main.js';
import { serveUiProxy } from '../../lib/cli/ui-proxy.js';
import { silentLogger } from '../../lib/index.js';
import { serveHttpApi } from '../../lib/local/http-server.js';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.js';
import { HttpApi } from '../../lib/api/http-api.js';
import { rawExchange, rawRequest } from '../local/raw-http.js';
import { waitUntil } from '../support.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Polls what the CLI or the stack reports, every 100 ms, for up to 30 s (or `timeoutMs`). */
const waitFor = (check: () => Promise<boolean>, timeoutMs = 30_000) => waitUntil(check, { timeoutMs, everyMs: 100 });

describe('the perdure CLI against the local stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-cli-'));
  const outDir = mkdtempSync(join(tmpdir(), 'perdure-cli-out-'));
  const app = createExampleApp({ logger: silentLogger });
  app.orchestration('cliApproval', async (ctx) => {
    try {
      return await ctx.waitForCallback<unknown>('manager', () => undefined, { heartbeatTimeout: '1h' });
    } catch (error) {
      return { caught: ((error as Error).cause as Error).name, message: (error as Error).message };
    }
  });
  // Beside the example: an orchestration that fails until its stock service is "fixed", and one that publishes a custom status.
  let stockServiceUp = false;
  app.activity('checkStock', async (sku: string) => {
    if (!stockServiceUp) throw new Error('stock service down');
    return `${sku} in stock`;
  });
  app.orchestration('restock', async (ctx, sku: string) => {
    ctx.setStatus({ sku, stage: 'checking' });
    return ctx.callActivity<string>('checkStock', sku);
  });
  app.orchestration('watch', async (ctx) => {
    ctx.setStatus({ stage: 'watching', note: 'n'.repeat(60) });
    return ctx.waitForEvent('stop');
  });

  let stack: LocalStack;
  let http: Awaited<ReturnType<typeof serveHttpApi>>;
  const cli = async (...argv: string[]): Promise<Run> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, { out: (text) => out.push(text), err: (text) => err.push(text) }, { PERDURE_ENDPOINT: http.url });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const statusOf = async (id: string) => (JSON.parse((await cli('status', id, '--json')).out) as { status: string }).status;

  beforeAll(async () => {
    stack = await startLocalStack(app, { dataDir, visibilityTimeout: 2, functionTimeout: 1, poisonAfterCrashes: 2, maxTimerHopSeconds: 1, logger: silentLogger, apiUrl: () => http?.url });
    http = await serveHttpApi(new HttpApi({ client: stack.runtime.client, deadLetters: stack.runtime.deadLetters, schedules: stack.runtime.schedules, callbackUrls: stack.runtime.callbackUrls }), 0);
  });
  afterAll(async () => {
    await http?.close();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  });

  it('runs an order from start to finish: start, raise-event, status, history, list, versions', async () => {
    const order = { orderId: 'c-1', customer: 'ada', amount: 1500, items: [{ sku: 'desk', quantity: 1 }], pickupAfter: '1s' };
    expect(await cli('start', 'order', '--id', 'cli-order', '--input', JSON.stringify(order))).toMatchObject({ code: 0, out: 'cli-order' });
    const duplicate = await cli('start', 'order', '--id', 'cli-order', '--input', '{}');
    expect(duplicate.code).toBe(1);
    expect(duplicate.err).toMatch(/already exists/);

    await waitFor(async () => (await cli('history', 'cli-order')).out.includes('ActivityCompleted'));
    const versions = await cli('versions', '--app', 'test/cli/fixtures/changed-app.ts', '--export', 'sideBySide');
    expect(versions.code).toBe(0);
    expect(versions.out).toMatch(/order\s+1\s+0\s+1\s+0\s+0\s+1\s+keep/);
    expect(versions.out).toMatch(/order\s+2\s+0\s+0\s+0\s+0\s+0\s+latest/);
    expect(versions.out).toMatch(/shipping\s+1\s+.*latest/);

    expect(await cli('raise-event', 'cli-order', 'approval', '--data', '{"approved":true}')).toMatchObject({ code: 0 });
    await waitFor(async () => (await statusOf('cli-order')) === 'Completed');

    const status = await cli('status', 'cli-order');
    expect(status.out).toMatch(/orchestration\s+order@1/);
    expect(status.out).toMatch(/status\s+Completed/);
    expect(status.out).toMatch(/output\s+\{"orderId":"c-1","status":"shipped"/);

    const history = await cli('history', 'cli-order');
    expect(history.out.split('\n')[0]).toMatch(/^#\s+time\s+event\s+task\s+details$/);
    expect(history.out).toMatch(/ActivityScheduled\s+1\s+reserveStock attempt 1/);
    expect(history.out).toMatch(/EventRaised\s+approval \{"approved":true\}/);
    expect(history.out).toMatch(/TimerCreated\s+\d+\s+sleep until/);
    expect(history.out).toMatch(/ExecutionCompleted\s+output/);

    const list = await cli('list', '--status', 'Completed', '--name', 'order');
    expect(list.out).toMatch(/cli-order\s+order@1\s+Completed/);
    expect(JSON.parse((await cli('list', '--json', '--limit', '1')).out)).toMatchObject({ instances: [expect.objectContaining({ instanceId: expect.any(String) })] });
  });

  it('perdure cost prints an order\'s bill and the bills of a window by orchestration, with prices from a file', async () => {
    const bill = await cli('cost', 'cli-order');
    expect(bill.code).toBe(0);
    expect(bill.out).toMatch(/^Instance cli-order \(order, Completed\): \d+ steps, \d+ attempts/);
    expect(bill.out).toMatch(/DynamoDB writes\s+\d+ WRU\s+\$\d/);
    expect(bill.out).toMatch(/SQS FIFO\s+\d+ requests/);
    expect(bill.out).toMatch(/Lambda duration\s+[\d.]+ GB-s \(\d+ ms, arm64\)/);
    expect(bill.out).toMatch(/Total \$\d/);
    expect(bill.out).toMatch(/DynamoDB\.PutItem\s+\d/);
    const json = JSON.parse((await cli('cost', 'cli-order', '--json')).out) as { cost: { ledger: { steps: number }; totalUsd: number } };
    expect(json.cost.ledger.steps).toBeGreaterThan(3);

    const pricesDir = mkdtempSync(join(tmpdir(), 'perdure-prices-'));
    const prices = join(pricesDir, 'prices.json');
    writeFileSync(prices, JSON.stringify({ lambdaArchitecture: 'x86_64' }));
    expect((await cli('cost', 'cli-order', '--prices', prices)).out).toMatch(/Lambda duration\s+[\d.]+ GB-s \(\d+ ms, x86_64\)/);

    const window = await cli('cost', '--since', '1d', '--by', 'name');
    expect(window.code).toBe(0);
    expect(window.out.split('\n')[0]).toMatch(/^orchestration\s+instances\s+steps\s+attempts\s+requests\s+WRU\s+RRU\s+GB-s\s+USD$/);
    expect(window.out).toMatch(/\norder\s+\d+\s+\d+/);

    writeFileSync(prices, JSON.stringify({ lambdaPerGbSecnd: 1 }));
    expect(await cli('cost', 'cli-order', '--prices', prices)).toMatchObject({ code: 1, err: expect.stringMatching(/unknown price 'lambdaPerGbSecnd'/) });
    rmSync(pricesDir, { recursive: true, force: true });
    expect(await cli('cost', '--since', '1d', '--by', 'status')).toMatchObject({ code: 1, err: expect.stringMatching(/--by takes name \(one row per orchestration\), got "status"/) });
    expect(await cli('cost')).toMatchObject({ code: 1, err: expect.stringMatching(/Name an instance \(perdure cost order-42\), or select instances with --since/) });
    expect(await cli('cost', 'cli-order', '--since', '1d')).toMatchObject({ code: 1, err: expect.stringMatching(/not both/) });
  });

  it('exports histories that replay-check accepts with the current code and rejects after an incompatible change', async () => {
    const exported = await cli('export-history', 'cli-order', '--out', outDir);
    expect(exported).toMatchObject({ code: 0, err: expect.stringMatching(/Exported 1 history/) });
    expect(readdirSync(outDir)).toEqual(['cli-order.history.json']);

    const ok = await cli('replay-check', '--app', 'functions/example-app.ts', outDir, 'test/histories');
    const golden = readdirSync('test/histories').filter((name) => name.endsWith('.history.json')).length;
    expect(ok).toMatchObject({ code: 0, out: `${golden + 1} of ${golden + 1} histories replay.` });

    const broken = await cli('replay-check', '--app', 'test/cli/fixtures/changed-app.ts', outDir);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/^FAIL cli-order \(order@1\) in .*cli-order\.history\.json\n {2}.*position|event/);
    expect(broken.out).toMatch(/reserveStock/);
    expect(broken.out).toMatch(/chargeCard/);
    expect(broken.out).toMatch(/0 of 1 histories replay; 1 no longer do\./);

    // --payloads keep leaves the offloaded invoice as a reference; --status selects by status.
    const kept = mkdtempSync(join(tmpdir(), 'perdure-cli-keep-'));
    expect((await cli('export-history', '--status', 'Completed', '--since', '1h', '--name', 'order', '--payloads', 'keep', '--out', kept)).code).toBe(0);
    const file = JSON.parse(readFileSync(join(kept, 'cli-order.history.json'), 'utf8')) as { events: { type: string; result?: unknown }[] };
    const invoice = file.events.filter((e) => e.type === 'ActivityCompleted').map((e) => e.result as { $ref?: { key: string; size: number } });
    expect(invoice.some((result) => result.$ref?.key.startsWith('payloads/cli-order/') && result.$ref.size > 300_000)).toBe(true);
    rmSync(kept, { recursive: true });
  });

  it('suspends, resumes, terminates and purges, and says what to do when an action does not fit', async () => {
    expect((await cli('start', 'order', '--id', 'cli-wait', '--input', JSON.stringify({ orderId: 'w', customer: 'w', amount: 5000, items: [] }))).code).toBe(0);
    await waitFor(async () => (await statusOf('cli-wait')) === 'Running');
    const purgeRunning = await cli('purge', 'cli-wait');
    expect(purgeRunning).toMatchObject({ code: 1, err: expect.stringMatching(/Terminate it first/) });
    expect((await cli('suspend', 'cli-wait', '--reason', 'maintenance')).code).toBe(0);
    await waitFor(async () => (await statusOf('cli-wait')) === 'Suspended');
    expect((await cli('resume', 'cli-wait')).code).toBe(0);
    await waitFor(async () => (await statusOf('cli-wait')) === 'Running');
    expect((await cli('terminate', 'cli-wait', '--reason', 'test')).code).toBe(0);
    await waitFor(async () => (await statusOf('cli-wait')) === 'Terminated');
    expect((await cli('purge', 'cli-wait')).code).toBe(0);
    const gone = await cli('status', 'cli-wait');
    expect(gone).toMatchObject({ code: 1, err: expect.stringMatching(/No orchestration instance 'cli-wait' exists: check the id/) });
  });

  it('shows the custom status and the cancellation in status and list', async () => {
    expect((await cli('start', 'watch', '--id', 'cli-watch')).code).toBe(0);
    await waitFor(async () => (await cli('status', 'cli-watch')).out.includes('custom status'));
    const status = await cli('status', 'cli-watch');
    expect(status.out).toMatch(/custom status +\{"stage":"watching","note":"n{60}"\}/);
    expect(status.out).not.toMatch(/cancel /);
    const list = await cli('list', '--name', 'watch');
    expect(list.out.split('\n')[0]).toMatch(/^instance\s+orchestration\s+status\s+events\s+updated\s+custom status$/);
    expect(list.out).toMatch(/cli-watch\s+watch@1\s+Running\s+\d+\s+\S+\s+\{"stage":"watching","note":"n{11}…$/m);

    expect(await cli('cancel', 'cli-watch', '--reason', 'no longer needed')).toMatchObject({ code: 0, err: 'Cancellation of cli-watch requested.' });
    await waitFor(async () => (await statusOf('cli-watch')) === 'Cancelled');
    const cancelled = await cli('status', 'cli-watch');
    expect(cancelled.out).toMatch(/status\s+Cancelled/);
    expect(cancelled.out).toMatch(/cancel\s+requested \d{4}-\d\d-\d\dT[\d:.]+Z: no longer needed/);
    expect(cancelled.out).toMatch(/error\s+CancelledError \(CANCELLED\): Instance 'cli-watch' was cancelled: no longer needed/);
    expect(JSON.parse((await cli('status', 'cli-watch', '--json')).out)).toMatchObject({ customStatus: { stage: 'watching' }, cancelRequested: { reason: 'no longer needed' } });
    expect(await cli('cancel', 'cli-watch')).toMatchObject({ code: 1, err: expect.stringMatching(/already Cancelled/) });
  });

  it('rewinds one Failed instance, then every Failed one of an orchestration in a window, one line each', async () => {
    for (const n of [1, 2, 3]) expect((await cli('start', 'restock', '--id', `cli-restock-${n}`, '--input', `"sku-${n}"`)).code).toBe(0);
    for (const n of [1, 2, 3]) await waitFor(async () => (await statusOf(`cli-restock-${n}`)) === 'Failed');
    expect((await cli('status', 'cli-restock-1')).out).toMatch(/error\s+ActivityFailedError.*stock service down/);

    stockServiceUp = true; // the fix is deployed
    expect(await cli('rewind', 'cli-restock-1')).toMatchObject({ code: 0, err: 'Rewind of cli-restock-1 requested: its failed calls run again.' });
    await waitFor(async () => (await statusOf('cli-restock-1')) === 'Completed');

    const all = await cli('rewind', '--status', 'Failed', '--since', '1h', '--name', 'restock');
    expect(all).toMatchObject({ code: 0, out: 'Rewound 2 of 2 Failed instances.' });
    expect(all.err.split('\n').sort()).toEqual(['rewound cli-restock-2', 'rewound cli-restock-3']);
    for (const n of [2, 3]) await waitFor(async () => (await statusOf(`cli-restock-${n}`)) === 'Completed');
    expect(JSON.parse((await cli('status', 'cli-restock-3', '--json')).out)).toMatchObject({ status: 'Completed', output: 'sku-3 in stock' });

    expect(await cli('rewind', '--status', 'Failed', '--since', '1h', '--name', 'restock')).toMatchObject({ code: 0, out: 'No Failed instance of restock was updated in the last 1h: nothing to rewind.' });
    expect(await cli('rewind', 'cli-restock-1')).toMatchObject({ code: 1, err: expect.stringMatching(/it is Completed, and only a Failed instance can be rewound/) });
  });

  it('lists, shows and redrives dead letters with a summary', async () => {
    // A task back in the dead-letter queue after its last round: its handler fails the call and keeps it.
    const task = { instanceId: 'cli-poison', generation: 0, taskId: 1, name: 'hang', input: { j: '{}' }, attempt: 1, idempotencyKey: 'cli-poison:0:1', dlqRounds: 3 };
    await stack.runtime.clients.sqs.send(new SendMessageCommand({ QueueUrl: stack.config.queues.activityDeadLetters!, MessageBody: JSON.stringify(task) }));
    await waitFor(async () => (await stack.runtime.deadLetters.list('activities')).deadLetters.some((letter) => letter.instanceId === 'cli-poison'), 40_000);
    const listed = await cli('dlq', 'list', 'activities');
    expect(listed.out).toMatch(/cli-poison/);
    const messageId = (JSON.parse((await cli('dlq', 'list', 'activities', '--json')).out) as { deadLetters: { messageId: string; instanceId: string }[] }).deadLetters.find((d) => d.instanceId === 'cli-poison')!.messageId;
    expect(JSON.parse((await cli('dlq', 'show', 'activities', messageId)).out)).toMatchObject({ messageId, instanceId: 'cli-poison', message: { name: 'hang' } });
    const missing = await cli('dlq', 'redrive', 'activities', 'no-such-message');
    expect(missing).toMatchObject({ code: 1, err: expect.stringMatching(/No dead letter "no-such-message"/) });
    const all = await cli('dlq', 'redrive', 'activities', '--all');
    expect(all).toMatchObject({ code: 0, out: expect.stringMatching(/^Redriven 1 of 1/) });
  }, 60_000);

  it.each([
    [['frobnicate'], 2, /Unknown command "frobnicate"/],
    [['dlq'], 2, /needs a subcommand: list, show, redrive/],
    [['status'], 2, /Missing arguments/],
    [['status', 'a', 'b'], 2, /Unexpected argument "b"/],
    [['list', '--colour'], 2, /Unknown option '--colour'/],
    [['start', 'order', '--input', '{oops'], 1, /--input is not valid JSON/],
    [['start', 'order', '--input-file', '/no/such/file.json'], 1, /Cannot read --input-file \/no\/such\/file.json: ENOENT/],
    [['start', 'nope'], 1, /No orchestration named 'nope'/],
    [['list', '--status', 'Sleeping'], 1, /Unknown status "Sleeping": use one of/],
    [['list', '--limit', '0'], 1, /--limit must be an integer from 1 to 1000/],
    [['dlq', 'list', 'letters'], 1, /use activities or orchestrations/],
    [['dlq', 'redrive', 'activities'], 1, /or pass --all/],
    [['export-history'], 1, /Name the instances to export, or select them with --status/],
    [['export-history', '--status', 'Completed', '--since', 'a week'], 1, /--since/],
    [['replay-check', 'test/histories'], 1, /needs --app/],
    [['replay-check', '--app', 'test/cli/fixtures/nope.ts', 'test/histories'], 1, /Cannot load the app module/],
    [['replay-check', '--app', 'functions/example-app.ts', 'no-such-folder'], 1, /No such file or folder: no-such-folder/],
    [['replay-check', '--app', 'functions/example-app.ts'], 1, /Name the history files or folders to replay .* or pass --live/],
    [['replay-check', '--live', 'test/histories'], 1, /Pass --live or history files, not both/],
    [['deploy-check'], 1, /deploy-check needs --app <module>/],
    [['deploy-check', '--app', 'test/cli/fixtures/nope.ts'], 1, /Cannot load the app module test\/cli\/fixtures\/nope\.ts/],
    [['deploy-check', '--app', 'test/cli/fixtures/broken-app.ts'], 1, /Cannot load the app module test\/cli\/fixtures\/broken-app\.ts: the app needs ORDERS_TABLE to be set/],
    [['deploy-check', '--app', 'functions/example-app.ts', '--sample', '0'], 1, /--sample must be an integer from 1 to 1000/],
    [['deploy-check', 'extra'], 2, /Unexpected argument "extra"/],
    [['rewind'], 1, /Name the instance to rewind, or select Failed instances with --status Failed --since 1d/],
    [['rewind', 'cli-order', '--status', 'Failed'], 1, /Pass an instance id or --status Failed .*, not both/],
    [['rewind', '--status', 'Running', '--since', '1d'], 1, /Only Failed instances can be rewound, not Running: pass --status Failed/],
    [['rewind', '--status', 'Broken', '--since', '1d'], 1, /Unknown status "Broken"/],
    [['rewind', '--status', 'Failed'], 1, /--status Failed needs --since, e.g. --since 1d/],
    [['rewind', '--status', 'Failed', '--since', 'yesterday'], 1, /Invalid --since "yesterday"/],
    [['rewind', 'no-such-instance'], 1, /No orchestration instance 'no-such-instance' exists/],
    [['cancel', 'cli-order'], 1, /already Completed/],
    [['restart', 'cli-order'], 1, /it is Completed; only Failed, Terminated, Cancelled instances can be restarted/],
    [['status', 'x', '--endpoint', 'not a url'], 1, /is not a URL/],
    [['status', 'x', '--endpoint', 'http://127.0.0.1:9'], 1, /Cannot reach the Perdure API at http:\/\/127.0.0.1:9 .*npm start/],
    [['status', 'x', '--auth', 'magic'], 1, /--auth must be none, iam or token/],
    [['status', 'x', '--auth', 'token'], 1, /needs a token/],
    [['status', 'x', '--endpoint', 'http://api.example.com', '--token', 't'], 1, /Refusing to send credentials over plain http/],
  ])('%j exits %i with a message that says what to fix', async (argv, code, message) => {
    const run = await cli(...argv);
    expect(run.code).toBe(code);
    expect(run.err).toMatch(message);
  });

  it('perdure ui serves the web view and forwards its API calls to the browser that opened its address', async () => {
    const proxy = await serveUiProxy(new ApiClient({ endpoint: http.url }), 0);
    try {
      expect(proxy.openUrl).toMatch(new RegExp(`^${proxy.url}/ui\\?key=[A-Za-z0-9_-]{43}$`));
      const opened = await rawRequest(proxy.openUrl, 'GET', { 'sec-fetch-site': 'none' });
      expect(opened.status).toBe(303);
      expect(opened.headers.location).toBe('/ui');
      const cookie = String(opened.headers['set-cookie']);
      expect(cookie).toMatch(new RegExp(`^perdure-ui-${new URL(proxy.url).port}=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=/$`));
      const withCookie = { cookie: cookie.split(';')[0]! };
      const page = await rawRequest(`${proxy.url}/ui`, 'GET', withCookie);
      expect(page.status).toBe(200);
      expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/);
      expect(page.body).toMatch(/<html/i);
      const listed = await rawRequest(`${proxy.url}/instances?status=Completed&name=order`, 'GET', withCookie);
      expect((JSON.parse(listed.body) as { instances: { instanceId: string }[] }).instances.map((i) => i.instanceId)).toContain('cli-order');
      expect((await rawRequest(`${proxy.url}/instances/nope`, 'GET', withCookie)).status).toBe(404);
    } finally {
      await proxy.close();
    }
  });

  it('lists, triggers, pauses and resumes schedules', async () => {
    const listed = await cli('schedule', 'list');
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(/^schedule\s+expression\s+time zone\s+next firing\s+last instance\s+status\s+paused\n/);
    expect(listed.out).toMatch(/\nnightlyReport\s+cron\(0 2 \* \* \? \*\)\s+Europe\/Paris\s+\d{4}-\d\d-\d\dT\d\d:00:00\.000Z\s+no$/);
    const triggered = await cli('schedule', 'trigger', 'nightlyReport');
    expect(triggered).toMatchObject({ code: 0, out: expect.stringMatching(/^Started sched-nightlyReport-manual-\S+\.$/) });
    const id = /^Started (\S+)\.$/.exec(triggered.out)![1]!;
    await waitFor(async () => (await statusOf(id)) === 'Completed');
    expect(await cli('schedule', 'pause', 'nightlyReport')).toMatchObject({ code: 0, out: 'Schedule nightlyReport is paused.' });
    const [schedule] = JSON.parse((await cli('schedule', 'list', '--json')).out) as Record<string, any>[];
    expect(schedule).toMatchObject({ name: 'nightlyReport', paused: true, pausedBy: 'operator', lastInstance: { instanceId: id, status: 'Completed' } });
    expect((await cli('schedule', 'list')).out).toMatch(new RegExp(`${id.replace(/[.]/g, '\\.')}\\s+Completed\\s+yes$`));
    expect((await cli('schedule', 'resume', 'nightlyReport')).out).toMatch(/^Schedule nightlyReport is active; next firing \d{4}-\d\d-\d\dT/);
    expect(await cli('schedule', 'trigger', 'weekly')).toMatchObject({ code: 1, err: expect.stringMatching(/^Error: No schedule named 'weekly' is defined \(defined: nightlyReport\)/) });
    expect(await cli('schedule')).toMatchObject({ code: 2, err: 'perdure schedule needs a subcommand: list, trigger, pause, resume.' });
  });

  it('lists the callbacks an instance waits for, completes, fails and heartbeats them, and signs URLs for a third party', async () => {
    const waiting = async (id: string) => {
      expect((await cli('start', 'cliApproval', '--id', id)).code).toBe(0);
      await waitFor(async () => (JSON.parse((await cli('callbacks', id, '--json')).out || '[]') as unknown[]).length === 1);
      return (JSON.parse((await cli('callbacks', id, '--json')).out) as { token: string }[])[0]!.token;
    };
    const token = await waiting('cli-cb-1');
    const listed = await cli('callbacks', 'cli-cb-1');
    expect(listed.out.split('\n')[0]).toMatch(/^name\s+position\s+created\s+expires\s+heartbeat by\s+token$/);
    expect(listed.out).toMatch(new RegExp(`manager\\s+1\\s+\\S+\\s+\\S+ \\(every 1h\\)\\s+${token.replace(/\./g, '\\.')}`));
    expect(await cli('callback', 'heartbeat', token)).toMatchObject({ code: 0, err: 'Heartbeat sent to cli-cb-1.' });
    expect(await cli('callback', 'succeed', token, '{"approved":true}')).toMatchObject({ code: 0, err: 'Callback of cli-cb-1 completed.' });
    expect(await cli('callback', 'succeed', token, '{"approved":true}')).toMatchObject({ code: 0, err: 'The callback of cli-cb-1 was already completed with exactly this: nothing was written.' });
    expect(await cli('callback', 'succeed', token, '{"approved":false}')).toMatchObject({ code: 1, err: expect.stringMatching(/^Error: Cannot complete the callback 'manager' of instance 'cli-cb-1': it was already completed at/) });
    await waitFor(async () => (await statusOf('cli-cb-1')) === 'Completed');
    expect((await cli('callbacks', 'cli-cb-1')).err).toBe('Instance cli-cb-1 waits for no callback.');

    const second = await waiting('cli-cb-2');
    expect(await cli('callback', 'fail', second)).toMatchObject({ code: 1, err: expect.stringMatching(/needs --message/) });
    expect(await cli('callback', 'fail', second, '--name', 'Declined', '--message', 'over budget', '--details', '{"limit":100}')).toMatchObject({ code: 0, err: 'Callback of cli-cb-2 failed.' });
    await waitFor(async () => (await statusOf('cli-cb-2')) === 'Completed');
    expect(JSON.parse((await cli('status', 'cli-cb-2', '--json')).out)).toMatchObject({ output: { caught: 'Declined', message: expect.stringMatching(/Declined: over budget/) } });

    const third = await waiting('cli-cb-3');
    const urls = await cli('callback', 'urls', third, '--expires-in', '2d');
    expect(urls).toMatchObject({ code: 0, err: expect.stringMatching(/^Valid until .*POST to them/) });
    const succeed = /^succeed\s+(\S+)$/m.exec(urls.out)![1]!;
    expect(succeed.startsWith(`${http.url}/signed/callbacks/${third}/succeed?expires=`)).toBe(true);
    const answered = await fetch(succeed, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '"signed"' });
    expect(answered.status).toBe(202);
    await waitFor(async () => (await statusOf('cli-cb-3')) === 'Completed');
    expect((await cli('callback', 'urls', third)).err).toMatch(/has no open callback with this token/);

    expect(await cli('callback', 'succeed', 'not-a-token')).toMatchObject({ code: 1, err: expect.stringMatching(/^Error: Invalid callback token/) });
    expect(await cli('callback', 'succeed', third, '{not json')).toMatchObject({ code: 1, err: expect.stringMatching(/The result is not valid JSON/) });
    expect(await cli('callback')).toMatchObject({ code: 2, err: 'perdure callback needs a subcommand: succeed, fail, heartbeat, urls.' });
  });

  it('prints help for every command', async () => {
    for (const command of ['callbacks', 'callback succeed', 'callback fail', 'callback heartbeat', 'callback urls', 'ui', 'start', 'status', 'history', 'raise-event', 'terminate', 'suspend', 'resume', 'cancel', 'rewind', 'restart', 'purge', 'list', 'versions', 'export-history', 'replay-check', 'deploy-check', 'dlq list', 'dlq show', 'dlq redrive', 'schedule list', 'schedule trigger', 'schedule pause', 'schedule resume']) {
      const help = await cli(...command.split(' '), '--help');
      expect(help.code).toBe(0);
      expect(help.out).toMatch(new RegExp(`^Usage: perdure ${command}`));
      expect(help.out).toMatch(/--endpoint/);
    }
  });

  it('runs as a program: exit codes and streams', async () => {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'lib/cli/bin.ts', '--help']);
    expect(stdout).toMatch(/^Usage: perdure <command>/);
    const failed = await run(process.execPath, ['--import', 'tsx', 'lib/cli/bin.ts', 'status', 'x', '--endpoint', 'http://127.0.0.1:9']).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 1, stderr: expect.stringMatching(/Cannot reach the Perdure API/) });
  });
});

describe('perdure rewind --status Failed against an API whose listing spans pages', () => {
  const HOUR = 3_600_000;
  const requests: string[] = [];
  let server: Server;
  let endpoint: string;
  const instance = (instanceId: string, agoMs: number) => ({ instanceId, name: 'order', version: '1', status: 'Failed', generation: 0, historyLength: 4, createdAt: new Date(Date.now() - agoMs).toISOString(), updatedAt: new Date(Date.now() - agoMs).toISOString() });

  beforeAll(async () => {
    // Two pages of Failed orders; 'old' failed 3 days ago; 'busy' was rewound by someone else meanwhile.
    server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url}`);
      const url = new URL(request.url!, 'http://x');
      const reply = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (request.method === 'GET' && url.pathname === '/instances') {
        return url.searchParams.get('cursor') === 'page-2'
          ? reply(200, { instances: [instance('busy', 2 * HOUR), instance('late', 10 * 60_000)] })
          : reply(200, { instances: [instance('early', HOUR), instance('old', 72 * HOUR)], cursor: 'page-2' });
      }
      if (request.method === 'POST' && url.pathname === '/instances/busy/rewind') return reply(409, { error: { code: 'INVALID_STATE', message: "Cannot rewind instance 'busy': it is Running, and only a Failed instance can be rewound." } });
      if (request.method === 'POST' && /^\/instances\/[^/]+\/rewind$/.test(url.pathname)) return reply(202, { instanceId: url.pathname.split('/')[2], status: 'Running' });
      reply(404, { error: { code: 'ROUTE_NOT_FOUND', message: 'no' } });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server?.close();
  });

  const rewindAll = async (terminal: boolean) => {
    const out: string[] = [];
    const err: string[] = [];
    const progress: string[] = [];
    requests.length = 0;
    const code = await runCli(['rewind', '--status', 'Failed', '--since', '1d', '--name', 'order', '--endpoint', endpoint], {
      out: (text) => out.push(text),
      err: (text) => err.push(text),
      ...(terminal ? { progress: (text: string) => progress.push(text) } : {}),
    });
    return { code, out: out.join('\n'), err, progress };
  };

  it('follows the cursor, keeps the window, and rewinds each: a refusal is reported and the others still go', async () => {
    const run = await rewindAll(false);
    expect(requests).toEqual([
      'GET /instances?status=Failed&name=order&limit=1000',
      'GET /instances?status=Failed&name=order&limit=1000&cursor=page-2',
      'POST /instances/early/rewind',
      'POST /instances/busy/rewind',
      'POST /instances/late/rewind',
    ]);
    expect(run.code).toBe(1);
    expect(run.err).toEqual(['rewound early', "failed  busy: Cannot rewind instance 'busy': it is Running, and only a Failed instance can be rewound.", 'rewound late']);
    expect(run.out).toBe("Rewound 2 of 3 Failed instances; 1 could not be:\n  busy: Cannot rewind instance 'busy': it is Running, and only a Failed instance can be rewound.");
  });

  it('on a terminal, shows a progress bar instead of a line per instance', async () => {
    const run = await rewindAll(true);
    expect(run.err).toEqual([]);
    expect(run.progress).toEqual([`[${'#'.repeat(10)}${'-'.repeat(20)}] 1/3`, `[${'#'.repeat(20)}${'-'.repeat(10)}] 2/3`, `[${'#'.repeat(30)}] 3/3`]);
    expect(run.out).toMatch(/^Rewound 2 of 3 Failed instances; 1 could not be:/);
  });
});

describe('perdure ui against requests not from the browser that opened it', () => {
  const forwarded: string[] = [];
  let upstream: Server;
  let proxy: Awaited<ReturnType<typeof serveUiProxy>>;
  let port: number;
  let cookie: string;

  beforeAll(async () => {
    // A stand-in for the deployed API that records what reached it.
    upstream = createServer((request, response) => {
      forwarded.push(`${request.method} ${request.url}`);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"instances":[]}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    proxy = await serveUiProxy(new ApiClient({ endpoint: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }), 0);
    port = Number(new URL(proxy.url).port);
    cookie = String((await rawRequest(proxy.openUrl, 'GET')).headers['set-cookie']).split(';')[0]!;
  });
  afterAll(async () => {
    await proxy?.close();
    upstream?.close();
  });

  it('forwards a request from its own page, with the cookie', async () => {
    forwarded.length = 0;
    const own = await rawRequest(`${proxy.url}/instances/o-1/terminate`, 'POST', { cookie, origin: proxy.url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }, '{}');
    expect(own.status).toBe(200);
    expect(forwarded).toEqual(['POST /instances/o-1/terminate']);
  });

  it('is not locked out by a cookie of the same name that a page on another port set first', async () => {
    forwarded.length = 0;
    const tossed = await rawRequest(`${proxy.url}/instances`, 'GET', { cookie: `perdure-ui-${port}=tossed; ${cookie}` });
    expect(tossed.status).toBe(200);
    expect(forwarded).toEqual(['GET /instances']);
  });

  it.each([
    ['a read without the cookie (another local user or process)', 'GET', '/instances?payloads=true', {}],
    ['a write without the cookie', 'POST', '/instances/o-1/terminate', { 'content-type': 'application/json' }],
    ['the page without the cookie', 'GET', '/ui', {}],
    ['a cookie with another key', 'GET', '/instances', { cookie: 'COOKIE_NAME=not-the-key' }],
    ['the address with another key', 'GET', '/ui?key=not-the-key', {}],
    ['an image on another site (Sec-Fetch-Site: cross-site), with the cookie', 'GET', '/instances?payloads=true', { cookie: 'COOKIE', 'sec-fetch-site': 'cross-site' }],
    ['a page on another port of 127.0.0.1 (same-site: it is sent the cookie)', 'GET', '/instances', { cookie: 'COOKIE', 'sec-fetch-site': 'same-site' }],
    ['a form post from another site, with the cookie', 'POST', '/instances/o-1/terminate', { cookie: 'COOKIE', origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }],
    ['a write without Content-Type: application/json, with the cookie', 'POST', '/instances/o-1/terminate', { cookie: 'COOKIE' }],
    ['a rebound host name, with the cookie', 'GET', '/instances', { cookie: 'COOKIE', host: 'attacker.example:PORT' }],
  ])('refuses %s and forwards nothing', async (_what, method, path, headers: Record<string, string>) => {
    forwarded.length = 0;
    const filled = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, value.replace('COOKIE_NAME', `perdure-ui-${port}`).replace('COOKIE', cookie).replace('PORT', String(port))]));
    const response = await rawRequest(`${proxy.url}${path}`, method, filled);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect((JSON.parse(response.body) as { error: { message: string } }).error.message).toMatch(/perdure ui|refused|answers only|Content-Type: application\/json/);
    expect(forwarded).toEqual([]);
  });

  it('refuses an absolute request target, which could point the signed request elsewhere', async () => {
    forwarded.length = 0;
    const { status } = await rawExchange(port, `GET http://evil.example/instances HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`);
    expect(status).toBe(400);
    expect(forwarded).toEqual([]);
  });
});

describe('the CLI against a deployed API', () => {
  it('signs requests with SigV4 for execute-api when --auth iam, from the standard credential chain', async () => {
    const { createServer } = await import('node:http');
    const seen: Record<string, string | string[] | undefined>[] = [];
    const server = createServer((request, response) => {
      seen.push(request.headers);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ instances: [] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'session' });
    try {
      const out: string[] = [];
      const code = await runCli(['list', '--auth', 'iam', '--region', 'eu-west-1', '--endpoint', `http://127.0.0.1:${port}/prod`], { out: (t) => out.push(t), err: () => undefined });
      expect(code).toBe(0);
      const authorization = String(seen[0]!.authorization);
      expect(authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host;[a-z0-9;-]*x-amz-date[a-z0-9;-]*, Signature=[0-9a-f]{64}$/);
      expect(seen[0]!['x-amz-security-token']).toBe('session');
    } finally {
      process.env = saved;
      server.close();
    }
  });

  it('says how to provide credentials when there are none, and how to authenticate on a 403', async () => {
    const saved = { ...process.env };
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']) delete process.env[key];
    Object.assign(process.env, { AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' });
    try {
      const err: string[] = [];
      const code = await runCli(['list', '--endpoint', 'https://abc123.execute-api.eu-west-1.amazonaws.com'], { out: () => undefined, err: (t) => err.push(t) });
      expect(code).toBe(1);
      expect(err.join('\n')).toMatch(/No AWS credentials to sign the request with .*AWS_PROFILE/);
    } finally {
      process.env = saved;
    }
    const { createServer } = await import('node:http');
    const server = createServer((_request, response) => {
      response.writeHead(403, { 'content-type': 'application/json' });
      response.end('{"message":"Forbidden"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const err: string[] = [];
      const code = await runCli(['list', '--endpoint', `http://127.0.0.1:${(server.address() as { port: number }).port}`], { out: () => undefined, err: (t) => err.push(t) });
      expect(code).toBe(1);
      expect(err.join('\n')).toMatch(/refused the request \(403\): it needs credentials: use --auth iam/);
    } finally {
      server.close();
    }
  });
});
