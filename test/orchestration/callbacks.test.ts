import { describe, expect, it } from 'vitest';
import type { CallbackTimeoutError } from '../../lib/index.js';
import {
  CallbackAlreadyCompletedError,
  CallbackExpiredError,
  CallbackFailedError,
  CallbackNotFoundError,
  InvalidStateError,
  ValidationError,
  type Callback,
  type CallbackUrls,
  type TestEnvironment,
} from '../../lib/index.js';
import { testApp, waitUntil } from '../support.js';

/** Waits until the instance has handed out a callback token (the orchestration's step that created it committed). */
async function tokenOf(env: TestEnvironment, id: string, tokens: Map<string, string>): Promise<string> {
  await waitUntil(() => tokens.has(id));
  await env.idle();
  return tokens.get(id)!;
}

function callbackApp() {
  const { app, start } = testApp();
  const tokens = new Map<string, string>();
  app.orchestration('approve', async (ctx, options: { timeout?: string; heartbeatTimeout?: string }) => {
    const approval: Callback<{ approved: boolean }> = ctx.createCallback({ name: 'manager', ...options });
    await ctx.step('send link', () => void tokens.set(ctx.instanceId, approval.id));
    try {
      return await approval.promise;
    } catch (error) {
      return { error: (error as Error).name, message: (error as Error).message, reason: (error as CallbackTimeoutError).reason };
    }
  });
  return { app, start, tokens };
}

