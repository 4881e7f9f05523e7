/**
 * Randomized orchestrations for the chaos run: a seeded generator of small programs (activities that fail
 * and are retried, timers, external events, fan-out, sub-orchestrations, continueAsNew, a call that fails
 * until the driver fixes it and rewinds the instance, a gate where the driver cancels it), one orchestration
 * that interprets them, and the checks a run under faults must pass against a run without.
 */
import { DeterministicRandom } from '../lib/core/deterministic-random.js';
import { rewoundEvents, type HistoryEvent } from '../lib/core/history-events.js';
import { CancelledError, createApp, silentLogger, type App, type Client, type OrchestrationContext } from '../lib/index.js';
import type { InstanceStore } from '../lib/ports.js';

export type Op =
  /** An activity that fails its first `failures` attempts; `retried` ones have 3 attempts, others 1. */
  | { kind: 'activity'; id: string; failures: number; retried: boolean }
  | { kind: 'timer'; id: string; seconds: number }
  /** Waits for an external event the driver raises. */
  | { kind: 'event'; id: string; name: string }
  | { kind: 'fanOut'; id: string; branches: Op[][] }
  | { kind: 'sub'; id: string; program: Op[] }
  /** Top level only: continue as new, then carry on with the rest of the program. */
  | { kind: 'continueAsNew'; id: string }
  /**
   * A call that fails (uncaught: the instance fails) until the driver fixes it and rewinds the instance.
   * Top level of a program or of a sub-orchestration only, where nothing else is in flight when it fails.
   */
  | { kind: 'fragile'; id: string }
  /**
   * Top level only: waits for nothing the driver will send (and, with `child`, for a child waiting at a gate
   * of its own) until the driver cancels the instance. Then it cleans up (`cleanup`) in ctx.nonCancellable,
   * and ends Cancelled, or completes with what it has (`swallow`).
   */
  | { kind: 'gate'; id: string; child: boolean; cleanup: boolean; swallow: boolean };

export interface Program {
  instanceId: string;
  ops: Op[];
  /** Events to raise, by name, with their data. */
  events: Record<string, string>;
  /** Holds a fragile call: the driver rewinds the instance when it fails. */
  fragile?: boolean;
  /** Where the driver cancels the instance: the gate's key, and the child waiting at a gate of its own. */
  gate?: { key: string; childId?: string };
}

interface Input {
  ops: Op[];
  resumeAt?: number;
  results?: string[];
  /** The program a sub-orchestration belongs to: its fragile calls are fixed with the program's. */
  root?: string;
}

/** What a program's activities tell the driver of the run, and ask it. */
export interface DriverHooks {
  /** An instance waits at the gate `key` (`<instance>/<op>`): the driver may cancel it now. */
  atGate(key: string): void;
  /** The fragile calls of this program have been fixed. */
  isFixed(program: string): boolean;
}

/** Generates `count` programs from `seed`; the same seed gives the same programs. */
export function generatePrograms(seed: number, count: number, prefix = `chaos-${seed}`): Program[] {
  const random = new DeterministicRandom(`programs-${seed}`);
  const operations = new DeterministicRandom(`operations-${seed}`);
  const int = (max: number) => Math.floor(random.next() * max);
  const chance = (p: number) => random.next() < p;
  return Array.from({ length: count }, (_, index) => {
    const events: Record<string, string> = {};
    let next = 0;
    const id = () => `op${next++}`;
    const activity = (): Op => ({ kind: 'activity', id: id(), failures: [0, 0, 0, 1, 2, 5][int(6)]!, retried: chance(0.5) });
    const leaf = (depth: number, allowEvents: boolean): Op => {
      const roll = int(10);
      if (roll < 5) return activity();
      if (roll < 7) return { kind: 'timer', id: id(), seconds: 1 + int(2) };
      if (roll < 8 && allowEvents) {
        const name = `signal-${Object.keys(events).length}`;
        events[name] = `data-${seed}-${index}-${name}`;
        return { kind: 'event', id: id(), name };
      }
      if (roll < 9 && depth < 2) return { kind: 'fanOut', id: id(), branches: Array.from({ length: 2 + int(4) }, () => sequence(depth + 1, 1 + int(2), allowEvents)) };
      if (depth < 1) return { kind: 'sub', id: id(), program: sequence(depth + 1, 1 + int(3), false) };
      return activity();
    };
    const sequence = (depth: number, length: number, allowEvents: boolean): Op[] => Array.from({ length }, () => leaf(depth, allowEvents));
    const ops = sequence(0, 2 + int(5), true);
    if (chance(0.3)) ops.splice(1 + int(ops.length - 1), 0, { kind: 'continueAsNew', id: id() });
    const instanceId = `${prefix}-${index}`;
    return { instanceId, ops, events, ...addOperations(operations, instanceId, ops, id) };
  });
}

