import type { InstanceStatus } from '../client.js';
import type { HistoryEvent } from '../core/history-events.js';
import type { HistorySource } from '../deploy-check.js';
import { CliError, type ApiClient } from './api-client.js';

/**
 * The HTTP API as the deploy check's history source (`perdure deploy-check`): instances listed by status,
 * histories read with offloaded payloads kept as `{ $ref }` references. Only when the code receives such a
 * payload is the history read again with payloads resolved, once per instance.
 */
export function apiHistorySource(api: ApiClient): HistorySource {
  return {
    name: api.endpoint,
    async listInFlight(status, cursor) {
      const page = await api.get<{ instances: InstanceStatus[]; cursor?: string }>('/instances', { status, limit: 1000, cursor });
      const instances = page.instances.map((i) => ({ instanceId: i.instanceId, name: i.name, version: i.version, status: i.status, generation: i.generation, createdAt: Date.parse(i.createdAt), historyLength: i.historyLength }));
      return page.cursor ? { instances, cursor: page.cursor } : { instances };
    },
    async readHistory(instance) {
      const path = `/instances/${encodeURIComponent(instance.instanceId)}/history`;
      const read = (payloads: 'keep' | 'resolve') => api.get<{ events: HistoryEvent[] }>(path, { generation: instance.generation, payloads });
      let kept: HistoryEvent[];
      try {
        kept = (await read('keep')).events;
      } catch (error) {
        if (error instanceof CliError && error.status === 404) return undefined; // purged since it was listed
        throw error;
      }
      let values: Promise<Map<string, unknown>> | undefined;
      const loadPayload = async (stored: unknown): Promise<unknown> => {
        const key = referenceKey(stored);
        if (key === undefined) return stored;
        values ??= read('resolve').then(({ events }) => referencedValues(kept, events));
        const found = await values;
        if (!found.has(key)) throw new CliError(`The payload ${key} of instance ${instance.instanceId} is not in its history any more: run the check again.`);
        return found.get(key);
      };
      return { events: kept, loadPayload };
    },
  };
}

/** The object key of a `{ $ref: { key, size, sha256 } }` reference, as `GET .../history?payloads=keep` leaves offloaded payloads. */
function referenceKey(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Object.keys(value).length !== 1) return undefined;
  const ref = (value as { $ref?: { key?: unknown; sha256?: unknown } }).$ref;
  return typeof ref === 'object' && ref !== null && typeof ref.key === 'string' && typeof ref.sha256 === 'string' ? ref.key : undefined;
}

/** Each reference of the kept history with the value the resolved one holds in its place. */
function referencedValues(kept: HistoryEvent[], resolved: HistoryEvent[]): Map<string, unknown> {
  const byId = new Map(resolved.map((event) => [event.eventId, event as unknown as Record<string, unknown>]));
  const values = new Map<string, unknown>();
  for (const event of kept) {
    const twin = byId.get(event.eventId);
    if (!twin) continue;
    for (const [field, value] of Object.entries(event)) {
      const key = referenceKey(value);
      if (key !== undefined) values.set(key, twin[field]);
    }
  }
  return values;
}
