import { describe, expect, it } from 'vitest';
import { DEFAULT_PRICES, priceLedger, resolvePrices, emptyLedger } from '../../lib/index.js';
import { decodeLedger, encodeLedger } from '../../lib/core/cost-ledger.js';
import { testApp } from '../support.js';

describe('the cost ledger (in memory)', () => {
  it('counts one step per history commit and one attempt per activity and ctx.step attempt, retries included', async () => {
    const { app, start } = testApp();
    let calls = 0;
    app.activity('reserve', async (n: number) => {
      if (++calls === 1) throw new Error('flaky');
      return n + 1;
    }, { retry: { maxAttempts: 3, initialInterval: '1s' } });
    app.activity('ship', async (n: number) => n + 1, { inline: true });
    app.orchestration('order', async (ctx, n: number) => {
      const reserved = await ctx.callActivity<number>('reserve', n);
      const checked = await ctx.step('check', async () => reserved * 2);
      return ctx.callActivity<number>('ship', checked);
    });
    const env = await start();
    const id = await env.client.start('order', 1);
    expect((await env.client.waitForCompletion(id)).output).toBe(5);

    const { cost } = await env.client.getStatus(id, { cost: true });
    const history = await env.client.getHistory(id);
    expect(cost!.ledger.steps).toBe(history.filter((event) => event.type === 'StepStarted').length);
    expect(cost!.ledger.attempts).toBe(4); // reserve twice, check, ship
    // The in-memory runtime makes no AWS requests and runs in no Lambda function.
    expect(cost!.ledger.requests).toEqual({});
    expect(cost!.ledger.invocations).toBe(0);
    expect(cost!.lines.map((line) => line.item)).toEqual(['DynamoDB writes', 'DynamoDB reads', 'SQS FIFO', 'SQS standard', 'S3 requests', 'Lambda requests', 'Lambda duration']);
  });

  it('leaves the ledger out unless asked for it, and a listing gives the one of the record', async () => {
    const { app, start } = testApp();
    app.orchestration('quick', async () => 'done');
    const env = await start();
    const id = await env.client.start('quick');
    await env.client.waitForCompletion(id);
    expect((await env.client.getStatus(id)).cost).toBeUndefined();
    const { instances } = await env.client.list({ cost: true });
    expect(instances[0]!.cost!.ledger.steps).toBe(1);
  });

  it('prices with the app prices, and refuses an unknown price or a negative one by name', async () => {
    const { app, start } = testApp({ prices: { lambdaPerGbSecondArm64: 1 } });
    app.orchestration('quick', async () => 'done');
    const env = await start();
    const id = await env.client.start('quick');
    await env.client.waitForCompletion(id);
    const { cost } = await env.client.getStatus(id, { cost: true });
    expect(cost!.lines.at(-1)!.usd).toBeCloseTo(cost!.ledger.gbSeconds, 10);
    expect(() => resolvePrices({ lambdaPerGbSecnd: 1 })).toThrow(/unknown price 'lambdaPerGbSecnd'; the prices are dynamoDbPerMillionWru/);
    expect(() => resolvePrices({ sqsFifoPerMillion: -1 })).toThrow(/prices.sqsFifoPerMillion must be a price in US dollars \(a number, 0 or more\), got -1/);
    expect(() => resolvePrices({ lambdaArchitecture: 'sparc' })).toThrow(/lambdaArchitecture must be 'arm64' or 'x86_64'/);
  });

  it('prices a ledger line by line from the default table', () => {
    const ledger = { ...emptyLedger(), requests: { 'SQS-FIFO.SendMessageBatch': 2, 'SQS.SendMessageBatch': 1, 'S3.PutObject': 1, 'S3.GetObject': 2, 'DynamoDB.PutItem': 3 }, wru: 4, rru: 2, invocations: 2, gbSeconds: 0.5, lambdaMs: 1000 };
    const priced = priceLedger(ledger);
    const usd = Object.fromEntries(priced.lines.map((line) => [line.item, line.usd]));
    expect(usd['DynamoDB writes']).toBeCloseTo((4 * DEFAULT_PRICES.dynamoDbPerMillionWru) / 1e6, 15);
    expect(usd['SQS FIFO']).toBeCloseTo((2 * DEFAULT_PRICES.sqsFifoPerMillion) / 1e6, 15);
    expect(usd['S3 requests']).toBeCloseTo((DEFAULT_PRICES.s3PutPerThousand + 2 * DEFAULT_PRICES.s3GetPerThousand) / 1e3, 15);
    expect(usd['Lambda duration']).toBeCloseTo(0.5 * DEFAULT_PRICES.lambdaPerGbSecondArm64, 15);
    expect(priced.totalUsd).toBeCloseTo(priced.lines.reduce((sum, line) => sum + line.usd, 0), 15);
  });

  it('stores a ledger as short text and reads anything else (an item written before ledgers) as none', () => {
    const ledger = { ...emptyLedger(), requests: { 'DynamoDB.PutItem': 1 / 3 }, wru: 1, steps: 1 };
    expect(encodeLedger(ledger)).toBe('{"q":{"DynamoDB.PutItem":0.3333},"w":1,"st":1}');
    expect(decodeLedger(encodeLedger(ledger))).toMatchObject({ wru: 1, steps: 1, rru: 0 });
    expect(decodeLedger(undefined)).toBeUndefined();
    expect(decodeLedger('not json')).toBeUndefined();
    expect(decodeLedger('[1]')).toBeUndefined();
  });
});
