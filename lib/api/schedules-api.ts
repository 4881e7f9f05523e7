import { PerdureError, ValidationError } from '../core/errors.js';
import type { HttpRequest, HttpResponse } from './http-api.js';
import type { ScheduleService } from '../runtime/schedules.js';

/** A route of the HTTP API: a method, a path pattern whose groups are the parameters, a handler. */
export interface HttpRoute {
  method: string;
  pattern: RegExp;
  handler: (request: HttpRequest, params: string[]) => Promise<HttpResponse>;
}

/**
 * The schedules' routes: `GET /schedules`, `GET /schedules/{name}`, and `POST /schedules/{name}/trigger`,
 * `/pause`, `/resume` (an empty body, or `{}`). `readJson` is the API's own body reader (size, type, JSON).
 */
export function scheduleRoutes(schedules: ScheduleService | undefined, readJson: (request: HttpRequest) => unknown): HttpRoute[] {
  const service = () => {
    if (!schedules) throw new PerdureError('ROUTE_NOT_FOUND', 'This runtime fires no schedules: the local stack, the test environment and the AWS runtime do.');
    return schedules;
  };
  const action = (verb: 'trigger' | 'pause' | 'resume'): HttpRoute => ({
    method: 'POST',
    pattern: new RegExp(`^/schedules/([^/]+)/${verb}$`),
    handler: async (request, [name]) => {
      readNothing(readJson(request), verb);
      if (verb === 'pause') return json(200, await service().pause(name!));
      if (verb === 'resume') return json(200, await service().resume(name!));
      const firing = await service().trigger(name!);
      if (firing.outcome !== 'started') return json(200, firing);
      const base = `/instances/${encodeURIComponent(firing.instanceId!)}`;
      return json(202, { ...firing, statusUrl: base, historyUrl: `${base}/history` }, { location: base });
    },
  });
  return [
    { method: 'GET', pattern: /^\/schedules$/, handler: async () => json(200, { schedules: await service().list() }) },
    { method: 'GET', pattern: /^\/schedules\/([^/]+)$/, handler: async (_request, [name]) => json(200, await service().get(name!)) },
    action('trigger'),
    action('pause'),
    action('resume'),
  ];
}

/** These routes take no parameters: an empty body or `{}`, so that a misspelled option is not silently ignored. */
function readNothing(body: unknown, verb: string): void {
  if (body === undefined) return;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length > 0) {
    throw new ValidationError(`POST /schedules/{name}/${verb} takes no parameters: send an empty body or {}.`);
  }
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
