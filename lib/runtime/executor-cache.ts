import type { OrchestrationExecutor } from '../core/replay.js';
import type { InstanceRecord } from '../ports.js';

export interface CachedExecution {
  executor: OrchestrationExecutor;
  generation: number;
  /** The history event the executor has applied up to. */
  lastEventId: number;
  incarnation?: string;
  /** The record as of that point, when the step that cached the executor knew it. */
  instance?: InstanceRecord;
}

/** An entry used within this long is not evicted for a newcomer: the newcomer is not kept instead. */
const MIN_IDLE_BEFORE_EVICTION_MS = 60_000;

/**
 * Keeps live executors of recently stepped instances, so the next step of a long orchestration applies only
 * its new events instead of replaying the whole history.
 * A step takes the entry out while it runs and puts it back after its commit succeeded, as soon as it has
 * nothing more to run on it (before the dispatch, whose messages may start the next step).
 *
 * When more instances are in flight than the cache holds, they step in turn, and least-recently-used
 * eviction would always evict the executor needed next: none would ever be found. So a full cache lets a
 * newcomer in only in place of an entry idle for a minute or more; otherwise the newcomer is not kept, and
 * the executors that are kept go on serving their instances (as many hits as the cache has room for).
 */
export class ExecutorCache {
  private readonly entries = new Map<string, { execution: CachedExecution; usedAt: number }>();

  constructor(
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Removes and returns the instance's entry: one step at a time owns an executor. */
  take(instanceId: string): CachedExecution | undefined {
    const entry = this.entries.get(instanceId);
    this.entries.delete(instanceId);
    return entry?.execution;
  }

  /** Keeps the entry, unless the cache is full of entries in use (see above). */
  put(instanceId: string, execution: CachedExecution): void {
    if (this.capacity <= 0) return;
    this.entries.delete(instanceId);
    const now = this.now();
    if (this.entries.size >= this.capacity) {
      const [oldestId, oldest] = this.entries.entries().next().value!;
      if (now - oldest.usedAt < MIN_IDLE_BEFORE_EVICTION_MS) return;
      this.entries.delete(oldestId);
    }
    this.entries.set(instanceId, { execution, usedAt: now });
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  delete(instanceId: string): void {
    this.entries.delete(instanceId);
  }
}
