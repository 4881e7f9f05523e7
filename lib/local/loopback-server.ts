import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LOOPBACK_RESPONSE_HEADERS, refuseForeignRequest } from './loopback-guard.js';

/** Slow clients get this long to send their headers, and their whole request. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 60_000;

export interface LoopbackServer {
  server: Server;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  close: () => Promise<void>;
}

/**
 * An HTTP server on 127.0.0.1 only (never other interfaces) that hands `handle` only the requests the
 * loopback guard lets through (`loopback-guard.ts`): its own Host, no other site, JSON writes. The others
 * are answered 403 or 415 in the API's error shape, and their connection closed unread.
 */
export async function serveOnLoopback(port: number, handle: (request: IncomingMessage, response: ServerResponse, port: number) => void): Promise<LoopbackServer> {
  let actualPort = port;
  const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
    const refusal = refuseForeignRequest(request, actualPort);
    if (refusal) return sendJson(response, refusal.status, { error: { code: refusal.code, message: refusal.message } }, { connection: 'close' });
    handle(request, response, actualPort);
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
    port: actualPort,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // A web view left open keeps polling over kept-alive connections, which would hold the close forever:
        // idle ones go now, and requests in flight get a second to finish.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1_000).unref();
      }),
  };
}

/** Answers with the loopback response headers (nosniff, same-origin resources, no caching) under `headers`. */
export function send(response: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
  response.writeHead(status, { ...LOOPBACK_RESPONSE_HEADERS, ...headers });
  response.end(body);
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(response, status, { 'content-type': 'application/json', ...headers }, JSON.stringify(body));
}

/**
 * Reads the body as text, undefined when empty. Once it passes `maxBytes` it stops reading and hands
 * over the first `maxBytes + 1` bytes, `cut`: enough to answer 413 without buffering the rest (answer
 * with `connection: close` then, rather than drain it).
 */
export function readCapped(request: IncomingMessage, maxBytes: number, done: (body: string | undefined, cut: boolean) => void): void {
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
