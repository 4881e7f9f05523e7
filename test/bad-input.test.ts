/**
 * Bad input, table by table: every row is a request or call that must be rejected with a 4xx status or a
 * typed error whose message says what to fix, and that must leave every store exactly as it was.
 *
 * "Nothing was written" is checked on the whole in-memory state, read through the public ports: every
 * instance record, every generation's history, every inbox, everything handed to the work queues, the
 * dead letters and the app's registry. The same HTTP rows then run over the wire against the embedded
 * local stack (DynamoDB Local, SQS and S3 on 127.0.0.1), where "nothing was written" is a full scan of the
 * table (every item, so the item count too) and a listing of the payload bucket.
 */
import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CallbackAlreadyCompletedError,
  CallbackExpiredError,
  CallbackNotFoundError,
  createApp,
  InstanceExistsError,
  InstanceNotFoundError,
  InvalidStateError,
  OrchestrationNotFoundError,
  PerdureError,
  silentLogger,
  TestEnvironment,
  toMilliseconds,
  ValidationError,
  type App,
  type Client,
  type RetryPolicy,
} from '../lib/index.js';
import { formatCallbackToken, parseCallbackToken } from '../lib/core/callback-token.js';
import { resolveRetryPolicy } from '../lib/core/retry-policy.js';
import type { CallbackUrlSigner } from '../lib/runtime/callback-urls.js';
import type { DeadLetter, DeadLetterOperations, DeadLetterQueue, InstanceRecord } from '../lib/ports.js';
import { serveHttpApi } from '../lib/local/http-server.js';
import { startLocalStack, type LocalStack } from '../lib/local/local-stack.js';
import { HttpApi, type HttpRequest } from '../lib/api/http-api.js';
import { rawRequest } from './local/raw-http.js';
import { waitUntil } from './support.js';

/** The instances every row starts from, one per state a bad request can run into. */
const IDS = { waiting: 'w-1', done: 'done-1', stopped: 'stopped-1', paused: 'paused-1', gone: 'gone-1', held: 'held-1' } as const;
const BODY_LIMIT = 2_048;

/** The app of every table: one activity, one orchestration that waits for an 'approve' event, and two schedules of it (one paused in its definition). */
/** Instances with a callback: waiting for it, past it (completed), and past its timeout; each then waits for an event. */
const CALLBACK_IDS = { waiting: 'cb-waiting', done: 'cb-done', late: 'cb-late' } as const;
/** The token each callback instance handed out, by instance id (the latest world's). */
const handedOut = new Map<string, string>();

/** The app of every table: one activity, one orchestration that waits for an 'approve' event, one that waits for a callback. */
function buildApp(): App {
  const app = createApp({ logger: silentLogger });
  app.activity('greet', async (name: string) => `Hello, ${name}!`, { retry: { maxAttempts: 2 } });
  app.orchestration('hello', async (ctx, input: { name: string }) => {
    // A timer of the platform breaks replay: the instance named 'held' is set aside (Quarantined) at once.
    if (input.name === 'held') setTimeout(() => undefined, 0);
    const approved = await ctx.waitForEvent<boolean>('approve');
    return approved ? ctx.callActivity<string>('greet', input.name) : 'rejected';
  });
  app.schedule('nightly', { cron: '0 2 * * ? *', orchestration: 'hello', input: { name: 'nightly' }, overlap: 'skip' });
  app.schedule('frozen', { every: '1h', orchestration: 'hello', input: { name: 'frozen' }, overlap: 'skip', paused: true });
  app.orchestration('approval', async (ctx, input: { timeout?: string }) => {
    const callback = ctx.createCallback({ name: 'manager', ...input });
    await ctx.step('hand out', () => void handedOut.set(ctx.instanceId, callback.id));
    await callback.promise.catch(() => undefined);
    return ctx.waitForEvent('close');
  });
  return app;
}

/**
 * Callback tokens and signed callback paths, written `{name}` in a row's path and filled in per world
 * (tokens carry a random nonce): the three instances' tokens, tokens forged from them, and signed URLs
 * that were altered.
 */
async function callbackPlaceholders(signer: CallbackUrlSigner): Promise<Record<string, string>> {
  const token = (id: string) => handedOut.get(id)!;
  const waiting = parseCallbackToken(token(CALLBACK_IDS.waiting));
  const pathOf = (url: string) => {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  };
  const signed = await signer.urls(token(CALLBACK_IDS.waiting), { expiresIn: '1d' });
  const signedDone = await signer.urls(token(CALLBACK_IDS.done), { expiresIn: '1d' });
  const signedLate = await signer.urls(token(CALLBACK_IDS.late), { expiresIn: '1d' });
  const succeed = new URL(signed.succeed);
  const signature = succeed.searchParams.get('signature')!;
  const withQuery = (url: URL, change: (query: URLSearchParams) => void) => {
    const query = new URLSearchParams(url.search);
    change(query);
    return `${url.pathname}?${query.toString()}`;
  };
  return {
    waiting: token(CALLBACK_IDS.waiting),
    done: token(CALLBACK_IDS.done),
    late: token(CALLBACK_IDS.late),
    forged: formatCallbackToken({ ...waiting, nonce: 'A'.repeat(22) }),
    elsewhere: formatCallbackToken({ ...waiting, instanceId: CALLBACK_IDS.done }),
    misplaced: formatCallbackToken({ ...waiting, taskId: 9 }),
    'signed-tampered': withQuery(succeed, (query) => query.set('signature', `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`)),
    'signed-wrong-purpose': pathOf(signed.heartbeat).replace('/heartbeat?', '/succeed?'),
    'signed-other-callback': `${new URL(signedDone.succeed).pathname}${succeed.search}`,
    'signed-later-expiry': withQuery(succeed, (query) => query.set('expires', String(Number(query.get('expires')) + 86_400))),
    'signed-no-signature': withQuery(succeed, (query) => query.delete('signature')),
    'signed-no-expires': withQuery(succeed, (query) => query.delete('expires')),
    'signed-bad-expires': withQuery(succeed, (query) => query.set('expires', 'tomorrow')),
    'signed-extra-parameter': withQuery(succeed, (query) => query.set('utm_source', 'mail')),
    'signed-unknown-purpose': pathOf(signed.succeed).replace('/succeed?', '/complete?'),
    'signed-done': pathOf(signedDone.succeed),
    'signed-late': pathOf(signedLate.heartbeat),
  };
}

/** A row's path with its `{placeholders}` filled in. */
function fill(path: string, placeholders: Record<string, string>): string {
  return path.replace(/\{([a-z-]+)\}/g, (whole, name: string) => placeholders[name] ?? whole);
}

// ---------------------------------------------------------------------------------------------------
// HTTP rows. Paths are written as a client would send them (percent-encoded); bodies are raw strings.
// ---------------------------------------------------------------------------------------------------

interface HttpRow {
  what: string;
  method: string;
  /** Path and query, percent-encoded. */
  path: string;
  body?: string;
  /** @defaultValue 'application/json' (over the wire, on every request but a GET); null sends none */
  contentType?: string | null;
  /** More request headers (over the wire only): Origin, Host, Sec-Fetch-Site. */
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** The message must say what to fix. */
  message: RegExp;
}

const json = (value: unknown) => JSON.stringify(value);
const TEN_KB_ID = 'a'.repeat(10 * 1024);
const ID_RULE = /use 1–200 characters of letters, digits and _ \. : @ -, starting with a letter or digit/;
const EVENT_RULE = /use 1–100 characters of letters, digits and _ \. : -, starting with a letter or digit/;
const NAME_RULE = /use a letter followed by up to 99 letters, digits and _ \. -/;
const NOT_JSON = /The body is not valid JSON \(.+\): send/;
const SEND_JSON = /send JSON with Content-Type: application\/json/;
const TOO_LARGE = new RegExp(`the limit is ${BODY_LIMIT}\\. Pass large data by reference`);
const LIMIT_RULE = /limit must be an integer from 1 to 1000/;
const GONE = /No orchestration instance 'gone-1' exists: check the id, or it may have been purged/;
const FINISHED = /it is already (Completed|Terminated)\. .*start a new instance/;
const SCHEDULE_RULE = /Invalid schedule name .*: use a letter followed by up to 99 letters, digits and _ \. -/;
const NO_SCHEDULE = /No schedule named 'weekly' is defined \(defined: nightly, frozen\); define it with app\.schedule\('weekly', \.\.\.\)/;
const NO_PARAMETERS = /takes no parameters: send an empty body or \{\}/;
const HELD = /Cannot cancel instance 'held-1': it is Quarantined, so its code cannot run to clean up\. Resume it after deploying a fix, or terminate it/;
const NOT_FAILED = /only a Failed instance can be rewound/;
const NOT_RESTARTABLE = /only Failed, Terminated, Cancelled instances can be restarted/;
const REASON_OBJECT = /must be a JSON object such as \{"reason": "\.\.\."\}, or empty/;

