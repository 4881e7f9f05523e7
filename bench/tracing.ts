/**
 * What tracing costs per step, in memory (no I/O, so the framework's own work is all there is to see):
 * tracing turned off (`createApp({ tracing: false })`), on with no OpenTelemetry SDK registered (the
 * default: the API's no-ops), and on with an SDK (a batch processor and an exporter that drops the spans).
 * Rounds alternate the modes, so that the machine's load weighs on each alike; medians of the rounds.
 * Each run starts after a full garbage collection, so that no mode pays for the spans of the one before.
 * Run: node --expose-gc --import tsx bench/tracing.ts [rounds] [workflow]   (default 7 rounds of each workflow)
 */
import { createApp, silentLogger, TestEnvironment } from '../lib/index.js';
import { exported, registerSdk } from './otel-sdk.js';
import { summarize } from './summary.js';

const ROUNDS = Number(process.argv[2] ?? 7);
const STEPS = 1_000;

type Mode = 'off' | 'no SDK' | 'SDK';

function appFor(mode: Mode) {
  const app = createApp({ logger: silentLogger, maxHistoryEvents: 1_000_000, tracing: mode !== 'off' });
  app.activity('noop', async (n: number) => n);
  app.activity('nearby', async (n: number) => n, { inline: true });
  app.orchestration('sequential', async (ctx, n: number) => {
    for (let i = 0; i < n; i++) await ctx.callActivity('noop', i);
  });
  app.orchestration('inline', async (ctx, n: number) => {
    for (let i = 0; i < n; i++) await ctx.callActivity('nearby', i);
  });
  app.orchestration('fanOut', async (ctx, n: number) => {
    await Promise.all(Array.from({ length: n }, (_, i) => ctx.callActivity('noop', i)));
  });
  return app;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const collect = (globalThis as { gc?: () => void }).gc;

async function run(mode: Mode, workflow: string): Promise<number> {
  collect?.();
  const sdk = mode === 'SDK' ? registerSdk() : undefined;
  try {
    const env = await TestEnvironment.create(appFor(mode));
    const cpu = process.cpuUsage();
    await env.client.waitForCompletion(await env.client.start(workflow, STEPS), { timeout: '120s' });
    await env.idle();
    const used = process.cpuUsage(cpu);
    await env.close();
    return (used.user + used.system) / STEPS;
  } finally {
    await sdk?.off();
  }
}

const workflows = (
  [
    ['sequential', '1,000 sequential queued activities'],
    ['inline', '1,000 sequential inline activities'],
    ['fanOut', '1,000-way fan-out'],
  ] as const
).filter(([workflow]) => !process.argv[3] || workflow === process.argv[3]);
const modes: Mode[] = ['off', 'no SDK', 'SDK'];
// A warm-up round of each, not counted: JIT compilation.
for (const [workflow] of workflows) for (const mode of modes) await run(mode, workflow);
exported.clear();

const results = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [workflow] of workflows) {
    for (const mode of round % 2 ? [...modes].reverse() : modes) {
      const key = `${workflow}|${mode}`;
      results.set(key, [...(results.get(key) ?? []), await run(mode, workflow)]);
    }
  }
}

console.log(`\nTracing's cost per step, in memory: CPU µs per step, medians of ${ROUNDS} alternating rounds, Node ${process.version}${collect ? '' : ' (run with --expose-gc for a collection before each run)'}\n`);
console.log(`${'workflow'.padEnd(38)} ${'tracing off'.padStart(12)} ${'on, no SDK'.padStart(12)} ${'on, SDK'.padStart(12)}`);
for (const [workflow, label] of workflows) {
  const [off, noSdk, sdk] = modes.map((mode) => median(results.get(`${workflow}|${mode}`)!));
  console.log(`${label.padEnd(38)} ${off!.toFixed(1).padStart(12)} ${noSdk!.toFixed(1).padStart(12)} ${sdk!.toFixed(1).padStart(12)}`);
  summarize({ area: 'tracing', metric: `${label}: CPU per step, off / on without SDK / with SDK`, result: `${off!.toFixed(0)} / ${noSdk!.toFixed(0)} / ${sdk!.toFixed(0)} µs` });
}
console.log(`\nSpans exported with the SDK: ${[...exported].map(([name, count]) => `${count} ${name}`).join(', ')}`);
