/**
 * A fan-out of 10,000 activities on the local stack, and what its results cost the instance's DynamoDB
 * partition (1,000 write units a second at most). Results ride the doorbells of the instance's FIFO group,
 * up to ten a receive, so a step applies them ten at a time and writes one history item for them; steps of
 * one instance never overlap, and a step's commit is paced (`lib/aws/write-pacing.ts`). The bench counts
 * every write to the instance's partition key, in write units as DynamoDB counts them, and prints the
 * busiest second, the steps, the results per step and the largest step's units.
 * Run: npx tsx bench/fan-out.ts [width=10000]
 */
import type { AttributeValue, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { putUnits, transactionUnits } from '../lib/aws/write-pacing.js';
import { createApp, silentLogger } from '../lib/index.js';
import { startLocalStack } from '../lib/local/local-stack.js';
import { summarize } from './summary.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const WIDTH = Number(process.argv[2] ?? 10_000);
type Item = Record<string, AttributeValue>;

interface Write {
  at: number;
  pk: string;
  units: number;
}

/** Write units by partition key of a DynamoDB command's input. */
function writesOf(command: string, input: Record<string, unknown>): { pk: string; units: number }[] {
  const pkOf = (item: Item | undefined) => item?.PK?.S ?? '?';
  switch (command) {
    case 'PutItem':
      return [{ pk: pkOf(input.Item as Item), units: putUnits(input.Item as Item) }];
    case 'UpdateItem':
    case 'DeleteItem':
      return [{ pk: pkOf(input.Key as Item), units: 1 }];
    case 'TransactWriteItems':
      return (input.TransactItems as TransactWriteItem[]).map((entry) => ({ pk: pkOf((entry.Put?.Item ?? entry.Delete?.Key ?? entry.ConditionCheck?.Key ?? entry.Update?.Key) as Item), units: transactionUnits([entry]) }));
    case 'BatchWriteItem':
      return Object.values(input.RequestItems as Record<string, { DeleteRequest?: { Key: Item }; PutRequest?: { Item: Item } }[]>)
        .flat()
        .map((request) => ({ pk: pkOf(request.DeleteRequest?.Key ?? request.PutRequest?.Item), units: request.PutRequest ? putUnits(request.PutRequest.Item) : 1 }));
    default:
      return [];
  }
}

/** The most units written to `pk` within any one second. */
function busiestSecond(writes: Write[], pk: string): number {
  const mine = writes.filter((write) => write.pk === pk).sort((a, b) => a.at - b.at);
  let best = 0;
  let sum = 0;
  let start = 0;
  for (const write of mine) {
    sum += write.units;
    while (write.at - mine[start]!.at >= 1_000) sum -= mine[start++]!.units;
    best = Math.max(best, sum);
  }
  return best;
}

async function run(resultBytes: number) {
  const app = createApp({ logger: silentLogger, maxHistoryEvents: 3 * WIDTH + 100 });
  // Random bytes do not compress: the worst case for the size of a history item.
  app.activity('part', async (i: number) => ({ i, blob: resultBytes ? randomBytes(Math.ceil((resultBytes * 3) / 4)).toString('base64') : '' }));
  app.orchestration('fanOut', async (ctx, width: number) => {
    const results = await Promise.all(Array.from({ length: width }, (_, i) => ctx.callActivity<{ i: number }>('part', i)));
    return results.every((result, i) => result.i === i) ? width : -1;
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-fan-out-'));
  const stack = await startLocalStack(app, { dataDir, logger: silentLogger });
  const writes: Write[] = [];
  (stack.runtime.clients.dynamodb.middlewareStack as { add: (mw: unknown, options: unknown) => void }).add(
    (next: (args: { input: Record<string, unknown> }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => {
      const output = await next(args);
      const at = Date.now();
      for (const write of writesOf((context.commandName ?? '').replace(/Command$/, ''), args.input)) writes.push({ at, ...write });
      return output;
    },
    { step: 'initialize', name: 'perdureWriteCounter' },
  );
  let steps = 0;
  const step = stack.runtime.orchestrations.step.bind(stack.runtime.orchestrations);
  stack.runtime.orchestrations.step = (...args) => {
    steps++;
    return step(...args);
  };
  try {
    const began = performance.now();
    const id = await stack.runtime.client.start('fanOut', WIDTH, { instanceId: `fan-out-${resultBytes}` });
    const status = await stack.runtime.client.waitForCompletion(id, { timeout: '30m' });
    const seconds = (performance.now() - began) / 1000;
    if (status.output !== WIDTH) throw new Error(`the fan-out ended ${status.status} with ${JSON.stringify(status.output)}`);
    const history = await stack.runtime.client.getHistory(id, { payloads: 'keep' });
    const stepsWithResults = history.reduce((count, event, index) => (event.type === 'StepStarted' && history[index + 1]?.type === 'ActivityCompleted' ? count + 1 : count), 0);
    const pk = `I#${id}`;
    const mine = writes.filter((write) => write.pk === pk);
    return {
      resultBytes,
      seconds,
      steps,
      resultsPerStep: WIDTH / stepsWithResults,
      busiest: busiestSecond(writes, pk),
      largestWrite: Math.max(...mine.map((write) => write.units)),
      totalUnits: mine.reduce((sum, write) => sum + write.units, 0),
    };
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const rows = [];
for (const resultBytes of [0, 1_000]) {
  process.stdout.write(`fan-out of ${WIDTH}, results of ${resultBytes} B... `);
  const row = await run(resultBytes);
  console.log(`${row.seconds.toFixed(1)} s`);
  rows.push(row);
}
console.log(`\n| results | time (s) | steps | results per step | write units on the instance's partition | busiest second (units) | largest write (units) |`);
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) {
  console.log(`| ${WIDTH.toLocaleString('en')} × ${row.resultBytes} B | ${row.seconds.toFixed(1)} | ${row.steps} | ${row.resultsPerStep.toFixed(1)} | ${row.totalUnits} | ${row.busiest} | ${row.largestWrite} |`);
}
const worst = Math.max(...rows.map((row) => row.busiest));
summarize({ area: 'fan-out', metric: `${WIDTH.toLocaleString('en')} results into one instance: busiest second of its partition`, result: `${worst} write units`, target: '< 1,000 (the partition)', met: worst < 1_000 });
