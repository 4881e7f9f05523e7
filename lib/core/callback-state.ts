import type { CallbackCompleted, CallbackCreated, CallbackFailed, CallbackHeartbeat, HistoryEvent } from './history-events.js';

/** A callback's completion or heartbeat, recorded in history or still waiting in the inbox (`pending`). */
export type CallbackSignal = (Pick<CallbackCompleted, 'type' | 'taskId' | 'result'> | Pick<CallbackFailed, 'type' | 'taskId' | 'error'> | Pick<CallbackHeartbeat, 'type' | 'taskId'>) & {
  timestamp: number;
  /** True while it waits in the inbox for the instance's next step. */
  pending?: boolean;
};

/** Where a callback stands, from its instance's history and inbox at a moment. */
export type CallbackState =
  | { state: 'open'; created: CallbackCreated; lastHeard: number; heartbeatDeadline?: number; lastHeartbeat?: number }
  | { state: 'settled'; created: CallbackCreated; outcome: Extract<CallbackSignal, { type: 'CallbackCompleted' | 'CallbackFailed' }> }
  | { state: 'expired'; created: CallbackCreated; reason: 'timeout' | 'heartbeat'; at: number };

/**
 * The state of the callback `created` at `now`. It is settled by the first completion or failure history
 * or the inbox holds; otherwise expired once its timeout passed or it was silent (no heartbeat, no
 * completion) for its heartbeat timeout, as the orchestration's own timers decide; otherwise open.
 */
export function callbackState(created: CallbackCreated, signals: readonly CallbackSignal[], now: number): CallbackState {
  const own = signals.filter((signal) => signal.taskId === created.taskId);
  const outcome = own.find((signal): signal is Extract<CallbackSignal, { type: 'CallbackCompleted' | 'CallbackFailed' }> => signal.type !== 'CallbackHeartbeat');
  if (outcome) return { state: 'settled', created, outcome };
  if (created.timeoutAt !== undefined && now > created.timeoutAt) return { state: 'expired', created, reason: 'timeout', at: created.timeoutAt };
  const heartbeats = own.filter((signal) => signal.type === 'CallbackHeartbeat').map((signal) => signal.timestamp);
  const lastHeartbeat = heartbeats.length ? Math.max(...heartbeats) : undefined;
  const lastHeard = Math.max(created.timestamp, lastHeartbeat ?? 0);
  if (created.heartbeatTimeoutMs === undefined) return { state: 'open', created, lastHeard, ...(lastHeartbeat !== undefined ? { lastHeartbeat } : {}) };
  const heartbeatDeadline = lastHeard + created.heartbeatTimeoutMs;
  if (now > heartbeatDeadline) return { state: 'expired', created, reason: 'heartbeat', at: heartbeatDeadline };
  return { state: 'open', created, lastHeard, heartbeatDeadline, ...(lastHeartbeat !== undefined ? { lastHeartbeat } : {}) };
}

/** The completions and heartbeats a history records. */
export function callbackSignals(history: readonly HistoryEvent[]): CallbackSignal[] {
  const signals: CallbackSignal[] = [];
  for (const event of history) {
    if (event.type === 'CallbackCompleted') signals.push({ type: event.type, taskId: event.taskId, result: event.result, timestamp: event.timestamp });
    else if (event.type === 'CallbackFailed') signals.push({ type: event.type, taskId: event.taskId, error: event.error, timestamp: event.timestamp });
    else if (event.type === 'CallbackHeartbeat') signals.push({ type: event.type, taskId: event.taskId, timestamp: event.timestamp });
  }
  return signals;
}

/** Describes a callback for a message: its name, or its position. */
export function describeCallback(created: CallbackCreated): string {
  return created.name ? `'${created.name}'` : `at position ${created.taskId}`;
}
