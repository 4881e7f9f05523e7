/**
 * Places in the workers where a Lambda function can die between two writes. Production passes no hook;
 * fault-injection tests pass one that throws, and the handler fails as a crashed invocation would: its
 * message is not acknowledged and comes back.
 */
export type CrashPoint =
  /** The step replayed and decided, nothing is committed yet. */
  | 'step:before-commit'
  /** The step is committed; its activities, timers and children are not dispatched yet. */
  | 'step:after-commit'
  /** The step committed and dispatched; the doorbell is not acknowledged yet. */
  | 'step:before-ack'
  /** The activity ran; its result is not recorded yet (it will run again). */
  | 'activity:before-record'
  /** The result is recorded; the task message is not acknowledged yet (a duplicate delivery follows). */
  | 'activity:before-ack'
  /** The timer's firing is recorded (stepped, or in the doorbell); the timer message is not acknowledged yet. */
  | 'timer:before-ack'
  /** The step committed inline calls; none of them has run yet. */
  | 'inline:before-run'
  /** Inline calls ran; their results are not committed yet (they will run again). */
  | 'inline:before-commit';

export type CrashHook = (point: CrashPoint, instanceId: string) => void;

/** Thrown at a crash point: the invocation dies here, as a Lambda function killed mid-flight, and cleans up nothing. */
export class SimulatedCrash extends Error {
  constructor(readonly point: CrashPoint) {
    super(`simulated crash at ${point}`);
    this.name = 'SimulatedCrash';
  }
}