describe('callbacks', () => {
  it('completes a callback with the result an outside system sends through its token', async () => {
    const { start, tokens } = callbackApp();
    const env = await start();
    const id = await env.client.start('approve', {});
    const token = await tokenOf(env, id, tokens);
    expect(token).toMatch(/^cb1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(await env.client.completeCallback(token, { approved: true })).toBe('recorded');
    expect((await env.client.waitForCompletion(id)).output).toEqual({ approved: true });
    const created = (await env.client.getHistory(id)).find((event) => event.type === 'CallbackCreated');
    expect(created).toMatchObject({ name: 'manager' });
  });

  it('fails a callback with a CallbackFailedError carrying what the outside system sent', async () => {
    const { start, tokens } = callbackApp();
    const env = await start();
    const id = await env.client.start('approve', {});
    await env.client.failCallback(await tokenOf(env, id, tokens), { name: 'Declined', message: 'over budget', details: { limit: 100 } });
    expect((await env.client.waitForCompletion(id)).output).toEqual({ error: 'CallbackFailedError', message: "Callback 'manager' was failed by the outside system: Declined: over budget" });
  });

  it('times out a callback nobody completes, and refuses a late completion', async () => {
    const { start, tokens } = callbackApp();
    const env = await start();
    const id = await env.client.start('approve', { timeout: '1h' });
    const token = await tokenOf(env, id, tokens);
    expect((await env.client.waitForCompletion(id)).output).toMatchObject({ error: 'CallbackTimeoutError', reason: 'timeout' });
    await expect(env.client.completeCallback(token, { approved: true })).rejects.toThrow(InvalidStateError);
  });

  it('lists the callbacks an instance waits for, with their tokens and deadlines, until they are completed', async () => {
    const { app, start } = testApp();
    const handedOut: string[] = [];
    app.orchestration('twoApprovals', async (ctx) => {
      const manager = ctx.createCallback<boolean>({ name: 'manager', timeout: '1d' });
      const finance = ctx.createCallback<boolean>({ name: 'finance', heartbeatTimeout: '1h' });
      await ctx.step('send links', () => void handedOut.push(manager.id, finance.id));
      return [await manager.promise, await finance.promise];
    });
    const env = await start({ timeSkipping: false });
    const id = await env.client.start('twoApprovals');
    await waitUntil(() => handedOut.length >= 2);
    await env.idle();
    const created = (await env.client.getHistory(id)).find((event) => event.type === 'CallbackCreated')!.timestamp;
    const listed = await env.client.listPendingCallbacks(id);
    expect(listed).toEqual([
      { token: handedOut[0], name: 'manager', position: 1, createdAt: new Date(created).toISOString(), timeoutAt: new Date(created + 86_400_000).toISOString() },
      // Position 2 is the timer of the manager's timeout.
      { token: handedOut[1], name: 'finance', position: 3, createdAt: new Date(created).toISOString(), heartbeatTimeout: '1h', heartbeatDeadline: new Date(created + 3_600_000).toISOString() },
    ]);
    await env.advanceTime('30m');
    const beat = env.clock.now();
    await env.client.heartbeatCallback(handedOut[1]!);
    const afterBeat = (await env.client.listPendingCallbacks(id))[1]!;
    expect(Date.parse(afterBeat.lastHeartbeatAt!)).toBeGreaterThanOrEqual(beat);
    expect(Date.parse(afterBeat.heartbeatDeadline!)).toBe(Date.parse(afterBeat.lastHeartbeatAt!) + 3_600_000);
    await env.client.completeCallback(handedOut[0]!, true);
    expect((await env.client.listPendingCallbacks(id)).map((callback) => callback.name)).toEqual(['finance']);
    await env.client.completeCallback(handedOut[1]!, true);
    expect((await env.client.waitForCompletion(id)).output).toEqual([true, true]);
    expect(await env.client.listPendingCallbacks(id)).toEqual([]);
  });

  it('keeps a callback alive while heartbeats arrive, and fails it once they stop', async () => {
    const { start, tokens } = callbackApp();
    const env = await start({ timeSkipping: false });
    const id = await env.client.start('approve', { heartbeatTimeout: '10m' });
    const token = await tokenOf(env, id, tokens);
    for (let beat = 0; beat < 3; beat++) {
      await env.advanceTime('8m');
      expect(await env.client.heartbeatCallback(token)).toBe('recorded');
      await env.idle();
    }
    expect((await env.client.getStatus(id)).status).toBe('Running');
    await env.advanceTime('11m');
    expect((await env.client.waitForCompletion(id)).output).toMatchObject({ error: 'CallbackTimeoutError', reason: 'heartbeat', message: expect.stringMatching(/had no heartbeat for 10m/) });
  });

  it('runs the submitter of waitForCallback as a retried step, and returns what the callback receives', async () => {
    const { app, start } = testApp();
    const submitted: string[] = [];
    let attempts = 0;
    app.orchestration('fraudCheck', async (ctx, order: string) =>
      ctx.waitForCallback<string>('fraud', (token, actx) => {
        attempts++;
        if (actx.attempt === 1) throw new Error('partner busy');
        submitted.push(token);
      }, { timeout: '1d', retry: { maxAttempts: 2, initialInterval: 10 } }).then((verdict) => `${order}: ${verdict}`),
    );
    const env = await start();
    const id = await env.client.start('fraudCheck', 'o-1');
    await waitUntil(() => submitted.length > 0);
    await env.client.completeCallback(submitted[0]!, 'clean');
    expect((await env.client.waitForCompletion(id)).output).toBe('o-1: clean');
    expect(attempts).toBe(2);
  });

  it('gives a submitter or an activity signed URLs of its callback, which the environment verifies', async () => {
    const { app, start } = testApp();
    const mailed: CallbackUrls[] = [];
    app.activity('mail', async (token: string, actx) => void mailed.push(await actx.callbackUrls(token, { expiresIn: '1d' })));
    app.orchestration('signed', async (ctx) => {
      const viaStep = ctx.waitForCallback<string>('partner', async (token, actx) => void mailed.push(await actx.callbackUrls(token)));
      const manager = ctx.createCallback<string>({ name: 'manager' });
      await ctx.callActivity('mail', manager.id);
      return [await viaStep, await manager.promise];
    });
    const env = await start({ apiUrl: 'https://api.example.com' });
    const id = await env.client.start('signed');
    await waitUntil(() => mailed.length >= 2);
    const pending = await env.client.listPendingCallbacks(id);
    for (const urls of mailed) {
      const url = new URL(urls.succeed);
      const [, token] = /^\/signed\/callbacks\/([^/]+)\/succeed$/.exec(url.pathname)!;
      expect(url.origin).toBe('https://api.example.com');
      expect(pending.map((callback) => callback.token)).toContain(token);
      expect(await env.callbackUrls.check(token!, 'succeed', Number(url.searchParams.get('expires')), url.searchParams.get('signature')!)).toBe('valid');
      await env.client.completeCallback(token!, 'yes');
    }
    expect((await env.client.waitForCompletion(id)).output).toEqual(['yes', 'yes']);
  });

  describe('bad tokens and late calls: a clear error, and nothing written', () => {
    it.each([
      ['a malformed token', 'not-a-token', ValidationError],
      ['a token of another shape', 'cb1.abc', ValidationError],
      ['a forged nonce', null, CallbackNotFoundError],
      ['a token of an unknown instance', 'cb1.WyJub2JvZHkiLDAsMV0.AAAAAAAAAAAAAAAAAAAAAA', CallbackNotFoundError],
    ])('%s', async (_what, badToken, errorClass) => {
      const { start, tokens } = callbackApp();
      const env = await start();
      const id = await env.client.start('approve', {});
      const token = await tokenOf(env, id, tokens);
      const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(22)}`;
      await expect(env.client.completeCallback(badToken ?? forged, true)).rejects.toThrow(errorClass);
      expect(env.store.inboxSize(id)).toBe(0);
    });

    it('records a retried completion once, and refuses one after the callback completed', async () => {
      const { start, tokens } = callbackApp();
      const env = await start();
      const id = await env.client.start('approve', {});
      const token = await tokenOf(env, id, tokens);
      await env.client.suspend(id);
      await env.idle();
      expect(await env.client.completeCallback(token, { approved: true })).toBe('recorded');
      expect(await env.client.completeCallback(token, { approved: true })).toBe('duplicate');
      await env.client.resume(id);
      expect((await env.client.waitForCompletion(id)).output).toEqual({ approved: true });
      const completions = (await env.client.getHistory(id)).filter((event) => event.type === 'CallbackCompleted');
      expect(completions).toHaveLength(1);
      await expect(env.client.completeCallback(token, { approved: false })).rejects.toThrow(/already Completed|already completed/);
    });

    it('answers the same completion sent again as a duplicate after it was applied, even once the instance finished, and writes nothing', async () => {
      const { start, tokens } = callbackApp();
      const env = await start();
      const id = await env.client.start('approve', {});
      const token = await tokenOf(env, id, tokens);
      expect(await env.client.completeCallback(token, { approved: true, note: 'ok' })).toBe('recorded');
      await env.client.waitForCompletion(id);
      const historyLength = (await env.client.getHistory(id)).length;
      // The same JSON with its keys in another order is the same completion.
      expect(await env.client.completeCallback(token, { note: 'ok', approved: true })).toBe('duplicate');
      expect(env.store.inboxSize(id)).toBe(0);
      expect(await env.client.getHistory(id)).toHaveLength(historyLength);
      await expect(env.client.failCallback(token, { message: 'too late' })).rejects.toThrow(CallbackAlreadyCompletedError);
      await expect(env.client.heartbeatCallback(token)).rejects.toThrow(/already completed at .*Nothing was written/);
    });

    it('refuses a different completion while the first one waits to be applied', async () => {
      const { start, tokens } = callbackApp();
      const env = await start();
      const id = await env.client.start('approve', {});
      const token = await tokenOf(env, id, tokens);
      await env.client.suspend(id);
      await env.idle();
      await env.client.failCallback(token, { name: 'Declined', message: 'no', details: { by: 'ann' } });
      expect(await env.client.failCallback(token, { name: 'Declined', message: 'no', details: { by: 'ann' } })).toBe('duplicate');
      const refused = env.client.completeCallback(token, { approved: true });
      await expect(refused).rejects.toThrow(CallbackAlreadyCompletedError);
      await expect(refused).rejects.toThrow(/already failed \(Declined\) at .* \(its next step applies it\)\. Sending the same completion again is answered as a duplicate/);
      expect(env.store.inboxSize(id)).toBe(1);
    });

    it('refuses a callback whose heartbeats stopped as expired', async () => {
      const { start, tokens } = callbackApp();
      const env = await start({ timeSkipping: false });
      const id = await env.client.start('approve', { heartbeatTimeout: '10m' });
      const token = await tokenOf(env, id, tokens);
      await env.client.suspend(id);
      await env.idle();
      await env.advanceTime('11m');
      await env.idle();
      const stored = env.store.inboxSize(id); // the heartbeat timer's firing waits for the resume
      const refused = env.client.heartbeatCallback(token);
      await expect(refused).rejects.toThrow(CallbackExpiredError);
      await expect(refused).rejects.toThrow(/had no heartbeat for 10m and expired at .*Send heartbeats more often than that/);
      expect(env.store.inboxSize(id)).toBe(stored);
    });

    it('refuses a callback of a failed orchestration the code no longer waits for as already failed', async () => {
      const { app, start } = testApp();
      const tokens: string[] = [];
      app.orchestration('giveUp', async (ctx) => {
        const callback = ctx.createCallback({ timeout: '1m' });
        await ctx.step('hand out', () => void tokens.push(callback.id));
        await callback.promise.catch(() => undefined);
        await ctx.sleep('1d');
      });
      const env = await start({ timeSkipping: false });
      const id = await env.client.start('giveUp');
      await waitUntil(() => tokens.length > 0);
      await env.advanceTime('2m');
      await expect(env.client.completeCallback(tokens[0]!, 'late')).rejects.toThrow(CallbackExpiredError);
      await expect(env.client.completeCallback(tokens[0]!, 'late')).rejects.toThrow(/expired at .*\(its timeout\)/);
      expect(env.store.inboxSize(id)).toBe(0);
      expect(CallbackFailedError).toBeDefined();
    });
  });
});
