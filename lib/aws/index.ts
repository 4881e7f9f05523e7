/** The AWS runtime: what Lambda handlers and operators' tools import (`perdure/aws`). */
export { createLambdaHandlers } from './lambda-handlers.js';
export type { LambdaHandlers, ApiGatewayV2Event, SqsEvent, ScheduleFiredEvent } from './lambda-handlers.js';
export type { ReplayGateEvent, ReplayGateResult, ShadowReplayEvent } from './replay-gate.js';
export { createAwsRuntime, configFromEnvironment } from './aws-runtime.js';
export type { AwsRuntime, AwsRuntimeConfig, AwsRuntimeOptions } from './aws-runtime.js';
export { EmfMetrics } from './emf-metrics.js';
export type { EmfMetricsOptions } from './emf-metrics.js';
export { ensureTable, TABLE_SCHEMA } from './table.js';
