/**
 * What one step of a sequential orchestration costs on AWS, from what it does on the embedded local stack:
 * the AWS requests (the runtime's, counted by SDK middleware; the event source mappings' receives and
 * deletes, which the local pollers make in process, as the pollers report them), the DynamoDB capacity they
 * consume (estimated from item sizes, `dynamodb-units.ts`), the SQS requests by queue kind, and the Lambda
 * invocations and handler time.
 * `bench/cost.ts` prints it against the anchors; `test/cost.test.ts` gates the counts, which are
 * deterministic (a sequential orchestration makes the same requests every run).
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DEFAULT_PRICES } from '../lib/core/cost-prices.js';
import { createApp, silentLogger } from '../lib/index.js';
import type { QueueRecord } from '../lib/aws/sqs-handlers.js';
import { startLocalStack, type LocalStack } from '../lib/local/local-stack.js';
import { meterCapacity, type CapacityMeter } from './dynamodb-units.js';
import { RequestCounter } from './request-counter.js';

// List prices, us-east-1, as published on the AWS pricing pages in 2026-11: the ledger's table
// (`lib/core/cost-prices.ts`), and for the anchors /step-functions/pricing and the Lambda durable functions
// section of /lambda/pricing.
export const PRICES = {
  ...DEFAULT_PRICES,
  /** The construct's default function memory. */
  lambdaMemoryGb: 0.5,
  /** Step Functions Standard workflows, per million state transitions. */
  stepFunctionsPerMillionTransitions: 25,
  /** Lambda durable functions, per million durable operations (steps, waits, callbacks, ...). */
  durableFunctionsPerMillionOperations: 8.0,
} as const;

/** How the activity of each step runs: inside the orchestrator's invocation, or from the activity queue. */
export type StepKind = 'inline' | 'queued';

export interface Measurement {
  kind: StepKind;
  steps: number;
  seconds: number;
  /**
   * Requests by service and operation (the waiting loop uses a client of its own, not counted): the runtime's,
   * and those Lambda's event source mappings make on AWS (`SQS.ReceiveMessage`, `SQS.DeleteMessageBatch`).
   */
  requests: Map<string, number>;
  sqs: { fifo: number; standard: number; emptyReceives: number };
  capacity: CapacityMeter;
  /** Handler times, by handler: each call is one Lambda invocation. */
  lambda: Map<string, number[]>;
  /** Milliseconds each request took, by service and operation. */
  latency: Map<string, number[]>;
}

/**
 * Runs a sequential orchestration of `steps` activities on a fresh local stack, after a short warm-up
 * (so JIT compilation and connection set-up are not counted), and measures everything its steps cost.
 */
export async function measureSteps(steps: number, kind: StepKind): Promise<Measurement> {
  return (await measureRuns([steps], kind))[0]!;
}

/**
 * The same for several runs on one stack, one after another (after one warm-up): the difference of two
 * runs is what the extra steps cost, without the instance's start and end.
 */
export async function measureRuns(runs: number[], kind: StepKind): Promise<Measurement[]> {
  // BENCH_TRACING=off measures without the tracing interceptor; preload bench/otel-sdk.ts to measure with an SDK.
  const app = createApp({ logger: silentLogger, tracing: process.env.BENCH_TRACING !== 'off' });
  app.activity('work', async (n: number) => n + 1, { inline: kind === 'inline', timeout: '5s' });
  app.orchestration('sequence', async (ctx, count: number) => {
    let value = 0;
    for (let i = 0; i < count; i++) value = await ctx.callActivity<number>('work', value);
    return value;
  });

  const counter = new RequestCounter();
  const metered: { m?: Measurement } = {};
  // Each batch holds one message (a sequential orchestration gives nothing to batch): 1 s long polls. The pollers
  // stand in for the event source mappings and read the queues in process: they report their requests here.
  const stack = await startLocalStack(app, {
    logger: silentLogger,
    visibilityTimeout: 60,
    onEventSourceRequest: ({ operation, queueUrl, messages }) => {
      counter.add(`SQS.${operation}`);
      if (metered.m) countQueueRequest(metered.m, operation, queueUrl, messages);
    },
  });
  const { dynamodb, sqs, s3 } = stack.runtime.clients;
  counter.attach('DynamoDB', dynamodb);
  counter.attach('SQS', sqs);
  counter.attach('S3', s3);
  const m: Measurement = { kind, steps: 0, seconds: 0, requests: counter.counts, sqs: { fifo: 0, standard: 0, emptyReceives: 0 }, capacity: meterCapacity(dynamodb), lambda: new Map(), latency: new Map() };
  metered.m = m;
  meterLatency(stack, m);
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
  const measured: Measurement[] = [];
  try {
    await run(3);
    for (const steps of runs) {
      counter.reset();
      m.capacity.reset();
      Object.assign(m, { sqs: { fifo: 0, standard: 0, emptyReceives: 0 }, lambda: new Map(), latency: new Map() });
      const began = performance.now();
      await run(steps);
      measured.push({ ...m, steps, seconds: (performance.now() - began) / 1000, requests: new Map(counter.counts), sqs: { ...m.sqs }, capacity: { ...m.capacity, wru: { ...m.capacity.wru } } });
    }
  } finally {
    watcher.destroy();
    await stack.stop();
  }
  return measured;
}

function record(map: Map<string, number[]>, key: string, ms: number): void {
  const values = map.get(key) ?? [];
  values.push(ms);
  map.set(key, values);
}

