import type { InstanceStatus } from '../client.js';
import type { ApiClient } from './api-client.js';

/** Every item of a paged listing (`/instances` or `/dlq/...`), following the cursor. */
export async function* everyItem<T>(api: ApiClient, path: string, field: 'instances' | 'deadLetters', query: Record<string, string | undefined> = {}): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const page = await api.get<Record<typeof field, T[]> & { cursor?: string }>(path, { ...query, limit: field === 'instances' ? 1000 : 100, cursor });
    yield* page[field];
    cursor = page.cursor;
  } while (cursor);
}

export const allInstances = (api: ApiClient, query: Record<string, string | undefined>) => everyItem<InstanceStatus>(api, '/instances', 'instances', query);

/** What selects instances: a status (any when absent), an orchestration, updated since `since` (ms); `cost` asks the listing for each one's ledger. */
export interface InstanceFilter {
  status?: string | undefined;
  name?: string | undefined;
  since?: number | undefined;
  cost?: boolean;
}

/** The instances the filter selects, all read before any is acted on. */
export async function selectInstanceStatuses(api: ApiClient, filter: InstanceFilter): Promise<InstanceStatus[]> {
  const selected: InstanceStatus[] = [];
  // The listing is by creation time, not by update: every page is read.
  for await (const instance of allInstances(api, { status: filter.status, name: filter.name, ...(filter.cost ? { cost: 'true' } : {}) })) {
    if (filter.since === undefined || Date.parse(instance.updatedAt) >= filter.since) selected.push(instance);
  }
  return selected;
}

/** The ids of the instances with this status (and orchestration) updated since `since` (ms), all read before any is acted on. */
export async function selectInstances(api: ApiClient, filter: InstanceFilter & { status: string }): Promise<string[]> {
  return (await selectInstanceStatuses(api, filter)).map((instance) => instance.instanceId);
}
