import type { FailureDetails } from './errors.js';
import type { ParentClosePolicy } from './types.js';

/**
 * History: the append-only list of what happened to one orchestration instance. Replay feeds it back
 * to the orchestration code; `taskId` ties a completion to the durable call that scheduled it.
 */

interface EventBase {
  /** 1-based position in this generation's history. */
  eventId: number;
  /** When the event was recorded (ms since the epoch). */
  timestamp: number;
}

/**
 * Where a durable call was made: in the orchestration's own code (absent), or inside the `ctx.child`
 * scope whose `ChildStarted` has this `taskId`. Calls are matched by their order within their scope, so a
 * finished child replays without its inner calls.
 */
interface Scoped {
  scope?: number;
}

/** Who started a sub-orchestration. */
export interface ParentRef {
  instanceId: string;
  generation: number;
  taskId: number;
  /** Started with `ctx.startSubOrchestration`: the parent is not told how the child ended. */
  detached?: true;
  /** The round of the parent's call: n once a rewind of the parent undid the child's failure n times. @defaultValue 0 */
  round?: number;
  /**
   * The child was the parent's only call in flight when the parent started it, and the parent's history then
   * ended at this event: the step that ends the child commits the child's result as the parent's next step
   * right where it runs, as a solo task's result is (no doorbell hop).
   */
  solo?: { eventId: number; incarnation?: string };
}

export interface ExecutionStarted extends EventBase {
  type: 'ExecutionStarted';
  name: string;
  version: string;
  input: unknown;
  parent?: ParentRef;
}
/** Opens each step; its timestamp is what `ctx.now()` returns until the next step. */
export interface StepStarted extends EventBase {
  type: 'StepStarted';
}
export interface ActivityScheduled extends EventBase, Scoped {
  type: 'ActivityScheduled';
  taskId: number;
  name: string;
  input: unknown;
  attempt: number;
  /** Stable across the retries of one call: the activity sees it as `actx.idempotencyKey`. */
  idempotencyKey: string;
  /** Set for `ctx.step`: `name` is the step's name and the function is the code's own closure, not a registered activity. */
  step?: true;
  /**
   * When the call's `scheduleToCloseTimeout` runs out (ms since the epoch): set at its first attempt and
   * repeated on each retry, so replay decides with the budget the call started with.
   */
  scheduleToCloseAt?: number;
}
export interface ActivityCompleted extends EventBase {
  type: 'ActivityCompleted';
  taskId: number;
  result: unknown;
  /** Which run of the call this is the result of: n after n rewinds undid its earlier results. @defaultValue 0 */
  round?: number;
}
export interface ActivityFailed extends EventBase {
  type: 'ActivityFailed';
  taskId: number;
  error: FailureDetails;
  /** Which run of the call this is the result of: n after n rewinds undid its earlier results. @defaultValue 0 */
  round?: number;
}
export interface TimerCreated extends EventBase, Scoped {
  type: 'TimerCreated';
  taskId: number;
  fireAt: number;
  purpose: 'sleep' | 'retry' | 'timeout';
  /** The name the code gave the wait (`ctx.sleep('cool-off', '1h')`), a label only. */
  name?: string;
}
export interface TimerFired extends EventBase {
  type: 'TimerFired';
  taskId: number;
}
export interface SubOrchestrationScheduled extends EventBase, Scoped {
  type: 'SubOrchestrationScheduled';
  taskId: number;
  name: string;
  version: string | undefined;
  instanceId: string;
  input: unknown;
  /** What becomes of the child when its parent ends or is cancelled while it runs. @defaultValue 'cancel' ('abandon' when detached) */
  parentClose?: ParentClosePolicy;
  /** Started with `ctx.startSubOrchestration`: the parent does not wait for it, nor hear of its end. */
  detached?: true;
}
export interface SubOrchestrationCompleted extends EventBase {
  type: 'SubOrchestrationCompleted';
  taskId: number;
  output: unknown;
  /** The round of the call (see `ParentRef.round`). @defaultValue 0 */
  round?: number;
}
export interface SubOrchestrationFailed extends EventBase {
  type: 'SubOrchestrationFailed';
  taskId: number;
  error: FailureDetails;
  /** The round of the call (see `ParentRef.round`). @defaultValue 0 */
  round?: number;
}
/** `ctx.child(name, fn)` began: the calls `fn` makes carry this event's `taskId` as their `scope`. */
export interface ChildStarted extends EventBase, Scoped {
  type: 'ChildStarted';
  taskId: number;
  name: string;
}
/** The function of a `ctx.child` returned: decided by the code itself, in the step where it returned. */
export interface ChildCompleted extends EventBase {
  type: 'ChildCompleted';
  taskId: number;
  result: unknown;
}
export interface ChildFailed extends EventBase {
  type: 'ChildFailed';
  taskId: number;
  error: FailureDetails;
}
/**
 * `ctx.createCallback`: a token an outside system completes. The token carries `nonce`, which history
 * keeps so that only the token handed out completes it.
 */
