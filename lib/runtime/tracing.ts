import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { ClientOperation, MessageHeaders, Interceptor } from '../core/interceptors.js';

/**
 * OpenTelemetry tracing, built on the interceptors, through `@opentelemetry/api` only: without an SDK
 * registered (the ADOT Lambda layer or your own) every call below is the API's no-op and no header is written.
 *
 * An instance is one trace. Its start (the client's `start` span, or for a sub-orchestration the parent's
 * step) is stored with the instance as a W3C `traceparent`, and every message about the instance (activity
 * tasks, timers, doorbells) carries it: steps, activity attempts and timer firings are children of the
 * start, and each links to the span that sent its message (`perdure-link`), so the queues between them
 * show as links. Without a stored start the sender's span is the parent.
 */

/**
 * The span attributes Perdure sets.
 * @example const attempts = spans.filter((span) => span.attributes[SPAN_ATTRIBUTES.instanceId] === 'order-42');
 */
export const SPAN_ATTRIBUTES = {
  instanceId: 'perdure.instance_id',
  orchestration: 'perdure.orchestration',
  version: 'perdure.version',
  /** The call's position in history. */
  taskId: 'perdure.task_id',
  attempt: 'perdure.attempt',
  activity: 'perdure.activity',
  inline: 'perdure.inline',
  redelivered: 'perdure.redelivered',
  outcome: 'perdure.outcome',
  events: 'perdure.events',
  conflict: 'perdure.conflict',
  lateMs: 'perdure.timer.late_ms',
  queueAgeMs: 'perdure.queue_age_ms',
  event: 'perdure.event',
  operation: 'perdure.operation',
} as const;

/** The header that links a message to the span that sent it, when `traceparent` names the instance's trace. */
export const LINK_HEADER = 'perdure-link';

/**
 * The tracer of the registered SDK, or undefined when none is registered: each hook then goes straight to
 * `next`, so tracing that nobody collects costs a function call. The global provider is the API's proxy
 * (duck-typed: another copy of `@opentelemetry/api`, such as the ADOT layer's, registers its own class),
 * whose `getDelegateTracer` is undefined until an SDK sets its delegate.
 */
function activeTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider() as TracerProvider & { getDelegateTracer?: (name: string) => Tracer | undefined };
  return typeof provider.getDelegateTracer === 'function' ? provider.getDelegateTracer('perdure') : provider.getTracer('perdure');
}

/** Operations that send a message (a producer's span); the others only read. */
const SENDS: ReadonlySet<ClientOperation> = new Set(['start', 'raiseEvent', 'terminate', 'cancel', 'suspend', 'resume', 'rewind', 'restart', 'completeCallback', 'failCallback', 'heartbeatCallback']);

/**
 * The tracing interceptor the runtime puts first when the app's `tracing` is on (the default): you do not
 * add it yourself. Register an OpenTelemetry SDK and its spans are recorded.
 * @example
 * // In tests: an SDK with an in-memory exporter, then any TestEnvironment run is traced.
 * context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
 * trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
 */
