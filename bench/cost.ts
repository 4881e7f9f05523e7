/**
 * What an activity step costs on AWS, per million steps, from what a step does on the embedded local
 * stack: the AWS requests it makes (counted by SDK middleware), the
 * DynamoDB capacity units they consume (estimated from the items' sizes with DynamoDB's rules, beside
 * what DynamoDB Local reports), and the Lambda invocations and handler time it takes. Compared with Step
 * Functions Standard and Lambda durable functions at list prices.
 * Run: npx tsx bench/cost.ts [steps]   (default 50 sequential steps, after a short warm-up)
 */
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { availableParallelism, loadavg } from 'node:os';
import { createApp, silentLogger } from '../lib/index.js';
import type { QueueRecord } from '../lib/aws/sqs-handlers.js';
import { startLocalStack, type LocalStack } from '../lib/local/local-stack.js';
import { RequestCounter } from './request-counter.js';
import { summarize } from './summary.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

// ---------------------------------------------------------------------------------------------------
// List prices, us-east-1, as published on the AWS pricing pages in 2026-11:
// aws.amazon.com/dynamodb/pricing/on-demand, /sqs/pricing, /s3/pricing, /lambda/pricing,
// /step-functions/pricing, and the Lambda durable functions section of /lambda/pricing.

/** DynamoDB on-demand, per million write request units (after the November 2024 price cut). */
const DYNAMODB_PER_MILLION_WRU = 0.625;
/** DynamoDB on-demand, per million read request units (after the November 2024 price cut). */
const DYNAMODB_PER_MILLION_RRU = 0.125;
/** SQS standard queues, per million requests (each 64 KB chunk of a request is one request). */
const SQS_STANDARD_PER_MILLION = 0.4;
/** SQS FIFO queues, per million requests: the orchestrator queue is FIFO. */
const SQS_FIFO_PER_MILLION = 0.5;
/** S3 Standard, per 1,000 PUT (and COPY, POST, LIST) requests. */
const S3_PUT_PER_THOUSAND = 0.005;
/** S3 Standard, per 1,000 GET (and SELECT and other) requests. */
const S3_GET_PER_THOUSAND = 0.0004;
/** Lambda, per million requests. */
const LAMBDA_PER_MILLION_REQUESTS = 0.2;
/** Lambda on x86, per GB-second (first 6 billion GB-seconds a month). */
const LAMBDA_PER_GB_SECOND_X86 = 0.0000166667;
/** Lambda on arm64, per GB-second: the CDK construct deploys arm64, so this is what it would bill. */
const LAMBDA_PER_GB_SECOND_ARM64 = 0.0000133334;
/** The construct's default function memory (cdk/durable-functions.ts). */
const LAMBDA_MEMORY_GB = 0.5;
/** Step Functions Standard workflows, per million state transitions. */
const STEP_FUNCTIONS_PER_MILLION_TRANSITIONS = 25;
/** Lambda durable functions, per million durable operations (steps, waits, callbacks, ...). */
const DURABLE_FUNCTIONS_PER_MILLION_OPERATIONS = 8.0;

const KB = 1024;

// ---------------------------------------------------------------------------------------------------
// DynamoDB capacity, by DynamoDB's rules:
// - a write is 1 WRU per started KB of the item (the larger of the old and the new item); inside
//   TransactWriteItems every action (Put, Delete, ConditionCheck) is 2 WRU per started KB;
// - a strongly consistent read is 1 RRU per started 4 KB, summed over the items a Query returns;
// - the byStatus index (keys status, createdAt; projects name) is written only when a Put of META
//   changes one of those: a new status deletes the old entry and puts the new one (two small writes);
//   inside a transaction these count double too (as DynamoDB Local reports them; the conservative
//   reading of the docs). A step that keeps the status writes nothing to it.

/** An item's size as DynamoDB counts it: each attribute's name (UTF-8) plus its value. */
function itemBytes(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + valueBytes(value), 0);
}

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return Math.ceil(Math.max(1, value.N.replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length) / 2) + 1;
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L) return 3 + value.L.reduce((sum, v) => sum + 1 + valueBytes(v), 0);
  if (value.M) return 3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + 1 + valueBytes(v), 0);
  return 0;
}

const kb = (bytes: number) => Math.max(1, Math.ceil(bytes / KB));
type Item = Record<string, AttributeValue>;

