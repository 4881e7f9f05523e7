import { describe, expect, it } from 'vitest';
import { ActivityFailedError, createApp, silentLogger, TestEnvironment, TimeoutError, ValidationError, type Interceptor } from '../../lib/index.js';

describe('interceptors', () => {
  it('wrap every attempt of queued and inline activities and ctx.step functions, in order, the first outermost', async () => {
    const seen: string[] = [];
    const tag = (label: string): Interceptor => ({
      async activity(attempt, next) {
        seen.push(`${label}>${attempt.kind} ${attempt.name} #${attempt.attempt}${attempt.inline ? ' inline' : ''}`);
        try {
          return await next(attempt);
        } finally {
          seen.push(`${label}<${attempt.name}`);
        }
      },
    });
    const app = createApp({ logger: silentLogger, interceptors: [tag('a')] }).use(tag('b'));
    app.activity('queued', async () => 1);
    app.activity('nearby', async () => 2, { inline: true });
    app.orchestration('mixed', async (ctx) => (await ctx.callActivity<number>('queued')) + (await ctx.callActivity<number>('nearby')) + (await ctx.step('local', () => 3)));
    const env = await TestEnvironment.create(app);
    const { output } = await env.client.waitForCompletion(await env.client.start('mixed'));
    await env.close();
    expect(output).toBe(6);
    expect(seen).toEqual([
      'a>activity queued #1', 'b>activity queued #1', 'b<queued', 'a<queued',
      'a>activity nearby #1 inline', 'b>activity nearby #1 inline', 'b<nearby', 'a<nearby',
      'a>step local #1 inline', 'b>step local #1 inline', 'b<local', 'a<local',
    ]);
  });

  it('an activity interceptor can change the input the activity receives and the result history records', async () => {
    const app = createApp({
      logger: silentLogger,
      interceptors: [
        {
          async activity(attempt, next) {
            const result = await next({ ...attempt, input: (attempt.input as string).toUpperCase() });
            return `${result as string}!`;
          },
        },
      ],
    });
    app.activity('greet', async (name: string) => `hello ${name}`);
    app.orchestration('hello', async (ctx, name: string) => ctx.callActivity<string>('greet', name));
    const env = await TestEnvironment.create(app);
    const id = await env.client.start('hello', 'ada');
    const { output } = await env.client.waitForCompletion(id);
    const history = await env.client.getHistory(id);
    await env.close();
    expect(output).toBe('hello ADA!');
    // History keeps what the orchestration sent and what the interceptor returned.
    expect(history.find((event) => event.type === 'ActivityScheduled')).toMatchObject({ input: 'ada' });
    expect(history.find((event) => event.type === 'ActivityCompleted')).toMatchObject({ result: 'hello ADA!' });
  });

  it('sees errors, timeouts included, and an error it throws fails the attempt as the activity’s would', async () => {
    const errors: string[] = [];
    const app = createApp({
      logger: silentLogger,
      interceptors: [
        {
          async activity(attempt, next) {
            if (attempt.name === 'refused') throw new Error('the interceptor refused it');
            try {
              return await next(attempt);
            } catch (error) {
              errors.push(`${attempt.name}: ${(error as Error).name}`);
              throw error;
            }
          },
        },
      ],
    });
    app.activity('slow', () => new Promise(() => {}), { timeout: '200ms' });
    app.activity('refused', async () => 'never');
    app.orchestration('failing', async (ctx) => {
      const outcomes: string[] = [];
      for (const name of ['slow', 'refused']) {
        try {
          await ctx.callActivity(name);
        } catch (error) {
          outcomes.push(error instanceof ActivityFailedError ? `${error.failure.name}: ${error.failure.message}` : String(error));
        }
      }
      return outcomes;
    });
    const env = await TestEnvironment.create(app);
    const { output } = await env.client.waitForCompletion(await env.client.start('failing'));
    await env.close();
    expect(errors).toEqual(['slow: TimeoutError']);
    expect(output).toEqual([expect.stringMatching(/^TimeoutError: Activity 'slow' ran longer than its timeout/), 'Error: the interceptor refused it']);
    expect(new TimeoutError('x').name).toBe('TimeoutError');
  });

  it('step and phase hooks observe each step of an orchestration with its name, the events of each phase and what it did', async () => {
    const seen: string[] = [];
    const app = createApp({
      logger: silentLogger,
      interceptors: [
        {
          async step(step, next) {
            const outcome = await next();
            seen.push(`step ${step.orchestration}@${step.version}: ${outcome}`);
            return outcome;
          },
          async phase(phase, next) {
            await next();
            seen.push(`  ${phase.name} ${phase.events}`);
          },
        },
      ],
    });
    app.activity('work', async () => 1);
    app.orchestration('twice', async (ctx) => (await ctx.callActivity<number>('work')) + 1);
    const env = await TestEnvironment.create(app, { executorCacheSize: 0 });
    await env.client.waitForCompletion(await env.client.start('twice'));
    await env.idle();
    await env.close();
    expect(seen).toEqual([
      // [StepStarted, ExecutionStarted] then ActivityScheduled: 3 events appended.
      '  advance 2', '  commit 3', 'step twice@1: stepped',
      // No warm executor: the second step replays the first's 3 events, then appends [StepStarted, ActivityCompleted, ExecutionCompleted].
      '  replay 3', '  advance 2', '  commit 3', 'step twice@1: stepped',
    ]);
  });

  it('client hooks see each call and may change the input of a start and the data of an event', async () => {
    const calls: string[] = [];
    const app = createApp({
      logger: silentLogger,
      interceptors: [
        {
          client(call, next) {
            calls.push([call.operation, call.name, call.instanceId].filter(Boolean).join(' '));
            return next(call.operation === 'start' || call.operation === 'raiseEvent' ? { ...call, input: { wrapped: call.input } } : call);
          },
        },
      ],
    });
    app.orchestration('echo', async (ctx, input: unknown) => ({ input, event: await ctx.waitForEvent('go') }));
    const env = await TestEnvironment.create(app);
    const id = await env.client.start('echo', 1, { instanceId: 'echo-1' });
    await env.client.raiseEvent(id, 'go', 2);
    const { output } = await env.client.waitForCompletion(id);
    await env.client.getStatus(id);
    await env.close();
    expect(output).toEqual({ input: { wrapped: 1 }, event: { wrapped: 2 } });
    expect(calls).toEqual(['start echo echo-1', 'raiseEvent go echo-1', 'getStatus echo-1']);
  });

  it('headers an interceptor adds are stored with the instance and carried to its activities and timers', async () => {
    const received: string[] = [];
    const app = createApp({
      logger: silentLogger,
      interceptors: [
        {
          headers(into, instance) {
            into.tenant = instance?.tenant ?? 'acme';
          },
          async activity(attempt, next) {
            received.push(`activity ${attempt.headers.tenant}`);
            return next(attempt);
          },
          async timer(timer, next) {
            received.push(`timer ${timer.headers.tenant} late ${timer.lateMs >= 0}`);
            return next();
          },
        },
      ],
      tracing: false,
    });
    app.activity('work', async () => 1);
    app.orchestration('tenanted', async (ctx) => {
      await ctx.sleep('1m');
      return ctx.callActivity('work');
    });
    const env = await TestEnvironment.create(app);
    const id = await env.client.start('tenanted');
    await env.client.waitForCompletion(id);
    await env.close();
    expect((await env.store.getInstance(id))!.headers).toEqual({ tenant: 'acme' });
    expect(received).toEqual(['timer acme late true', 'activity acme']);
  });

  it('are told of quarantines', async () => {
    const notices: string[] = [];
    const app = createApp({ logger: silentLogger, interceptors: [{ notice: (notice) => void notices.push(JSON.stringify(notice)) }] });
    app.orchestration('broken', async () => {
      await fetch('http://example.invalid');
    });
    const env = await TestEnvironment.create(app);
    const id = await env.client.start('broken', undefined, { instanceId: 'broken-1' });
    expect((await env.client.waitForCompletion(id)).status).toBe('Quarantined');
    await env.close();
    expect(notices.map((notice) => JSON.parse(notice) as unknown)).toEqual([{ type: 'quarantined', instanceId: 'broken-1', orchestration: 'broken', error: 'DeterminismViolationError' }]);
  });

  it('call hooks wrap each durable call inside orchestration code, on every replay, and may change inputs deterministically', async () => {
    const seen: string[] = [];
    const app = createApp({
      logger: silentLogger,
      interceptors: [
        {
          async call(call, next) {
            seen.push(`${call.kind} ${call.name ?? ''}${call.isReplaying ? ' (replaying)' : ''}`.trim());
            return next(call.kind === 'activity' ? { ...call, input: { tenant: 'acme', payload: call.input } } : call);
          },
        },
      ],
    });
    app.activity('echo', async (input: unknown) => input);
    app.orchestration('child', async () => 'child done');
    app.orchestration('calls', async (ctx) => {
      const echoed = await ctx.callActivity('echo', 1);
      await ctx.sleep('1m');
      const child = await ctx.callSubOrchestration('child');
      const stepped = await ctx.step('local', () => 2);
      return { echoed, child, stepped };
    });
    // No cache: every step replays the calls before it.
    const env = await TestEnvironment.create(app, { executorCacheSize: 0 });
    const id = await env.client.start('calls');
    const { output } = await env.client.waitForCompletion(id);
    const history = await env.client.getHistory(id);
    await env.close();
    expect(output).toEqual({ echoed: { tenant: 'acme', payload: 1 }, child: 'child done', stepped: 2 });
    expect(history.find((event) => event.type === 'ActivityScheduled')).toMatchObject({ name: 'echo', input: { tenant: 'acme', payload: 1 } });
    expect(seen.filter((line) => !line.endsWith('(replaying)'))).toEqual(['activity echo', 'sleep', 'subOrchestration child', 'step local']);
    expect(seen).toContain('activity echo (replaying)');
  });

  it('a call hook that does I/O breaks determinism like the code would: the instance is held', async () => {
    const app = createApp({
      logger: silentLogger,
      interceptors: [
        {
          async call(call, next) {
            await fetch('http://audit.invalid');
            return next(call);
          },
        },
      ],
    });
    app.activity('work', async () => 1);
    app.orchestration('audited', async (ctx) => ctx.callActivity('work'));
    const env = await TestEnvironment.create(app);
    const status = await env.client.waitForCompletion(await env.client.start('audited'));
    await env.close();
    expect(status).toMatchObject({ status: 'Quarantined', error: { name: 'DeterminismViolationError' } });
  });

  it('app.use refuses what is not an interceptor, with the hooks it takes', () => {
    const app = createApp({ logger: silentLogger });
    expect(() => app.use({ activities: async () => 1 } as never)).toThrow(ValidationError);
    expect(() => app.use({ activities: async () => 1 } as never)).toThrow(/Unknown interceptor hook 'activities': use activity, step, phase, timer, client, headers, notice, call/);
    expect(() => app.use({ step: 'yes' } as never)).toThrow(/The interceptor hook 'step' must be a function/);
    expect(() => app.use(null as never)).toThrow(/An interceptor must be an object/);
    expect(() => createApp({ tracing: 'on' as never })).toThrow(/tracing must be true or false/);
  });
});
