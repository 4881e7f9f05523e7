/**
 * Large payloads on the embedded local stack: 256 KB, 1 MB and 10 MB of realistic JSON (and 1 MB of
 * random, barely compressible data) as an orchestration's input, an activity's input and result, and the
 * orchestration's output. Measures the payload codec alone (encode, and decode with a cold cache, against
 * the stack's S3) and a whole run end to end, then what the run left in DynamoDB (item sizes counted the
 * way DynamoDB counts them) and in S3. Medians of BENCH_RUNS runs (default 3).
 * Run: npx tsx bench/payloads.ts
 */
import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { S3BlobStore } from '../lib/aws/s3-blob-store.js';
import { createApp, silentLogger } from '../lib/index.js';
import { startLocalStack } from '../lib/local/local-stack.js';
import { PayloadCodec, type StoredPayload } from '../lib/runtime/payload-codec.js';
import { itemBytes, meterCapacity } from './dynamodb-units.js';
import { RequestCounter } from './request-counter.js';
import { summarize } from './summary.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const KiB = 1024;
const MiB = 1024 * KiB;
/** The item size this bench holds the runtime to (DynamoDB's hard limit is 400 KB). */
const ITEM_TARGET_BYTES = 64 * KiB;
const ITEM_LIMIT_BYTES = 400 * KiB;

// ---------------------------------------------------------------------------------------------------
// Payloads: an array of order-like records, deterministic (seeded), so gzip sees realistic redundancy.

interface Payload {
  key: string;
  records: Record<string, unknown>[];
}

/** mulberry32: a small seeded PRNG, so every run sees the same bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Dennis', 'Frances', 'John', 'Radia', 'Tim', 'Leslie', 'Sophie', 'Linus', 'Katherine', 'Niklaus', 'Hedy', 'Guido'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Thompson', 'Ritchie', 'Allen', 'McCarthy', 'Perlman', 'Berners-Lee', 'Lamport', 'Wilson', 'Torvalds', 'Johnson', 'Wirth', 'Lamarr', 'van Rossum'];
const CITIES = ['Lisbon', 'Berlin', 'Nairobi', 'Osaka', 'Toronto', 'Lima', 'Oslo', 'Austin', 'Mumbai', 'Sydney', 'Seoul', 'Cairo', 'Dublin', 'Quito', 'Hanoi'];
const STATUSES = ['pending', 'paid', 'packed', 'shipped', 'delivered', 'returned', 'cancelled'];
const WORDS = (
  'the order was placed by a returning customer who asked for gift wrapping and express delivery to the office ' +
  'address please leave the parcel at reception if nobody answers the door invoice should show the company vat ' +
  'number item arrived damaged replacement requested refund issued partially after inspection warehouse notes ' +
  'fragile handle with care keep upright signature required on delivery weekend slot preferred contact by email'
).split(' ');

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)]!;
}

function hex(rnd: () => number, length: number): string {
  let out = '';
  while (out.length < length) out += Math.floor(rnd() * 0x100000000).toString(16).padStart(8, '0');
  return out.slice(0, length);
}

function orderRecord(rnd: () => number, i: number): Record<string, unknown> {
  const first = pick(rnd, FIRST);
  const last = pick(rnd, LAST);
  const lines = 1 + Math.floor(rnd() * 3);
  return {
    id: `ord-${String(i).padStart(8, '0')}`,
    customerId: hex(rnd, 24),
    name: `${first} ${last}`,
    email: `${first}.${last}@example.com`.toLowerCase().replace(/ /g, ''),
    city: pick(rnd, CITIES),
    status: pick(rnd, STATUSES),
    amount: Math.round(rnd() * 100_000) / 100,
    currency: rnd() < 0.7 ? 'EUR' : 'USD',
    createdAt: new Date(1_750_000_000_000 + Math.floor(rnd() * 31_536_000_000)).toISOString(),
    lines: Array.from({ length: lines }, () => ({ sku: `SKU-${hex(rnd, 6).toUpperCase()}`, quantity: 1 + Math.floor(rnd() * 9), unitPrice: Math.round(rnd() * 50_000) / 100 })),
    note: Array.from({ length: 4 + Math.floor(rnd() * 14) }, () => pick(rnd, WORDS)).join(' '),
  };
}

function randomRecord(rnd: () => number, i: number): Record<string, unknown> {
  const bytes = Buffer.alloc(768);
  for (let j = 0; j < bytes.length; j += 4) bytes.writeUInt32LE(Math.floor(rnd() * 0x100000000), j);
  return { id: `blob-${String(i).padStart(8, '0')}`, data: bytes.toString('base64') };
}

/** A payload whose JSON is `bytes` long, give or take a few bytes (records are filled up to it). */
function makePayload(key: string, bytes: number, seed: number, kind: 'orders' | 'random'): Payload {
  const rnd = prng(seed);
  const records: Record<string, unknown>[] = [];
  let size = JSON.stringify({ key, records: [] }).length;
  for (let i = 0; size < bytes; i++) {
    const record = kind === 'orders' ? orderRecord(rnd, i) : randomRecord(rnd, i);
    size += JSON.stringify(record).length + (records.length > 0 ? 1 : 0);
    records.push(record);
  }
  return { key, records };
}

