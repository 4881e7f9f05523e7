/**
 * Randomized orchestrations for the chaos run: a seeded generator of small programs (activities that fail
 * and are retried, timers, external events, fan-out, sub-orchestrations, continueAsNew), one orchestration
 * that interprets them, and the checks a run under faults must pass against a run without.
 */
import { DeterministicRandom } from '../lib/core/deterministic-random.js';
import type { HistoryEvent } from '../lib/core/history-events.js';
import { createApp, silentLogger, type App, type Client, type OrchestrationContext } from '../lib/index.js';
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
  | { kind: 'continueAsNew'; id: string };

export interface Program {
  instanceId: string;
  ops: Op[];
  /** Events to raise, by name, with their data. */
  events: Record<string, string>;
}

interface Input {
  ops: Op[];
  resumeAt?: number;
  results?: string[];
}

/** Generates `count` programs from `seed`; the same seed gives the same programs. */
export function generatePrograms(seed: number, count: number, prefix = `chaos-${seed}`): Program[] {
  const random = new DeterministicRandom(`programs-${seed}`);
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
    return { instanceId: `${prefix}-${index}`, ops, events };
  });
}

/** Side effects per activity call, keyed `run/instance/op`: a call may run more than once, never zero times. */
export type EffectCounter = Map<string, number>;

/**
 * The app that runs programs: one orchestration interprets them, one activity counts its effects. With
 * `inline`, the activities run inside the orchestrator's invocation, and unretried calls are `ctx.step`s.
 */
export function createChaosApp(effects: EffectCounter, run: string, options: { inline?: boolean } = {}): App {
  const app = createApp({ logger: silentLogger });
  const effect = async ({ key, failures }: { key: string; failures: number }, actx: { attempt: number }) => {
    effects.set(`${run}/${key}`, (effects.get(`${run}/${key}`) ?? 0) + 1);
    if (actx.attempt <= failures) throw new Error(`planned failure of attempt ${actx.attempt}`);
    return `ok@${actx.attempt}`;
  };
  const inline = options.inline ? { inline: true, timeout: '500ms' } : {};
  app.activity('effect', effect, inline);
  app.activity('effectRetried', effect, { retry: { maxAttempts: 3, initialInterval: '1s', backoffCoefficient: 1 }, ...inline });
  const call = (ctx: OrchestrationContext, retried: boolean, input: { key: string; failures: number }) =>
    options.inline && !retried
      ? ctx.step('effect', (actx) => effect(input, actx), { retry: { maxAttempts: 1 }, timeout: '500ms' })
      : ctx.callActivity<string>(retried ? 'effectRetried' : 'effect', input);

  const runOps = async (ctx: OrchestrationContext, ops: Op[], results: string[], from = 0): Promise<string[] | { continueAt: number; results: string[] }> => {
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
          const branches = await Promise.all(op.branches.map(async (branch) => ((await runOps(ctx, branch, [])) as string[]).join(',')));
          results.push(`${op.id}:[${branches.join('|')}]`);
          break;
        }
        case 'sub':
          results.push(`${op.id}:${JSON.stringify(await ctx.callSubOrchestration<string[]>('program', { ops: op.program }))}`);
          break;
        case 'continueAsNew':
          results.push(`${op.id}:continued`);
          return { continueAt: i + 1, results };
      }
    }
    return results;
  };
  app.orchestration('program', async (ctx, input: Input) => {
    const outcome = await runOps(ctx, input.ops, [...(input.results ?? [])], input.resumeAt ?? 0);
    if (Array.isArray(outcome)) return outcome;
    ctx.continueAsNew({ ops: input.ops, resumeAt: outcome.continueAt, results: outcome.results });
    return [];
  });
  return app;
}

/** What a program ended with: the comparison key of two runs. */
export interface Outcome {
  status: string;
  output?: unknown;
  error?: string;
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
 * The invariants of a run under faults: each activity result recorded exactly once in every history, a
 * single firing per timer, every call that completed in the reference ran at least once, and no inbox
 * message left. Returns the violations, each naming the instance.
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
      for (const event of history) {
        if (event.type === 'ActivityScheduled' || event.type === 'TimerCreated' || event.type === 'SubOrchestrationScheduled') {
          if (scheduled.has(event.taskId)) violations.push(`${instanceId} g${generation}: task ${event.taskId} scheduled twice`);
          scheduled.add(event.taskId);
        }
        if ('taskId' in event && !scheduled.has(event.taskId) && event.type !== 'ActivityScheduled' && event.type !== 'TimerCreated' && event.type !== 'SubOrchestrationScheduled') {
          violations.push(`${instanceId} g${generation}: ${event.type} for task ${event.taskId}, which was never scheduled`);
        }
        if (event.type === 'ActivityCompleted' || event.type === 'ActivityFailed' || event.type === 'TimerFired' || event.type === 'SubOrchestrationCompleted' || event.type === 'SubOrchestrationFailed') {
          completions.set(event.taskId, (completions.get(event.taskId) ?? 0) + 1);
        }
      }
      for (const [taskId, count] of completions) if (count > 1) violations.push(`${instanceId} g${generation}: task ${taskId} recorded ${count} results`);
      const finished = generation < status.generation || ['Completed', 'Failed'].includes(status.status);
      if (finished) for (const taskId of scheduled) if (!completions.has(taskId)) violations.push(`${instanceId} g${generation}: task ${taskId} never completed`);
    }
    const state = await store.loadStep(instanceId);
    if (state && state.inbox.length > 0) violations.push(`${instanceId}: ${state.inbox.length} inbox message(s) left: ${state.inbox.map((m) => m.messageId).join(', ')}`);
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
      const injected = /Injected|TimeoutError|ServiceUnavailable|InternalError|ProvisionedThroughput|TransactionCanceled/.test(name) || (error as Error).message.includes('(injected)');
      if (!injected || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
