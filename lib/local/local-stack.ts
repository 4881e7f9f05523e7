import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from '../core/app.js';
import type { Logger } from '../core/logger.js';
import { systemClock, type Clock } from '../ports.js';
import { createAwsRuntime, type AwsRuntime, type AwsRuntimeConfig } from '../aws/aws-runtime.js';
import { ensureTable } from '../aws/table.js';
import { injectSdkFaults } from '../aws/sdk-faults.js';
import { sleep, withFaults, type FaultInjector } from '../faults.js';
import { MetricCounters } from '../runtime/metric-counters.js';
import { takeOverUnfinished } from '../runtime/take-over.js';
import { startDynamoDbLocal, type RunningEmulator } from './dynamodb-local.js';
import type { QueueSource } from './local-sqs.js';
import { LocalScheduler } from './local-scheduler.js';
import { fileSigningKeys } from './file-signing-key.js';
import { SqsPoller, type PollerOptions } from './sqs-poller.js';
import { startSqsS3Local } from './sqs-s3-local.js';

export interface LocalStackOptions {
  /** Where the emulators keep their data; in memory when omitted. */
  dataDir?: string;
  /** @defaultValue 10 */
  maxReceiveCount?: number;
  /** Visibility timeout of received messages, in seconds (how long before a failed message is retried). @defaultValue 30 */
  visibilityTimeout?: number;
  /**
   * How long a handler may run, in seconds (Lambda's function timeout): inline steps fit in it, and a handler
   * past it counts as dead. Keep it below the visibility timeout (AWS uses a sixth), so that a message comes
   * back only after the invocation that took it is over. @defaultValue half the visibility timeout
   */
  functionTimeout?: number;
  /** A step or activity attempt whose invocation died this many times is poison. @defaultValue 3 */
  poisonAfterCrashes?: number;
  /** False sends activities registered `inline` to the activity queue anyway. @defaultValue true */
  inlineActivities?: boolean;
  /** @defaultValue 900 */
  maxTimerHopSeconds?: number;
  /**
   * Live executors the orchestrator's and the activity function's workers each keep between steps. The local
   * stack is one process standing in for a fleet of Lambda instances, whose caches add up. @defaultValue 2000
   */
  executorCacheSize?: number;
  inlineLimitBytes?: number;
  logger?: Logger;
  /** The runtime's clock (tests move it forward to fire long timers). @defaultValue the system clock */
  clock?: Clock;
  /**
   * Fault injection (tests and the chaos run): the runtime's AWS calls fail as the injector decides, its
   * workers crash at the crash points, and messages may be sent twice and out of order.
   */
  faults?: FaultInjector;
  /**
   * Told of each request the pollers make to the queues. They stand in for Lambda's event source mappings and
   * read fauxqs in this process, not through the AWS SDK, so no SDK client sees these requests; on AWS each is
   * an SQS request the event source mapping makes, and SQS bills it (`bench/cost-meter.ts` counts them).
   */
  onEventSourceRequest?: (request: EventSourceRequest) => void;
  /**
   * Fire the app's schedules on time, as EventBridge Scheduler does on AWS (`npm start` does). Off by
   * default, so that a test's instances are the ones it starts; `maxWaitMs` bounds how long the scheduler
   * goes without reading the clock (tests that move a virtual clock call `scheduler.tick()` instead).
   * @defaultValue false
   */
  schedules?: boolean | { maxWaitMs?: number };
  /**
   * The API's address in signed callback URLs: the address `serveHttpApi` answers on (a function, since
   * that is known only once it listens). The signing key is kept in `<dataDir>/callback-signing.key`.
   */
  apiUrl?: string | (() => string | undefined);
}

/** An SQS request of a Lambda event source mapping, made here by a poller in this process. */
export interface EventSourceRequest {
  operation: 'ReceiveMessage' | 'DeleteMessageBatch' | 'ChangeMessageVisibilityBatch';
  queueUrl: string;
  /** The messages it received, deleted or kept invisible (at most 10). */
  messages: number;
}

export interface LocalStack {
  runtime: AwsRuntime;
  config: AwsRuntimeConfig;
  /** The runtime's metrics since the start: what `GET /metrics` answers. */
  metrics: MetricCounters;
  /** Fires the app's schedules (with `schedules: true`). */
  scheduler?: LocalScheduler;
  /** Where the queued messages about an instance are (waiting, in flight, delayed), queue by queue: a diagnostic. */
  queuedFor(instanceId: string): string[];
  stop(): Promise<void>;
}

const NAMES = { table: 'perdure-local', bucket: 'perdure-local-payloads' };
/**
 * Four times a Lambda instance's. With 1,000 orders in flight (2,000 instances with their children), this
 * project's runs gave 139 to 157 activity steps/s, against 138 with 500 and 116 to 120 before the cache's admission.
 */
const LOCAL_EXECUTOR_CACHE_SIZE = 2_000;

