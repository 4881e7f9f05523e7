/**
 * `npm run load`: the local stack under load, over HTTP, as a user's programs would drive it. The stack runs
 * as a child process (`functions/local.ts`, as `npm start` runs it) with a data folder of its own. For each
 * workload (the example order saga, and a plain chain of two activities: the `shipping` orchestration) and
 * each N, it starts N instances at once, starts single probe instances into the burst while it runs, waits
 * for all of them, and prints instances/s, activity steps/s, start-to-completion latency (p50/p95/p99),
 * the probes' latency (at normal priority, and on the priority lane) against an instance's latency on the idle stack, and the peak RSS of the stack's Node
 * process and of DynamoDB Local's JVM. Every instance is checked: completed once, with the right output,
 * every task of its history (and of its children's) recorded exactly once.
 * Then the crash run: N orders, the stack killed with SIGKILL (with its JVM) mid-load, started again on
 * the same data folder, and the same checks: nothing lost, nothing doubled.
 *
 * The stack runs on Node 24, the runtime the construct deploys the functions to (`nodejs24.x`; installed once from
 * the npm registry by .ci/with-node), whatever Node runs this script; `--stack-node current` runs it on this one.
 * Each burst starts on a fresh stack warmed by a first burst of `--warm-up` instances of the same workload (200),
 * as a function's Lambda processes are warm in steady state: that burst's rate is printed as the cold one.
 *
 * Run: npm run load -- [--instances 200,1000] [--workloads order,chain] [--probes 5] [--time-limit 600]
 *                     [--warm-up 200] [--stack-node 24|22|current] [--kill-instances 1000] [--no-kill]
 *                     [--stack-node-args=--cpu-prof]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StackProcess, type ByProcess } from './stack-process.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '200,1000' },
    workloads: { type: 'string', default: 'order,chain' },
    probes: { type: 'string', default: '5' },
    'time-limit': { type: 'string', default: '600' },
    'kill-instances': { type: 'string', default: '1000' },
    'no-kill': { type: 'boolean', default: false },
    'stack-node-args': { type: 'string', default: '' },
    'stack-node': { type: 'string', default: '24' },
    'warm-up': { type: 'string', default: '200' },
  },
});
const SIZES = values.instances.split(',').map(Number);
const PROBES = Number(values.probes);
const TIME_LIMIT_MS = Number(values['time-limit']) * 1000;
const NODE_ARGS = values['stack-node-args'].split(' ').filter(Boolean);
const WARM_UP = Number(values['warm-up']);

/** The Node binary the stack runs on: the pinned release of a major (.ci/with-node installs it once), or this process's. */
function stackNode(choice: string): { binary: string; note?: string } {
  if (choice === 'current') return { binary: process.execPath };
  const withNode = fileURLToPath(new URL('../.ci/with-node', import.meta.url));
  try {
    return { binary: execFileSync(withNode, [choice, 'node', '-p', 'process.execPath'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim() };
  } catch (error) {
    const reason = String((error as { stderr?: string }).stderr || (error as Error).message).trim().split('\n').at(-1);
    return { binary: process.execPath, note: `Node ${choice} could not be installed (${reason}); the stack runs on this process's Node instead` };
  }
}
const STACK_NODE = stackNode(values['stack-node']);
const STACK_NODE_VERSION = execFileSync(STACK_NODE.binary, ['-p', 'process.version'], { encoding: 'utf8' }).trim();

// ---------------------------------------------------------------------------------------------------
// Workloads

interface Workload {
  name: string;
  orchestration: string;
  /** Activity executions of one instance, its children included (what "activity steps" counts). */
  activitySteps: number;
  input(id: string): unknown;
  expected(id: string): unknown;
  /** The ids of the instance's children, whose histories are checked too. */
  children(id: string): string[];
}

const WORKLOADS: Record<string, Workload> = {
  order: {
    name: 'order saga',
    orchestration: 'order',
    // reserveStock, chargeCard, packItem × 2, generateInvoice, sendEmail; the shipping child's bookCarrier, printLabel
    activitySteps: 8,
    // Below the approval threshold; the carrier's pickup after 1 s instead of a day.
    input: (id) => ({ orderId: id, customer: 'ada@example.com', amount: 120, items: [{ sku: 'book', quantity: 2 }, { sku: 'lamp', quantity: 25 }], pickupAfter: '1s' }),
    expected: (id) => ({ orderId: id, status: 'shipped', trackingNumber: `TRK-${id}`, invoiceBytes: 300_000 }),
    children: (id) => [`${id}:0.7`],
  },
  chain: {
    name: 'activity chain',
    orchestration: 'shipping',
    activitySteps: 2,
    input: (id) => ({ orderId: id, parcels: 3 }),
    expected: (id) => `TRK-${id}`,
    children: () => [],
  },
};

// ---------------------------------------------------------------------------------------------------
// HTTP

interface Status {
  instanceId: string;
  name: string;
  status: string;
  createdAt: string;
  updatedAt: string;
  output?: unknown;
  parentInstanceId?: string;
}

interface HistoryEvent {
  type: string;
  taskId?: number;
}

async function call<T>(url: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(url, {
        method: init.method ?? 'GET',
        headers: init.method === 'POST' ? { 'content-type': 'application/json' } : {},
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      return { status: response.status, body: (await response.json()) as T };
    } catch (error) {
      // A refused or reset connection under a burst of starts: the HTTP client's problem, not the stack's.
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/** Starts an instance; returns when the request was sent (the start of its latency). */
async function start(base: string, workload: Workload, id: string, priority: 'high' | 'normal' = 'normal'): Promise<number> {
  const sentAt = Date.now();
  const { status, body } = await call<{ error?: { message: string } }>(`${base}/orchestrations/${workload.orchestration}?instanceId=${encodeURIComponent(id)}&priority=${priority}`, { method: 'POST', body: workload.input(id) });
  if (status !== 202) throw new Error(`start of ${id} answered ${status}: ${JSON.stringify(body)}`);
  return sentAt;
}

async function listAll(base: string, status: string, payloads = false): Promise<Status[]> {
  const all: Status[] = [];
  let cursor: string | undefined;
  do {
    const query = new URLSearchParams({ status, limit: '1000', ...(payloads ? { payloads: 'true' } : {}), ...(cursor ? { cursor } : {}) });
    const { body } = await call<{ instances: Status[]; cursor?: string }>(`${base}/instances?${query.toString()}`);
    all.push(...body.instances);
    cursor = body.cursor;
  } while (cursor);
  return all;
}

/** True while any instance is still Pending or Running (children included). */
async function busy(base: string): Promise<boolean> {
  for (const status of ['Pending', 'Running']) {
    const { body } = await call<{ instances: Status[] }>(`${base}/instances?status=${status}&limit=1`);
    if (body.instances.length > 0) return true;
  }
  return false;
}

async function waitUntilIdle(base: string, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    if (!(await busy(base))) return true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return false;
}

/** Runs `fn` over the items, at most `limit` at once. */
async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

// ---------------------------------------------------------------------------------------------------
// Checks

interface Verdict {
  /** Instances that did not complete exactly once with the right output. */
  wrong: string[];
  /** Tasks recorded more than once, or scheduled and never completed. */
  doubled: string[];
  /** Activity executions recorded in the histories. */
  activitySteps: number;
}

/** Every instance completed once with the right output; every task of its history (and its children's) recorded once. */
async function verify(base: string, workload: Workload, ids: string[]): Promise<Verdict> {
  const completed = new Map<string, Status[]>();
  for (const status of await listAll(base, 'Completed', true)) completed.set(status.instanceId, [...(completed.get(status.instanceId) ?? []), status]);
  const wrong: string[] = [];
  const doubled: string[] = [];
  let activitySteps = 0;
  const checkHistory = async (id: string) => {
    const { status, body } = await call<{ events: HistoryEvent[] }>(`${base}/instances/${encodeURIComponent(id)}/history?payloads=keep`);
    if (status !== 200) return void wrong.push(`${id}: history answered ${status}`);
    const scheduled = new Map<number, number>();
    const results = new Map<number, number>();
    let ends = 0;
    for (const event of body.events) {
      if (event.type === 'ExecutionCompleted') ends++;
      if (event.type === 'ActivityCompleted' || event.type === 'ActivityFailed') activitySteps++;
      if (/Scheduled$|^TimerCreated$/.test(event.type)) scheduled.set(event.taskId!, (scheduled.get(event.taskId!) ?? 0) + 1);
      else if (event.taskId !== undefined) results.set(event.taskId, (results.get(event.taskId) ?? 0) + 1);
    }
    if (ends !== 1) wrong.push(`${id}: ${ends} ExecutionCompleted events`);
    for (const [taskId, count] of scheduled) {
      if (count !== 1 || results.get(taskId) !== 1) doubled.push(`${id}: task ${taskId} scheduled ${count}×, recorded ${results.get(taskId) ?? 0}×`);
    }
  };
  await inParallel(ids, 16, async (id) => {
    const found = completed.get(id) ?? [];
    if (found.length !== 1) wrong.push(`${id}: listed ${found.length}× as Completed`);
    else if (JSON.stringify(found[0]!.output) !== JSON.stringify(workload.expected(id))) wrong.push(`${id}: output ${JSON.stringify(found[0]!.output)}`);
    for (const instance of [id, ...workload.children(id)]) await checkHistory(instance);
  });
  return { wrong, doubled, activitySteps };
}

// ---------------------------------------------------------------------------------------------------
// Runs

interface BurstResult {
  workload: string;
  n: number;
  completed: number;
  seconds: number;
  instancesPerSecond: number;
  stepsPerSecond: number;
  latency: { p50: number; p95: number; p99: number };
  alone: number;
  /** Activity steps/s of the warm-up burst on the fresh stack. */
  cold: number | undefined;
  probes: number[];
  /** The latency of the probes started with priority 'high'. */
  laneProbes: number[];
  rss: ByProcess;
  /** CPU ms per activity step of the Node process and of DynamoDB Local's JVM during the burst. */
  cpuPerStep: ByProcess;
  verdict: Verdict;
  timedOut: boolean;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);

/** Start-to-completion latency of one instance on the idle stack (median of three). */
async function aloneLatency(base: string, workload: Workload, tag: string): Promise<number> {
  const latencies: number[] = [];
  for (let i = 0; i < 3; i++) {
    const id = `${tag}-alone-${i}`;
    const sentAt = await start(base, workload, id);
    if (!(await waitUntilIdle(base, Date.now() + 60_000))) throw new Error(`${id} did not finish within 60 s on the idle stack`);
    const { body } = await call<Status>(`${base}/instances/${id}`);
    latencies.push(Date.parse(body.updatedAt) - sentAt);
  }
  return median(latencies);
}

/**
 * The warm-up: WARM_UP instances at once on the fresh stack, waited for. Node's and DynamoDB Local's JIT compilers
 * start cold: 200 orders on a fresh stack cost 6.0 + 5.1 ms of CPU per activity step (the stack's Node + DynamoDB Local)
 * against 4.4 + 3.7 on a warm one. Returns that burst's activity steps/s.
 */
async function warmUp(base: string, workload: Workload, tag: string): Promise<number | undefined> {
  if (WARM_UP <= 0) return undefined;
  const ids = Array.from({ length: WARM_UP }, (_, i) => `${tag}-warm-up-${i}`);
  process.stdout.write(`warm-up of ${WARM_UP}...`);
  const began = Date.now();
  await Promise.all(ids.map((id) => start(base, workload, id)));
  if (!(await waitUntilIdle(base, began + TIME_LIMIT_MS))) throw new Error(`the warm-up of ${WARM_UP} ${workload.name} instances did not finish within the time limit`);
  const done = new Map((await listAll(base, 'Completed')).map((status) => [status.instanceId, Date.parse(status.updatedAt)]));
  const missing = ids.filter((id) => !done.has(id));
  if (missing.length > 0) throw new Error(`${missing.length} warm-up instances did not complete (${missing.slice(0, 5).join(', ')})`);
  const cold = (WARM_UP * workload.activitySteps) / ((Math.max(...ids.map((id) => done.get(id)!)) - began) / 1000);
  process.stdout.write(` ${cold.toFixed(0)} steps/s cold; `);
  return cold;
}

async function burst(workloadKey: string, n: number): Promise<BurstResult> {
  const workload = WORKLOADS[workloadKey]!;
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-load-'));
  const stack = await StackProcess.start({ dataDir, node: STACK_NODE.binary, nodeArgs: NODE_ARGS });
  try {
    const base = stack.url;
    process.stdout.write(`  ${workload.name}, N=${n}: `);
    const cold = await warmUp(base, workload, `${workloadKey}${n}`);
    const alone = await aloneLatency(base, workload, `${workloadKey}${n}`);
    const ids = Array.from({ length: n }, (_, i) => `${workloadKey}${n}-${i}`);
    const sentAt = new Map<string, number>();
    const cpuBefore = stack.cpuMs();
    const began = Date.now();
    const deadline = began + TIME_LIMIT_MS;
    process.stdout.write(`alone ${(alone / 1000).toFixed(2)} s; starting ${n} at once...`);
    let accepted = 0;
    const accepting = Promise.all(ids.map(async (id) => {
      sentAt.set(id, await start(base, workload, id));
      accepted++;
    }));

    // Probes: started into the burst while it runs, two at a time: one at normal priority, one on the priority lane.
    // The first once a tenth of the burst was accepted (the stack accepts starts while it runs the earlier ones).
    const probeIds: string[] = [];
    const laneProbeIds: string[] = [];
    let finished = false;
    const probing = (async () => {
      while (accepted < n / 10) await new Promise((resolve) => setTimeout(resolve, 20));
      for (let i = 0; i < PROBES && !finished; i++) {
        const id = `${workloadKey}${n}-probe-${i}`;
        const laneId = `${workloadKey}${n}-probe-high-${i}`;
        const [normalSent, highSent] = await Promise.all([start(base, workload, id), start(base, workload, laneId, 'high')]);
        sentAt.set(id, normalSent).set(laneId, highSent);
        probeIds.push(id);
        laneProbeIds.push(laneId);
        await new Promise((resolve) => setTimeout(resolve, Math.max(1_000, (alone * 2))));
      }
    })();
    await accepting;
    process.stdout.write(` accepted in ${((Date.now() - began) / 1000).toFixed(1)} s; running`);
    const ticker = setInterval(() => process.stdout.write('.'), 5_000);
    const idle = await waitUntilIdle(base, deadline);
    finished = true;
    clearInterval(ticker);
    await probing;
    if (idle) await waitUntilIdle(base, deadline + 60_000);
    const rss = stack.peakRss();
    const cpuAfter = stack.cpuMs();
    console.log(idle ? ' done' : ' TIME LIMIT');

    const statuses = new Map((await listAll(base, 'Completed')).map((status) => [status.instanceId, status]));
    const latencyOf = (id: string) => {
      const status = statuses.get(id);
      return status ? Date.parse(status.updatedAt) - sentAt.get(id)! : undefined;
    };
    const latencies = ids.map(latencyOf).filter((value): value is number => value !== undefined).sort((a, b) => a - b);
    const lastDone = Math.max(...ids.map((id) => (statuses.get(id) ? Date.parse(statuses.get(id)!.updatedAt) : 0)));
    const seconds = (lastDone - began) / 1000;
    const verdict = await verify(base, workload, ids);
    return {
      workload: workload.name,
      n,
      completed: latencies.length,
      seconds,
      instancesPerSecond: latencies.length / seconds,
      stepsPerSecond: verdict.activitySteps / seconds,
      latency: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) },
      alone,
      cold,
      probes: probeIds.map(latencyOf).filter((value): value is number => value !== undefined),
      laneProbes: laneProbeIds.map(latencyOf).filter((value): value is number => value !== undefined),
      rss,
      cpuPerStep: { node: (cpuAfter.node - cpuBefore.node) / verdict.activitySteps, java: (cpuAfter.java - cpuBefore.java) / verdict.activitySteps },
      verdict,
      timedOut: !idle,
    };
  } catch (error) {
    console.log(`\nthe stack's last log lines:\n${stack.tail()}`);
    throw error;
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface CrashResult {
  n: number;
  completedBeforeKill: number;
  verdict: Verdict;
  seconds: number;
}

/** N orders; SIGKILL the stack (and its JVM) once a third of them completed; start it again on the same data; check. */
async function crashRun(n: number): Promise<CrashResult> {
  const workload = WORKLOADS.order!;
  const dataDir = mkdtempSync(join(tmpdir(), 'perdure-load-kill-'));
  const began = Date.now();
  try {
    let stack = await StackProcess.start({ dataDir, node: STACK_NODE.binary });
    const ids = Array.from({ length: n }, (_, i) => `kill${n}-${i}`);
    process.stdout.write(`  order saga, N=${n}: starting...`);
    await Promise.all(ids.map((id) => start(stack.url, workload, id)));
    let completedBeforeKill = 0;
    const deadline = Date.now() + TIME_LIMIT_MS;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      completedBeforeKill = (await listAll(stack.url, 'Completed')).length;
      if (completedBeforeKill >= n / 3) break;
    }
    await stack.kill();
    process.stdout.write(` killed with SIGKILL after ${completedBeforeKill} completed; restarting...`);
    stack = await StackProcess.start({ dataDir, node: STACK_NODE.binary });
    try {
      const idle = await waitUntilIdle(stack.url, Date.now() + TIME_LIMIT_MS);
      console.log(idle ? ' done' : ' TIME LIMIT');
      return { n, completedBeforeKill, verdict: await verify(stack.url, workload, ids), seconds: (Date.now() - began) / 1000 };
    } finally {
      await stack.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// Report

function table(headers: string[], rows: string[][]): void {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(headers));
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : '-');

// Node 20 and 22 implement AsyncLocalStorage (the determinism guard, the cost scope) with async hooks that every
// promise pays for, unless Node 22 is started with --experimental-async-context-frame; Node 24 does without them.
const stackFlags = [...NODE_ARGS, ...(process.env.NODE_OPTIONS ?? '').split(' ')];
const contextFrames = Number(STACK_NODE_VERSION.slice(1).split('.')[0]) >= 24 ? !stackFlags.includes('--no-async-context-frame') : stackFlags.includes('--experimental-async-context-frame');
console.log(`load: ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; the stack on Node ${STACK_NODE_VERSION} (AsyncLocalStorage on ${contextFrames ? 'async context frames' : 'async hooks'}), this script on ${process.version}`);
if (STACK_NODE.note) console.log(`load: ${STACK_NODE.note}`);
const results: BurstResult[] = [];
for (const key of values.workloads.split(',')) {
  for (const n of SIZES) results.push(await burst(key, n));
}
console.log('');
table(
  ['workload', 'N', 'inst/s', 'activity steps/s', `cold: warm-up of ${WARM_UP}`, 'latency p50 / p95 / p99 (s)', 'alone (s)', 'probes p50 (s)', 'probe / alone', 'high-priority probes p50 (s)', 'high probe / alone', 'peak RSS node + java (MB)', 'CPU ms per step node + java', 'checks'],
  results.map((r) => {
    const probe = median(r.probes);
    const laneProbe = median(r.laneProbes);
    const problems = r.verdict.wrong.length + r.verdict.doubled.length + (r.n - r.completed);
    return [
      r.workload,
      String(r.n),
      r.instancesPerSecond.toFixed(1),
      r.stepsPerSecond.toFixed(0),
      r.cold === undefined ? '-' : r.cold.toFixed(0),
      `${s(r.latency.p50)} / ${s(r.latency.p95)} / ${s(r.latency.p99)}`,
      (r.alone / 1000).toFixed(2),
      `${s(probe)} (${r.probes.length})`,
      Number.isFinite(probe) ? `${(probe / r.alone).toFixed(1)}×` : '-',
      `${s(laneProbe)} (${r.laneProbes.length})`,
      Number.isFinite(laneProbe) ? `${(laneProbe / r.alone).toFixed(1)}×` : '-',
      `${r.rss.node} + ${r.rss.java}`,
      `${r.cpuPerStep.node.toFixed(1)} + ${r.cpuPerStep.java.toFixed(1)}`,
      r.timedOut ? 'TIME LIMIT' : problems === 0 ? `ok: ${r.n} once, ${r.verdict.activitySteps} tasks once` : `${problems} PROBLEMS`,
    ];
  }),
);
for (const r of results) for (const problem of [...r.verdict.wrong, ...r.verdict.doubled].slice(0, 20)) console.log(`  ${r.workload} N=${r.n}: ${problem}`);

if (!values['no-kill']) {
  console.log('\ncrash run: SIGKILL mid-load, restart on the same data folder');
  const crash = await crashRun(Number(values['kill-instances']));
  const { wrong, doubled } = crash.verdict;
  table(
    ['N', 'completed before the kill', 'lost or wrong', 'tasks doubled or lost', 'activity steps', 'time (s)'],
    [[String(crash.n), String(crash.completedBeforeKill), String(wrong.length), String(doubled.length), String(crash.verdict.activitySteps), crash.seconds.toFixed(0)]],
  );
  for (const problem of [...wrong, ...doubled].slice(0, 20)) console.log(`  ${problem}`);
  if (wrong.length || doubled.length) process.exitCode = 1;
}
if (results.some((r) => r.timedOut || r.verdict.wrong.length || r.verdict.doubled.length)) process.exitCode = 1;
