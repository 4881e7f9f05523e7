import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { readCapped, send, sendJson, serveOnLoopback } from '../local/loopback-server.js';
import { WEB_UI_HEADERS, WEB_UI_HTML } from '../api/web-ui.js';
import { CliError, type ApiClient } from './api-client.js';

const MAX_BODY_BYTES = 6 * 1024 * 1024;

export interface UiProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The address to open: the web view, with this run's key. Whoever has it acts with your credentials. */
  openUrl: string;
  server: Server;
  close: () => Promise<void>;
}

/**
 * `perdure ui`: the web view on 127.0.0.1, for a deployed stack whose API a browser cannot call itself
 * (IAM authorization needs SigV4). The page comes from here; its API calls are forwarded to the endpoint,
 * signed with the operator's credentials. So only the operator's browser may use it:
 * - every run makes a new random key; the address it prints carries it once (`/ui?key=...`), and the
 *   proxy trades it for a cookie (HttpOnly, SameSite=Strict) and sends the browser on to `/ui`;
 * - every other request needs that cookie, compared in constant time: other local users and processes,
 *   and requests a browser makes for another site (images, forms), have none;
 * - the loopback guard refuses other Host names (DNS rebinding), other origins and `Sec-Fetch-Site` other
 *   than same-origin (another port of 127.0.0.1 included, which is sent the cookie), and writes without
 *   the JSON type.
 */
export async function serveUiProxy(api: ApiClient, port: number): Promise<UiProxy> {
  const key = randomBytes(32).toString('base64url');
  const keyDigest = digest(key);
  const matches = (candidate: string) => timingSafeEqual(digest(candidate), keyDigest);
  let cookieName = '';

  const server = await serveOnLoopback(port, (request, response) => {
    const refuse = (code: string, message: string, status = 403) => sendJson(response, status, { error: { code, message } }, { connection: 'close' });
    // Origin-form only (`/path?query`): an absolute or odd request target must not choose where the signed request goes.
    if (!request.url?.startsWith('/') || request.url.startsWith('//')) return refuse('BAD_REQUEST', 'The request target must be a path such as /instances.', 400);
    const target = new URL(request.url, 'http://127.0.0.1');
    if (request.method === 'GET' && target.pathname === '/ui' && target.searchParams.has('key')) {
      if (!matches(target.searchParams.get('key')!)) return refuse('WRONG_KEY', 'This is not the key of this run of perdure ui: open the address it printed last (each run makes a new one).');
      // Trade the key for a cookie, and leave the key out of the page's address.
      return send(response, 303, { location: '/ui', 'set-cookie': `${cookieName}=${key}; HttpOnly; SameSite=Strict; Path=/` }, '');
    }
    if (!cookiesOf(request, cookieName).some(matches)) {
      return refuse('KEY_REQUIRED', 'perdure ui acts with your AWS credentials, so it answers only the browser that opened the address it printed (http://127.0.0.1:<port>/ui?key=...): open that address.');
    }
    if (request.method === 'GET' && (target.pathname === '/' || target.pathname === '/ui')) {
      if (target.pathname === '/') return send(response, 302, { location: '/ui' }, '');
      return send(response, 200, { ...WEB_UI_HEADERS }, WEB_UI_HTML);
    }
    forward(api, request, response, `${target.pathname}${target.search}`);
  });
  cookieName = `perdure-ui-${server.port}`;
  return { url: server.url, openUrl: `${server.url}/ui?key=${key}`, server: server.server, close: server.close };
}

function forward(api: ApiClient, request: IncomingMessage, response: ServerResponse, pathAndQuery: string): void {
  readCapped(request, MAX_BODY_BYTES, (body, cut) => {
    if (cut) return sendJson(response, 413, { error: { code: 'PAYLOAD_TOO_LARGE', message: `The body is over ${MAX_BODY_BYTES} bytes.` } }, { connection: 'close' });
    api
      .send(request.method ?? 'GET', pathAndQuery, body, request.headers['content-type'])
      .then(async (forwarded) => send(response, forwarded.status, { 'content-type': forwarded.headers.get('content-type') ?? 'application/json' }, Buffer.from(await forwarded.arrayBuffer())))
      .catch((error: unknown) => {
        const message = error instanceof CliError ? error.message : 'The request could not be forwarded; see the perdure ui output.';
        if (!(error instanceof CliError)) console.error('perdure ui: forwarding failed', error);
        sendJson(response, 502, { error: { code: 'BAD_GATEWAY', message } });
      });
  });
}

/**
 * The values of cookie `name`: more than one when a page on another port of 127.0.0.1 (cookies do not
 * tell ports apart) set one of the same name for a narrower path, which would otherwise lock us out.
 */
function cookiesOf(request: IncomingMessage, name: string): string[] {
  return (request.headers.cookie ?? '').split(';').flatMap((pair) => {
    const [cookieName, ...value] = pair.trim().split('=');
    return cookieName === name ? [value.join('=')] : [];
  });
}

const digest = (text: string) => createHash('sha256').update(text).digest();
