import { describe, expect, it } from 'vitest';
import type { OrchestrationExecutor } from '../../lib/core/replay.js';
import { ExecutorCache, type CachedExecution } from '../../lib/runtime/executor-cache.js';

const entry = (lastEventId: number): CachedExecution => ({ executor: {} as OrchestrationExecutor, generation: 0, lastEventId });

/** Steps `instances` in turn, `rounds` times, each step taking its executor and putting it back; returns the hits. */
function stepInTurn(cache: ExecutorCache, instances: number, rounds: number, clock: { now: number }): number {
  let hits = 0;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < instances; i++) {
      clock.now += 10;
      if (cache.take(`i-${i}`)) hits++;
      cache.put(`i-${i}`, entry(round + 1));
    }
  }
  return hits;
}

describe('the executor cache', () => {
  it('keeps what fits and hands each entry to one step at a time', () => {
    const cache = new ExecutorCache(2);
    cache.put('a', entry(3));
    expect(cache.take('a')?.lastEventId).toBe(3);
    expect(cache.take('a')).toBeUndefined(); // taken: the next step reads
    cache.put('a', entry(5));
    cache.put('a', entry(6)); // a newer position replaces the older
    expect(cache.take('a')?.lastEventId).toBe(6);
  });

  it('still finds executors when more instances step in turn than it holds (least-recently-used eviction would find none)', () => {
    const clock = { now: 0 };
    const cache = new ExecutorCache(100, () => clock.now);
    const hits = stepInTurn(cache, 400, 5, clock);
    // The 100 kept are found in each of the 4 later rounds; the 300 others are not kept.
    expect(hits).toBe(400);
    expect(cache.size).toBe(100);
  });

  it('lets a newcomer in, in place of the entry idle for a minute or more', () => {
    const clock = { now: 0 };
    const cache = new ExecutorCache(2, () => clock.now);
    cache.put('waits-a-day', entry(1));
    cache.put('busy', entry(1));
    clock.now += 30_000;
    cache.put('newcomer', entry(1));
    expect(cache.take('newcomer')).toBeUndefined(); // both entries were used within the minute
    clock.now += 31_000;
    cache.put('busy', cache.take('busy')!);
    cache.put('newcomer', entry(1));
    expect(cache.take('waits-a-day')).toBeUndefined(); // idle for 61 s: it made room
    expect(cache.take('newcomer')?.lastEventId).toBe(1);
    expect(cache.take('busy')?.lastEventId).toBe(1);
  });

  it('keeps nothing with no capacity', () => {
    const cache = new ExecutorCache(0);
    cache.put('a', entry(1));
    expect(cache.take('a')).toBeUndefined();
  });
});
