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

/**
 * Keeps live executors of recently stepped instances (least recently used out first), so the next step
 * of a long orchestration applies only its new events instead of replaying the whole history.
 * A step takes the entry out while it runs and puts it back after its commit succeeded, as soon as it has
 * nothing more to run on it (before the dispatch, whose messages may start the next step).
 */
export class ExecutorCache {
  private readonly entries = new Map<string, CachedExecution>();

  constructor(private readonly capacity: number) {}

  /** Removes and returns the instance's entry: one step at a time owns an executor. */
  take(instanceId: string): CachedExecution | undefined {
    const entry = this.entries.get(instanceId);
    this.entries.delete(instanceId);
    return entry;
  }

  put(instanceId: string, entry: CachedExecution): void {
    if (this.capacity <= 0) return;
    this.entries.delete(instanceId);
    this.entries.set(instanceId, entry);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  clear(): void {
    this.entries.clear();
  }

  delete(instanceId: string): void {
    this.entries.delete(instanceId);
  }
}