interface Variant {
  label: string;
  bytes: number;
  kind: 'orders' | 'random';
}

const ALL_VARIANTS: Variant[] = [
  // Not one of the three sizes: one that gzips under the 16 KiB inline limit (stays in DynamoDB, compressed),
  // and one that would have under the former 64 KiB limit.
  { label: '48 KB', bytes: 48 * KiB, kind: 'orders' },
  { label: '200 KB', bytes: 200 * KiB, kind: 'orders' },
  { label: '256 KB', bytes: 256 * KiB, kind: 'orders' },
  { label: '1 MB', bytes: MiB, kind: 'orders' },
  { label: '1 MB random', bytes: MiB, kind: 'random' },
  { label: '10 MB', bytes: 10 * MiB, kind: 'orders' },
];
/** `npx tsx bench/payloads.ts '10 MB'` runs only the payloads named. */
const VARIANTS = process.argv.length > 2 ? ALL_VARIANTS.filter((v) => process.argv.slice(2).includes(v.label)) : ALL_VARIANTS;

// ---------------------------------------------------------------------------------------------------
// The app: input → activity (its input is the input's records reversed; it returns a precomputed payload
// of the same size) → output (the result's records reversed). Four distinct payloads of the same size,
// so content addressing in S3 does not merge them.

const inputs = new Map<string, Payload>();
const results = new Map<string, Payload>();
for (const variant of VARIANTS) {
  const index = ALL_VARIANTS.indexOf(variant);
  inputs.set(variant.label, makePayload(variant.label, variant.bytes, 1 + index * 2, variant.kind));
  results.set(variant.label, makePayload(variant.label, variant.bytes, 2 + index * 2, variant.kind));
}

const app = createApp({ logger: silentLogger });
app.activity('transform', async (input: Payload) => {
  const result = results.get(input.key);
  if (!result || input.records.length !== inputs.get(input.key)!.records.length) throw new Error(`unexpected activity input for ${input.key}`);
  return result;
});
app.orchestration('payloads', async (ctx, input: Payload) => {
  const result = await ctx.callActivity<Payload>('transform', { key: input.key, records: [...input.records].reverse() });
  return { key: result.key, records: [...result.records].reverse() };
});

