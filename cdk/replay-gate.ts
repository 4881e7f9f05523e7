import { CustomResource, Duration, Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Alias, type CfnFunction, type IFunction } from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { SHADOW_REPLAY } from '../lib/aws/shadow-replay-names.js';

/**
 * How the replay gate checks a deploy.
 * @example
 * new DurableFunctions(this, 'Orders', { entry: 'src/handlers.ts', replayGate: { samplePerVersion: 25, timeout: Duration.minutes(10) } });
 */
export interface ReplayGateOptions {
  /** In-flight instances replayed per orchestration version, newest first. @defaultValue 10 */
  readonly samplePerVersion?: number;
  /** History events the gate may read and replay in all; a sample that needs more refuses the deploy and says so. @defaultValue 100000 */
  readonly maxEvents?: number;
  /** How long the gate may run; a check still running then refuses the deploy. @defaultValue 5 minutes */
  readonly timeout?: Duration;
}

/**
 * How often shadow replay runs, and how much it replays.
 * @example
 * new DurableFunctions(this, 'Orders', { entry: 'src/handlers.ts', shadowReplay: { every: Duration.hours(6), samplePerVersion: 5 } });
 */
export interface ShadowReplayOptions {
  /** A whole number of minutes. @defaultValue 1 hour */
  readonly every?: Duration;
  /** Instances replayed per orchestration version each run, picked at random so that runs cover different ones. @defaultValue 3 */
  readonly samplePerVersion?: number;
  /** History events one run may read and replay in all. @defaultValue 20000 */
  readonly maxEvents?: number;
}

/** What the replay constructs use of the durable functions. */
export interface ReplayResources {
  readonly table: Table;
  readonly bucket: Bucket;
  readonly orchestrator: NodejsFunction;
  /** Makes a function of the app's handlers module (the same bundle, environment and logs as the others). */
  readonly makeFunction: (handler: 'replayGate' | 'shadowReplay', timeout: Duration) => NodejsFunction;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The replay gate: the orchestrator runs as published versions behind the alias `live`, which its queue's
 * event source invokes, and before the alias moves to a new version a custom resource runs the new code's
 * `replayGate` handler against the instances in flight (see `lib/deploy-check.ts`). A deploy that would break
 * one fails with the report as the reason CloudFormation shows, and the stack rolls back.
 * @example
 * new ReplayGate(durable, 'ReplayGate', resources, { samplePerVersion: 20 }).holdBack(durable.functions.api);
 */
export class ReplayGate extends Construct {
  /** The alias the orchestrator's event source invokes; it moves to the new version only after the gate passed. */
  readonly alias: Alias;
  readonly function: NodejsFunction;
  readonly check: CustomResource;

  constructor(scope: Construct, id: string, resources: ReplayResources, options: ReplayGateOptions = {}) {
    super(scope, id);
    const timeout = options.timeout ?? Duration.minutes(5);
    this.function = resources.makeFunction('replayGate', timeout);
    grantHistoryReads(this.function, resources);
    // The provider framework turns anything the gate throws (a refusal, a module that does not load) into a FAILED answer with its message.
    const provider = new Provider(this, 'Provider', {
      onEventHandler: this.function,
      logGroup: new LogGroup(this, 'ProviderLogs', { retention: RetentionDays.ONE_MONTH, removalPolicy: resources.removalPolicy }),
    });
    const version = resources.orchestrator.currentVersion;
    this.check = new CustomResource(this, 'Check', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::PerdureReplayGate',
      serviceTimeout: timeout.plus(Duration.minutes(5)),
      // A new version number on every change of the orchestrator's code or configuration: the check runs on each deploy that brings one.
      properties: { OrchestratorVersion: version.version, SamplePerVersion: options.samplePerVersion ?? 10, MaxEvents: options.maxEvents ?? 100_000 },
    });
    this.alias = new Alias(this, 'Live', { aliasName: 'live', version });
    this.alias.node.addDependency(this.check);

