import { createApp, type OrchestrationContext } from 'perdure';

export const app = createApp();

app.activity('quote', async (item: string) => item.length * 10);

app.orchestration('order', async (ctx: OrchestrationContext, items: string[]) => {
  const prices = await Promise.all(items.map((item) => ctx.callActivity<number>('quote', item)));
  const { approved } = await ctx.waitForEvent<{ approved: boolean }>('approval', { timeout: '3d' });
  await ctx.sleep('1d');
  return { approved, total: prices.reduce((sum, price) => sum + price, 0) };
});
