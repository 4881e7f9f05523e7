/**
 * One chaos run: the same seeded programs, first without faults in memory (the reference), then under
 * faults (in memory, or on the embedded local stack), and every invariant checked. Used by the bounded
 * run in `npm test` and by `npm run chaos`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultInjector, type FaultRates } from '../lib/faults.js';
import { InvalidStateError, silentLogger, TestEnvironment, type Client, type InstanceStatus } from '../lib/index.js';
import { startLocalStack } from '../lib/local/local-stack.js';
import { createAwsRuntime } from '../lib/aws/aws-runtime.js';
import { systemClock, type InstanceStore } from '../lib/ports.js';
import { OrchestrationWorker } from '../lib/runtime/orchestration-worker.js';
import { allInstanceIds, checkRun, createChaosApp, generatePrograms, persist, type DriverHooks, type EffectCounter, type Outcome, type Program } from './programs.js';

export interface ChaosOptions {
  seed: number;
  instances: number;
  runtime: 'memory' | 'local';
  /** Run the programs' activities inline (and unretried calls as ctx.step). */
  inline?: boolean;
  /**
   * Slow calls and invocations (`slow` in the rates): on the local stack long enough to outlast a message's
   * visibility timeout and sometimes the function timeout; in memory a few milliseconds, which reorders
   * work. @defaultValue true
   */
  slow?: boolean;
  rates?: FaultRates;
  /** Instances in flight at once. @defaultValue 50 */
  concurrency?: number;
  /** Only programs with a gate (the driver cancels them) or a fragile call (it rewinds them): to chase a defect of one operation. */
  only?: 'gate' | 'fragile';
  /** Prints progress. */
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  runtime: string;
  instances: number;
  /** Children included. */
  instancesChecked: number;
  faults: string;
  faultCount: number;
  /** Instances the driver cancelled at a gate, and rewound after fixing their fragile call (run under faults). */
  cancelled: number;
  rewound: number;
  violations: string[];
  seconds: number;
}

export const DEFAULT_RATES: FaultRates = { throttle: 0.02, serverError: 0.01, lostResponse: 0.02, slow: 0.01, crash: 0.03, duplicate: 0.1, reorder: 0.5 };

/** The local stack of a chaos run: a message comes back 2 s after it was received, an invocation may run 1 s. */
const LOCAL_TIMEOUTS = { visibilityTimeout: 2, functionTimeout: 1 };
/**
 * Crashes (and invocations past their deadline) at one step or activity attempt before it is poison. The run
 * crashes workers at 3% of every crash point and slows 1% of calls past their deadline, about a thousand
 * times what production sees: three such deaths in a row at one position then happen by chance in a run of
 * 1,000 programs, and the runtime rightly sets the work aside, which the fault-free reference never does. At
 * five they are negligible (about one in a hundred runs); the poison path itself is tested on the local
 * stack in test/e2e/local-stack.test.ts.
 */
const CHAOS_POISON_AFTER_CRASHES = 5;
/**
 * The driver's side of a run: it learns when an instance waits at its gate (then cancels it), and fixes a
 * program's fragile calls before it rewinds the instance.
 */
class Driver {
  private readonly gates = new Map<string, { reached: Promise<void>; reach: () => void; fired: boolean }>();
  private readonly fixed = new Set<string>();
  cancelled = 0;
  rewound = 0;

  readonly hooks: DriverHooks = {
    atGate: (key) => {
      const gate = this.gate(key);
      gate.fired = true;
      gate.reach();
    },
    isFixed: (program) => this.fixed.has(program),
  };

  gate(key: string) {
    let gate = this.gates.get(key);
    if (!gate) {
      let reach!: () => void;
      const reached = new Promise<void>((resolve) => (reach = resolve));
      gate = { reached, reach, fired: false };
      this.gates.set(key, gate);
    }
    return gate;
  }

  fix(program: string): void {
    this.fixed.add(program);
  }
}

function outcomeOf(status: InstanceStatus): Outcome {
  return { status: status.status, ...(status.output !== undefined ? { output: status.output } : {}), ...(status.error ? { error: `${status.error.name}: ${status.error.message}` } : {}) };
}

interface Target {
  client: Client;
  store: InstanceStore;
  /** Starts instances, when another client than `client` should (the faulted one of the local stack). */
  starter?: Client;
  /** A second worker stepping instances beside the queue's own: two workers on one instance. */
  rogue?: OrchestrationWorker;
  rogueIntervalMs: number;
  /** Where the queued messages about an instance are (the local stack's queues). */
  queuedFor?: (instanceId: string) => string[];
  close(): Promise<void>;
}

/**
 * Starts each program, raises its events, and waits for it to settle, `concurrency` at a time. At a gate it
 * cancels the instance (once its gate's child waits too); a program that fails with a fragile call is fixed
 * and rewound, and its outcome notes how it failed first. A gate's child has an outcome of its own.
 */
