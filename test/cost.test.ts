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
  it('an inline step is one PutItem of one write unit, with no read and no queue', async () => {
    const [short, long] = await measureRuns([5, 25], 'inline');
    const step = perExtraStep(short!, long!);
    expect(step.requests).toEqual({ 'DynamoDB.PutItem': 1 });
    expect(step.wru).toBe(1);
  }, 120_000);

  it('a queued step is one PutItem, one task sent and its deletion: one queue hop, no read, one write unit', async () => {
    const [short, long] = await measureRuns([5, 25], 'queued');
    const step = perExtraStep(short!, long!);
    expect(step.requests).toEqual({ 'DynamoDB.PutItem': 1, 'SQS.SendMessageBatch': 1, 'SQS.DeleteMessageBatch': 1 });
    expect(step.total).toBeLessThanOrEqual(6);
    expect(step.wru).toBe(1);
  }, 120_000);
});