// ---------------------------------------------------------------------------------------------------
// Measuring.

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function formatBytes(bytes: number): string {
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(2)} MiB`;
  if (bytes >= KiB) return `${(bytes / KiB).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** What the codec keeps: the JSON inline, the base64 of the gzip inline, or the gzip as an S3 object. */
function storedBytes(stored: StoredPayload, gzipBytes: number): number {
  if ('j' in stored) return Buffer.byteLength(stored.j);
  if ('z' in stored) return stored.z.length;
  return gzipBytes;
}

interface CodecRun {
  encodeMs: number;
  decodeMs: number;
  form: string;
  stored: number;
  /** Breakdown of the same work, step by step. */
  stringifyMs: number;
  gzipMs: number;
  shaMs: number;
  putMs: number;
  getMs: number;
  gunzipMs: number;
  parseMs: number;
  gzipBytes: number;
}

interface E2eRun {
  ms: number;
  largestItem: number;
  largestItemSk: string;
  metaItem: number;
  totalItems: number;
  items: number;
  s3Bytes: number;
  s3Objects: number;
  s3Puts: number;
  s3Gets: number;
  wru: number;
}

const time = async <T>(fn: () => T | Promise<T>): Promise<[T, number]> => {
  const began = performance.now();
  const value = await fn();
  return [value, performance.now() - began];
};

const began = performance.now();
const stack = await startLocalStack(app, { logger: silentLogger });
const { dynamodb, s3 } = stack.runtime.clients;
const counter = new RequestCounter();
counter.attach('DynamoDB', dynamodb);
counter.attach('SQS', stack.runtime.clients.sqs);
counter.attach('S3', s3);
const blobs = new S3BlobStore(s3, stack.config.bucketName);
const writes = meterCapacity(dynamodb);
console.log(`local stack up in ${((performance.now() - began) / 1000).toFixed(1)} s; ${RUNS} runs per payload`);

async function codecRun(variant: Variant, run: number): Promise<CodecRun> {
  const value = inputs.get(variant.label)!;
  const instanceId = `codec-${variant.label.replace(/ /g, '-')}-${run}`;
  const [stored, encodeMs] = await time(() => new PayloadCodec(blobs).encode(value, instanceId));
  // A fresh codec: its cache is cold, as in another Lambda function.
  const [decoded, decodeMs] = await time(() => new PayloadCodec(blobs).decode(stored));
  if ((decoded as Payload).records.length !== value.records.length) throw new Error('codec round trip lost records');

  // The same work, one part at a time.
  const [json, stringifyMs] = await time(() => JSON.stringify(value));
  const [zipped, gzipMs] = await time(() => gzipSync(json));
  const [, shaMs] = await time(() => createHash('sha256').update(json).digest('hex'));
  const key = `payloads/${instanceId}-parts/blob`;
  const [, putMs] = await time(() => blobs.put(key, zipped));
  const [body, getMs] = await time(() => blobs.get(key));
  const [text, gunzipMs] = await time(() => gunzipSync(body).toString());
  const [, parseMs] = await time(() => JSON.parse(text) as unknown);
  const form = 'ref' in stored! ? 'S3 gzip' : 'z' in stored! ? 'inline gzip b64' : 'inline JSON';
  return { encodeMs, decodeMs, form, stored: storedBytes(stored!, zipped.length), stringifyMs, gzipMs, shaMs, putMs, getMs, gunzipMs, parseMs, gzipBytes: zipped.length };
}

async function e2eRun(variant: Variant, run: number): Promise<E2eRun> {
  const input = inputs.get(variant.label)!;
  const instanceId = `bench-${variant.label.replace(/ /g, '-')}-${run}`;
  counter.reset();
  writes.reset();
  const started = performance.now();
  await stack.runtime.client.start('payloads', input, { instanceId });
  for (;;) {
    const record = await stack.runtime.store.getInstance(instanceId);
    if (record?.status === 'Completed') break;
    if (record && ['Failed', 'Terminated', 'Quarantined'].includes(record.status)) throw new Error(`${instanceId}: ${record.status} ${JSON.stringify(record.error)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const ms = performance.now() - started;
  // The last commit's response may be handled after the record read that saw it: let it land before counting.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const s3Puts = counter.counts.get('S3.PutObject') ?? 0;
  const s3Gets = counter.counts.get('S3.GetObject') ?? 0;
  const wru = writes.wru.table;

  const status = await stack.runtime.client.getStatus(instanceId);
  const output = status.output as Payload;
  const expected = results.get(variant.label)!.records;
  if (output.records.length !== expected.length || (output.records[0] as { id: string }).id !== (expected.at(-1) as { id: string }).id) {
    throw new Error(`${instanceId}: wrong output`);
  }

  // Every item of the instance: scan the table (it holds only this bench's instances).
  const sizes: { sk: string; bytes: number }[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(
      new ScanCommand({ TableName: stack.config.tableName, FilterExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': { S: `I#${instanceId}` } }, ExclusiveStartKey: startKey }),
    );
    for (const item of page.Items ?? []) sizes.push({ sk: item.SK!.S!, bytes: itemBytes(item) });
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  const largest = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a), { sk: '-', bytes: 0 });

  let s3Bytes = 0;
  let s3Objects = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: stack.config.bucketName, Prefix: `payloads/${instanceId}/`, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      s3Bytes += object.Size ?? 0;
      s3Objects++;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);

  return {
    ms,
    largestItem: largest.bytes,
    largestItemSk: largest.sk.replace(/#.*$/, '#'),
    metaItem: sizes.find((s) => s.sk === 'META')?.bytes ?? 0,
    totalItems: sizes.reduce((sum, s) => sum + s.bytes, 0),
    items: sizes.length,
    s3Bytes,
    s3Objects,
    s3Puts,
    s3Gets,
    wru,
  };
}