async function runPrograms(target: Target, driver: Driver, programs: Program[], concurrency: number, timeout: string, log?: (line: string) => void): Promise<Map<string, Outcome>> {
  const outcomes = new Map<string, Outcome>();
  let nextIndex = 0;
  let done = 0;
  const worker = async () => {
    while (nextIndex < programs.length) {
      const program = programs[nextIndex++]!;
      await persist(() => (target.starter ?? target.client).start('program', { ops: program.ops }, { instanceId: program.instanceId })).catch((error: Error) => {
        if (error.name !== 'InstanceExistsError') throw error; // a start whose response was lost
      });
      const raise = (name: string, data: string, round = '') => persist(() => target.client.raiseEvent(program.instanceId, name, data, { eventId: `${program.instanceId}.${name}${round}` }));
      // A fragile call can fail the instance before all its events are raised (an inline one within milliseconds
      // of the start): it refuses the rest, and drops those it took but had not applied. After the rewind the
      // code waits for them again, so they are raised again then, under new ids (a dropped one keeps its id).
      for (const [name, data] of Object.entries(program.events)) {
        try {
          await raise(name, data);
        } catch (error) {
          if (!(error instanceof InvalidStateError) || !program.fragile) throw error;
          break;
        }
      }
      let settled = false;
      const meddling = (async () => {
        // One step at a time, as a second worker that took a stray doorbell of the instance would.
        while (target.rogue && !settled) {
          await target.rogue.step(program.instanceId).catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, target.rogueIntervalMs));
        }
      })();
      const gates = program.gate ? [driver.gate(program.gate.key), ...(program.gate.childId ? [driver.gate(`${program.gate.childId}/g`)] : [])] : [];
      let cancelFailed: Error | undefined;
      const cancelling = gates.length
        ? Promise.all(gates.map((gate) => gate.reached))
            .then(async () => {
              await persist(() => target.client.cancel(program.instanceId, 'chaos'));
              driver.cancelled++;
            })
            .catch((error: unknown) => void (cancelFailed = error instanceof Error ? error : new Error(String(error))))
        : undefined;
      try {
        let status = await target.client.waitForCompletion(program.instanceId, { timeout });
        let failedFirst: Outcome | undefined;
        if (status.status === 'Failed' && program.fragile) {
          failedFirst = outcomeOf(status);
          driver.fix(program.instanceId);
          await persist(() => target.client.rewind(program.instanceId));
          driver.rewound++;
          const applied = await raisedEvents(target.client, program.instanceId);
          for (const [name, data] of Object.entries(program.events)) if (!applied.has(name)) await raise(name, data, '.rewound');
          status = await target.client.waitForCompletion(program.instanceId, { timeout });
        }
        outcomes.set(program.instanceId, { ...outcomeOf(status), ...(failedFirst ? { failedFirst } : {}) });
        if (gates[0]?.fired) {
          await cancelling;
          if (cancelFailed) throw cancelFailed;
          if (program.gate?.childId) outcomes.set(program.gate.childId, outcomeOf(await target.client.waitForCompletion(program.gate.childId, { timeout })));
        }
      } catch (error) {
        outcomes.set(program.instanceId, { status: 'NotSettled', error: (error as Error).message });
      } finally {
        settled = true;
        await meddling;
      }
      if (++done % 100 === 0) log?.(`  ${done}/${programs.length} settled`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, programs.length) }, worker));
  return outcomes;
}

/** The names of the events an instance's histories hold (every generation). */
async function raisedEvents(client: Client, instanceId: string): Promise<Set<string>> {
  const names = new Set<string>();
  const { generation } = await persist(() => client.getStatus(instanceId));
  for (let g = 0; g <= generation; g++) {
    for (const event of await persist(() => client.getHistory(instanceId, { generation: g }))) if (event.type === 'EventRaised') names.add(event.name);
  }
  return names;
}

