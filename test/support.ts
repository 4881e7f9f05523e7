import { afterEach } from 'vitest';
import { createApp, TestEnvironment, type AppOptions, type Logger, type TestEnvironmentOptions } from '../lib/index.js';
import type { App } from '../lib/index.js';

export interface LogLine {
  level: string;
  message: string;
  fields?: Record<string, unknown>;
}

/** A logger that keeps every line, so tests can assert what was logged. */
export function captureLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const open: TestEnvironment[] = [];
afterEach(async () => {
  for (const env of open.splice(0)) await env.close();
});

/** An app with a capturing logger; environments made with `start` close after each test. */
export function testApp(options: AppOptions = {}): { app: App; log: ReturnType<typeof captureLogger>; start: (options?: TestEnvironmentOptions) => Promise<TestEnvironment> } {
  const log = captureLogger();
  const app = createApp({ logger: log, ...options });
  return {
    app,
    log,
    start: async (envOptions) => {
      const env = await TestEnvironment.create(app, envOptions);
      open.push(env);
      return env;
    },
  };
}

/** The types of a history, in order, without the step markers. */
export function eventTypes(history: { type: string }[]): string[] {
  return history.map((event) => event.type).filter((type) => type !== 'StepStarted');
}

/**
 * Waits until `done()` holds (it may read something: a status, a list), checking every `everyMs`, for up to
 * `timeoutMs` (generous: a busy machine may take seconds for what takes milliseconds on an idle one). Throws,
 * naming `what`, if it never holds.
 */
export async function waitUntil(done: () => boolean | Promise<boolean>, { timeoutMs = 20_000, everyMs = 5, what = 'a condition' }: { timeoutMs?: number; everyMs?: number; what?: string } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}, which never held`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
