import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PerdureStack } from '../../cdk/stack.js';
import { createExampleApp } from '../../functions/example-app.js';
import { addClientMiddleware } from '../../lib/aws/client-middleware.js';
import { silentLogger } from '../../lib/index.js';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.js';
import { waitUntil } from '../support.js';

/**
 * Least privilege that is still enough: every AWS action a function's code makes is allowed by that
 * function's role in the construct's template. The example app runs on the local stack with each queue
 * handler marked as the function that runs it on AWS; SDK middleware records every request by the function
 * it ran in (what runs outside the handlers is the API's: starts, events). Inside a transaction IAM checks
 * each action too (a Put needs PutItem, a ConditionCheck ConditionCheckItem), so those are recorded as well.
 * Resources and conditions are the template's other tests' business; this one checks the actions.
 */
const entry = fileURLToPath(new URL('../../functions/handlers.ts', import.meta.url));
const FUNCTIONS = { doorbells: 'orchestrator', activities: 'activity', timers: 'timer', activityDeadLetters: 'activityDeadLetters', orchestratorDeadLetters: 'orchestratorDeadLetters' } as const;

/** The IAM action a request needs (batch requests need the single action's permission). */
function iamActions(service: string, operation: string, input: { TransactItems?: Record<string, unknown>[] }): string[] {
  if (service === 'dynamodb') {
    const inner = (input.TransactItems ?? []).flatMap((item) => Object.keys(item)).map((kind) => ({ Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem' })[kind]!);
    return [operation, ...inner].map((action) => `dynamodb:${action}`);
  }
  if (service === 'sqs') return [`sqs:${operation.replace(/Batch$/, '')}`];
  return [`s3:${({ HeadObject: 'GetObject', ListObjectsV2: 'ListBucket', DeleteObjects: 'DeleteObject' } as Record<string, string>)[operation] ?? operation}`];
}

describe('what each function does is what its role allows', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-grants-'));
  const running = new AsyncLocalStorage<string>();
  const used = new Map<string, Set<string>>();
  let stack: LocalStack;
  let granted: Map<string, Set<string>>;

  beforeAll(async () => {
    stack = await startLocalStack(createExampleApp({ logger: silentLogger }), { dataDir, logger: silentLogger });
    const handlers = stack.runtime.handlers as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const [method, fn] of Object.entries(FUNCTIONS)) {
      const original = handlers[method]!.bind(stack.runtime.handlers);
      handlers[method] = (...args) => running.run(fn, () => original(...args));
    }
    for (const [service, client] of Object.entries(stack.runtime.clients)) {
      addClientMiddleware(
        client,
        (next: (args: { input: object }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: object }) => {
          const fn = running.getStore() ?? 'api';
          const actions = used.get(fn) ?? new Set<string>();
          used.set(fn, actions);
          for (const action of iamActions(service, (context.commandName ?? '').replace(/Command$/, ''), args.input)) actions.add(action);
          return next(args);
        },
        { step: 'initialize', name: 'recordActionByFunction' },
      );
    }

    const app = new App();
    const template = Template.fromStack(new PerdureStack(app, 'Grants', { durable: { entry } })).toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
    granted = new Map();
    for (const fn of ['api', ...Object.values(FUNCTIONS)]) {
      const [, lambda] = Object.entries(template).find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === `index.${fn}`)!;
      const roleId = lambda.Properties.Role['Fn::GetAtt'][0] as string;
      const actions = Object.values(template)
        .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((role: { Ref: string }) => role.Ref === roleId))
        .flatMap((policy) => (policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((statement) => [statement.Action].flat()));
      granted.set(fn, new Set(actions));
    }
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs orders (an approval, a child, timers, an offloaded invoice, a terminate) with no action its function may not make', async () => {
    const { client } = stack.runtime;
    const order = (orderId: string, amount: number) => ({ orderId, customer: 'ada@example.com', amount, items: [{ sku: 'book', quantity: 2 }, { sku: 'lamp', quantity: 1 }], pickupAfter: '1s' });
    await client.start('order', order('small', 120), { instanceId: 'grants-small' });
    await client.start('order', order('large', 5_000), { instanceId: 'grants-large' });
    await client.start('order', order('ended', 5_000), { instanceId: 'grants-ended' });
    await waitUntil(async () => (await client.getHistory('grants-large')).some((event) => event.type === 'TimerCreated'), { timeoutMs: 30_000, everyMs: 100, what: 'the large order waiting for its approval' });
    await client.raiseEvent('grants-large', 'approval', { approved: true });
    await client.terminate('grants-ended', 'changed our mind');
    for (const id of ['grants-small', 'grants-large', 'grants-ended']) {
      await waitUntil(async () => ['Completed', 'Terminated', 'Failed'].includes((await client.getStatus(id)).status), { timeoutMs: 60_000, everyMs: 100, what: `${id} to end` });
    }
    expect((await client.getStatus('grants-large')).status).toBe('Completed');

    // Every function that ran made requests; each of them is allowed.
    expect([...used.keys()].sort()).toEqual(expect.arrayContaining(['activity', 'api', 'orchestrator', 'timer']));
    const missing = [...used].flatMap(([fn, actions]) => [...actions].filter((action) => !granted.get(fn)?.has(action)).map((action) => `${fn}: ${action}`));
    expect(missing).toEqual([]);
  }, 120_000);
});
