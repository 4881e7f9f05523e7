import { createLambdaHandlers } from '../lib/aws/lambda-handlers.js';
import { createExampleApp } from './example-app.js';

const handlers = createLambdaHandlers(createExampleApp());

/** Lambda entry point of the activity dead-letter queue: each task fails its call with a PoisonMessageError. */
export const activityHandler = handlers.activityDeadLetters;

/** Lambda entry point of the orchestrator dead-letter queue: each instance is quarantined for an operator. */
export const orchestratorHandler = handlers.orchestratorDeadLetters;
