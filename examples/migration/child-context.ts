/**
 * A child context: a ticket booking groups holding the seats and pricing the hold under one name.
 *
 * With the AWS SDK, `context.runInChildContext('reserve', async (child) => ...)` gives the block its own
 * operation counter and records its result; a replay after it ended returns the result without running it.
 * Perdure's `ctx.child(name, fn)` is the same idea: the child's calls take positions of their own under the
 * name, its result is recorded (`ChildCompleted`), and its code does not run again once it ended. A throw
 * inside ends it with a `ChildFailedError` (the AWS SDK: `ChildContextError`) whose `failure` holds the error.
 * Differences: the name is required, and there is no `subType`, `serdes` or `errorMapper` option.
 */
import { ChildFailedError, createApp, type AppOptions } from '../../lib/index.js';

export interface Booking {
  bookingId: string;
  showId: string;
  seats: number;
  customer: string;
}

export interface Hold {
  holdId: string;
  seats: number;
}

/** The ticketing system: holds seats (rejects when sold out), prices a hold, takes the payment. */
export interface BoxOffice {
  hold(booking: Booking): Promise<Hold>;
  price(hold: Hold): Promise<number>;
  charge(customer: string, amount: number, idempotencyKey: string): Promise<string>;
}

export type BookingOutcome =
  | { status: 'booked'; holdId: string; price: number; paymentId: string }
  | { status: 'not reserved'; reason: string };

export function createTicketBookingApp(boxOffice: BoxOffice, options: AppOptions = {}) {
  const app = createApp(options);

  app.activity('holdSeats', (booking: Booking) => boxOffice.hold(booking));
  app.activity('chargeCard', (charge: { customer: string; amount: number }, actx) => boxOffice.charge(charge.customer, charge.amount, actx.idempotencyKey), {
    retry: { maxAttempts: 3 },
  });

  app.orchestration('ticketBooking', async (ctx, booking: Booking): Promise<BookingOutcome> => {
    let reservation: { holdId: string; price: number };
    try {
      reservation = await ctx.child('reserve', async (child) => {
        const hold = await child.callActivity<Hold>('holdSeats', booking);
        const price = await child.step('price hold', () => boxOffice.price(hold));
        return { holdId: hold.holdId, price };
      });
    } catch (error) {
      if (error instanceof ChildFailedError) return { status: 'not reserved', reason: error.failure.message };
      throw error;
    }
    const paymentId = await ctx.callActivity<string>('chargeCard', { customer: booking.customer, amount: reservation.price });
    return { status: 'booked', ...reservation, paymentId };
  });

  return app;
}
