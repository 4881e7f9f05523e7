/**
 * What an instance's steps and attempts cost, as counts: AWS requests by service and operation, DynamoDB
 * request units, S3 bytes, Lambda time. Pure values: the runtime adds to them, the stores keep them, the
 * client prices them (`cost-prices.ts`).
 */

/**
 * The usage of an instance (or of one step, attempt or message): every field a count, 0 when absent.
 * @example const { ledger } = (await client.getStatus(id, { cost: true })).cost!;   // ledger.requests['DynamoDB.PutItem'], ledger.wru
 */
export interface CostLedger {
  /**
   * AWS requests by `Service.Operation` (`DynamoDB.PutItem`, `SQS.SendMessageBatch`, `SQS-FIFO.ReceiveMessage`,
   * `S3.GetObject`). A request shared by several messages (a batch) counts as its share: values may be fractions.
   */
  requests: Record<string, number>;
  /** DynamoDB write request units, estimated from item sizes (1 per started KB, twice inside a transaction). */
  wru: number;
  /** DynamoDB read request units, estimated from the sizes of the items read (1 per started 4 KB, strongly consistent). */
  rru: number;
  /** Bytes written to S3 (offloaded payloads). */
  s3PutBytes: number;
  /** Bytes read from S3. */
  s3GetBytes: number;
  /** Lambda invocations, as the share of each invocation's batch the instance's messages were. */
  invocations: number;
  /** Milliseconds of invocation time spent on the instance's steps and attempts. */
  lambdaMs: number;
  /** The same as GB-seconds: milliseconds times the function's memory. */
  gbSeconds: number;
  /** History commits (one per step). */
  steps: number;
  /** Activity and `ctx.step` attempts (queued and inline). */
  attempts: number;
}

const NUMBER_FIELDS = ['wru', 'rru', 's3PutBytes', 's3GetBytes', 'invocations', 'lambdaMs', 'gbSeconds', 'steps', 'attempts'] as const;
/** Short keys of the stored form: the ledger rides on every history chunk, so it is kept small. */
const SHORT: Record<(typeof NUMBER_FIELDS)[number], string> = { wru: 'w', rru: 'r', s3PutBytes: 'sp', s3GetBytes: 'sg', invocations: 'i', lambdaMs: 'ms', gbSeconds: 'gbs', steps: 'st', attempts: 'at' };

/**
 * A ledger of nothing, to add to.
 * @example const total = statuses.reduce((sum, status) => addLedgers(sum, status.cost?.ledger), emptyLedger());
 */
export function emptyLedger(): CostLedger {
  return { requests: {}, wru: 0, rru: 0, s3PutBytes: 0, s3GetBytes: 0, invocations: 0, lambdaMs: 0, gbSeconds: 0, steps: 0, attempts: 0 };
}

/**
 * `a + b`, field by field (missing fields of either count as 0).
 * @example const both = addLedgers(first.cost!.ledger, second.cost!.ledger);
 */
export function addLedgers(a: Partial<CostLedger> | undefined, b: Partial<CostLedger> | undefined): CostLedger {
  const sum = emptyLedger();
  for (const from of [a, b]) {
    if (!from) continue;
    for (const field of NUMBER_FIELDS) sum[field] += from[field] ?? 0;
    for (const [key, count] of Object.entries(from.requests ?? {})) sum.requests[key] = (sum.requests[key] ?? 0) + count;
  }
  return sum;
}

/** `a - b`: what was added to `b` to make `a`. */
export function subtractLedgers(a: CostLedger, b: CostLedger | undefined): CostLedger {
  const difference = addLedgers(a, undefined);
  if (!b) return difference;
  for (const field of NUMBER_FIELDS) difference[field] -= b[field];
  for (const [key, count] of Object.entries(b.requests)) {
    const left = (difference.requests[key] ?? 0) - count;
    if (Math.abs(left) < 1e-9) delete difference.requests[key];
    else difference.requests[key] = left;
  }
  return difference;
}

export function isEmptyLedger(ledger: CostLedger | undefined): boolean {
  return !ledger || (NUMBER_FIELDS.every((field) => ledger[field] === 0) && Object.keys(ledger.requests).length === 0);
}

/** All requests of the ledger, or those of one service (`DynamoDB`, `SQS`, `SQS-FIFO`, `S3`). */
export function requestCount(ledger: CostLedger, service?: string): number {
  return Object.entries(ledger.requests)
    .filter(([key]) => service === undefined || key.startsWith(`${service}.`))
    .reduce((sum, [, count]) => sum + count, 0);
}

/** Rounds away the float noise of shares (a third of a request) so stored ledgers stay short. */
const round = (n: number) => Math.round(n * 1e4) / 1e4;

/** The stored form: compact JSON text, zero fields left out (`{"q":{"DynamoDB.PutItem":3},"w":3,"st":3}`). */
export function encodeLedger(ledger: CostLedger): string {
  const stored: Record<string, unknown> = {};
  const requests = Object.fromEntries(Object.entries(ledger.requests).filter(([, count]) => round(count) !== 0).map(([key, count]) => [key, round(count)]));
  if (Object.keys(requests).length) stored.q = requests;
  for (const field of NUMBER_FIELDS) if (round(ledger[field]) !== 0) stored[SHORT[field]] = field === 'gbSeconds' ? Math.round(ledger[field] * 1e6) / 1e6 : round(ledger[field]);
  return JSON.stringify(stored);
}

/** Reads a stored ledger; anything that is not one (a record written before ledgers) reads as none. */
export function decodeLedger(text: string | undefined): CostLedger | undefined {
  if (!text) return undefined;
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return undefined;
  const values = stored as Record<string, unknown>;
  const ledger = emptyLedger();
  for (const field of NUMBER_FIELDS) {
    const value = values[SHORT[field]];
    if (typeof value === 'number' && Number.isFinite(value)) ledger[field] = value;
  }
  if (typeof values.q === 'object' && values.q !== null) {
    for (const [key, count] of Object.entries(values.q as Record<string, unknown>)) if (typeof count === 'number' && Number.isFinite(count)) ledger.requests[key] = count;
  }
  return ledger;
}
