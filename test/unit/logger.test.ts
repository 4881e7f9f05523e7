import { describe, expect, it } from 'vitest';
import { createApp, createJsonLogger, TestEnvironment } from '../../lib/index.js';

describe('the JSON logger', () => {
  it('redacts the named fields at any depth, case-insensitively, and leaves the rest', () => {
    const lines: string[] = [];
    const log = createJsonLogger({ level: 'debug', redact: ['email', 'cardNumber'], write: (line) => lines.push(line) });
    log.info('charging', { orderId: 'o-1', EMAIL: 'ada@example.com', card: { cardNumber: '4111 1111', brand: 'visa' }, items: [{ email: 'x@y.z' }] });
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', message: 'charging', orderId: 'o-1', EMAIL: '[redacted]', card: { cardNumber: '[redacted]', brand: 'visa' }, items: [{ email: '[redacted]' }] });
  });

  it('drops lines below its level', () => {
    const lines: string[] = [];
    const log = createJsonLogger({ level: 'warn', write: (line) => lines.push(line) });
    log.info('quiet');
    log.warn('loud');
    expect(lines.map((line) => (JSON.parse(line) as { message: string }).message)).toEqual(['loud']);
  });

  it("never prints payload contents itself: a run at debug level with failures and retries logs none of the instance's data", async () => {
    const lines: string[] = [];
    const app = createApp({ logger: createJsonLogger({ level: 'debug', redact: ['customer'], write: (line) => lines.push(line) }) });
    app.activity('charge', async (order: { card: string }, actx) => {
      if (actx.attempt === 1) throw new Error('provider down');
      return { receipt: `SECRET-RECEIPT-${order.card}` };
    }, { retry: { maxAttempts: 2, initialInterval: '1s' } });
    app.orchestration('order', async (ctx, order: { card: string; customer: string }) => {
      ctx.log.info('charging', { customer: order.customer });
      return ctx.callActivity('charge', order);
    });
    const env = await TestEnvironment.create(app);
    const id = await env.client.start('order', { card: 'SECRET-CARD-4111', customer: 'SECRET-ADA' });
    await env.client.raiseEvent(id, 'unused', { token: 'SECRET-TOKEN' });
    expect((await env.client.waitForCompletion(id)).status).toBe('Completed');
    await env.close();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toMatch(/SECRET/);
  });
});
