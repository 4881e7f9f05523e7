import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExampleApp, type Order } from '../../functions/example-app.js';
import { silentLogger, type HistoryEvent } from '../../lib/index.js';
import { serveHttpApi } from '../../lib/local/http-server.js';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.js';
import { HttpApi } from '../../lib/api/http-api.js';
import { ApiClient } from '../../lib/cli/api-client.js';
import { createAwsRuntime } from '../../lib/aws/aws-runtime.js';
import { createShadowReplay } from '../../lib/aws/replay-gate.js';
import { createChangedApp } from '../cli/fixtures/changed-app.js';
import { serveUiProxy } from '../../lib/cli/ui-proxy.js';

/**
 * The web view (GET /ui) end to end: the example app on the embedded local stack, the page in a real
 * Chromium (Debian's package, driven by playwright-core), checked for what a person would see.
 */

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOT = fileURLToPath(new URL('../../scratch/ui-instance.png', import.meta.url));
const XSS = '<img src=x onerror=window.__xss=1>';

const runnable = existsSync(CHROMIUM) || Boolean(process.env.CI);
if (!runnable) console.warn(`Skipping the web UI end-to-end test: ${CHROMIUM} is missing (install it with "apt-get install -y chromium"; in CI the test fails instead).`);

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting; last value: ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits for what the page shows (longer than expect.poll's 1 s default: the machine may be busy). */
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000 });

/** The example app, and two orchestrations for the operations: one that fails until its service is fixed, one that waits with a custom status. */
function uiApp(service: { up: boolean }) {
  const app = createExampleApp({ logger: silentLogger });
  app.activity('countStock', async (sku: string) => {
    if (!service.up) throw new Error('stock service down');
    return `${sku}: 12`;
  });
  app.orchestration('restocking', async (ctx, sku: string) => ctx.callActivity<string>('countStock', sku));
  app.orchestration('watching', async (ctx) => {
    ctx.setStatus({ stage: 'watching', by: XSS });
    return ctx.waitForEvent('stop');
  });
  return app;
}

const order = (orderId: string, customer: string, amount: number, items = [{ sku: 'desk', quantity: 1 }, { sku: 'chair', quantity: 4 }]): Order => ({
  orderId,
  customer,
  amount,
  items,
  pickupAfter: '2s',
});