interface Measurement {
  steps: number;
  seconds: number;
  /** Requests by service and operation, without the waiting loop (which uses its own client). */
  requests: Map<string, number>;
  sqs: { fifo: number; standard: number; emptyReceives: number };
  /** Estimated from item sizes. */
  wru: { table: number; index: number };
  rru: number;
  /** What DynamoDB Local put in ConsumedCapacity, when it did. */
  reported: { write: number; read: number; responses: number; withCapacity: number };
  itemSizes: { meta: number; history: number; inbox: number };
  lambda: Map<string, number[]>;
  /** Milliseconds each request took, by service and operation. */
  latency: Map<string, number[]>;
}

/**
 * Runs a sequential orchestration of `steps` activities on a fresh local stack and measures everything a
 * step costs: requests counted by SDK middleware, plus capacity units, queue kinds and
 * handler times. A warm-up instance runs first, so JIT compilation and connection set-up are not counted.
 */
async function measure(steps: number): Promise<Measurement> {
  const app = createApp({ logger: silentLogger });
  app.activity('work', async (n: number) => n + 1);
  app.orchestration('sequence', async (ctx, count: number) => {
    let value = 0;
    for (let i = 0; i < count; i++) value = await ctx.callActivity<number>('work', value);
    return value;
  });

  const stack = await startLocalStack(app, { logger: silentLogger });
  const { dynamodb, sqs, s3 } = stack.runtime.clients;
  const counter = new RequestCounter();
  counter.attach('DynamoDB', dynamodb);
  counter.attach('SQS', sqs);
  counter.attach('S3', s3);

  const m: Measurement = {
    steps,
    seconds: 0,
    requests: counter.counts,
    sqs: { fifo: 0, standard: 0, emptyReceives: 0 },
    wru: { table: 0, index: 0 },
    rru: 0,
    reported: { write: 0, read: 0, responses: 0, withCapacity: 0 },
    itemSizes: { meta: 0, history: 0, inbox: 0 },
    lambda: new Map(),
    latency: new Map(),
  };
  const reset = () => {
    counter.reset();
    Object.assign(m, { sqs: { fifo: 0, standard: 0, emptyReceives: 0 }, wru: { table: 0, index: 0 }, rru: 0, reported: { write: 0, read: 0, responses: 0, withCapacity: 0 }, lambda: new Map(), latency: new Map() });
  };
  meterDynamoDb(stack, m);
  meterSqs(stack, m);
  meterHandlers(stack, m);

  // The waiting loop reads through its own client, so none of its GetItem calls are counted.
  const watcher = new DynamoDBClient({ region: 'us-east-1', endpoint: stack.config.endpoints!.dynamodb, credentials: stack.config.credentials! });
  const run = async (count: number) => {
    const id = await stack.runtime.client.start('sequence', count);
    for (;;) {
      const { Item } = await watcher.send(new GetItemCommand({ TableName: stack.config.tableName, Key: { PK: { S: `I#${id}` }, SK: { S: 'META' } }, ConsistentRead: true }));
      const status = Item?.status?.S;
      if (status === 'Completed') break;
      if (status && status !== 'Running' && status !== 'Pending') throw new Error(`instance ${id} is ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Let the pollers delete the last doorbell before the numbers are read.
    await new Promise((resolve) => setTimeout(resolve, 300));
  };
  try {
    await run(3);
    reset();
    const began = performance.now();
    await run(steps);
    m.seconds = (performance.now() - began) / 1000;
    m.requests = new Map(counter.counts);
  } finally {
    watcher.destroy();
    await stack.stop();
  }
  return m;
}

/** Asks DynamoDB (Local) for ConsumedCapacity on every request, and estimates the units from item sizes. */
function meterDynamoDb(stack: LocalStack, m: Measurement): void {
  const known = new Map<string, Item>();
  const keyOf = (item: Item) => `${item.PK?.S}|${item.SK?.S}`;
  const capacityOps = new Set(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'Scan', 'BatchWriteItem', 'TransactWriteItems']);
  const put = (item: Item, transactional: boolean) => {
    const old = known.get(keyOf(item));
    const size = itemBytes(item);
    m.wru.table += (transactional ? 2 : 1) * kb(Math.max(size, old ? itemBytes(old) : 0));
    if (item.SK?.S === 'META') {
      m.itemSizes.meta = size;
      // The byStatus index holds (status, createdAt) and projects name: it is written only when one of those changes.
      const entry = (of: Item): Item => ({ PK: of.PK!, SK: of.SK!, status: of.status!, createdAt: of.createdAt!, name: of.name! });
      const moved = old && (old.status?.S !== item.status?.S || old.createdAt?.N !== item.createdAt?.N);
      const changed = !old || moved || old.name?.S !== item.name?.S;
      if (changed) m.wru.index += (transactional ? 2 : 1) * (moved ? kb(itemBytes(entry(old))) + kb(itemBytes(entry(item))) : kb(itemBytes(entry(item))));
    } else if (item.SK?.S?.startsWith('H#')) m.itemSizes.history = Math.max(m.itemSizes.history, size);
    else if (item.SK?.S?.startsWith('M#')) m.itemSizes.inbox = Math.max(m.itemSizes.inbox, size);
    known.set(keyOf(item), item);
  };
  const remove = (key: Item, transactional: boolean) => {
    const old = known.get(keyOf(key));
    m.wru.table += (transactional ? 2 : 1) * kb(old ? itemBytes(old) : 0);
    known.delete(keyOf(key));
  };
  (stack.runtime.clients.dynamodb.middlewareStack as { add: (mw: unknown, options: unknown) => void }).add(
    (next: (args: { input: any }) => Promise<{ output: any }>, context: { commandName?: string }) => async (args: { input: any }) => {
      const op = (context.commandName ?? '').replace(/Command$/, '');
      if (capacityOps.has(op)) args.input.ReturnConsumedCapacity = 'INDEXES';
      const began = performance.now();
      const result = await next(args);
      record(m.latency, `DynamoDB.${op}`, performance.now() - began);
      const input = args.input;
      const output = result.output;
      if (op === 'TransactWriteItems') {
        for (const action of input.TransactItems as any[]) {
          if (action.Put) put(action.Put.Item, true);
          else if (action.Delete) remove(action.Delete.Key, true);
          else if (action.ConditionCheck) m.wru.table += 2 * kb(itemBytes(known.get(keyOf(action.ConditionCheck.Key)) ?? {}));
        }
      } else if (op === 'PutItem') put(input.Item, false);
      else if (op === 'BatchWriteItem') {
        for (const requests of Object.values<any[]>(input.RequestItems)) {
          for (const r of requests) {
            if (r.PutRequest) put(r.PutRequest.Item, false);
            else remove(r.DeleteRequest.Key, false);
          }
        }
      } else if (op === 'Query' || op === 'GetItem') {
        const items: Item[] = op === 'Query' ? (output.Items ?? []) : output.Item ? [output.Item] : [];
        const bytes = items.reduce((sum, item) => sum + itemBytes(item), 0);
        m.rru += (input.ConsistentRead ? 1 : 0.5) * Math.max(1, Math.ceil(bytes / (4 * KB)));
      }
      if (capacityOps.has(op)) {
        m.reported.responses++;
        const consumed = [output.ConsumedCapacity ?? []].flat() as { CapacityUnits?: number; WriteCapacityUnits?: number; ReadCapacityUnits?: number }[];
        if (consumed.length > 0) m.reported.withCapacity++;
        for (const c of consumed) {
          if (c.WriteCapacityUnits !== undefined || c.ReadCapacityUnits !== undefined) {
            m.reported.write += c.WriteCapacityUnits ?? 0;
            m.reported.read += c.ReadCapacityUnits ?? 0;
          } else if (/Query|GetItem|Scan/.test(op)) m.reported.read += c.CapacityUnits ?? 0;
          else m.reported.write += c.CapacityUnits ?? 0;
        }
      }
      return result;
    },
    { step: 'initialize', name: 'perdureCostMeter' },
  );
}

function record(map: Map<string, number[]>, key: string, ms: number): void {
  const values = map.get(key) ?? [];
  values.push(ms);
  map.set(key, values);
}

/** SQS requests by queue kind (FIFO costs more), and receives that returned nothing. */
function meterSqs(stack: LocalStack, m: Measurement): void {
  (stack.runtime.clients.sqs.middlewareStack as { add: (mw: unknown, options: unknown) => void }).add(
    (next: (args: { input: any }) => Promise<{ output: any }>, context: { commandName?: string }) => async (args: { input: any }) => {
      const began = performance.now();
      const result = await next(args);
      if (context.commandName !== 'ReceiveMessageCommand') record(m.latency, `SQS.${(context.commandName ?? '').replace(/Command$/, '')}`, performance.now() - began);
      const url = String(args.input.QueueUrl ?? '');
      if (context.commandName === 'ReceiveMessageCommand' && !result.output.Messages?.length) m.sqs.emptyReceives++;
      else if (url.endsWith('.fifo')) m.sqs.fifo++;
      else if (url) m.sqs.standard++;
      return result;
    },
    { step: 'initialize', name: 'perdureCostQueueMeter' },
  );
}

/** Each handler call is one Lambda invocation (one SQS batch); its time is the invocation's duration. */
function meterHandlers(stack: LocalStack, m: Measurement): void {
  const handlers = stack.runtime.handlers;
  const wrap = (name: 'doorbells' | 'activities' | 'timers') => {
    const original = handlers[name].bind(handlers);
    handlers[name] = async (records: QueueRecord[]) => {
      const began = performance.now();
      try {
        return await original(records);
      } finally {
        record(m.lambda, name, performance.now() - began);
      }
    };
  };
  wrap('doorbells');
  wrap('activities');
  wrap('timers');
}

// ---------------------------------------------------------------------------------------------------

const steps = Number(process.argv[2] ?? 50);
const m = await measure(steps);
const per = (n: number) => n / steps;
const perMillion = (perStep: number, pricePerMillion: number) => perStep * pricePerMillion;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

const invocations = [...m.lambda.values()].flat();
const invocationsPerStep = per(invocations.length);
/** Lambda bills each invocation's duration rounded up to the millisecond. */
const billedMsPerStep = per(invocations.reduce((sum, ms) => sum + Math.ceil(ms), 0));
const gbSecondsPerStep = (billedMsPerStep / 1000) * LAMBDA_MEMORY_GB;

const requests = [...m.requests].filter(([key]) => key !== 'SQS.ReceiveMessage');
const receivesWithMessages = (m.requests.get('SQS.ReceiveMessage') ?? 0) - m.sqs.emptyReceives;
const s3Puts = per(m.requests.get('S3.PutObject') ?? 0);
const s3Gets = per(m.requests.get('S3.GetObject') ?? 0);
const wruPerStep = per(m.wru.table + m.wru.index);
const rruPerStep = per(m.rru);

const lines: [string, string, number][] = [
  ['DynamoDB writes', `${wruPerStep.toFixed(2)} WRU (${per(m.wru.table).toFixed(2)} table + ${per(m.wru.index).toFixed(2)} byStatus index)`, perMillion(wruPerStep, DYNAMODB_PER_MILLION_WRU)],
  ['DynamoDB reads', `${rruPerStep.toFixed(2)} RRU (strongly consistent Query)`, perMillion(rruPerStep, DYNAMODB_PER_MILLION_RRU)],
  ['SQS FIFO (orchestrator)', `${per(m.sqs.fifo).toFixed(2)} requests`, perMillion(per(m.sqs.fifo), SQS_FIFO_PER_MILLION)],
  ['SQS standard (activities)', `${per(m.sqs.standard).toFixed(2)} requests`, perMillion(per(m.sqs.standard), SQS_STANDARD_PER_MILLION)],
  ['S3', `${s3Puts.toFixed(2)} PUT, ${s3Gets.toFixed(2)} GET`, s3Puts * S3_PUT_PER_THOUSAND * 1000 + s3Gets * S3_GET_PER_THOUSAND * 1000],
  ['Lambda requests', `${invocationsPerStep.toFixed(2)} invocations`, perMillion(invocationsPerStep, LAMBDA_PER_MILLION_REQUESTS)],
  ['Lambda duration (x86)', `${billedMsPerStep.toFixed(1)} billed ms × ${LAMBDA_MEMORY_GB} GB`, gbSecondsPerStep * LAMBDA_PER_GB_SECOND_X86 * 1e6],
];
const total = lines.reduce((sum, [, , cost]) => sum + cost, 0);

// The anchors. Step Functions: one transition per activity step, plus the start and the end of the run.
const transitionsPerStep = 1 + 2 / steps;
const stepFunctions = transitionsPerStep * STEP_FUNCTIONS_PER_MILLION_TRANSITIONS;
// ...and the Lambda function each Task state invokes for the activity (its own code only: 1 billed ms).
const stepFunctionsLambda = LAMBDA_PER_MILLION_REQUESTS + (1 / 1000) * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND_X86 * 1e6;
// Durable functions: one checkpointed operation per step; the whole sequence runs in one invocation (no
// waits), whose duration per step is the user code plus one synchronous checkpoint: taken to be the
// measured activity handler time (user code plus one durable write), the nearest thing measured here.
const durableOps = 1;
const activityMs = mean((m.lambda.get('activities') ?? []).map(Math.ceil));
const durable = durableOps * DURABLE_FUNCTIONS_PER_MILLION_OPERATIONS;
const durableLambda = LAMBDA_PER_MILLION_REQUESTS / steps + (activityMs / 1000) * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND_X86 * 1e6;

const money = (n: number) => `$${n.toFixed(2)}`;
console.log(`\nCost per million activity steps on AWS (us-east-1 list prices, 2026-11), measured on the embedded local stack`);
console.log(`${steps} sequential activity steps (after a 3-step warm-up) in ${m.seconds.toFixed(1)} s, Node ${process.version}, ${availableParallelism()} CPUs, load average ${loadavg()[0]!.toFixed(1)}\n`);

console.log('Measured per step:');
for (const [key, count] of requests.sort(([a], [b]) => a.localeCompare(b))) {
  const latency = m.latency.get(key);
  console.log(`  ${key.padEnd(30)} ${per(count).toFixed(2)}${latency ? `   (median ${median(latency).toFixed(1)} ms a request on the local emulators)` : ''}`);
}
console.log(`  ${'SQS.ReceiveMessage (non-empty)'.padEnd(30)} ${per(receivesWithMessages).toFixed(2)}   (the event source mappings' receives: billed, like their deletes)`);
const billable = requests.reduce((sum, [, count]) => sum + count, 0) + receivesWithMessages;
console.log(`  ${'billable AWS requests'.padEnd(30)} ${per(billable).toFixed(2)}   (${per(billable - receivesWithMessages).toFixed(2)} without the receives)`);
console.log(`  ${'item sizes'.padEnd(30)} META ${m.itemSizes.meta} B, history item ≤ ${m.itemSizes.history} B, inbox message ≤ ${m.itemSizes.inbox} B`);
console.log(
  `  ${'DynamoDB Local capacity'.padEnd(30)} ${m.reported.withCapacity}/${m.reported.responses} responses carried it: ${per(m.reported.write).toFixed(2)} write, ${per(m.reported.read).toFixed(2)} read units a step` +
    `\n  ${''.padEnd(30)} (it charges a multi-item TransactWriteItems for about one item: two 100 B Puts report 2 units, not 4;` +
    `\n  ${''.padEnd(30)} so the estimate from item sizes is used below: ${wruPerStep.toFixed(2)} WRU, ${rruPerStep.toFixed(2)} RRU)`,
);
for (const [name, times] of m.lambda) {
  if (times.length === 0) continue;
  console.log(`  ${`Lambda ${name}`.padEnd(30)} ${per(times.length).toFixed(2)} invocations, handler time median ${median(times).toFixed(1)} ms, mean ${mean(times).toFixed(1)} ms`);
}

console.log('\nservice                       per step                                          $ per million steps');
console.log('----------------------------  ------------------------------------------------  -------------------');
for (const [service, usage, cost] of lines) console.log(`${service.padEnd(28)}  ${usage.padEnd(48)}  ${money(cost).padStart(19)}`);
console.log(`${'Perdure total'.padEnd(28)}  ${''.padEnd(48)}  ${money(total).padStart(19)}`);
console.log('----------------------------  ------------------------------------------------  -------------------');
const anchor = (name: string, usage: string, cost: number) =>
  console.log(`${name.padEnd(28)}  ${usage.padEnd(48)}  ${money(cost).padStart(19)}   ${(cost / total).toFixed(2)}× Perdure`);
anchor('Step Functions Standard', `${transitionsPerStep.toFixed(2)} transitions`, stepFunctions);
anchor('  + activity Lambda', `1 invocation, 1 billed ms × ${LAMBDA_MEMORY_GB} GB`, stepFunctions + stepFunctionsLambda);
anchor('Lambda durable functions', `${durableOps} durable operation`, durable);
anchor('  + its Lambda', `${(1 / steps).toFixed(2)} invocations, ${activityMs.toFixed(0)} billed ms × ${LAMBDA_MEMORY_GB} GB`, durable + durableLambda);

summarize(
  { area: 'local stack', metric: 'AWS requests per activity step (without the event source mappings\' receives)', result: per(billable - receivesWithMessages).toFixed(2), target: '≤ 8', met: per(billable - receivesWithMessages) <= 8 },
  { area: 'local stack', metric: 'billable AWS requests per activity step (receives included)', result: per(billable).toFixed(2) },
  { area: 'cost', metric: 'per million activity steps: Perdure', result: money(total) },
  { area: 'cost', metric: 'per million: Step Functions Standard (+ activity Lambda)', result: `${money(stepFunctions + stepFunctionsLambda)} (${((stepFunctions + stepFunctionsLambda) / total).toFixed(2)}× Perdure)` },
  { area: 'cost', metric: 'per million: Lambda durable functions (+ its Lambda)', result: `${money(durable + durableLambda)} (${((durable + durableLambda) / total).toFixed(2)}× Perdure)` },
);
const armTotal = total - lines.at(-1)![2] + gbSecondsPerStep * LAMBDA_PER_GB_SECOND_ARM64 * 1e6;
const idleReceivesPerMonth = 5 * 5 * (30 * 86_400) / 20;
console.log(`
Assumptions:
- Prices (us-east-1, 2026-11): DynamoDB on-demand $${DYNAMODB_PER_MILLION_WRU}/M WRU, $${DYNAMODB_PER_MILLION_RRU}/M RRU; SQS $${SQS_STANDARD_PER_MILLION.toFixed(2)}/M standard,
  $${SQS_FIFO_PER_MILLION.toFixed(2)}/M FIFO requests; S3 $${S3_PUT_PER_THOUSAND}/1k PUT, $${S3_GET_PER_THOUSAND}/1k GET; Lambda $${LAMBDA_PER_MILLION_REQUESTS.toFixed(2)}/M requests,
  $${LAMBDA_PER_GB_SECOND_X86}/GB-s x86 at ${LAMBDA_MEMORY_GB * 1024} MB; Step Functions Standard $${STEP_FUNCTIONS_PER_MILLION_TRANSITIONS}/M transitions; durable functions $${DURABLE_FUNCTIONS_PER_MILLION_OPERATIONS.toFixed(2)}/M operations.
- One step = one activity of a sequential orchestration of ${steps} (the start and the end are spread over the ${steps} steps).
  Payloads are tiny (a number), so S3 is never used and every item fits in 1 KB; large payloads cost more (bench/payloads.ts).
- DynamoDB units are estimated from the items' sizes with DynamoDB's rules: 2 WRU per started KB for every action of a
  TransactWriteItems (ConditionCheck included), 1 per KB for single writes; the byStatus index (status, createdAt;
  projects name) is written only when the status changes (a delete and a put of the index entry, doubled inside a
  transaction as DynamoDB Local reports it); a strongly consistent Query is 1 RRU per started 4 KB of the items returned.
- Lambda: one invocation per SQS batch (here each batch holds one message, as a sequential orchestration gives); duration =
  the handler's time on the local stack, rounded up to the ms per invocation, warm (no cold starts). Handlers mostly wait
  on the emulators (latencies above), which answer slower than DynamoDB and SQS usually do in-region, so this likely
  overstates the duration. Each 10 ms more or less per invocation moves the total by ${money(invocationsPerStep * 0.01 * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND_X86 * 1e6)} per million steps.
  The construct deploys arm64 ($${LAMBDA_PER_GB_SECOND_ARM64}/GB-s): Perdure total on arm64 ${money(armTotal)}.
- SQS: the event source mappings' ReceiveMessage and DeleteMessageBatch calls are billed SQS requests and are counted.
  Their idle long polling is a fixed cost, not per step: about ${(idleReceivesPerMonth / 1e6).toFixed(1)}M empty receives a month for the 5 queues
  (≈5 pollers each, 20 s long polls) ≈ ${money((idleReceivesPerMonth / 1e6) * SQS_STANDARD_PER_MILLION)}/month. Not counted: CloudWatch Logs, data transfer, storage (DynamoDB $0.25/GB-month).
- Step Functions Standard: ${transitionsPerStep.toFixed(2)} transitions a step (one per activity, plus start and end); "+ activity Lambda" adds the
  Lambda invocation each Task state makes (1 billed ms).
- Lambda durable functions: at least one durable operation per step (the step's checkpoint); the sequence runs in one
  invocation (no waits), billed for the user code plus a synchronous checkpoint per step, taken as the measured activity
  handler time (${activityMs.toFixed(0)} ms). Its data-written charge is left out (payloads are bytes).`);
