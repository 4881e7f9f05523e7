import type { CostLedger } from './cost-ledger.js';
import { ValidationError } from './errors.js';

/**
 * What the ledger's counts cost, in US dollars. Override any of them with `createApp({ prices })` or `perdure cost --prices file.json`.
 * @example createApp({ prices: { lambdaArchitecture: 'x86_64' } });
 */
export interface CostPrices {
  /** DynamoDB on-demand, per million write request units. */
  dynamoDbPerMillionWru: number;
  /** DynamoDB on-demand, per million read request units. */
  dynamoDbPerMillionRru: number;
  /** SQS standard queues (activities, timers), per million requests. */
  sqsStandardPerMillion: number;
  /** SQS FIFO queues (the orchestrator's doorbells), per million requests. */
  sqsFifoPerMillion: number;
  /** S3 Standard, per 1,000 PUT, COPY, POST and LIST requests (DeleteObjects too). */
  s3PutPerThousand: number;
  /** S3 Standard, per 1,000 GET requests. */
  s3GetPerThousand: number;
  /** Lambda, per million requests (invocations). */
  lambdaPerMillionRequests: number;
  /** Lambda on arm64 (the construct's architecture), per GB-second. */
  lambdaPerGbSecondArm64: number;
  /** Lambda on x86, per GB-second. */
  lambdaPerGbSecondX86: number;
  /** Which of the two GB-second prices applies. */
  lambdaArchitecture: 'arm64' | 'x86_64';
}

/**
 * AWS list prices, us-east-1, as published on the AWS pricing pages in 2026-11
 * (aws.amazon.com/dynamodb/pricing/on-demand, /sqs/pricing, /s3/pricing, /lambda/pricing). The cost bench
 * (`bench/cost-meter.ts`) prices its measurements with the same table.
 * @example const app = createApp({ prices: { ...DEFAULT_PRICES, lambdaArchitecture: 'x86_64' } });
 */
export const DEFAULT_PRICES: Readonly<CostPrices> = Object.freeze({
  dynamoDbPerMillionWru: 0.625,
  dynamoDbPerMillionRru: 0.125,
  sqsStandardPerMillion: 0.4,
  sqsFifoPerMillion: 0.5,
  s3PutPerThousand: 0.005,
  s3GetPerThousand: 0.0004,
  lambdaPerMillionRequests: 0.2,
  lambdaPerGbSecondArm64: 0.0000133334,
  lambdaPerGbSecondX86: 0.0000166667,
  lambdaArchitecture: 'arm64',
});

/**
 * One line of a priced ledger.
 * @example for (const line of cost.lines) console.log(line.item, line.usage, line.usd);
 */
export interface CostLine {
  /** `DynamoDB writes`, `DynamoDB reads`, `SQS FIFO`, `SQS standard`, `S3 requests`, `Lambda requests`, `Lambda duration`. */
  item: string;
  /** What was used, in words: `12 WRU`, `8 requests`, `1.42 GB-s`. */
  usage: string;
  usd: number;
}

/**
 * A ledger with its price: what `getStatus(id, { cost: true })` returns as `cost`.
 * @example const { totalUsd } = (await client.getStatus(id, { cost: true })).cost!;
 */
export interface PricedCost {
  ledger: CostLedger;
  lines: CostLine[];
  /** The sum of the lines, US dollars. */
  totalUsd: number;
  /** The prices applied. */
  prices: CostPrices;
}

/** S3 operations billed at the PUT price (the runtime's writes and deletes of payloads); every other S3 request at the GET price. */
const S3_PUT_CLASS = new Set(['PutObject', 'CopyObject', 'PostObject', 'ListObjects', 'ListObjectsV2', 'DeleteObjects']);

const count = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

/**
 * Prices a ledger line by line. DynamoDB is priced by request units, not requests; S3 bytes (storage) are not priced.
 * @example const { totalUsd, lines } = priceLedger(status.cost!.ledger, { ...DEFAULT_PRICES, lambdaArchitecture: 'x86_64' });
 */
