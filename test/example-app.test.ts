import { describe, expect, it } from 'vitest';
import { silentLogger, TestEnvironment, type HistoryEvent } from '../lib/index.js';
import { createExampleApp, type Order } from '../functions/example-app.js';

const order = (overrides: Partial<Order> = {}): Order => ({
  orderId: 'o-1',
  customer: 'ada@example.com',
  amount: 100,
  items: [
    { sku: 'book', quantity: 2 },
    { sku: 'lamp', quantity: 25 },
  ],
  ...overrides,
});

const activitiesOf = (history: HistoryEvent[]) => history.flatMap((e) => (e.type === 'ActivityScheduled' ? [e.name] : []));

describe('example order saga', () => {
  it('ships an order: stock, payment, parallel packing, invoice, a day of waiting, shipping', async () => {
    const env = await TestEnvironment.create(createExampleApp({ logger: silentLogger }));
    const id = await env.client.start('order', order());
    const status = await env.client.waitForCompletion(id);
    expect(status.output).toEqual({ orderId: 'o-1', status: 'shipped', trackingNumber: 'TRK-o-1', invoiceBytes: 300_000 });
    const history = await env.client.getHistory(id);
    expect(activitiesOf(history)).toEqual(['reserveStock', 'chargeCard', 'packItem', 'packItem', 'generateInvoice', 'sendEmail']);
    expect(history.some((e) => e.type === 'TimerCreated' && e.purpose === 'sleep')).toBe(true);
    const shipping = history.find((e) => e.type === 'SubOrchestrationScheduled');
    expect(shipping).toMatchObject({ name: 'shipping', instanceId: `${id}:0.7` });
    expect((await env.client.getStatus(`${id}:0.7`)).output).toBe('TRK-o-1');
    await env.close();
  });

  it('retries a flaky payment and waits for approval of a large order', async () => {
    const env = await TestEnvironment.create(createExampleApp({ logger: silentLogger }));
    const id = await env.client.start('order', order({ customer: 'flaky@example.com', amount: 5_000 }));
    await env.client.raiseEvent(id, 'approval', { approved: true });
    const status = await env.client.waitForCompletion(id);
    expect(status.output).toMatchObject({ status: 'shipped' });
    const charges = (await env.client.getHistory(id)).filter((e) => e.type === 'ActivityScheduled' && e.name === 'chargeCard');
    expect(charges).toHaveLength(2);
    await env.close();
  });

  it('refunds and releases the stock when the approval does not come within 3 days', async () => {
    const env = await TestEnvironment.create(createExampleApp({ logger: silentLogger }));
    const id = await env.client.start('order', order({ amount: 5_000 }));
    const status = await env.client.waitForCompletion(id);
    expect(status.output).toEqual({ orderId: 'o-1', status: 'rejected', reason: 'no approval within 3 days' });
    expect(activitiesOf(await env.client.getHistory(id))).toEqual(['reserveStock', 'chargeCard', 'refundPayment', 'releaseStock']);
    await env.close();
  });

  it('refunds and releases the stock when the approval carries no decision or a refusal', async () => {
    const env = await TestEnvironment.create(createExampleApp({ logger: silentLogger }));
    const cases = [
      { data: undefined, reason: 'the approval carried no decision (send {"approved": true} or false)' },
      { data: { approved: 'yes' }, reason: 'the approval carried no decision (send {"approved": true} or false)' },
      { data: { approved: false }, reason: 'rejected by the approver' },
    ];
    for (const [index, { data, reason }] of cases.entries()) {
      const id = await env.client.start('order', order({ orderId: `o-${index}`, amount: 5_000 }));
      await env.client.raiseEvent(id, 'approval', data);
      expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: { orderId: `o-${index}`, status: 'rejected', reason } });
      expect(activitiesOf(await env.client.getHistory(id))).toEqual(['reserveStock', 'chargeCard', 'refundPayment', 'releaseStock']);
    }
    await env.close();
  });

  it('refunds and releases the stock when a later step fails, then fails with that step’s error', async () => {
    const env = await TestEnvironment.create(createExampleApp({ logger: silentLogger }));
    const id = await env.client.start('order', order({ items: [{ sku: 'book', quantity: 1 }, { sku: 'DAMAGED-vase', quantity: 1 }] }));
    const status = await env.client.waitForCompletion(id);
    expect(status).toMatchObject({ status: 'Failed', error: { name: 'ActivityFailedError' } });
    expect(status.error?.message).toContain('DAMAGED-vase is damaged and cannot be packed');
    const calls = activitiesOf(await env.client.getHistory(id));
    expect(calls.slice(-2)).toEqual(['refundPayment', 'releaseStock']);
    expect(calls).not.toContain('generateInvoice');
    await env.close();
  });

  it('releases the stock when the card is declined, and stops early when stock is missing', async () => {
    const env = await TestEnvironment.create(createExampleApp({ logger: silentLogger }));
    const declined = await env.client.start('order', order({ customer: 'declined@example.com' }));
    const missing = await env.client.start('order', order({ items: [{ sku: 'OUT-OF-STOCK-mug', quantity: 1 }] }));
    expect((await env.client.waitForCompletion(declined)).output).toMatchObject({ status: 'payment-failed', reason: 'card declined' });
    expect(activitiesOf(await env.client.getHistory(declined))).toEqual(['reserveStock', 'chargeCard', 'releaseStock']);
    expect((await env.client.waitForCompletion(missing)).output).toMatchObject({ status: 'out-of-stock' });
    await env.close();
  });
});
