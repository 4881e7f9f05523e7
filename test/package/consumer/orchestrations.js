import { createApp } from 'perdure';

const app = createApp();
app.activity('stamp', async () => Date.now());
app.orchestration('order', async (ctx, input) => {
  const startedAt = Date.now();
  await ctx.callActivity('stamp', input);
  void ctx.callActivity('stamp', 'receipt');
  return startedAt;
});
