import { createLambdaHandlers } from 'perdure/aws';
import { app } from './app.js';

export const { orchestrator, activity, timer, activityDeadLetters, orchestratorDeadLetters, api, replayGate, shadowReplay, scheduleFired } = createLambdaHandlers(app);
