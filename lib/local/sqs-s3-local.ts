import { buildApp, type BuildAppOptions } from 'fauxqs';
import type { AddressInfo } from 'node:net';
import { createDiskS3Store } from './disk-s3-store.js';
import type { RunningEmulator } from './dynamodb-local.js';
import { createLocalSqsStore, type QueueSource } from './local-sqs.js';
import { refuseBrowserRequest } from './loopback-guard.js';

export interface SqsS3LocalOptions {
  /** 0 or omitted: a free port. */
  port?: number;
  /**
   * Keep S3 buckets and objects in this folder, so they survive a restart. SQS queues and messages never
   * do: fauxqs keeps them in memory only (the local stack recreates its queues and recovers from the table).
   */
  dataDir?: string;
  /** With `dataDir`: object bytes kept in memory, least recently used out first. @defaultValue 64 MiB */
  cacheBytes?: number;
}

/** fauxqs, running: its endpoint, and its queues for the pollers in this process. */
export interface RunningSqsS3 extends RunningEmulator {
  queues: QueueSource;
  /** Where the messages whose body holds the text are, queue by queue (a diagnostic). */
  findMessages(text: string): string[];
}

/**
 * Starts fauxqs (SQS and S3 on one endpoint, in this process) on 127.0.0.1 only, with FIFO receives as SQS
 * makes them (`local-sqs.ts`). S3 clients need `forcePathStyle: true`. It answers programs only: a request under another Host name (DNS rebinding)
 * or from a browser (Origin, Sec-Fetch-*) is refused with 403, so no web page reaches the queues or
 * the payloads.
 */
export async function startSqsS3Local(options: SqsS3LocalOptions = {}): Promise<RunningSqsS3> {
  // buildApp falls back to a fresh in-memory store for each store it is not given.
  const sqs = await createLocalSqsStore();
  const stores = { sqsStore: sqs.store, ...(options.dataDir ? { s3Store: await createDiskS3Store(options.dataDir, { cacheBytes: options.cacheBytes }) } : {}) } as BuildAppOptions['stores'];
  const app = buildApp({ logger: false, stores });
  let listening = 0;
  app.addHook('onRequest', (request, reply, done) => {
    const refusal = refuseBrowserRequest(request.raw, listening);
    if (refusal) void reply.code(refusal.status).header('connection', 'close').type('text/plain').send(refusal.message);
    else done();
  });
  // Fastify's default answer to an unexpected error carries its message, which names paths of the data folder.
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    if (error.statusCode !== undefined && error.statusCode < 500) return reply.code(error.statusCode).type('text/plain').send(error.message);
    console.error('perdure local SQS/S3: unexpected error', error);
    return reply.code(500).type('application/xml').send('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>The local emulator failed; see its log.</Message></Error>');
  });
  // Slow clients get as long as on the local API server (Node's defaults are 60 s and 5 min).
  app.server.headersTimeout = 10_000;
  app.server.requestTimeout = 60_000;
  try {
    await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  } catch (error) {
    await app.close();
    throw error;
  }
  const { port } = app.server.address() as AddressInfo;
  listening = port;
  let closed: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    queues: sqs.source,
    findMessages: sqs.find,
    stop: () => (closed ??= app.close().then(() => undefined)),
  };
}
