import { createLambdaHandlers } from '../lib/aws/lambda-handlers.js';
import { createExampleApp } from './example-app.js';

/** Lambda entry point of the API Gateway HTTP API (payload format 2.0). */
export const handler = createLambdaHandlers(createExampleApp()).api;
