/**
 * `npm run demo`: runs the example order saga on the in-memory test environment (time skipped) and
 * prints each instance's timeline.
 */
import { formatDuration, silentLogger, TestEnvironment, type HistoryEvent } from '../lib/index.js';
import { createExampleApp, type Order } from './example-app.js';

const app = createExampleApp({ logger: silentLogger });
const env = await TestEnvironment.create(app);

const orders: { order: Order; approve?: boolean }[] = [
  { order: { orderId: 'o-100', customer: 'ada@example.com', amount: 250, items: [{ sku: 'book', quantity: 2 }] } },
  {
    order: { orderId: 'o-200', customer: 'flaky-grace@example.com', amount: 4_200, items: [{ sku: 'laptop', quantity: 1 }, { sku: 'dock', quantity: 12 }] },
    approve: true,
  },
  { order: { orderId: 'o-300', customer: 'linus@example.com', amount: 90, items: [{ sku: 'OUT-OF-STOCK-mug', quantity: 1 }] } },
  { order: { orderId: 'o-400', customer: 'declined-alan@example.com', amount: 60, items: [{ sku: 'pen', quantity: 3 }] } },
];

for (const { order, approve } of orders) {
  const began = performance.now();
  const id = await env.client.start('order', order, { instanceId: `order-${order.orderId}` });
  if (approve !== undefined) {
    await env.idle();
    console.log(`\n${id}: ${(await env.client.getStatus(id)).status}; an approver approves it`);
    await env.client.raiseEvent(id, 'approval', { approved: approve });
  }
  const status = await env.client.waitForCompletion(id);
  const history = await env.client.getHistory(id);
  console.log(`\n${id}: ${status.status} in ${(performance.now() - began).toFixed(0)} ms of real time`);
  console.log(`  output: ${JSON.stringify(status.output)}`);
  printTimeline(history);
}

await env.close();

function printTimeline(history: HistoryEvent[]): void {
  const start = history[0]?.timestamp ?? 0;
  for (const event of history) {
    if (event.type === 'StepStarted') continue;
    const at = `+${formatDuration(event.timestamp - start)}`.padEnd(10);
    console.log(`  ${at} #${String(event.eventId).padEnd(3)} ${describe(event)}`);
  }
}

function describe(event: HistoryEvent): string {
  switch (event.type) {
    case 'ActivityScheduled':
      return `${event.type} ${event.name}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}`;
    case 'ActivityFailed':
    case 'SubOrchestrationFailed':
    case 'ExecutionFailed':
      return `${event.type} ${event.error.name}: ${event.error.message}`;
    case 'TimerCreated':
      return `${event.type} ${event.purpose} until +${formatDuration(event.fireAt - event.timestamp)}`;
    case 'SubOrchestrationScheduled':
      return `${event.type} ${event.name} as ${event.instanceId}`;
    case 'EventRaised':
      return `${event.type} ${event.name}`;
    default:
      return event.type;
  }
}