/**
 * Adds a fragile call (the driver rewinds the instance) and a gate (the driver cancels it) to some programs.
 * They draw from a random stream of their own, so a seed's programs keep the shape they had before.
 */
function addOperations(random: DeterministicRandom, instanceId: string, ops: Op[], id: () => string): Pick<Program, 'fragile' | 'gate'> {
  const int = (max: number) => Math.floor(random.next() * max);
  const chance = (p: number) => random.next() < p;
  const added: Pick<Program, 'fragile' | 'gate'> = {};
  if (chance(0.2)) {
    const subs = ops.filter((op): op is Extract<Op, { kind: 'sub' }> => op.kind === 'sub');
    const into = subs.length > 0 && chance(0.5) ? subs[int(subs.length)]!.program : ops;
    into.splice(int(into.length + 1), 0, { kind: 'fragile', id: id() });
    added.fragile = true;
  }
  if (chance(0.2)) {
    const gate: Extract<Op, { kind: 'gate' }> = { kind: 'gate', id: id(), child: chance(0.5), cleanup: chance(0.7), swallow: chance(0.3) };
    ops.splice(int(ops.length + 1), 0, gate);
    added.gate = { key: `${instanceId}/${gate.id}`, ...(gate.child ? { childId: gateChildId(instanceId, gate.id) } : {}) };
  }
  return added;
}

/** The instance id of the child that waits at a gate of its own beside its parent's. */
export function gateChildId(instanceId: string, gateId: string): string {
  return `${instanceId}.${gateId}`;
}

/** Side effects per activity call, keyed `run/instance/op`: a call may run more than once, never zero times. */
export type EffectCounter = Map<string, number>;

/**
 * The app that runs programs: one orchestration interprets them, one activity counts its effects. With
 * `inline`, the activities run inside the orchestrator's invocation, and unretried calls are `ctx.step`s.
 */
