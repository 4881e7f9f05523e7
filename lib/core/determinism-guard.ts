import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * While orchestration code runs, `Date.now()`, `new Date()`, `Math.random()` and `crypto.randomUUID()`
 * return the context's replay-safe values, and `setTimeout`, `setInterval` and `fetch` report a
 * determinism violation. AsyncLocalStorage scopes this to the orchestration's own async continuations,
 * so activities and other code running in the same process see the real clock and randomness.
 */
export interface GuardedExecution {
  now(): number;
  random(): number;
  uuid(): string;
  /** Records and returns the error for a forbidden API used by orchestration code. */
  forbidden(api: string, advice: string): Error;
}

// One guard per process, even if two copies of this module are loaded (e.g. bundled twice).
const GLOBAL_KEY = Symbol.for('perdure.determinism-guard');
type GuardState = { storage: AsyncLocalStorage<GuardedExecution>; steps?: AsyncLocalStorage<string>; shields?: AsyncLocalStorage<true>; installed: boolean };
const state: GuardState = ((globalThis as Record<symbol, unknown>)[GLOBAL_KEY] as GuardState | undefined) ?? {
  storage: new AsyncLocalStorage<GuardedExecution>(),
  installed: false,
};
state.steps ??= new AsyncLocalStorage<string>();
state.shields ??= new AsyncLocalStorage<true>();
(globalThis as Record<symbol, unknown>)[GLOBAL_KEY] = state;
const storage = state.storage;

/** Runs `fn` (and every continuation it awaits) as code of `execution`. */
export function runGuarded<T>(execution: GuardedExecution, fn: () => T): T {
  if (!state.installed) install();
  return storage.run(execution, fn);
}

/**
 * Runs the function of `ctx.step(name)` as ordinary code (the real clock and randomness), and marks it so
 * that a durable call made from inside it is reported instead of recorded.
 */
export function runAsStep<T>(name: string, fn: () => T): T {
  return storage.exit(() => state.steps!.run(name, fn));
}

/** Runs orchestration code whose durable calls a cancellation does not reach (`ctx.nonCancellable`). */
export function runShielded<T>(fn: () => T): T {
  return state.shields!.run(true, fn);
}

/** True inside `ctx.nonCancellable`. */
export function shielded(): boolean {
  return state.shields!.getStore() === true;
}

/** The name of the `ctx.step` whose function is running here, if any. */
export function currentStep(): string | undefined {
  return storage.getStore() ? undefined : state.steps!.getStore();
}

function install(): void {
  state.installed = true;
  const RealDate = globalThis.Date;
  const realRandom = Math.random;

  const GuardedDate = function (this: unknown, ...args: unknown[]): unknown {
    const execution = storage.getStore();
    if (!new.target) return new RealDate(execution ? execution.now() : RealDate.now()).toString();
    return Reflect.construct(RealDate, args.length === 0 && execution ? [execution.now()] : args, new.target);
  } as unknown as DateConstructor;
  Object.setPrototypeOf(GuardedDate, RealDate);
  // Sharing the prototype keeps `instanceof Date` true for dates made before the guard was installed.
  Object.defineProperty(GuardedDate, 'prototype', { value: RealDate.prototype });
  Object.defineProperty(GuardedDate, 'name', { value: 'Date' });
  Object.defineProperty(GuardedDate, 'length', { value: 7 });
  GuardedDate.now = () => storage.getStore()?.now() ?? RealDate.now();
  globalThis.Date = GuardedDate;

  Math.random = () => storage.getStore()?.random() ?? realRandom();

  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (crypto?.randomUUID) {
    const realUuid = crypto.randomUUID.bind(crypto);
    crypto.randomUUID = () => storage.getStore()?.uuid() ?? realUuid();
  }

  forbid('setTimeout', 'use `await ctx.sleep(duration)`, a durable timer');
  forbid('setInterval', 'use a loop with `await ctx.sleep(duration)`');
  forbid('fetch', 'do I/O in an activity and call it with `ctx.callActivity`');
}

function forbid(name: 'setTimeout' | 'setInterval' | 'fetch', advice: string): void {
  const real = globalThis[name] as ((...args: unknown[]) => unknown) | undefined;
  if (typeof real !== 'function') return;
  const guarded = function (this: unknown, ...args: unknown[]): unknown {
    const execution = storage.getStore();
    if (execution) throw execution.forbidden(name, advice);
    return real.apply(this, args);
  };
  Object.assign(guarded, real);
  (globalThis as Record<string, unknown>)[name] = guarded;
}
