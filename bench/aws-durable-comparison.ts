/**
 * The same three workflows on AWS's durable execution SDK (its local test runner, time skipped) and on
 * Perdure's in-memory test environment, in one process: wall time, CPU and peak RSS, and the ratios.
 * Run: npx tsx bench/aws-durable-comparison.ts [items]   (default 1000; the AWS runner takes ~20 s a run)
 */
import { withDurableExecution, type DurableContext } from '@aws/durable-execution-sdk-js';
import { LocalDurableTestRunner } from '@aws/durable-execution-sdk-js-testing';
import { createApp, silentLogger, TestEnvironment } from '../lib/index.js';
import { summarize } from './summary.js';

const N = Number(process.argv[2] ?? 1_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

type Workflow = 'sequential' | 'fanOut' | 'map';
interface Measure {
  wallMs: number;
  cpuMs: number;
  peakRssMb: number;
}

const awsHandlers: Record<Workflow, ReturnType<typeof withDurableExecution>> = {
  sequential: withDurableExecution(async (_event: unknown, context: DurableContext) => {
    let sum = 0;
    for (let i = 0; i < N; i++) sum += await context.step(`step-${i}`, async () => i);
    return sum;
  }),
  fanOut: withDurableExecution(async (_event: unknown, context: DurableContext) => {
    const results = await Promise.all(Array.from({ length: N }, (_, i) => context.step(`step-${i}`, async () => i)));
    return results.length;
  }),
  map: withDurableExecution(async (_event: unknown, context: DurableContext) => {
    const items = Array.from({ length: N }, (_, i) => i);
    const result = await context.map(items, async (child, item) => child.step(async () => item), { maxConcurrency: 10 });
    return result.getResults().length;
  }),
};

const app = createApp({ logger: silentLogger, maxHistoryEvents: 1_000_000 });
app.activity('step', async (i: number) => i);
app.orchestration('sequential', async (ctx) => {
  let sum = 0;
  for (let i = 0; i < N; i++) sum += await ctx.callActivity<number>('step', i);
  return sum;
});
app.orchestration('fanOut', async (ctx) => (await Promise.all(Array.from({ length: N }, (_, i) => ctx.callActivity('step', i)))).length);
app.orchestration('map', async (ctx) => (await ctx.map(Array.from({ length: N }, (_, i) => i), (i) => ctx.callActivity('step', i), { concurrency: 10 })).length);

async function measure(run: () => Promise<void>): Promise<Measure> {
  const walls: number[] = [];
  const cpus: number[] = [];
  let peak = 0;
  for (let i = 0; i < RUNS; i++) {
    global.gc?.();
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const cpu = process.cpuUsage();
    const began = performance.now();
    await run();
    walls.push(performance.now() - began);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / 1000);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return { wallMs: median(walls), cpuMs: median(cpus), peakRssMb: peak / 1024 / 1024 };
}

async function runPerdure(workflow: Workflow): Promise<void> {
  const env = await TestEnvironment.create(app);
  const status = await env.client.waitForCompletion(await env.client.start(workflow), { timeout: '300s' });
  await env.close();
  if (status.status !== 'Completed') throw new Error(`${workflow}: ${status.status}`);
}

async function runAws(workflow: Workflow): Promise<void> {
  const runner = new LocalDurableTestRunner({ handlerFunction: awsHandlers[workflow] });
  const execution = await runner.run();
  if (execution.getStatus() !== 'SUCCEEDED') throw new Error(`${workflow}: ${execution.getStatus()} ${JSON.stringify(execution.getError())}`);
}

console.log(`Perdure vs AWS durable execution SDK (local runner), ${N} items, Node ${process.version}, medians of ${RUNS} runs\n`);
console.log('workflow      runtime   wall ms   per step µs   CPU ms   peak RSS MB   time ratio (AWS/Perdure)');
// Perdure first, so its peak RSS is not the AWS runner's high-water mark.
const results: [Workflow, Measure, Measure][] = [];
for (const workflow of ['sequential', 'fanOut', 'map'] as const) results.push([workflow, await measure(() => runPerdure(workflow)), undefined as never]);
// The AWS runner's time skipping installs fake timers (setImmediate included) process-wide: set it up only
// after Perdure's runs, which schedule their work with setImmediate.
await LocalDurableTestRunner.setupTestEnvironment({ skipTime: true });
for (const result of results) result[2] = await measure(() => runAws(result[0]));
for (const [workflow, ours, theirs] of results) {
  const row = (runtime: string, m: Measure, ratio = '') =>
    console.log(`${workflow.padEnd(13)} ${runtime.padEnd(8)} ${m.wallMs.toFixed(0).padStart(8)} ${((m.wallMs * 1000) / N).toFixed(0).padStart(13)} ${m.cpuMs.toFixed(0).padStart(8)} ${m.peakRssMb.toFixed(0).padStart(13)}   ${ratio}`);
  row('Perdure', ours);
  row('AWS SDK', theirs, `${(theirs.wallMs / ours.wallMs).toFixed(1)}×`);
  const ratio = theirs.wallMs / ours.wallMs;
  summarize({
    area: 'vs AWS durable SDK',
    metric: `${workflow} × ${N}: time per step, Perdure vs AWS (peak RSS)`,
    result: `${((ours.wallMs * 1000) / N).toFixed(0)} µs vs ${((theirs.wallMs * 1000) / N).toFixed(0)} µs: ${ratio.toFixed(1)}× (${ours.peakRssMb.toFixed(0)} vs ${theirs.peakRssMb.toFixed(0)} MB)`,
    target: '≥ 5× faster, less memory',
    met: ratio >= 5 && ours.peakRssMb <= theirs.peakRssMb,
  });
}
await LocalDurableTestRunner.teardownTestEnvironment();
