/**
 * Fault injection for tests and the chaos run: a seeded injector that decides which calls fail the way
 * the services do (throttling, 5xx, a response lost after the write happened) or are slow (past a
 * message's visibility timeout, past a function's timeout), proxies that do it to the in-memory ports, and
 * crash points that kill a worker between two writes. The AWS SDK middleware is in
 * `aws/sdk-faults.ts`. Seeded, so a failing run reproduces from its seed.
 */
import { SimulatedCrash, type CrashHook } from './runtime/crash-points.js';
import { DeterministicRandom } from './core/deterministic-random.js';

/**
 * What a call can suffer: refused before it runs (throttle, server-error), run and then reported failed
 * (lost-response), or slow: it arrives late or answers late (by `FaultInjector.slowDelay()`), and succeeds.
 */
export type CallFault = 'throttle' | 'server-error' | 'lost-response' | 'slow';

export interface FaultRates {
  /** Probability that a call is throttled (DynamoDB ProvisionedThroughputExceeded / TransactionConflict, SQS/S3 503). */
  throttle?: number;
  /** Probability of a 500 before the call runs. */
  serverError?: number;
  /** Probability that the call runs and its response is lost (a timeout): the most dangerous fault for idempotency. */
  lostResponse?: number;
  /**
   * Probability that a call, or a whole invocation of a queue handler, is slow: long enough to outlast its
   * message's visibility timeout and, sometimes, its function's timeout, so that the message is delivered
   * again while the slow one still runs.
   */
  slow?: number;
  /** How much longer a slow call or invocation takes, in milliseconds: a delay between the two. @defaultValue [250, 4000] */
  slowMs?: [number, number];
  /** Probability that a worker crashes at each crash point it passes. */
  crash?: number;
  /** Probability that a message (activity task, timer, doorbell) is sent twice. */
  duplicate?: number;
  /** Probability that a batch of messages is delivered in another order. */
  reorder?: number;
}

/** A fault at a chosen call: the `nth` (1-based) call whose operation matches. */
export interface FaultRule {
  operation: string | RegExp;
  nth: number;
  fault: CallFault | 'crash';
}

export { SimulatedCrash };

/** A fault the injector raised; `lost-response` ones happened after the call took effect. */
export class InjectedFault extends Error {
  constructor(
    message: string,
    readonly fault: CallFault,
  ) {
    super(message);
  }
}

/** Decides which calls fail, counts what it injected, and can be switched off (e.g. to let a run drain). */
export class FaultInjector {
  /** Injected faults by `fault operation`, e.g. `throttle DynamoDB.TransactWriteItems`. */
  readonly injected = new Map<string, number>();
  enabled = true;
  private readonly random: DeterministicRandom;
  private readonly seen = new Map<FaultRule, number>();

  constructor(
    readonly seed: number,
    private readonly rates: FaultRates = {},
    private readonly rules: FaultRule[] = [],
  ) {
    this.random = new DeterministicRandom(`faults-${seed}`);
  }

  get total(): number {
    let sum = 0;
    for (const count of this.injected.values()) sum += count;
    return sum;
  }

  /** The fault for this call of `operation` (e.g. `DynamoDB.TransactWriteItems`), if any. */
  callFault(operation: string): CallFault | undefined {
    const chosen = this.ruleFor(operation);
    if (chosen) return chosen === 'crash' ? undefined : this.count(chosen, operation);
    if (!this.enabled) return undefined;
    const roll = this.random.next();
    const { throttle = 0, serverError = 0, lostResponse = 0, slow = 0 } = this.rates;
    if (roll < throttle) return this.count('throttle', operation);
    if (roll < throttle + serverError) return this.count('server-error', operation);
    if (roll < throttle + serverError + lostResponse) return this.count('lost-response', operation);
    if (roll < throttle + serverError + lostResponse + slow) return this.count('slow', operation);
    return undefined;
  }

  /** How long a slow call or invocation is held up, in milliseconds (drawn from `slowMs`). */
  slowDelay(): number {
    const [min, max] = this.rates.slowMs ?? [250, 4_000];
    return Math.round(min + this.random.next() * (max - min));
  }

  /** Whether a slow call is slow to arrive (its effect lands late) rather than slow to answer (the caller learns late). */
  slowToArrive(): boolean {
    return this.random.next() < 0.5;
  }

  /** The delay before a whole invocation of `operation` (e.g. `Lambda.orchestrator`) runs, or 0: a starved or paused function. */
  invocationDelay(operation: string): number {
    const chosen = this.ruleFor(operation);
    if (chosen === 'slow' || (!chosen && this.enabled && this.random.next() < (this.rates.slow ?? 0))) {
      this.count('slow', operation);
      return this.slowDelay();
    }
    return 0;
  }

  /** Whether to send this message twice. */
  duplicate(operation: string): boolean {
    if (!this.enabled || this.random.next() >= (this.rates.duplicate ?? 0)) return false;
    this.count('duplicate', operation);
    return true;
  }

  /** The items in another order, sometimes. */
  reorder<T>(items: T[], operation: string): T[] {
    if (items.length < 2 || !this.enabled || this.random.next() >= (this.rates.reorder ?? 0)) return items;
    this.count('reorder', operation);
    const shuffled = [...items];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(this.random.next() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    return shuffled;
  }

  /** The hook the workers call at their crash points. */
  readonly crashHook: CrashHook = (point) => {
    const chosen = this.ruleFor(point) === 'crash';
    if (chosen || (this.enabled && this.random.next() < (this.rates.crash ?? 0))) {
      this.count('crash', point);
      throw new SimulatedCrash(point);
    }
  };

  /** A one-line summary: `12 faults: 5 throttle DynamoDB.Query, ...`. */
  summary(): string {
    const parts = [...this.injected].sort((a, b) => b[1] - a[1]).map(([what, n]) => `${n} ${what}`);
    return `${this.total} faults${parts.length ? `: ${parts.join(', ')}` : ''}`;
  }

  private ruleFor(operation: string): FaultRule['fault'] | undefined {
    for (const rule of this.rules) {
      const matches = typeof rule.operation === 'string' ? rule.operation === operation : rule.operation.test(operation);
      if (!matches) continue;
      const n = (this.seen.get(rule) ?? 0) + 1;
      this.seen.set(rule, n);
      if (n === rule.nth) return rule.fault;
    }
    return undefined;
  }

  private count<T extends string>(fault: T, operation: string): T {
    const key = `${fault} ${operation}`;
    this.injected.set(key, (this.injected.get(key) ?? 0) + 1);
    return fault;
  }
}

/**
 * The same faults for an in-memory port: each of the named async methods may be refused before it runs
 * or have its result lost after it ran. `service` names it in the counts, e.g. `store.commitStep`.
 */
export function withFaults<T extends object>(target: T, injector: FaultInjector, service: string, methods: readonly (keyof T & string)[]): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver) as unknown;
      if (typeof value !== 'function' || typeof property !== 'string' || !methods.includes(property as keyof T & string)) return value;
      return async (...args: unknown[]) => {
        const fault = injector.callFault(`${service}.${property}`);
        if (fault === 'throttle' || fault === 'server-error') throw new InjectedFault(`${service}.${property}: ${fault} (injected)`, fault);
        const late = fault === 'slow' ? { ms: injector.slowDelay(), arrives: injector.slowToArrive() } : undefined;
        if (late?.arrives) await sleep(late.ms);
        const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(object, args);
        if (late && !late.arrives) await sleep(late.ms);
        if (fault === 'lost-response') throw new InjectedFault(`${service}.${property}: response lost (injected)`, fault);
        return result;
      };
    },
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