export function priceLedger(ledger: CostLedger, prices: CostPrices = DEFAULT_PRICES): PricedCost {
  const sum = (filter: (service: string, operation: string) => boolean) =>
    Object.entries(ledger.requests).reduce((total, [key, n]) => {
      const [service = '', operation = ''] = key.split('.');
      return filter(service, operation) ? total + n : total;
    }, 0);
  const fifo = sum((service) => service === 'SQS-FIFO');
  const standard = sum((service) => service === 'SQS');
  const s3Put = sum((service, operation) => service === 'S3' && S3_PUT_CLASS.has(operation));
  const s3Get = sum((service, operation) => service === 'S3' && !S3_PUT_CLASS.has(operation));
  const perGbSecond = prices.lambdaArchitecture === 'x86_64' ? prices.lambdaPerGbSecondX86 : prices.lambdaPerGbSecondArm64;
  const lines: CostLine[] = [
    { item: 'DynamoDB writes', usage: `${count(ledger.wru)} WRU`, usd: (ledger.wru * prices.dynamoDbPerMillionWru) / 1e6 },
    { item: 'DynamoDB reads', usage: `${count(ledger.rru)} RRU`, usd: (ledger.rru * prices.dynamoDbPerMillionRru) / 1e6 },
    { item: 'SQS FIFO', usage: `${count(fifo)} requests`, usd: (fifo * prices.sqsFifoPerMillion) / 1e6 },
    { item: 'SQS standard', usage: `${count(standard)} requests`, usd: (standard * prices.sqsStandardPerMillion) / 1e6 },
    { item: 'S3 requests', usage: `${count(s3Put)} PUT, ${count(s3Get)} GET`, usd: (s3Put * prices.s3PutPerThousand + s3Get * prices.s3GetPerThousand) / 1e3 },
    { item: 'Lambda requests', usage: `${count(ledger.invocations)} invocations`, usd: (ledger.invocations * prices.lambdaPerMillionRequests) / 1e6 },
    { item: 'Lambda duration', usage: `${ledger.gbSeconds.toFixed(3)} GB-s (${Math.round(ledger.lambdaMs)} ms, ${prices.lambdaArchitecture})`, usd: ledger.gbSeconds * perGbSecond },
  ];
  return { ledger, lines, totalUsd: lines.reduce((total, line) => total + line.usd, 0), prices };
}

/**
 * The default prices with `overrides` applied, checked: each key one of {@link CostPrices}, each price a
 * number of dollars 0 or more. Throws a `ValidationError` that names the key.
 * @example const prices = resolvePrices(JSON.parse(readFileSync('prices.json', 'utf8')));
 */
export function resolvePrices(overrides: unknown, source = 'prices'): CostPrices {
  if (overrides === undefined) return { ...DEFAULT_PRICES };
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) throw new ValidationError(`${source} must be an object of prices, such as {"lambdaPerGbSecondArm64": 0.0000133334}.`);
  const resolved: CostPrices = { ...DEFAULT_PRICES };
  for (const [key, value] of Object.entries(overrides as Record<string, unknown>)) {
    if (!(key in DEFAULT_PRICES)) throw new ValidationError(`${source} has an unknown price '${key}'; the prices are ${Object.keys(DEFAULT_PRICES).join(', ')}.`);
    if (key === 'lambdaArchitecture') {
      if (value !== 'arm64' && value !== 'x86_64') throw new ValidationError(`${source}.lambdaArchitecture must be 'arm64' or 'x86_64', got ${JSON.stringify(value)}.`);
      resolved.lambdaArchitecture = value;
    } else {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ValidationError(`${source}.${key} must be a price in US dollars (a number, 0 or more), got ${JSON.stringify(value)}.`);
      (resolved as unknown as Record<string, number>)[key] = value;
    }
  }
  return resolved;
}
