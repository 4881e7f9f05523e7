import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp, TestEnvironment, type Logger } from '../../lib/index.js';

/** What Powertools writes (JSON lines on stdout, warnings and errors on stderr), parsed. */
let lines: Record<string, unknown>[] = [];
const real = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
beforeEach(() => {
  lines = [];
  const capture = (chunk: unknown) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) {
      if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    return true;
  };
  process.stdout.write = capture;
  process.stderr.write = capture;
});
afterEach(() => {
  process.stdout.write = real.out;
  process.stderr.write = real.err;
});

function orderApp(logger: Logger, redact?: string[]) {
  const app = createApp({ logger, ...(redact ? { redact } : {}) });
  app.activity('charge', async (order: { email: string }, actx) => {
    actx.log.info('charging', { customer: { email: order.email } });
    return 'paid';
  });
  app.orchestration('order', async (ctx, order: { email: string }) => {
    ctx.log.info('order received', { email: order.email });
    return ctx.callActivity('charge', order);
  });
  return app;
}

describe('a Powertools for AWS Lambda Logger as Perdure’s logger', () => {
  it('plugs in with no wrapper: Perdure’s lines come out as Powertools JSON, with its fields and the service’s keys', async () => {
    const powertools = new PowertoolsLogger({ serviceName: 'orders', persistentKeys: { team: 'checkout' } });
    const logger: Logger = powertools;
    const env = await TestEnvironment.create(orderApp(logger));
    await env.client.waitForCompletion(await env.client.start('order', { email: 'ada@example.com' }, { instanceId: 'order-1' }));
    await env.close();
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 'INFO', service: 'orders', team: 'checkout', message: 'order received', instanceId: 'order-1', orchestration: 'order', email: 'ada@example.com' }),
        expect.objectContaining({ level: 'INFO', service: 'orders', message: 'charging', instanceId: 'order-1', activity: 'charge', attempt: 1, customer: { email: 'ada@example.com' } }),
      ]),
    );
  });

  it('keeps redaction: createApp({ redact }) hides the named fields at any depth, whatever the logger', async () => {
    const env = await TestEnvironment.create(orderApp(new PowertoolsLogger({ serviceName: 'orders' }), ['email']));
    await env.client.waitForCompletion(await env.client.start('order', { email: 'ada@example.com' }, { instanceId: 'order-2' }));
    await env.close();
    const logged = lines.filter((line) => line.instanceId === 'order-2');
    expect(logged.map((line) => line.message)).toEqual(expect.arrayContaining(['order received', 'charging']));
    expect(JSON.stringify(logged)).not.toContain('ada@example.com');
    expect(logged.find((line) => line.message === 'charging')).toMatchObject({ customer: { email: '[redacted]' } });
  });

  it('keeps Powertools’ own level: lines below it are dropped', async () => {
    const env = await TestEnvironment.create(orderApp(new PowertoolsLogger({ serviceName: 'orders', logLevel: 'WARN' })));
    await env.client.waitForCompletion(await env.client.start('order', { email: 'x@example.com' }));
    await env.close();
    expect(lines.filter((line) => line.level === 'INFO')).toEqual([]);
  });
});
