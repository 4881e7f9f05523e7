import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueHandlers } from '../../lib/aws/sqs-handlers.js';
import { parseDoorbell, SqsWorkQueues, type SqsQueueUrls } from '../../lib/aws/sqs-queues.js';
import { createApp, silentLogger } from '../../lib/index.js';
import { SqsPoller } from '../../lib/local/sqs-poller.js';
import { startSqsS3Local, type RunningSqsS3 } from '../../lib/local/sqs-s3-local.js';
import { MemoryBlobStore } from '../../lib/memory/memory-blob-store.js';
import { MemoryInstanceStore } from '../../lib/memory/memory-store.js';
import { systemClock, type ActivityTask } from '../../lib/ports.js';
import { TaskWorker } from '../../lib/runtime/activity-worker.js';
import { OrchestrationWorker } from '../../lib/runtime/orchestration-worker.js';
import { PayloadCodec } from '../../lib/runtime/payload-codec.js';

/**
 * The activity queue's lease on SQS's wire protocol (fauxqs, as the local stack and the end-to-end tests
 * run it): a heartbeat extends the visibility of the very message its task came in, through the receipt
 * handle that the poller (or Lambda's event) hands to the activity handler.
 */
let emulator: RunningSqsS3;
let sqs: SQSClient;
const codec = new PayloadCodec(new MemoryBlobStore());

beforeAll(async () => {
  emulator = await startSqsS3Local();
  sqs = new SQSClient({ endpoint: emulator.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
});
afterAll(async () => {
  sqs?.destroy();
  await emulator?.stop();
});

async function createQueues(prefix: string): Promise<SqsQueueUrls> {
  const create = async (QueueName: string, fifo = false) => (await sqs.send(new CreateQueueCommand({ QueueName, Attributes: fifo ? { FifoQueue: 'true' } : {} }))).QueueUrl!;
  return { orchestrator: await create(`${prefix}-doorbells.fifo`, true), activities: await create(`${prefix}-activities`), timers: await create(`${prefix}-timers`) };
}

const task = (instanceId: string, taskId: number): ActivityTask => ({ instanceId, generation: 0, taskId, name: 'sync', input: { taskId }, attempt: 1, idempotencyKey: `${instanceId}:0:${taskId}` });
const taskIdOf = (message: Message) => (JSON.parse(message.Body!) as ActivityTask).taskId;

describe('the activity lease on SQS', () => {
  it('keeps a received task invisible past its visibility timeout once extended, while one not extended comes back', async () => {
    const urls = await createQueues('lease');
    const queues = new SqsWorkQueues({ client: sqs, urls, codec, clock: systemClock });
    await queues.enqueueActivities([task('i-1', 1), task('i-1', 2)]);
    const received: Message[] = [];
    while (received.length < 2) received.push(...((await sqs.send(new ReceiveMessageCommand({ QueueUrl: urls.activities, MaxNumberOfMessages: 10, VisibilityTimeout: 1, WaitTimeSeconds: 1 }))).Messages ?? []));
    const extended = received.find((message) => taskIdOf(message) === 1)!;
    await queues.extendActivityLease(extended.ReceiptHandle!, 60_000);

    // Task 2 comes back after its 1 s; until it does, task 1 (whose 1 s passed as well) must not.
    const again: number[] = [];
    while (!again.includes(2)) {
      const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: urls.activities, MaxNumberOfMessages: 10, VisibilityTimeout: 30, WaitTimeSeconds: 1 }));
      again.push(...(Messages ?? []).map(taskIdOf));
    }
    expect(again).toEqual([2]);
  });

  it('refuses to extend a message that is no longer in flight (deleted): the heartbeat logs it and goes on', async () => {
    const urls = await createQueues('gone');
    const queues = new SqsWorkQueues({ client: sqs, urls, codec, clock: systemClock });
    await queues.enqueueActivities([task('i-2', 1)]);
    let message: Message | undefined;
    while (!message) message = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: urls.activities, VisibilityTimeout: 30, WaitTimeSeconds: 1 }))).Messages?.[0];
    await sqs.send(new DeleteMessageCommand({ QueueUrl: urls.activities, ReceiptHandle: message.ReceiptHandle }));
    await expect(queues.extendActivityLease(message.ReceiptHandle!, 60_000)).rejects.toThrow();
  });

  it('extends the message a heartbeat came in, through the poller and the activity handler', async () => {
    const urls = await createQueues('poller');
    const queues = new SqsWorkQueues({ client: sqs, urls, codec, clock: systemClock });
    const store = new MemoryInstanceStore();
    await store.createInstance(
      { instanceId: 'i-3', name: 'o', version: '1', status: 'Running', generation: 0, input: null, createdAt: 0, updatedAt: 0, lastEventId: 0, revision: 0 },
      { messageId: 'start#0', receivedAt: 0, event: { type: 'ExecutionStarted', name: 'o', version: '1', input: null } },
    );
    const app = createApp({ logger: silentLogger });
    let heartbeats = 0;
    app.activity('sync', async (_: unknown, actx) => {
      await actx.heartbeat({ page: 1 });
      heartbeats++;
      return 'synced';
    });
    const deps = { app, store, queues, clock: systemClock, logger: silentLogger };
    const tasks = new TaskWorker(deps);
    const handlers = new QueueHandlers({ ...deps, orchestrations: new OrchestrationWorker(deps), tasks, maxReceiveCount: 5 });

    // Every ChangeMessageVisibility that SQS accepted (the poller's own keep-alive is the batch action).
    const extensions: { QueueUrl?: string; ReceiptHandle?: string; VisibilityTimeout?: number }[] = [];
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'ChangeMessageVisibilityCommand') extensions.push(args.input as (typeof extensions)[number]);
        return result;
      },
      { step: 'initialize', name: 'recordExtensions' },
    );
    const poller = new SqsPoller({ queues: emulator.queues, queueUrl: urls.activities, handler: (records, context) => handlers.activities(records, context), logger: silentLogger, visibilityTimeout: 20, functionTimeout: 10 });
    try {
      await queues.enqueueActivities([{ ...task('i-3', 1), input: undefined }]);
      poller.start();
      const { Messages } = await (async () => {
        // The result rings the instance's doorbell: the task is done when it arrives.
        for (;;) {
          const doorbell = await sqs.send(new ReceiveMessageCommand({ QueueUrl: urls.orchestrator, WaitTimeSeconds: 1 }));
          if (doorbell.Messages?.length) return doorbell;
        }
      })();
      const doorbell = parseDoorbell(Messages![0]!.Body!);
      const event = doorbell.messages?.[0]?.event;
      expect(event?.type === 'ActivityCompleted' && (await codec.load(event.result))).toBe('synced');
    } finally {
      await poller.stop();
      sqs.middlewareStack.remove('recordExtensions');
    }
    expect(heartbeats).toBe(1);
    // Accepted by SQS, so the receipt handle was that of the message in flight; it covers the invocation (10 s) and a margin.
    expect(extensions).toEqual([{ QueueUrl: urls.activities, ReceiptHandle: expect.any(String) as string, VisibilityTimeout: expect.any(Number) as number }]);
    expect(extensions[0]!.VisibilityTimeout).toBeGreaterThanOrEqual(35);
    expect(extensions[0]!.VisibilityTimeout).toBeLessThanOrEqual(41);
  });
});
