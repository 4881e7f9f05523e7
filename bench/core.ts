/**
 * In-memory benchmarks of the core: framework overhead per step, and replay cost as history grows.
 * Run: npx tsx bench/core.ts   (medians of several runs; no AWS involved)
 */
import { createApp, silentLogger, TestEnvironment, type HistoryEvent } from '../lib/index.js';
import { numberEvents } from '../lib/core/history-events.js';
import { OrchestrationExecutor } from '../lib/core/replay.js';
import { summarize } from './summary.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const app = createApp({ logger: silentLogger, maxHistoryEvents: 1_000_000 });
app.activity('noop', async (n: number) => n);
app.orchestration('sequential', async (ctx, n: number) => {
  for (let i = 0; i < n; i++) await ctx.callActivity('noop', i);
});
app.orchestration('fanOut', async (ctx, n: number) => {
  await Promise.all(Array.from({ length: n }, (_, i) => ctx.callActivity('noop', i)));
});
app.orchestration('map', async (ctx, n: number) => {
  await ctx.map(
    Array.from({ length: n }, (_, i) => i),
    (i) => ctx.callActivity('noop', i),
    { concurrency: 10 },
  );
});
app.orchestration('endless', async (ctx) => {
  for (let i = 0; ; i++) await ctx.callActivity('noop', i);
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function overhead(name: string, n: number): Promise<{ wallMs: number; cpuMs: number; peakRssMb: number }> {
  const walls: number[] = [];
  const cpus: number[] = [];
  let peak = 0;
  for (let run = 0; run < RUNS; run++) {
    const env = await TestEnvironment.create(app);
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const cpu = process.cpuUsage();
    const began = performance.now();
    await env.client.waitForCompletion(await env.client.start(name, n), { timeout: '120s' });
    walls.push(performance.now() - began);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / 1000);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    await env.close();
  }
  return { wallMs: median(walls), cpuMs: median(cpus), peakRssMb: peak / 1024 / 1024 };
}

/** A history of about `events` events of the endless orchestration, stopped mid-way. */
async function historyOf(events: number): Promise<{ instanceId: string; history: HistoryEvent[] }> {
  const env = await TestEnvironment.create(app);
  const instanceId = await env.client.start('endless', null, { instanceId: `replay-${events}` });
  let history: HistoryEvent[] = [];
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    history = await env.client.getHistory(instanceId);
    if (history.length >= events) break;
  }
  await env.client.terminate(instanceId);
  await env.close();
  // Cut at the end of a step so the history is one a worker could hold.
  let end = history.length;
  while (end > 0 && history[end - 1]!.type !== 'ActivityScheduled') end--;
  return { instanceId, history: history.slice(0, end) };
}

async function replayCost(events: number): Promise<{ events: number; coldMs: number; warmMs: number }> {
  const { instanceId, history } = await historyOf(events);
  const last = history.at(-1) as Extract<HistoryEvent, { type: 'ActivityScheduled' }>;
  const next = numberEvents([{ type: 'StepStarted' }, { type: 'ActivityCompleted', taskId: last.taskId, result: 0 }], last.eventId, last.timestamp + 1);
  const cold: number[] = [];
  const warm: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const executor = new OrchestrationExecutor({ instanceId, generation: 0, app });
    const began = process.cpuUsage();
    await executor.replay(history);
    const replayed = process.cpuUsage(began);
    const stepBegan = process.cpuUsage();
    await executor.advance(next);
    executor.takeDecisions();
    const step = process.cpuUsage(stepBegan);
    cold.push((replayed.user + replayed.system + step.user + step.system) / 1000);
    warm.push((step.user + step.system) / 1000);
  }
  return { events: history.length, coldMs: median(cold), warmMs: median(warm) };
}

console.log(`Perdure core benchmarks (in memory), Node ${process.version}, medians of ${RUNS} runs\n`);
console.log('workflow                           wall ms   CPU ms   per step µs   peak RSS MB');
for (const [label, name, n] of [
  ['1,000 sequential activities', 'sequential', 1_000],
  ['1,000-way fan-out (Promise.all)', 'fanOut', 1_000],
  ['ctx.map over 1,000, concurrency 10', 'map', 1_000],
] as const) {
  const result = await overhead(name, n);
  summarize({ area: 'in memory', metric: `${label}: per step`, result: `${((result.wallMs * 1000) / n).toFixed(0)} µs (${result.wallMs.toFixed(0)} ms, peak RSS ${result.peakRssMb.toFixed(0)} MB)` });
  console.log(
    `${label.padEnd(34)} ${result.wallMs.toFixed(0).padStart(7)}  ${result.cpuMs.toFixed(0).padStart(7)}  ${((result.wallMs * 1000) / n).toFixed(0).padStart(12)}  ${result.peakRssMb.toFixed(0).padStart(12)}`,
  );
}
console.log('\nreplay cost of the next step        events   cold (full replay) CPU ms   warm (cached executor) CPU ms');
for (const size of [100, 1_000, 10_000]) {
  const result = await replayCost(size);
  summarize(
    { area: 'replay', metric: `next step, ${result.events} events, cold (full replay)`, result: `${result.coldMs.toFixed(2)} ms CPU`, ...(size === 10_000 ? { target: '< 100 ms', met: result.coldMs < 100 } : {}) },
    { area: 'replay', metric: `next step, ${result.events} events, warm`, result: `${result.warmMs.toFixed(3)} ms CPU`, ...(size === 10_000 ? { target: 'flat', met: result.warmMs < 1 } : {}) },
  );
  console.log(`${''.padEnd(35)} ${String(result.events).padStart(6)}   ${result.coldMs.toFixed(2).padStart(24)}   ${result.warmMs.toFixed(3).padStart(28)}`);
}
