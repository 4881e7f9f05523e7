import { describe, expect, it } from 'vitest';
import { createApp, type App } from '../../lib/core/app.js';
import { ActivityNotFoundError, OrchestrationNotFoundError, ValidationError } from '../../lib/core/errors.js';
import { silentLogger } from '../../lib/core/logger.js';

function appWithVersions(name: string, versions: (string | number)[]): App {
  const app = createApp({ logger: silentLogger });
  for (const version of versions) app.orchestration(name, async () => version, { version });
  return app;
}

describe('createApp', () => {
  it('registers activities and orchestrations and finds them by name', () => {
    const greet = async (name: string) => `Hello, ${name}!`;
    const hello = async () => 'done';
    const app = createApp({ logger: silentLogger }).activity('greet', greet, { retry: { maxAttempts: 4 }, timeout: '30s' }).orchestration('hello', hello);
    expect(app.getActivity('greet')).toMatchObject({ name: 'greet', fn: greet, timeoutMs: 30_000, retry: { maxAttempts: 4, initialIntervalMs: 1_000 } });
    expect(app.getOrchestration('hello')).toEqual({ name: 'hello', version: '1', fn: hello });
    expect(app.findActivity('missing')).toBeUndefined();
  });

  it('gives an activity a 5 minute timeout and no retry policy by default', () => {
    const app = createApp({ logger: silentLogger }).activity('work', () => 1);
    expect(app.getActivity('work')).toMatchObject({ timeoutMs: 300_000, retry: undefined });
  });

  it('rejects registering an activity name twice', () => {
    const app = createApp({ logger: silentLogger }).activity('charge', () => 1);
    expect(() => app.activity('charge', () => 2)).toThrow(new ValidationError("Activity 'charge' is already registered: give the new one another name."));
  });

  it('rejects registering the same orchestration version twice, with the version given as a number or a string', () => {
    const app = appWithVersions('order', [1]);
    expect(() => app.orchestration('order', async () => 0, { version: '1' })).toThrow(ValidationError);
    expect(() => app.orchestration('order', async () => 0)).toThrow("Orchestration 'order' version 1 is already registered: register a changed orchestration under a new version");
  });

  it.each<[string, (app: App) => unknown, RegExp]>([
    ['an activity name starting with a digit', (app) => app.activity('1st', () => 1), /^Invalid activity name "1st"/],
    ['an activity name with a slash', (app) => app.activity('a/b', () => 1), /^Invalid activity name "a\/b"/],
    ['an orchestration name with a space', (app) => app.orchestration('my flow', async () => 1), /^Invalid orchestration name "my flow"/],
    ['an empty orchestration name', (app) => app.orchestration('', async () => 1), /^Invalid orchestration name ""/],
    ['an activity that is not a function', (app) => app.activity('a', 'nope' as never), /^Activity 'a' must be a function\.$/],
    ['an orchestration that is not a function', (app) => app.orchestration('o', null as never), /^Orchestration 'o' must be a function\.$/],
    ['an invalid version', (app) => app.orchestration('o', async () => 1, { version: 'v/2' }), /^Invalid version "v\/2"/],
    ['an invalid activity timeout', (app) => app.activity('a', () => 1, { timeout: 'soon' }), /^Invalid timeout of activity 'a' "soon"/],
    ['an invalid activity retry policy', (app) => app.activity('a', () => 1, { retry: { maxAttempts: 0 } }), /maxAttempts must be an integer ≥ 1/],
  ])('rejects %s', (_label, register, message) => {
    const fresh = () => createApp({ logger: silentLogger });
    expect(() => register(fresh())).toThrow(ValidationError);
    expect(() => register(fresh())).toThrow(message);
  });

  it.each<[string, (string | number)[], string]>([
    ['1, 2, 10', ['1', '2', '10'], '10'],
    ['10, 2, 1', ['10', '2', '1'], '10'],
    ['1.9, 1.10', ['1.9', '1.10'], '1.10'],
    ['1.10, 1.9', ['1.10', '1.9'], '1.10'],
    ['numbers 3, 20', [3, 20], '20'],
  ])('takes the latest of the versions %s in natural order', (_label, versions, latest) => {
    const app = appWithVersions('job', versions);
    expect(app.getOrchestration('job').version).toBe(latest);
    expect(app.latestVersion('job')).toBe(latest);
  });

  it('finds a given version, as a number or a string', () => {
    const app = appWithVersions('job', ['1', '2']);
    expect(app.getOrchestration('job', 1).version).toBe('1');
    expect(app.getOrchestration('job', '2').version).toBe('2');
  });

  it('lists the registered orchestration names when a name is unknown', () => {
    const app = appWithVersions('job', [1]).orchestration('order', async () => 1);
    const lookup = () => app.getOrchestration('other');
    expect(lookup).toThrow(OrchestrationNotFoundError);
    expect(lookup).toThrow("No orchestration named 'other' is registered (registered: job, order).");
  });

  it('says none are registered when an app has no orchestrations', () => {
    expect(() => createApp({ logger: silentLogger }).getOrchestration('job')).toThrow("No orchestration named 'job' is registered (none are registered).");
  });

  it('lists the registered versions when a version is unknown', () => {
    const lookup = () => appWithVersions('job', ['1', '2', '10']).getOrchestration('job', 3);
    expect(lookup).toThrow(OrchestrationNotFoundError);
    expect(lookup).toThrow("Orchestration 'job' has no version 3 registered (registered: 1, 2, 10).");
  });

  it('lists the registered activity names when an activity is unknown', () => {
    const app = createApp({ logger: silentLogger }).activity('charge', () => 1).activity('ship', () => 2);
    expect(() => app.getActivity('refund')).toThrow(ActivityNotFoundError);
    expect(() => app.getActivity('refund')).toThrow("No activity named 'refund' is registered (registered: charge, ship); register it with app.activity('refund', ...).");
  });

  it('has no latest version for an unknown orchestration', () => {
    expect(createApp({ logger: silentLogger }).latestVersion('job')).toBeUndefined();
  });

  it.each([[9], [0], [-1], [10.5], [Number.NaN]])('rejects maxHistoryEvents %j', (maxHistoryEvents) => {
    expect(() => createApp({ maxHistoryEvents, logger: silentLogger })).toThrow(ValidationError);
    expect(() => createApp({ maxHistoryEvents, logger: silentLogger })).toThrow(/^maxHistoryEvents must be an integer ≥ 10/);
  });

  it('accepts maxHistoryEvents 10 and defaults to 10000', () => {
    expect(createApp({ maxHistoryEvents: 10, logger: silentLogger }).maxHistoryEvents).toBe(10);
    expect(createApp({ logger: silentLogger }).maxHistoryEvents).toBe(10_000);
  });

  it('warns about history length from 80% of maxHistoryEvents unless told otherwise', () => {
    expect(createApp({ logger: silentLogger }).historyWarningEvents).toBe(8_000);
    expect(createApp({ maxHistoryEvents: 1_000, logger: silentLogger }).historyWarningEvents).toBe(800);
    expect(createApp({ maxHistoryEvents: 15, logger: silentLogger }).historyWarningEvents).toBe(12);
    expect(createApp({ maxHistoryEvents: 1_000, historyWarningEvents: 500, logger: silentLogger }).historyWarningEvents).toBe(500);
  });

  it('uses the logger it is given', () => {
    expect(createApp({ logger: silentLogger }).logger).toBe(silentLogger);
  });
});
