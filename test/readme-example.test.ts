import { expect, it } from 'vitest';
import { createApp, silentLogger, TestEnvironment } from '../lib/index.js';

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
