import { Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Bucket, CfnBucket } from 'aws-cdk-lib/aws-s3';
import { ContextAttribute, Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SCHEDULES } from '../lib/aws/schedule-names.js';

/**
 * One schedule of the app, as the construct deploys it: what `app.schedules()` returns fits (pass
 * `schedules: app.schedules()`), so the stack deploys the schedules the code defines.
 */
export interface ScheduleDeployment {
  readonly name: string;
  /** EventBridge Scheduler's expression: `cron(...)` or `rate(...)`. */
  readonly scheduleExpression: string;
  /** IANA time zone of a cron. @defaultValue 'UTC' */
  readonly timezone?: string;
  /** Deploy it disabled (State DISABLED). @defaultValue false */
  readonly paused?: boolean;
  /** For the schedule's description. */
  readonly orchestration?: string;
}

/** What the schedules use of the durable functions. */
export interface ScheduleResources {
  readonly table: Table;
  readonly bucket: Bucket;
  readonly orchestratorQueue: Queue;
  /** Makes a function of the app's handlers module (the same bundle, environment and logs as the others). */
  readonly makeFunction: (handler: 'scheduleFired', timeout: Duration) => NodejsFunction;
}

/** How often EventBridge Scheduler retries a firing the handler failed, and for how long, before the dead-letter queue. */
const RETRY_ATTEMPTS = 10;
const MAX_EVENT_AGE = Duration.hours(1);

/**
 * The app's schedules on EventBridge Scheduler: one schedule per `app.schedule`, each invoking the handlers
 * module's `scheduleFired` with `{ schedule, firingTime: <aws.scheduler.scheduled-time> }`, through a role
 * that may invoke that function only; firings the handler keeps failing go to an encrypted dead-letter
 * queue, with an alarm. The function may touch only the table's `SCHEDULE#` partition and the instances
 * schedules start (`I#sched-*`), and their payload objects.
 * @example
 * new AppSchedules(durable, 'Schedules', resources, app.schedules());
 */
export class AppSchedules extends Construct {
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly deadLetterQueue: Queue;
  /** In alarm when a firing reached the dead-letter queue. */
  readonly alarm: Alarm;
  /** By schedule name. */
  readonly schedules: Record<string, Schedule> = {};

  constructor(scope: Construct, id: string, resources: ScheduleResources, deployments: readonly ScheduleDeployment[]) {
    super(scope, id);
    checkDeployments(deployments);
    this.function = resources.makeFunction('scheduleFired', Duration.seconds(30));
    const allow = (actions: string[], resourceArns: string[], conditions?: Record<string, unknown>) =>
      this.function.addToRolePolicy(new PolicyStatement({ effect: Effect.ALLOW, actions, resources: resourceArns, ...(conditions ? { conditions } : {}) }));
    // Start an instance (a conditional put, a read when it exists), end the previous one (a delivery), and record the firing.
    allow(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:TransactWriteItems', 'dynamodb:ConditionCheckItem'], [resources.table.tableArn], {
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [SCHEDULES.partition, `I#${SCHEDULES.instancePrefix}*`] },
    });
    allow(['s3:GetObject', 's3:PutObject'], [resources.bucket.arnForObjects(`payloads/${SCHEDULES.instancePrefix}*`)]);
    allow(['sqs:SendMessage'], [resources.orchestratorQueue.queueArn]);

    this.deadLetterQueue = new Queue(this, 'DeadLetters', { retentionPeriod: Duration.days(14), encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true });
    // A role of its own, assumed by EventBridge Scheduler for this account only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': Stack.of(this).account } }),
    });
    for (const deployment of deployments) {
      this.schedules[deployment.name] = new Schedule(this, deployment.name, {
        description: `Perdure schedule '${deployment.name}'${deployment.orchestration ? `: starts '${deployment.orchestration}'` : ''}.`,
        schedule: ScheduleExpression.expression(deployment.scheduleExpression, TimeZone.of(deployment.timezone ?? 'UTC')),
        enabled: deployment.paused !== true,
        target: new LambdaInvoke(this.function, {
          role: this.role,
          input: ScheduleTargetInput.fromObject({ schedule: deployment.name, firingTime: ContextAttribute.scheduledTime }),
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: RETRY_ATTEMPTS,
          maxEventAge: MAX_EVENT_AGE,
        }),
      });
    }
    this.alarm = new Alarm(this, 'DeadLettersAlarm', {
      alarmDescription: 'A schedule firing failed after its retries and is in the schedules dead-letter queue: its message names the schedule and firing; fire it again with POST /schedules/{name}/trigger once the cause is fixed.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    const functionId = Stack.of(this).getLogicalId(this.function.node.defaultChild as CfnFunction);
    const bucketId = Stack.of(this).getLogicalId(resources.bucket.node.defaultChild as CfnBucket);
    const accept = (scope: Construct, finding: string, reason: string) => Validations.of(scope).acknowledge({ id: `AwsSolutions::${finding}`, reason });
    accept(this, `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`, 'The schedules may invoke the scheduleFired function and its versions (lambda:InvokeFunction on <arn>:*); nothing else.');
    // The function is the durable functions' (made by makeFunction), so its policy's finding is acknowledged on it.
    accept(this.function, `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/payloads/${SCHEDULES.instancePrefix}*]`, 'The payload objects of the instances schedules start (payloads/sched-<name>-<time>/<sha256>): their input, written when they start.');
    accept(this.deadLetterQueue, 'AwsSolutions-SQS3', 'This queue is the dead-letter queue of the EventBridge schedules (the target DeadLetterConfig), not a work queue: it needs no dead-letter queue of its own.');
  }
}

function checkDeployments(deployments: readonly ScheduleDeployment[]): void {
  const seen = new Set<string>();
  for (const deployment of deployments) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,99}$/.test(deployment.name)) throw new Error(`Invalid schedule name ${JSON.stringify(deployment.name)}: pass the app's schedules (schedules: app.schedules()).`);
    if (seen.has(deployment.name)) throw new Error(`Schedule '${deployment.name}' is given twice: pass the app's schedules once (schedules: app.schedules()).`);
    if (!/^(cron|rate)\(.+\)$/.test(deployment.scheduleExpression)) throw new Error(`Schedule '${deployment.name}' has the expression ${JSON.stringify(deployment.scheduleExpression)}: EventBridge Scheduler takes cron(...) or rate(...), as app.schedules() gives them.`);
    seen.add(deployment.name);
  }
}
