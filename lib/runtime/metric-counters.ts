import type { MetricsSink, MetricUnit } from '../ports.js';

/** One metric by one set of dimensions, since the counters started. */
export interface MetricSeries {
  name: string;
  unit: MetricUnit;
  dimensions: Record<string, string>;
  /** Values put. */
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** What `GET /metrics` answers. */
export interface MetricsSnapshot {
  /** ISO 8601: when counting began (the process's start). */
  since: string;
  /** Each metric's sum over every dimension (for latencies: their count is in `series`). */
  totals: Record<string, number>;
  series: MetricSeries[];
}

/**
 * Metrics kept in memory, for a process that lives on (`npm start`): the same names and dimensions the
 * Lambda functions write to CloudWatch, summed since the start.
 * @example
 * const counters = new MetricCounters();
 * const env = await TestEnvironment.create(app, { metrics: counters });
 * // ... run instances, then:
 * expect(counters.snapshot().totals.ActivityFailures).toBe(0);
 */
export class MetricCounters implements MetricsSink {
  private readonly series = new Map<string, MetricSeries>();
  private readonly since = new Date();

  put(name: string, value: number, unit: MetricUnit, dimensions: Record<string, string> = {}): void {
    const key = `${name}\u0000${Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('\u0000')}`;
    const series = this.series.get(key);
    if (!series) {
      this.series.set(key, { name, unit, dimensions: { ...dimensions }, count: 1, sum: value, min: value, max: value });
      return;
    }
    series.count++;
    series.sum += value;
    series.min = Math.min(series.min, value);
    series.max = Math.max(series.max, value);
  }

  snapshot(): MetricsSnapshot {
    const totals: Record<string, number> = {};
    const series = [...this.series.values()].map((s) => ({ ...s, dimensions: { ...s.dimensions } })).sort((a, b) => (a.name === b.name ? JSON.stringify(a.dimensions).localeCompare(JSON.stringify(b.dimensions)) : a.name < b.name ? -1 : 1));
    for (const s of series) totals[s.name] = (totals[s.name] ?? 0) + s.sum;
    return { since: this.since.toISOString(), totals, series };
  }
}