export const openTelemetryTracing: Interceptor = {
  client(call, next) {
    const tracer = activeTracer();
    if (!tracer) return next(call);
    const attributes: Attributes = { [SPAN_ATTRIBUTES.operation]: call.operation };
    if (call.instanceId !== undefined) attributes[SPAN_ATTRIBUTES.instanceId] = call.instanceId;
    if (call.operation === 'start' && call.name !== undefined) attributes[SPAN_ATTRIBUTES.orchestration] = call.name;
    if (call.operation === 'raiseEvent' && call.name !== undefined) attributes[SPAN_ATTRIBUTES.event] = call.name;
    const name = call.operation === 'start' || call.operation === 'raiseEvent' ? `${call.operation} ${call.name}` : call.operation;
    return inSpan(tracer, name, { kind: SENDS.has(call.operation) ? SpanKind.PRODUCER : SpanKind.INTERNAL, attributes }, context.active(), async (span) => {
      const result = await next(call);
      if (call.operation === 'start' || call.operation === 'restart') span.setAttribute(SPAN_ATTRIBUTES.instanceId, result as string);
      return result;
    });
  },

  step(info, next) {
    const tracer = activeTracer();
    if (!tracer) return next();
    const { parent, links } = fromMessages(info.headers);
    const attributes: Attributes = { [SPAN_ATTRIBUTES.instanceId]: info.instanceId, [SPAN_ATTRIBUTES.redelivered]: info.redelivered };
    if (info.queueAgeMs !== undefined) attributes[SPAN_ATTRIBUTES.queueAgeMs] = info.queueAgeMs;
    return inSpan(tracer, 'step', { kind: SpanKind.CONSUMER, attributes, links }, parent, async (span) => {
      try {
        const outcome = await next();
        span.setAttribute(SPAN_ATTRIBUTES.outcome, outcome);
        return outcome;
      } finally {
        // The instance is read inside the step: its name is known only now.
        if (info.orchestration !== undefined) {
          span.updateName(`step ${info.orchestration}`);
          span.setAttribute(SPAN_ATTRIBUTES.orchestration, info.orchestration);
        }
        if (info.version !== undefined) span.setAttribute(SPAN_ATTRIBUTES.version, info.version);
      }
    });
  },

  phase(phase, next) {
    const tracer = activeTracer();
    if (!tracer) return next();
    const attributes: Attributes = { [SPAN_ATTRIBUTES.instanceId]: phase.step.instanceId, [SPAN_ATTRIBUTES.events]: phase.events };
    if (phase.step.orchestration !== undefined) attributes[SPAN_ATTRIBUTES.orchestration] = phase.step.orchestration;
    return inSpan(tracer, phase.name, { kind: SpanKind.INTERNAL, attributes }, context.active(), async (span) => {
      await next();
      if (phase.conflict) span.setAttribute(SPAN_ATTRIBUTES.conflict, true);
    });
  },

  activity(attempt, next) {
    const tracer = activeTracer();
    if (!tracer) return next(attempt);
    const attributes: Attributes = {
      [SPAN_ATTRIBUTES.instanceId]: attempt.instanceId,
      [SPAN_ATTRIBUTES.activity]: attempt.name,
      [SPAN_ATTRIBUTES.taskId]: attempt.taskId,
      [SPAN_ATTRIBUTES.attempt]: attempt.attempt,
      [SPAN_ATTRIBUTES.inline]: attempt.inline,
    };
    if (attempt.queueAgeMs !== undefined) attributes[SPAN_ATTRIBUTES.queueAgeMs] = attempt.queueAgeMs;
    // An inline call runs inside its step's span; a queued one continues the instance's trace from its message.
    const { parent, links } = attempt.inline ? { parent: context.active(), links: [] } : fromMessages([attempt.headers]);
    const name = `${attempt.kind === 'step' ? 'ctx.step' : 'activity'} ${attempt.name}`;
    return inSpan(tracer, name, { kind: attempt.inline ? SpanKind.INTERNAL : SpanKind.CONSUMER, attributes, links }, parent, () => next(attempt));
  },

  timer(timer, next) {
    const tracer = activeTracer();
    if (!tracer) return next();
    const { parent, links } = fromMessages([timer.headers]);
    const attributes: Attributes = { [SPAN_ATTRIBUTES.instanceId]: timer.instanceId, [SPAN_ATTRIBUTES.taskId]: timer.taskId, [SPAN_ATTRIBUTES.lateMs]: timer.lateMs };
    return inSpan(tracer, 'timer', { kind: SpanKind.CONSUMER, attributes, links }, parent, () => next());
  },

  headers(into, instance) {
    // No SDK registered: nothing is traced here, and messages carry nothing.
    if (!activeTracer()) return;
    const active = trace.getSpanContext(context.active());
    // Outside any span there is no sender to name.
    const sender = active && isSpanContextValid(active) ? active : undefined;
    const started = instance?.traceparent !== undefined ? parseTraceparent(instance.traceparent) : undefined;
    if (started) {
      into.traceparent = instance!.traceparent!;
      if (sender && sender.spanId !== started.spanId) into[LINK_HEADER] = formatTraceparent(sender);
    } else if (sender) {
      into.traceparent = formatTraceparent(sender);
    }
  },
};

/**
 * A span for one request of the HTTP API (a server span), continuing the caller's trace when its headers
 * carry one (the registered propagator's format, or a W3C `traceparent`).
 */
export function traceHttpRequest<T extends { statusCode: number }>(method: string, route: string, headers: Record<string, string | undefined>, handle: () => Promise<T>): Promise<T> {
  const tracer = activeTracer();
  if (!tracer) return handle();
  const carrier = Object.fromEntries(Object.entries(headers).flatMap(([key, value]) => (value === undefined ? [] : [[key.toLowerCase(), value]])));
  let parent = propagation.extract(context.active(), carrier);
  if (!trace.getSpanContext(parent) && carrier.traceparent) {
    const remote = parseTraceparent(carrier.traceparent);
    if (remote) parent = trace.setSpanContext(parent, remote);
  }
  return inSpan(tracer, `${method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route } }, parent, async (span) => {
    const response = await handle();
    span.setAttribute('http.response.status_code', response.statusCode);
    if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    return response;
  });
}

/** Runs `fn` in a new active span under `parent`; an error ends the span with its exception and an error status. */
function inSpan<T>(tracer: Tracer, name: string, options: { kind: SpanKind; attributes: Attributes; links?: Link[] }, parent: Context, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, options, parent, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      if (error instanceof Error) span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * The parent of a consumer's span and its links, from the headers of the messages it received: the first
 * trace context is the parent (the instance's trace), and every sender is a link. Without any, the active
 * context is the parent (e.g. the Lambda invocation's span).
 */
function fromMessages(messages: readonly MessageHeaders[]): { parent: Context; links: Link[] } {
  let parent: SpanContext | undefined;
  const links: Link[] = [];
  const seen = new Set<string>();
  const link = (spanContext: SpanContext | undefined) => {
    if (!spanContext || seen.has(spanContext.spanId)) return;
    seen.add(spanContext.spanId);
    links.push({ context: spanContext });
  };
  for (const headers of messages) {
    const carried = headers.traceparent === undefined ? undefined : parseTraceparent(headers.traceparent);
    if (!parent && carried) {
      parent = carried;
      seen.add(carried.spanId);
    } else {
      link(carried);
    }
    link(headers[LINK_HEADER] === undefined ? undefined : parseTraceparent(headers[LINK_HEADER]));
  }
  return { parent: parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : context.active(), links };
}

/** `00-<trace id>-<span id>-<flags>` (W3C Trace Context, version 00). */
export function formatTraceparent(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A remote span context from a W3C `traceparent`, or undefined when it is not one. */
export function parseTraceparent(value: string): SpanContext | undefined {
  const match = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value.trim());
  if (!match || match[1] === 'ff') return undefined;
  const spanContext: SpanContext = { traceId: match[2]!, spanId: match[3]!, traceFlags: parseInt(match[4]!, 16), isRemote: true };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}
