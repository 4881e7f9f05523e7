import { CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { HttpApi, HttpMethod, HttpNoneAuthorizer, HttpStage, LogGroupLogDestination, type IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, Dashboard, GraphWidget, MathExpression, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Architecture, LayerVersion, Runtime, Tracing, type IFunction, type ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket } from 'aws-cdk-lib/aws-s3';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { METRICS } from '../lib/runtime/metrics.js';
import { ReplayGate, ShadowReplay, type ReplayGateOptions, type ShadowReplayOptions } from './replay-gate.js';
import { AppSchedules, type ScheduleDeployment } from './schedules.js';

export type { ReplayGate, ReplayGateOptions, ShadowReplay, ShadowReplayOptions } from './replay-gate.js';
export type { AppSchedules, ScheduleDeployment } from './schedules.js';

/** How callers of the HTTP API authenticate. */
export type ApiAuth = { type: 'iam' } | { type: 'jwt'; issuer: string; audience: string[] };

/**
 * What the orchestrator function needs to run inline calls (`ctx.step`, activities registered `inline`)
 * inside its invocations. Inline suits short steps: no queue round trip, no second function. Long,
 * CPU-heavy or differently-permissioned work belongs on the activity queue, with its own function.
 */
export interface InlineStepsProps {
  /**
   * The orchestrator function's timeout. An invocation runs inline calls until a call's timeout no longer
   * fits in what is left of it (the worker reads the deadline from Lambda's context), then hands the rest
   * to the next invocation; the orchestrator queue's visibility timeout follows at six times this.
   * @defaultValue `orchestratorTimeout` (30 seconds)
   */
  readonly timeout?: Duration;
  /** The orchestrator function's memory in MB (Lambda gives CPU in proportion). @defaultValue `memorySize` (512) */
  readonly memorySize?: number;
  /** What the inline activities call (their tables, buckets, APIs): added to the roles of the functions that step instances (the orchestrator's, and the activity function's, which commits a lone task's result as the next step). @defaultValue none */
  readonly policies?: PolicyStatement[];
}

/**
 * How the functions are traced.
 * @example
 * new DurableFunctions(this, 'Orders', { entry: 'src/handlers.ts', tracing: { adotLayerArn: 'arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-nodejs-arm64-ver-1-30-2:1' } });
 */
export interface TracingProps {
  /**
   * The ARN of an AWS Distro for OpenTelemetry (ADOT) Lambda layer for Node.js on arm64, in the stack's
   * region. Each function then runs under the layer's wrapper (`AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-handler`),
   * which registers an OpenTelemetry SDK that sends to X-Ray: Perdure's spans (API calls, steps with their
   * replay and commit, activity attempts, timers) reach X-Ray as one trace per instance. Without a layer,
   * X-Ray shows each invocation and its AWS calls, not Perdure's spans. @defaultValue none
   */
  readonly adotLayerArn?: string;
}

/** How Lambda reads one queue: at most `maxConcurrency` invocations at once, each with up to `batchSize` messages. */
export interface EventSourceTuning {
  /** Lambda's maximum concurrency for the queue's event source (2 to 1000). */
  readonly maxConcurrency?: number;
  /** Messages per invocation (at most 10 for the FIFO orchestrator queue). @defaultValue 10 */
  readonly batchSize?: number;
}

export interface DurableFunctionsProps {
  /**
   * The module whose named exports are the handlers of the app: `orchestrator`, `activity`, `timer`,
   * `activityDeadLetters`, `orchestratorDeadLetters`, `api`, `replayGate`, `shadowReplay`, `scheduleFired` —
   * `export const { ... } = createLambdaHandlers(app)`.
   */
  readonly entry: string;
  /** Days a finished instance (its items and payload objects) is kept. @defaultValue 30 */
  readonly retentionDays?: number;
  /** An item whose compressed payloads pass this many bytes moves them to S3 (a latency/cost trade-off: see the README). @defaultValue 16384 */
  readonly inlineLimitBytes?: number;
  /** Payloads above this many bytes are gzipped. @defaultValue 4096 */
  readonly compressAboveBytes?: number;
  /**
   * A start runs the instance's first step in the API's request and creates the instance with it (one write,
   * no doorbell); false starts every instance from its doorbell (architecture decision 40). @defaultValue true
   */
  readonly eagerStart?: boolean;
  /**
   * Deliveries of a message before it moves to its dead-letter queue. Receives are not how Perdure finds a
   * crash (attempt markers are), so this only bounds how often a throttled or slow message circles before
   * its dead-letter handler looks at it (and sends it back, if nothing crashed). @defaultValue 10
   */
  readonly maxReceiveCount?: number;
  /** @defaultValue 512 */
  readonly memorySize?: number;
  /**
   * The functions' Node.js runtime: `Runtime.NODEJS_24_X` or `Runtime.NODEJS_22_X` (both run the whole suite in
   * CI). Node 24 keeps `AsyncLocalStorage` (the determinism guard's and the cost ledger's scope) in async context
   * frames instead of async hooks, and did a step for a tenth less CPU than Node 22 in this project's load runs
   * (4.5 against 5.0–5.2 ms of Node CPU per step of the order saga).
   * @defaultValue Runtime.NODEJS_24_X
   */
  readonly runtime?: Runtime;
  /** One orchestration step (replay + commit + dispatch). @defaultValue 30 seconds */
  readonly orchestratorTimeout?: Duration;
  /** One activity attempt; keep it above the activities' own timeouts. @defaultValue 5 minutes */
  readonly activityTimeout?: Duration;
  /** Sizing and permissions of the orchestrator function (and of the timer function, which steps solo timers) for inline calls. @defaultValue the orchestrator's defaults */
  readonly inlineSteps?: InlineStepsProps;
  /**
   * Concurrency and batch size of each queue's event source. The defaults bound every queue below the
   * account's default 1,000 concurrent executions, so that no queue (an activity fan-out, a burst of starts)
   * can take them all from the others: orchestrator 100, activities 200, timers 10, dead letters 2.
   */
  readonly eventSources?: { readonly orchestrator?: EventSourceTuning; readonly activities?: EventSourceTuning; readonly timers?: EventSourceTuning };
  /**
   * Tracing: `true` (or `{ adotLayerArn }`) turns on X-Ray active tracing for every function; with an ADOT
   * layer, Perdure's OpenTelemetry spans go to X-Ray too (see {@link TracingProps}). @defaultValue off
   */
  readonly tracing?: boolean | TracingProps;
  /** @defaultValue IAM (SigV4-signed requests) */
  readonly apiAuth?: ApiAuth;
  /** What happens to the table and bucket when the stack is deleted. @defaultValue RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The replay gate: before the orchestrator's alias moves to new code, the new code replays the recent
   * histories of the instances in flight, and a deploy that would break one (or unregisters a version one
   * is pinned to) fails and rolls back with the report as its reason. `false` turns it off. @defaultValue on
   */
  readonly replayGate?: boolean | ReplayGateOptions;
  /** Shadow replay of a few live histories on a schedule, with an alarm; `false` turns it off. @defaultValue every hour */
  readonly shadowReplay?: false | ShadowReplayOptions;
  /**
   * The app's schedules (`app.schedule`): pass `app.schedules()`. Each becomes an EventBridge Scheduler
   * schedule that invokes the handlers module's `scheduleFired`; the API reports an app schedule missing
   * here as not deployed. @defaultValue none
   */
  readonly schedules?: readonly ScheduleDeployment[];
  /**
   * Signed callback URLs (`actx.callbackUrls`) for outside systems without AWS credentials: a Secrets
   * Manager secret holds the signing key, and `POST /signed/callbacks/{token}/{purpose}` is the one route
   * without IAM authorization (each request carries its HMAC signature instead). `false` creates neither.
   * @defaultValue true
   */
  readonly signedCallbackUrls?: boolean;
  /**
   * The priority lane: a FIFO doorbell queue and an activity queue of its own, with their own event sources,
   * for instances started with `priority: 'high'` (and their sub-orchestrations), so that a backlog of
   * normal work does not hold them up. They share their lane's dead-letter queues. Idle, the two event
   * sources' polling costs about as much as any idle SQS event source (see the README). `false` leaves them
   * out, and a start with priority 'high' is then refused. @defaultValue on: orchestrator 20, activities 40
   */
  readonly priorityLane?: boolean | { readonly orchestrator?: EventSourceTuning; readonly activities?: EventSourceTuning };
}

/** AWS's guidance for SQS event sources: a visibility timeout of at least six times the function timeout. */
const VISIBILITY_FACTOR = 6;
/** Default maximum concurrency of each event source (docs/architecture.md, "Scale on AWS", says why). */
const DEFAULT_CONCURRENCY = { orchestrator: 100, activities: 200, timers: 10, deadLetters: 2, priorityOrchestrator: 20, priorityActivities: 40 };

/**
 * Durable functions for one app: the DynamoDB event table, the SQS queues (each with a dead-letter queue),
 * the S3 payload bucket, the Lambda functions with their event sources, an authenticated HTTP API, DLQ
 * alarms and a dashboard. Everything is encrypted, TLS-only and granted the exact actions it uses.
 * @example
 * new DurableFunctions(stack, 'Orders', { entry: 'functions/handlers.ts' });
 */
export class DurableFunctions extends Construct {
  readonly table: Table;
  readonly bucket: Bucket;
  readonly queues: { orchestrator: Queue; activities: Queue; timers: Queue };
  readonly deadLetterQueues: { orchestrator: Queue; activities: Queue; timers: Queue };
  /** The priority lane's queues (unless `priorityLane: false`). */
  readonly priorityQueues?: { orchestrator: Queue; activities: Queue };
  readonly functions: Record<'orchestrator' | 'activity' | 'timer' | 'activityDeadLetters' | 'orchestratorDeadLetters' | 'api', NodejsFunction>;
  readonly api: HttpApi;
  /** The dead-letter queues' alarms, quarantines', the orchestrator queue's age, and shadow replay's. */
  readonly alarms: Alarm[];
  /** The dashboard: queues, dead letters, errors, and Perdure's own metrics (steps, latency, attempts, queue age). */
  readonly dashboard: Dashboard;
  readonly replayGate?: ReplayGate;
  readonly shadowReplay?: ShadowReplay;
  /** The EventBridge schedules, their function, role and dead-letter queue (when the app has schedules). */
  readonly schedules?: AppSchedules;
  /** The key that signs callback URLs; rotate it with `aws secretsmanager put-secret-value` (see SECURITY.md). */
  readonly callbackSigningKey?: Secret;

  constructor(scope: Construct, id: string, props: DurableFunctionsProps) {
    super(scope, id);
    const retentionDays = props.retentionDays ?? 30;
    const maxReceiveCount = props.maxReceiveCount ?? 10;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const orchestratorTimeout = props.inlineSteps?.timeout ?? props.orchestratorTimeout ?? Duration.seconds(30);
    const activityTimeout = props.activityTimeout ?? Duration.minutes(5);
    const shortTimeout = Duration.seconds(30);

    this.table = new Table(this, 'Events', {
      partitionKey: { name: 'PK', type: AttributeType.STRING },
      sortKey: { name: 'SK', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'ttl',
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: 'byStatus',
      partitionKey: { name: 'status', type: AttributeType.STRING },
      sortKey: { name: 'createdAt', type: AttributeType.NUMBER },
      // Keys and names only: a step that keeps the status writes nothing to the index.
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: ['name'],
    });

    const accessLogs = new Bucket(this, 'PayloadAccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
    });
    Validations.of(accessLogs).acknowledge({ id: 'AwsSolutions::AwsSolutions-S1', reason: 'This is the access-log bucket of the payload bucket; logging its own access would loop.' });

    this.bucket = new Bucket(this, 'Payloads', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'payloads-bucket/',
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [
        { id: 'expire-payloads', prefix: 'payloads/', expiration: Duration.days(retentionDays), abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    const queue = (name: string, visibilityTimeout: Duration, fifo: boolean, sharedDeadLetters?: Queue) => {
      const deadLetters = sharedDeadLetters ?? new Queue(this, `${name}DeadLetters`, {
        fifo: fifo || undefined,
        retentionPeriod: Duration.days(14),
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      const main = new Queue(this, `${name}Queue`, {
        fifo: fifo || undefined,
        // High-throughput FIFO: the quota is per message group (one instance), not per queue, and deduplication ids are per group.
        ...(fifo ? { fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID, deduplicationScope: DeduplicationScope.MESSAGE_GROUP } : {}),
        visibilityTimeout,
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        deadLetterQueue: { queue: deadLetters, maxReceiveCount },
      });
      return { main, deadLetters };
    };
    const orchestrator = queue('Orchestrator', Duration.seconds(orchestratorTimeout.toSeconds() * VISIBILITY_FACTOR), true);
    const activities = queue('Activities', Duration.seconds(activityTimeout.toSeconds() * VISIBILITY_FACTOR), false);
    // The timer function steps instances (a solo timer's firing), inline steps included: it runs as long as the orchestrator.
    const timers = queue('Timers', Duration.seconds(orchestratorTimeout.toSeconds() * VISIBILITY_FACTOR), false);
    this.queues = { orchestrator: orchestrator.main, activities: activities.main, timers: timers.main };
    if (props.priorityLane !== false) {
      this.priorityQueues = {
        orchestrator: queue('OrchestratorHigh', Duration.seconds(orchestratorTimeout.toSeconds() * VISIBILITY_FACTOR), true, orchestrator.deadLetters).main,
        activities: queue('ActivitiesHigh', Duration.seconds(activityTimeout.toSeconds() * VISIBILITY_FACTOR), false, activities.deadLetters).main,
      };
    }
    const lanes = (main: Queue, high: Queue | undefined) => (high ? [main, high] : [main]);
    const doorbellQueues = lanes(orchestrator.main, this.priorityQueues?.orchestrator);
    const activityQueues = lanes(activities.main, this.priorityQueues?.activities);
    this.deadLetterQueues = { orchestrator: orchestrator.deadLetters, activities: activities.deadLetters, timers: timers.deadLetters };

    const environment: Record<string, string> = {
      PERDURE_TABLE: this.table.tableName,
      PERDURE_BUCKET: this.bucket.bucketName,
      PERDURE_ORCHESTRATOR_QUEUE_URL: orchestrator.main.queueUrl,
      PERDURE_ACTIVITY_QUEUE_URL: activities.main.queueUrl,
      PERDURE_TIMER_QUEUE_URL: timers.main.queueUrl,
      ...(this.priorityQueues
        ? { PERDURE_ORCHESTRATOR_HIGH_QUEUE_URL: this.priorityQueues.orchestrator.queueUrl, PERDURE_ACTIVITY_HIGH_QUEUE_URL: this.priorityQueues.activities.queueUrl }
        : {}),
      PERDURE_MAX_RECEIVE_COUNT: String(maxReceiveCount),
      PERDURE_RETENTION_DAYS: String(retentionDays),
      NODE_OPTIONS: '--enable-source-maps',
    };
    if (props.inlineLimitBytes !== undefined) environment.PERDURE_INLINE_LIMIT_BYTES = String(props.inlineLimitBytes);
    if (props.compressAboveBytes !== undefined) environment.PERDURE_COMPRESS_ABOVE_BYTES = String(props.compressAboveBytes);
    if (props.eagerStart === false) environment.PERDURE_EAGER_START = 'false';

    const tracing = props.tracing === undefined || props.tracing === false ? undefined : props.tracing === true ? {} : props.tracing;
    const adotLayer: ILayerVersion | undefined = tracing?.adotLayerArn ? LayerVersion.fromLayerVersionArn(this, 'AdotLayer', tracing.adotLayerArn) : undefined;
    // The layer's wrapper registers an OpenTelemetry SDK before the handler loads; @opentelemetry/api in the bundle finds it.
    if (adotLayer) environment.AWS_LAMBDA_EXEC_WRAPPER = '/opt/otel-handler';

    const runtime = nodeRuntime(props.runtime);
    const fn = (name: string, timeout: Duration, memorySize = props.memorySize ?? 512) =>
      new NodejsFunction(this, `${name[0]!.toUpperCase()}${name.slice(1)}Function`, {
        entry: props.entry,
        handler: name,
        runtime: runtime.runtime,
        architecture: Architecture.ARM_64,
        memorySize,
        timeout,
        environment,
        ...(tracing ? { tracing: Tracing.ACTIVE } : {}),
        ...(adotLayer ? { layers: [adotLayer] } : {}),
        logGroup: new LogGroup(this, `${name[0]!.toUpperCase()}${name.slice(1)}Logs`, { retention: RetentionDays.ONE_MONTH, removalPolicy }),
        bundling: {
          format: OutputFormat.ESM,
          target: runtime.target,
          minify: true,
          sourceMap: true,
          // ESM bundles of CommonJS dependencies need `require`.
          banner: "import { createRequire as __perdureCreateRequire } from 'node:module'; const require = __perdureCreateRequire(import.meta.url);",
          forceDockerBundling: false,
        },
      });
    this.functions = {
      orchestrator: fn('orchestrator', orchestratorTimeout, props.inlineSteps?.memorySize),
      activity: fn('activity', activityTimeout),
      timer: fn('timer', orchestratorTimeout, props.inlineSteps?.memorySize),
      activityDeadLetters: fn('activityDeadLetters', shortTimeout),
      orchestratorDeadLetters: fn('orchestratorDeadLetters', shortTimeout),
      api: fn('api', shortTimeout),
    };

    if (props.schedules?.length) {
      this.schedules = new AppSchedules(this, 'Schedules', { table: this.table, bucket: this.bucket, orchestratorQueue: orchestrator.main, makeFunction: fn }, props.schedules);
    }
    // The API tells the schedules the app defines from those deployed here (one forgotten in props shows as not deployed).
    this.functions.api.addEnvironment('PERDURE_DEPLOYED_SCHEDULES', (props.schedules ?? []).map((schedule) => schedule.name).join(','));

    const replay = { table: this.table, bucket: this.bucket, orchestrator: this.functions.orchestrator, makeFunction: fn, removalPolicy };
    if (props.replayGate !== false) {
      // The API and the schedules start new instances on the latest version, and the activity and timer functions
      // step instances (a solo task's result, a solo timer's firing): their new code waits for the gate too.
      const { api, activity, timer } = this.functions;
      this.replayGate = new ReplayGate(this, 'ReplayGate', replay, props.replayGate === true ? {} : props.replayGate).holdBack(api, activity, timer, ...(this.schedules ? [this.schedules.function] : []));
    }
    if (props.shadowReplay !== false) this.shadowReplay = new ShadowReplay(this, 'ShadowReplay', replay, props.shadowReplay);

    const tuning = props.eventSources ?? {};
    const source = (q: Queue, maxConcurrency: number, settings: EventSourceTuning = {}) =>
      new SqsEventSource(q, { batchSize: settings.batchSize ?? 10, maxConcurrency: settings.maxConcurrency ?? maxConcurrency, reportBatchItemFailures: true });
    (this.replayGate?.alias ?? this.functions.orchestrator).addEventSource(source(orchestrator.main, DEFAULT_CONCURRENCY.orchestrator, tuning.orchestrator));
    this.functions.activity.addEventSource(source(activities.main, DEFAULT_CONCURRENCY.activities, tuning.activities));
    this.functions.timer.addEventSource(source(timers.main, DEFAULT_CONCURRENCY.timers, tuning.timers));
    if (this.priorityQueues) {
      const laneTuning = typeof props.priorityLane === 'object' ? props.priorityLane : {};
      (this.replayGate?.alias ?? this.functions.orchestrator).addEventSource(source(this.priorityQueues.orchestrator, DEFAULT_CONCURRENCY.priorityOrchestrator, laneTuning.orchestrator));
      this.functions.activity.addEventSource(source(this.priorityQueues.activities, DEFAULT_CONCURRENCY.priorityActivities, laneTuning.activities));
    }
    this.functions.activityDeadLetters.addEventSource(source(activities.deadLetters, DEFAULT_CONCURRENCY.deadLetters));
    this.functions.orchestratorDeadLetters.addEventSource(source(orchestrator.deadLetters, DEFAULT_CONCURRENCY.deadLetters));

    // Least privilege: each function gets the exact actions its code calls, on these resources only.
    const tableActions = {
      step: ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:TransactWriteItems', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      deliver: ['dynamodb:TransactWriteItems', 'dynamodb:ConditionCheckItem', 'dynamodb:PutItem', 'dynamodb:GetItem'],
      api: ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:TransactWriteItems', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
    };
    const tableArns = [this.table.tableArn, `${this.table.tableArn}/index/byStatus`];
    const objects = this.bucket.arnForObjects('payloads/*');
    const allow = (grantee: IGrantable, actions: string[], resources: string[]) =>
      grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ effect: Effect.ALLOW, actions, resources }));
    const send = (grantee: IGrantable, ...queues: Queue[]) => allow(grantee, ['sqs:SendMessage'], queues.map((q) => q.queueArn));

    const { orchestrator: orchestratorFn, activity, timer, activityDeadLetters, orchestratorDeadLetters, api } = this.functions;
    allow(orchestratorFn, tableActions.step, tableArns);
    for (const statement of props.inlineSteps?.policies ?? []) orchestratorFn.addToRolePolicy(statement);
    allow(orchestratorFn, ['s3:GetObject', 's3:PutObject'], [objects]);
    send(orchestratorFn, ...doorbellQueues, ...activityQueues, timers.main);

    // The activity and timer functions step instances too: a solo task's result, or a solo timer's firing, is
    // committed as the instance's next step in its own invocation (one queue hop), which dispatches what that step
    // decided, inline steps included.
    for (const stepper of [activity, timer]) {
      allow(stepper, tableActions.step, tableArns);
      for (const statement of props.inlineSteps?.policies ?? []) stepper.addToRolePolicy(statement);
      allow(stepper, ['s3:GetObject', 's3:PutObject'], [objects]);
      send(stepper, ...doorbellQueues, ...activityQueues, timers.main);
    }

    for (const handler of [activityDeadLetters, orchestratorDeadLetters]) {
      allow(handler, tableActions.deliver, [this.table.tableArn]);
      send(handler, ...doorbellQueues);
    }
    // A dead task without crash evidence goes back to its queue, after a delay (sqs-handlers.ts).
    send(activityDeadLetters, ...activityQueues);

    allow(api, tableActions.api, tableArns);
    allow(api, ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], [objects]);
    allow(api, ['s3:ListBucket'], [this.bucket.bucketArn]);
    // A start runs the instance's first step (eager start), which dispatches what it decided: tasks, timers, children.
    send(api, ...doorbellQueues, ...activityQueues, timers.main);

    const authorizer: IHttpRouteAuthorizer =
      props.apiAuth?.type === 'jwt'
        ? new HttpJwtAuthorizer('JwtAuthorizer', props.apiAuth.issuer, { jwtAudience: props.apiAuth.audience })
        : new HttpIamAuthorizer();
    this.api = new HttpApi(this, 'Api', { createDefaultStage: false, defaultAuthorizer: authorizer });
    new HttpStage(this, 'ApiStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 200, burstLimit: 400 },
      accessLogSettings: { destination: new LogGroupLogDestination(new LogGroup(this, 'ApiAccessLogs', { retention: RetentionDays.ONE_MONTH, removalPolicy })) },
    });
    const integration = new HttpLambdaIntegration('ApiIntegration', api);
    this.api.addRoutes({ path: '/{proxy+}', methods: [HttpMethod.GET, HttpMethod.POST, HttpMethod.DELETE], integration });

    if (props.signedCallbackUrls !== false) {
      // 48 random letters and digits (about 285 bits): the value is the HMAC key itself.
      this.callbackSigningKey = new Secret(this, 'CallbackSigningKey', {
        description: 'Signs the callback URLs of Perdure (HMAC-SHA256). Rotate with put-secret-value: URLs signed with the previous value keep working until the next rotation.',
        generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
        removalPolicy,
      });
      // The functions that sign (steps and inline activities, queued activities) and the one that checks; the API's address for the URLs.
      for (const signer of [orchestratorFn, activity, timer, api]) {
        allow(signer, ['secretsmanager:GetSecretValue'], [this.callbackSigningKey.secretArn]);
        signer.addEnvironment('PERDURE_CALLBACK_KEY_SECRET', this.callbackSigningKey.secretArn);
        signer.addEnvironment('PERDURE_API_URL', this.api.apiEndpoint);
      }
      // The one route without IAM authorization: exactly this shape, where the handler checks the URL's signature before it reads anything.
      const [signedRoute] = this.api.addRoutes({ path: '/signed/callbacks/{token}/{purpose}', methods: [HttpMethod.POST], integration, authorizer: new HttpNoneAuthorizer() });
      Validations.of(signedRoute!).acknowledge({
        id: 'AwsSolutions::AwsSolutions-APIG4',
        reason: 'Signed callback URLs are for outside systems without AWS credentials: each request carries an HMAC-SHA256 signature over its callback token, purpose and expiry, which the API function checks (in constant time) before it reads or writes anything. Every other route is IAM-authorized.',
      });
      Validations.of(this.callbackSigningKey).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SMG4',
        reason: 'The signing key is rotated by hand (put-secret-value): Perdure verifies with the current and the previous version, so a rotation keeps URLs already handed out working, and a second one revokes them. A rotation Lambda would add nothing to that.',
      });
    }

    this.alarms = Object.entries(this.deadLetterQueues).map(
      ([name, dlq]) =>
        new Alarm(this, `${name[0]!.toUpperCase()}${name.slice(1)}DeadLettersAlarm`, {
          alarmDescription: `Messages in the ${name} dead-letter queue: inspect them with GET /dlq/... and redrive.`,
          metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
    );
    if (this.shadowReplay) this.alarms.push(this.shadowReplay.alarm);
    if (this.schedules) this.alarms.push(this.schedules.alarm);

    // Perdure's own metrics: written by the handlers in CloudWatch's embedded metric format, with the table's name as the stack's dimension.
    const perdure = (name: string, statistic: string, more: Record<string, string> = {}, label?: string) =>
      new Metric({ namespace: 'Perdure', metricName: name, dimensionsMap: { Table: this.table.tableName, ...more }, statistic, period: Duration.minutes(5), ...(label ? { label } : {}) });
    const quarantines = perdure(METRICS.quarantines, 'Sum');
    this.alarms.push(
      new Alarm(this, 'QuarantinesAlarm', {
        alarmDescription: 'An instance was set aside for an operator (non-determinism, a step that keeps crashing): list them with GET /instances?status=Quarantined, deploy a fix, then resume them.',
        metric: quarantines,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'OrchestratorQueueAgeAlarm', {
        alarmDescription: 'Doorbells waited more than a minute in the orchestrator queue for 15 minutes: steps are falling behind (concurrency, throttling, a slow step).',
        metric: perdure(METRICS.queueAge, 'p90', { Queue: 'orchestrator' }),
        threshold: 60_000,
        evaluationPeriods: 3,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    const byOrchestration = (name: string, statistic: string) =>
      new MathExpression({ expression: `SEARCH('{Perdure,Orchestration,Table} MetricName="${name}" Table="${this.table.tableName}"', '${statistic}', 300)`, label: '', period: Duration.minutes(5) });
    this.dashboard = new Dashboard(this, 'Dashboard');
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Steps and commits', left: [perdure(METRICS.steps, 'Sum'), perdure(METRICS.commits, 'Sum'), perdure(METRICS.commitConflicts, 'Sum')] }),
      new GraphWidget({ title: 'Step latency and replay time (ms)', left: [perdure(METRICS.stepLatency, 'p50', {}, 'step p50'), perdure(METRICS.stepLatency, 'p99', {}, 'step p99'), perdure(METRICS.replayTime, 'p99', {}, 'replay p99')] }),
      new GraphWidget({ title: 'Activity attempts', left: [perdure(METRICS.activityAttempts, 'Sum'), perdure(METRICS.activityFailures, 'Sum'), perdure(METRICS.activityRetries, 'Sum')] }),
      new GraphWidget({ title: 'Queue age at receive (ms, p90)', left: ['orchestrator', 'activities'].map((queue) => perdure(METRICS.queueAge, 'p90', { Queue: queue }, queue)), right: [perdure(METRICS.timerDelay, 'p90', {}, 'timer delay')] }),
      new GraphWidget({ title: 'Steps by orchestration', left: [byOrchestration(METRICS.steps, 'Sum')] }),
      new GraphWidget({ title: 'Quarantines, dead letters, offloads', left: [quarantines, perdure(METRICS.deadLetters, 'Sum'), perdure(METRICS.payloadOffloads, 'Sum')] }),
      new GraphWidget({ title: 'Queue depth', left: Object.values(this.queues).map((q) => q.metricApproximateNumberOfMessagesVisible()) }),
      new GraphWidget({ title: 'Dead letters', left: Object.values(this.deadLetterQueues).map((q) => q.metricApproximateNumberOfMessagesVisible()) }),
      new GraphWidget({ title: 'Function errors', left: Object.values(this.functions).map((f: IFunction) => f.metricErrors()) }),
      new GraphWidget({ title: 'Step duration (ms)', left: [this.functions.orchestrator.metricDuration()] }),
    );

    this.acknowledgeAcceptedFindings();
    if (tracing) {
      Validations.of(this).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason: 'Active tracing lets each function call xray:PutTraceSegments and xray:PutTelemetryRecords, which take no resource-level permissions: their resource can only be "*".',
      });
    }

    const output = (name: string, value: string) => new CfnOutput(this, name, { value });
    output('ApiUrl', this.api.apiEndpoint);
    output('TableName', this.table.tableName);
    output('BucketName', this.bucket.bucketName);
    output('OrchestratorQueueUrl', orchestrator.main.queueUrl);
    output('ActivityQueueUrl', activities.main.queueUrl);
    output('TimerQueueUrl', timers.main.queueUrl);
    if (this.schedules) output('ScheduleDeadLetterQueueUrl', this.schedules.deadLetterQueue.queueUrl);
  }

  /** The cdk-nag findings this construct accepts, each with its reason; any other finding stops the synth. */
  private acknowledgeAcceptedFindings(): void {
    const accept = (id: string, reason: string) => Validations.of(this).acknowledge({ id: `AwsSolutions::${id}`, reason });
    accept(
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'AWSLambdaBasicExecutionRole only lets each function write its own CloudWatch logs: the standard managed policy for exactly that.',
    );
    if (this.functions.orchestrator.runtime.name !== Runtime.NODEJS_24_X.name) {
      accept('AwsSolutions-L1', 'Node.js 22 is a runtime Perdure supports and tests its bundles on, chosen over the default Node.js 24 with the construct\'s runtime property.');
    }
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket);
    accept(
      `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/payloads/*]`,
      'Payload objects are keyed payloads/<instanceId>/<sha256>, so the functions need the objects under that prefix of the one payload bucket; the actions are listed exactly, without wildcards.',
    );
  }
}

/** The functions' runtime and esbuild's target for it: Node 24 unless Node 22 is asked for. */
function nodeRuntime(runtime: Runtime | undefined): { runtime: Runtime; target: string } {
  const chosen = runtime ?? Runtime.NODEJS_24_X;
  const supported = [Runtime.NODEJS_24_X, Runtime.NODEJS_22_X];
  if (!supported.some((candidate) => candidate.name === chosen.name)) {
    throw new Error(`DurableFunctions: runtime ${chosen.name} is not one Perdure runs on; use Runtime.NODEJS_24_X (the default) or Runtime.NODEJS_22_X.`);
  }
  return { runtime: chosen, target: chosen.name.replace(/^nodejs(\d+)\.x$/, 'node$1') };
}