    const functionId = Stack.of(this).getLogicalId(this.function.node.defaultChild as CfnFunction);
    Validations.of(this).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason: 'The custom resource provider framework may invoke the replay gate function and its versions (lambda:InvokeFunction on <arn>:*); nothing else.',
    });
  }

  /** Keeps `fn`'s new code from taking traffic until the gate passed (the API: it starts new instances on the latest version). */
  holdBack(...functions: IFunction[]): this {
    for (const fn of functions) fn.node.addDependency(this.check);
    return this;
  }
}

/**
 * Shadow replay: on a schedule (EventBridge Scheduler), the deployed code's `shadowReplay` handler replays a
 * random few live histories per version, stores what no longer replays in the table's `REPLAY#` partition
 * (listed by `GET /replay-findings`, the web view and `perdure replay-check --live`), and publishes the count
 * as a metric (embedded metric format) with an alarm: a data-dependent path can break an instance the
 * deploy's sample did not hold.
 * @example
 * new ShadowReplay(durable, 'ShadowReplay', resources, { every: Duration.hours(6) });
 */
export class ShadowReplay extends Construct {
  readonly function: NodejsFunction;
  readonly schedule: Schedule;
  /** In alarm when a run found a live history the deployed code no longer replays. */
  readonly alarm: Alarm;

  constructor(scope: Construct, id: string, resources: ReplayResources, options: ShadowReplayOptions = {}) {
    super(scope, id);
    const every = options.every ?? Duration.hours(1);
    this.function = resources.makeFunction('shadowReplay', Duration.minutes(5));
    grantHistoryReads(this.function, resources);
    this.function.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['dynamodb:PutItem'],
        resources: [resources.table.tableArn],
        // Its runs and findings only: no instance's items.
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [SHADOW_REPLAY.partition] } },
      }),
    );
    // A role of its own (not the stack's shared scheduler role), so that what it may do is acknowledged here.
    const role = new Role(this, 'ScheduleRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': Stack.of(this).account } }),
    });
    this.schedule = new Schedule(this, 'Schedule', {
      description: 'Perdure shadow replay: replays a sample of live histories against the deployed code.',
      schedule: ScheduleExpression.rate(every),
      target: new LambdaInvoke(this.function, {
        role,
        input: ScheduleTargetInput.fromObject({ samplePerVersion: options.samplePerVersion ?? 3, maxEvents: options.maxEvents ?? 20_000 }),
        // The next run replays afresh; a retry would only repeat this one.
        retryAttempts: 0,
      }),
    });
    const functionId = Stack.of(this).getLogicalId(this.function.node.defaultChild as CfnFunction);
    Validations.of(this).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason: 'The schedule may invoke the shadow replay function and its versions (lambda:InvokeFunction on <arn>:*); nothing else.',
    });
    this.alarm = new Alarm(this, 'DivergenceAlarm', {
      alarmDescription: 'Shadow replay found live histories the deployed code no longer replays: list them with perdure replay-check --live (or GET /replay-findings) and deploy a fix before they take their next step.',
      metric: new Metric({
        namespace: SHADOW_REPLAY.namespace,
        metricName: SHADOW_REPLAY.divergences,
        dimensionsMap: { [SHADOW_REPLAY.dimension]: resources.table.tableName },
        statistic: 'Maximum',
        period: Duration.seconds(Math.min(every.toSeconds(), 86_400)),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}

/** Read-only access to histories: listings by status (the index, then the records in batches), history queries, payload objects. */
function grantHistoryReads(fn: NodejsFunction, { table, bucket }: ReplayResources): void {
  fn.addToRolePolicy(new PolicyStatement({ effect: Effect.ALLOW, actions: ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:BatchGetItem'], resources: [table.tableArn, `${table.tableArn}/index/byStatus`] }));
  fn.addToRolePolicy(new PolicyStatement({ effect: Effect.ALLOW, actions: ['s3:GetObject'], resources: [bucket.arnForObjects('payloads/*')] }));
}
