/**
 * The runtime's AWS clients resolve each command's middleware stack once and keep it (`cacheMiddleware`):
 * building it on every request cost about 5% of a step's CPU under load. Middleware added to such a client
 * after it has sent a command (a request counter attached to a running stack) is then not in the cached
 * stacks: `addClientMiddleware` adds it and drops the cache, so every later request includes it.
 */
export interface MiddlewareClient {
  middlewareStack: object;
}

export interface MiddlewareOptions {
  step: 'initialize' | 'serialize' | 'build' | 'finalizeRequest' | 'deserialize';
  name: string;
  priority?: 'high' | 'low';
}

export function addClientMiddleware(client: MiddlewareClient, middleware: unknown, options: MiddlewareOptions): void {
  (client.middlewareStack as { add(middleware: unknown, options: MiddlewareOptions): void }).add(middleware, options);
  // The SDK keeps the resolved stacks in `handlers` (and drops it itself when a command is sent with options).
  (client as { handlers?: unknown }).handlers = undefined;
}

/** Removes middleware `addClientMiddleware` added (by name), and drops the cached stacks that hold it. */
export function removeClientMiddleware(client: MiddlewareClient, name: string): void {
  (client.middlewareStack as { remove(name: string): boolean }).remove(name);
  (client as { handlers?: unknown }).handlers = undefined;
}
