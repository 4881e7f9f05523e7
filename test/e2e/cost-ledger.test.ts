import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { meterCapacity } from '../../bench/dynamodb-units.js';
import { RequestCounter } from '../../bench/request-counter.js';
import { createApp, silentLogger } from '../../lib/index.js';
import { startLocalStack } from '../../lib/local/local-stack.js';

/**
 * The ledger of one order on the local stack against what was counted around it: every request the
 * runtime's SDK clients sent (SDK middleware, SQS by queue kind), the event source mappings' receives and
 * deletes (the pollers report them), and DynamoDB's units as the cost bench estimates them. The waiting is
 * done with a client of its own, so every counted request is the instance's.
 */
describe('the cost ledger on the local stack', () => {
  it("holds exactly the requests and units an order's start, steps and attempts made", async () => {
    const app = createApp({ logger: silentLogger });
    app.activity('reserve', async (n: number) => n + 1, { timeout: '5s' });
    app.activity('ship', async (n: number) => n + 1, { inline: true, timeout: '5s' });
    app.orchestration('order', async (ctx, n: number) => {
      const reserved = await ctx.callActivity<number>('reserve', n);
      const checked = await ctx.step('check', async () => reserved * 2);
      return ctx.callActivity<number>('ship', checked);
    });
    const counter = new RequestCounter();
    const stack = await startLocalStack(app, {
      logger: silentLogger,
      visibilityTimeout: 60,
      // Receives that return nothing are the long polls of an idle queue: no instance's.
      onEventSourceRequest: ({ operation, queueUrl, messages }) => {
        if (operation !== 'ReceiveMessage' || messages > 0) counter.add(`${queueUrl.endsWith('.fifo') ? 'SQS-FIFO' : 'SQS'}.${operation}`);
      },
    });
    const { dynamodb, sqs, s3 } = stack.runtime.clients;
    counter.attach('DynamoDB', dynamodb);
    counter.attach('S3', s3);
    (sqs.middlewareStack as { add: (mw: unknown, options: unknown) => void }).add(
      (next: (args: { input: { QueueUrl?: string } }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: { QueueUrl?: string } }) => {
        counter.add(`${String(args.input.QueueUrl).endsWith('.fifo') ? 'SQS-FIFO' : 'SQS'}.${(context.commandName ?? '').replace(/Command$/, '')}`);
        return next(args);
      },
      { step: 'initialize', name: 'testQueueCounter' },
    );
    const capacity = meterCapacity(dynamodb);
    const watcher = new DynamoDBClient({ region: 'us-east-1', endpoint: stack.config.endpoints!.dynamodb, credentials: stack.config.credentials! });
    try {
      const id = await stack.runtime.client.start('order', 1);
      for (;;) {
        const { Item } = await watcher.send(new GetItemCommand({ TableName: stack.config.tableName, Key: { PK: { S: `I#${id}` }, SK: { S: 'META' } }, ConsistentRead: true }));
        if (Item?.status?.S === 'Completed') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // The pollers delete a batch after its handler returned: wait until every batch received was deleted
      // (on a busy machine that takes more than a moment).
      const deleted = () => ['SQS', 'SQS-FIFO'].every((queue) => counter.counts.get(`${queue}.DeleteMessageBatch`) === counter.counts.get(`${queue}.ReceiveMessage`));
      for (const deadline = Date.now() + 20_000; !deleted() && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
      const counted = Object.fromEntries(counter.counts);
      const units = { wru: capacity.wru.table + capacity.wru.index, rru: capacity.rru };

      const { cost } = await stack.runtime.client.getStatus(id, { cost: true });
      expect(cost!.ledger.requests).toEqual(counted);
      expect(cost!.ledger.wru).toBe(units.wru);
      expect(cost!.ledger.rru).toBe(units.rru);
      // Four commits (the start's first step, reserve's result, check's, ship's with the end); one invocation (the
      // task): the first step ran in the start's own request, and the later ones in the activity function's.
      expect(cost!.ledger).toMatchObject({ steps: 4, attempts: 3, invocations: 1 });
      expect(cost!.totalUsd).toBeGreaterThan(0);

      // The record holds the totals too: the last commit wrote it with its end.
      const { instances } = await stack.runtime.client.list({ name: 'order', cost: true });
      expect(instances[0]!.cost!.ledger.requests).toEqual(counted);
    } finally {
      watcher.destroy();
      await stack.stop();
    }
  }, 120_000);
});