/**
 * The whole AWS runtime on this machine: DynamoDB Local and fauxqs (SQS + S3) on 127.0.0.1, the
 * resources the CDK stack would create, and pollers standing in for the Lambda event source mappings.
 * On start it re-dispatches the outstanding work of every unfinished instance, because queued messages
 * do not survive a restart of the local SQS (the table does).
 */
export async function startLocalStack(app: App, options: LocalStackOptions = {}): Promise<LocalStack> {
  const logger = options.logger ?? app.logger;
  const emulators: RunningEmulator[] = [];
  try {
    const [dynamo, sqsS3] = await Promise.all([
      startDynamoDbLocal(options.dataDir ? { dbPath: privateFolder(join(options.dataDir, 'dynamodb')) } : {}),
      startSqsS3Local(options.dataDir ? { dataDir: privateFolder(join(options.dataDir, 's3')) } : {}),
    ]);
    emulators.push(dynamo, sqsS3);
    const maxReceiveCount = options.maxReceiveCount ?? 10;
    const base: AwsRuntimeConfig = {
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      endpoints: { dynamodb: dynamo.endpoint, sqs: sqsS3.endpoint, s3: sqsS3.endpoint },
      tableName: NAMES.table,
      bucketName: NAMES.bucket,
      queues: { orchestrator: '', activities: '', timers: '' },
      maxReceiveCount,
      maxTimerHopSeconds: options.maxTimerHopSeconds,
      inlineLimitBytes: options.inlineLimitBytes,
      poisonAfterCrashes: options.poisonAfterCrashes,
      inlineActivities: options.inlineActivities,
      executorCacheSize: options.executorCacheSize ?? LOCAL_EXECUTOR_CACHE_SIZE,
    };
    const bootstrap = createAwsRuntime(app, base, { logger, clock: options.clock });
    await ensureTable(bootstrap.clients.dynamodb, NAMES.table);
    await bootstrap.clients.s3.send(new CreateBucketCommand({ Bucket: NAMES.bucket })).catch((error: Error) => {
      if (!/BucketAlready/.test(error.name)) throw error;
    });
    const queues = await createQueues(bootstrap.clients.sqs, maxReceiveCount, options.visibilityTimeout ?? 30);
    const config: AwsRuntimeConfig = { ...base, queues };
    const { apiUrl } = options;
    const callbackUrls = { keys: fileSigningKeys(options.dataDir), apiUrl: typeof apiUrl === 'function' ? apiUrl : () => apiUrl };
    const metrics = new MetricCounters();
    // The emulators check no signature: their requests skip SigV4 (signRequests).
    const runtime = createAwsRuntime(app, config, { logger, clock: options.clock, crash: options.faults?.crashHook, callbackUrls, metrics, signRequests: false });

    const visibilityTimeout = options.visibilityTimeout ?? 30;
    const functionTimeout = options.functionTimeout ?? visibilityTimeout / 2;
    const metered = options.onEventSourceRequest ? meterRequests(sqsS3.queues, options.onEventSourceRequest) : sqsS3.queues;
    const source = options.faults ? queueFaults(metered, options.faults) : metered;
    const poll = (queueUrl: string, handler: PollerOptions['handler'], concurrency: number) =>
      new SqsPoller({ queues: source, queueUrl, handler, logger, visibilityTimeout, functionTimeout, concurrency });
    const { handlers } = runtime;
    // With faults, an invocation may start late (a starved or paused function): past its message's visibility timeout, sometimes past its own.
    const slow = (name: string, handler: PollerOptions['handler']): PollerOptions['handler'] => {
      const faults = options.faults;
      if (!faults) return handler;
      return async (records, context) => {
        const delay = faults.invocationDelay(name);
        if (delay > 0) await sleep(delay);
        return handler(records, context);
      };
    };
    const pollers = [
      poll(queues.orchestrator, slow('Lambda.orchestrator', (records, context) => handlers.doorbells(records, context)), 4),
      poll(queues.activities, slow('Lambda.activity', (records, context) => handlers.activities(records, context)), 4),
      // The priority lane's event sources: their own pollers, so a backlog of normal work does not hold its work up.
      poll(queues.orchestratorHigh!, slow('Lambda.orchestrator', (records, context) => handlers.doorbells(records, context)), 2),
      poll(queues.activitiesHigh!, slow('Lambda.activity', (records, context) => handlers.activities(records, context)), 2),
      poll(queues.timers, (records, context) => handlers.timers(records, context), 1),
      poll(queues.activityDeadLetters!, (records) => handlers.activityDeadLetters(records), 1),
      poll(queues.orchestratorDeadLetters!, (records) => handlers.orchestratorDeadLetters(records), 1),
    ];
    await takeOverUnfinished(runtime.store, runtime.queues);
    if (options.faults) injectSdkFaults(runtime.clients, options.faults, { duplicateQueues: [queues.orchestrator, queues.activities, queues.timers, queues.orchestratorHigh!, queues.activitiesHigh!] });
    for (const poller of pollers) poller.start();
    const scheduler = options.schedules
      ? new LocalScheduler({ app, schedules: runtime.schedules, clock: options.clock ?? systemClock, logger, ...(typeof options.schedules === 'object' ? options.schedules : {}) })
      : undefined;
    await scheduler?.start();
    return {
      runtime,
      config,
      metrics,
      ...(scheduler ? { scheduler } : {}),
      queuedFor: (instanceId) => sqsS3.findMessages(`"instanceId":${JSON.stringify(instanceId)}`),
      stop: async () => {
        await scheduler?.stop();
        await Promise.all(pollers.map((poller) => poller.stop()));
        for (const client of Object.values(runtime.clients)) client.destroy();
        for (const client of Object.values(bootstrap.clients)) client.destroy();
        await Promise.all(emulators.map((emulator) => emulator.stop()));
      },
    };
  } catch (error) {
    await Promise.allSettled(emulators.map((emulator) => emulator.stop()));
    throw error;
  }
}

