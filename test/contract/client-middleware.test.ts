import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addClientMiddleware } from '../../lib/aws/client-middleware.js';
import { startDynamoDbLocal, type RunningEmulator } from '../../lib/local/dynamodb-local.js';

let dynamo: RunningEmulator;
beforeAll(async () => {
  dynamo = await startDynamoDbLocal();
});
afterAll(async () => {
  await dynamo?.stop();
});

describe('middleware on a client that caches its middleware stacks', () => {
  it('is in every request sent after it was added, also for a command the client had sent before', async () => {
    const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, cacheMiddleware: true });
    try {
      await client.send(new ListTablesCommand({})); // the command's stack is resolved and cached
      const seen: string[] = [];
      const counting = (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => (seen.push(context.commandName ?? '?'), next(args));
      // Added the plain way, the cached stack would not have it.
      client.middlewareStack.add(counting as never, { step: 'initialize', name: 'plain' });
      await client.send(new ListTablesCommand({}));
      expect(seen).toEqual([]);
      addClientMiddleware(client, counting, { step: 'initialize', name: 'counted' });
      await client.send(new ListTablesCommand({}));
      expect(seen).toEqual(['ListTablesCommand', 'ListTablesCommand']); // both: the cache was dropped
    } finally {
      client.destroy();
    }
  });
});