export function createChaosApp(effects: EffectCounter, run: string, options: { inline?: boolean; hooks?: DriverHooks } = {}): App {
  const app = createApp({ logger: silentLogger });
  const hooks: DriverHooks = options.hooks ?? { atGate: () => undefined, isFixed: () => true };
  const count = (key: string) => effects.set(`${run}/${key}`, (effects.get(`${run}/${key}`) ?? 0) + 1);
  const effect = async ({ key, failures }: { key: string; failures: number }, actx: { attempt: number }) => {
    count(key);
    if (actx.attempt <= failures) throw new Error(`planned failure of attempt ${actx.attempt}`);
    return `ok@${actx.attempt}`;
  };
  const fragile = async ({ key, root }: { key: string; root: string }) => {
    count(key);
    if (!hooks.isFixed(root)) throw new Error(`${key} is broken until the driver fixes it`);
    return 'fixed';
  };
  app.activity('fragile', fragile);
  app.activity('atGate', async (key: string) => {
    count(`${key}/at-gate`);
    hooks.atGate(key);
  });
  const inline = options.inline ? { inline: true, timeout: '500ms' } : {};
  app.activity('effect', effect, inline);
  app.activity('effectRetried', effect, { retry: { maxAttempts: 3, initialInterval: '1s', backoffCoefficient: 1 }, ...inline });
  const call = (ctx: OrchestrationContext, retried: boolean, input: { key: string; failures: number }) =>
    options.inline && !retried
      ? ctx.step('effect', (actx) => effect(input, actx), { retry: { maxAttempts: 1 }, timeout: '500ms' })
      : ctx.callActivity<string>(retried ? 'effectRetried' : 'effect', input);

  const runOps = async (ctx: OrchestrationContext, ops: Op[], results: string[], from: number, root: string): Promise<string[] | { continueAt: number; results: string[] }> => {
    for (let i = from; i < ops.length; i++) {
      const op = ops[i]!;
      switch (op.kind) {
        case 'activity': {
          const key = `${ctx.instanceId}/${op.id}`;
          try {
            results.push(`${op.id}:${await call(ctx, op.retried, { key, failures: op.failures })}`);
          } catch (error) {
            results.push(`${op.id}:failed(${(error as Error).name})`);
          }
          break;
        }
        case 'timer':
          await ctx.sleep(`${op.seconds}s`);
          results.push(`${op.id}:slept`);
          break;
        case 'event':
          results.push(`${op.id}:${await ctx.waitForEvent<string>(op.name)}`);
          break;
        case 'fanOut': {
          const branches = await Promise.all(op.branches.map(async (branch) => ((await runOps(ctx, branch, [], 0, root)) as string[]).join(',')));
          results.push(`${op.id}:[${branches.join('|')}]`);
          break;
        }
        case 'sub':
          results.push(`${op.id}:${JSON.stringify(await ctx.callSubOrchestration<string[]>('program', { ops: op.program, root }))}`);
          break;
        case 'continueAsNew':
          results.push(`${op.id}:continued`);
          return { continueAt: i + 1, results };
        case 'fragile': {
          const input = { key: `${ctx.instanceId}/${op.id}`, root };
          results.push(`${op.id}:${await (options.inline ? ctx.step('fragile', () => fragile(input), { retry: { maxAttempts: 1 }, timeout: '500ms' }) : ctx.callActivity<string>('fragile', input))}`);
          break;
        }
        case 'gate': {
          const key = `${ctx.instanceId}/${op.id}`;
          ctx.setStatus({ gate: op.id });
          try {
            await Promise.all([
              ctx.waitForEvent('never'),
              ctx.callActivity('atGate', key),
              ...(op.child ? [ctx.callSubOrchestration('program', { ops: [{ kind: 'gate', id: 'g', child: false, cleanup: true, swallow: false }], root }, { instanceId: gateChildId(ctx.instanceId, op.id) })] : []),
            ]);
          } catch (error) {
            if (!(error instanceof CancelledError)) throw error;
            if (op.cleanup) results.push(`${op.id}:cleanup ${await ctx.nonCancellable(() => call(ctx, false, { key: `${key}/cleanup`, failures: 0 }))}`);
            if (!op.swallow) throw error;
            results.push(`${op.id}:cancelled (${error.reason ?? 'no reason'})`);
            return results;
          }
          break;
        }
      }
    }
    return results;
  };
  app.orchestration('program', async (ctx, input: Input) => {
    const root = input.root ?? ctx.instanceId;
    const outcome = await runOps(ctx, input.ops, [...(input.results ?? [])], input.resumeAt ?? 0, root);
    if (Array.isArray(outcome)) return outcome;
    ctx.continueAsNew({ ops: input.ops, resumeAt: outcome.continueAt, results: outcome.results, ...(input.root ? { root: input.root } : {}) });
    return [];
  });
  return app;
}

/** What a program ended with: the comparison key of two runs. */
export interface Outcome {
  status: string;
  output?: unknown;
  error?: string;
  /** How it failed before the driver fixed its fragile call and rewound it. */
  failedFirst?: Outcome;
}

/** Every instance of a run (parents, children), from the store. */
export async function allInstanceIds(store: InstanceStore): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listInstances({ limit: 1000, cursor });
    ids.push(...page.instances.map((instance) => instance.instanceId));
    cursor = page.cursor;
  } while (cursor);
  return ids.sort();
}

/**
 * The invariants of a run under faults: each activity result recorded exactly once in every history (a
 * result a rewind undid does not count), a single firing per timer, every call that completed in the
 * reference ran at least once, and no inbox message left. Returns the violations, each naming the instance.
 */
