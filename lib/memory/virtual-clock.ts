import type { Clock } from '../ports.js';

/** Real time plus an offset that time skipping and `advanceTime` move forward. Never goes back. */
export class VirtualClock implements Clock {
  private offset = 0;

  now(): number {
    return Date.now() + this.offset;
  }

  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    if (ms > 0) this.offset += ms;
  }

  /** Moves the clock forward to `time` if it is in the future. */
  advanceTo(time: number): void {
    this.advance(time - this.now());
  }
}
