import { ConditionalCheckFailedException, GetItemCommand, QueryCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ScheduleState, ScheduleStates } from '../ports.js';
import { SCHEDULES } from './schedule-names.js';

type Item = Record<string, AttributeValue>;

/**
 * The schedules' state in the app's table: one small item per schedule, updated in place (paused, last
 * firing, last instance). A write that would move a firing or a start back is refused by its condition.
 * The items have no TTL: a schedule's state lasts as long as the schedule.
 */
export class DynamoDbScheduleStates implements ScheduleStates {
  constructor(private readonly options: { dynamodb: DynamoDBClient; tableName: string }) {}

  async get(name: string): Promise<ScheduleState | undefined> {
    const { Item } = await this.options.dynamodb.send(new GetItemCommand({ TableName: this.options.tableName, Key: key(name), ConsistentRead: true }));
    return Item && toState(Item);
  }

  async list(): Promise<ScheduleState[]> {
    const states: ScheduleState[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.options.dynamodb.send(
        new QueryCommand({
          TableName: this.options.tableName,
          KeyConditionExpression: 'PK = :pk',
          ExpressionAttributeValues: { ':pk': { S: SCHEDULES.partition } },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      states.push(...(page.Items ?? []).map(toState));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return states;
  }

  async setPaused(name: string, paused: boolean): Promise<void> {
    await this.update(name, 'SET paused = :paused, #name = :name', { ':paused': { BOOL: paused } });
  }

  async recordFiring(name: string, firingAt: number): Promise<void> {
    await this.update(name, 'SET lastFiringAt = :at, #name = :name', { ':at': { N: String(firingAt) } }, 'attribute_not_exists(lastFiringAt) OR lastFiringAt < :at');
  }

  async recordStart(name: string, instanceId: string, startedAt: number): Promise<void> {
    await this.update(name, 'SET lastInstanceId = :id, lastStartedAt = :at, #name = :name', { ':id': { S: instanceId }, ':at': { N: String(startedAt) } }, 'attribute_not_exists(lastStartedAt) OR lastStartedAt <= :at');
  }

  private async update(name: string, expression: string, values: Item, condition?: string): Promise<void> {
    try {
      await this.options.dynamodb.send(
        new UpdateItemCommand({
          TableName: this.options.tableName,
          Key: key(name),
          UpdateExpression: expression,
          ExpressionAttributeNames: { '#name': 'name' },
          ExpressionAttributeValues: { ...values, ':name': { S: name } },
          ...(condition ? { ConditionExpression: condition } : {}),
        }),
      );
    } catch (error) {
      // A later firing or start is recorded already: this one changes nothing.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

function key(name: string): Item {
  return { PK: { S: SCHEDULES.partition }, SK: { S: `S#${name}` } };
}

function toState(item: Item): ScheduleState {
  return {
    name: item.name?.S ?? item.SK!.S!.slice(2),
    ...(item.paused?.BOOL !== undefined ? { paused: item.paused.BOOL } : {}),
    ...(item.lastFiringAt?.N !== undefined ? { lastFiringAt: Number(item.lastFiringAt.N) } : {}),
    ...(item.lastInstanceId?.S !== undefined ? { lastInstanceId: item.lastInstanceId.S } : {}),
    ...(item.lastStartedAt?.N !== undefined ? { lastStartedAt: Number(item.lastStartedAt.N) } : {}),
  };
}
