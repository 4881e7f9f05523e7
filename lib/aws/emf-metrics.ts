import type { MetricsSink, MetricUnit } from '../ports.js';

/** CloudWatch takes at most 100 values of one metric in one line. */
const MAX_VALUES = 100;

export interface EmfMetricsOptions {
  /** @defaultValue 'Perdure' */
  namespace?: string;
  /** Dimensions on every metric, e.g. `{ Table: <the table's name> }`, unique per stack. */
  common: Record<string, string>;
  /** @defaultValue a line on stdout, which Lambda sends to CloudWatch Logs */
  write?: (line: string) => void;
}

interface Group {
  dimensions: Record<string, string>;
  metrics: Map<string, { unit: MetricUnit; values: number[] }>;
}

/**
 * Metrics in CloudWatch's embedded metric format: JSON lines on stdout that CloudWatch Logs turns into
 * metrics, with no API call and nothing to wait for. Values are kept per invocation and written at its end
 * (`flush`), one line per set of dimensions: counts summed, latencies and sizes as lists of values. Each
 * line has two dimension sets, the common ones with the line's own (`Orchestration`, `Activity`, `Queue`)
 * and the common ones alone, so that both the whole app and each name can be graphed and alarmed on.
 * `createLambdaHandlers` makes one for you (its `Table` dimension is the stack's table).
 * @example
 * const metrics = new EmfMetrics({ common: { Table: 'orders-table' } });
 * const runtime = createAwsRuntime(app, configFromEnvironment(), { metrics });
 * // ... after each invocation:
 * metrics.flush();
 */
export class EmfMetrics implements MetricsSink {
  private readonly namespace: string;
  private readonly write: (line: string) => void;
  private readonly groups = new Map<string, Group>();

  constructor(private readonly options: EmfMetricsOptions) {
    this.namespace = options.namespace ?? 'Perdure';
    this.write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
  }

  put(name: string, value: number, unit: MetricUnit, dimensions: Record<string, string> = {}): void {
    const key = JSON.stringify(Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : 1)));
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = { dimensions: { ...dimensions }, metrics: new Map() }));
    let metric = group.metrics.get(name);
    if (!metric) group.metrics.set(name, (metric = { unit, values: [] }));
    if (unit === 'Count' && metric.values.length > 0) metric.values[0]! += value;
    else metric.values.push(value);
    if (metric.values.length >= MAX_VALUES) this.flush();
  }

  flush(): void {
    const timestamp = Date.now();
    const common = Object.keys(this.options.common);
    for (const group of this.groups.values()) {
      const own = Object.keys(group.dimensions).filter((key) => !common.includes(key));
      const line: Record<string, unknown> = {
        _aws: {
          Timestamp: timestamp,
          CloudWatchMetrics: [
            {
              Namespace: this.namespace,
              Dimensions: own.length ? [[...common, ...own], common] : [common],
              Metrics: [...group.metrics].map(([Name, { unit }]) => ({ Name, Unit: unit })),
            },
          ],
        },
        ...this.options.common,
        ...group.dimensions,
      };
      for (const [name, { unit, values }] of group.metrics) line[name] = unit === 'Count' || values.length === 1 ? values[0] : values;
      this.write(JSON.stringify(line));
    }
    this.groups.clear();
  }
}
