/**
 * Crash evidence: how Perdure tells work that keeps crashing its process (poison) from work that was only
 * slow or throttled. A queue's receive count cannot tell them apart: a message received by a throttled or
 * busy consumer and never run counts as much as one whose run crashed. So redelivered work records an
 * attempt marker before it runs (the normal path records nothing), with the deadline by which its
 * invocation is surely over (Lambda ends it at its timeout). A later attempt at the same position that
 * finds the previous marker not ended and past its deadline has found a crash.
 */
export interface AttemptMarker {
  /** The history position (or 0) the attempt started from: progress past it clears the count. */
  position: number;
  /** Earlier attempts at this position that died. */
  crashes: number;
  /** When the attempt's invocation is over at the latest (ms since the epoch). */
  deadline: number;
  /** The attempt ended by itself (an error it caught, or nothing to do): not a crash. */
  ended: boolean;
}

/** How many recorded attempts died, counting the one `previous` describes, for a new attempt at `position`. */
export function crashesBefore(previous: AttemptMarker | undefined, attempt: { position: number; now: number }): number {
  if (!previous || previous.position !== attempt.position) return 0;
  const died = !previous.ended && previous.deadline <= attempt.now;
  return previous.crashes + (died ? 1 : 0);
}

/** Marker keys: the step of an instance, an attempt of an activity call, the recovery of a `ctx.step`. */
export const attemptKeys = {
  /**
   * Per generation: positions start again after continueAsNew, and a marker a step of an earlier generation
   * left behind at the same position would count as a crash of the new one ('step' for generation 0, as before).
   */
  step: (generation = 0) => (generation === 0 ? 'step' : `step#${generation}`),
  activity: (generation: number, taskId: number, attempt: number) => `A#${generation}#${taskId}#${attempt}`,
  inlineStep: (generation: number, taskId: number) => `S#${generation}#${taskId}`,
};
