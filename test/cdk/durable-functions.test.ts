import { App, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkWithCdkNag, PerdureStack } from '../../cdk/stack.js';
import type { DurableFunctionsProps } from '../../cdk/durable-functions.js';

const entry = fileURLToPath(new URL('../../functions/handlers.ts', import.meta.url));

function synth(props: Partial<DurableFunctionsProps> = {}): Template {
  const app = new App();
  checkWithCdkNag(app);
  const stack = new PerdureStack(app, 'Test', { durable: { entry, ...props } });
  // Synthesis runs cdk-nag: a finding that is not acknowledged with a reason throws here.
  app.synth();
  return Template.fromStack(stack);
}

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;

describe('DurableFunctions construct', () => {
  let template: Template;
  let resources: Resources;

  beforeAll(() => {
    template = synth({ retentionDays: 7, maxReceiveCount: 4, activityTimeout: Duration.minutes(2) });
    resources = template.toJSON().Resources as Resources;
  }, 120_000);

  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  it('creates the event table on demand, with point-in-time recovery, TTL, encryption and the status index', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      SSESpecification: { SSEEnabled: true },
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'byStatus', KeySchema: [{ AttributeName: 'status', KeyType: 'HASH' }, { AttributeName: 'createdAt', KeyType: 'RANGE' }], Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['name'] } })],
    });
  });

  it('gives every work queue a dead-letter queue with the configured maxReceiveCount, SSE, and a FIFO orchestrator queue', () => {
    const queues = ofType('AWS::SQS::Queue');
    expect(queues).toHaveLength(6);
    const withRedrive = queues.filter(([, q]) => q.Properties.RedrivePolicy);
    expect(withRedrive).toHaveLength(3);
    for (const [, queue] of withRedrive) expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(4);
    for (const [, queue] of queues) expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(queues.filter(([, q]) => q.Properties.FifoQueue === true)).toHaveLength(2);
  });

  it('denies every non-TLS request to the queues and the buckets', () => {
    const deniesInsecure = (statements: { Effect: string; Condition?: { Bool?: Record<string, string> } }[]) =>
      statements.some((statement) => statement.Effect === 'Deny' && statement.Condition?.Bool?.['aws:SecureTransport'] === 'false');
    expect(ofType('AWS::SQS::QueuePolicy')).toHaveLength(6);
    expect(ofType('AWS::S3::BucketPolicy')).toHaveLength(2);
    for (const [, policy] of [...ofType('AWS::SQS::QueuePolicy'), ...ofType('AWS::S3::BucketPolicy')]) expect(deniesInsecure(policy.Properties.PolicyDocument.Statement)).toBe(true);
  });

  it('sets each queue’s visibility timeout to at least six times its function’s timeout', () => {
    const functions = Object.fromEntries(ofType('AWS::Lambda::Function').map(([id, fn]) => [id, fn.Properties.Timeout as number]));
    const queues = Object.fromEntries(ofType('AWS::SQS::Queue').map(([id, q]) => [id, (q.Properties.VisibilityTimeout as number | undefined) ?? 30]));
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(5);
    for (const [, mapping] of mappings) {
      const queueId = mapping.Properties.EventSourceArn['Fn::GetAtt'][0] as string;
      const functionId = mapping.Properties.FunctionName.Ref as string;
      if (!queueId.includes('DeadLetters')) expect(queues[queueId]).toBeGreaterThanOrEqual(6 * functions[functionId]!);
      expect(mapping.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    }
  });

  it('keeps payloads in a private, encrypted bucket that expires them after the retention and aborts stale uploads', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: 'payloads/', ExpirationInDays: 7, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' })]),
      },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'payloads-bucket/' }),
    });
  });

  it('runs six functions on Node.js 22, arm64, with the resource names in their environment', () => {
    const functions = ofType('AWS::Lambda::Function').filter(([, fn]) => fn.Properties.Handler?.startsWith('index.'));
    expect(functions.map(([, fn]) => fn.Properties.Handler as string).sort()).toEqual(
      ['index.activity', 'index.activityDeadLetters', 'index.api', 'index.orchestrator', 'index.orchestratorDeadLetters', 'index.timer'],
    );
    for (const [, fn] of functions) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(Object.keys(fn.Properties.Environment.Variables)).toEqual(expect.arrayContaining(['PERDURE_TABLE', 'PERDURE_BUCKET', 'PERDURE_ORCHESTRATOR_QUEUE_URL', 'PERDURE_ACTIVITY_QUEUE_URL', 'PERDURE_TIMER_QUEUE_URL']));
    }
  });

  it('requires IAM (SigV4) authorization on every API route by default', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route');
    expect(routes.length).toBeGreaterThan(0);
    for (const [, route] of routes) expect(route.Properties.AuthorizationType).toBe('AWS_IAM');
  });

  it('grants exact actions on named data resources: no wildcard actions, no "*" resources', () => {
    const statements = ofType('AWS::IAM::Policy').flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    expect(statements.length).toBeGreaterThan(0);
    for (const statement of statements) {
      const actions = [statement.Action].flat();
      expect(actions.filter((action) => action.includes('*'))).toEqual([]);
      expect([statement.Resource].flat()).not.toContain('*');
    }
    // The orchestrator may not purge payloads; only the API deletes objects.
    const deleters = ofType('AWS::IAM::Policy').filter(([, policy]) => JSON.stringify(policy.Properties.PolicyDocument).includes('s3:DeleteObject'));
    expect(deleters.map(([id]) => id)).toEqual([expect.stringMatching(/ApiFunction/)]);
  });

  it('alarms on every dead-letter queue, and outputs the API URL and resource names', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm');
    expect(alarms).toHaveLength(3);
    for (const [, alarm] of alarms) expect(alarm.Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
    expect(ofType('AWS::CloudWatch::Dashboard')).toHaveLength(1);
    const outputs = Object.keys(template.toJSON().Outputs as object).join(' ');
    for (const name of ['ApiUrl', 'TableName', 'BucketName', 'OrchestratorQueueUrl', 'ActivityQueueUrl', 'TimerQueueUrl']) expect(outputs).toContain(name);
  });

  it('makes the orchestrator queue a high-throughput FIFO queue: quota and deduplication per message group (per instance)', () => {
    const fifo = ofType('AWS::SQS::Queue').filter(([id, q]) => q.Properties.FifoQueue === true && !id.includes('DeadLetters'));
    expect(fifo).toHaveLength(1);
    expect(fifo[0]![1].Properties).toMatchObject({ FifoThroughputLimit: 'perMessageGroupId', DeduplicationScope: 'messageGroup' });
  });

  it('bounds each event source’s concurrency below the account’s default 1,000 and reads batches of 10', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    const byQueue = Object.fromEntries(mappings.map(([, m]) => [m.Properties.EventSourceArn['Fn::GetAtt'][0] as string, m.Properties]));
    const concurrency = (name: string) => Object.entries(byQueue).find(([id]) => id.includes(name))![1].ScalingConfig.MaximumConcurrency as number;
    expect(concurrency('OrchestratorQueue')).toBe(100);
    expect(concurrency('ActivitiesQueue')).toBe(200);
    expect(concurrency('TimersQueue')).toBe(10);
    expect(concurrency('OrchestratorDeadLetters')).toBe(2);
    expect(concurrency('ActivitiesDeadLetters')).toBe(2);
    expect(mappings.reduce((sum, [, m]) => sum + (m.Properties.ScalingConfig.MaximumConcurrency as number), 0)).toBeLessThan(1_000);
    for (const [, mapping] of mappings) expect(mapping.Properties.BatchSize).toBe(10);
  });

  it('moves a message to its dead-letter queue after 10 receives by default', () => {
    const defaults = synth().toJSON().Resources as Resources;
    const redrives = Object.values(defaults).filter((r) => r.Type === 'AWS::SQS::Queue' && r.Properties.RedrivePolicy);
    expect(redrives).toHaveLength(3);
    for (const queue of redrives) expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(10);
  }, 120_000);

  it('sizes the orchestrator for inline steps: its timeout, memory and policies, and the queue’s visibility at six times the timeout', () => {
    const inline = synth({
      inlineSteps: { timeout: Duration.minutes(2), memorySize: 1_024, policies: [new PolicyStatement({ actions: ['sns:Publish'], resources: ['arn:aws:sns:us-east-1:123456789012:orders'] })] },
      eventSources: { orchestrator: { maxConcurrency: 50 }, activities: { maxConcurrency: 400, batchSize: 5 } },
    });
    const resources = inline.toJSON().Resources as Resources;
    const [orchestratorId, orchestrator] = Object.entries(resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.orchestrator')!;
    expect(orchestrator.Properties).toMatchObject({ Timeout: 120, MemorySize: 1_024 });
    const queue = Object.entries(resources).find(([id, r]) => r.Type === 'AWS::SQS::Queue' && id.includes('OrchestratorQueue'))![1];
    expect(queue.Properties.VisibilityTimeout).toBe(720);
    const roleId = orchestrator.Properties.Role['Fn::GetAtt'][0] as string;
    const statements = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'sns:Publish', Resource: 'arn:aws:sns:us-east-1:123456789012:orders' }));
    const mappings = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::EventSourceMapping');
    const forFunction = (id: string) => mappings.find((m) => m.Properties.FunctionName.Ref === id)!.Properties;
    expect(forFunction(orchestratorId).ScalingConfig.MaximumConcurrency).toBe(50);
    const activityId = Object.entries(resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.activity')![0];
    expect(forFunction(activityId)).toMatchObject({ BatchSize: 5, ScalingConfig: { MaximumConcurrency: 400 } });
  }, 120_000);

  it('lets the API list instances without a table scan', () => {
    const apiPolicy = ofType('AWS::IAM::Policy').find(([id]) => id.includes('ApiFunction'))![1];
    const actions = (apiPolicy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((statement) => [statement.Action].flat());
    expect(actions).toContain('dynamodb:BatchGetItem');
    expect(actions).not.toContain('dynamodb:Scan');
  });

  it('uses a JWT authorizer when asked', () => {
    const jwt = synth({ apiAuth: { type: 'jwt', issuer: 'https://issuer.example.com', audience: ['perdure'] } });
    jwt.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', { AuthorizerType: 'JWT', JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['perdure'] } });
    jwt.allResourcesProperties('AWS::ApiGatewayV2::Route', { AuthorizationType: 'JWT' });
  }, 120_000);
});
