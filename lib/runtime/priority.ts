import type { Interceptor, MessageHeaders } from '../core/interceptors.js';

/** How urgent an instance's work is: `high` work has queues and event sources of its own. */
export type Priority = 'high' | 'normal';

export const PRIORITIES: readonly Priority[] = ['high', 'normal'];

/**
 * The header that puts an instance on the high-priority lane. It is stored with the instance's headers
 * and copied into every message about the instance (doorbells, activity tasks, timers, a child's result),
 * as the trace context is, so that each message's sender routes it without reading the instance.
 */
export const PRIORITY_HEADER = 'perdure-priority';

/** The priority an instance's (or a message's) headers give it. */
export function priorityOf(headers: MessageHeaders | undefined): Priority {
  return headers?.[PRIORITY_HEADER] === 'high' ? 'high' : 'normal';
}

/** The headers of a new instance of `priority`: normal adds nothing, so normal instances' records and messages do not change. */
export function withPriority(headers: MessageHeaders | undefined, priority: Priority): MessageHeaders | undefined {
  return priority === 'high' ? { ...headers, [PRIORITY_HEADER]: 'high' } : headers;
}

/** Copies the instance's priority into each message about it. */
export const priorityLane: Interceptor = {
  headers(into, instance) {
    if (instance?.[PRIORITY_HEADER] === 'high') into[PRIORITY_HEADER] = 'high';
  },
};
