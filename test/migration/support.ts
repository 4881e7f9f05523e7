import type { App, HistoryEvent, TestEnvironment, TestEnvironmentOptions } from '../../lib/index.js';
import { testApp } from '../support.js';

// Helpers of the ported examples and samples (aws-sdk-examples.test.ts, community-samples.test.ts).

const environments = new Map<App, (options?: TestEnvironmentOptions) => Promise<TestEnvironment>>();

/** An app whose environments `startEnv` makes (and closes after the test). */
export function newApp(): App {
  const { app, start } = testApp();
  environments.set(app, start);
  return app;
}

/** An in-memory environment of an app made by `newApp`. */
export const startEnv = (app: App, options?: TestEnvironmentOptions) => environments.get(app)!(options);

/** Starts an app in memory, runs `name` with `input` to the end (timers skipped), and returns its status and history. */
export async function run(app: App, name: string, input?: unknown, options?: TestEnvironmentOptions) {
  const env = await startEnv(app, options);
  const id = await env.client.start(name, input);
  const status = await env.client.waitForCompletion(id);
  const history = await env.client.getHistory(id);
  return { env, id, status, history };
}

/** The types of a history, without the step markers. */
export const types = (history: HistoryEvent[]) => history.map((event) => event.type).filter((type) => type !== 'StepStarted');
/** The delay of every durable timer, in ms, in the order they were created. */
export const timerDelays = (history: HistoryEvent[]) => history.flatMap((event) => (event.type === 'TimerCreated' ? [event.fireAt - event.timestamp] : []));
/** Every attempt of a step or activity, as `name #attempt`. */
export const attempts = (history: HistoryEvent[]) => history.flatMap((event) => (event.type === 'ActivityScheduled' ? [`${event.name} #${event.attempt}`] : []));
/** The names of the steps and activities called, first attempts only, in order. */
export const calls = (history: HistoryEvent[]) => history.flatMap((event) => (event.type === 'ActivityScheduled' && event.attempt === 1 ? [event.name] : []));
/** Real time, for steps that take a while. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (moving virtual time a second at a time) until the instance has an open callback named `name` (any, without a name), and returns its token. */
export async function pendingToken(env: TestEnvironment, id: string, name?: string): Promise<string> {
  for (let second = 0; second < 120; second++) {
    await env.idle();
    const found = (await env.client.listPendingCallbacks(id)).find((callback) => name === undefined || callback.name === name);
    if (found) return found.token;
    await env.advanceTime('1s');
  }
  throw new Error(`no open callback ${name ?? ''} on ${id}`);
}