describe.skipIf(!runnable)('web view (GET /ui) in Chromium on the local stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-ui-'));
  let stack: LocalStack;
  let http: Awaited<ReturnType<typeof serveHttpApi>>;
  let browser: Browser;
  let page: Page;
  const stockService = { up: false };
  const pageErrors: string[] = [];

  const rows = () => page.getByTestId('instance-row');
  const idsOf = async (locator: Locator) => (await locator.all()).map((row) => row.getAttribute('data-instance-id'));
  const listedIds = async () => Promise.all(await idsOf(rows()));
  const openInstance = async (id: string) => {
    await page.goto(`${http.url}/ui#/instances/${id}`);
    await poll(() => page.getByTestId('instance-id').textContent()).toBe(id);
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does).`);
    const app = uiApp(stockService);
    // A manager's approval by callback, with a deadline and heartbeats.
    app.orchestration('approval', async (ctx) => ctx.waitForCallback('manager', () => undefined, { timeout: '3d', heartbeatTimeout: '1h' }));
    stack = await startLocalStack(app, { dataDir, logger: silentLogger });
    http = await serveHttpApi(
      new HttpApi({ client: stack.runtime.client, deadLetters: stack.runtime.deadLetters, replayFindings: stack.runtime.replayFindings, schedules: stack.runtime.schedules, metrics: () => stack.metrics.snapshot() }),
      0,
    );
    const client = stack.runtime.client;
    const waitingForApproval = (id: string) => waitFor(() => client.getHistory(id), (events: HistoryEvent[]) => events.some((e) => e.type === 'TimerCreated' && e.purpose === 'timeout'));

    // 1001: the card fails once (a retried attempt), then approval, packing, a 2 s pickup wait, shipping.
    // 1002: approved, but an item cannot be packed: the order refunds, releases the stock and fails. 1003 and 1004 wait for approval.
    await client.start('order', order('1001', 'flaky.buyer@example.com', 1_500), { instanceId: 'order-1001' });
    await client.start('order', order('1002', 'ada@example.com', 2_000, [{ sku: 'desk', quantity: 1 }, { sku: 'DAMAGED-lamp', quantity: 1 }]), { instanceId: 'order-1002' });
    await client.start('order', order('1003', XSS, 5_000), { instanceId: 'order-1003' });
    await client.start('order', order('1004', 'grace@example.com', 7_000), { instanceId: 'order-1004' });
    await Promise.all(['order-1001', 'order-1002', 'order-1003', 'order-1004'].map(waitingForApproval));
    // Shadow replay of an incompatible build over the same table: it finds the four waiting orders.
    const changed = createChangedApp({ logger: silentLogger });
    const changedRuntime = createAwsRuntime(changed, stack.config, { logger: silentLogger });
    await createShadowReplay({ app: changed, runtime: () => changedRuntime, logger: silentLogger, writeMetrics: () => undefined })({ samplePerVersion: 10 });
    for (const sdk of Object.values(changedRuntime.clients)) sdk.destroy();
    await client.raiseEvent('order-1001', 'approval', { approved: true });
    await client.raiseEvent('order-1002', 'approval', { approved: true });
    expect((await client.waitForCompletion('order-1001', { timeout: '30s' })).status).toBe('Completed');
    expect((await client.waitForCompletion('order-1002', { timeout: '30s' })).status).toBe('Failed');

    // A dead letter: an activity task of an instance that is gone, back in the dead-letter queue after its last round.
    const task = { instanceId: 'order-gone', generation: 0, taskId: 1, name: 'sendEmail', input: { j: '{"to":"x@example.com","subject":"hi"}' }, attempt: 1, idempotencyKey: 'order-gone:0:1', dlqRounds: 3 };
    await stack.runtime.clients.sqs.send(new SendMessageCommand({ QueueUrl: stack.config.queues.activityDeadLetters!, MessageBody: JSON.stringify(task) }));
    await waitFor(() => stack.runtime.deadLetters.list('activities'), (listed) => listed.deadLetters.length === 1);

    // Started after shadow replay ran, so that its findings stay the four orders.
    await client.start('approval', undefined, { instanceId: 'approval-1' });
    await waitFor(() => client.listPendingCallbacks('approval-1'), (open) => open.length === 1);

    // chromium.launch gives every browser a fresh temporary profile (user-data-dir).
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text());
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await http?.close();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves one self-contained page with a strict Content-Security-Policy', async () => {
    const response = await fetch(`${http.url}/ui`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/);
    expect(csp).not.toContain('unsafe');
    expect(await response.text()).not.toMatch(/https?:\/\//);
  });

  it('lists the instances with their statuses, filters them by status and version, and pages with the cursor', async () => {
    await page.goto(`${http.url}/ui`);
    await poll(listedIds).toEqual(expect.arrayContaining(['order-1001', 'order-1002', 'order-1003', 'order-1004']));
    const statusOf = (id: string) => page.locator(`[data-testid=instance-row][data-instance-id="${id}"]`).getByTestId('status').textContent();
    expect(await statusOf('order-1001')).toBe('Completed');
    expect(await statusOf('order-1002')).toBe('Failed');
    expect(await statusOf('order-1003')).toBe('Running');

    await page.getByLabel('Status').selectOption('Failed');
    await page.getByRole('button', { name: 'Apply' }).click();
    await poll(listedIds).toEqual(['order-1002']);
    expect(page.url()).toContain('status=Failed');

    await page.getByLabel('Status').selectOption('');
    await page.getByLabel('Version (this page)').fill('2');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('empty').waitFor();

    await page.goto(`${http.url}/ui#/?name=order&limit=3`);
    await poll(async () => (await listedIds()).length).toBe(3);
    const firstPage = await listedIds();
    await page.getByTestId('next-page').click();
    await poll(async () => (await listedIds()).every((id) => !firstPage.includes(id))).toBe(true);
    expect([...firstPage, ...(await listedIds())].sort()).toEqual(['order-1001', 'order-1002', 'order-1003', 'order-1004']);
  });

  it('shows the runtime’s counters in the header (GET /metrics), failures in red', async () => {
    await page.goto(`${http.url}/ui`);
    const counter = (name: string) => page.locator(`#counters [data-metric=${name}]`);
    await poll(() => counter('Steps').locator('b').textContent()).toMatch(/^[1-9][\d,]*$/);
    const { totals } = stack.metrics.snapshot();
    expect(Number((await counter('ActivityFailures').locator('b').textContent())!.replace(/,/g, ''))).toBeGreaterThanOrEqual(1);
    expect(totals.ActivityFailures).toBeGreaterThanOrEqual(1);
    expect(await counter('ActivityFailures').getAttribute('class')).toBe('bad');
    expect(await page.locator('#counters').textContent()).toMatch(/Steps[\d,]+Attempts[\d,]+Failures[\d,]+Retries[\d,]+Quarantined[\d,]+Dead letters[\d,]+Offloads[\d,]+/);
  });

  it('finds the API from its own address behind a stage prefix, as in API Gateway', async () => {
    // A stand-in for an API Gateway stage: /prod/* is the API, nothing else is.
    const stage = createServer((request, response) => {
      if (!request.url?.startsWith('/prod/')) return void response.writeHead(404).end();
      void fetch(http.url + request.url.slice('/prod'.length)).then(async (upstream) => {
        response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? '', 'content-security-policy': upstream.headers.get('content-security-policy') ?? '' });
        response.end(Buffer.from(await upstream.arrayBuffer()));
      });
    });
    await new Promise<void>((resolve) => stage.listen(0, '127.0.0.1', resolve));
    try {
      await page.goto(`http://127.0.0.1:${(stage.address() as AddressInfo).port}/prod/ui#/?status=Failed`);
      await poll(listedIds).toEqual(['order-1002']);
    } finally {
      await new Promise((resolve) => stage.close(resolve));
    }
  });

  it('shows an instance: summary, input on demand, a timeline with every attempt, timer and event, and the history', async () => {
    await page.goto(`${http.url}/ui`);
    await page.getByRole('link', { name: 'order-1001', exact: true }).click();
    await poll(() => page.getByTestId('instance-id').textContent()).toBe('order-1001');
    expect(await page.locator('h1').getByTestId('status').textContent()).toBe('Completed');
    expect(await page.getByRole('region', { name: 'Summary' }).textContent()).toContain('order@1');

    const input = page.getByTestId('input-json');
    expect(await input.isVisible()).toBe(false);
    await page.getByTestId('input-details').locator('summary').click();
    await poll(() => input.textContent()).toContain('flaky.buyer@example.com');

    const timelineRows = page.getByTestId('timeline-row');
    const labels = async (kind: string) => Promise.all((await timelineRows.and(page.locator(`[data-kind=${kind}]`)).all()).map((row) => row.locator('.tl-label').getAttribute('title')));
    expect(await labels('activity')).toEqual(['reserveStock', 'chargeCard', 'chargeCard · attempt 2', 'packItem', 'packItem', 'generateInvoice', 'sendEmail']);
    expect(await labels('timer')).toEqual(['retry timer', 'timeout timer', 'sleep']);
    expect(await labels('sub')).toEqual(['↳ shipping']);
    expect(await labels('event')).toEqual(['event: approval']);
    const failed = timelineRows.and(page.locator('[data-state=failed]'));
    expect(await failed.count()).toBe(1);
    expect(await failed.getByTestId('timeline-bar').getAttribute('title')).toContain('payment provider timed out');
    expect(await page.getByTestId('timeline-marker').getAttribute('title')).toContain('approval');
    // Bars sit on one time axis: the 2 s sleep is wider than an activity, and starts after it.
    const sleep = await timelineRows.filter({ has: page.locator('.tl-label[title=sleep]') }).getByTestId('timeline-bar').boundingBox();
    const invoice = await timelineRows.filter({ has: page.locator('.tl-label[title=generateInvoice]') }).getByTestId('timeline-bar').boundingBox();
    expect(sleep!.width).toBeGreaterThan(invoice!.width * 2);
    expect(sleep!.x).toBeGreaterThanOrEqual(invoice!.x);
    expect(await page.locator('.tl-axis span').count()).toBeGreaterThan(1);

    // The cost so far: the total with its steps and attempts, each service's line on demand.
    const { cost } = await stack.runtime.client.getStatus('order-1001', { cost: true });
    expect(await page.getByTestId('cost-summary').textContent()).toMatch(new RegExp(`^\\$[\\d.]+ for ${cost!.ledger.steps} steps and ${cost!.ledger.attempts} attempts \\(estimated`));
    expect(await page.getByTestId('cost-line').first().isVisible()).toBe(false);
    await page.getByTestId('cost-details').locator('summary').click();
    expect(await page.getByTestId('cost-line').allTextContents()).toEqual(cost!.lines.map((line) => expect.stringContaining(line.usage)));

    const history = await stack.runtime.client.getHistory('order-1001');
    expect(await page.getByTestId('history-table').locator('tbody tr').count()).toBe(history.length);
    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
  });

  it('shows the callbacks an instance waits for, with their names, deadlines and tokens, and each callback on the timeline', async () => {
    const [pending] = await stack.runtime.client.listPendingCallbacks('approval-1');
    await openInstance('approval-1');
    const rows = page.getByTestId('callback-row');
    await poll(() => rows.count()).toBe(1);
    expect(await rows.getByTestId('callback-name').textContent()).toBe('manager');
    expect(await rows.getByTestId('callback-expires').getAttribute('datetime')).toBe(pending!.timeoutAt);
    expect(await rows.getByTestId('callback-expires').textContent()).toMatch(/\(in (71\.\d|72) h\)$|\(in 3 d\)$/);
    expect(await rows.getByTestId('callback-heartbeat').getAttribute('datetime')).toBe(pending!.heartbeatDeadline);
    expect(await rows.textContent()).toContain('a heartbeat every 1h, none yet');
    expect(await rows.getByTestId('callback-token').textContent()).toBe(pending!.token);
    const bar = page.locator('[data-testid=timeline-row][data-kind=callback]');
    expect(await bar.locator('.tl-label').getAttribute('title')).toBe('callback manager');
    expect(await bar.getAttribute('data-state')).toBe('running');

    await stack.runtime.client.completeCallback(pending!.token, { approved: true });
    expect((await stack.runtime.client.waitForCompletion('approval-1', { timeout: '30s' })).status).toBe('Completed');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByTestId('callbacks-none').waitFor();
    expect(await rows.count()).toBe(0);
    expect(await page.locator('[data-testid=timeline-row][data-kind=callback]').getAttribute('data-state')).toBe('ok');
    expect(pageErrors).toEqual([]);
  });

  it('shows why a failed instance failed', async () => {
    await openInstance('order-1002');
    expect(await page.getByTestId('instance-error').textContent()).toBe("ActivityFailedError: Activity 'packItem' failed after 1 attempt: NonRetryableError: DAMAGED-lamp is damaged and cannot be packed (ACTIVITY_FAILED)");
    expect(await page.locator('[data-testid=timeline-row][data-kind=execution]').getAttribute('data-state')).toBe('failed');
    expect(await page.getByRole('button', { name: 'Terminate' }).isDisabled()).toBe(true);
  });

  /**
   * What a page on another port of 127.0.0.1 tries against `target` (the local API or perdure ui): form
   * posts (one into each frame, so that none cancels another), no-cors fetches, a beacon and images.
   */
  const attackPage = (target: string) => `<!doctype html><html><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe><iframe name="f3"></iframe>
<form id="approve" method="POST" target="f1" enctype="text/plain" action="${target}/instances/order-1003/events/approval"><input name='{"approved":true,"x":"' value='"}'></form>
<form id="terminate" method="POST" target="f2" action="${target}/instances/order-1004/terminate"></form>
<form id="start" method="POST" target="f3" enctype="text/plain" action="${target}/orchestrations/order?instanceId=evil-1"><input name='{"orderId":"evil","x":"' value='"}'></form>
<img src="${target}/instances?payloads=true"><img src="${target}/instances/order-1003">
<script>
for (const form of document.forms) form.submit();
fetch('${target}/instances/order-1003/events/approval', { method: 'POST', mode: 'no-cors', body: '{"approved":true}' });
fetch('${target}/instances/order-1004/terminate', { method: 'POST', mode: 'no-cors' });
navigator.sendBeacon('${target}/instances/order-1004/suspend', '{}');
</script></body></html>`;
  const ATTACK_REQUESTS = 8;

  /**
   * Opens the attack page on a server of its own (another port of 127.0.0.1) and returns the status the
   * target's server answered to each request the page made. (The browser hides most of them from the
   * page, and from playwright too: the same-origin resource policy blocks the response.)
   */
  const attack = async (target: string, targetServer: Server): Promise<number[]> => {
    const attacker = createServer((_request, response) => void response.writeHead(200, { 'content-type': 'text/html' }).end(attackPage(target)));
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    const attackerPage = await browser.newPage();
    const attackerOrigin = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
    const statuses: number[] = [];
    let answered = () => {};
    const all = new Promise<void>((resolve) => (answered = resolve));
    // The attack page's requests alone (each carries its Origin or Referer): the view open in the other page keeps polling.
    const fromAttacker = (request: IncomingMessage) => request.headers.origin === attackerOrigin || (request.headers.referer ?? '').startsWith(`${attackerOrigin}/`);
    const record = (request: IncomingMessage, response: ServerResponse) => {
      if (!fromAttacker(request)) return;
      response.once('finish', () => {
        statuses.push(response.statusCode);
        if (statuses.length === ATTACK_REQUESTS) answered();
      });
    };
    targetServer.on('request', record);
    try {
      await attackerPage.goto(`${attackerOrigin}/attack`);
      await all;
      return statuses;
    } finally {
      targetServer.off('request', record);
      await attackerPage.close();
      await new Promise((resolve) => attacker.close(resolve));
    }
  };

  /** What an attack could change: the instances and the histories of the two waiting orders. */
  const written = async () => ({
    instances: (await stack.runtime.client.list({ limit: 100 })).instances.map((i) => [i.instanceId, i.status]),
    histories: await Promise.all(['order-1003', 'order-1004'].map((id) => stack.runtime.client.getHistory(id))),
  });

  it('refuses every request a page on another port of 127.0.0.1 makes to the local API (forms, no-cors fetches, a beacon, images), and nothing is written', async () => {
    const before = await written();
    const statuses = await attack(http.url, http.server);
    expect(statuses.sort()).toEqual([403, 403, 403, 403, 403, 403, 403, 403]);
    expect(await written()).toEqual(before);
  });

  it('perdure ui: the browser that opened its address uses the view; a page on another port gets nothing forwarded, cookie or not', async () => {
    const proxy = await serveUiProxy(new ApiClient({ endpoint: http.url }), 0);
    try {
      await page.goto(proxy.openUrl);
      expect(page.url()).toBe(`${proxy.url}/ui`);
      await poll(listedIds).toEqual(expect.arrayContaining(['order-1001', 'order-1002', 'order-1003', 'order-1004']));
      expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe(''); // HttpOnly: the page's script cannot read the key

      const before = await written();
      const statuses = await attack(proxy.url, proxy.server);
      expect(statuses.sort()).toEqual([403, 403, 403, 403, 403, 403, 403, 403]);
      expect(await written()).toEqual(before);
    } finally {
      await proxy.close();
    }
  });

  it('raises an event and terminates an instance from its page, showing payloads as text', async () => {
    await openInstance('order-1003');
    await page.getByTestId('input-details').locator('summary').click();
    await poll(() => page.getByTestId('input-json').textContent()).toContain(XSS);
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    await page.getByLabel('Event name').fill('approval');
    await page.getByLabel('Data (JSON, optional)').fill('{"approved": false}');
    await page.getByRole('button', { name: 'Raise event' }).click();
    await poll(() => page.getByTestId('action-result').textContent()).toContain('sent');
    const output = await stack.runtime.client.waitForCompletion('order-1003', { timeout: '20s' });
    expect(output.output).toMatchObject({ status: 'rejected' });

    await openInstance('order-1004');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Terminate' }).click();
    await poll(() => page.getByTestId('action-result').textContent()).toContain('Terminate sent');
    await waitFor(() => stack.runtime.client.getStatus('order-1004'), (status) => status.status === 'Terminated');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await poll(() => page.locator('h1').getByTestId('status').textContent()).toBe('Terminated');

    await page.goto(`${http.url}/ui#/instances/no-such-order`);
    await poll(() => page.getByRole('alert').textContent()).toContain('no-such-order');
  });

  it('lists dead letters and redrives one; a runtime without dead-letter queues says so', async () => {
    await page.goto(`${http.url}/ui`);
    await page.getByRole('link', { name: 'Dead letters' }).click();
    const activities = page.getByTestId('dlq-activities');
    await poll(() => activities.getByTestId('dead-letter').count()).toBe(1);
    expect(await activities.getByTestId('dead-letter').textContent()).toContain('order-gone');
    expect(await activities.getByTestId('dead-letter').textContent()).toContain('instance not found');
    await page.getByTestId('dlq-orchestrations').getByTestId('dlq-empty').waitFor();
    await activities.getByTestId('dead-letter').getByRole('button', { name: /^Redrive/ }).click();
    await poll(() => page.getByTestId('dlq-activities').getByTestId('dlq-result').textContent()).toBe('Redriven 1 message.');
    await page.getByTestId('dlq-activities').getByTestId('dlq-empty').waitFor();
    expect((await stack.runtime.deadLetters.list('activities')).deadLetters).toEqual([]);

    const memoryLike = await serveHttpApi(new HttpApi({ client: stack.runtime.client }), 0);
    try {
      await page.goto(`${memoryLike.url}/ui#/dlq`);
      await poll(() => page.getByTestId('dlq-unavailable').count()).toBe(2);
    } finally {
      await memoryLike.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('lists what shadow replay found, links each instance, and says when the runtime keeps no findings', async () => {
    await page.goto(`${http.url}/ui`);
    await page.getByRole('link', { name: 'Replay checks' }).click();
    const findings = page.getByTestId('replay-finding');
    await poll(() => findings.count()).toBe(4);
    expect(await page.getByTestId('replay-last-run').textContent()).toMatch(/: 4 of 4 instances in flight replayed, 4 no longer replay\.$/);
    const row = findings.filter({ hasText: 'order-1003' });
    expect(await row.textContent()).toContain("history recorded callActivity('reserveStock'), the code asked for callActivity('chargeCard')");
    expect(await row.getByTestId('status').textContent()).toBe('Running');
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    await row.getByRole('link', { name: 'order-1003' }).click();
    await poll(() => page.getByTestId('instance-id').textContent()).toBe('order-1003');

    const memoryLike = await serveHttpApi(new HttpApi({ client: stack.runtime.client }), 0);
    try {
      await page.goto(`${memoryLike.url}/ui#/replay`);
      await page.getByTestId('replay-unavailable').waitFor();
    } finally {
      await memoryLike.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('lists the schedules with their next firing and last instance, and triggers, pauses and resumes one', async () => {
    await page.goto(`${http.url}/ui`);
    await page.getByRole('link', { name: 'Schedules' }).click();
    const row = page.locator('[data-testid=schedule-row][data-schedule=nightlyReport]');
    await row.waitFor();
    expect(await page.getByTestId('schedule-row').count()).toBe(1);
    expect(await row.getByTestId('schedule-expression').textContent()).toBe('cron(0 2 * * ? *)');
    expect(await row.textContent()).toContain('Europe/Paris');
    expect(await row.textContent()).toContain('dailyReport');
    const next = await row.getByTestId('schedule-next').getAttribute('title');
    expect(next).toBe((await stack.runtime.schedules.get('nightlyReport')).nextFiring);
    expect(await row.getByTestId('schedule-last').textContent()).toBe('none yet');
    expect(await row.getByTestId('schedule-paused').textContent()).toBe('no');

    await row.getByRole('button', { name: 'Trigger nightlyReport' }).click();
    await poll(() => page.getByTestId('schedule-result').textContent()).toMatch(/^Triggered nightlyReport: started sched-nightlyReport-manual-\S+\.$/);
    const instanceId = /started (\S+)\.$/.exec((await page.getByTestId('schedule-result').textContent())!)![1]!;
    await waitFor(() => stack.runtime.client.getStatus(instanceId), (status) => status.status === 'Completed');

    await row.getByRole('button', { name: 'Pause nightlyReport' }).click();
    await poll(() => page.getByTestId('schedule-result').textContent()).toBe('Paused nightlyReport: its firings start nothing until it is resumed.');
    const paused = page.locator('[data-testid=schedule-row][data-schedule=nightlyReport]');
    expect(await paused.getByTestId('schedule-paused').textContent()).toBe('yes');
    expect(await paused.getByTestId('schedule-last').textContent()).toBe(`${instanceId} Completed`);
    expect((await stack.runtime.schedules.get('nightlyReport')).paused).toBe(true);
    await paused.getByRole('button', { name: 'Resume nightlyReport' }).click();
    await poll(() => page.getByTestId('schedule-result').textContent()).toBe('Resumed nightlyReport.');
    expect(await page.locator('[data-testid=schedule-row][data-schedule=nightlyReport]').getByTestId('schedule-paused').textContent()).toBe('no');

    await page.getByTestId('schedule-last').getByRole('link', { name: instanceId }).click();
    await poll(() => page.getByTestId('instance-id').textContent()).toBe(instanceId);
    expect(await page.getByRole('region', { name: 'Summary' }).textContent()).toContain('dailyReport@1');

    const memoryLike = await serveHttpApi(new HttpApi({ client: stack.runtime.client }), 0);
    try {
      await page.goto(`${memoryLike.url}/ui#/schedules`);
      await page.getByTestId('schedules-unavailable').waitFor();
    } finally {
      await memoryLike.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('cancels (with a confirm and a reason), rewinds and restarts from an instance page; shows the custom status as text', async () => {
    const client = stack.runtime.client;
    await client.start('watching', null, { instanceId: 'watch-1' });
    await client.start('restocking', 'desk', { instanceId: 'restock-1' });
    const custom = { stage: 'watching', by: XSS };
    await waitFor(() => client.getStatus('watch-1'), (status) => status.customStatus !== undefined);
    expect((await client.waitForCompletion('restock-1', { timeout: '20s' })).status).toBe('Failed');

    // The list: a custom-status column, cut short, its whole JSON in the cell's title.
    await page.goto(`${http.url}/ui#/?name=watching`);
    await poll(listedIds).toEqual(['watch-1']);
    const cell = rows().getByTestId('custom-status-cell');
    expect(await cell.textContent()).toBe(`${JSON.stringify(custom).slice(0, 39)}…`);
    expect(JSON.parse((await cell.getAttribute('title'))!)).toEqual(custom);

    // The page: the custom status as JSON text; Cancel is offered, Rewind and Restart are not.
    await openInstance('watch-1');
    expect(JSON.parse((await page.getByTestId('custom-status').textContent())!)).toEqual(custom);
    const button = (name: string) => page.getByRole('button', { name, exact: true });
    expect(await button('Rewind').isDisabled()).toBe(true);
    expect(await button('Restart').isDisabled()).toBe(true);
    // Dismissing the confirmation sends nothing.
    page.once('dialog', (dialog) => void dialog.dismiss());
    await button('Cancel').click();
    expect(await page.getByTestId('action-result').textContent()).toBe('');
    await page.getByLabel('Reason (optional)').fill('customer left');
    let asked = '';
    page.once('dialog', (dialog) => {
      asked = dialog.message();
      void dialog.accept();
    });
    await button('Cancel').click();
    await poll(() => page.getByTestId('action-result').textContent()).toContain('Cancel sent');
    expect(asked).toMatch(/^Cancel watch-1\? Its code sees a CancelledError/);
    await waitFor(() => client.getStatus('watch-1'), (status) => status.status === 'Cancelled');
    await button('Refresh').click();
    const badge = page.locator('h1').getByTestId('status');
    await poll(() => badge.textContent()).toBe('Cancelled');
    expect(await badge.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor)).toBe('rgb(237, 233, 254)');
    expect(await page.getByTestId('cancel-requested').textContent()).toMatch(/^\d{4}-\d\d-\d\d [\d:.]+: customer left$/);
    expect(await page.locator('[data-testid=timeline-row][data-kind=execution]').getAttribute('data-state')).toBe('cancelled');
    expect(await button('Cancel').isDisabled()).toBe(true);
    expect(await button('Rewind').isDisabled()).toBe(true);

    // Restart: a new instance with the same input, linked from the notice.
    await button('Restart').click();
    const restarted = page.getByTestId('restarted-as');
    await poll(() => restarted.count()).toBe(1);
    const newId = (await restarted.textContent())!;
    expect(newId).toMatch(/^watch-1\.r[0-9a-z]+$/);
    await restarted.click();
    await poll(() => page.getByTestId('instance-id').textContent()).toBe(newId);
    expect((await client.getStatus(newId)).name).toBe('watching');

    // Rewind: offered for the Failed instance only; after the fix, the failed call runs again and it completes.
    await openInstance('restock-1');
    expect(await button('Cancel').isDisabled()).toBe(true);
    expect(await button('Restart').isDisabled()).toBe(false);
    stockService.up = true;
    await button('Rewind').click();
    await poll(() => page.getByTestId('action-result').textContent()).toContain('Rewind sent');
    expect(await client.waitForCompletion('restock-1', { timeout: '20s' })).toMatchObject({ status: 'Completed', output: 'desk: 12' });
    await button('Refresh').click();
    await poll(() => badge.textContent()).toBe('Completed');
    // The failure stays in history, struck through; the rewind says what it undid.
    const undone = page.getByTestId('history-table').locator('tr.rewound');
    expect(await undone.count()).toBe(2);
    expect(await page.getByTestId('history-table').textContent()).toContain('ExecutionRewound');
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(pageErrors).toEqual([]);
  });
});
