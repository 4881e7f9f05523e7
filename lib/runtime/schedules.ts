import type { App } from '../core/app.js';
import { InstanceExistsError, InstanceNotFoundError, InvalidStateError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { validateName } from '../core/names.js';
import { manualInstanceId, nextFiring, scheduledInstanceId, type RegisteredSchedule, type ScheduleOverlap } from '../core/schedule.js';
import type { Client } from '../client.js';
import { isTerminal, type Clock, type InstanceStatusName, type InstanceStore, type ScheduleStates } from '../ports.js';

/** What one firing (or trigger) of a schedule did. */
export interface ScheduleFiring {
  schedule: string;
  /** ISO 8601: the firing's scheduled time, or when a trigger asked. */
  firingTime: string;
  /**
   * `started`: it started `instanceId`. `duplicate`: that firing's instance exists already (a firing
   * delivered twice): nothing started. `skipped`: overlap 'skip' and `previousInstanceId` still runs.
   * `paused`: the schedule is paused. `superseded`: a later firing was handled already (a late retry).
   */
  outcome: 'started' | 'duplicate' | 'skipped' | 'paused' | 'superseded';
  instanceId?: string;
  /** `skipped`: the instance still running. `started` with overlap 'cancelPrevious': the instance it ended. */
  previousInstanceId?: string;
}

/** A schedule as operators see it: `GET /schedules`, `perdure schedule list`, the web view. */
export interface ScheduleSummary {
  name: string;
  orchestration: string;
  /** `cron(0 2 * * ? *)` or `every 15m`. */
  expression: string;
  timezone: string;
  overlap: ScheduleOverlap;
  /** Its firings start nothing: paused in its definition (`paused: true`, deployed disabled) or by an operator. */
  paused: boolean;
  pausedBy?: 'definition' | 'operator';
  /** ISO 8601, absent when it never fires again. */
  nextFiring?: string;
  /** ISO 8601: the latest scheduled firing handled, started or not. */
  lastFiring?: string;
  /** The instance it started last; `status` is absent once that instance is purged or expired. */
  lastInstance?: { instanceId: string; status?: InstanceStatusName; startedAt: string };
  /**
   * On AWS: whether the stack's EventBridge schedules include this one (the `DurableFunctions` construct's
   * `schedules`). Absent where the runtime cannot tell.
   */
  deployed?: boolean;
}

export interface ScheduleServiceDependencies {
  app: App;
  client: Client;
  store: InstanceStore;
  states: ScheduleStates;
  clock: Clock;
  logger: Logger;
  /** The schedules the deployment fires (AWS: the construct's EventBridge schedules); unknown when absent. */
  deployed?: readonly string[];
}

/**
 * Fires an app's schedules, and lets operators list, trigger, pause and resume them. Whatever delivers the
 * firings (EventBridge Scheduler on AWS, the local scheduler, a test) calls `fire`: each firing starts an
 * instance whose id is derived from the schedule and the firing's minute, so a firing delivered twice
 * starts one instance.
 * @example
 * // In a test: fire the nightly schedule for 30 March 2026, 02:00 Paris time, as EventBridge Scheduler would.
 * const firing = await env.schedules.fire('nightly', Date.parse('2026-03-30T00:00Z')); // { outcome: 'started', instanceId: 'sched-nightly-2026-03-30T00:00Z', ... }
 */
export class ScheduleService {
  constructor(private readonly deps: ScheduleServiceDependencies) {}

  /** Every schedule of the app, with its next firing, its last instance and whether it is paused. */
  async list(): Promise<ScheduleSummary[]> {
    const states = new Map((await this.deps.states.list()).map((state) => [state.name, state]));
    return Promise.all(this.deps.app.schedules().map((schedule) => this.summarize(schedule, states.get(schedule.name))));
  }

  /** One schedule; `ScheduleNotFoundError` if the app defines none of that name. */
  async get(name: string): Promise<ScheduleSummary> {
    const schedule = this.schedule(name);
    return this.summarize(schedule, await this.deps.states.get(name));
  }

  /**
   * Handles the scheduled firing of `name` at `firingTime` (ms since the epoch; seconds are dropped). Only
   * a failure to read or write is thrown, so that the deliverer retries; a duplicate is an outcome, not an error.
   */
  async fire(name: string, firingTime: number): Promise<ScheduleFiring> {
    const schedule = this.schedule(name);
    const at = Math.floor(firingTime / 60_000) * 60_000;
    const state = await this.deps.states.get(name);
    const base = { schedule: name, firingTime: new Date(at).toISOString() };
    if (schedule.paused || state?.paused) {
      await this.deps.states.recordFiring(name, at);
      return this.report({ ...base, outcome: 'paused' });
    }
    // A late retry of a firing older than the last one handled would run behind its successor.
    if (schedule.overlap !== 'allow' && state?.lastFiringAt !== undefined && at < state.lastFiringAt) return this.report({ ...base, outcome: 'superseded' });
    const firing = await this.start(schedule, scheduledInstanceId(name, at), state?.lastInstanceId, base);
    await this.deps.states.recordFiring(name, at);
    return firing;
  }

  /** Fires `name` now, paused or not (an operator asked), with its overlap rule: `POST /schedules/{name}/trigger`. */
  async trigger(name: string): Promise<ScheduleFiring> {
    const schedule = this.schedule(name);
    const now = this.deps.clock.now();
    const state = await this.deps.states.get(name);
    return this.start(schedule, manualInstanceId(name, now), state?.lastInstanceId, { schedule: name, firingTime: new Date(now).toISOString() });
  }

  /** Pauses `name`: its firings start nothing until `resume` (stored with the schedule's state). */
  async pause(name: string): Promise<ScheduleSummary> {
    this.schedule(name);
    await this.deps.states.setPaused(name, true);
    this.deps.logger.info('schedule paused', { schedule: name });
    return this.get(name);
  }

  /** Resumes `name`; a schedule paused in its definition is resumed by a deploy without `paused: true`. */
  async resume(name: string): Promise<ScheduleSummary> {
    const schedule = this.schedule(name);
    if (schedule.paused) {
      throw new InvalidStateError(`Schedule '${name}' is paused in its definition (paused: true), which the deployment follows: remove paused from app.schedule('${name}', ...) and deploy. Nothing was changed.`);
    }
    await this.deps.states.setPaused(name, false);
    this.deps.logger.info('schedule resumed', { schedule: name });
    return this.get(name);
  }

  private schedule(name: string): RegisteredSchedule {
    validateName(name, 'schedule name');
    return this.deps.app.getSchedule(name);
  }

  /** Starts the firing's instance, after the overlap rule has had its say about the previous one. */
  private async start(schedule: RegisteredSchedule, instanceId: string, previousId: string | undefined, base: Pick<ScheduleFiring, 'schedule' | 'firingTime'>): Promise<ScheduleFiring> {
    let cancelled: string | undefined;
    if (previousId !== undefined && previousId !== instanceId && schedule.overlap !== 'allow') {
      const previous = await this.deps.store.getInstance(previousId);
      if (previous && !isTerminal(previous.status)) {
        if (schedule.overlap === 'skip') return this.report({ ...base, outcome: 'skipped', previousInstanceId: previousId });
        cancelled = await this.cancel(previousId, `Schedule '${schedule.name}' fired at ${base.firingTime} with overlap 'cancelPrevious'.`);
      }
    }
    try {
      await this.deps.client.start(schedule.orchestration, schedule.input, { instanceId });
    } catch (error) {
      if (!(error instanceof InstanceExistsError)) throw error;
      // The same firing again (the start woke the instance if the first delivery died before waking it).
      await this.deps.states.recordStart(schedule.name, instanceId, this.deps.clock.now());
      return this.report({ ...base, outcome: 'duplicate', instanceId });
    }
    await this.deps.states.recordStart(schedule.name, instanceId, this.deps.clock.now());
    return this.report({ ...base, outcome: 'started', instanceId, ...(cancelled ? { previousInstanceId: cancelled } : {}) });
  }

  /**
   * Cancels the previous instance (its code may clean up), or terminates it when it is Quarantined (its code
   * cannot run); one that finished or went away meanwhile needs nothing. Returns its id if it was asked to end.
   */
  private async cancel(instanceId: string, reason: string): Promise<string | undefined> {
    try {
      const previous = await this.deps.client.getStatus(instanceId);
      if (previous.status === 'Quarantined') await this.deps.client.terminate(instanceId, reason);
      else await this.deps.client.cancel(instanceId, reason);
      return instanceId;
    } catch (error) {
      if (error instanceof InvalidStateError || error instanceof InstanceNotFoundError) return undefined;
      throw error;
    }
  }

  private report(firing: ScheduleFiring): ScheduleFiring {
    const { schedule, outcome, firingTime, instanceId, previousInstanceId } = firing;
    this.deps.logger.info(`schedule firing ${outcome}`, { schedule, firingTime, ...(instanceId ? { instanceId } : {}), ...(previousInstanceId ? { previousInstanceId } : {}) });
    return firing;
  }

  private async summarize(schedule: RegisteredSchedule, state: Awaited<ReturnType<ScheduleStates['get']>>): Promise<ScheduleSummary> {
    const next = nextFiring(schedule, this.deps.clock.now());
    const pausedBy = schedule.paused ? 'definition' : state?.paused ? 'operator' : undefined;
    const summary: ScheduleSummary = {
      name: schedule.name,
      orchestration: schedule.orchestration,
      expression: schedule.expression,
      timezone: schedule.timezone,
      overlap: schedule.overlap,
      paused: pausedBy !== undefined,
      ...(pausedBy ? { pausedBy } : {}),
      ...(next !== undefined ? { nextFiring: new Date(next).toISOString() } : {}),
      ...(state?.lastFiringAt !== undefined ? { lastFiring: new Date(state.lastFiringAt).toISOString() } : {}),
    };
    if (state?.lastInstanceId !== undefined) {
      const last = await this.deps.store.getInstance(state.lastInstanceId);
      summary.lastInstance = { instanceId: state.lastInstanceId, ...(last ? { status: last.status } : {}), startedAt: new Date(state.lastStartedAt ?? 0).toISOString() };
    }
    if (this.deps.deployed) summary.deployed = this.deps.deployed.includes(schedule.name);
    return summary;
  }
}
