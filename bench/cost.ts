/**
 * What a step costs on AWS, per million steps: an inline step (the activity runs inside the orchestrator's
 * invocation) and a queued step (it runs from the activity queue), measured on the embedded local stack
 * (`cost-meter.ts`), beside Step Functions Standard and Lambda durable functions at list prices.
 * Run: npx tsx bench/cost.ts [steps]   (default 200 sequential steps of each kind, after a short warm-up)
 */
import { availableParallelism, loadavg } from 'node:os';
import { costOf, measureSteps, PRICES, type Measurement, type StepCost, type StepKind } from './cost-meter.js';
import { summarize } from './summary.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** The targets of issue 12, per step of a sequential orchestration with small payloads. */
const TARGETS: Record<StepKind, { hops: number; requests: number; wru: number; dollars: number }> = {
  inline: { hops: 0, requests: 1.1, wru: 1.2, dollars: 1.0 },
  queued: { hops: 2, requests: 6, wru: 2, dollars: 4.0 },
};

const steps = Number(process.argv[2] ?? 200);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const money = (n: number) => `$${n.toFixed(2)}`;

const measured: [Measurement, StepCost][] = [];
for (const kind of ['inline', 'queued'] as const) {
  const m = await measureSteps(steps, kind);
  measured.push([m, costOf(m)]);
}

console.log(`\nCost per million steps on AWS (us-east-1 list prices, 2026-11), measured on the embedded local stack`);
console.log(`${steps} sequential activity steps of each kind (after a 3-step warm-up), Node ${process.version}, ${availableParallelism()} CPUs, load average ${loadavg()[0]!.toFixed(1)}`);
for (const [m, cost] of measured) {
  const per = (n: number) => n / m.steps;
  console.log(`\n${m.kind} steps (${m.seconds.toFixed(1)} s, ${cost.msPerStep.toFixed(1)} ms a step):`);
  for (const [key, count] of [...m.requests].sort(([a], [b]) => a.localeCompare(b))) {
    const latency = m.latency.get(key);
    console.log(`  ${key.padEnd(30)} ${per(count).toFixed(2)}${latency ? `   (median ${median(latency).toFixed(1)} ms a request on the local emulators)` : ''}`);
  }
  console.log(`  ${'AWS requests'.padEnd(30)} ${cost.requests.toFixed(2)} a step (${cost.billableRequests.toFixed(2)} with the event source mappings' receives)`);
  const largest = m.capacity.largest;
  console.log(`  ${'largest items'.padEnd(30)} META ${largest.meta} B, history chunk ${largest.history} B, inbox message ${largest.inbox} B`);
  for (const [name, times] of m.lambda) {
    if (times.length > 0) console.log(`  ${`Lambda ${name}`.padEnd(30)} ${per(times.length).toFixed(2)} invocations, handler time median ${median(times).toFixed(1)} ms, mean ${mean(times).toFixed(1)} ms`);
  }
  console.log('\n  service                       per step                                          $ per million steps');
  for (const [service, usage, dollars] of cost.lines) console.log(`  ${service.padEnd(28)}  ${usage.padEnd(48)}  ${money(dollars).padStart(19)}`);
  console.log(`  ${'total'.padEnd(28)}  ${`(arm64, as the construct deploys: ${money(cost.totalArm64)})`.padEnd(48)}  ${money(cost.total).padStart(19)}`);
}

// The anchors. Step Functions: one transition per activity step, plus the start and the end of the run,
// and the Lambda function each Task state invokes for the activity (its own code only: 1 billed ms).
const transitionsPerStep = 1 + 2 / steps;
const stepFunctions = transitionsPerStep * PRICES.stepFunctionsPerMillionTransitions + PRICES.lambdaPerMillionRequests + (1 / 1000) * PRICES.lambdaMemoryGb * PRICES.lambdaPerGbSecondX86 * 1e6;
// Lambda durable functions: one checkpointed operation per step; the sequence runs in one invocation,
// billed for the user code plus one synchronous checkpoint per step: taken to be the measured time of an
// inline step, the nearest thing measured here (29 ms median in the cloud, research/perf-cost-anchors.md).
const inline = measured.find(([m]) => m.kind === 'inline')![1];
const durable = PRICES.durableFunctionsPerMillionOperations + PRICES.lambdaPerMillionRequests / steps + (inline.msPerStep / 1000) * PRICES.lambdaMemoryGb * PRICES.lambdaPerGbSecondX86 * 1e6;

