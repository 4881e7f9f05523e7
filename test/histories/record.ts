/**
 * Records the golden histories of the example app: `npm run record-histories`. Run it when a change is
 * meant to be compatible with running instances no more, i.e. with a new orchestration version; the
 * replay test keeps every history here replaying against the current code.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createExampleApp, type Order } from '../../functions/example-app.js';
import { silentLogger, TestEnvironment, type HistoryEvent } from '../../lib/index.js';

const folder = fileURLToPath(new URL('.', import.meta.url));
const env = await TestEnvironment.create(createExampleApp({ logger: silentLogger }));
const order = (overrides: Partial<Order>): Order => ({ orderId: 'o-1', customer: 'ada@example.com', amount: 100, items: [{ sku: 'book', quantity: 2 }, { sku: 'lamp', quantity: 25 }], ...overrides });

/** `approval`: the event's `approved` field; null raises the event without data. */
const cases: { name: string; order: Order; approval?: boolean | null }[] = [
  { name: 'order-shipped', order: order({}) },
  { name: 'order-approved-after-flaky-payment', order: order({ customer: 'flaky@example.com', amount: 5_000 }), approval: true },
  { name: 'order-rejected-without-approval', order: order({ amount: 5_000 }) },
  { name: 'order-out-of-stock', order: order({ items: [{ sku: 'OUT-OF-STOCK-mug', quantity: 1 }] }) },
  { name: 'order-approval-without-decision', order: order({ amount: 5_000 }), approval: null },
  { name: 'order-damaged-item-compensated', order: order({ items: [{ sku: 'book', quantity: 2 }, { sku: 'DAMAGED-vase', quantity: 1 }] }) },
];

for (const { name, order: input, approval } of cases) {
  const id = await env.client.start('order', input, { instanceId: name });
  if (approval !== undefined) await env.client.raiseEvent(id, 'approval', approval === null ? undefined : { approved: approval });
  await env.client.waitForCompletion(id);
  const events = (await env.client.getHistory(id)).map(shorten);
  await writeFile(`${folder}${name}.history.json`, JSON.stringify({ instanceId: id, generation: 0, events }, null, 1) + '\n');
  console.log(`recorded ${name}: ${events.length} events`);
}
await env.close();

/** Keeps the files small: long strings in payloads (the invoice PDF) do not change which calls replay makes. */
function shorten(event: HistoryEvent): HistoryEvent {
  return JSON.parse(JSON.stringify(event, (_key, value: unknown) => (typeof value === 'string' && value.length > 200 ? `${value.slice(0, 40)}…(${value.length} chars)` : value))) as HistoryEvent;
}
