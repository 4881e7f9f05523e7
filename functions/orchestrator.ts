import { createLambdaHandlers } from '../lib/aws/lambda-handlers.js';
import { createExampleApp } from './example-app.js';

/** Lambda entry point: the orchestrator queue's event source mapping (ReportBatchItemFailures). */
export const handler = createLambdaHandlers(createExampleApp()).orchestrator;
