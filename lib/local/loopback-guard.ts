import type { IncomingMessage } from 'node:http';

/** Why a server on 127.0.0.1 refused a request, in the HTTP API's error shape. */
export interface Refusal {
  status: number;
  code: 'HOST_NOT_ALLOWED' | 'CROSS_SITE_REQUEST' | 'UNSUPPORTED_MEDIA_TYPE';
  message: string;
}

/** The headers of every response of a loopback server: no sniffing, no caching, no reading from other sites. */
export const LOOPBACK_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const JSON_TYPE = /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i;
const SHOWN = 100;

/**
 * The Host of a request as a browser on this machine would write it for 127.0.0.1:`port`, or a refusal:
 * exactly one Host header, naming a loopback address and this port. A page that rebinds its own domain to
 * 127.0.0.1 sends its own domain instead.
 */
export function loopbackHost(request: Pick<IncomingMessage, 'headers' | 'rawHeaders'>, port: number): string | Refusal {
  const hosts = request.rawHeaders.filter((name, index) => index % 2 === 0 && name.toLowerCase() === 'host').length;
  const host = request.headers.host?.toLowerCase();
  // Browsers leave out the default port.
  const canonical = port === 80 ? host?.replace(/:80$/, '') : host;
  if (hosts === 1 && canonical !== undefined && LOOPBACK_NAMES.some((name) => canonical === (port === 80 ? name : `${name}:${port}`))) return canonical;
  const shown = hosts > 1 ? `${hosts} Host headers` : host === undefined ? 'no Host header' : `the Host ${JSON.stringify(host.slice(0, SHOWN))}`;
  return {
    status: 403,
    code: 'HOST_NOT_ALLOWED',
    message: `This server answers only to http://127.0.0.1:${port} (or localhost, [::1]) and the request came with ${shown}: a web page that rebinds its own domain to 127.0.0.1 must not reach it. Use http://127.0.0.1:${port}.`,
  };
}

/**
 * Refuses what a web page on another origin could make a browser send to a server on 127.0.0.1, and
 * what a rebound DNS name could reach, before the request is read any further:
 * - a Host other than 127.0.0.1, localhost or [::1] with this port (DNS rebinding);
 * - an Origin other than the server's own, or `Sec-Fetch-Site` other than `same-origin` or `none`
 *   (another port on 127.0.0.1 is `same-site` to a browser, and is refused too);
 * - a method other than GET or HEAD without `Content-Type: application/json`, empty bodies included:
 *   a page cannot send that type to another origin without a CORS preflight, which is never granted,
 *   so forms, `no-cors` fetches and beacons are refused whatever their body.
 * Programs (curl, the CLI) send no Origin and no Sec-Fetch-Site, and pass.
 */
export function refuseForeignRequest(request: Pick<IncomingMessage, 'method' | 'headers' | 'rawHeaders'>, port: number): Refusal | undefined {
  const host = loopbackHost(request, port);
  if (typeof host !== 'string') return host;
  const ownOrigin = `http://${host}`;
  const site = request.headers['sec-fetch-site'];
  const origin = request.headers.origin;
  if ((site !== undefined && site !== 'same-origin' && site !== 'none') || (origin !== undefined && origin.toLowerCase() !== ownOrigin)) {
    const from = origin === undefined ? `a ${site} page` : JSON.stringify(origin.slice(0, SHOWN));
    return {
      status: 403,
      code: 'CROSS_SITE_REQUEST',
      message: `Requests from ${from} are refused: only this server's own page (${ownOrigin}/ui) and programs such as curl or the perdure CLI may call it.`,
    };
  }
  const method = (request.method ?? 'GET').toUpperCase();
  const contentType = request.headers['content-type'];
  if (method !== 'GET' && method !== 'HEAD' && (contentType === undefined || !JSON_TYPE.test(contentType))) {
    return {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: `${contentType === undefined ? 'No Content-Type' : `Content-Type ${JSON.stringify(contentType.slice(0, SHOWN))}`} on a ${method}: send JSON with Content-Type: application/json, even with an empty body (no web page can send that type to another site with a form). With curl: -H 'content-type: application/json'.`,
    };
  }
  return undefined;
}

/**
 * The emulators (DynamoDB Local, fauxqs) answer programs, the AWS SDK, and nothing else: a request under
 * another Host name (DNS rebinding) or one a browser makes (it sends Origin or Sec-Fetch-* headers) is
 * refused, so that no web page reaches the table, the queues or the payloads. The Java launcher of
 * DynamoDB Local applies the same rule (`LoopbackDynamoDbLocal.java`).
 */
export function refuseBrowserRequest(request: Pick<IncomingMessage, 'headers' | 'rawHeaders'>, port: number): Refusal | undefined {
  const host = loopbackHost(request, port);
  if (typeof host !== 'string') return host;
  if (request.headers.origin !== undefined || Object.keys(request.headers).some((name) => name.startsWith('sec-fetch-'))) {
    return { status: 403, code: 'CROSS_SITE_REQUEST', message: 'The local emulators answer programs (the AWS SDK), not web pages.' };
  }
  return undefined;
}
