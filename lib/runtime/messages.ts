import type { FailureDetails } from '../core/errors.js';
import type { ParentRef } from '../core/history-events.js';
import type { InboxMessage } from '../ports.js';

/**
 * Inbox message ids. A task's result gets an id derived from the task, so a second delivery of the same
 * result (a duplicate queue message, a re-run activity) writes the same key and is recorded once.
 */
/** The task id of the timer that ends an instance at its deadline (not a call of the code: positions start at 1). */
export const DEADLINE_TASK_ID = 0;

export const messageIds = {
  start: (generation: number) => `start#${generation}`,
  /** A rewound call's next run (`round` ≥ 1) answers under an id of its own: a late result of the undone run cannot take its place. */
  activity: (generation: number, taskId: number, round = 0) => `A#${generation}#${taskId}${round > 0 ? `#r${round}` : ''}`,
  timer: (generation: number, taskId: number) => `T#${generation}#${taskId}`,
  child: (generation: number, taskId: number, round = 0) => `S#${generation}#${taskId}${round > 0 ? `#r${round}` : ''}`,
  /** A callback's completion (success or failure): the first one counts. */
  callback: (generation: number, taskId: number) => `C#${generation}#${taskId}`,
  /** A callback's heartbeat: heartbeats that arrive before a step applies one collapse into it. */
  callbackHeartbeat: (generation: number, taskId: number) => `CH#${generation}#${taskId}`,
  carried: (generation: number, index: number) => `carried#${generation}#${index}`,
  /** An external event raised with an idempotency key: its id is remembered after it is consumed. */
  keyedEvent: (eventId: string) => `K#${eventId}`,
};

/**
 * Ids of operators' commands: a second cancel or terminate of one instance is the same message; a rewind
 * is one per failure it undoes (named by the history length at the failure).
 */
export const CONTROL_MESSAGE_IDS = {
  cancel: 'X#cancel',
  terminate: 'X#terminate',
  rewind: (failedAt: number) => `X#rewind#${failedAt}`,
};

/** True for the id of a keyed event: consuming it leaves a tombstone, so a retried raise is recorded once. */
export function isKeyedEventId(messageId: string): boolean {
  return messageId.startsWith('K#');
}

/** True for the id of a task's result: applying it twice is harmless, as the worker drops a completion history already holds. */
export function isTaskResultId(messageId: string): boolean {
  return /^[ATSC]#\d+#\d+(#r\d+)?$/.test(messageId);
}

/** The message that tells a parent how its sub-orchestration ended. */
export function childResultMessage(parent: ParentRef, now: number, result: { output: unknown } | { error: FailureDetails }): InboxMessage {
  const round = parent.round ? { round: parent.round } : {};
  return {
    messageId: messageIds.child(parent.generation, parent.taskId, parent.round),
    generation: parent.generation,
    receivedAt: now,
    event:
      'error' in result
        ? { type: 'SubOrchestrationFailed', taskId: parent.taskId, error: result.error, ...round }
        : { type: 'SubOrchestrationCompleted', taskId: parent.taskId, output: result.output, ...round },
  };
}
