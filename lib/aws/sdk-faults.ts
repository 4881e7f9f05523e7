import { ProvisionedThroughputExceededException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { InjectedFault, sleep, type CallFault, type FaultInjector } from '../faults.js';
import { addClientMiddleware, type MiddlewareClient } from './client-middleware.js';

/** The error a service returns for the fault, with the SDK's own classes where our code tells them apart. */
function serviceError(service: string, operation: string, fault: Exclude<CallFault, 'slow'>): Error {
  const $metadata = { httpStatusCode: fault === 'throttle' ? (service === 'DynamoDB' ? 400 : 503) : 500, attempts: 1 };
  if (fault === 'throttle' && service === 'DynamoDB') {
    if (operation === 'TransactWriteItems') {
      return new TransactionCanceledException({
        message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]',
        $metadata,
        CancellationReasons: [{ Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }],
      });
    }
    return new ProvisionedThroughputExceededException({ message: 'The level of configured provisioned throughput for the table was exceeded (injected).', $metadata });
  }
  const error = new InjectedFault(
    fault === 'lost-response' ? `${service}.${operation}: socket hang up after the request was sent (injected)` : `${service}.${operation}: ${fault === 'throttle' ? 'SlowDown / ServiceUnavailable' : 'InternalError'} (injected)`,
    fault,
  );
  error.name = fault === 'lost-response' ? 'TimeoutError' : fault === 'throttle' ? 'ServiceUnavailable' : 'InternalError';
  Object.assign(error, { $metadata, $fault: 'server' });
  return error;
}


/** The operation and the message count of an SDK command, as the middleware sees it. */
interface MiddlewareArgs {
  input: { Entries?: unknown[] };
}
type Next = (args: MiddlewareArgs) => Promise<unknown>;
interface HandlerContext {
  commandName?: string;
}

/**
 * Adds fault middleware to AWS SDK clients, in the initialize step (before the SDK's own retries, so each
 * injected fault reaches Perdure's code as a failed call would after the SDK gave up; a slow call is as
 * slow as a call the SDK retried through a throttled service). Sends to the
 * `duplicateQueues` may also be duplicated, the copy in another order.
 */
export function injectSdkFaults(clients: Record<string, MiddlewareClient>, injector: FaultInjector, options: { duplicateQueues?: string[] } = {}): void {
  for (const [key, client] of Object.entries(clients)) {
    const service = key === 'dynamodb' ? 'DynamoDB' : key === 'sqs' ? 'SQS' : key === 's3' ? 'S3' : key;
    addClientMiddleware(
      client,
      (next: Next, context: HandlerContext) => async (args: MiddlewareArgs) => {
        const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
        const fault = injector.callFault(`${service}.${operation}`);
        if (fault === 'throttle' || fault === 'server-error') throw serviceError(service, operation, fault);
        // A slow call: the request reaches the service late (its write lands late), or its answer comes back late.
        const late = fault === 'slow' ? { ms: injector.slowDelay(), arrives: injector.slowToArrive() } : undefined;
        if (late?.arrives) await sleep(late.ms);
        const output = await next(args);
        if (late && !late.arrives) await sleep(late.ms);
        if (fault === 'lost-response') throw serviceError(service, operation, fault);
        const input = args.input as { QueueUrl?: string; Entries?: unknown[] };
        if (operation === 'SendMessageBatch' && input.QueueUrl && options.duplicateQueues?.includes(input.QueueUrl) && injector.duplicate(`${service}.${operation}`)) {
          // The same messages again, possibly in another order (FIFO queues get new deduplication ids, or they would be dropped).
          const entries = injector.reorder(input.Entries ?? [], `${service}.${operation}`).map((entry) =>
            (entry as { MessageDeduplicationId?: string }).MessageDeduplicationId ? { ...(entry as object), MessageDeduplicationId: `${(entry as { MessageDeduplicationId: string }).MessageDeduplicationId}-again` } : entry,
          );
          await next({ ...args, input: { ...input, Entries: entries } });
        }
        return output;
      },
      { step: 'initialize', name: 'perdureFaultInjection', priority: 'high' },
    );
  }
}