console.log('\nPer step, against the targets:');
console.log('| step kind | queue hops | requests / step | DynamoDB WRU / step | $ per million steps | ms per step (local stack) |');
console.log('|---|---|---|---|---|---|');
/** Per-step counts carry the instance's start and end spread over the steps: compared to a tenth. */
const within = (value: number, limit: number) => Number(value.toFixed(1)) <= limit;
const verdict = (value: number, limit: number) => (within(value, limit) ? '' : ' (over)');
for (const [m, cost] of measured) {
  const target = TARGETS[m.kind];
  console.log(
    `| ${m.kind} | ${cost.queueHops.toFixed(2)} (≤ ${target.hops})${verdict(cost.queueHops, target.hops)} | ${cost.requests.toFixed(2)} (≤ ${target.requests})${verdict(cost.requests, target.requests)} | ${cost.wru.toFixed(2)} (≤ ${target.wru})${verdict(cost.wru, target.wru)} | ${money(cost.total)} (≤ ${money(target.dollars)})${verdict(cost.total, target.dollars)} | ${cost.msPerStep.toFixed(1)} |`,
  );
}
const queued = measured.find(([m]) => m.kind === 'queued')![1];
console.log(`| Step Functions Standard (+ the activity's Lambda) | | | | ${money(stepFunctions)} | |`);
console.log(`| Lambda durable functions (+ its Lambda) | 0 | 1 checkpoint | | ${money(durable)} | |`);
console.log(`\nAn inline step takes ${(inline.msPerStep / queued.msPerStep).toFixed(2)} of a queued step's time here (target ≤ 0.25).`);

const rows = measured.flatMap(([m, cost]) => {
  const target = TARGETS[m.kind];
  const met = within(cost.queueHops, target.hops) && within(cost.requests, target.requests) && within(cost.wru, target.wru) && cost.total <= target.dollars;
  return [
    { area: 'cost', metric: `${m.kind} step: requests, WRU, queue hops per step`, result: `${cost.requests.toFixed(2)} requests, ${cost.wru.toFixed(2)} WRU, ${cost.queueHops.toFixed(2)} hops`, target: `≤ ${target.requests}, ≤ ${target.wru}, ≤ ${target.hops}`, met },
    { area: 'cost', metric: `${m.kind} step: per million steps (x86; arm64 ${money(cost.totalArm64)})`, result: money(cost.total), target: `≤ ${money(target.dollars)}`, met: cost.total <= target.dollars },
  ];
});
summarize(
  ...rows,
  { area: 'cost', metric: 'time of an inline step / a queued step (local stack)', result: `${inline.msPerStep.toFixed(1)} / ${queued.msPerStep.toFixed(1)} ms = ${(inline.msPerStep / queued.msPerStep).toFixed(2)}`, target: '≤ 0.25', met: inline.msPerStep / queued.msPerStep <= 0.25 },
  { area: 'cost', metric: 'per million: Step Functions Standard (+ activity Lambda)', result: `${money(stepFunctions)} (${(stepFunctions / queued.total).toFixed(1)}× a queued step, ${(stepFunctions / inline.total).toFixed(0)}× an inline one)` },
  { area: 'cost', metric: 'per million: Lambda durable functions (+ its Lambda)', result: `${money(durable)} (${(durable / queued.total).toFixed(1)}× a queued step, ${(durable / inline.total).toFixed(0)}× an inline one)` },
);

console.log(`
Assumptions:
- Prices (us-east-1, 2026-11): DynamoDB on-demand $${PRICES.dynamoDbPerMillionWru}/M WRU, $${PRICES.dynamoDbPerMillionRru}/M RRU; SQS $${PRICES.sqsStandardPerMillion.toFixed(2)}/M standard,
  $${PRICES.sqsFifoPerMillion.toFixed(2)}/M FIFO requests; S3 $${PRICES.s3PutPerThousand}/1k PUT, $${PRICES.s3GetPerThousand}/1k GET; Lambda $${PRICES.lambdaPerMillionRequests.toFixed(2)}/M requests,
  $${PRICES.lambdaPerGbSecondX86}/GB-s x86 at ${PRICES.lambdaMemoryGb * 1024} MB; Step Functions Standard $${PRICES.stepFunctionsPerMillionTransitions}/M transitions; durable functions $${PRICES.durableFunctionsPerMillionOperations.toFixed(2)}/M operations.
- One step = one activity of a sequential orchestration of ${steps} (the start and the end are spread over the ${steps} steps).
  Payloads are tiny (a number), so S3 is never used and every item fits in 1 KB; large payloads cost more (bench/payloads.ts).
- DynamoDB units are estimated from the items' sizes with DynamoDB's rules (bench/dynamodb-units.ts): 2 WRU per started KB
  for every action of a TransactWriteItems, 1 per KB for single writes, the byStatus index only when the status changes.
- Requests: every AWS request the runtime makes, and the event source mappings' DeleteMessageBatch; their ReceiveMessage calls
  are billed (counted in $) but left out of "requests / step", as before. Queue hops: messages sent to be received by another invocation.
- Lambda: one invocation per SQS batch; duration = the handler's time on the local stack, rounded up to the ms, warm. The
  emulators answer slower than DynamoDB and SQS do in-region (a PutItem here takes ~9 ms), so this overstates the duration.`);
