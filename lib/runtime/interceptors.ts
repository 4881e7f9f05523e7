import type { App } from '../core/app.js';
import type { InterceptorChain, Interceptor } from '../core/interceptors.js';
import { priorityLane } from './priority.js';
import { openTelemetryTracing } from './tracing.js';

/**
 * The interceptors a runtime runs: tracing first (unless the app turned it off), then the runtime's own
 * (`extra`: metrics), then the app's, so that every hook runs inside the trace's span. The priority lane's
 * header rides along in every message about a high-priority instance.
 */
export function runtimeInterceptors(app: App, extra: readonly Interceptor[] = []): InterceptorChain {
  return app.interceptorChain([...(app.tracing ? [openTelemetryTracing] : []), priorityLane, ...extra]);
}
