import type { Server } from 'node:http';
import type { HttpApi } from '../api/http-api.js';
import { readCapped, send, sendJson, serveOnLoopback } from './loopback-server.js';

/**
 * Serves the HTTP API on 127.0.0.1 (never on other interfaces), as API Gateway does in AWS. Before the
 * API sees a request, the loopback guard refuses foreign Host names (DNS rebinding), requests from other
 * sites, and writes without `Content-Type: application/json` (cross-site forms): see `loopback-guard.ts`.
 */
export async function serveHttpApi(api: HttpApi, port: number, maxBodyBytes = 6 * 1024 * 1024): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const { server, url, close } = await serveOnLoopback(port, (request, response) => {
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
        // The API answers a cut body with 413; the rest of it is not read, so the connection is closed.
        .then((result) => send(response, result.statusCode, cut ? { ...result.headers, connection: 'close' } : result.headers, result.body))
        .catch((error: unknown) => {
          console.error('perdure local server: unexpected error', error);
          sendJson(response, 500, { error: { code: 'INTERNAL', message: 'An internal error occurred; see the server log.' } });
        });
    });
  });
  return { server, url, close };
}
