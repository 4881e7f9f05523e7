import type { Interceptor } from '../core/interceptors.js';
import type { MetricsSink } from '../ports.js';

/**
 * The metrics Perdure reports (CloudWatch namespace `Perdure`), by the dimension each names. Counts are
 * best read as sums; latencies as percentiles.
 * @example new Metric({ namespace: 'Perdure', metricName: METRICS.quarantines, dimensionsMap: { Table: table.tableName }, statistic: 'Sum' });
 */
export const METRICS = {
  /** Deliveries of an instance's doorbells to the orchestrator that found the instance (by `Orchestration`). */
  steps: 'Steps',
  /** How long such a delivery took, inline steps included, ms (by `Orchestration`). */
  stepLatency: 'StepLatency',
  /** Commits of history: one per step of the history (by `Orchestration`). */
  commits: 'Commits',
  /** Commits that lost the history to another writer and ran again (by `Orchestration`). */
  commitConflicts: 'CommitConflicts',
  /** Time spent replaying recorded history (a cold executor, or the tail another worker wrote), ms (by `Orchestration`). */
  replayTime: 'ReplayTime',
  /** Attempts of activities and `ctx.step` functions, queued and inline (by `Activity`). */
  activityAttempts: 'ActivityAttempts',
  /** Attempts that threw or timed out (by `Activity`). */
  activityFailures: 'ActivityFailures',
  /** Attempts after the first: retries by the retry policy (by `Activity`). */
  activityRetries: 'ActivityRetries',
  /** How long an attempt ran, ms (by `Activity`). */
  activityLatency: 'ActivityLatency',
  /** Durable timers that fired. */
  timersFired: 'TimersFired',
  /** How late a timer fired after its time, ms. */
  timerDelay: 'TimerDelay',
  /** How long a message waited in its queue before it was received, ms (by `Queue`: orchestrator, activities). */
  queueAge: 'QueueAge',
  /** Payloads moved to S3 because they did not fit in their item or message. */
  payloadOffloads: 'PayloadOffloads',
  /** The bytes of those payloads (JSON, before gzip). */
  payloadOffloadBytes: 'PayloadOffloadBytes',
  /** Instances set aside for an operator (by `Orchestration`). */
  quarantines: 'Quarantines',
  /** Messages received from a dead-letter queue (by `Queue`: activities, orchestrations). */
  deadLetters: 'DeadLetters',
} as const;

/**
 * The interceptor that turns the runtime's hooks into metrics in `sink`. The Lambda handlers, the local
 * stack and `TestEnvironment.create(app, { metrics })` add it for you.
 * @example
 * const counters = new MetricCounters();
 * const env = await TestEnvironment.create(app, { metrics: counters });   // adds metricsInterceptor(counters)
 */
export function metricsInterceptor(sink: MetricsSink): Interceptor {
  const byOrchestration = (name: string | undefined): Record<string, string> => (name === undefined ? {} : { Orchestration: name });
  return {
    async step(info, next) {
      const began = performance.now();
      const outcome = await next();
      if (outcome !== 'missing') {
        const dimensions = byOrchestration(info.orchestration);
        sink.put(METRICS.steps, 1, 'Count', dimensions);
        sink.put(METRICS.stepLatency, performance.now() - began, 'Milliseconds', dimensions);
      }
      return outcome;
    },
    async phase(phase, next) {
      const began = performance.now();
      await next();
      const dimensions = byOrchestration(phase.step.orchestration);
      if (phase.name === 'replay') sink.put(METRICS.replayTime, performance.now() - began, 'Milliseconds', dimensions);
      else if (phase.name === 'commit') sink.put(phase.conflict ? METRICS.commitConflicts : METRICS.commits, 1, 'Count', dimensions);
    },
    async activity(attempt, next) {
      const dimensions = { Activity: attempt.name };
      sink.put(METRICS.activityAttempts, 1, 'Count', dimensions);
      if (attempt.attempt > 1) sink.put(METRICS.activityRetries, 1, 'Count', dimensions);
      const began = performance.now();
      try {
        return await next(attempt);
      } catch (error) {
        sink.put(METRICS.activityFailures, 1, 'Count', dimensions);
        throw error;
      } finally {
        sink.put(METRICS.activityLatency, performance.now() - began, 'Milliseconds', dimensions);
      }
    },
    async timer(timer, next) {
      await next();
      sink.put(METRICS.timersFired, 1, 'Count');
      sink.put(METRICS.timerDelay, timer.lateMs, 'Milliseconds');
    },
    notice(notice) {
      switch (notice.type) {
        case 'received':
          return sink.put(METRICS.queueAge, notice.ageMs, 'Milliseconds', { Queue: notice.queue });
        case 'quarantined':
          return sink.put(METRICS.quarantines, 1, 'Count', { Orchestration: notice.orchestration });
        case 'deadLetter':
          return sink.put(METRICS.deadLetters, 1, 'Count', { Queue: notice.queue });
        case 'payloadOffloaded':
          sink.put(METRICS.payloadOffloads, 1, 'Count');
          return sink.put(METRICS.payloadOffloadBytes, notice.bytes, 'Bytes');
        default: {
          const unknown: never = notice;
          return unknown;
        }
      }
    },
  };
}