const HTTP_ROWS: HttpRow[] = [
  // Malformed JSON
  { what: 'a truncated JSON body on start', method: 'POST', path: '/orchestrations/hello', body: '{"name":', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },
  { what: 'single-quoted JSON on start', method: 'POST', path: '/orchestrations/hello', body: "{'name': 'Ada'}", status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },
  { what: 'a byte-order mark before the JSON', method: 'POST', path: '/orchestrations/hello', body: '\uFEFF{"name":"Ada"}', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },
  { what: 'the word undefined as event data', method: 'POST', path: `/instances/${IDS.waiting}/events/approve`, body: 'undefined', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },
  { what: 'trailing garbage after a terminate body', method: 'POST', path: `/instances/${IDS.waiting}/terminate`, body: '{"reason":"x"} and more', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },
  { what: 'malformed JSON on resume', method: 'POST', path: `/instances/${IDS.paused}/resume`, body: '{bad', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },
  { what: 'malformed JSON on redrive', method: 'POST', path: '/dlq/activities/redrive', body: '{"messageId":', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },

  // JSON that is not the object the route needs
  { what: 'an array as a terminate body', method: 'POST', path: `/instances/${IDS.waiting}/terminate`, body: '[]', status: 400, code: 'VALIDATION', message: /must be a JSON object such as \{"reason": "\.\.\."\}, or empty/ },
  { what: 'a string as a suspend body', method: 'POST', path: `/instances/${IDS.waiting}/suspend`, body: '"maintenance"', status: 400, code: 'VALIDATION', message: /must be a JSON object such as \{"reason": "\.\.\."\}, or empty/ },
  { what: 'an array as a resume body', method: 'POST', path: `/instances/${IDS.paused}/resume`, body: '[1]', status: 400, code: 'VALIDATION', message: /must be a JSON object such as \{"reason": "\.\.\."\}, or empty/ },
  { what: 'a number as a redrive body', method: 'POST', path: '/dlq/activities/redrive', body: '42', status: 400, code: 'VALIDATION', message: /must be empty \(redrive all\) or \{"messageId": "\.\.\."\}/ },
  { what: 'null as a redrive body', method: 'POST', path: '/dlq/activities/redrive', body: 'null', status: 400, code: 'VALIDATION', message: /must be empty \(redrive all\) or \{"messageId": "\.\.\."\}/ },

  // Missing, misspelled and extra fields
  { what: 'an extra field next to reason', method: 'POST', path: `/instances/${IDS.waiting}/terminate`, body: json({ reason: 'x', force: true }), status: 400, code: 'VALIDATION', message: /Unknown field force: only "reason" is accepted/ },
  { what: 'a misspelled reason (Reason)', method: 'POST', path: `/instances/${IDS.waiting}/suspend`, body: json({ Reason: 'x' }), status: 400, code: 'VALIDATION', message: /Unknown field Reason: only "reason" is accepted/ },
  { what: 'an extra field on resume', method: 'POST', path: `/instances/${IDS.paused}/resume`, body: json({ now: true }), status: 400, code: 'VALIDATION', message: /Unknown field now: only "reason" is accepted/ },
  { what: 'a reason that is a number', method: 'POST', path: `/instances/${IDS.waiting}/terminate`, body: json({ reason: 42 }), status: 400, code: 'VALIDATION', message: /"reason" must be a string/ },
  { what: 'a reason over 1000 characters', method: 'POST', path: `/instances/${IDS.waiting}/terminate`, body: json({ reason: 'r'.repeat(1_001) }), status: 400, code: 'VALIDATION', message: /reason must be a string of at most 1000 characters/ },
  { what: 'a misspelled messageId (messageID) on redrive', method: 'POST', path: '/dlq/activities/redrive', body: json({ messageID: 'dl-1' }), status: 400, code: 'VALIDATION', message: /Unknown fields messageID: only "messageId" is accepted/ },
  { what: 'an empty messageId on redrive', method: 'POST', path: '/dlq/activities/redrive', body: json({ messageId: '' }), status: 400, code: 'VALIDATION', message: /"messageId" must be a non-empty string/ },
  { what: 'a numeric messageId on redrive', method: 'POST', path: '/dlq/activities/redrive', body: json({ messageId: 7 }), status: 400, code: 'VALIDATION', message: /"messageId" must be a non-empty string/ },
  { what: 'a misspelled instanceId query parameter (instanceID) on start', method: 'POST', path: '/orchestrations/hello?instanceID=typo-1', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: /Unknown query parameter instanceID: use instanceId, version or priority/ },
  { what: 'a priority that is not one', method: 'POST', path: '/orchestrations/hello?priority=urgent', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: /Invalid priority "urgent": use 'high' or 'normal'/ },
  { what: 'an unknown query parameter on start', method: 'POST', path: '/orchestrations/hello?instanceId=x-1&dryRun=true', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: /Unknown query parameter dryRun: use instanceId, version or priority/ },

  // Content types
  { what: 'a text/plain start body', method: 'POST', path: '/orchestrations/hello', body: json({ name: 'Ada' }), contentType: 'text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: SEND_JSON },
  { what: 'a form-encoded event', method: 'POST', path: `/instances/${IDS.waiting}/events/approve`, body: 'approved=true', contentType: 'application/x-www-form-urlencoded', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: SEND_JSON },
  { what: 'a multipart terminate body', method: 'POST', path: `/instances/${IDS.waiting}/terminate`, body: '--b\r\n\r\nx\r\n--b--', contentType: 'multipart/form-data; boundary=b', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: SEND_JSON },
  { what: 'application/jsonp (not JSON)', method: 'POST', path: '/orchestrations/hello', body: json({ name: 'Ada' }), contentType: 'application/jsonp', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: SEND_JSON },

  // Bodies over the limit
  { what: 'a start body over the limit', method: 'POST', path: '/orchestrations/hello', body: json({ name: 'x'.repeat(BODY_LIMIT) }), status: 413, code: 'PAYLOAD_TOO_LARGE', message: TOO_LARGE },
  { what: 'event data over the limit', method: 'POST', path: `/instances/${IDS.waiting}/events/approve`, body: json(['y'.repeat(BODY_LIMIT)]), status: 413, code: 'PAYLOAD_TOO_LARGE', message: TOO_LARGE },
  { what: 'a body over the limit in bytes but not in characters', method: 'POST', path: '/orchestrations/hello', body: json({ name: '€'.repeat(700) }), status: 413, code: 'PAYLOAD_TOO_LARGE', message: TOO_LARGE },

  // Instance ids
  { what: 'an empty instance id', method: 'POST', path: '/orchestrations/hello?instanceId=', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'a 10 KB instance id on start', method: 'POST', path: `/orchestrations/hello?instanceId=${TEN_KB_ID}`, body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: /\(10240 characters\): use 1–200 characters/ },
  { what: 'a 10 KB instance id in the path', method: 'GET', path: `/instances/${TEN_KB_ID}`, status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'an encoded path separator in the instance id (start)', method: 'POST', path: '/orchestrations/hello?instanceId=a%2Fb', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'an encoded path separator in the instance id (path)', method: 'GET', path: '/instances/a%2Fb', status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'an encoded ../ in the instance id', method: 'DELETE', path: '/instances/..%2F..%2Fetc', status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'a newline in the instance id', method: 'POST', path: '/orchestrations/hello?instanceId=a%0Ab', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'a NUL in the instance id', method: 'POST', path: '/instances/w%00-1/terminate', status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'an escape character in the instance id', method: 'GET', path: '/instances/w-1%1B%5B2J', status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'a right-to-left override in the instance id', method: 'POST', path: '/orchestrations/hello?instanceId=%E2%80%AEevil', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'a zero-width space in the instance id', method: 'POST', path: '/instances/w-1%E2%80%8B/events/approve', body: 'true', status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'a lone surrogate (%ED%A0%80) in the instance id path', method: 'GET', path: '/instances/%ED%A0%80', status: 400, code: 'VALIDATION', message: /not valid percent-encoding: encode it as UTF-8/ },
  { what: 'a lone surrogate (%ED%A0%80) in the instance id query', method: 'POST', path: '/orchestrations/hello?instanceId=x%ED%A0%80', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'a broken percent-escape in the path', method: 'GET', path: '/instances/w-1%E0%A4%A', status: 400, code: 'VALIDATION', message: /not valid percent-encoding: encode it as UTF-8/ },
  { what: 'an instance id starting with a dash', method: 'GET', path: '/instances/-w-1/history', status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'a space in the instance id', method: 'POST', path: '/instances/w%201/suspend', status: 400, code: 'VALIDATION', message: ID_RULE },

  // Orchestration names
  { what: 'an unknown orchestration', method: 'POST', path: '/orchestrations/nope', body: json({}), status: 404, code: 'ORCHESTRATION_NOT_FOUND', message: /No orchestration named 'nope' is registered \(registered: hello, approval\)/ },
  { what: 'an orchestration name in the wrong case', method: 'POST', path: '/orchestrations/Hello', body: json({}), status: 404, code: 'ORCHESTRATION_NOT_FOUND', message: /\(registered: hello, approval\)/ },
  { what: 'a right-to-left override in the orchestration name', method: 'POST', path: '/orchestrations/%E2%80%AEhello', body: json({}), status: 400, code: 'VALIDATION', message: NAME_RULE },
  { what: 'an encoded path separator in the orchestration name', method: 'POST', path: '/orchestrations/hel%2Flo', body: json({}), status: 400, code: 'VALIDATION', message: NAME_RULE },

  // Routes and methods
  { what: 'the root path', method: 'GET', path: '/', status: 404, code: 'ROUTE_NOT_FOUND', message: /See the README for the API/ },
  { what: 'a path below history', method: 'GET', path: `/instances/${IDS.waiting}/history/extra`, status: 404, code: 'ROUTE_NOT_FOUND', message: /See the README for the API/ },
  { what: 'an event route without an event name', method: 'POST', path: `/instances/${IDS.waiting}/events`, body: 'true', status: 404, code: 'ROUTE_NOT_FOUND', message: /See the README for the API/ },
  { what: 'an empty instance id segment', method: 'POST', path: '/instances//terminate', status: 404, code: 'ROUTE_NOT_FOUND', message: /See the README for the API/ },
  { what: 'PUT on an instance', method: 'PUT', path: `/instances/${IDS.waiting}`, body: json({}), status: 405, code: 'METHOD_NOT_ALLOWED', message: /use GET or DELETE/ },
  { what: 'GET on a start route', method: 'GET', path: '/orchestrations/hello', status: 405, code: 'METHOD_NOT_ALLOWED', message: /use POST/ },
  { what: 'DELETE on the instance list', method: 'DELETE', path: '/instances', status: 405, code: 'METHOD_NOT_ALLOWED', message: /use GET/ },
  { what: 'GET on terminate', method: 'GET', path: `/instances/${IDS.waiting}/terminate`, status: 405, code: 'METHOD_NOT_ALLOWED', message: /use POST/ },
  { what: 'an unknown dead-letter queue', method: 'GET', path: '/dlq/timers', status: 404, code: 'ROUTE_NOT_FOUND', message: /use \/dlq\/activities or \/dlq\/orchestrations/ },

  // Event names
  { what: 'a space in the event name', method: 'POST', path: `/instances/${IDS.waiting}/events/bad%20name`, body: 'true', status: 400, code: 'VALIDATION', message: EVENT_RULE },
  { what: 'a zero-width space in the event name', method: 'POST', path: `/instances/${IDS.waiting}/events/%E2%80%8Bapprove`, body: 'true', status: 400, code: 'VALIDATION', message: EVENT_RULE },
  { what: 'a NUL in the event name', method: 'POST', path: `/instances/${IDS.waiting}/events/approve%00`, body: 'true', status: 400, code: 'VALIDATION', message: EVENT_RULE },
  { what: 'an event name of 101 characters', method: 'POST', path: `/instances/${IDS.waiting}/events/${'e'.repeat(101)}`, body: 'true', status: 400, code: 'VALIDATION', message: EVENT_RULE },

  // Finished and purged instances
  { what: 'an event for a Completed instance', method: 'POST', path: `/instances/${IDS.done}/events/approve`, body: 'true', status: 409, code: 'INVALID_STATE', message: FINISHED },
  { what: 'terminating a Completed instance', method: 'POST', path: `/instances/${IDS.done}/terminate`, status: 409, code: 'INVALID_STATE', message: FINISHED },
  { what: 'suspending a Terminated instance', method: 'POST', path: `/instances/${IDS.stopped}/suspend`, body: json({ reason: 'x' }), status: 409, code: 'INVALID_STATE', message: FINISHED },
  { what: 'resuming a Completed instance', method: 'POST', path: `/instances/${IDS.done}/resume`, status: 409, code: 'INVALID_STATE', message: FINISHED },
  { what: 'an event for a purged instance', method: 'POST', path: `/instances/${IDS.gone}/events/approve`, body: 'true', status: 404, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'terminating a purged instance', method: 'POST', path: `/instances/${IDS.gone}/terminate`, status: 404, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'suspending a purged instance', method: 'POST', path: `/instances/${IDS.gone}/suspend`, status: 404, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'purging a purged instance', method: 'DELETE', path: `/instances/${IDS.gone}`, status: 404, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'the history of a purged instance', method: 'GET', path: `/instances/${IDS.gone}/history`, status: 404, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'purging a running instance', method: 'DELETE', path: `/instances/${IDS.waiting}`, status: 409, code: 'INVALID_STATE', message: /Terminate it first/ },

  // Cancel
  { what: 'cancelling a purged instance', method: 'POST', path: `/instances/${IDS.gone}/cancel`, status: 404, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'cancelling an unknown instance', method: 'POST', path: '/instances/no-such-1/cancel', body: json({ reason: 'x' }), status: 404, code: 'INSTANCE_NOT_FOUND', message: /No orchestration instance 'no-such-1' exists/ },
  { what: 'cancelling a Completed instance', method: 'POST', path: `/instances/${IDS.done}/cancel`, status: 409, code: 'INVALID_STATE', message: FINISHED },
  { what: 'cancelling a Terminated instance', method: 'POST', path: `/instances/${IDS.stopped}/cancel`, body: json({ reason: 'again' }), status: 409, code: 'INVALID_STATE', message: FINISHED },
  { what: 'cancelling a Quarantined instance', method: 'POST', path: `/instances/${IDS.held}/cancel`, status: 409, code: 'INVALID_STATE', message: HELD },
  { what: 'a cancel reason that is a number', method: 'POST', path: `/instances/${IDS.waiting}/cancel`, body: json({ reason: 7 }), status: 400, code: 'VALIDATION', message: /"reason" must be a string/ },
  { what: 'a cancel reason that is an object', method: 'POST', path: `/instances/${IDS.waiting}/cancel`, body: json({ reason: { why: 'x' } }), status: 400, code: 'VALIDATION', message: /"reason" must be a string/ },
  { what: 'a cancel reason over 1000 characters', method: 'POST', path: `/instances/${IDS.waiting}/cancel`, body: json({ reason: 'r'.repeat(1_001) }), status: 400, code: 'VALIDATION', message: /reason must be a string of at most 1000 characters/ },
  { what: 'an unknown field on cancel (force)', method: 'POST', path: `/instances/${IDS.waiting}/cancel`, body: json({ reason: 'x', force: true }), status: 400, code: 'VALIDATION', message: /Unknown field force: only "reason" is accepted/ },
  { what: 'an array as a cancel body', method: 'POST', path: `/instances/${IDS.waiting}/cancel`, body: '["now"]', status: 400, code: 'VALIDATION', message: REASON_OBJECT },
  { what: 'malformed JSON on cancel', method: 'POST', path: `/instances/${IDS.waiting}/cancel`, body: '{"reason":', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },
  { what: 'GET on cancel', method: 'GET', path: `/instances/${IDS.waiting}/cancel`, status: 405, code: 'METHOD_NOT_ALLOWED', message: /use POST/ },

  // Rewind
  { what: 'rewinding a Running instance', method: 'POST', path: `/instances/${IDS.waiting}/rewind`, status: 409, code: 'INVALID_STATE', message: /Cannot rewind instance 'w-1': it is Running, and only a Failed instance can be rewound/ },
  { what: 'rewinding a Completed instance', method: 'POST', path: `/instances/${IDS.done}/rewind`, status: 409, code: 'INVALID_STATE', message: NOT_FAILED },
  { what: 'rewinding a Terminated instance', method: 'POST', path: `/instances/${IDS.stopped}/rewind`, status: 409, code: 'INVALID_STATE', message: NOT_FAILED },
  { what: 'rewinding a Quarantined instance', method: 'POST', path: `/instances/${IDS.held}/rewind`, status: 409, code: 'INVALID_STATE', message: /it is Quarantined, and only a Failed instance can be rewound \(resume a Quarantined one after the fix\)/ },
  { what: 'rewinding a purged instance', method: 'POST', path: `/instances/${IDS.gone}/rewind`, status: 404, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'an unknown field on rewind', method: 'POST', path: `/instances/${IDS.stopped}/rewind`, body: json({ from: 3 }), status: 400, code: 'VALIDATION', message: /Unknown field from: only "reason" is accepted/ },

  // Restart
  { what: 'restarting a Running instance', method: 'POST', path: `/instances/${IDS.waiting}/restart`, status: 409, code: 'INVALID_STATE', message: /Cannot restart instance 'w-1': it is Running; only Failed, Terminated, Cancelled instances can be restarted/ },
  { what: 'restarting a Completed instance', method: 'POST', path: `/instances/${IDS.done}/restart`, body: json({}), status: 409, code: 'INVALID_STATE', message: NOT_RESTARTABLE },
  { what: 'restarting a Suspended instance', method: 'POST', path: `/instances/${IDS.paused}/restart`, status: 409, code: 'INVALID_STATE', message: NOT_RESTARTABLE },
  { what: 'restarting a purged instance', method: 'POST', path: `/instances/${IDS.gone}/restart`, status: 404, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'restarting on a version that is not registered', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: json({ version: '9' }), status: 404, code: 'ORCHESTRATION_NOT_FOUND', message: /has no version 9 registered \(registered: 1\)/ },
  { what: 'restarting on an invalid version', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: json({ version: 'v 2' }), status: 400, code: 'VALIDATION', message: /use a number or up to 40 letters, digits and _ \. -/ },
  { what: 'restarting on a version that is a boolean', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: json({ version: true }), status: 400, code: 'VALIDATION', message: /"version" must be a string or a number/ },
  { what: 'restarting as an instance id that exists', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: json({ instanceId: IDS.waiting }), status: 409, code: 'INSTANCE_EXISTS', message: /Use another instance id, or purge the old instance first/ },
  { what: 'restarting as an invalid instance id', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: json({ instanceId: 'a/b' }), status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'restarting as an instance id that is a number', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: json({ instanceId: 42 }), status: 400, code: 'VALIDATION', message: /"instanceId" must be a string/ },
  { what: 'a misspelled field on restart (newId)', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: json({ newId: 'x-2' }), status: 400, code: 'VALIDATION', message: /Unknown field newId: only "version" and "instanceId" are accepted/ },
  { what: 'unknown fields on restart', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: json({ version: '1', input: {}, force: true }), status: 400, code: 'VALIDATION', message: /Unknown fields input, force: only "version" and "instanceId" are accepted/ },
  { what: 'an array as a restart body', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: '[]', status: 400, code: 'VALIDATION', message: /The body must be a JSON object such as \{"version": "2", "instanceId": "\.\.\."\}, or empty/ },
  { what: 'malformed JSON on restart', method: 'POST', path: `/instances/${IDS.stopped}/restart`, body: '{version: 2}', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },

  // Duplicate starts
  { what: 'a duplicate start of a running instance', method: 'POST', path: `/orchestrations/hello?instanceId=${IDS.waiting}`, body: json({ name: 'again' }), status: 409, code: 'INSTANCE_EXISTS', message: /Use another instance id, or purge the old instance first/ },
  { what: 'a duplicate start of a Completed instance', method: 'POST', path: `/orchestrations/hello?instanceId=${IDS.done}`, body: json({ name: 'again' }), status: 409, code: 'INSTANCE_EXISTS', message: /Use another instance id, or purge the old instance first/ },

  // Dead letters
  { what: 'redriving a missing dead letter', method: 'POST', path: '/dlq/activities/redrive', body: json({ messageId: 'nope' }), status: 404, code: 'DEAD_LETTER_NOT_FOUND', message: /list them with GET \/dlq\/activities/ },
  { what: 'redriving a dead letter from the other queue', method: 'POST', path: '/dlq/orchestrations/redrive', body: json({ messageId: 'dl-1' }), status: 404, code: 'DEAD_LETTER_NOT_FOUND', message: /list them with GET \/dlq\/orchestrations/ },
  { what: 'redriving an unknown queue', method: 'POST', path: '/dlq/timers/redrive', status: 404, code: 'ROUTE_NOT_FOUND', message: /use \/dlq\/activities or \/dlq\/orchestrations/ },
  { what: 'a non-numeric dead-letter limit', method: 'GET', path: '/dlq/activities?limit=ten', status: 400, code: 'VALIDATION', message: /limit must be an integer from 1 to 1000, got "ten"/ },

  // Schedules
  { what: 'an unknown schedule', method: 'GET', path: '/schedules/weekly', status: 404, code: 'SCHEDULE_NOT_FOUND', message: NO_SCHEDULE },
  { what: 'triggering an unknown schedule', method: 'POST', path: '/schedules/weekly/trigger', status: 404, code: 'SCHEDULE_NOT_FOUND', message: NO_SCHEDULE },
  { what: 'pausing an unknown schedule', method: 'POST', path: '/schedules/weekly/pause', status: 404, code: 'SCHEDULE_NOT_FOUND', message: NO_SCHEDULE },
  { what: 'resuming an unknown schedule', method: 'POST', path: '/schedules/weekly/resume', status: 404, code: 'SCHEDULE_NOT_FOUND', message: NO_SCHEDULE },
  { what: 'a schedule name in the wrong case', method: 'POST', path: '/schedules/Nightly/trigger', status: 404, code: 'SCHEDULE_NOT_FOUND', message: /No schedule named 'Nightly' is defined \(defined: nightly, frozen\)/ },
  { what: 'a space in the schedule name', method: 'POST', path: '/schedules/night%20ly/trigger', status: 400, code: 'VALIDATION', message: SCHEDULE_RULE },
  { what: 'an encoded path separator in the schedule name', method: 'POST', path: '/schedules/night%2Fly/pause', status: 400, code: 'VALIDATION', message: SCHEDULE_RULE },
  { what: 'a schedule name starting with a digit', method: 'GET', path: '/schedules/2am', status: 400, code: 'VALIDATION', message: SCHEDULE_RULE },
  { what: 'a schedule name of 101 characters', method: 'POST', path: `/schedules/${'s'.repeat(101)}/resume`, status: 400, code: 'VALIDATION', message: /\(101 characters\): use a letter followed by/ },
  { what: 'a right-to-left override in the schedule name', method: 'POST', path: '/schedules/%E2%80%AEnightly/trigger', status: 400, code: 'VALIDATION', message: SCHEDULE_RULE },
  { what: 'a parameter on trigger', method: 'POST', path: '/schedules/nightly/trigger', body: json({ input: { name: 'x' } }), status: 400, code: 'VALIDATION', message: NO_PARAMETERS },
  { what: 'an array as a pause body', method: 'POST', path: '/schedules/nightly/pause', body: '[]', status: 400, code: 'VALIDATION', message: NO_PARAMETERS },
  { what: 'malformed JSON on resume of a schedule', method: 'POST', path: '/schedules/nightly/resume', body: '{"', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },
  { what: 'resuming a schedule paused in its definition', method: 'POST', path: '/schedules/frozen/resume', status: 409, code: 'INVALID_STATE', message: /paused in its definition \(paused: true\).*Nothing was changed/ },
  { what: 'GET on trigger', method: 'GET', path: '/schedules/nightly/trigger', status: 405, code: 'METHOD_NOT_ALLOWED', message: /use POST/ },
  { what: 'DELETE on the schedule list', method: 'DELETE', path: '/schedules', status: 405, code: 'METHOD_NOT_ALLOWED', message: /use GET/ },
  { what: 'an unknown action on a schedule', method: 'POST', path: '/schedules/nightly/run', status: 404, code: 'ROUTE_NOT_FOUND', message: /See the README for the API/ },

  // Replay findings (shadow replay)
  { what: 'a POST to the replay findings', method: 'POST', path: '/replay-findings', body: '{}', status: 405, code: 'METHOD_NOT_ALLOWED', message: /POST is not allowed on \/replay-findings; use GET/ },

  // Metrics (npm start's counters)
  { what: 'a POST to the metrics', method: 'POST', path: '/metrics', body: '{}', status: 405, code: 'METHOD_NOT_ALLOWED', message: /POST is not allowed on \/metrics; use GET/ },

  // Instance lists
  { what: 'limit=0', method: 'GET', path: '/instances?limit=0', status: 400, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'limit=1001', method: 'GET', path: '/instances?limit=1001', status: 400, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'limit=ten', method: 'GET', path: '/instances?limit=ten', status: 400, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'limit=1.5', method: 'GET', path: '/instances?limit=1.5', status: 400, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'limit=-1', method: 'GET', path: '/instances?limit=-1', status: 400, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'an unknown status', method: 'GET', path: '/instances?status=Sleeping', status: 400, code: 'VALIDATION', message: /Unknown status "Sleeping": use one of Pending, Running, Completed/ },
  { what: 'a status in the wrong case', method: 'GET', path: '/instances?status=completed', status: 400, code: 'VALIDATION', message: /use one of Pending, Running, Completed/ },
  { what: 'an invalid name filter', method: 'GET', path: '/instances?name=bad%20name', status: 400, code: 'VALIDATION', message: NAME_RULE },

  // History generations
  { what: 'generation=-1', method: 'GET', path: `/instances/${IDS.waiting}/history?generation=-1`, status: 400, code: 'VALIDATION', message: /generation must be a non-negative integer/ },
  { what: 'generation=1.5', method: 'GET', path: `/instances/${IDS.waiting}/history?generation=1.5`, status: 400, code: 'VALIDATION', message: /generation must be a non-negative integer/ },
  { what: 'generation=one', method: 'GET', path: `/instances/${IDS.waiting}/history?generation=one`, status: 400, code: 'VALIDATION', message: /generation must be a non-negative integer/ },
  { what: 'an empty generation', method: 'GET', path: `/instances/${IDS.waiting}/history?generation=`, status: 400, code: 'VALIDATION', message: /generation must be a non-negative integer/ },
  { what: 'cost=yes on a status read', method: 'GET', path: `/instances/${IDS.waiting}?cost=yes`, status: 400, code: 'VALIDATION', message: /cost must be true or false, got "yes"/ },
  { what: 'an empty cost on a status read', method: 'GET', path: `/instances/${IDS.waiting}?cost=`, status: 400, code: 'VALIDATION', message: /cost must be true or false, got ""/ },
  { what: 'cost=1 on a listing', method: 'GET', path: '/instances?cost=1', status: 400, code: 'VALIDATION', message: /cost must be true or false, got "1"/ },
  { what: 'a generation the instance has not reached', method: 'GET', path: `/instances/${IDS.waiting}/history?generation=5`, status: 400, code: 'VALIDATION', message: /has generations 0 to 0; got 5/ },

  // Callbacks: tokens
  { what: 'a malformed callback token', method: 'POST', path: '/callbacks/not-a-token/succeed', body: 'true', status: 400, code: 'VALIDATION', message: /Invalid callback token: expected three parts, 'cb1\.<\.\.\.>\.<\.\.\.>'\. Pass the callback's id exactly as ctx\.createCallback returned it/ },
  { what: 'a callback token with a fourth part', method: 'POST', path: '/callbacks/{waiting}.x/succeed', body: 'true', status: 400, code: 'VALIDATION', message: /Invalid callback token: expected three parts/ },
  { what: 'a callback token whose middle is not JSON', method: 'POST', path: `/callbacks/cb1.${Buffer.from('not json').toString('base64url')}.${'A'.repeat(22)}/heartbeat`, status: 400, code: 'VALIDATION', message: /its middle part does not decode/ },
  { what: 'a callback token of an unknown instance', method: 'POST', path: `/callbacks/${formatCallbackToken({ instanceId: 'nobody', generation: 0, taskId: 1, nonce: 'A'.repeat(22) })}/succeed`, body: 'true', status: 404, code: 'CALLBACK_NOT_FOUND', message: /No callback has this token \(instance 'nobody', position 1\): no such instance exists/ },
  { what: 'a callback token with a forged nonce', method: 'POST', path: '/callbacks/{forged}/succeed', body: 'true', status: 404, code: 'CALLBACK_NOT_FOUND', message: /the instance handed out no such token\. Check that the token is the one ctx\.createCallback handed out, whole\. Nothing was written/ },
  { what: "a callback token moved to another instance (its nonce is the first one's)", method: 'POST', path: '/callbacks/{elsewhere}/fail', body: json({ error: { message: 'no' } }), status: 404, code: 'CALLBACK_NOT_FOUND', message: /instance 'cb-done', position 1\): the instance handed out no such token/ },
  { what: 'a callback token moved to another position', method: 'POST', path: '/callbacks/{misplaced}/heartbeat', status: 404, code: 'CALLBACK_NOT_FOUND', message: /position 9\): the instance handed out no such token/ },

  // Callbacks: state
  { what: 'a different completion of a completed callback', method: 'POST', path: '/callbacks/{done}/succeed', body: json({ ok: false }), status: 409, code: 'CALLBACK_ALREADY_COMPLETED', message: /it was already completed at .*Sending the same completion again is answered as a duplicate; a different one is refused\. Nothing was written/ },
  { what: 'failing a completed callback', method: 'POST', path: '/callbacks/{done}/fail', body: json({ error: { message: 'late' } }), status: 409, code: 'CALLBACK_ALREADY_COMPLETED', message: /Cannot fail the callback 'manager' of instance 'cb-done': it was already completed/ },
  { what: 'a heartbeat for a completed callback', method: 'POST', path: '/callbacks/{done}/heartbeat', status: 409, code: 'CALLBACK_ALREADY_COMPLETED', message: /Cannot send a heartbeat to the callback 'manager' of instance 'cb-done': it was already completed/ },
  { what: 'completing a callback after its timeout', method: 'POST', path: '/callbacks/{late}/succeed', body: 'true', status: 410, code: 'CALLBACK_EXPIRED', message: /Cannot complete the callback 'manager' of instance 'cb-late': it expired at .* \(its timeout\), and the orchestration no longer takes it/ },
  { what: 'a heartbeat after the timeout', method: 'POST', path: '/callbacks/{late}/heartbeat', status: 410, code: 'CALLBACK_EXPIRED', message: /it expired at/ },

  // Callbacks: bodies and routes
  { what: 'a string as a callback failure', method: 'POST', path: '/callbacks/{waiting}/fail', body: '"declined"', status: 400, code: 'VALIDATION', message: /The body must be empty or \{"error": \{"message": "\.\.\.", "name": "\.\.\.", "details": \.\.\.\}\} \(name and details optional\)\./ },
  { what: 'a callback failure without error', method: 'POST', path: '/callbacks/{waiting}/fail', body: '{}', status: 400, code: 'VALIDATION', message: /"error" is missing or not an object/ },
  { what: 'a callback failure whose message is a number', method: 'POST', path: '/callbacks/{waiting}/fail', body: json({ error: { message: 42 } }), status: 400, code: 'VALIDATION', message: /"error\.message" must be a non-empty string/ },
  { what: 'a callback failure with data instead of details', method: 'POST', path: '/callbacks/{waiting}/fail', body: json({ error: { message: 'no', data: { why: 1 } } }), status: 400, code: 'VALIDATION', message: /unknown field data in "error" \(send data as "details"\)/ },
  { what: 'a callback failure with a field next to error', method: 'POST', path: '/callbacks/{waiting}/fail', body: json({ error: { message: 'no' }, reason: 'x' }), status: 400, code: 'VALIDATION', message: /unknown field reason\./ },
  { what: 'a callback failure name of 201 characters', method: 'POST', path: '/callbacks/{waiting}/fail', body: json({ error: { message: 'no', name: 'N'.repeat(201) } }), status: 400, code: 'VALIDATION', message: /name\?: string \(1 to 200 characters\)/ },
  { what: 'a heartbeat with a body', method: 'POST', path: '/callbacks/{waiting}/heartbeat', body: json({ progress: 50 }), status: 400, code: 'VALIDATION', message: /A heartbeat takes no body: send an empty one/ },
  { what: 'malformed JSON as a callback result', method: 'POST', path: '/callbacks/{waiting}/succeed', body: '{"ok":', status: 400, code: 'MALFORMED_JSON', message: NOT_JSON },
  { what: 'a text/plain callback result', method: 'POST', path: '/callbacks/{waiting}/succeed', body: 'ok', contentType: 'text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: SEND_JSON },
  { what: 'a callback result over the limit', method: 'POST', path: '/callbacks/{waiting}/succeed', body: json({ note: 'n'.repeat(BODY_LIMIT) }), status: 413, code: 'PAYLOAD_TOO_LARGE', message: TOO_LARGE },
  { what: 'an unknown callback action', method: 'POST', path: '/callbacks/{waiting}/complete', body: 'true', status: 404, code: 'ROUTE_NOT_FOUND', message: /use \/callbacks\/.+\/succeed, \/fail or \/heartbeat, or urls/ },
  { what: 'GET on a callback completion', method: 'GET', path: '/callbacks/{waiting}/succeed', status: 405, code: 'METHOD_NOT_ALLOWED', message: /use POST/ },
  { what: 'the callbacks of a purged instance', method: 'GET', path: `/instances/${IDS.gone}/callbacks`, status: 404, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'the callbacks of an invalid instance id', method: 'GET', path: '/instances/a%2Fb/callbacks', status: 400, code: 'VALIDATION', message: ID_RULE },
  { what: 'signed URLs for a completed callback', method: 'POST', path: '/callbacks/{done}/urls', status: 404, code: 'CALLBACK_NOT_FOUND', message: /has no open callback with this token .*GET \/instances\/cb-done\/callbacks lists the open ones\. Nothing was signed/ },
  { what: 'signed URLs with an unknown field', method: 'POST', path: '/callbacks/{waiting}/urls', body: json({ expires: '1d' }), status: 400, code: 'VALIDATION', message: /Unknown field expires: only "expiresIn" is accepted/ },
  { what: 'signed URLs for over a year', method: 'POST', path: '/callbacks/{waiting}/urls', body: json({ expiresIn: '400d' }), status: 400, code: 'VALIDATION', message: /must be from 1s to 365d, got 400d: a URL is a credential/ },

  // Signed callback URLs (no credentials: the signature is the authorization)
  { what: 'a signed URL with a changed signature', method: 'POST', path: '{signed-tampered}', body: 'true', status: 403, code: 'SIGNATURE_MISMATCH', message: /The signature does not match this callback URL\. Use the URL exactly as it was handed out: each one does one thing/ },
  { what: 'a heartbeat URL used to complete', method: 'POST', path: '{signed-wrong-purpose}', body: 'true', status: 403, code: 'SIGNATURE_MISMATCH', message: /\(succeed here only if it was signed for succeed\)/ },
  { what: "one callback's signature on another callback", method: 'POST', path: '{signed-other-callback}', body: 'true', status: 403, code: 'SIGNATURE_MISMATCH', message: /The signature does not match/ },
  { what: 'a signed URL with a later expiry', method: 'POST', path: '{signed-later-expiry}', body: 'true', status: 403, code: 'SIGNATURE_MISMATCH', message: /The signature does not match/ },
  { what: 'a signed URL without its signature', method: 'POST', path: '{signed-no-signature}', body: 'true', status: 400, code: 'VALIDATION', message: /This callback URL is incomplete: its signature parameter is missing\. Use the URL exactly as it was handed out, query string included/ },
  { what: 'a signed URL without its expiry', method: 'POST', path: '{signed-no-expires}', body: 'true', status: 400, code: 'VALIDATION', message: /its expires parameter is missing or not a number of seconds/ },
  { what: 'a signed URL whose expiry is a word', method: 'POST', path: '{signed-bad-expires}', body: 'true', status: 400, code: 'VALIDATION', message: /its expires parameter is missing or not a number of seconds/ },
  { what: 'a signed URL with an extra query parameter', method: 'POST', path: '{signed-extra-parameter}', body: 'true', status: 400, code: 'VALIDATION', message: /unknown query parameter utm_source \(only expires and signature belong to it\)/ },
  { what: 'a signed URL for an unknown purpose', method: 'POST', path: '{signed-unknown-purpose}', body: 'true', status: 404, code: 'ROUTE_NOT_FOUND', message: /use \/signed\/callbacks\/.+\/succeed, \/fail or \/heartbeat\./ },
  { what: 'a signed URL with a malformed token', method: 'POST', path: '/signed/callbacks/not-a-token/succeed?expires=1&signature=x', body: 'true', status: 400, code: 'VALIDATION', message: /Invalid callback token/ },
  { what: 'GET on a signed URL', method: 'GET', path: '{signed-done}', status: 405, code: 'METHOD_NOT_ALLOWED', message: /use POST/ },
  { what: 'a valid signed URL of a completed callback, with another result', method: 'POST', path: '{signed-done}', body: json({ ok: false }), status: 409, code: 'CALLBACK_ALREADY_COMPLETED', message: /it was already completed at/ },
  { what: 'a valid signed heartbeat URL after the timeout', method: 'POST', path: '{signed-late}', status: 410, code: 'CALLBACK_EXPIRED', message: /it expired at/ },

  // Versions on start
  { what: 'an empty version', method: 'POST', path: '/orchestrations/hello?version=', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: /use a number or up to 40 letters, digits and _ \. -/ },
  { what: 'a version with a space', method: 'POST', path: '/orchestrations/hello?version=v%202', body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: /use a number or up to 40 letters, digits and _ \. -/ },
  { what: 'a version of 41 characters', method: 'POST', path: `/orchestrations/hello?version=${'9'.repeat(41)}`, body: json({ name: 'Ada' }), status: 400, code: 'VALIDATION', message: /use a number or up to 40 letters, digits and _ \. -/ },
  { what: 'a version that is not registered', method: 'POST', path: '/orchestrations/hello?version=9', body: json({ name: 'Ada' }), status: 404, code: 'ORCHESTRATION_NOT_FOUND', message: /has no version 9 registered \(registered: 1\)/ },
];

/** Turns a row into the request the local HTTP server would hand to the API. */
function toRequest(row: Pick<HttpRow, 'method' | 'path' | 'body' | 'contentType'>): HttpRequest {
  const url = new URL(row.path, 'http://127.0.0.1');
  return {
    method: row.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: row.body === undefined || row.contentType === null ? {} : { 'content-type': row.contentType ?? 'application/json' },
    body: row.body,
  };
}

// ---------------------------------------------------------------------------------------------------
// The world every row starts from, and a snapshot of all of it.
// ---------------------------------------------------------------------------------------------------

/** Dead letters in memory (the in-memory runtime has no queues of its own), with the AWS behaviour. */
class MemoryDeadLetters implements DeadLetterOperations {
  letters: DeadLetter[] = [
    { queue: 'activities', messageId: 'dl-1', instanceId: IDS.waiting, outcome: 'call failed with PoisonMessageError (delivered)', deadAt: '2026-01-01T00:00:00.000Z', message: { name: 'greet' } },
  ];

  async list(queue: DeadLetterQueue): Promise<{ deadLetters: DeadLetter[] }> {
    return { deadLetters: structuredClone(this.letters.filter((letter) => letter.queue === queue)) };
  }

  async redrive(queue: DeadLetterQueue, messageId?: string): Promise<{ redriven: string[]; notFound: string[] }> {
    const targets = this.letters.filter((letter) => letter.queue === queue && (messageId === undefined || letter.messageId === messageId));
    this.letters = this.letters.filter((letter) => !targets.includes(letter));
    const redriven = targets.map((letter) => letter.messageId);
    return { redriven, notFound: messageId !== undefined && redriven.length === 0 ? [messageId] : [] };
  }
}

/** Names the registry snapshot looks up: every name a row tries to register, valid or not. */
const REGISTRY_PROBES = ['greet', 'hello', 'ship', 'order', '', '1charge', 'has space', 'a/b', 'x'.repeat(101), '\u202Echarge', 'charge\u200B', 'chärge', 'charge\u0000'];

/** What the app has registered, read through its public methods (functions compare by identity). */
function registrySnapshot(app: App): unknown {
  return REGISTRY_PROBES.map((name) => {
    let versions: string;
    try {
      app.getOrchestration(name, 'no-such-version');
      versions = 'probe version exists';
    } catch (error) {
      versions = (error as Error).message; // lists the registered versions, or that none is
    }
    let latest: unknown;
    try {
      latest = app.getOrchestration(name);
    } catch {
      latest = undefined;
    }
    return { name, activity: app.findActivity(name), latest, versions };
  });
}

interface World {
  app: App;
  env: TestEnvironment;
  client: Client;
  api: HttpApi;
  /** The callback tokens and signed paths of this world's instances. */
  placeholders: Record<string, string>;
  snapshot(): Promise<unknown>;
}

/**
 * Six instances (waiting for an event, Completed, Terminated, Suspended, purged, Quarantined), a dead letter, and a
 * log of everything handed to the work queues from now on.
 */
async function createWorld(): Promise<World> {
  const app = buildApp();
  const env = await TestEnvironment.create(app);
  const client = env.client;
  for (const [key, id] of Object.entries(IDS)) await client.start('hello', { name: key }, { instanceId: id });
  await env.idle();
  await client.raiseEvent(IDS.done, 'approve', true);
  await client.raiseEvent(IDS.gone, 'approve', false);
  await client.terminate(IDS.stopped, 'fixture');
  await client.suspend(IDS.paused, 'fixture');
  for (const id of [IDS.done, IDS.gone, IDS.stopped]) await client.waitForCompletion(id);
  await client.purge(IDS.gone);
  await client.start('approval', {}, { instanceId: CALLBACK_IDS.waiting });
  await client.start('approval', {}, { instanceId: CALLBACK_IDS.done });
  await client.start('approval', { timeout: '2s' }, { instanceId: CALLBACK_IDS.late });
  await env.idle();
  await client.completeCallback(handedOut.get(CALLBACK_IDS.done)!, { ok: true });
  await env.advanceTime('3s');
  const callbacks = await Promise.all(Object.values(CALLBACK_IDS).map((id) => client.listPendingCallbacks(id)));
  expect(callbacks.map((open) => open.length)).toEqual([1, 0, 0]);
  const statuses = Object.fromEntries(await Promise.all([IDS.waiting, IDS.done, IDS.stopped, IDS.paused, IDS.held].map(async (id) => [id, (await client.getStatus(id)).status])));
  expect(statuses).toEqual({ [IDS.waiting]: 'Running', [IDS.done]: 'Completed', [IDS.stopped]: 'Terminated', [IDS.paused]: 'Suspended', [IDS.held]: 'Quarantined' });

  // From here on, every call to the queues is recorded: a rejected request must not enqueue anything.
  const queued: unknown[] = [];
  const queues = env.queues as unknown as Record<string, (...args: unknown[]) => Promise<void>>;
  for (const method of ['ringDoorbell', 'enqueueActivities', 'scheduleTimers']) {
    const original = queues[method]!.bind(env.queues);
    queues[method] = async (...args: unknown[]) => {
      queued.push({ method, args: structuredClone(args) });
      return original(...args);
    };
  }
  const deadLetters = new MemoryDeadLetters();
  const api = new HttpApi({ client, deadLetters, schedules: env.schedules, callbackUrls: env.callbackUrls, maxBodyBytes: BODY_LIMIT });
  const placeholders = await callbackPlaceholders(env.callbackUrls);

  const snapshot = async () => {
    await env.idle();
    const records: InstanceRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await env.store.listInstances({ limit: 1000, cursor });
      records.push(...page.instances);
      cursor = page.cursor;
    } while (cursor);
    records.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    const instances = [];
    for (const record of records) {
      const state = await env.store.loadStep(record.instanceId);
      const histories = [];
      for (let generation = 0; generation <= record.generation; generation++) histories.push(await env.store.readHistory(record.instanceId, generation));
      instances.push({ record, inbox: state?.inbox, histories });
    }
    return {
      instances,
      queued: structuredClone(queued),
      deadLetters: structuredClone(deadLetters.letters),
      registry: registrySnapshot(app),
      schedules: { defined: app.schedules().map((schedule) => schedule.name), states: (await env.schedules.list()).map(({ nextFiring: _next, ...rest }) => rest) },
      workerErrors: env.workerErrors.length,
    };
  };
  return { app, env, client, api, placeholders, snapshot };
}

