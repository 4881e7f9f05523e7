import { SCHEDULED_INSTANCE_PREFIX } from '../core/schedule.js';

/**
 * Names the schedule handler and the CDK construct share: the partition of the table the schedules'
 * state lives in (the handler's IAM policy is limited to it and to the instances schedules start).
 */
export const SCHEDULES = {
  /** One item per schedule: `SK = S#<name>`. No `status` or `createdAt`, so no instance listing sees them. */
  partition: 'SCHEDULE#',
  /** Instance ids of firings start with it: `sched-<name>-<ISO minute>`. */
  instancePrefix: SCHEDULED_INSTANCE_PREFIX,
} as const;
