/**
 * Crash evidence: how Perdure tells work that keeps crashing its process (poison) from work that was only
 * slow or throttled. A queue's receive count cannot tell them apart: a message received by a throttled or
 * busy consumer and never run counts as much as one whose run crashed. So redelivered work records an
 * attempt marker before it runs (the normal path records nothing), with the deadline by which its
 * invocation is surely over (Lambda ends it at its timeout). A later attempt at the same position that
 * finds the previous marker not ended and past its deadline has found a crash.
 *
 * Lambda kills an invocation at its timeout, so there an attempt past its deadline is dead. A host that
 * cannot (the local stack, a worker outside Lambda, a machine too busy to keep to the deadline) may see
 * that attempt end later after all: it was slow, not dead. Each marker names its attempt (`owner`) and the
 * attempts counted as dead (`died`); an attempt that ends after another counted it takes its crash back.
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
  /** The attempt's own id (markers written before it existed have none). */
  owner?: string;
  /** The ids of the attempts counted in `crashes` (those that had one): an id here that ends takes its crash back. */
  died?: string[];
}

/** The marker a new attempt writes over `previous`: its count of earlier attempts that died, and which they were. */
export function nextMarker(previous: AttemptMarker | undefined, attempt: { position: number; now: number; deadline: number; owner?: string }): AttemptMarker {
  const fresh = { position: attempt.position, deadline: attempt.deadline, ended: false, ...(attempt.owner !== undefined ? { owner: attempt.owner } : {}) };
  if (!previous || previous.position !== attempt.position) return { ...fresh, crashes: 0 };
  const died = !previous.ended && previous.deadline <= attempt.now;
  const names = [...(previous.died ?? []), ...(died && previous.owner !== undefined ? [previous.owner] : [])];
  return { ...fresh, crashes: previous.crashes + (died ? 1 : 0), ...(names.length ? { died: names } : {}) };
}

/**
 * The marker after attempt `owner` ended by itself. Its own marker is marked ended; a marker another attempt
 * wrote since, that counted this one as dead, takes that crash back (the attempt outlived its deadline but
 * was alive). Markers of older writers have no owner: ended, as before. Undefined when nothing changes.
 */
export function endedMarker(marker: AttemptMarker, owner: string | undefined): AttemptMarker | undefined {
  if (owner === undefined || marker.owner === undefined || marker.owner === owner) return marker.ended ? undefined : { ...marker, ended: true };
  if (!marker.died?.includes(owner)) return undefined;
  const died = marker.died.filter((name) => name !== owner);
  const { died: _counted, ...rest } = marker;
  return { ...rest, crashes: Math.max(0, marker.crashes - 1), ...(died.length ? { died } : {}) };
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
