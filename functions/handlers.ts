/**
 * The Lambda entry points of the example app, one named export a function: the DurableFunctions construct
 * points every function at this file with its own handler name.
 */
import { createLambdaHandlers } from '../lib/aws/lambda-handlers.js';
import { createExampleApp } from './example-app.js';

export const { orchestrator, activity, timer, activityDeadLetters, orchestratorDeadLetters, api, replayGate, shadowReplay, scheduleFired } = createLambdaHandlers(createExampleApp());