let world: World;

/** Runs `action` and checks that the whole state is the same afterwards. */
async function expectNothingWritten<T>(action: () => Promise<T>): Promise<T> {
  const before = await world.snapshot();
  const result = await action();
  expect(await world.snapshot()).toEqual(before);
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Surface 1: the HTTP API over the in-memory runtime.
// ---------------------------------------------------------------------------------------------------


// ---------------------------------------------------------------------------------------------------
// Surface 2: the client, called directly.
// ---------------------------------------------------------------------------------------------------

type ErrorClass = new (...args: never[]) => PerdureError;

interface ClientRow {
  what: string;
  call: (client: Client) => Promise<unknown>;
  error: ErrorClass;
  code: string;
  message: RegExp;
}

const cyclic: Record<string, unknown> = { name: 'loop' };
cyclic.self = cyclic;
const PLAIN_DATA = /pass plain data \(objects, arrays, strings, numbers, booleans, null\)/;

const CLIENT_ROWS: ClientRow[] = [
  // start
  { what: 'start of an unknown orchestration', call: (c) => c.start('nope', {}), error: OrchestrationNotFoundError, code: 'ORCHESTRATION_NOT_FOUND', message: /No orchestration named 'nope' is registered \(registered: hello, approval\)/ },
  { what: 'start with an empty orchestration name', call: (c) => c.start('', {}), error: ValidationError, code: 'VALIDATION', message: NAME_RULE },
  { what: 'start with an orchestration name holding a zero-width space', call: (c) => c.start('hello\u200B', {}), error: ValidationError, code: 'VALIDATION', message: NAME_RULE },
  { what: 'start with an empty instance id', call: (c) => c.start('hello', {}, { instanceId: '' }), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  { what: 'start with a 10 KB instance id', call: (c) => c.start('hello', {}, { instanceId: TEN_KB_ID }), error: ValidationError, code: 'VALIDATION', message: /\(10240 characters\): use 1–200 characters/ },
  { what: 'start with a path separator in the instance id', call: (c) => c.start('hello', {}, { instanceId: 'a/b' }), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  { what: 'start with a control character in the instance id', call: (c) => c.start('hello', {}, { instanceId: 'a\u0007b' }), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  { what: 'start with a NUL in the instance id', call: (c) => c.start('hello', {}, { instanceId: 'a\u0000' }), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  { what: 'start with a right-to-left override in the instance id', call: (c) => c.start('hello', {}, { instanceId: 'abc\u202Efdp.exe' }), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  { what: 'start with a lone surrogate in the instance id', call: (c) => c.start('hello', {}, { instanceId: 'a\uD800' }), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  { what: 'start with a number as the instance id', call: (c) => c.start('hello', {}, { instanceId: 42 as never }), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  { what: 'start with a version that is not registered', call: (c) => c.start('hello', {}, { version: 9 }), error: OrchestrationNotFoundError, code: 'ORCHESTRATION_NOT_FOUND', message: /has no version 9 registered \(registered: 1\)/ },
  { what: 'start with an invalid version', call: (c) => c.start('hello', {}, { version: 'v 2' }), error: ValidationError, code: 'VALIDATION', message: /use a number or up to 40 letters, digits and _ \. -/ },
  { what: 'a duplicate start', call: (c) => c.start('hello', {}, { instanceId: IDS.waiting }), error: InstanceExistsError, code: 'INSTANCE_EXISTS', message: /Use another instance id, or purge the old instance first/ },
  // events
  { what: 'an event name with a space', call: (c) => c.raiseEvent(IDS.waiting, 'bad name', true), error: ValidationError, code: 'VALIDATION', message: EVENT_RULE },
  { what: 'an empty event name', call: (c) => c.raiseEvent(IDS.waiting, '', true), error: ValidationError, code: 'VALIDATION', message: EVENT_RULE },
  { what: 'an event for a Completed instance', call: (c) => c.raiseEvent(IDS.done, 'approve', true), error: InvalidStateError, code: 'INVALID_STATE', message: FINISHED },
  { what: 'an event for a purged instance', call: (c) => c.raiseEvent(IDS.gone, 'approve', true), error: InstanceNotFoundError, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'an event for an invalid instance id', call: (c) => c.raiseEvent('w-1/../x', 'approve', true), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  // control
  { what: 'terminating a Completed instance', call: (c) => c.terminate(IDS.done), error: InvalidStateError, code: 'INVALID_STATE', message: FINISHED },
  { what: 'terminating a purged instance', call: (c) => c.terminate(IDS.gone), error: InstanceNotFoundError, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'terminating with a reason that is not a string', call: (c) => c.terminate(IDS.waiting, { why: 'x' } as never), error: ValidationError, code: 'VALIDATION', message: /reason must be a string of at most 1000 characters/ },
  { what: 'suspending with a reason over 1000 characters', call: (c) => c.suspend(IDS.waiting, 'r'.repeat(1_001)), error: ValidationError, code: 'VALIDATION', message: /reason must be a string of at most 1000 characters/ },
  { what: 'suspending a Terminated instance', call: (c) => c.suspend(IDS.stopped), error: InvalidStateError, code: 'INVALID_STATE', message: FINISHED },
  { what: 'suspending a purged instance', call: (c) => c.suspend(IDS.gone), error: InstanceNotFoundError, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'resuming a Terminated instance', call: (c) => c.resume(IDS.stopped), error: InvalidStateError, code: 'INVALID_STATE', message: FINISHED },
  { what: 'purging a running instance', call: (c) => c.purge(IDS.waiting), error: InvalidStateError, code: 'INVALID_STATE', message: /only Completed, Failed or Terminated instances can be purged\. Terminate it first/ },
  { what: 'purging a purged instance', call: (c) => c.purge(IDS.gone), error: InstanceNotFoundError, code: 'INSTANCE_NOT_FOUND', message: GONE },
  // cancel, rewind, restart
  { what: 'cancelling a Completed instance', call: (c) => c.cancel(IDS.done), error: InvalidStateError, code: 'INVALID_STATE', message: FINISHED },
  { what: 'cancelling a purged instance', call: (c) => c.cancel(IDS.gone), error: InstanceNotFoundError, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'cancelling a Quarantined instance', call: (c) => c.cancel(IDS.held), error: InvalidStateError, code: 'INVALID_STATE', message: HELD },
  { what: 'cancelling with a reason that is not a string', call: (c) => c.cancel(IDS.waiting, 42 as never), error: ValidationError, code: 'VALIDATION', message: /reason must be a string of at most 1000 characters/ },
  { what: 'cancelling with a reason over 1000 characters', call: (c) => c.cancel(IDS.waiting, 'r'.repeat(1_001)), error: ValidationError, code: 'VALIDATION', message: /reason must be a string of at most 1000 characters/ },
  { what: 'rewinding a Running instance', call: (c) => c.rewind(IDS.waiting), error: InvalidStateError, code: 'INVALID_STATE', message: NOT_FAILED },
  { what: 'rewinding a Completed instance', call: (c) => c.rewind(IDS.done), error: InvalidStateError, code: 'INVALID_STATE', message: NOT_FAILED },
  { what: 'rewinding a purged instance', call: (c) => c.rewind(IDS.gone), error: InstanceNotFoundError, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'restarting a Running instance', call: (c) => c.restart(IDS.waiting), error: InvalidStateError, code: 'INVALID_STATE', message: NOT_RESTARTABLE },
  { what: 'restarting a Completed instance', call: (c) => c.restart(IDS.done), error: InvalidStateError, code: 'INVALID_STATE', message: NOT_RESTARTABLE },
  { what: 'restarting on a version that is not registered', call: (c) => c.restart(IDS.stopped, { version: 9 }), error: OrchestrationNotFoundError, code: 'ORCHESTRATION_NOT_FOUND', message: /has no version 9 registered/ },
  { what: 'restarting as an instance id that exists', call: (c) => c.restart(IDS.stopped, { instanceId: IDS.done }), error: InstanceExistsError, code: 'INSTANCE_EXISTS', message: /Use another instance id, or purge the old instance first/ },
  { what: 'restarting as an invalid instance id', call: (c) => c.restart(IDS.stopped, { instanceId: 'a\u0000b' }), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  // reads
  { what: 'the status of an empty instance id', call: (c) => c.getStatus(''), error: ValidationError, code: 'VALIDATION', message: ID_RULE },
  { what: 'a negative history generation', call: (c) => c.getHistory(IDS.waiting, { generation: -1 }), error: ValidationError, code: 'VALIDATION', message: /has generations 0 to 0; got -1/ },
  { what: 'a fractional history generation', call: (c) => c.getHistory(IDS.waiting, { generation: 0.5 }), error: ValidationError, code: 'VALIDATION', message: /has generations 0 to 0; got 0\.5/ },
  { what: 'a history generation not reached yet', call: (c) => c.getHistory(IDS.waiting, { generation: 3 }), error: ValidationError, code: 'VALIDATION', message: /has generations 0 to 0; got 3/ },
  { what: 'a list with an unknown status', call: (c) => c.list({ status: 'Sleeping' as never }), error: ValidationError, code: 'VALIDATION', message: /use one of Pending, Running, Completed/ },
  { what: 'a list with limit 0', call: (c) => c.list({ limit: 0 }), error: ValidationError, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'a list with limit NaN', call: (c) => c.list({ limit: Number.NaN }), error: ValidationError, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'a list with an invalid name', call: (c) => c.list({ name: 'has space' }), error: ValidationError, code: 'VALIDATION', message: NAME_RULE },
  // callbacks (the tokens are those the current world's instances handed out)
  { what: 'completing a malformed callback token', call: (c) => c.completeCallback('cb1.only-two'), error: ValidationError, code: 'VALIDATION', message: /Invalid callback token: expected three parts/ },
  { what: 'completing a callback of an unknown instance', call: (c) => c.completeCallback(formatCallbackToken({ instanceId: 'nobody', generation: 0, taskId: 1, nonce: 'A'.repeat(22) })), error: CallbackNotFoundError, code: 'CALLBACK_NOT_FOUND', message: /no such instance exists/ },
  { what: 'completing a callback with a forged nonce', call: (c) => c.completeCallback(formatCallbackToken({ ...parseCallbackToken(handedOut.get(CALLBACK_IDS.waiting)), nonce: 'B'.repeat(22) })), error: CallbackNotFoundError, code: 'CALLBACK_NOT_FOUND', message: /the instance handed out no such token/ },
  { what: 'completing a completed callback with another result', call: (c) => c.completeCallback(handedOut.get(CALLBACK_IDS.done)!, { ok: false }), error: CallbackAlreadyCompletedError, code: 'CALLBACK_ALREADY_COMPLETED', message: /already completed at/ },
  { what: 'a heartbeat after the callback timed out', call: (c) => c.heartbeatCallback(handedOut.get(CALLBACK_IDS.late)!), error: CallbackExpiredError, code: 'CALLBACK_EXPIRED', message: /expired at .* \(its timeout\)/ },
  { what: 'a callback failure without a message', call: (c) => c.failCallback(handedOut.get(CALLBACK_IDS.waiting)!, { name: 'Declined' } as never), error: ValidationError, code: 'VALIDATION', message: /A callback failure needs \{ message: string/ },
  { what: 'a callback failure with an empty name', call: (c) => c.failCallback(handedOut.get(CALLBACK_IDS.waiting)!, { name: '', message: 'no' }), error: ValidationError, code: 'VALIDATION', message: /name\?: string \(1 to 200 characters\)/ },
  { what: 'a function as a callback result', call: (c) => c.completeCallback(handedOut.get(CALLBACK_IDS.waiting)!, () => true), error: ValidationError, code: 'VALIDATION', message: PLAIN_DATA },
  { what: 'the pending callbacks of a purged instance', call: (c) => c.listPendingCallbacks(IDS.gone), error: InstanceNotFoundError, code: 'INSTANCE_NOT_FOUND', message: GONE },
  { what: 'a wait with an invalid timeout', call: (c) => c.waitForCompletion(IDS.waiting, { timeout: '5 fortnights' }), error: ValidationError, code: 'VALIDATION', message: /Invalid wait timeout "5 fortnights": use a non-negative number/ },
];


// ---------------------------------------------------------------------------------------------------
// Surface 3: the core (durations, retry policies, registration, payloads).
// ---------------------------------------------------------------------------------------------------

interface CoreRow {
  what: string;
  run: (world: World) => unknown;
  message: RegExp;
  /** @defaultValue ValidationError, VALIDATION */
  error?: ErrorClass;
  code?: string;
}

const DURATION_RULE = /use a non-negative number of milliseconds, a string like '500ms', '30s', '5m', '2h', '3d' or '1h30m', or an object of non-negative weeks, days, hours, minutes, seconds and milliseconds like \{ minutes: 5 \}/;
const TOO_LONG = /must be at most 36500d \(100 years\)/;
const noop = async () => undefined;
const retry = (policy: unknown) => (w: World) => w.app.activity('ship', noop, { retry: policy as RetryPolicy });

const CORE_ROWS: CoreRow[] = [
  // Durations
  { what: "duration ''", run: () => toMilliseconds(''), message: DURATION_RULE },
  { what: "duration '   '", run: () => toMilliseconds('   '), message: DURATION_RULE },
  { what: "duration '-1s'", run: () => toMilliseconds('-1s'), message: DURATION_RULE },
  { what: "duration '5 fortnights'", run: () => toMilliseconds('5 fortnights'), message: /Invalid duration "5 fortnights": use a non-negative/ },
  { what: "duration '1h 30m' (a space between parts)", run: () => toMilliseconds('1h 30m'), message: DURATION_RULE },
  { what: "duration '5' (a string without a unit)", run: () => toMilliseconds('5'), message: DURATION_RULE },
  { what: "duration '1e3s'", run: () => toMilliseconds('1e3s'), message: DURATION_RULE },
  { what: 'duration NaN', run: () => toMilliseconds(Number.NaN), message: /Invalid duration NaN: use a non-negative/ },
  { what: 'duration Infinity', run: () => toMilliseconds(Number.POSITIVE_INFINITY), message: /Invalid duration Infinity: use a non-negative/ },
  { what: 'duration -1', run: () => toMilliseconds(-1), message: /Invalid duration -1: use a non-negative/ },
  { what: 'duration null', run: () => toMilliseconds(null as never), message: DURATION_RULE },
  { what: 'duration 1e300 (beyond any date)', run: () => toMilliseconds(1e300), message: TOO_LONG },
  { what: "duration '99999999999999999999999d'", run: () => toMilliseconds('99999999999999999999999d'), message: TOO_LONG },
  { what: "duration '36501d'", run: () => toMilliseconds('36501d'), message: TOO_LONG },
  { what: "activity timeout '5 fortnights'", run: (w) => w.app.activity('ship', noop, { timeout: '5 fortnights' }), message: /Invalid timeout of activity 'ship' "5 fortnights": use a non-negative/ },
  { what: 'activity timeout NaN', run: (w) => w.app.activity('ship', noop, { timeout: Number.NaN }), message: /Invalid timeout of activity 'ship' NaN/ },
  { what: 'activity heartbeatTimeout 0', run: (w) => w.app.activity('ship', noop, { heartbeatTimeout: 0 }), message: /Invalid heartbeatTimeout of activity 'ship' 0: it must be longer than 0, e\.g\. '30s'/ },
  { what: "activity heartbeatTimeout '-5s'", run: (w) => w.app.activity('ship', noop, { heartbeatTimeout: '-5s' }), message: /Invalid heartbeatTimeout of activity 'ship' "-5s": use a non-negative/ },
  { what: 'activity heartbeatTimeout longer than its timeout', run: (w) => w.app.activity('ship', noop, { heartbeatTimeout: '10m' }), message: /The heartbeatTimeout of activity 'ship' \(10m\) must be shorter than its timeout \(5m\): an attempt ends at its timeout anyway/ },
  { what: 'activity heartbeatTimeout equal to its timeout', run: (w) => w.app.activity('ship', noop, { heartbeatTimeout: '30s', timeout: 30_000 }), message: /The heartbeatTimeout of activity 'ship' \(30s\) must be shorter than its timeout \(30s\)/ },
  { what: 'activity scheduleToCloseTimeout 0', run: (w) => w.app.activity('ship', noop, { scheduleToCloseTimeout: '0s' }), message: /Invalid scheduleToCloseTimeout of activity 'ship' "0s": it must be longer than 0/ },
  { what: 'activity scheduleToCloseTimeout NaN', run: (w) => w.app.activity('ship', noop, { scheduleToCloseTimeout: Number.NaN }), message: /Invalid scheduleToCloseTimeout of activity 'ship' NaN: use a non-negative/ },
  { what: "activity scheduleToCloseTimeout '1 week'", run: (w) => w.app.activity('ship', noop, { scheduleToCloseTimeout: '1 week' }), message: /Invalid scheduleToCloseTimeout of activity 'ship' "1 week": use a non-negative/ },
  { what: 'a misspelt activity option (heartbeatTimout)', run: (w) => w.app.activity('ship', noop, { heartbeatTimout: '30s' } as never), message: /Unknown option heartbeatTimout of activity 'ship': use retry, timeout, heartbeatTimeout, scheduleToCloseTimeout or inline/ },
  { what: 'activity options null', run: (w) => w.app.activity('ship', noop, null as never), message: /The options of activity 'ship' must be an object such as \{ retry: \{ maxAttempts: 3 \}, timeout: '1m' \}, got null/ },

  // Retry policies (directly, and on a registration that must not happen)
  { what: 'retry maxAttempts 0', run: retry({ maxAttempts: 0 }), message: /maxAttempts must be an integer ≥ 1, got 0/ },
  { what: 'retry maxAttempts 1.5', run: retry({ maxAttempts: 1.5 }), message: /maxAttempts must be an integer ≥ 1, got 1\.5/ },
  { what: 'retry maxAttempts -3', run: () => resolveRetryPolicy({ maxAttempts: -3 }), message: /maxAttempts must be an integer ≥ 1, got -3/ },
  { what: 'retry maxAttempts Infinity', run: () => resolveRetryPolicy({ maxAttempts: Number.POSITIVE_INFINITY }), message: /maxAttempts must be an integer ≥ 1/ },
  { what: "retry maxAttempts '3' (a string)", run: () => resolveRetryPolicy({ maxAttempts: '3' as never }), message: /maxAttempts must be an integer ≥ 1, got "3"/ },
  { what: 'retry backoffCoefficient 0.5', run: retry({ backoffCoefficient: 0.5 }), message: /backoffCoefficient must be a number ≥ 1, got 0\.5/ },
  { what: 'retry backoffCoefficient 0', run: () => resolveRetryPolicy({ backoffCoefficient: 0 }), message: /backoffCoefficient must be a number ≥ 1, got 0/ },
  { what: 'retry backoffCoefficient NaN', run: () => resolveRetryPolicy({ backoffCoefficient: Number.NaN }), message: /backoffCoefficient must be a number ≥ 1/ },
  { what: 'retry initialInterval -1', run: retry({ initialInterval: -1 }), message: /Invalid retry initialInterval -1: use a non-negative/ },
  { what: "retry initialInterval '-1s'", run: () => resolveRetryPolicy({ initialInterval: '-1s' }), message: /Invalid retry initialInterval "-1s": use a non-negative/ },
  { what: 'retry maxInterval -5', run: () => resolveRetryPolicy({ maxInterval: -5 }), message: /Invalid retry maxInterval -5: use a non-negative/ },
  { what: 'retry maxInterval shorter than initialInterval', run: retry({ initialInterval: '1m', maxInterval: '10s' }), message: /maxInterval \(10000 ms\) is shorter than initialInterval \(60000 ms\)/ },
  { what: 'retry nonRetryableErrors as a string', run: () => resolveRetryPolicy({ nonRetryableErrors: 'TypeError' as never }), message: /nonRetryableErrors must be an array of error names/ },
  { what: 'retry with a misspelled field (maxAttempt)', run: retry({ maxAttempt: 5 }), message: /unknown field maxAttempt; use maxAttempts, initialInterval, backoffCoefficient, maxInterval or nonRetryableErrors/ },
  { what: 'retry with an unknown field (retries)', run: () => resolveRetryPolicy({ retries: 5, maxAttempts: 2 } as never), message: /unknown field retries; use maxAttempts/ },
  { what: 'retry policy as an array', run: () => resolveRetryPolicy([5] as never), message: /pass an object such as \{ maxAttempts: 3, initialInterval: '1s' \}/ },
  { what: "retry policy as a string 'fast'", run: retry('fast'), message: /Invalid retry policy "fast": pass an object/ },

  // Names and registrations
  { what: "activity name ''", run: (w) => w.app.activity('', noop), message: NAME_RULE },
  { what: "activity name '1charge' (starts with a digit)", run: (w) => w.app.activity('1charge', noop), message: NAME_RULE },
  { what: "activity name 'has space'", run: (w) => w.app.activity('has space', noop), message: NAME_RULE },
  { what: "activity name 'a/b'", run: (w) => w.app.activity('a/b', noop), message: NAME_RULE },
  { what: 'activity name of 101 characters', run: (w) => w.app.activity('x'.repeat(101), noop), message: /\(101 characters\): use a letter followed by/ },
  { what: 'activity name with a right-to-left override', run: (w) => w.app.activity('\u202Echarge', noop), message: NAME_RULE },
  { what: 'activity name with a zero-width space', run: (w) => w.app.activity('charge\u200B', noop), message: NAME_RULE },
  { what: 'activity name with a NUL', run: (w) => w.app.activity('charge\u0000', noop), message: NAME_RULE },
  { what: "orchestration name 'chärge' (non-ASCII)", run: (w) => w.app.orchestration('chärge', noop), message: NAME_RULE },
  { what: "orchestration name ''", run: (w) => w.app.orchestration('', noop), message: NAME_RULE },
  { what: "orchestration name 'a/b'", run: (w) => w.app.orchestration('a/b', noop), message: NAME_RULE },
  { what: 'a duplicate activity', run: (w) => w.app.activity('greet', noop), message: /Activity 'greet' is already registered/ },
  { what: 'a duplicate orchestration version', run: (w) => w.app.orchestration('hello', noop), message: /Orchestration 'hello' version 1 is already registered/ },
  { what: "a duplicate orchestration version given as '1'", run: (w) => w.app.orchestration('hello', noop, { version: '1' }), message: /Orchestration 'hello' version 1 is already registered/ },
  { what: 'an activity that is not a function', run: (w) => w.app.activity('ship', 'ship' as never), message: /Activity 'ship' must be a function/ },
  { what: 'an orchestration with an invalid version', run: (w) => w.app.orchestration('order', noop, { version: 'v 2' }), message: /Invalid version "v 2": use a number or up to 40 letters/ },

  // Schedules (checked when defined)
  { what: 'a schedule with a malformed cron', run: (w) => w.app.schedule('weekly', { cron: '0 2 * *', orchestration: 'hello', overlap: 'skip' }), message: /Invalid cron expression "0 2 \* \*": it has 4 fields\. Write six fields/ },
  { what: 'a schedule with a 5-field (Unix) cron', run: (w) => w.app.schedule('weekly', { cron: '0 2 * * 1', orchestration: 'hello', overlap: 'skip' }), message: /it has 5 fields \(the five of Unix cron: add the year/ },
  { what: 'a schedule with minute 61', run: (w) => w.app.schedule('weekly', { cron: '61 2 ? * MON *', orchestration: 'hello', overlap: 'skip' }), message: /the minutes field has "61": use 0-59/ },
  { what: 'a schedule with an unknown time zone', run: (w) => w.app.schedule('weekly', { cron: '0 2 ? * MON *', timezone: 'Europe/Pariss', orchestration: 'hello', overlap: 'skip' }), message: /Unknown time zone of schedule 'weekly' "Europe\/Pariss": use an IANA time zone name/ },
  { what: 'a schedule every 30 seconds', run: (w) => w.app.schedule('weekly', { every: '30s', orchestration: 'hello', overlap: 'skip' }), message: /use a whole number of minutes, at least '1m'/ },
  { what: 'a schedule without overlap', run: (w) => w.app.schedule('weekly', { every: '1h', orchestration: 'hello' } as never), message: /'skip', 'allow' or 'cancelPrevious'/ },
  { what: 'a schedule named with a space', run: (w) => w.app.schedule('week ly', { every: '1h', orchestration: 'hello', overlap: 'skip' }), message: SCHEDULE_RULE },
  { what: 'a second schedule named nightly', run: (w) => w.app.schedule('nightly', { every: '1h', orchestration: 'hello', overlap: 'skip' }), message: /Schedule 'nightly' is already defined/ },
  { what: 'a schedule of an unknown orchestration', run: (w) => w.app.schedule('weekly', { every: '1h', orchestration: 'helo', overlap: 'skip' }), error: OrchestrationNotFoundError, code: 'ORCHESTRATION_NOT_FOUND', message: /Schedule 'weekly' starts orchestration 'helo', which is not registered \(registered: hello, approval\): register it with app\.orchestration\('helo', \.\.\.\) before the schedule/ },

  // Inputs that JSON cannot carry
  { what: 'a BigInt input to start', run: (w) => w.client.start('hello', 10n), message: PLAIN_DATA },
  { what: 'a BigInt nested in the input to start', run: (w) => w.client.start('hello', { amount: 10n }), message: PLAIN_DATA },
  { what: 'a cyclic input to start', run: (w) => w.client.start('hello', cyclic), message: PLAIN_DATA },
  { what: 'a function as the input to start', run: (w) => w.client.start('hello', () => ({ name: 'Ada' })), message: PLAIN_DATA },
  { what: 'a symbol as the input to start', run: (w) => w.client.start('hello', Symbol('Ada')), message: PLAIN_DATA },
  { what: 'a function as event data', run: (w) => w.client.raiseEvent(IDS.waiting, 'approve', () => true), message: PLAIN_DATA },
  { what: 'a cyclic object as event data', run: (w) => w.client.raiseEvent(IDS.waiting, 'approve', cyclic), message: PLAIN_DATA },
];

// ---------------------------------------------------------------------------------------------------
// The three surfaces in memory.
// ---------------------------------------------------------------------------------------------------

describe('in memory', () => {
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(async () => {
    await world.env.close();
  });

  describe('HTTP API: bad requests get a 4xx that says what to fix, and write nothing', () => {
    it('has a row for every family of bad input', () => {
      expect(HTTP_ROWS.length).toBeGreaterThanOrEqual(45);
      expect(new Set(HTTP_ROWS.map((row) => row.what)).size).toBe(HTTP_ROWS.length);
    });

    it.each(HTTP_ROWS)('$what → $status $code', async (row) => {
      const response = await expectNothingWritten(() => world.api.handle(toRequest({ ...row, path: fill(row.path, world.placeholders) })));
      const body = JSON.parse(response.body) as { error: { code: string; message: string } };
      expect({ status: response.statusCode, code: body.error.code }).toEqual({ status: row.status, code: row.code });
      expect(body.error.message).toMatch(row.message);
      expect(response.headers['content-type']).toBe('application/json');
    });
  });

  describe('Client: bad arguments throw typed errors that say what to fix, and write nothing', () => {
    it.each(CLIENT_ROWS)('$what → $code', async (row) => {
      const error = await expectNothingWritten(() => row.call(world.client).then(() => undefined, (thrown: unknown) => thrown));
      expect(error).toBeInstanceOf(PerdureError);
      expect(error).toBeInstanceOf(row.error);
      expect(error).toMatchObject({ code: row.code, name: row.error.name });
      expect((error as Error).message).toMatch(row.message);
    });
  });

  describe('Core: invalid durations, retry policies, registrations, schedules and payloads throw a typed error (a ValidationError but for unknown names) that says what to fix', () => {
    it.each(CORE_ROWS)('$what', async (row) => {
      const error = await expectNothingWritten(async () => {
        try {
          await row.run(world);
          return undefined;
        } catch (thrown) {
          return thrown;
        }
      });
      const errorClass = row.error ?? ValidationError;
      expect(error).toBeInstanceOf(errorClass);
      expect(error).toMatchObject({ code: row.code ?? 'VALIDATION', name: errorClass.name });
      expect((error as Error).message).toMatch(row.message);
    });
  });
});

/**
 * A custom status over 4 KiB is a mistake of the code, not of a caller: `ctx.setStatus` throws a
 * ValidationError at the call, as every misuse of the context does. Code that catches it goes on; left
 * uncaught it fails the instance (rewind it after the fix). Either way the status published before stays.
 */
describe('ctx.setStatus beyond 4 KiB', () => {
  const statusApp = (trim: { on: boolean }) => {
    const app = createApp({ logger: silentLogger });
    app.orchestration('progress', async (ctx, catchIt: boolean) => {
      ctx.setStatus({ stage: 'started' });
      await ctx.waitForEvent('go');
      const details = { stage: 'detailed', rows: Array.from({ length: 500 }, (_, i) => `row ${i}`) };
      try {
        ctx.setStatus(trim.on ? { stage: 'detailed', rows: details.rows.length } : details);
      } catch (error) {
        if (!catchIt) throw error;
        return (error as Error).name;
      }
      return 'published';
    });
    return app;
  };

  it('throws a ValidationError at the call: code that catches it goes on, and the status published before stays', async () => {
    const env = await TestEnvironment.create(statusApp({ on: false }));
    try {
      const id = await env.client.start('progress', true);
      await env.client.raiseEvent(id, 'go');
      expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'ValidationError', customStatus: { stage: 'started' } });
    } finally {
      await env.close();
    }
  });

  it('fails the instance when uncaught, saying what to do; after the fix, a rewind completes it', async () => {
    const trim = { on: false };
    const env = await TestEnvironment.create(statusApp(trim));
    try {
      const id = await env.client.start('progress', false);
      await env.client.raiseEvent(id, 'go');
      const failed = await env.client.waitForCompletion(id);
      expect(failed).toMatchObject({ status: 'Failed', error: { name: 'ValidationError', code: 'VALIDATION' }, customStatus: { stage: 'started' } });
      expect(failed.error?.message).toMatch(/^ctx\.setStatus takes at most 4096 bytes of JSON, got \d+: keep it to a summary \(a stage, counts\) and put details in the output or an activity's result\.$/);
      trim.on = true;
      await env.client.rewind(id);
      expect(await env.client.waitForCompletion(id)).toMatchObject({ status: 'Completed', output: 'published', customStatus: { stage: 'detailed', rows: 500 } });
    } finally {
      await env.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Surface 4: the HTTP rows over the wire, on the embedded local stack.
// ---------------------------------------------------------------------------------------------------

/** Rows only the AWS runtime can answer: its dead-letter listing and replay findings, and cursors DynamoDB has to decode. */
const FOREIGN_CURSOR = /is not one this API returned: pass back the cursor of the previous page unchanged, or omit it for the first page/;
const WIRE_ONLY_ROWS: HttpRow[] = [
  { what: 'a cursor that is not base64url JSON', method: 'GET', path: '/instances?cursor=garbage!!', status: 400, code: 'VALIDATION', message: FOREIGN_CURSOR },
  { what: 'a cursor that is JSON but no start key ({})', method: 'GET', path: `/instances?cursor=${Buffer.from('{}').toString('base64url')}`, status: 400, code: 'VALIDATION', message: FOREIGN_CURSOR },
  { what: 'a cursor naming a key of another table', method: 'GET', path: `/instances?status=Running&cursor=${Buffer.from(json({ id: { S: 'x' } })).toString('base64url')}`, status: 400, code: 'VALIDATION', message: FOREIGN_CURSOR },
  { what: 'a dead-letter cursor that is not base64url JSON', method: 'GET', path: '/dlq/activities?cursor=%7Bnope', status: 400, code: 'VALIDATION', message: FOREIGN_CURSOR },
  { what: 'a dead-letter limit of 0', method: 'GET', path: '/dlq/activities?limit=0', status: 400, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'a dead-letter limit of 5000', method: 'GET', path: '/dlq/orchestrations?limit=5000', status: 400, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'a replay findings limit of 0', method: 'GET', path: '/replay-findings?limit=0', status: 400, code: 'VALIDATION', message: LIMIT_RULE },
  { what: 'a replay findings limit of "all"', method: 'GET', path: '/replay-findings?limit=all', status: 400, code: 'VALIDATION', message: /limit must be an integer from 1 to 1000, got "all"/ },
];

/**
 * Rows only the local server refuses, before the API reads them (`lib/local/loopback-guard.ts`): what a
 * web page on another origin or a rebound DNS name can make a browser send. The deployed API is
 * IAM-authorized, which no browser can forge, and has no such rows.
 */
const CROSS_SITE = /are refused: only this server's own page \(http:\/\/127\.0\.0\.1:\d+\/ui\) and programs such as curl or the perdure CLI may call it/;
const REBOUND = /This server answers only to http:\/\/127\.0\.0\.1:\d+ \(or localhost, \[::1\]\) .*Use http:\/\/127\.0\.0\.1:\d+\./;
const EVIL = 'http://evil.example';
const LOOPBACK_ROWS: HttpRow[] = [
  { what: 'a cross-site approval with no Content-Type (issue 17)', method: 'POST', path: `/instances/${IDS.waiting}/events/approve`, body: 'true', contentType: null, headers: { origin: EVIL }, status: 403, code: 'CROSS_SITE_REQUEST', message: CROSS_SITE },
  { what: 'a cross-site JSON start', method: 'POST', path: '/orchestrations/hello?instanceId=evil-1', body: json({ name: 'Eve' }), headers: { origin: EVIL }, status: 403, code: 'CROSS_SITE_REQUEST', message: CROSS_SITE },
  { what: 'a terminate from a page on another port of 127.0.0.1 (Sec-Fetch-Site: same-site)', method: 'POST', path: `/instances/${IDS.waiting}/terminate`, headers: { 'sec-fetch-site': 'same-site', origin: 'http://127.0.0.1:1' }, status: 403, code: 'CROSS_SITE_REQUEST', message: CROSS_SITE },
  { what: 'a purge from a sandboxed frame (Origin: null)', method: 'DELETE', path: `/instances/${IDS.done}`, headers: { origin: 'null' }, status: 403, code: 'CROSS_SITE_REQUEST', message: CROSS_SITE },
  { what: 'a cross-site image GET of every payload', method: 'GET', path: '/instances?payloads=true', headers: { 'sec-fetch-site': 'cross-site' }, status: 403, code: 'CROSS_SITE_REQUEST', message: CROSS_SITE },
  { what: 'a read under a rebound host name (DNS rebinding)', method: 'GET', path: '/instances?payloads=true', headers: { host: 'rebind.attacker.example:3000' }, status: 403, code: 'HOST_NOT_ALLOWED', message: REBOUND },
  { what: 'a start under a rebound host name', method: 'POST', path: '/orchestrations/hello?instanceId=evil-2', body: json({ name: 'Eve' }), headers: { host: 'perdure.attacker.example' }, status: 403, code: 'HOST_NOT_ALLOWED', message: REBOUND },
  { what: 'an empty form post to terminate (no Content-Type, no body)', method: 'POST', path: `/instances/${IDS.waiting}/terminate`, contentType: null, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: SEND_JSON },
  { what: 'a redrive of every dead letter without Content-Type', method: 'POST', path: '/dlq/activities/redrive', contentType: null, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: SEND_JSON },
  { what: 'a purge without Content-Type', method: 'DELETE', path: `/instances/${IDS.done}`, contentType: null, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: SEND_JSON },
  { what: 'a text/plain event (what a no-cors fetch sends)', method: 'POST', path: `/instances/${IDS.waiting}/events/approve`, body: 'true', contentType: 'text/plain;charset=UTF-8', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: SEND_JSON },
];

describe('over the wire on the embedded local stack: the same bad requests, and the table is unchanged', () => {
  let stack: LocalStack;
  let http: Awaited<ReturnType<typeof serveHttpApi>>;
  let placeholders: Record<string, string>;

  /** Every item of the table, in key order, and every object of the payload bucket. */
  const storage = async () => {
    const items: Record<string, AttributeValue>[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await stack.runtime.clients.dynamodb.send(new ScanCommand({ TableName: stack.config.tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    const key = (item: Record<string, AttributeValue>) => `${item.PK!.S}|${item.SK!.S}`;
    items.sort((a, b) => key(a).localeCompare(key(b)));
    const objects = await stack.runtime.clients.s3.send(new ListObjectsV2Command({ Bucket: stack.config.bucketName }));
    return { itemCount: items.length, items, objects: (objects.Contents ?? []).map((object) => object.Key).sort() };
  };

  const until = (check: () => Promise<boolean>, what: string) => waitUntil(check, { timeoutMs: 30_000, everyMs: 100, what });

  beforeAll(async () => {
    stack = await startLocalStack(buildApp(), { logger: silentLogger, visibilityTimeout: 5, apiUrl: () => http?.url });
    const client = stack.runtime.client;
    const status = async (id: string) => (await client.getStatus(id)).status;
    for (const [key, id] of Object.entries(IDS)) await client.start('hello', { name: key }, { instanceId: id });
    for (const id of Object.values(IDS)) await until(async () => (await status(id)) === (id === IDS.held ? 'Quarantined' : 'Running'), `${id} runs (or is held)`);
    await client.raiseEvent(IDS.done, 'approve', true);
    await client.raiseEvent(IDS.gone, 'approve', false);
    await client.terminate(IDS.stopped, 'fixture');
    await client.suspend(IDS.paused, 'fixture');
    await until(async () => (await status(IDS.done)) === 'Completed', 'done-1 completes');
    await until(async () => (await status(IDS.gone)) === 'Completed', 'gone-1 completes');
    await until(async () => (await status(IDS.stopped)) === 'Terminated', 'stopped-1 is terminated');
    await until(async () => (await status(IDS.paused)) === 'Suspended', 'paused-1 is suspended');
    await client.purge(IDS.gone);
    await client.start('approval', {}, { instanceId: CALLBACK_IDS.waiting });
    await client.start('approval', {}, { instanceId: CALLBACK_IDS.done });
    await client.start('approval', { timeout: '2s' }, { instanceId: CALLBACK_IDS.late });
    const historyOf = (id: string) => client.getHistory(id);
    await until(async () => (await historyOf(CALLBACK_IDS.done)).some((e) => e.type === 'ActivityCompleted') && handedOut.has(CALLBACK_IDS.done), 'cb-done hands out its token');
    await client.completeCallback(handedOut.get(CALLBACK_IDS.done)!, { ok: true });
    await until(async () => (await historyOf(CALLBACK_IDS.done)).some((e) => e.type === 'CallbackCompleted'), 'cb-done applies its completion');
    await until(async () => (await historyOf(CALLBACK_IDS.late)).some((e) => e.type === 'TimerFired'), "cb-late's callback times out");
    await until(async () => (await historyOf(CALLBACK_IDS.waiting)).some((e) => e.type === 'ActivityCompleted'), 'cb-waiting hands out its token');
    // Quiet: two reads half a second apart see the same table.
    let last = '';
    await until(async () => {
      const now = JSON.stringify(await storage());
      const same = now === last;
      last = now;
      if (!same) await new Promise((resolve) => setTimeout(resolve, 500));
      return same;
    }, 'the table is quiet');
    const api = new HttpApi({ client, deadLetters: stack.runtime.deadLetters, replayFindings: stack.runtime.replayFindings, schedules: stack.runtime.schedules, callbackUrls: stack.runtime.callbackUrls, maxBodyBytes: BODY_LIMIT });
    http = await serveHttpApi(api, 0, BODY_LIMIT);
    placeholders = await callbackPlaceholders(stack.runtime.callbackUrls!);
  }, 120_000);

  afterAll(async () => {
    await http?.close();
    await stack?.stop();
  });

  it('has at least 15 rows to send', () => {
    expect(HTTP_ROWS.length + WIRE_ONLY_ROWS.length + LOOPBACK_ROWS.length).toBeGreaterThanOrEqual(15);
  });

  it.each([...HTTP_ROWS, ...WIRE_ONLY_ROWS, ...LOOPBACK_ROWS])('$what → $status $code', async (row) => {
    const before = await storage();
    // As the CLI sends them: every request but a GET says its body is JSON, unless the row says otherwise.
    const contentType: Record<string, string> = row.contentType === null || (row.method === 'GET' && row.contentType === undefined) ? {} : { 'content-type': row.contentType ?? 'application/json' };
    const response = await rawRequest(`${http.url}${fill(row.path, placeholders)}`, row.method, { ...contentType, ...row.headers }, row.body);
    const body = JSON.parse(response.body) as { error: { code: string; message: string } };
    expect({ status: response.status, code: body.error.code }).toEqual({ status: row.status, code: row.code });
    expect(body.error.message).toMatch(row.message);
    expect(response.headers['content-type']).toBe('application/json');
    const after = await storage();
    expect(after.itemCount).toBe(before.itemCount);
    expect(after).toEqual(before);
  });
});