/**
 * The pollers' receives and deletes fail as the injector decides, under the names of the SQS calls a
 * Lambda event source mapping makes: a lost delete brings a handled message back, a lost receive leaves
 * messages invisible until their visibility timeout.
 */
function queueFaults(queues: QueueSource, faults: FaultInjector): QueueSource {
  const calls = withFaults(
    {
      ReceiveMessage: (...args: Parameters<QueueSource['receive']>) => queues.receive(...args),
      DeleteMessageBatch: (...args: Parameters<QueueSource['delete']>) => queues.delete(...args),
      ChangeMessageVisibilityBatch: (...args: Parameters<QueueSource['changeVisibility']>) => queues.changeVisibility(...args),
    },
    faults,
    'SQS',
    ['ReceiveMessage', 'DeleteMessageBatch', 'ChangeMessageVisibilityBatch'],
  );
  return { receive: calls.ReceiveMessage, delete: calls.DeleteMessageBatch, changeVisibility: calls.ChangeMessageVisibilityBatch };
}

/** Reports each request the pollers make, as an event source mapping would make it: ten messages at most to a batch request. */
function meterRequests(queues: QueueSource, report: (request: EventSourceRequest) => void): QueueSource {
  const batches = (operation: 'DeleteMessageBatch' | 'ChangeMessageVisibilityBatch', queueUrl: string, handles: string[]) => {
    for (let i = 0; i < handles.length; i += 10) report({ operation, queueUrl, messages: Math.min(10, handles.length - i) });
  };
  return {
    async receive(queueUrl, options) {
      const messages = await queues.receive(queueUrl, options);
      report({ operation: 'ReceiveMessage', queueUrl, messages: messages.length });
      return messages;
    },
    async delete(queueUrl, receiptHandles) {
      await queues.delete(queueUrl, receiptHandles);
      batches('DeleteMessageBatch', queueUrl, receiptHandles);
    },
    async changeVisibility(queueUrl, receiptHandles, seconds) {
      await queues.changeVisibility(queueUrl, receiptHandles, seconds);
      batches('ChangeMessageVisibilityBatch', queueUrl, receiptHandles);
    },
  };
}

/** Creates `folder` for this user only, or makes it so: the table and the payloads are nobody else's to read. */
function privateFolder(folder: string): string {
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32' && (statSync(folder).mode & 0o077) !== 0) chmodSync(folder, 0o700);
  return folder;
}

async function createQueues(sqs: SQSClient, maxReceiveCount: number, visibilityTimeout: number): Promise<AwsRuntimeConfig['queues']> {
  const create = async (name: string, attributes: Record<string, string> = {}) => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    return { url: QueueUrl!, arn: Attributes!.QueueArn! };
  };
  const redrive = (dlqArn: string) => JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount });
  const visibility = String(visibilityTimeout);
  const orchestratorDlq = await create('perdure-orchestrator-dlq.fifo', { FifoQueue: 'true' });
  const activityDlq = await create('perdure-activities-dlq');
  const timerDlq = await create('perdure-timers-dlq');
  const orchestrator = await create('perdure-orchestrator.fifo', { FifoQueue: 'true', VisibilityTimeout: visibility, RedrivePolicy: redrive(orchestratorDlq.arn) });
  const activities = await create('perdure-activities', { VisibilityTimeout: visibility, RedrivePolicy: redrive(activityDlq.arn) });
  const timers = await create('perdure-timers', { VisibilityTimeout: visibility, RedrivePolicy: redrive(timerDlq.arn) });
  // The priority lane's queues share their lane's dead-letter queue, as the construct's do.
  const orchestratorHigh = await create('perdure-orchestrator-high.fifo', { FifoQueue: 'true', VisibilityTimeout: visibility, RedrivePolicy: redrive(orchestratorDlq.arn) });
  const activitiesHigh = await create('perdure-activities-high', { VisibilityTimeout: visibility, RedrivePolicy: redrive(activityDlq.arn) });
  return {
    orchestrator: orchestrator.url,
    activities: activities.url,
    timers: timers.url,
    orchestratorHigh: orchestratorHigh.url,
    activitiesHigh: activitiesHigh.url,
    activityDeadLetters: activityDlq.url,
    orchestratorDeadLetters: orchestratorDlq.url,
  };
}

