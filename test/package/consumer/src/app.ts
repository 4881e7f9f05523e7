import { createApp, type OrchestrationContext } from 'perdure';

export const app = createApp();

app.activity('quote', async (item: string) => item.length * 10);

app.orchestration('order', async (ctx: OrchestrationContext, items: string[]) => {
  const prices = await Promise.all(items.map((item) => ctx.callActivity<number>('quote', item)));
  const { approved } = await ctx.waitForEvent<{ approved: boolean }>('approval', { timeout: '3d' });
  await ctx.sleep('1d');
  return { approved, total: prices.reduce((sum, price) => sum + price, 0) };
});

// A reminder every morning at 08:00, New York time: EventBridge Scheduler fires it on AWS.
app.orchestration('remind', async (ctx: OrchestrationContext, who: string) => ctx.callActivity<number>('quote', who));
app.schedule('morning', { cron: '0 8 ? * MON-FRI *', timezone: 'America/New_York', orchestration: 'remind', input: 'team', overlap: 'skip' });