export interface CallbackCreated extends EventBase, Scoped {
  type: 'CallbackCreated';
  taskId: number;
  name?: string;
  nonce: string;
  /** When the callback expires (ms since the epoch), if it has a timeout. */
  timeoutAt?: number;
  /** A callback not heard from (completed or heartbeat) within this many ms fails. */
  heartbeatTimeoutMs?: number;
}
export interface CallbackCompleted extends EventBase {
  type: 'CallbackCompleted';
  taskId: number;
  result: unknown;
}
export interface CallbackFailed extends EventBase {
  type: 'CallbackFailed';
  taskId: number;
  error: FailureDetails;
}
/** The outside system says it is still working on the callback. */
export interface CallbackHeartbeat extends EventBase {
  type: 'CallbackHeartbeat';
  taskId: number;
}
export interface EventRaised extends EventBase {
  type: 'EventRaised';
  name: string;
  data: unknown;
}
/** Recorded by `ctx.patched(changeId)` on runs that take the new code path. */
export interface PatchMarker extends EventBase {
  type: 'PatchMarker';
  changeId: string;
}
export interface ExecutionSuspended extends EventBase {
  type: 'ExecutionSuspended';
  reason?: string;
}
export interface ExecutionResumed extends EventBase {
  type: 'ExecutionResumed';
}
export interface ContinuedAsNew extends EventBase {
  type: 'ContinuedAsNew';
  input: unknown;
  version: string;
}
export interface ExecutionCompleted extends EventBase {
  type: 'ExecutionCompleted';
  output: unknown;
}
export interface ExecutionFailed extends EventBase {
  type: 'ExecutionFailed';
  error: FailureDetails;
}
export interface ExecutionTerminated extends EventBase {
  type: 'ExecutionTerminated';
  reason?: string;
}
/** `client.cancel`: the code's pending calls fail with a `CancelledError`; it may clean up, then ends `Cancelled`. */
export interface ExecutionCancelRequested extends EventBase {
  type: 'ExecutionCancelRequested';
  reason?: string;
}
export interface ExecutionCancelled extends EventBase {
  type: 'ExecutionCancelled';
  reason?: string;
}
/**
 * `client.rewind`: the failed instance runs on from before its failure. The events listed in `rewound`
 * (the failure and the failed calls' results that caused it) stay in history but replay skips them, so the
 * failed calls are open again and run once more.
 */
export interface ExecutionRewound extends EventBase {
  type: 'ExecutionRewound';
  rewound: number[];
}

export type HistoryEvent =
  | ExecutionStarted
  | StepStarted
  | ActivityScheduled
  | ActivityCompleted
  | ActivityFailed
  | TimerCreated
  | TimerFired
  | SubOrchestrationScheduled
  | SubOrchestrationCompleted
  | SubOrchestrationFailed
  | ChildStarted
  | ChildCompleted
  | ChildFailed
  | CallbackCreated
  | CallbackCompleted
  | CallbackFailed
  | CallbackHeartbeat
  | EventRaised
  | PatchMarker
  | ExecutionSuspended
  | ExecutionResumed
  | ContinuedAsNew
  | ExecutionCompleted
  | ExecutionFailed
  | ExecutionTerminated
  | ExecutionCancelRequested
  | ExecutionCancelled
  | ExecutionRewound;

export type HistoryEventType = HistoryEvent['type'];

/** Omit distributed over the union, so each member keeps its own fields. */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An event before it has a place in history. */
export type NewHistoryEvent = DistributiveOmit<HistoryEvent, 'eventId' | 'timestamp'>;

/** The events a durable call records when the code makes it. */
export type ScheduleEvent = ActivityScheduled | TimerCreated | SubOrchestrationScheduled | ChildStarted | CallbackCreated;
/** The events that complete a scheduled durable call. */
export type CompletionEvent =
  | ActivityCompleted
  | ActivityFailed
  | TimerFired
  | SubOrchestrationCompleted
  | SubOrchestrationFailed
  | ChildCompleted
  | ChildFailed
  | CallbackCompleted
  | CallbackFailed;

const SCHEDULE_TYPES = new Set<string>(['ActivityScheduled', 'TimerCreated', 'SubOrchestrationScheduled', 'ChildStarted', 'CallbackCreated']);
const COMPLETION_TYPES = new Set<string>(['ActivityCompleted', 'ActivityFailed', 'TimerFired', 'SubOrchestrationCompleted', 'SubOrchestrationFailed', 'ChildCompleted', 'ChildFailed', 'CallbackCompleted', 'CallbackFailed']);

export function isScheduleEvent(event: { type: string }): event is ScheduleEvent {
  return SCHEDULE_TYPES.has(event.type);
}

export function isCompletionEvent(event: { type: string }): event is CompletionEvent {
  return COMPLETION_TYPES.has(event.type);
}

