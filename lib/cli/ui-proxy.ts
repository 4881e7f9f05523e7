import { createServer, type IncomingMessage } from 'node:http';
import { WEB_UI_HEADERS, WEB_UI_HTML } from '../runtime/web-ui.js';
import type { ApiClient } from './api-client.js';

const MAX_BODY_BYTES = 6 * 1024 * 1024;

/**
 * `perdure ui`: the web view on 127.0.0.1, for a deployed stack whose API a browser cannot call itself
 * (IAM authorization needs SigV4). The page comes from here; its API calls are forwarded to the endpoint,
 * signed with the operator's credentials. Only this origin may use it: a request from another site (its
 * Origin) or under another host name (DNS rebinding) is refused, so no web page can borrow the credentials.
 */
export async function serveUiProxy(api: ApiClient, port: number): Promise<{ url: string; close(): Promise<void> }> {
  let origin = '';
  const server = createServer((request, response) => {
    const send = (status: number, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
      response.writeHead(status, headers);
      response.end(body);
    };
    const refuse = (message: string) => send(403, JSON.stringify({ error: { code: 'FORBIDDEN', message } }));
    if (request.headers.host !== new URL(origin).host) return refuse('Use the address perdure ui printed.');
    if (request.headers.origin !== undefined && request.headers.origin !== origin) return refuse(`Requests from ${request.headers.origin} are not forwarded.`);
    const path = request.url ?? '/';
    if (request.method === 'GET' && (path === '/' || path === '/ui' || path === '/ui/')) {
      if (path === '/') return send(302, '', { location: '/ui' });
      return send(200, WEB_UI_HTML, { ...WEB_UI_HEADERS });
    }
    readBody(request)
      .then(async (body) => {
        if (body === null) return send(413, JSON.stringify({ error: { code: 'PAYLOAD_TOO_LARGE', message: `The body is over ${MAX_BODY_BYTES} bytes.` } }));
        const forwarded = await api.send(request.method ?? 'GET', path, body, request.headers['content-type']);
        send(forwarded.status, await forwarded.text(), { 'content-type': forwarded.headers.get('content-type') ?? 'application/json' });
      })
      .catch((error: unknown) => send(502, JSON.stringify({ error: { code: 'BAD_GATEWAY', message: (error as Error).message } })));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url: origin, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The body as text, undefined when empty, null when over the limit. */
function readBody(request: IncomingMessage): Promise<string | undefined | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => resolve(size > MAX_BODY_BYTES ? null : size === 0 ? undefined : Buffer.concat(chunks).toString()));
    request.on('error', reject);
  });
}
