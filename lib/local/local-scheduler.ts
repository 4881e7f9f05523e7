import type { App } from '../core/app.js';
import type { Logger } from '../core/logger.js';
import { nextFiring, type RegisteredSchedule } from '../core/schedule.js';
import type { Clock } from '../ports.js';
import type { ScheduleFiring, ScheduleService } from '../runtime/schedules.js';

export interface LocalSchedulerOptions {
  app: App;
  schedules: ScheduleService;
  clock: Clock;
  logger: Logger;
  /**
   * The longest it sleeps before it reads the clock again, so that a clock a test moves, or a machine that
   * slept, is noticed within this long. @defaultValue 60 s
   */
  maxWaitMs?: number;
  /** How long a firing that failed (the table was unreachable) waits before it is tried again. @defaultValue 5 s */
  retryMs?: number;
}

interface Entry {
  schedule: RegisteredSchedule;
  /** The next firing to deliver; undefined when it never fires again. */
  next: number | undefined;
  retryAt?: number;
}

/**
 * What EventBridge Scheduler is on AWS, for the local stack: a timer to the next firing of each schedule
 * (read from the clock, at most `maxWaitMs` apart), each firing handed to the schedule service. A schedule
 * paused in its definition is not fired; one paused by an operator is, and its firing starts nothing.
 *
 * Catch-up: after a restart (or a sleep of the machine, or a jump of the clock), a schedule whose firings
 * were missed fires once, at the last missed firing; the others are lost, as they would be had they fired
 * into a schedule with overlap 'skip'. Where it resumes from is the schedule's last firing in the table;
 * a schedule that never fired starts from now.
 */
export class LocalScheduler {
  private readonly entries: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: LocalSchedulerOptions) {}

  /** Reads where each schedule left off, delivers what was missed (at most one firing each), and arms the timer. */
  async start(): Promise<ScheduleFiring[]> {
    const now = this.options.clock.now();
    for (const schedule of this.options.app.schedules()) {
      if (schedule.paused) continue;
      const { lastFiring } = await this.options.schedules.get(schedule.name);
      this.entries.push({ schedule, next: nextFiring(schedule, lastFiring === undefined ? now : Date.parse(lastFiring)) });
    }
    return this.tick();
  }

  /** Delivers every firing that is due by the clock (the last one only, for a schedule that missed several), then re-arms the timer. */
  tick(): Promise<ScheduleFiring[]> {
    const run = this.chain.then(() => this.deliverDue());
    this.chain = run.catch(() => undefined);
    return run;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.chain;
  }

  private async deliverDue(): Promise<ScheduleFiring[]> {
    clearTimeout(this.timer);
    const fired: ScheduleFiring[] = [];
    const now = this.options.clock.now();
    for (const entry of this.entries) {
      if (entry.next === undefined || entry.next > now || (entry.retryAt !== undefined && entry.retryAt > now)) continue;
      const { due, missed } = lastDue(entry.schedule, entry.next, now);
      if (missed > 0) this.options.logger.info('schedule missed firings: delivering the last one only', { schedule: entry.schedule.name, missed, firingTime: new Date(due).toISOString() });
      try {
        fired.push(await this.options.schedules.fire(entry.schedule.name, due));
        entry.next = nextFiring(entry.schedule, due);
        delete entry.retryAt;
      } catch (error) {
        entry.next = due;
        entry.retryAt = now + (this.options.retryMs ?? 5_000);
        this.options.logger.error('schedule firing failed: trying again', { schedule: entry.schedule.name, firingTime: new Date(due).toISOString(), error: String(error) });
      }
    }
    this.arm();
    return fired;
  }

  private arm(): void {
    if (this.stopped) return;
    const now = this.options.clock.now();
    const maxWait = this.options.maxWaitMs ?? 60_000;
    const wakeUps = this.entries.filter((entry) => entry.next !== undefined).map((entry) => Math.max(entry.next!, entry.retryAt ?? 0) - now);
    const delay = Math.min(maxWait, Math.max(0, ...(wakeUps.length ? [Math.min(...wakeUps)] : [maxWait])));
    this.timer = setTimeout(() => void this.tick().catch(() => undefined), delay);
    // The local stack's servers keep the process alive; the scheduler alone does not.
    this.timer.unref();
  }
}

/** The last firing at or before `now`, from `first` on, and how many earlier ones it stands for. */
function lastDue(schedule: RegisteredSchedule, first: number, now: number): { due: number; missed: number } {
  if (schedule.intervalMs !== undefined) {
    const due = Math.floor(now / schedule.intervalMs) * schedule.intervalMs;
    return { due, missed: Math.round((due - first) / schedule.intervalMs) };
  }
  let due = first;
  let missed = 0;
  for (let next = nextFiring(schedule, due); next !== undefined && next <= now; next = nextFiring(schedule, next)) {
    due = next;
    missed++;
  }
  return { due, missed };
}