export async function checkRun(options: { client: Client; store: InstanceStore; ids: string[]; effects: EffectCounter; run: string; referenceEffects: Iterable<string> }): Promise<string[]> {
  const { client, store, ids, effects, run } = options;
  const violations: string[] = [];
  for (const instanceId of ids) {
    const status = await client.getStatus(instanceId);
    for (let generation = 0; generation <= status.generation; generation++) {
      const history: HistoryEvent[] = await client.getHistory(instanceId, { generation });
      const completions = new Map<number, number>();
      const scheduled = new Set<number>();
      // Calls the cancellation rejected may get no result: they were open when it arrived.
      const cancelledAt = history.find((event) => event.type === 'ExecutionCancelRequested')?.eventId ?? Infinity;
      const openAtCancel = new Set<number>();
      const rewound = rewoundEvents(history);
      for (const event of history) {
        if (rewound.has(event.eventId)) continue;
        if (event.type === 'ActivityScheduled' || event.type === 'TimerCreated' || event.type === 'SubOrchestrationScheduled') {
          if (scheduled.has(event.taskId)) violations.push(`${instanceId} g${generation}: task ${event.taskId} scheduled twice`);
          scheduled.add(event.taskId);
          if (event.eventId < cancelledAt) openAtCancel.add(event.taskId);
        }
        if ('taskId' in event && !scheduled.has(event.taskId) && event.type !== 'ActivityScheduled' && event.type !== 'TimerCreated' && event.type !== 'SubOrchestrationScheduled') {
          violations.push(`${instanceId} g${generation}: ${event.type} for task ${event.taskId}, which was never scheduled`);
        }
        if (event.type === 'ActivityCompleted' || event.type === 'ActivityFailed' || event.type === 'TimerFired' || event.type === 'SubOrchestrationCompleted' || event.type === 'SubOrchestrationFailed') {
          completions.set(event.taskId, (completions.get(event.taskId) ?? 0) + 1);
        }
      }
      for (const [taskId, count] of completions) if (count > 1) violations.push(`${instanceId} g${generation}: task ${taskId} recorded ${count} results`);
      const finished = generation < status.generation || ['Completed', 'Failed', 'Cancelled'].includes(status.status);
      const excused = (taskId: number) => cancelledAt !== Infinity && openAtCancel.has(taskId);
      if (finished) for (const taskId of scheduled) if (!completions.has(taskId) && !excused(taskId)) violations.push(`${instanceId} g${generation}: task ${taskId} never completed`);
    }
    const state = await store.loadStep(instanceId);
    if (state && state.inbox.length > 0) {
      // Where the instance stands says why nobody applied them (ended, set aside, or waiting for a doorbell nobody rang).
      const { instance } = state;
      const last = (await client.getHistory(instanceId, { generation: instance.generation })).slice(-6).map((event) => `${event.type}${'taskId' in event ? `#${event.taskId}` : ''}`);
      const stands = `${instance.status}${instance.rewindRequested ? ' (rewind requested)' : ''} at event ${instance.lastEventId}, revision ${instance.revision}, last events ${last.join(', ')}`;
      violations.push(`${instanceId}: ${state.inbox.length} inbox message(s) left: ${state.inbox.map((m) => `${m.messageId} ${m.event.type}`).join(', ')}; the instance is ${stands}`);
    }
  }
  for (const key of options.referenceEffects) {
    if (!effects.get(`${run}/${key}`)) violations.push(`activity ${key} completed in the reference run but never ran in ${run}`);
  }
  return violations;
}

/** Retries a client call through injected faults, as a caller of a real service would. */
export async function persist<T>(call: () => Promise<T>, attempts = 50): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const name = (error as Error).name;
      // A simulated crash of the caller's request (an eager start's first step died with it) is retried as a lost response.
      const injected = /Injected|TimeoutError|ServiceUnavailable|InternalError|ProvisionedThroughput|TransactionCanceled|SimulatedCrash/.test(name) || (error as Error).message.includes('(injected)');
      if (!injected || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
