import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { App } from './core/app.js';
import { describeCall, numberEvents, type HistoryEvent } from './core/history-events.js';
import type { PayloadLoader } from './core/payload.js';
import { OrchestrationExecutor } from './core/replay.js';

/** A recorded history, as `GET /instances/{id}/history` returns it. */
export interface RecordedHistory {
  instanceId: string;
  generation?: number;
  events: HistoryEvent[];
}

export interface ReplayCheckResult {
  instanceId: string;
  /** `name@version` from the history's ExecutionStarted. */
  orchestration: string;
  ok: boolean;
  /** Why the current code no longer replays this history. */
  problem?: string;
  /** The file it came from, when read from a folder. */
  file?: string;
}

export interface ReplayCheckOptions {
  /**
   * Turns a stored payload the code receives into its value, as the runtime does (an offloaded one is
   * fetched only then). @defaultValue payloads are taken as they are in the history
   */
  loadPayload?: PayloadLoader;
}

/**
 * Replays a recorded history against the app's current code, as a worker would after a deploy, and says
 * whether the code still makes the calls history recorded. Nothing runs: activities are not called.
 * @example
 * const result = await checkReplay(app, JSON.parse(await readFile('order-42.history.json', 'utf8')));
 */
export async function checkReplay(app: App, recorded: RecordedHistory, options: ReplayCheckOptions = {}): Promise<ReplayCheckResult> {
  const started = recorded.events.find((event) => event.type === 'ExecutionStarted');
  const orchestration = started?.type === 'ExecutionStarted' ? `${started.name}@${started.version}` : '(unknown)';
  const result = (problem?: string): ReplayCheckResult => ({ instanceId: recorded.instanceId, orchestration, ok: !problem, ...(problem ? { problem } : {}) });
  if (!started) return result('The history has no ExecutionStarted event: export it with its whole first step.');
  const executor = new OrchestrationExecutor({ instanceId: recorded.instanceId, generation: recorded.generation ?? 0, app, ...(options.loadPayload ? { loadPayload: options.loadPayload } : {}) });
  try {
    await executor.replay(recorded.events);
    // Let the code run past the last recorded event, as the next step would, to see what it asks for.
    await executor.advance(numberEvents([{ type: 'StepStarted' }], recorded.events.at(-1)?.eventId ?? 0, recorded.events.at(-1)?.timestamp ?? 0));
  } catch (error) {
    return result((error as Error).message);
  }
  if (executor.violation) return result(executor.violation.message);
  const ended = recorded.events.at(-1)?.type;
  const finished = ended === 'ExecutionCompleted' || ended === 'ExecutionFailed' || ended === 'ContinuedAsNew';
  const decisions = executor.takeDecisions().filter((event) => event.type !== 'PatchMarker');
  if (finished && !executor.outcome) {
    const asked = decisions.length ? `asks for ${describeCall(decisions[0]!)}` : 'is still waiting';
    return result(`History recorded ${ended} at event ${recorded.events.at(-1)!.eventId}, but the code ${asked} there instead.`);
  }
  if (!finished && executor.outcome?.type === 'failed') {
    // The code that recorded this history was still running here: the change fails the instance at its next step.
    const { name, message } = executor.outcome.error;
    return result(
      `History ends at event ${recorded.events.at(-1)!.eventId} with the instance still running, but the code now fails it there with ${name}: ${message}. The instance would fail at its next step: handle what older versions recorded (a result without a field the code now reads), or deploy the change as a new version.`,
    );
  }
  if (finished && executor.outcome && outcomeEvent(executor.outcome.type) !== ended) {
    return result(`History recorded ${ended}, but the code ended with ${outcomeEvent(executor.outcome.type)}.`);
  }
  return result();
}

/** Replays every `*.history.json` file of a folder; see {@link checkReplay}. */
export async function replayHistories(app: App, folder: string): Promise<ReplayCheckResult[]> {
  const files = (await readdir(folder)).filter((name) => name.endsWith('.history.json')).sort();
  const results: ReplayCheckResult[] = [];
  for (const file of files) {
    const recorded = JSON.parse(await readFile(join(folder, file), 'utf8')) as RecordedHistory;
    results.push({ ...(await checkReplay(app, recorded)), file });
  }
  return results;
}

/**
 * How `perdure replay-check` (and the deploy check) show a history that no longer replays: the instance,
 * `name@version` and what else is known of it, then the problem (position, recorded vs asked, code location).
 * @example
 * for (const result of results.filter((r) => !r.ok)) console.log(describeReplayFailure(result));
 */
export function describeReplayFailure(result: ReplayCheckResult, also: string[] = []): string {
  const about = [result.orchestration, ...also].join(', ');
  return `FAIL ${result.instanceId} (${about})${result.file ? ` in ${result.file}` : ''}\n  ${result.problem ?? ''}`;
}

function outcomeEvent(type: 'completed' | 'failed' | 'continuedAsNew'): string {
  return type === 'completed' ? 'ExecutionCompleted' : type === 'failed' ? 'ExecutionFailed' : 'ContinuedAsNew';
}
