import { parseCallbackToken } from '../core/callback-token.js';
import { PerdureError } from '../core/errors.js';
import type { CallbackDelivery, CallbackFailure, Client } from '../client.js';
import type { DeadLetterOperations, DeadLetterQueue, InstanceStatusName, ReplayFindings } from '../ports.js';
import { scheduleRoutes } from './schedules-api.js';
import type { ScheduleService } from '../runtime/schedules.js';
import { CALLBACK_PURPOSES, SIGNED_CALLBACKS_PATH, type CallbackPurpose, type CallbackUrlSigner } from '../runtime/callback-urls.js';
import type { MetricsSnapshot } from '../runtime/metric-counters.js';
import type { Priority } from '../runtime/priority.js';
import { traceHttpRequest } from '../runtime/tracing.js';
import { WEB_UI_HEADERS, WEB_UI_HTML } from './web-ui.js';

/** An HTTP request, as the API Gateway event or the local server hands it over. */
export interface HttpRequest {
  method: string;
  /** The path without the stage, e.g. `/instances/abc/history`. */
  path: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  body?: string;
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface HttpApiOptions {
  client: Client;
  /** Dead-letter inspection and redrive (the AWS runtime). */
  deadLetters?: DeadLetterOperations;
  /** What shadow replay found (the AWS runtime). */
  replayFindings?: ReplayFindings;
  /** The app's schedules: `/schedules` routes (`lib/api/schedules-api.ts`). */
  schedules?: ScheduleService;
  /**
   * Checks signed callback URLs (the unauthenticated `/signed/callbacks/...` routes) and signs them
   * (`POST /callbacks/{token}/urls`); without it those routes answer 404.
   */
  callbackUrls?: CallbackUrlSigner;
  /** Requests with a larger body are rejected with 413. @defaultValue 6 MiB */
  maxBodyBytes?: number;
  /** An OpenTelemetry server span per request (a no-op without an SDK). @defaultValue true */
  tracing?: boolean;
  /** The counters `GET /metrics` answers with (`npm start`). */
  metrics?: () => MetricsSnapshot;
}

/** The status code of each error code; anything else is a 500. */
const STATUS_OF_CODE: Record<string, number> = {
  VALIDATION: 400,
  MALFORMED_JSON: 400,
  SIGNATURE_MISMATCH: 403,
  SIGNED_URL_EXPIRED: 403,
  INSTANCE_NOT_FOUND: 404,
  CALLBACK_NOT_FOUND: 404,
  DEAD_LETTER_NOT_FOUND: 404,
  ORCHESTRATION_NOT_FOUND: 404,
  SCHEDULE_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  INSTANCE_EXISTS: 409,
  INVALID_STATE: 409,
  CALLBACK_ALREADY_COMPLETED: 409,
  CALLBACK_EXPIRED: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

class HttpError extends PerdureError {}

type Handler = (request: HttpRequest, params: string[]) => Promise<HttpResponse>;

/**
 * The HTTP API: routes map to client calls, errors map to status codes in one table, and every body in
 * and out is JSON. A request is validated completely before the client writes anything.
 */
export class HttpApi {
  private readonly client: Client;
  private readonly deadLetters: DeadLetterOperations | undefined;
  private readonly replayFindings: ReplayFindings | undefined;
  private readonly callbackUrls: CallbackUrlSigner | undefined;
  private readonly maxBodyBytes: number;
  private readonly routes: { method: string; pattern: { template: string; regex: RegExp }; handler: Handler }[];
  private readonly tracing: boolean;
  private readonly metrics: (() => MetricsSnapshot) | undefined;

  constructor(options: HttpApiOptions) {
    this.client = options.client;
    this.deadLetters = options.deadLetters;
    this.replayFindings = options.replayFindings;
    this.callbackUrls = options.callbackUrls;
    this.maxBodyBytes = options.maxBodyBytes ?? 6 * 1024 * 1024;
    this.tracing = options.tracing ?? true;
    this.metrics = options.metrics;
    this.routes = [
      { method: 'POST', pattern: route(`/orchestrations/{name}`), handler: (r, [name]) => this.start(r, name!) },
      { method: 'GET', pattern: route('/ui'), handler: async () => ({ statusCode: 200, headers: { ...WEB_UI_HEADERS }, body: WEB_UI_HTML }) },
      { method: 'GET', pattern: route('/instances'), handler: (r) => this.list(r) },
      { method: 'GET', pattern: route(`/instances/{instanceId}`), handler: async (request, [instanceId]) => json(200, await this.client.getStatus(instanceId!, { cost: booleanQuery(request, 'cost') })) },
      { method: 'DELETE', pattern: route(`/instances/{instanceId}`), handler: async (_r, [instanceId]) => (await this.client.purge(instanceId!), empty(204)) },
      { method: 'GET', pattern: route(`/instances/{instanceId}/history`), handler: (r, [instanceId]) => this.history(r, instanceId!) },
      { method: 'POST', pattern: route(`/instances/{instanceId}/events/{eventName}`), handler: (r, [instanceId, event]) => this.raiseEvent(r, instanceId!, event!) },
      { method: 'POST', pattern: route(`/instances/{instanceId}/terminate`), handler: (r, [instanceId]) => this.terminate(r, instanceId!) },
      { method: 'POST', pattern: route(`/instances/{instanceId}/suspend`), handler: (r, [instanceId]) => this.suspend(r, instanceId!) },
      { method: 'POST', pattern: route(`/instances/{instanceId}/resume`), handler: async (r, [instanceId]) => (this.readReason(r), await this.client.resume(instanceId!), accepted(instanceId!)) },
      { method: 'POST', pattern: route(`/instances/{instanceId}/cancel`), handler: async (r, [instanceId]) => (await this.client.cancel(instanceId!, this.readReason(r)), accepted(instanceId!)) },
      { method: 'POST', pattern: route(`/instances/{instanceId}/rewind`), handler: async (r, [instanceId]) => (this.readReason(r), await this.client.rewind(instanceId!), accepted(instanceId!, 'Running')) },
      { method: 'POST', pattern: route(`/instances/{instanceId}/restart`), handler: (r, [instanceId]) => this.restart(r, instanceId!) },
      { method: 'GET', pattern: route(`/instances/{instanceId}/callbacks`), handler: async (_r, [instanceId]) => json(200, { instanceId, callbacks: await this.client.listPendingCallbacks(instanceId!) }) },
      { method: 'POST', pattern: route(`/callbacks/{token}/{action}`), handler: (r, [token, action]) => this.callback(r, token!, action!) },
      { method: 'POST', pattern: route(`${SIGNED_CALLBACKS_PATH}/{token}/{purpose}`), handler: (r, [token, purpose]) => this.signedCallback(r, token!, purpose!) },
      { method: 'GET', pattern: route(`/dlq/{queue}`), handler: (r, [queue]) => this.listDeadLetters(r, queue!) },
      { method: 'POST', pattern: route(`/dlq/{queue}/redrive`), handler: (r, [queue]) => this.redrive(r, queue!) },
      { method: 'GET', pattern: route('/replay-findings'), handler: (r) => this.listReplayFindings(r) },
      { method: 'GET', pattern: route('/metrics'), handler: async () => json(200, this.requireMetrics()()) },
      ...scheduleRoutes(options.schedules, (r) => this.readJson(r)).map((r) => ({ ...r, pattern: { template: templateOf(r.pattern), regex: r.pattern } })),
    ];
  }

  async handle(request: HttpRequest): Promise<HttpResponse> {
    const path = request.path.replace(/\/+$/, '') || '/';
    const matching = this.routes.map((r) => ({ r, match: r.pattern.regex.exec(path) })).filter((m) => m.match);
    const found = matching.find((m) => m.r.method === request.method.toUpperCase());
    const answer = async (): Promise<HttpResponse> => {
      try {
        if (matching.length === 0) throw new HttpError('ROUTE_NOT_FOUND', `No route ${request.method} ${path}. See the README for the API.`);
        if (!found) throw new HttpError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; use ${matching.map((m) => m.r.method).join(' or ')}.`);
        const params = found.match!.slice(1).map((segment) => decodeSegment(segment));
        return await found.r.handler(request, params);
      } catch (error) {
        return errorResponse(error);
      }
    };
    // A span per request, named by its route's template (never by its ids).
    return this.tracing ? traceHttpRequest(request.method.toUpperCase(), found?.r.pattern.template ?? 'unmatched', request.headers, answer) : answer();
  }

  private async start(request: HttpRequest, name: string): Promise<HttpResponse> {
    // A misspelled parameter (instanceID) would otherwise start an instance under a random id.
    const unknownParameters = Object.keys(request.query).filter((key) => key !== 'instanceId' && key !== 'version' && key !== 'priority');
    if (unknownParameters.length) throw new HttpError('VALIDATION', `Unknown query parameter ${unknownParameters.join(', ')}: use instanceId, version or priority.`);
    const input = this.readJson(request);
    const { instanceId, version, priority } = request.query;
    const { instanceId: id, status } = await this.client.startInstance(name, input, { instanceId, version, ...(priority !== undefined ? { priority: priority as Priority } : {}) });
    return accepted(id, status);
  }

  private async list(request: HttpRequest): Promise<HttpResponse> {
    const { status, name, limit, cursor, payloads } = request.query;
    const cost = booleanQuery(request, 'cost');
    const parsedLimit = limit === undefined ? undefined : Number(limit);
    if (parsedLimit !== undefined && !Number.isInteger(parsedLimit)) throw new HttpError('VALIDATION', `limit must be an integer from 1 to 1000, got ${JSON.stringify(limit)}.`);
    if (payloads !== undefined && payloads !== 'true' && payloads !== 'false') throw new HttpError('VALIDATION', `payloads must be true or false, got ${JSON.stringify(payloads)}.`);
    return json(200, await this.client.list({ status: status as InstanceStatusName | undefined, name, limit: parsedLimit, cursor, includePayloads: payloads === 'true', cost }).catch(rejectForeignCursor(cursor)));
  }

  private async history(request: HttpRequest, instanceId: string): Promise<HttpResponse> {
    const generation = request.query.generation;
    if (generation !== undefined && !/^\d+$/.test(generation)) throw new HttpError('VALIDATION', `generation must be a non-negative integer, got ${JSON.stringify(generation)}.`);
    const payloads = request.query.payloads as 'resolve' | 'keep' | undefined;
    const history = await this.client.getHistory(instanceId, { ...(generation === undefined ? {} : { generation: Number(generation) }), ...(payloads === undefined ? {} : { payloads }) });
    return json(200, { instanceId, events: history });
  }

  private async raiseEvent(request: HttpRequest, instanceId: string, eventName: string): Promise<HttpResponse> {
    const data = this.readJson(request);
    // A client that retries after a lost response sends the same Idempotency-Key: the event is recorded once.
    const eventId = headerOf(request, 'idempotency-key');
    await this.client.raiseEvent(instanceId, eventName, data, eventId === undefined ? {} : { eventId });
    return accepted(instanceId);
  }

  private async terminate(request: HttpRequest, instanceId: string): Promise<HttpResponse> {
    await this.client.terminate(instanceId, this.readReason(request));
    return accepted(instanceId);
  }

  private async restart(request: HttpRequest, instanceId: string): Promise<HttpResponse> {
    const body = this.readJson(request) ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError('VALIDATION', 'The body must be a JSON object such as {"version": "2", "instanceId": "..."}, or empty.');
    const { version, instanceId: newId, ...extra } = body as { version?: unknown; instanceId?: unknown };
    const unknownFields = Object.keys(extra);
    if (unknownFields.length) throw new HttpError('VALIDATION', `Unknown field${unknownFields.length > 1 ? 's' : ''} ${unknownFields.join(', ')}: only "version" and "instanceId" are accepted.`);
    if (version !== undefined && typeof version !== 'string' && typeof version !== 'number') throw new HttpError('VALIDATION', '"version" must be a string or a number.');
    if (newId !== undefined && typeof newId !== 'string') throw new HttpError('VALIDATION', '"instanceId" must be a string.');
    const started = await this.client.restart(instanceId, { ...(version !== undefined ? { version } : {}), ...(newId !== undefined ? { instanceId: newId } : {}) });
    // A restart is rare: its answer reads the status the new instance's start left it in.
    return accepted(started, (await this.client.getStatus(started)).status);
  }

  private async suspend(request: HttpRequest, instanceId: string): Promise<HttpResponse> {
    await this.client.suspend(instanceId, this.readReason(request));
    return accepted(instanceId);
  }

  /** `POST /callbacks/{token}/succeed|fail|heartbeat` (authorized like every route), and `/urls` to sign URLs for a third party. */
  private async callback(request: HttpRequest, token: string, action: string): Promise<HttpResponse> {
    if (action === 'urls') return this.signUrls(request, token);
    return this.settleCallback(request, token, checkPurpose(action, `/callbacks/${token}`, ', or urls'));
  }

  /**
   * `POST /signed/callbacks/{token}/{purpose}?expires=&signature=`: the one route without IAM authorization.
   * The signature is checked before anything is read; then the call is what the authorized route does.
   */
  private async signedCallback(request: HttpRequest, token: string, purposeText: string): Promise<HttpResponse> {
    const signer = this.requireSigner();
    const purpose = checkPurpose(purposeText, `${SIGNED_CALLBACKS_PATH}/${token}`, '');
    parseCallbackToken(token);
    const { expires, signature, ...extra } = request.query;
    const incomplete = (why: string) => new HttpError('VALIDATION', `This callback URL is incomplete: ${why}. Use the URL exactly as it was handed out, query string included.`);
    if (Object.keys(extra).length) throw incomplete(`unknown query parameter ${Object.keys(extra).join(', ')} (only expires and signature belong to it)`);
    if (expires === undefined || !/^\d{1,12}$/.test(expires)) throw incomplete('its expires parameter is missing or not a number of seconds');
    if (signature === undefined || signature === '') throw incomplete('its signature parameter is missing');
    const checked = await signer.check(token, purpose, Number(expires), signature);
    if (checked === 'mismatch') {
      throw new HttpError('SIGNATURE_MISMATCH', `The signature does not match this callback URL. Use the URL exactly as it was handed out: each one does one thing (${purpose} here only if it was signed for ${purpose}), for one callback, until its expiry. Nothing was written.`);
    }
    if (checked === 'expired') {
      throw new HttpError('SIGNED_URL_EXPIRED', `This callback URL expired at ${new Date(Number(expires) * 1000).toISOString()}: ask whoever sent it for a new one. Nothing was written.`);
    }
    return this.settleCallback(request, token, purpose);
  }

  private async settleCallback(request: HttpRequest, token: string, purpose: CallbackPurpose): Promise<HttpResponse> {
    const body = this.readJson(request);
    let outcome: CallbackDelivery;
    if (purpose === 'succeed') outcome = await this.client.completeCallback(token, body);
    else if (purpose === 'fail') outcome = await this.client.failCallback(token, readFailure(body));
    else {
      if (body !== undefined) throw new HttpError('VALIDATION', 'A heartbeat takes no body: send an empty one.');
      outcome = await this.client.heartbeatCallback(token);
    }
    // A retry of a call that was recorded gets the same answer: `outcome` tells the two apart.
    return json(202, { instanceId: parseCallbackToken(token).instanceId, outcome });
  }

  private async signUrls(request: HttpRequest, token: string): Promise<HttpResponse> {
    const signer = this.requireSigner();
    const body = this.readJson(request);
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) throw new HttpError('VALIDATION', 'The body must be empty or {"expiresIn": "3d"}.');
    const { expiresIn, ...extra } = (body ?? {}) as { expiresIn?: unknown };
    if (Object.keys(extra).length) throw new HttpError('VALIDATION', `Unknown field${Object.keys(extra).length > 1 ? 's' : ''} ${Object.keys(extra).join(', ')}: only "expiresIn" is accepted.`);
    if (expiresIn !== undefined && typeof expiresIn !== 'string' && typeof expiresIn !== 'number') throw new HttpError('VALIDATION', '"expiresIn" must be a duration such as "3d" or a number of milliseconds.');
    const { instanceId } = parseCallbackToken(token);
    const open = await this.client.listPendingCallbacks(instanceId);
    if (!open.some((callback) => callback.token === token)) {
      throw new HttpError('CALLBACK_NOT_FOUND', `Instance '${instanceId}' has no open callback with this token (it was never handed out, or it was completed, failed or expired): GET /instances/${instanceId}/callbacks lists the open ones. Nothing was signed.`);
    }
    return json(200, await signer.urls(token, expiresIn === undefined ? {} : { expiresIn }));
  }

  private requireSigner(): CallbackUrlSigner {
    if (!this.callbackUrls) throw new HttpError('ROUTE_NOT_FOUND', 'This API has no key to sign or check callback URLs with: the DurableFunctions construct configures one on AWS, npm start keeps one in .perdure/.');
    return this.callbackUrls;
  }

  private async listDeadLetters(request: HttpRequest, queue: string): Promise<HttpResponse> {
    const { limit, cursor } = request.query;
    const parsedLimit = limit === undefined ? undefined : Number(limit);
    if (parsedLimit !== undefined && !Number.isInteger(parsedLimit)) throw new HttpError('VALIDATION', `limit must be an integer from 1 to 1000, got ${JSON.stringify(limit)}.`);
    return json(200, await this.requireDeadLetters().list(checkQueue(queue), { limit: parsedLimit, cursor }).catch(rejectForeignCursor(cursor)));
  }

  private async redrive(request: HttpRequest, queue: string): Promise<HttpResponse> {
    const body = this.readJson(request);
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
      throw new HttpError('VALIDATION', 'The body must be empty (redrive all) or {"messageId": "..."} (redrive one).');
    }
    const { messageId, ...extra } = (body ?? {}) as { messageId?: unknown };
    if (Object.keys(extra).length) throw new HttpError('VALIDATION', `Unknown fields ${Object.keys(extra).join(', ')}: only "messageId" is accepted.`);
    if (messageId !== undefined && (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > 200)) {
      throw new HttpError('VALIDATION', '"messageId" must be a non-empty string.');
    }
    const result = await this.requireDeadLetters().redrive(checkQueue(queue), messageId);
    if (messageId !== undefined && result.notFound.length) throw new HttpError('DEAD_LETTER_NOT_FOUND', `No dead letter ${JSON.stringify(messageId)} in the ${queue} queue: list them with GET /dlq/${queue}.`);
    return json(200, result);
  }

  private async listReplayFindings(request: HttpRequest): Promise<HttpResponse> {
    if (!this.replayFindings) throw new HttpError('ROUTE_NOT_FOUND', 'This runtime keeps no replay findings (the in-memory runtime); shadow replay writes them on AWS.');
    const limit = request.query.limit === undefined ? undefined : Number(request.query.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) throw new HttpError('VALIDATION', `limit must be an integer from 1 to 1000, got ${JSON.stringify(request.query.limit)}.`);
    return json(200, await this.replayFindings.list(limit === undefined ? {} : { limit }));
  }

  private requireMetrics(): () => MetricsSnapshot {
    if (!this.metrics) throw new HttpError('ROUTE_NOT_FOUND', 'This runtime keeps no counters: on AWS the metrics are in CloudWatch (namespace Perdure); npm start serves them here.');
    return this.metrics;
  }

  private requireDeadLetters(): DeadLetterOperations {
    if (!this.deadLetters) throw new HttpError('ROUTE_NOT_FOUND', 'This runtime has no dead-letter queues (the in-memory runtime); they come with the AWS runtime.');
    return this.deadLetters;
  }

  private readReason(request: HttpRequest): string | undefined {
    const body = this.readJson(request);
    if (body === undefined) return undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError('VALIDATION', 'The body must be a JSON object such as {"reason": "..."}, or empty.');
    const { reason, ...extra } = body as { reason?: unknown };
    const unknownFields = Object.keys(extra);
    if (unknownFields.length) throw new HttpError('VALIDATION', `Unknown field${unknownFields.length > 1 ? 's' : ''} ${unknownFields.join(', ')}: only "reason" is accepted.`);
    if (reason !== undefined && typeof reason !== 'string') throw new HttpError('VALIDATION', '"reason" must be a string.');
    return reason;
  }

  /** The JSON body, or undefined when there is none. */
  private readJson(request: HttpRequest): unknown {
    const body = request.body;
    if (body === undefined || body === '') return undefined;
    if (Buffer.byteLength(body) > this.maxBodyBytes) {
      throw new HttpError('PAYLOAD_TOO_LARGE', `The body is ${Buffer.byteLength(body)} bytes; the limit is ${this.maxBodyBytes}. Pass large data by reference (e.g. an S3 key).`);
    }
    const contentType = headerOf(request, 'content-type');
    if (contentType !== undefined && !/^application\/(.+\+)?json\b/i.test(contentType)) {
      throw new HttpError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${contentType} is not accepted: send JSON with Content-Type: application/json.`);
    }
    try {
      return JSON.parse(body) as unknown;
    } catch (error) {
      throw new HttpError('MALFORMED_JSON', `The body is not valid JSON (${(error as Error).message}): send a JSON value with Content-Type: application/json.`);
    }
  }
}

function checkQueue(queue: string): DeadLetterQueue {
  if (queue !== 'activities' && queue !== 'orchestrations') {
    throw new HttpError('ROUTE_NOT_FOUND', `Unknown dead-letter queue ${JSON.stringify(queue)}: use /dlq/activities or /dlq/orchestrations.`);
  }
  return queue;
}

function checkPurpose(text: string, path: string, more: string): CallbackPurpose {
  if (!(CALLBACK_PURPOSES as readonly string[]).includes(text)) {
    throw new HttpError('ROUTE_NOT_FOUND', `No route POST ${path}/${text}: use ${path}/succeed, /fail or /heartbeat${more}.`);
  }
  return text as CallbackPurpose;
}

/** The body of a callback's failure: `{ "error": { "message", "name"?, "details"? } }`. */
/** The failure a fail request sends; no body fails the callback without a reason. */
function readFailure(body: unknown): CallbackFailure | undefined {
  const shape = 'The body must be empty or {"error": {"message": "...", "name": "...", "details": ...}} (name and details optional)';
  if (body === undefined) return undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError('VALIDATION', `${shape}.`);
  const { error, ...extra } = body as { error?: unknown };
  if (Object.keys(extra).length) throw new HttpError('VALIDATION', `${shape}: unknown field${Object.keys(extra).length > 1 ? 's' : ''} ${Object.keys(extra).join(', ')}.`);
  if (typeof error !== 'object' || error === null || Array.isArray(error)) throw new HttpError('VALIDATION', `${shape}: "error" is missing or not an object (send no body to fail the callback without a reason).`);
  const { message, name, details, ...unknown } = error as Record<string, unknown>;
  const fields = Object.keys(unknown);
  if (fields.length) throw new HttpError('VALIDATION', `${shape}: unknown field${fields.length > 1 ? 's' : ''} ${fields.join(', ')} in "error"${fields.includes('data') ? ' (send data as "details")' : ''}.`);
  if (typeof message !== 'string' || message.length === 0) throw new HttpError('VALIDATION', `${shape}: "error.message" must be a non-empty string.`);
  if (name !== undefined && typeof name !== 'string') throw new HttpError('VALIDATION', `${shape}: "error.name" must be a string.`);
  return { message, ...(name !== undefined ? { name } : {}), ...(details !== undefined ? { details } : {}) };
}

/** The template of a route given as an expression: `^/schedules/([^/]+)$` is `/schedules/{name}`. */
function templateOf(regex: RegExp): string {
  return regex.source.replace(/^\^|\$$/g, '').replace(/\\\//g, '/').replace(/\(\[\^\/\]\+\)/g, '{name}');
}

/** A route's template (`/instances/{instanceId}`, also the name of its span) and the expression that matches it. */
function route(template: string): { template: string; regex: RegExp } {
  return { template, regex: new RegExp(`^${template.replace(/\{[A-Za-z]+\}/g, '([^/]+)')}$`) };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError('VALIDATION', `The path segment ${JSON.stringify(segment)} is not valid percent-encoding: encode it as UTF-8 (as encodeURIComponent does).`);
  }
}

/**
 * A cursor this API did not hand out fails inside the store (its JSON does not parse, or DynamoDB rejects
 * it as a start key): that is the caller's mistake, a 400, not a 500.
 */
function rejectForeignCursor(cursor: string | undefined): (error: unknown) => never {
  return (error) => {
    if (cursor !== undefined && (error instanceof SyntaxError || (error instanceof Error && error.name === 'ValidationException'))) {
      const shown = cursor.length > 60 ? `${JSON.stringify(cursor.slice(0, 60))}...` : JSON.stringify(cursor);
      throw new HttpError('VALIDATION', `cursor ${shown} is not one this API returned: pass back the cursor of the previous page unchanged, or omit it for the first page.`);
    }
    throw error;
  };
}

function headerOf(request: HttpRequest, name: string): string | undefined {
  const key = Object.keys(request.headers).find((header) => header.toLowerCase() === name);
  return key === undefined ? undefined : request.headers[key];
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

function empty(statusCode: number): HttpResponse {
  return { statusCode, headers: {}, body: '' };
}

function accepted(instanceId: string, status?: string): HttpResponse {
  const base = `/instances/${encodeURIComponent(instanceId)}`;
  return json(
    202,
    { instanceId, ...(status ? { status } : {}), statusUrl: base, historyUrl: `${base}/history`, eventUrl: `${base}/events/{eventName}`, terminateUrl: `${base}/terminate` },
    { location: base },
  );
}

function errorResponse(error: unknown): HttpResponse {
  if (error instanceof PerdureError && STATUS_OF_CODE[error.code]) {
    return json(STATUS_OF_CODE[error.code]!, { error: { code: error.code, message: error.message } });
  }
  // Unexpected errors: say nothing internal to the caller.
  console.error('perdure http api: unexpected error', error);
  return json(500, { error: { code: 'INTERNAL', message: 'An internal error occurred; see the server logs.' } });
}

/** A query parameter that is `true` or `false` (absent: false); anything else is a 400 that says so. */
function booleanQuery(request: HttpRequest, name: string): boolean {
  const value = request.query[name];
  if (value !== undefined && value !== 'true' && value !== 'false') throw new HttpError('VALIDATION', `${name} must be true or false, got ${JSON.stringify(value)}.`);
  return value === 'true';
}
