import type { ScheduleState, ScheduleStates } from '../ports.js';

/** The schedules' state in memory, with the DynamoDB adapter's rules (firings and starts never move back). */
export class MemoryScheduleStates implements ScheduleStates {
  private readonly states = new Map<string, ScheduleState>();

  async get(name: string): Promise<ScheduleState | undefined> {
    const state = this.states.get(name);
    return state && { ...state };
  }

  async list(): Promise<ScheduleState[]> {
    return [...this.states.values()].map((state) => ({ ...state })).sort((a, b) => a.name.localeCompare(b.name));
  }

  async setPaused(name: string, paused: boolean): Promise<void> {
    this.states.set(name, { ...this.stateOf(name), paused });
  }

  async recordFiring(name: string, firingAt: number): Promise<void> {
    const state = this.stateOf(name);
    if (state.lastFiringAt === undefined || state.lastFiringAt < firingAt) this.states.set(name, { ...state, lastFiringAt: firingAt });
  }

  async recordStart(name: string, instanceId: string, startedAt: number): Promise<void> {
    const state = this.stateOf(name);
    if (state.lastStartedAt === undefined || state.lastStartedAt <= startedAt) this.states.set(name, { ...state, lastInstanceId: instanceId, lastStartedAt: startedAt });
  }

  private stateOf(name: string): ScheduleState {
    return this.states.get(name) ?? { name };
  }
}