interface Row {
  variant: Variant;
  jsonBytes: number;
  codec: CodecRun[];
  e2e: E2eRun[];
}

const rows: Row[] = [];
try {
  for (const variant of VARIANTS) {
    const row: Row = { variant, jsonBytes: Buffer.byteLength(JSON.stringify(inputs.get(variant.label))), codec: [], e2e: [] };
    for (let run = 0; run < RUNS; run++) row.codec.push(await codecRun(variant, run));
    for (let run = 0; run < RUNS; run++) row.e2e.push(await e2eRun(variant, run));
    rows.push(row);
  }
} finally {
  await stack.stop();
}

const m = (runs: object[], field: string) => median(runs.map((r) => (r as Record<string, number>)[field]!));
const table = (header: string[], body: string[][]) => {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) console.log(line(r));
};

console.log(`\nPayloads through the embedded local stack (DynamoDB Local + fauxqs S3/SQS), Node ${process.version}, medians of ${RUNS} runs`);
console.log(`(${availableParallelism()} CPUs, load average ${loadavg()[0]!.toFixed(1)} at the end: times grow with the machine's load)`);
console.log('Each run: the payload is the orchestration input, the activity input, the activity result and the output (4 distinct payloads of that size).\n');
table(
  ['payload', 'JSON', 'codec stores', 'encode ms', 'decode ms', 'end-to-end ms', 'DDB largest item', 'DDB META', 'DDB total (items)', 'S3 bytes (objects)', 'S3 PUT/GET', 'DDB WRU', `largest ≤ ${ITEM_TARGET_BYTES / KiB} KiB`],
  rows.map(({ variant, jsonBytes, codec, e2e }) => {
    const last = e2e.at(-1)!;
    const largest = Math.max(...e2e.map((r) => r.largestItem));
    return [
      variant.label,
      formatBytes(jsonBytes),
      `${codec[0]!.form} ${formatBytes(codec[0]!.stored)}`,
      m(codec, 'encodeMs').toFixed(1),
      m(codec, 'decodeMs').toFixed(1),
      m(e2e, 'ms').toFixed(0),
      `${formatBytes(largest)} (${last.largestItemSk})`,
      formatBytes(last.metaItem),
      `${formatBytes(last.totalItems)} (${last.items})`,
      `${formatBytes(last.s3Bytes)} (${last.s3Objects})`,
      `${last.s3Puts}/${last.s3Gets}`,
      String(last.wru),
      `${largest <= ITEM_TARGET_BYTES ? 'PASS' : 'FAIL'}${largest > ITEM_LIMIT_BYTES ? ' (over 400 KB!)' : ''}`,
    ];
  }),
);
for (const { variant, e2e } of rows) {
  const largest = Math.max(...e2e.map((r) => r.largestItem));
  summarize({
    area: 'payloads',
    metric: `${variant.label} input, activity input/result, output: end to end (largest DynamoDB item)`,
    result: `${m(e2e, 'ms').toFixed(0)} ms (${formatBytes(largest)})`,
    target: `item ≤ ${ITEM_TARGET_BYTES / KiB} KiB`,
    met: largest <= ITEM_TARGET_BYTES,
  });
}
console.log(`\nCodec parts (median ms; "stored" is gzip bytes, base64 adds a third when inline; S3 = fauxqs on loopback):\n`);
table(
  ['payload', 'gzip ratio', 'stringify', 'gzip', 'sha256', 'S3 put', 'S3 get', 'gunzip', 'parse'],
  rows.map(({ variant, jsonBytes, codec }) => [
    variant.label,
    `${(jsonBytes / codec[0]!.gzipBytes).toFixed(1)}×`,
    ...(['stringifyMs', 'gzipMs', 'shaMs', 'putMs', 'getMs', 'gunzipMs', 'parseMs'] as const).map((f) => m(codec, f).toFixed(1)),
  ]),
);
console.log(
  `\nDDB item bytes = attribute names + values as DynamoDB counts them (base table; the byStatus GSI keeps another copy of META).` +
    `\nDDB WRU = write request units one run consumes on the table (2 per started KB of each item in a transaction), without the index's.` +
    `\nS3 PUT/GET = requests during one run (the local stack shares one codec and its cache across all handlers; separate Lambda functions would GET more).` +
    `\nTotal ${((performance.now() - began) / 1000).toFixed(1)} s.`,
);
