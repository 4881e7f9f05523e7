/**
 * Perdure: durable functions for AWS Lambda. Orchestrations are plain async TypeScript, replayed from
 * their history; activities do the work, at least once.
 */
export { createApp, App } from './core/app.js';
export type { AppOptions, RegisteredActivity, RegisteredOrchestration } from './core/app.js';
export type { RegisteredSchedule, ScheduleOptions, ScheduleOverlap } from './core/schedule.js';
export type {
  ActivityContext,
  ActivityFunction,
  ActivityOptions,
  BatchCompletionReason,
  BatchItem,
  BatchItemStatus,
  BatchOptions,
  BatchResult,
  CallActivityOptions,
  Callback,
  CallbackOptions,
  CallbackUrlOptions,
  CallbackUrls,
  CallbackSubmitter,
  CompletionPolicy,
  ParallelBranch,
  RetryStrategy,
  SleepOptions,
  WaitForCallbackOptions,
  WaitForConditionOptions,
  ContinueAsNewOptions,
  MapOptions,
  OrchestrationContext,
  OrchestrationFunction,
  OrchestrationOptions,
  StepFunction,
  StepOptions,
  SubOrchestrationOptions,
  ParentClosePolicy,
  WaitForEventOptions,
} from './core/types.js';
export type { Duration, DurationParts } from './core/durations.js';
export { toMilliseconds, formatDuration } from './core/durations.js';
export type { RetryPolicy } from './core/retry-policy.js';
export {
  PerdureError,
  ValidationError,
  NonDeterminismError,
  DeterminismViolationError,
  ActivityFailedError,
  StepFailedError,
  ChildFailedError,
  CallbackFailedError,
  CallbackTimeoutError,
  CallbackNotFoundError,
  CallbackAlreadyCompletedError,
  CallbackExpiredError,
  SubOrchestrationFailedError,
  CancelledError,
  TimeoutError,
  PoisonMessageError,
  HistoryLimitError,
  InstanceNotFoundError,
  InstanceExistsError,
  OrchestrationNotFoundError,
  ScheduleNotFoundError,
  ActivityNotFoundError,
  InvalidStateError,
  NonRetryableError,
} from './core/errors.js';
export type { FailureDetails } from './core/errors.js';
export type { HistoryEvent, HistoryEventType } from './core/history-events.js';
export type { JsonLoggerOptions, Logger, LogLevel } from './core/logger.js';
export { createJsonLogger, redactingLogger, silentLogger } from './core/logger.js';
export { InterceptorChain } from './core/interceptors.js';
export type { ActivityAttempt, ClientCall, ClientOperation, DurableCall, MessageHeaders, Interceptor, RuntimeNotice, StepInfo, StepOutcome, StepPhase, TimerFiring } from './core/interceptors.js';
export { openTelemetryTracing, SPAN_ATTRIBUTES } from './runtime/tracing.js';
export { METRICS, metricsInterceptor } from './runtime/metrics.js';
export { MetricCounters } from './runtime/metric-counters.js';
export { PRIORITY_HEADER } from './runtime/priority.js';
export type { Priority } from './runtime/priority.js';
export type { MetricSeries, MetricsSnapshot } from './runtime/metric-counters.js';
export type { MetricsSink, MetricUnit } from './ports.js';
export { Client } from './client.js';
export type { CallbackDelivery, CallbackFailure, HistoryOptions, InstanceStatus, ListQuery, PendingCallback, RaiseEventOptions, RestartOptions, StartOptions, StatusOptions, WaitOptions } from './client.js';
export { DEFAULT_PRICES, priceLedger, resolvePrices } from './core/cost-prices.js';
export type { CostLine, CostPrices, PricedCost } from './core/cost-prices.js';
export { addLedgers, emptyLedger } from './core/cost-ledger.js';
export type { CostLedger } from './core/cost-ledger.js';
export type { InstanceStatusName } from './ports.js';
export { TestEnvironment, TestClient } from './testing.js';
export { ScheduleService } from './runtime/schedules.js';
export type { ScheduleFiring, ScheduleServiceDependencies, ScheduleSummary } from './runtime/schedules.js';
export { checkReplay, replayHistories } from './replay-check.js';
export type { RecordedHistory, ReplayCheckOptions, ReplayCheckResult } from './replay-check.js';
export type { TestEnvironmentOptions } from './testing.js';
