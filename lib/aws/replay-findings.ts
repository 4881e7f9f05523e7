import { PutItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { InstanceStatusName, ReplayFinding, ReplayFindings, ReplayRun } from '../ports.js';
import { SHADOW_REPLAY } from './shadow-replay-names.js';
import { TABLE_SCHEMA } from './table.js';

type Item = Record<string, AttributeValue>;

/** Findings beyond this many in one run are counted in the run, not stored. */
const MAX_FINDINGS_PER_RUN = 100;

/** Shadow replay's runs and findings in the app's table, each item expiring (TTL) after the retention. */
export class DynamoDbReplayFindings implements ReplayFindings {
  constructor(private readonly options: { dynamodb: DynamoDBClient; tableName: string; retentionDays?: number }) {}

  async record(run: ReplayRun, findings: ReplayFinding[]): Promise<void> {
    const ttl = { N: String(Math.floor(Date.parse(run.at) / 1000) + (this.options.retentionDays ?? 30) * 86_400) };
    const put = (SK: string, fields: Item) => this.options.dynamodb.send(new PutItemCommand({ TableName: this.options.tableName, Item: { PK: { S: SHADOW_REPLAY.partition }, SK: { S: SK }, ...fields, [TABLE_SCHEMA.ttlAttribute]: ttl } }));
    for (const finding of findings.slice(0, MAX_FINDINGS_PER_RUN)) {
      await put(`F#${finding.foundAt}#${finding.instanceId}`, {
        instanceId: { S: finding.instanceId },
        orchestration: { S: finding.orchestration },
        instanceStatus: { S: finding.status },
        problem: { S: finding.problem },
        foundAt: { S: finding.foundAt },
      });
    }
    await put(`R#${run.at}`, {
      at: { S: run.at },
      inFlight: { N: String(run.inFlight) },
      replayed: { N: String(run.replayed) },
      diverged: { N: String(run.diverged) },
      ...(run.incomplete ? { incomplete: { S: run.incomplete } } : {}),
    });
  }

  async list(options: { limit?: number } = {}): Promise<{ lastRun?: ReplayRun; findings: ReplayFinding[] }> {
    const newest = async (prefix: string, limit: number) =>
      (
        await this.options.dynamodb.send(
          new QueryCommand({
            TableName: this.options.tableName,
            KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
            ExpressionAttributeValues: { ':pk': { S: SHADOW_REPLAY.partition }, ':prefix': { S: prefix } },
            ScanIndexForward: false,
            Limit: limit,
          }),
        )
      ).Items ?? [];
    const [runs, findings] = await Promise.all([newest('R#', 1), newest('F#', options.limit ?? 100)]);
    const run = runs[0];
    const lastRun: ReplayRun | undefined = run && {
      at: run.at!.S!,
      inFlight: Number(run.inFlight!.N),
      replayed: Number(run.replayed!.N),
      diverged: Number(run.diverged!.N),
      ...(run.incomplete ? { incomplete: run.incomplete.S! } : {}),
    };
    return {
      ...(lastRun ? { lastRun } : {}),
      findings: findings.map((item) => ({
        instanceId: item.instanceId!.S!,
        orchestration: item.orchestration!.S!,
        status: item.instanceStatus!.S! as InstanceStatusName,
        problem: item.problem!.S!,
        foundAt: item.foundAt!.S!,
      })),
    };
  }
}
