/**
 * The example the stack serves: an order saga. It reserves stock, charges the card (retried), waits for a
 * person to approve large orders (with a timeout), packs the items in parallel, books shipping in a
 * sub-orchestration, waits for the carrier's pickup window, and undoes what it did on every way out that
 * does not ship: the charge is refunded and the stock released when the approval is refused, missing or
 * late, and when a later step fails (the instance then fails with that step's error). A schedule starts a
 * daily report every night.
 */
import { randomBytes } from 'node:crypto';
import { createApp, NonRetryableError, TimeoutError, type ActivityFailedError, type AppOptions, type OrchestrationContext } from '../lib/index.js';

export interface OrderItem {
  sku: string;
  quantity: number;
}

export interface Order {
  orderId: string;
  customer: string;
  amount: number;
  items: OrderItem[];
  /** How long to wait for the carrier's pickup. @defaultValue '1d' */
  pickupAfter?: string;
}

export interface OrderResult {
  orderId: string;
  status: 'shipped' | 'payment-failed' | 'out-of-stock' | 'rejected';
  trackingNumber?: string;
  invoiceBytes?: number;
  reason?: string;
}

/** Orders above this amount wait for a person's approval. */
export const APPROVAL_THRESHOLD = 1_000;

export function createExampleApp(options: AppOptions = {}) {
  const app = createApp(options);

  app.activity('reserveStock', async (items: OrderItem[]) => {
    const missing = items.find((item) => item.sku.startsWith('OUT-OF-STOCK'));
    if (missing) throw new NonRetryableError(`no stock left for ${missing.sku}`, { details: { sku: missing.sku } });
    return { reservationId: `res-${items.map((item) => item.sku).join('-')}` };
  });
  app.activity('releaseStock', async (reservationId: string) => ({ released: reservationId }));

  app.activity(
    'chargeCard',
    async (charge: { orderId: string; amount: number; customer: string }, actx) => {
      // A payment provider that fails now and then: the retry policy absorbs it.
      if (charge.customer.includes('flaky') && actx.attempt === 1) throw new Error('payment provider timed out');
      if (charge.customer.includes('declined')) throw new NonRetryableError('card declined');
      return { paymentId: `pay-${charge.orderId}`, idempotencyKey: actx.idempotencyKey };
    },
    { retry: { maxAttempts: 3, initialInterval: '2s' } },
  );
  app.activity('refundPayment', async (paymentId: string) => ({ refunded: paymentId }));

  app.activity('packItem', async (item: OrderItem) => {
    if (item.sku.startsWith('DAMAGED')) throw new NonRetryableError(`${item.sku} is damaged and cannot be packed`, { details: { sku: item.sku } });
    return { sku: item.sku, parcels: Math.ceil(item.quantity / 10) };
  });

  // About 300 KB that does not compress (like a real PDF): the AWS runtime offloads it to S3.
  app.activity('generateInvoice', async (order: Order) => ({
    orderId: order.orderId,
    pdfBase64: randomBytes(225_000).toString('base64'),
  }));

  app.activity('bookCarrier', async (order: { orderId: string; parcels: number }) => ({ carrier: 'ACME', pickupSlot: `${order.parcels} parcels` }));
  app.activity('printLabel', async (orderId: string) => ({ trackingNumber: `TRK-${orderId}` }));
  app.activity('sendEmail', async (email: { to: string; subject: string }) => ({ sent: email.subject }));

  app.orchestration('shipping', async (ctx, shipment: { orderId: string; parcels: number }) => {
    await ctx.callActivity('bookCarrier', shipment);
    const label = await ctx.callActivity<{ trackingNumber: string }>('printLabel', shipment.orderId);
    return label.trackingNumber;
  });

  app.orchestration('order', async (ctx, order: Order): Promise<OrderResult> => {
    let reservation: { reservationId: string };
    try {
      reservation = await ctx.callActivity('reserveStock', order.items);
    } catch (error) {
      return { orderId: order.orderId, status: 'out-of-stock', reason: (error as ActivityFailedError).failure.message };
    }

    let payment: { paymentId: string };
    try {
      payment = await ctx.callActivity('chargeCard', { orderId: order.orderId, amount: order.amount, customer: order.customer });
    } catch (error) {
      await ctx.callActivity('releaseStock', reservation.reservationId);
      return { orderId: order.orderId, status: 'payment-failed', reason: (error as ActivityFailedError).failure.message };
    }

    // From here the card is charged and the stock reserved: every way out that does not ship undoes both, newest first.
    let shipped: OrderResult | { refused: string };
    try {
      shipped = await fulfil(ctx, order);
    } catch (error) {
      await compensate(ctx, payment, reservation);
      throw error;
    }
    if ('refused' in shipped) {
      await compensate(ctx, payment, reservation);
      return { orderId: order.orderId, status: 'rejected', reason: shipped.refused };
    }
    return shipped;
  });

  /** Undoes the charge and the reservation, newest first. */
  async function compensate(ctx: OrchestrationContext, payment: { paymentId: string }, reservation: { reservationId: string }): Promise<void> {
    await ctx.callActivity('refundPayment', payment.paymentId);
    await ctx.callActivity('releaseStock', reservation.reservationId);
  }

  /** Approval (for large orders), packing, the invoice, the pickup wait, shipping and the email; or why it was refused. */
  async function fulfil(ctx: OrchestrationContext, order: Order): Promise<OrderResult | { refused: string }> {
    if (order.amount > APPROVAL_THRESHOLD) {
      ctx.log.info('waiting for approval', { orderId: order.orderId, amount: order.amount });
      let decision: { approved?: unknown } | undefined;
      try {
        decision = await ctx.waitForEvent<{ approved?: unknown } | undefined>('approval', { timeout: '3d' });
      } catch (error) {
        if (!(error instanceof TimeoutError)) throw error;
        return { refused: 'no approval within 3 days' };
      }
      if (typeof decision?.approved !== 'boolean') return { refused: 'the approval carried no decision (send {"approved": true} or false)' };
      if (!decision.approved) return { refused: 'rejected by the approver' };
    }

    const packed = await ctx.map(order.items, (item) => ctx.callActivity<{ parcels: number }>('packItem', item), { concurrency: 5 });
    const invoice = await ctx.callActivity<{ pdfBase64: string }>('generateInvoice', order);
    await ctx.sleep(order.pickupAfter ?? '1d'); // the carrier collects once a day
    const parcels = packed.reduce((sum, item) => sum + item.parcels, 0);
    const trackingNumber = await ctx.callSubOrchestration<string>('shipping', { orderId: order.orderId, parcels });
    try {
      await ctx.callActivity('sendEmail', { to: order.customer, subject: `Order ${order.orderId} shipped: ${trackingNumber}` });
    } catch (error) {
      // The parcel is on its way: a lost email is not a reason to refund it.
      ctx.log.warn('shipping email failed', { orderId: order.orderId, error: (error as Error).message });
    }
    return { orderId: order.orderId, status: 'shipped', trackingNumber, invoiceBytes: invoice.pdfBase64.length };
  }

  // Every night at 02:00, Paris time: the day's report. npm start fires it on time; on AWS, EventBridge Scheduler does.
  app.activity('compileReport', async (report: { day: string }) => ({ day: report.day, lines: 0 }));
  app.orchestration('dailyReport', async (ctx, options: { recipients: string[] }) => {
    const day = ctx.now().toISOString().slice(0, 10);
    const report = await ctx.callActivity<{ day: string; lines: number }>('compileReport', { day });
    await ctx.callActivity('sendEmail', { to: options.recipients.join(', '), subject: `Orders of ${day}: ${report.lines} lines` });
    return report;
  });
  app.schedule('nightlyReport', { cron: '0 2 * * ? *', timezone: 'Europe/Paris', orchestration: 'dailyReport', input: { recipients: ['ops@example.com'] }, overlap: 'skip' });

  return app;
}