/** Waits until the runtime has drained: every inbox empty (late duplicates consumed), or the deadline. */
async function drained(target: Target, ids: string[], deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (const id of ids) {
    while (Date.now() < deadline) {
      const state = await target.store.loadStep(id);
      if (!state || state.inbox.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Where a program that did not settle in time stands once the run is over: one that settled since was only
 * slow (a loaded machine); one still waiting on a call with an empty inbox and nothing in flight was stranded.
 */
async function afterTheDeadline(target: Target, instanceId: string, effects: EffectCounter): Promise<string> {
  const state = await target.store.loadStep(instanceId);
  if (!state) return 'not found after the run';
  const { instance, inbox } = state;
  const history = await target.client.getHistory(instanceId, { generation: instance.generation });
  const last = history.slice(-6).map((event) => `${event.type}${'taskId' in event ? `#${event.taskId}` : ''}`);
  const flags = [instance.cancelRequested ? 'cancel requested' : '', instance.dispatchPending ? 'dispatch pending' : ''].filter(Boolean);
  const messages = inbox.map((message) => `${message.event.type}${'taskId' in message.event ? `#${message.event.taskId}` : ''}`);
  // The calls that ran: beyond what the history shows, the instance went further once (a history lost or forked).
  const prefix = `faults/${instanceId}/`;
  const ran = [...effects.keys()].filter((key) => key.startsWith(prefix) && !key.slice(prefix.length).includes('/')).map((key) => key.slice(prefix.length));
  const queued = target.queuedFor?.(instanceId) ?? [];
  return `after the run: ${instance.status}${flags.length ? ` (${flags.join(', ')})` : ''} in generation ${instance.generation} at event ${instance.lastEventId} (incarnation ${instance.incarnation ?? '-'}, revision ${instance.revision}), last events ${last.join(', ')}, ${inbox.length} inbox message(s)${messages.length ? ` (${messages.join(', ')})` : ''}; its calls that ran: ${ran.join(', ') || 'none'}; queued: ${queued.length ? queued.join(' | ') : 'nothing'}`;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const began = performance.now();
  const { seed, log } = options;
  const concurrency = options.concurrency ?? 50;
  const programs = options.only ? generatePrograms(seed, options.instances * 20).filter((program) => program[options.only!]).slice(0, options.instances) : generatePrograms(seed, options.instances);
  const effects: EffectCounter = new Map();

  // The reference: no faults, in memory.
  const referenceDriver = new Driver();
  const reference = await TestEnvironment.create(createChaosApp(effects, 'reference', { inline: options.inline, hooks: referenceDriver.hooks }), { logger: silentLogger });
  const expected = await runPrograms({ client: reference.client, store: reference.store, rogueIntervalMs: 0, close: async () => undefined }, referenceDriver, programs, concurrency, '120s');
  await reference.close();
  const referenceEffects = [...effects.keys()].filter((key) => key.startsWith('reference/')).map((key) => key.slice('reference/'.length));

  const rates = { ...(options.rates ?? DEFAULT_RATES) };
  if (options.slow === false) rates.slow = 0;
  // Slow work on the local stack lasts from a quarter of the function timeout to twice the visibility timeout.
  rates.slowMs ??= options.runtime === 'local' ? [LOCAL_TIMEOUTS.functionTimeout * 250, LOCAL_TIMEOUTS.visibilityTimeout * 2_000] : [1, 20];
  const faults = new FaultInjector(seed, rates);
  const driver = new Driver();
  const app = createChaosApp(effects, 'faults', { inline: options.inline, hooks: driver.hooks });
  let target: Target;
  let dataDir: string | undefined;
  if (options.runtime === 'memory') {
    const env = await TestEnvironment.create(app, { logger: silentLogger, faults });
    const rogue = new OrchestrationWorker({ app, store: env.store, queues: env.queues, clock: env.clock, logger: silentLogger });
    target = { client: env.client, store: env.store, rogue, rogueIntervalMs: 20, close: () => env.close() };
  } else {
    dataDir = mkdtempSync(join(tmpdir(), 'perdure-chaos-'));
    const stack = await startLocalStack(app, { dataDir, faults, ...LOCAL_TIMEOUTS, poisonAfterCrashes: CHAOS_POISON_AFTER_CRASHES, maxTimerHopSeconds: 1, logger: silentLogger });
    // The driver and the second worker get clients of their own: the faults are the stack's runtime's.
    const observer = createAwsRuntime(app, stack.config, { logger: silentLogger });
    const rogue = new OrchestrationWorker({ app, store: observer.store, queues: observer.queues, clock: systemClock, logger: silentLogger, loadPayload: (value) => observer.codec.load(value) });
    const close = async () => {
      for (const client of Object.values(observer.clients)) client.destroy();
      await stack.stop();
    };
    // Starts go through the stack's own client: their eager first steps run with its faults and crashes.
    target = { client: observer.client, starter: stack.runtime.client, store: observer.store, rogue, rogueIntervalMs: 1_000, queuedFor: (instanceId) => stack.queuedFor(instanceId), close };
  }
  const violations: string[] = [];
  let ids: string[] = [];
  try {
    const actual = await runPrograms(target, driver, programs, concurrency, options.runtime === 'memory' ? '120s' : '300s', log);
    faults.enabled = false; // let late duplicates drain, and check without faults in the way
    const late: Array<{ instanceId: string; violation: number }> = [];
    for (const instanceId of new Set([...expected.keys(), ...actual.keys()])) {
      const want = expected.get(instanceId);
      const got = actual.get(instanceId);
      if (JSON.stringify(want) === JSON.stringify(got)) continue;
      // Not settled, or a gate's child whose parent did not settle (nobody waited for it): where it stands says why.
      if (got === undefined || got.status === 'NotSettled') late.push({ instanceId, violation: violations.length });
      violations.push(`${instanceId}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    }
    ids = await allInstanceIds(target.store);
    await drained(target, ids, 30_000);
    for (const { instanceId, violation } of late) violations[violation] += `; ${await afterTheDeadline(target, instanceId, effects)}`;
    violations.push(...(await checkRun({ client: target.client, store: target.store, ids, effects, run: 'faults', referenceEffects })));
  } finally {
    await target.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  return {
    seed,
    runtime: options.runtime,
    instances: programs.length,
    instancesChecked: ids.length,
    faults: faults.summary(),
    faultCount: faults.total,
    cancelled: driver.cancelled,
    rewound: driver.rewound,
    violations,
    seconds: (performance.now() - began) / 1000,
  };
}
