/**
 * Names shadow replay's handler and the CDK construct share: the table partition it may write, and the
 * CloudWatch metric (embedded metric format) the construct alarms on.
 */
export const SHADOW_REPLAY = {
  /** Runs (`R#<at>`) and findings (`F#<at>#<instanceId>`) live in this partition of the app's table. */
  partition: 'REPLAY#',
  namespace: 'Perdure',
  /** Live histories the deployed code no longer replays, per run. */
  divergences: 'ReplayDivergences',
  /** Histories replayed, per run. */
  replayed: 'ReplaysChecked',
  /** 1 when a run stopped before its sample was replayed (budget, time). */
  incomplete: 'ReplayIncomplete',
  /** The metrics' one dimension: the table's name, unique per stack. */
  dimension: 'Table',
} as const;
