import { AsyncLocalStorage } from 'node:async_hooks';
import { addLedgers, emptyLedger, type CostLedger } from '../core/cost-ledger.js';
import type { UsageMeter } from '../ports.js';

/** The function's memory in MB: Lambda says it in the environment; elsewhere the construct's default. */
function functionMemoryMb(): number {
  const mb = Number(process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  return Number.isFinite(mb) && mb > 0 ? mb : 512;
}

/**
 * The ledger of one step or attempt while it runs: what the adapters report of the requests made inside it
 * (through {@link usageMeter}), what it was seeded with (its delivery's share of the queue's requests and of
 * the invocation), and the invocation time since it began or since its last `take`.
 */
export class CostScope {
  private pending: CostLedger;
  private mark = performance.now();

  constructor(
    seed?: CostLedger,
    private readonly memoryMb = functionMemoryMb(),
  ) {
    this.pending = addLedgers(seed, undefined);
  }

  add(ledger: Partial<CostLedger> | undefined): void {
    if (ledger) this.pending = addLedgers(this.pending, ledger);
  }

  request(service: string, operation: string, usage: Parameters<UsageMeter['request']>[2] = {}): void {
    const key = `${service}.${operation}`;
    const { count = 1, ...units } = usage;
    this.pending.requests[key] = (this.pending.requests[key] ?? 0) + count;
    this.add(units);
  }

  /** What was used since the scope began or since the last take, the invocation time included; starts over. */
  take(): CostLedger {
    const now = performance.now();
    const taken = this.pending;
    taken.lambdaMs += now - this.mark;
    taken.gbSeconds += ((now - this.mark) / 1000) * (this.memoryMb / 1024);
    this.mark = now;
    this.pending = emptyLedger();
    return taken;
  }

  /** Runs `fn` with this scope as the one requests are counted in. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return scopes.run(this, fn);
  }
}

const scopes = new AsyncLocalStorage<CostScope>();

/** The scope of the step or attempt the caller runs in, if any. */
export function currentCostScope(): CostScope | undefined {
  return scopes.getStore();
}

/** The meter the runtime gives the AWS adapters: each request counts in the scope it was made in; outside any (a client's), it is not counted. */
export const usageMeter: UsageMeter = {
  request(service, operation, usage) {
    scopes.getStore()?.request(service, operation, usage);
  },
};
