import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { HttpApi } from '../runtime/http-api.js';
import { LOOPBACK_RESPONSE_HEADERS, refuseForeignRequest } from './loopback-guard.js';

/** Slow clients get this long to send their headers, and their whole request. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * Serves the HTTP API on 127.0.0.1 (never on other interfaces), as API Gateway does in AWS. Before the
 * API sees a request, the loopback guard refuses foreign Host names (DNS rebinding), requests from other
 * sites, and writes without `Content-Type: application/json` (cross-site forms): see `loopback-guard.ts`.
 */
export async function serveHttpApi(api: HttpApi, port: number, maxBodyBytes = 6 * 1024 * 1024): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  let actualPort = port;
  const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
    const refusal = refuseForeignRequest(request, actualPort);
    if (refusal) return send(response, refusal.status, { 'content-type': 'application/json', connection: 'close' }, JSON.stringify({ error: { code: refusal.code, message: refusal.message } }));
    readCapped(request, maxBodyBytes, (body, cut) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      api
        .handle({
          method: request.method ?? 'GET',
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: Object.fromEntries(Object.entries(request.headers).map(([key, value]) => [key, Array.isArray(value) ? value.join(', ') : value])),
          body,
        })
        // An oversized body has not been read to its end: close the connection rather than drain it.
        .then((result) => send(response, result.statusCode, cut ? { ...result.headers, connection: 'close' } : result.headers, result.body))
        .catch((error: unknown) => {
          console.error('perdure local server: unexpected error', error);
          send(response, 500, { 'content-type': 'application/json' }, JSON.stringify({ error: { code: 'INTERNAL', message: 'An internal error occurred; see the server log.' } }));
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address();
  actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    server,
    url: `http://127.0.0.1:${actualPort}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function send(response: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  response.writeHead(status, { ...LOOPBACK_RESPONSE_HEADERS, ...headers });
  response.end(body);
}

/**
 * Reads the body as text, undefined when empty. Once it passes `maxBytes` it stops reading and hands
 * over the first `maxBytes + 1` bytes, `cut`: enough for the API to answer 413 without buffering the rest.
 */
function readCapped(request: IncomingMessage, maxBytes: number, done: (body: string | undefined, cut: boolean) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done(size === 0 ? undefined : Buffer.concat(chunks).toString(), size > maxBytes);
  };
  request.on('data', (chunk: Buffer) => {
    if (finished) return;
    const room = maxBytes + 1 - size;
    chunks.push(chunk.subarray(0, room));
    size += Math.min(chunk.length, room);
    if (size > maxBytes) {
      request.pause();
      finish();
    }
  });
  request.on('end', finish);
}
