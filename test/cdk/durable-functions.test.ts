import { App, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkWithCdkNag, PerdureStack } from '../../cdk/stack.js';
import type { DurableFunctionsProps } from '../../cdk/durable-functions.js';
import { createApp, silentLogger } from '../../lib/index.js';

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
    template = synth({ retentionDays: 7, maxReceiveCount: 4, activityTimeout: Duration.minutes(2), replayGate: { samplePerVersion: 20, maxEvents: 50_000 }, shadowReplay: { every: Duration.hours(6) } });
    resources = template.toJSON().Resources as Resources;
  }, 120_000);

  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  /** The function a mapping invokes: its own Ref, or the function of the alias it names (`<function>:live`). */
  const invokedFunction = (mapping: { Properties: Record<string, any> }): string => {
    const name = mapping.Properties.FunctionName;
    if (name.Ref) return resources[name.Ref]!.Type === 'AWS::Lambda::Alias' ? resources[name.Ref]!.Properties.FunctionName.Ref : name.Ref;
    const aliasId = JSON.stringify(name).match(/"Ref":"([^"]+)"/)![1]!;
    return resources[aliasId]!.Properties.FunctionName.Ref;
  };

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

  it('gives every work queue a dead-letter queue with the configured maxReceiveCount, SSE, and FIFO orchestrator queues', () => {
    const queues = ofType('AWS::SQS::Queue');
    // Three work queues and their dead-letter queues, and the priority lane's two, which share their lane's.
    expect(queues).toHaveLength(8);
    const withRedrive = queues.filter(([, q]) => q.Properties.RedrivePolicy);
    expect(withRedrive).toHaveLength(5);
    for (const [, queue] of withRedrive) expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(4);
    for (const [, queue] of queues) expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(queues.filter(([, q]) => q.Properties.FifoQueue === true)).toHaveLength(3);
  });

  it('gives high-priority instances a lane of their own: two queues sharing their lane’s dead-letter queues, their own event sources, and the URLs and permissions to reach them', () => {
    const queueId = (name: string) => ofType('AWS::SQS::Queue').find(([id]) => id.includes(name))![0];
    const deadLettersOf = (name: string) => resources[queueId(name)]!.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];
    expect(deadLettersOf('OrchestratorHighQueue')).toBe(queueId('OrchestratorDeadLetters'));
    expect(deadLettersOf('ActivitiesHighQueue')).toBe(queueId('ActivitiesDeadLetters'));
    expect(resources[queueId('OrchestratorHighQueue')]!.Properties).toMatchObject({ FifoQueue: true, FifoThroughputLimit: 'perMessageGroupId' });

    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    const mappingOf = (name: string) => mappings.find(([, m]) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === queueId(name))![1];
    expect(invokedFunction(mappingOf('OrchestratorHighQueue'))).toBe(invokedFunction(mappingOf('OrchestratorQueue')));
    expect(invokedFunction(mappingOf('ActivitiesHighQueue'))).toBe(invokedFunction(mappingOf('ActivitiesQueue')));
    expect(mappingOf('OrchestratorHighQueue').Properties.ScalingConfig.MaximumConcurrency).toBe(20);
    expect(mappingOf('ActivitiesHighQueue').Properties.ScalingConfig.MaximumConcurrency).toBe(40);

    const api = ofType('AWS::Lambda::Function').find(([, fn]) => fn.Properties.Handler === 'index.api')![1];
    expect(Object.keys(api.Properties.Environment.Variables)).toEqual(expect.arrayContaining(['PERDURE_ORCHESTRATOR_HIGH_QUEUE_URL', 'PERDURE_ACTIVITY_HIGH_QUEUE_URL']));
    // Whoever rings a doorbell can ring it on the lane; the activity dead-letter handler can send a task back to either activity queue;
    // the activity and timer functions dispatch the tasks of the steps they commit (a lone task's result, a lone timer's firing).
    const sendersTo = (name: string) =>
      ofType('AWS::IAM::Policy')
        .filter(([, policy]) => (policy.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[]).some((st) => st.Action === 'sqs:SendMessage' && JSON.stringify(st.Resource).includes(`"${queueId(name)}"`)))
        .map(([id]) => /([A-Z][A-Za-z]*Function)ServiceRole/.exec(id)?.[1]?.replace(/^Durable/, '') ?? id);
    expect(sendersTo('OrchestratorHighQueue').sort()).toEqual(['ActivityDeadLettersFunction', 'ActivityFunction', 'ApiFunction', 'OrchestratorDeadLettersFunction', 'OrchestratorFunction', 'TimerFunction']);
    expect(sendersTo('ActivitiesHighQueue').sort()).toEqual(['ActivityDeadLettersFunction', 'ActivityFunction', 'ApiFunction', 'OrchestratorFunction', 'TimerFunction']);
    expect(sendersTo('ActivitiesQueue').sort()).toEqual(['ActivityDeadLettersFunction', 'ActivityFunction', 'ApiFunction', 'OrchestratorFunction', 'TimerFunction']);
    // A start's eager first step may start timers (a sleep, the instance's deadline).
    expect(sendersTo('TimersQueue').sort()).toEqual(['ActivityFunction', 'ApiFunction', 'OrchestratorFunction', 'TimerFunction']);
  });

  it('leaves the priority lane out with priorityLane: false', () => {
    const without = synth({ priorityLane: false }).toJSON().Resources as Resources;
    expect(Object.keys(without).filter((id) => id.includes('High'))).toEqual([]);
    const api = Object.values(without).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.api')!;
    expect(api.Properties.Environment.Variables.PERDURE_ORCHESTRATOR_HIGH_QUEUE_URL).toBeUndefined();
  }, 120_000);

  it('denies every non-TLS request to the queues and the buckets', () => {
    const deniesInsecure = (statements: { Effect: string; Condition?: { Bool?: Record<string, string> } }[]) =>
      statements.some((statement) => statement.Effect === 'Deny' && statement.Condition?.Bool?.['aws:SecureTransport'] === 'false');
    expect(ofType('AWS::SQS::QueuePolicy')).toHaveLength(8);
    expect(ofType('AWS::S3::BucketPolicy')).toHaveLength(2);
    for (const [, policy] of [...ofType('AWS::SQS::QueuePolicy'), ...ofType('AWS::S3::BucketPolicy')]) expect(deniesInsecure(policy.Properties.PolicyDocument.Statement)).toBe(true);
  });

  it('sets each queue’s visibility timeout to at least six times its function’s timeout', () => {
    const functions = Object.fromEntries(ofType('AWS::Lambda::Function').map(([id, fn]) => [id, fn.Properties.Timeout as number]));
    const queues = Object.fromEntries(ofType('AWS::SQS::Queue').map(([id, q]) => [id, (q.Properties.VisibilityTimeout as number | undefined) ?? 30]));
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(7);
    for (const [, mapping] of mappings) {
      const queueId = mapping.Properties.EventSourceArn['Fn::GetAtt'][0] as string;
      const functionId = invokedFunction(mapping);
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

  it('runs eight functions of the handlers module on Node.js 24, arm64, with the resource names in their environment', () => {
    const functions = ofType('AWS::Lambda::Function').filter(([, fn]) => fn.Properties.Handler?.startsWith('index.'));
    expect(functions.map(([, fn]) => fn.Properties.Handler as string).sort()).toEqual(
      ['index.activity', 'index.activityDeadLetters', 'index.api', 'index.orchestrator', 'index.orchestratorDeadLetters', 'index.replayGate', 'index.shadowReplay', 'index.timer'],
    );
    for (const [, fn] of functions) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(Object.keys(fn.Properties.Environment.Variables)).toEqual(expect.arrayContaining(['PERDURE_TABLE', 'PERDURE_BUCKET', 'PERDURE_ORCHESTRATOR_QUEUE_URL', 'PERDURE_ACTIVITY_QUEUE_URL', 'PERDURE_TIMER_QUEUE_URL']));
    }
  });

  it('runs the functions on Node.js 22 when asked, bundled for it, and refuses a runtime Perdure does not run on', () => {
    const node22 = Object.values(synth({ runtime: Runtime.NODEJS_22_X }).toJSON().Resources as Resources).filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler?.startsWith('index.'));
    expect(node22).toHaveLength(8);
    for (const fn of node22) expect(fn.Properties.Runtime).toBe('nodejs22.x');
    expect(() => synth({ runtime: Runtime.NODEJS_20_X })).toThrow(/runtime nodejs20\.x is not one Perdure runs on; use Runtime\.NODEJS_24_X \(the default\) or Runtime\.NODEJS_22_X/);
  }, 120_000);

  it('requires IAM (SigV4) authorization on every API route by default, but the signed callback route', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route');
    expect(routes.map(([, route]) => [route.Properties.RouteKey, route.Properties.AuthorizationType]).sort()).toEqual([
      ['DELETE /{proxy+}', 'AWS_IAM'],
      ['GET /{proxy+}', 'AWS_IAM'],
      ['POST /signed/callbacks/{token}/{purpose}', 'NONE'],
      ['POST /{proxy+}', 'AWS_IAM'],
    ]);
  });

  it('keeps the callback signing key in a secret that only the functions that sign or check URLs may read, and tells them the API address', () => {
    const [secretId, secret] = ofType('AWS::SecretsManager::Secret')[0]!;
    expect(secret.Properties.GenerateSecretString).toMatchObject({ PasswordLength: 48, ExcludePunctuation: true, IncludeSpace: false });
    const readers = ofType('AWS::IAM::Policy').filter(([, policy]) => JSON.stringify(policy.Properties.PolicyDocument).includes('secretsmanager:'));
    const readerRoles = readers.flatMap(([, policy]) => policy.Properties.Roles.map((role: { Ref: string }) => role.Ref)).sort();
    const rolesOf = (...handlers: string[]) => handlers.map((handler) => byHandler(handler)[1].Properties.Role['Fn::GetAtt'][0] as string).sort();
    expect(readerRoles).toEqual(rolesOf('orchestrator', 'activity', 'timer', 'api'));
    for (const handler of ['orchestrator', 'activity', 'timer', 'api']) {
      const reads = statementsOf(byHandler(handler)[0]).filter((statement) => [statement.Action].flat().some((action) => action.startsWith('secretsmanager:')));
      expect(reads).toEqual([expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Resource: { Ref: secretId } })]);
      const variables = byHandler(handler)[1].Properties.Environment.Variables;
      expect(variables.PERDURE_CALLBACK_KEY_SECRET).toEqual({ Ref: secretId });
      expect(variables.PERDURE_API_URL).toEqual({ 'Fn::GetAtt': [ofType('AWS::ApiGatewayV2::Api')[0]![0], 'ApiEndpoint'] });
    }
    for (const handler of ['replayGate', 'shadowReplay']) expect(byHandler(handler)[1].Properties.Environment.Variables.PERDURE_CALLBACK_KEY_SECRET).toBeUndefined();
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
    const alarms = ofType('AWS::CloudWatch::Alarm').filter(([, alarm]) => alarm.Properties.Namespace === 'AWS/SQS');
    expect(alarms).toHaveLength(3);
    for (const [, alarm] of alarms) expect(alarm.Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
    expect(ofType('AWS::CloudWatch::Dashboard')).toHaveLength(1);
    const outputs = Object.keys(template.toJSON().Outputs as object).join(' ');
    for (const name of ['ApiUrl', 'TableName', 'BucketName', 'OrchestratorQueueUrl', 'ActivityQueueUrl', 'TimerQueueUrl']) expect(outputs).toContain(name);
  });

  it('makes the orchestrator queues high-throughput FIFO queues: quota and deduplication per message group (per instance)', () => {
    const fifo = ofType('AWS::SQS::Queue').filter(([id, q]) => q.Properties.FifoQueue === true && !id.includes('DeadLetters'));
    expect(fifo).toHaveLength(2);
    for (const [, queue] of fifo) expect(queue.Properties).toMatchObject({ FifoThroughputLimit: 'perMessageGroupId', DeduplicationScope: 'messageGroup' });
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
    expect(redrives).toHaveLength(5);
    for (const queue of redrives) expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(10);
  }, 120_000);

  it('sizes the orchestrator for inline steps: its timeout, memory and policies, and the queue’s visibility at six times the timeout', () => {
    const inline = synth({
      inlineSteps: { timeout: Duration.minutes(2), memorySize: 1_024, policies: [new PolicyStatement({ actions: ['sns:Publish'], resources: ['arn:aws:sns:us-east-1:123456789012:orders'] })] },
      eventSources: { orchestrator: { maxConcurrency: 50 }, activities: { maxConcurrency: 400, batchSize: 5 } },
    });
    const resources = inline.toJSON().Resources as Resources;
    const [, orchestrator] = Object.entries(resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.orchestrator')!;
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
    const orchestratorQueueId = Object.keys(resources).find((id) => resources[id]!.Type === 'AWS::SQS::Queue' && id.includes('OrchestratorQueue'))!;
    const orchestratorMapping = mappings.find((m) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === orchestratorQueueId)!.Properties;
    expect(orchestratorMapping.ScalingConfig.MaximumConcurrency).toBe(50);
    const activityId = Object.entries(resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.activity')![0];
    expect(forFunction(activityId)).toMatchObject({ BatchSize: 5, ScalingConfig: { MaximumConcurrency: 400 } });
  }, 120_000);

  it('lets the API list instances without a table scan', () => {
    const apiPolicy = ofType('AWS::IAM::Policy').find(([id]) => id.includes('ApiFunction'))![1];
    const actions = (apiPolicy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((statement) => [statement.Action].flat());
    expect(actions).toContain('dynamodb:BatchGetItem');
    expect(actions).not.toContain('dynamodb:Scan');
  });

  const byHandler = (handler: string) => ofType('AWS::Lambda::Function').find(([, fn]) => fn.Properties.Handler === `index.${handler}`)!;
  const statementsOf = (functionId: string) => {
    const roleId = resources[functionId]!.Properties.Role['Fn::GetAtt'][0] as string;
    return ofType('AWS::IAM::Policy')
      .filter(([, policy]) => policy.Properties.Roles.some((role: { Ref: string }) => role.Ref === roleId))
      .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown; Condition?: unknown }[]);
  };

  it('publishes the orchestrator as a version behind the alias "live", which its queue invokes, and moves the alias only after the replay gate passed', () => {
    const [versionId, version] = ofType('AWS::Lambda::Version').find(([, v]) => v.Properties.FunctionName.Ref === byHandler('orchestrator')[0])!;
    expect(version).toBeDefined();
    const [aliasId, alias] = ofType('AWS::Lambda::Alias')[0]!;
    expect(alias.Properties).toEqual({ FunctionName: { Ref: byHandler('orchestrator')[0] }, FunctionVersion: { 'Fn::GetAtt': [versionId, 'Version'] }, Name: 'live' });
    const [checkId, check] = ofType('Custom::PerdureReplayGate')[0]!;
    expect(check.Properties).toMatchObject({ OrchestratorVersion: { 'Fn::GetAtt': [versionId, 'Version'] }, SamplePerVersion: 20, MaxEvents: 50_000 });
    expect((resources[aliasId] as { DependsOn?: string[] }).DependsOn).toContain(checkId);
    // The API starts new instances on the latest version, and the activity and timer functions step instances
    // (a solo task's result, a solo timer's firing): their new code waits for the gate too.
    for (const handler of ['api', 'activity', 'timer']) expect((resources[byHandler(handler)[0]] as { DependsOn?: string[] }).DependsOn, handler).toContain(checkId);
    // The dead-letter handlers only deliver failures to the inbox (no Query: they cannot step): they need not wait.
    for (const handler of ['activityDeadLetters', 'orchestratorDeadLetters']) expect((resources[byHandler(handler)[0]] as { DependsOn?: string[] }).DependsOn ?? []).not.toContain(checkId);

    const orchestratorQueue = ofType('AWS::SQS::Queue').find(([id, q]) => q.Properties.FifoQueue && !id.includes('DeadLetters'))![0];
    const mapping = ofType('AWS::Lambda::EventSourceMapping').find(([, m]) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === orchestratorQueue)![1];
    expect(JSON.stringify(mapping.Properties.FunctionName)).toContain(`"Ref":"${aliasId}"`);
    expect(JSON.stringify(mapping.Properties.FunctionName)).toContain(':live');
  });

  it('runs the gate as a custom resource whose provider invokes the handlers module’s replayGate, which may only read', () => {
    const [gateId] = byHandler('replayGate');
    const [checkId, check] = ofType('Custom::PerdureReplayGate')[0]!;
    const providerId = check.Properties.ServiceToken['Fn::GetAtt'][0] as string;
    expect(statementsOf(providerId).flatMap((s) => [s.Action].flat())).toEqual(['lambda:InvokeFunction', 'lambda:GetFunction']);
    expect(JSON.stringify(resources[providerId]!.Properties.Environment)).toContain(gateId);
    expect(checkId).toBeTruthy();
    const gate = statementsOf(gateId);
    expect(gate.flatMap((s) => [s.Action].flat()).sort()).toEqual(['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query', 's3:GetObject']);
    expect(JSON.stringify(gate)).toMatch(/payloads\/\*/);
  });

  it('schedules shadow replay, lets it write only its own partition, and alarms when it finds a divergence', () => {
    const [shadowId] = byHandler('shadowReplay');
    const schedule = ofType('AWS::Scheduler::Schedule')[0]![1];
    expect(schedule.Properties).toMatchObject({ ScheduleExpression: 'rate(6 hours)', State: 'ENABLED', Target: { Arn: { 'Fn::GetAtt': [shadowId, 'Arn'] }, Input: JSON.stringify({ samplePerVersion: 3, maxEvents: 20_000 }) } });
    const writes = statementsOf(shadowId).filter((s) => ![s.Action].flat().every((a) => ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 's3:GetObject'].includes(a)));
    expect(writes).toEqual([expect.objectContaining({ Action: 'dynamodb:PutItem', Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['REPLAY#'] } } })]);
    const tableId = ofType('AWS::DynamoDB::Table')[0]![0];
    const alarm = ofType('AWS::CloudWatch::Alarm').find(([, a]) => a.Properties.MetricName === 'ReplayDivergences')![1];
    expect(alarm.Properties).toMatchObject({ MetricName: 'ReplayDivergences', Dimensions: [{ Name: 'Table', Value: { Ref: tableId } }], Statistic: 'Maximum', Period: 21_600, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
  });

  it('leaves the orchestrator unversioned, with no schedule, when the gate and shadow replay are off', () => {
    const off = synth({ replayGate: false, shadowReplay: false }).toJSON().Resources as Resources;
    const types = Object.values(off).map((r) => r.Type);
    for (const type of ['AWS::Lambda::Alias', 'AWS::Lambda::Version', 'Custom::PerdureReplayGate', 'AWS::Scheduler::Schedule']) expect(types).not.toContain(type);
    expect(types.filter((type) => type === 'AWS::Lambda::Function')).toHaveLength(6);
    for (const mapping of Object.values(off).filter((r) => r.Type === 'AWS::Lambda::EventSourceMapping')) expect(mapping.Properties.FunctionName.Ref).toBeDefined();
  }, 120_000);

  it('alarms on quarantines and on a falling-behind orchestrator queue, and graphs Perdure’s own metrics by the stack’s table', () => {
    const tableId = ofType('AWS::DynamoDB::Table')[0]![0];
    const perdure = ofType('AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties.Namespace === 'Perdure' && a.Properties.MetricName !== 'ReplayDivergences');
    expect(perdure.map(([, a]) => a.Properties)).toEqual([
      expect.objectContaining({ MetricName: 'Quarantines', Statistic: 'Sum', Threshold: 1, Dimensions: [{ Name: 'Table', Value: { Ref: tableId } }] }),
      expect.objectContaining({ MetricName: 'QueueAge', ExtendedStatistic: 'p90', Threshold: 60_000, EvaluationPeriods: 3, Dimensions: expect.arrayContaining([{ Name: 'Queue', Value: 'orchestrator' }]) }),
    ]);
    const body = JSON.stringify(ofType('AWS::CloudWatch::Dashboard')[0]![1].Properties.DashboardBody);
    for (const metric of ['Steps', 'Commits', 'StepLatency', 'ReplayTime', 'ActivityAttempts', 'ActivityFailures', 'ActivityRetries', 'QueueAge', 'TimerDelay', 'Quarantines', 'DeadLetters', 'PayloadOffloads']) expect(body).toContain(`\\"${metric}\\"`);
    expect(body).toContain('SEARCH(');
    // Tracing is off unless asked for.
    for (const [, fn] of ofType('AWS::Lambda::Function')) expect(fn.Properties.TracingConfig).toBeUndefined();
  });

  it('tracing: X-Ray active tracing on every function and, with an ADOT layer, its wrapper; the only "*" resource is X-Ray’s, which has no other', () => {
    const layer = 'arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-nodejs-arm64-ver-1-30-2:1';
    const traced = synth({ tracing: { adotLayerArn: layer }, replayGate: false, shadowReplay: false }).toJSON().Resources as Resources;
    const functions = Object.values(traced).filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler?.startsWith('index.'));
    expect(functions).toHaveLength(6);
    for (const fn of functions) {
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Layers).toEqual([layer]);
      expect(fn.Properties.Environment.Variables.AWS_LAMBDA_EXEC_WRAPPER).toBe('/opt/otel-handler');
    }
    const statements = Object.values(traced).filter((r) => r.Type === 'AWS::IAM::Policy').flatMap((policy) => policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    const anyResource = statements.filter((statement) => [statement.Resource].flat().includes('*'));
    expect(anyResource.length).toBeGreaterThanOrEqual(6);
    for (const statement of anyResource) expect([statement.Action].flat().sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  }, 120_000);

  it('uses a JWT authorizer when asked', () => {
    const jwt = synth({ apiAuth: { type: 'jwt', issuer: 'https://issuer.example.com', audience: ['perdure'] } });
    jwt.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', { AuthorizerType: 'JWT', JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['perdure'] } });
    const routes = Object.values(jwt.toJSON().Resources as Resources).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route');
    for (const route of routes) expect(route.Properties.AuthorizationType).toBe(route.Properties.RouteKey.startsWith('POST /signed/') ? 'NONE' : 'JWT');
  }, 120_000);

  it('creates no signing key and no unauthenticated route without signed callback URLs', () => {
    const off = synth({ signedCallbackUrls: false, replayGate: false, shadowReplay: false }).toJSON().Resources as Resources;
    expect(Object.values(off).filter((r) => r.Type === 'AWS::SecretsManager::Secret')).toEqual([]);
    for (const route of Object.values(off).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')) expect(route.Properties.AuthorizationType).toBe('AWS_IAM');
    expect(JSON.stringify(off)).not.toContain('PERDURE_CALLBACK_KEY_SECRET');
  }, 120_000);

  describe('with the app’s schedules', () => {
    let scheduled: Resources;
    const app = createApp({ logger: silentLogger }).orchestration('report', async () => 'done');
    app.schedule('nightly', { cron: '0 2 * * ? *', timezone: 'Europe/Paris', orchestration: 'report', overlap: 'skip' });
    app.schedule('poll', { every: '15m', orchestration: 'report', input: { folder: 'in' }, overlap: 'allow' });
    app.schedule('frozen', { every: '7m', orchestration: 'report', overlap: 'skip', paused: true });

    beforeAll(() => {
      // Synthesis runs cdk-nag here too: the schedules' function, role and queue leave no unacknowledged finding.
      scheduled = synth({ schedules: app.schedules() }).toJSON().Resources as Resources;
    }, 120_000);

    const of = (type: string) => Object.entries(scheduled).filter(([, r]) => r.Type === type);
    const firedId = () => of('AWS::Lambda::Function').find(([, fn]) => fn.Properties.Handler === 'index.scheduleFired')![0];
    const statementsOfRole = (roleId: string) =>
      of('AWS::IAM::Policy')
        .filter(([, policy]) => policy.Properties.Roles.some((role: { Ref: string }) => role.Ref === roleId))
        .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown; Condition?: unknown }[]);

    it('creates one EventBridge schedule per app schedule, in its time zone, disabled when paused, invoking scheduleFired with the schedule and its scheduled time', () => {
      const schedules = of('AWS::Scheduler::Schedule').map(([, r]) => r.Properties).filter((p) => p.Target.Arn['Fn::GetAtt'][0] === firedId());
      expect(schedules.map((p) => [p.ScheduleExpression, p.ScheduleExpressionTimezone, p.State, JSON.parse(p.Target.Input)])).toEqual([
        ['cron(0 2 * * ? *)', 'Europe/Paris', 'ENABLED', { schedule: 'nightly', firingTime: '<aws.scheduler.scheduled-time>' }],
        ['cron(0/15 * * * ? *)', 'UTC', 'ENABLED', { schedule: 'poll', firingTime: '<aws.scheduler.scheduled-time>' }],
        ['rate(7 minutes)', 'UTC', 'DISABLED', { schedule: 'frozen', firingTime: '<aws.scheduler.scheduled-time>' }],
      ]);
      const [queueId] = of('AWS::SQS::Queue').find(([id]) => id.includes('Schedules'))!;
      for (const p of schedules) {
        expect(p.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
        expect(p.Target.RetryPolicy).toEqual({ MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 });
        expect(p.Target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } });
      }
    });

    it('gives the schedules a role of their own that may invoke scheduleFired and send to their dead-letter queue, nothing else', () => {
      const schedule = of('AWS::Scheduler::Schedule').map(([, r]) => r.Properties).find((p) => p.Target.Arn['Fn::GetAtt'][0] === firedId())!;
      const roleId = schedule.Target.RoleArn['Fn::GetAtt'][0] as string;
      expect(scheduled[roleId]!.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        expect.objectContaining({ Principal: { Service: 'scheduler.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } }),
      ]);
      const statements = statementsOfRole(roleId);
      expect(statements.flatMap((s) => [s.Action].flat()).sort()).toEqual(['lambda:InvokeFunction', 'sqs:SendMessage']);
      expect(JSON.stringify(statements.find((s) => s.Action === 'lambda:InvokeFunction')!.Resource)).toContain(firedId());
      expect(JSON.stringify(statements.find((s) => s.Action === 'sqs:SendMessage')!.Resource)).toContain('SchedulesDeadLetters');
    });

    it('keeps failed firings in an encrypted, TLS-only dead-letter queue with an alarm', () => {
      const [queueId, queue] = of('AWS::SQS::Queue').find(([id]) => id.includes('Schedules'))!;
      expect(queue.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
      const policy = of('AWS::SQS::QueuePolicy').find(([, p]) => JSON.stringify(p.Properties.Queues).includes(queueId))![1];
      expect(policy.Properties.PolicyDocument.Statement).toEqual(expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]));
      const alarm = of('AWS::CloudWatch::Alarm').find(([, a]) => JSON.stringify(a.Properties.Dimensions ?? []).includes(queueId))![1];
      expect(alarm.Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
    });

    it('lets scheduleFired touch only the schedules’ partition and the instances they start, and waits for the replay gate like the API', () => {
      const roleId = scheduled[firedId()]!.Properties.Role['Fn::GetAtt'][0] as string;
      const statements = statementsOfRole(roleId);
      const table = statements.find((s) => [s.Action].flat().includes('dynamodb:PutItem'))!;
      expect([table.Action].flat().sort()).toEqual(['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:TransactWriteItems', 'dynamodb:UpdateItem']);
      expect(table.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SCHEDULE#', 'I#sched-*'] } });
      expect(JSON.stringify(statements.find((s) => [s.Action].flat().includes('s3:PutObject'))!.Resource)).toContain('/payloads/sched-*');
      expect(statements.find((s) => s.Action === 'sqs:SendMessage')).toBeDefined();
      const [checkId] = of('Custom::PerdureReplayGate')[0]!;
      expect((scheduled[firedId()] as { DependsOn?: string[] }).DependsOn).toContain(checkId);
    });

    it('tells the API which schedules are deployed', () => {
      const api = of('AWS::Lambda::Function').find(([, fn]) => fn.Properties.Handler === 'index.api')![1];
      expect(api.Properties.Environment.Variables.PERDURE_DEPLOYED_SCHEDULES).toBe('nightly,poll,frozen');
      expect(resources[byHandler('api')[0]]!.Properties.Environment.Variables.PERDURE_DEPLOYED_SCHEDULES).toBe('');
    });

    it('refuses schedules that are not the app’s', () => {
      expect(() => synth({ schedules: [{ name: 'a b', scheduleExpression: 'cron(0 2 * * ? *)' }] })).toThrow(/Invalid schedule name "a b": pass the app's schedules/);
      expect(() => synth({ schedules: [{ name: 'x', scheduleExpression: '0 2 * * ? *' }] })).toThrow(/EventBridge Scheduler takes cron\(\.\.\.\) or rate\(\.\.\.\)/);
    });
  });
});
