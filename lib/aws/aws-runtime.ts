import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { App } from '../core/app.js';
import { ValidationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { Client } from '../client.js';
import type { InterceptorChain } from '../core/interceptors.js';
import { systemClock, type CallbackSigningKeys, type Clock, type MetricsSink } from '../ports.js';
import { TaskWorker } from '../runtime/activity-worker.js';
import { CallbackUrlSigner } from '../runtime/callback-urls.js';
import { OrchestrationWorker } from '../runtime/orchestration-worker.js';
import { ScheduleService } from '../runtime/schedules.js';
import type { CrashHook } from '../runtime/crash-points.js';
import { runtimeInterceptors } from '../runtime/interceptors.js';
import { usageMeter } from '../runtime/cost-scope.js';
import { metricsInterceptor } from '../runtime/metrics.js';
import { PayloadCodec } from '../runtime/payload-codec.js';
import { DynamoDbDeadLetters } from './dead-letters.js';
import { DynamoDbInstanceStore } from './dynamodb-store.js';
import { DynamoDbReplayFindings } from './replay-findings.js';
import { S3BlobStore } from './s3-blob-store.js';
import { DynamoDbScheduleStates } from './schedule-states.js';
import { SecretsManagerSigningKeys } from './secrets-manager-signing-keys.js';
import { QueueHandlers } from './sqs-handlers.js';
import { meterClients } from './usage-metering.js';
import { SqsWorkQueues, type SqsQueueUrls } from './sqs-queues.js';

/** Where the runtime's resources are. The CDK stack sets the matching environment variables. */
export interface AwsRuntimeConfig {
  region: string;
  tableName: string;
  bucketName: string;
  queues: SqsQueueUrls & { activityDeadLetters?: string; orchestratorDeadLetters?: string };
  /** One endpoint for every service (LocalStack, the embedded stack). The SDK also honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Per-service endpoints, when the services are not on one endpoint. */
  endpoints?: { dynamodb?: string; sqs?: string; s3?: string };
  maxReceiveCount?: number;
  inlineLimitBytes?: number;
  compressAboveBytes?: number;
  retentionDays?: number;
  maxTimerHopSeconds?: number;
  /** A step or activity attempt whose invocation died this many times is poison. @defaultValue 3 */
  poisonAfterCrashes?: number;
  /** False sends activities registered `inline` to the activity queue anyway. @defaultValue true */
  inlineActivities?: boolean;
  /** Inline steps one orchestrator invocation commits before it hands over. @defaultValue 100 */
  maxInlineSteps?: number;
  /**
   * Live executors each worker (the orchestrator's, the activity function's) keeps between steps
   * (`PERDURE_EXECUTOR_CACHE_SIZE`). Each holds its orchestration's variables. @defaultValue 500
   */
  executorCacheSize?: number;
  /**
   * A start runs the instance's first step in the caller's request and creates the instance with it: one
   * PutItem, no doorbell, no read (`PERDURE_EAGER_START`; architecture decision 40). @defaultValue true
   */
  eagerStart?: boolean;
  /** The schedules the stack's EventBridge Scheduler fires (the construct sets them); unknown when absent. */
  deployedSchedules?: string[];
  /** The API's base URL, stage included: the address in signed callback URLs (`PERDURE_API_URL`). */
  apiUrl?: string;
  /** The Secrets Manager secret (ARN or name) whose value signs callback URLs (`PERDURE_CALLBACK_KEY_SECRET`). */
  callbackKeySecret?: string;
}

/** Reads the configuration from the environment variables the CDK stack sets on every function. */
export function configFromEnvironment(env: NodeJS.ProcessEnv = process.env): AwsRuntimeConfig {
  const required = (name: string): string => {
    const value = env[name];
    if (!value) throw new ValidationError(`Environment variable ${name} is not set: it names a resource of the Perdure stack (the CDK construct sets it).`);
    return value;
  };
  const number = (name: string): number | undefined => (env[name] ? Number(env[name]) : undefined);
  return {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    tableName: required('PERDURE_TABLE'),
    bucketName: required('PERDURE_BUCKET'),
    queues: {
      orchestrator: required('PERDURE_ORCHESTRATOR_QUEUE_URL'),
      activities: required('PERDURE_ACTIVITY_QUEUE_URL'),
      timers: required('PERDURE_TIMER_QUEUE_URL'),
      activityDeadLetters: env.PERDURE_ACTIVITY_DLQ_URL,
      orchestratorDeadLetters: env.PERDURE_ORCHESTRATOR_DLQ_URL,
      // The priority lane: both queues or neither (a start with priority 'high' is refused without them).
      ...(env.PERDURE_ORCHESTRATOR_HIGH_QUEUE_URL && env.PERDURE_ACTIVITY_HIGH_QUEUE_URL
        ? { orchestratorHigh: env.PERDURE_ORCHESTRATOR_HIGH_QUEUE_URL, activitiesHigh: env.PERDURE_ACTIVITY_HIGH_QUEUE_URL }
        : {}),
    },
    maxReceiveCount: number('PERDURE_MAX_RECEIVE_COUNT'),
    inlineLimitBytes: number('PERDURE_INLINE_LIMIT_BYTES'),
    compressAboveBytes: number('PERDURE_COMPRESS_ABOVE_BYTES'),
    retentionDays: number('PERDURE_RETENTION_DAYS'),
    poisonAfterCrashes: number('PERDURE_POISON_AFTER_CRASHES'),
    inlineActivities: env.PERDURE_INLINE_ACTIVITIES === undefined ? undefined : env.PERDURE_INLINE_ACTIVITIES !== 'false',
    maxInlineSteps: number('PERDURE_MAX_INLINE_STEPS'),
    executorCacheSize: number('PERDURE_EXECUTOR_CACHE_SIZE'),
    eagerStart: env.PERDURE_EAGER_START === undefined ? undefined : env.PERDURE_EAGER_START !== 'false',
    ...(env.PERDURE_DEPLOYED_SCHEDULES === undefined ? {} : { deployedSchedules: env.PERDURE_DEPLOYED_SCHEDULES.split(',').filter(Boolean) }),
    apiUrl: env.PERDURE_API_URL || undefined,
    callbackKeySecret: env.PERDURE_CALLBACK_KEY_SECRET || undefined,
  };
}

/** Everything a Lambda function (or the local stack) needs, wired once per process. */
export interface AwsRuntime {
  config: AwsRuntimeConfig;
  clients: { dynamodb: DynamoDBClient; sqs: SQSClient; s3: S3Client };
  codec: PayloadCodec;
  store: DynamoDbInstanceStore;
  queues: SqsWorkQueues;
  orchestrations: OrchestrationWorker;
  tasks: TaskWorker;
  handlers: QueueHandlers;
  client: Client;
  deadLetters: DynamoDbDeadLetters;
  /** What shadow replay found, in the table's `REPLAY#` partition. */
  replayFindings: DynamoDbReplayFindings;
  /** The interceptors every part of the runtime runs: tracing, metrics, the app's. */
  interceptors: InterceptorChain;
  /** Where its metrics go, when it reports any. */
  metrics?: MetricsSink;
  /** The app's schedules, their state in the table's `SCHEDULE#` partition. */
  schedules: ScheduleService;
  /** Signs and checks callback URLs; absent without a signing key (`callbackKeySecret`, or the local stack's). */
  callbackUrls?: CallbackUrlSigner;
}

export interface AwsRuntimeOptions {
  clock?: Clock;
  logger?: Logger;
  crash?: CrashHook;
  /** Where the runtime's metrics go (the Lambda handlers: CloudWatch's embedded metric format). @defaultValue none */
  metrics?: MetricsSink;
  /** Callback URL signing with other keys than a Secrets Manager secret (the local stack keeps its key in a file), and an API address known late. */
  callbackUrls?: { keys: CallbackSigningKeys; apiUrl: () => string | undefined };
  /**
   * False for emulators that check no signature (the local stack's): DynamoDB and SQS requests then carry a
   * fixed Authorization header, with the access key and region DynamoDB Local names its database by, and skip
   * SigV4's hashing (about a tenth of a request's CPU here); with an endpoint configured, they also skip the
   * endpoint rules (the endpoint is fixed) and what only AWS reads (the SDK's user agent, Lambda's trace
   * header): together about a quarter of the SDK's CPU per request. SQS requests also skip the MD5 of every
   * message body sent (its check of the emulator's answer, over loopback). S3 requests stay signed.
   * @defaultValue true
   */
  signRequests?: boolean;
}

export function createAwsRuntime(app: App, config: AwsRuntimeConfig, options: AwsRuntimeOptions = {}): AwsRuntime {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? app.logger;
  const interceptors = runtimeInterceptors(app, options.metrics ? [metricsInterceptor(options.metrics)] : []);
  const common = { region: config.region, cacheMiddleware: true, ...(config.credentials ? { credentials: config.credentials } : {}) };
  const endpointOf = (service: 'dynamodb' | 'sqs' | 's3') => config.endpoints?.[service] ?? config.endpoint;
  const withEndpoint = (service: 'dynamodb' | 'sqs' | 's3') => (endpointOf(service) ? { endpoint: endpointOf(service) } : {});
  const emulated = (service: 'dynamodb' | 'sqs') => {
    if (options.signRequests !== false) return withEndpoint(service);
    const signer = fixedAuthorization(service, config.region, config.credentials?.accessKeyId ?? 'local');
    const endpoint = endpointOf(service);
    if (!endpoint) return { signer };
    const fixed = { url: new URL(endpoint) };
    return { endpoint, endpointProvider: () => fixed, signer };
  };
  const clients = {
    dynamodb: new DynamoDBClient({ ...common, ...emulated('dynamodb') }),
    sqs: new SQSClient({ ...common, ...emulated('sqs'), ...(options.signRequests === false ? { md5: false as const } : {}) }),
    s3: new S3Client({ ...common, ...withEndpoint('s3'), forcePathStyle: !!endpointOf('s3') }),
  };
  if (options.signRequests === false) {
    // What only AWS reads: the SDK's user agent (its telemetry) and the X-Ray trace header of a Lambda invocation.
    for (const client of [clients.dynamodb, clients.sqs]) for (const name of ['getUserAgentMiddleware', 'recursionDetectionMiddleware']) client.middlewareStack.remove(name);
  }
  // Each request counts in the ledger of the step or attempt that made it.
  meterClients(clients, usageMeter);
  const codec = new PayloadCodec(new S3BlobStore(clients.s3, config.bucketName), {
    inlineLimitBytes: config.inlineLimitBytes,
    compressAboveBytes: config.compressAboveBytes,
    onOffload: (bytes) => interceptors.notice({ type: 'payloadOffloaded', bytes }),
  });
  const store = new DynamoDbInstanceStore({ client: clients.dynamodb, tableName: config.tableName, codec, retentionDays: config.retentionDays });
  const queues = new SqsWorkQueues({ client: clients.sqs, urls: config.queues, codec, clock, maxTimerHopSeconds: config.maxTimerHopSeconds });
  const loadPayload = (value: unknown) => codec.load(value);
  const loadInlinePayload = (value: unknown) => codec.loadInline(value);
  const callbackUrls = options.callbackUrls
    ? new CallbackUrlSigner({ keys: options.callbackUrls.keys, baseUrl: options.callbackUrls.apiUrl, clock })
    : config.callbackKeySecret
      ? new CallbackUrlSigner({ keys: new SecretsManagerSigningKeys({ client: new SecretsManagerClient(common), secretId: config.callbackKeySecret, clock }), baseUrl: () => config.apiUrl, clock })
      : undefined;
  const deps = { app, store, queues, clock, logger, loadPayload, loadInlinePayload, interceptors, ...(callbackUrls ? { callbackUrls } : {}) };
  const poisonAfterCrashes = config.poisonAfterCrashes;
  const stepping = (executorCacheSize?: number): OrchestrationWorker =>
    new OrchestrationWorker({
      ...deps,
      crash: options.crash,
      poisonAfterCrashes,
      ...(executorCacheSize !== undefined ? { executorCacheSize } : {}),
      inline: { activities: config.inlineActivities, maxStepsPerInvocation: config.maxInlineSteps },
      // Instances quarantined from crash evidence are listed with the dead letters, where operators look.
      onPoison: (instanceId, reason): Promise<void> => deadLetters.archive('orchestrations', { messageId: `crashed#${instanceId}#${clock.now()}`, instanceId, outcome: `instance quarantined: ${reason}`, body: JSON.stringify({ instanceId }), deadAt: clock.now() }),
    });
  // Starts run first steps with a worker of their own (the API function's): its executors are not stepped again, so it keeps few.
  const client: Client = new Client({ ...deps, ...(config.eagerStart !== false ? { eagerStart: stepping(16) } : {}) });
  const deadLetters: DynamoDbDeadLetters = new DynamoDbDeadLetters({ dynamodb: clients.dynamodb, sqs: clients.sqs, tableName: config.tableName, activityQueueUrl: config.queues.activities, client });
  const orchestrations = stepping(config.executorCacheSize);
  // The activity function steps instances with a worker (and executor cache) of its own, as its own Lambda function would.
  const activitySteps = stepping(config.executorCacheSize);
  const tasks = new TaskWorker({
    ...deps,
    crash: options.crash,
    poisonAfterCrashes,
    stepInstance: (instanceId, message, { headers, ...from }) => activitySteps.step(instanceId, { messages: [message], carriedOnly: true, ...from, ...(headers ? { headers: [headers] } : {}) }),
    onPoison: async (task, reason) => {
      const body = JSON.stringify({ ...task, input: await codec.store(task.input, task.instanceId) });
      await deadLetters.archive('activities', { messageId: `crashed#${task.instanceId}#${task.generation}#${task.taskId}#${task.attempt}`, instanceId: task.instanceId, outcome: `call failed with PoisonMessageError: ${reason}`, body, deadAt: clock.now() });
    },
  });
  const handlers = new QueueHandlers({
    store,
    queues,
    orchestrations,
    tasks,
    clock,
    logger,
    maxReceiveCount: config.maxReceiveCount ?? 10,
    archive: (queue, entry) => deadLetters.archive(queue, entry),
    interceptors,
  });
  const replayFindings = new DynamoDbReplayFindings({ dynamodb: clients.dynamodb, tableName: config.tableName, retentionDays: config.retentionDays });
  const schedules = new ScheduleService({
    ...deps,
    // A firing starts its instance from the doorbell: the schedule function's role may write only its own instances and ring them.
    client: new Client(deps),
    states: new DynamoDbScheduleStates({ dynamodb: clients.dynamodb, tableName: config.tableName }),
    ...(config.deployedSchedules ? { deployed: config.deployedSchedules } : {}),
  });
  return { config, clients, codec, store, queues, orchestrations, tasks, handlers, client, deadLetters, replayFindings, schedules, interceptors, ...(callbackUrls ? { callbackUrls } : {}), ...(options.metrics ? { metrics: options.metrics } : {}) };
}

/**
 * A signer for emulators that check no signature: every request gets the same Authorization header, which
 * names the access key and region (DynamoDB Local keeps one database per pair), without SigV4's hashing.
 */
function fixedAuthorization(service: string, region: string, accessKeyId: string) {
  const authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/20000101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`;
  return {
    sign: async <R extends { headers: Record<string, string> }>(request: R): Promise<R> => {
      request.headers.authorization = authorization;
      return request;
    },
  };
}
