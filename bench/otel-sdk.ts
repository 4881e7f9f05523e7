/**
 * Registers an OpenTelemetry SDK for a benchmark, as the ADOT layer does in Lambda: a tracer provider with
 * a batch span processor, the AsyncLocalStorage context manager, and an exporter that counts spans and
 * drops them (no network). Preload it to run any benchmark with tracing on:
 *   node --import tsx --import ./bench/otel-sdk.ts bench/cost.ts
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

/** Spans the SDK exported, by name. */
export const exported = new Map<string, number>();

const exporter: SpanExporter = {
  export(spans: ReadableSpan[], done) {
    for (const span of spans) {
      const name = span.name.split(' ')[0]!;
      exported.set(name, (exported.get(name) ?? 0) + 1);
    }
    done({ code: 0 });
  },
  async shutdown() {},
};

/** Registers the SDK globally; returns what turns it off again. */
export function registerSdk(): { provider: BasicTracerProvider; off: () => Promise<void> } {
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536, maxExportBatchSize: 512 })] });
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  trace.setGlobalTracerProvider(provider);
  return {
    provider,
    off: async () => {
      await provider.forceFlush();
      trace.disable();
      context.disable();
    },
  };
}

// Preloaded (`--import`): on for the whole run, with the span count printed at the end.
if (process.argv[1] && !/otel-sdk|tracing\.ts$/.test(process.argv[1])) {
  const { provider } = registerSdk();
  process.on('beforeExit', () => {
    void provider.forceFlush().then(() => {
      if (exported.size) console.log(`\nOpenTelemetry SDK registered (bench/otel-sdk.ts): ${[...exported].map(([name, count]) => `${count} ${name}`).join(', ')} spans exported`);
      exported.clear();
    });
  });
}
