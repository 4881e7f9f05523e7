import { describe, expect, it } from 'vitest';
import { measureRuns, type Measurement } from '../bench/cost-meter.js';

/**
 * What a step costs, gated by counts rather than time: the requests and write units a sequential
 * orchestration's extra steps take on the local stack (two runs of different lengths on one stack, so the
 * instance's own start and end cancel out). Counts are deterministic; receives are not (long polls that
 * come back empty), so they are left out, as in `bench/cost.ts`. The deletes are the event source mapping's
 * on AWS: the local pollers make them in process, not through the SDK, and report them (`cost-meter.ts`).
 */
function perExtraStep(short: Measurement, long: Measurement) {
  const steps = long.steps - short.steps;
  const count = (key: string) => ((long.requests.get(key) ?? 0) - (short.requests.get(key) ?? 0)) / steps;
  const keys = new Set([...short.requests.keys(), ...long.requests.keys()].filter((key) => key !== 'SQS.ReceiveMessage'));
  const requests: Record<string, number> = {};
  for (const key of keys) if (count(key) !== 0) requests[key] = count(key);
  const wru = (long.capacity.wru.table + long.capacity.wru.index - short.capacity.wru.table - short.capacity.wru.index) / steps;
  return { requests, total: Object.values(requests).reduce((a, b) => a + b, 0), wru };
}

describe('the cost of a step (counts on the local stack)', () => {
  // Both runs are past the history a record keeps inside it (8 steps at most), so their difference is a step of a long instance.
  it('an inline step is one PutItem of one write unit, with no read and no queue', async () => {
    const [short, long] = await measureRuns([25, 45], 'inline');
    const step = perExtraStep(short!, long!);
    expect(step.requests).toEqual({ 'DynamoDB.PutItem': 1 });
    // One unit either way over the 20 steps: the move into the chain (once in each run) is priced by the bytes it
    // moves, which differ by a few (deflated timestamps) and may fall either side of a KB.
    expect(Math.abs(step.wru - 1)).toBeLessThanOrEqual(1 / 20);
  }, 120_000);

  it('a queued step is one PutItem, one task sent and its deletion: one queue hop, no read, one write unit', async () => {
    const [short, long] = await measureRuns([25, 45], 'queued');
    const step = perExtraStep(short!, long!);
    expect(step.requests).toEqual({ 'DynamoDB.PutItem': 1, 'SQS.SendMessageBatch': 1, 'SQS.DeleteMessageBatch': 1 });
    expect(step.total).toBeLessThanOrEqual(6);
    expect(step.wru).toBe(1);
  }, 120_000);

  it('a short instance keeps its history in its record: its start and first step are one PutItem, each later step one UpdateItem, its status changes included', async () => {
    const [run] = await measureRuns([5], 'inline');
    const dynamodb = Object.fromEntries([...run!.requests].filter(([key]) => key.startsWith('DynamoDB.')));
    // The start runs the first step and creates the instance with it (eager start), and hands its ctx.step call to
    // an orchestrator invocation, which reads (its executor is cold); the five result steps append to what it keeps.
    expect(dynamodb).toEqual({ 'DynamoDB.PutItem': 1, 'DynamoDB.Query': 1, 'DynamoDB.UpdateItem': 5 });
    // Each update is priced by the record's size, which grows with the history: 20 units in all, where the same
    // instance with its history in the chain from the start takes 22 (its two status changes are transactions).
    expect(run!.capacity.wru.table + run!.capacity.wru.index).toBeLessThanOrEqual(20);
  }, 120_000);

  it('a short chain of queued activities reads nothing: the start writes its first step, and each task carries the record its result\'s step starts from', async () => {
    const [run] = await measureRuns([3], 'queued');
    const dynamodb = Object.fromEntries([...run!.requests].filter(([key]) => key.startsWith('DynamoDB.')));
    // One PutItem (the start and its first step), one UpdateItem per result (the activity function's step, from the snapshot its task carried).
    expect(dynamodb).toEqual({ 'DynamoDB.PutItem': 1, 'DynamoDB.UpdateItem': 3 });
    expect(run!.requests.get('SQS.SendMessageBatch')).toBe(3);
  }, 120_000);
});