/** Describes a schedule event as the call that made it, e.g. `callActivity('chargeCard')`. */
export function describeCall(event: NewHistoryEvent): string {
  switch (event.type) {
    case 'ActivityScheduled':
      return event.step ? `step('${event.name}')` : `callActivity('${event.name}')`;
    case 'TimerCreated':
      return event.purpose === 'sleep' ? `sleep(${event.name ? `'${event.name}'` : ''})` : event.purpose === 'retry' ? 'a retry delay timer' : 'a timeout timer';
    case 'SubOrchestrationScheduled':
      return `callSubOrchestration('${event.name}')`;
    case 'ChildStarted':
      return `child('${event.name}')`;
    case 'CallbackCreated':
      return `createCallback(${event.name ? `'${event.name}'` : ''})`;
    default:
      return event.type;
  }
}

/** Appends new events after `lastEventId`, giving each its position and timestamp. */
export function numberEvents(events: NewHistoryEvent[], lastEventId: number, timestamp: number): HistoryEvent[] {
  return events.map((event, index) => ({ ...event, eventId: lastEventId + index + 1, timestamp }));
}

/** A sub-orchestration that history shows started and not ended, with its parent-close policy. */
export interface RunningChild {
  taskId: number;
  instanceId: string;
  parentClose: ParentClosePolicy;
}

/** The events of history that rewinds undid: replay skips them. */
export function rewoundEvents(history: readonly HistoryEvent[]): Set<number> {
  const rewound = new Set<number>();
  for (const event of history) if (event.type === 'ExecutionRewound') for (const eventId of event.rewound) rewound.add(eventId);
  return rewound;
}

/** Results whose late duplicates a rewind must tell apart: those that arrive through the inbox. */
export type RoundedResult = Extract<HistoryEvent, { type: 'ActivityCompleted' | 'ActivityFailed' | 'SubOrchestrationCompleted' | 'SubOrchestrationFailed' }>;

export function isRoundedResult(event: { type: string }): event is RoundedResult {
  return event.type === 'ActivityCompleted' || event.type === 'ActivityFailed' || event.type === 'SubOrchestrationCompleted' || event.type === 'SubOrchestrationFailed';
}

/**
 * The round of each call (an activity, a `ctx.step`, a sub-orchestration) whose result a rewind undid: how
 * many of its results were undone. The call runs again in that round, and a result of an earlier round (a
 * late duplicate of the run that failed) is not taken for the new one.
 */
export function resultRounds(history: readonly HistoryEvent[]): Map<number, number> {
  const rewound = rewoundEvents(history);
  const rounds = new Map<number, number>();
  for (const event of history) if (isRoundedResult(event) && rewound.has(event.eventId)) rounds.set(event.taskId, (rounds.get(event.taskId) ?? 0) + 1);
  return rounds;
}

/** The sub-orchestrations of this history that have not reported their end (detached ones never do). */
export function runningChildren(history: readonly HistoryEvent[]): RunningChild[] {
  const rewound = rewoundEvents(history);
  const running = new Map<number, RunningChild>();
  for (const event of history) {
    if (rewound.has(event.eventId)) continue;
    if (event.type === 'SubOrchestrationScheduled') running.set(event.taskId, childOf(event));
    else if (event.type === 'SubOrchestrationCompleted' || event.type === 'SubOrchestrationFailed') running.delete(event.taskId);
  }
  return [...running.values()];
}

export function childOf(event: Pick<SubOrchestrationScheduled, 'taskId' | 'instanceId' | 'parentClose' | 'detached'>): RunningChild {
  return { taskId: event.taskId, instanceId: event.instanceId, parentClose: event.parentClose ?? (event.detached ? 'abandon' : 'cancel') };
}

/**
 * What a rewind of a failed history undoes: the failure (`ExecutionFailed`) and the failed results its
 * last step applied (activities, steps, sub-orchestrations, child contexts), so those calls run again.
 * Undefined when history does not end failed.
 */
export function rewindTargets(history: readonly HistoryEvent[]): { failure: HistoryEvent; failedCalls: Extract<HistoryEvent, { type: 'ActivityFailed' | 'SubOrchestrationFailed' | 'ChildFailed' }>[] } | undefined {
  const rewound = rewoundEvents(history);
  const live = history.filter((event) => !rewound.has(event.eventId));
  const failure = live.at(-1);
  if (failure?.type !== 'ExecutionFailed') return undefined;
  const stepStart = live.findLastIndex((event) => event.type === 'StepStarted');
  const failedCalls = live
    .slice(stepStart + 1)
    .filter((event): event is Extract<HistoryEvent, { type: 'ActivityFailed' | 'SubOrchestrationFailed' | 'ChildFailed' }> => event.type === 'ActivityFailed' || event.type === 'SubOrchestrationFailed' || event.type === 'ChildFailed');
  return { failure, failedCalls };
}
