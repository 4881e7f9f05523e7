/**
 * AWS requests per activity step on the embedded local stack, counted by SDK middleware: a sequential
 * orchestration of N activities, minus the polling (ReceiveMessage) a Lambda event source mapping does
 * for free. Run: npx tsx bench/requests-per-step.ts [steps]
 */
import { createApp, silentLogger } from '../lib/index.js';
import { startLocalStack } from '../lib/local/local-stack.js';
import { RequestCounter } from './request-counter.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const steps = Number(process.argv[2] ?? 50);
const app = createApp({ logger: silentLogger });
app.activity('work', async (n: number) => n + 1);
app.orchestration('sequence', async (ctx, count: number) => {
  let value = 0;
  for (let i = 0; i < count; i++) value = await ctx.callActivity<number>('work', value);
  return value;
});

const stack = await startLocalStack(app, { logger: silentLogger });
const counter = new RequestCounter();
counter.attach('DynamoDB', stack.runtime.clients.dynamodb);
counter.attach('SQS', stack.runtime.clients.sqs);
counter.attach('S3', stack.runtime.clients.s3);

const began = performance.now();
const id = await stack.runtime.client.start('sequence', steps);
for (;;) {
  const record = await stack.runtime.store.getInstance(id);
  if (record?.status === 'Completed') break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const seconds = (performance.now() - began) / 1000;
await stack.stop();

const isPolling = (key: string) => key === 'SQS.ReceiveMessage' || key === 'DynamoDB.GetItem';
const rows = [...counter.counts].filter(([key]) => !isPolling(key)).sort(([a], [b]) => a.localeCompare(b));
console.log(`\n${steps} sequential activity steps on the embedded local stack in ${seconds.toFixed(1)} s (${((seconds * 1000) / steps).toFixed(1)} ms a step)\n`);
console.log('request                          total   per step');
for (const [key, count] of rows) console.log(`${key.padEnd(32)} ${String(count).padStart(5)}   ${(count / steps).toFixed(2)}`);
const total = rows.reduce((sum, [, count]) => sum + count, 0);
console.log(`${'all (without polling)'.padEnd(32)} ${String(total).padStart(5)}   ${(total / steps).toFixed(2)}`);
console.log(`(polling, not counted: ${counter.total(isPolling)} ReceiveMessage/GetItem calls, made by the test's waiting loop and the pollers)`);