function meterLatency(stack: LocalStack, m: Measurement): void {
  (stack.runtime.clients.dynamodb.middlewareStack as { add: (mw: unknown, options: unknown) => void }).add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const began = performance.now();
      try {
        return await next(args);
      } finally {
        record(m.latency, `DynamoDB.${(context.commandName ?? '').replace(/Command$/, '')}`, performance.now() - began);
      }
    },
    { step: 'initialize', name: 'perdureLatencyMeter' },
  );
}

/** An SQS request by queue kind (FIFO costs more), or a receive that returned nothing. */
function countQueueRequest(m: Measurement, operation: string, queueUrl: string, received?: number): void {
  if (operation === 'ReceiveMessage' && received === 0) m.sqs.emptyReceives++;
  else if (queueUrl.endsWith('.fifo')) m.sqs.fifo++;
  else if (queueUrl) m.sqs.standard++;
}

/** The runtime's SQS requests (through the SDK) by queue kind, and their latency. */
function meterSqs(stack: LocalStack, m: Measurement): void {
  (stack.runtime.clients.sqs.middlewareStack as { add: (mw: unknown, options: unknown) => void }).add(
    (next: (args: { input: any }) => Promise<{ output: any }>, context: { commandName?: string }) => async (args: { input: any }) => {
      const began = performance.now();
      const result = await next(args);
      const operation = (context.commandName ?? '').replace(/Command$/, '');
      if (operation !== 'ReceiveMessage') record(m.latency, `SQS.${operation}`, performance.now() - began);
      countQueueRequest(m, operation, String(args.input.QueueUrl ?? ''), operation === 'ReceiveMessage' ? (result.output.Messages?.length ?? 0) : undefined);
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
    handlers[name] = async (records: QueueRecord[], context?: { deadline?: number }) => {
      const began = performance.now();
      try {
        return await original(records, context);
      } finally {
        record(m.lambda, name, performance.now() - began);
      }
    };
  };
  wrap('doorbells');
  wrap('activities');
  wrap('timers');
}

/** What a measured step costs, per step and per million steps. */
export interface StepCost {
  /** AWS requests a step makes, the event source mappings' deletes included, their receives not. */
  requests: number;
  /** The same with the receives that returned messages. */
  billableRequests: number;
  wru: number;
  rru: number;
  /** SQS hops: messages a step sends through a queue to be received by another invocation. */
  queueHops: number;
  invocations: number;
  billedMs: number;
  msPerStep: number;
  /** Lines of the bill: service, usage per step, $ per million steps. */
  lines: [string, string, number][];
  total: number;
  totalArm64: number;
}

export function costOf(m: Measurement): StepCost {
  const per = (n: number) => n / m.steps;
  const invocations = [...m.lambda.values()].flat();
  const billedMs = per(invocations.reduce((sum, ms) => sum + Math.ceil(ms), 0));
  const gbSeconds = (billedMs / 1000) * PRICES.lambdaMemoryGb;
  const receives = (m.requests.get('SQS.ReceiveMessage') ?? 0) - m.sqs.emptyReceives;
  const requests = [...m.requests].filter(([key]) => key !== 'SQS.ReceiveMessage').reduce((sum, [, count]) => sum + count, 0);
  const s3Puts = per(m.requests.get('S3.PutObject') ?? 0);
  const s3Gets = per(m.requests.get('S3.GetObject') ?? 0);
  const wru = per(m.capacity.wru.table + m.capacity.wru.index);
  const rru = per(m.capacity.rru);
  const lines: [string, string, number][] = [
    ['DynamoDB writes', `${wru.toFixed(2)} WRU (${per(m.capacity.wru.table).toFixed(2)} table + ${per(m.capacity.wru.index).toFixed(2)} byStatus index)`, wru * PRICES.dynamoDbPerMillionWru],
    ['DynamoDB reads', `${rru.toFixed(2)} RRU (strongly consistent)`, rru * PRICES.dynamoDbPerMillionRru],
    ['SQS FIFO (orchestrator)', `${per(m.sqs.fifo).toFixed(2)} requests`, per(m.sqs.fifo) * PRICES.sqsFifoPerMillion],
    ['SQS standard (activities)', `${per(m.sqs.standard).toFixed(2)} requests`, per(m.sqs.standard) * PRICES.sqsStandardPerMillion],
    ['S3', `${s3Puts.toFixed(2)} PUT, ${s3Gets.toFixed(2)} GET`, s3Puts * PRICES.s3PutPerThousand * 1000 + s3Gets * PRICES.s3GetPerThousand * 1000],
    ['Lambda requests', `${per(invocations.length).toFixed(2)} invocations`, per(invocations.length) * PRICES.lambdaPerMillionRequests],
    ['Lambda duration (x86)', `${billedMs.toFixed(1)} billed ms × ${PRICES.lambdaMemoryGb} GB`, gbSeconds * PRICES.lambdaPerGbSecondX86 * 1e6],
  ];
  const total = lines.reduce((sum, [, , cost]) => sum + cost, 0);
  const sends = (m.requests.get('SQS.SendMessageBatch') ?? 0) + (m.requests.get('SQS.SendMessage') ?? 0);
  return {
    requests: per(requests),
    billableRequests: per(requests + receives),
    wru,
    rru,
    queueHops: per(sends),
    invocations: per(invocations.length),
    billedMs,
    msPerStep: (m.seconds * 1000) / m.steps,
    lines,
    total,
    totalArm64: total - lines.at(-1)![2] + gbSeconds * PRICES.lambdaPerGbSecondArm64 * 1e6,
  };
}
