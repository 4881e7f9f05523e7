import { expect, it } from 'vitest';
import { HttpApi } from '../lib/api/http-api.js';
import { createApp, silentLogger, TestEnvironment } from '../lib/index.js';
import { waitUntil } from './support.js';

// The README's 30-second example, kept honest.
it('the README example completes as the README says', async () => {
  const app = createApp({ logger: silentLogger });
  app.activity('chargeCard', async (order: { id: string; amount: number }) => ({ paymentId: `pay-${order.id}` }), {
    retry: { maxAttempts: 5, initialInterval: '2s' },
  });
  app.activity('ship', async (order: { id: string }) => `TRK-${order.id}`);
  app.orchestration('order', async (ctx, order: { id: string; amount: number }) => {
    const payment = await ctx.callActivity<{ paymentId: string }>('chargeCard', order);
    const { approved } = await ctx.waitForEvent<{ approved: boolean }>('approval', { timeout: '3d' });
    if (!approved) return { status: 'rejected' };
    await ctx.sleep('1d');
    return { status: 'shipped', payment, tracking: await ctx.callActivity('ship', order) };
  });

  const env = await TestEnvironment.create(app);
  const id = await env.client.start('order', { id: 'o-1', amount: 42 });
  await env.client.raiseEvent(id, 'approval', { approved: true });
  const { status, output } = await env.client.waitForCompletion(id);
  await env.close();
  expect(status).toBe('Completed');
  expect(output).toEqual({ status: 'shipped', payment: { paymentId: 'pay-o-1' }, tracking: 'TRK-o-1' });
});

// The README's callbacks example: a manager approves by a signed link in an email, without credentials.
it('the README callbacks example completes through the signed link it mails', async () => {
  interface Claim { id: string; manager: string }
  const sent: { to: string; text: string }[] = [];
  const mailer = { send: async (to: string, text: string) => void sent.push({ to, text }) };
  const app = createApp({ logger: silentLogger });
  app.activity('pay', async (claim: Claim) => `paid ${claim.id}`);
  app.orchestration('expense', async (ctx, claim: Claim) => {
    const verdict = await ctx.waitForCallback<{ approved: boolean }>('manager', async (token, actx) => {
      const { succeed, fail } = await actx.callbackUrls(token, { expiresIn: '3d' });
      await mailer.send(claim.manager, `Approve: ${succeed}\nDecline: ${fail}`);
    }, { timeout: '3d' });
    return verdict.approved ? ctx.callActivity('pay', claim) : 'declined';
  });

  const env = await TestEnvironment.create(app, { apiUrl: 'https://api.example.com' });
  const api = new HttpApi({ client: env.client, callbackUrls: env.callbackUrls });
  const id = await env.client.start('expense', { id: 'c-7', manager: 'ann@example.com' });
  await waitUntil(() => sent.length > 0);
  const approve = new URL(/^Approve: (\S+)$/m.exec(sent[0]!.text)![1]!);
  expect(approve.origin).toBe('https://api.example.com');
  const answer = await api.handle({ method: 'POST', path: approve.pathname, query: Object.fromEntries(approve.searchParams), headers: { 'content-type': 'application/json' }, body: '{"approved":true}' });
  expect(answer.statusCode).toBe(202);
  const { output } = await env.client.waitForCompletion(id);
  await env.close();
  expect(output).toBe('paid c-7');
});
