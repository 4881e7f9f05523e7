import { createServer, type Server } from 'node:http';
import type { HttpApi } from '../runtime/http-api.js';

/** Serves the HTTP API on 127.0.0.1 (never on other interfaces), as API Gateway does in AWS. */
export async function serveHttpApi(api: HttpApi, port: number, maxBodyBytes = 6 * 1024 * 1024): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on('data', (chunk: Buffer) => {
      // Keep up to limit + 1 bytes, including the head of the chunk that crosses it.
      const room = maxBodyBytes + 1 - size;
      size += chunk.length;
      if (room > 0) chunks.push(chunk.subarray(0, room));
      if (size > maxBodyBytes + 1) tooLarge = true;
    });
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      // An oversized body is cut at the limit + 1 byte: enough for the API to answer 413 without buffering it all.
      const body = chunks.length || tooLarge ? Buffer.concat(chunks).toString() + (tooLarge ? ' ' : '') : undefined;
      api
        .handle({
          method: request.method ?? 'GET',
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: Object.fromEntries(Object.entries(request.headers).map(([key, value]) => [key, Array.isArray(value) ? value.join(', ') : value])),
          body,
        })
        .then((result) => {
          response.writeHead(result.statusCode, result.headers);
          response.end(result.body);
        })
        .catch((error: unknown) => {
          response.writeHead(500, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: { code: 'INTERNAL', message: String(error) } }));
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    server,
    url: `http://127.0.0.1:${actualPort}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
