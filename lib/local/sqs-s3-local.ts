import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RunningEmulator } from './dynamodb-local.js';

export interface SqsS3LocalOptions {
  /** @defaultValue a free port */
  port?: number;
  /** Keep S3 objects in this folder so they survive a restart (SQS messages do not: see docs/architecture.md). */
  dataDir?: string;
}

interface StoredObject {
  body: Buffer;
  contentType: string;
  metadata: Record<string, string>;
}

// fauxqs 1.9.2 exports only buildApp; its stores are reached through the installed files.
interface S3StoreLike {
  createBucket(name: string): void;
  putObject(bucket: string, key: string, body: Buffer, contentType?: string, metadata?: Record<string, string>): unknown;
  getObject(bucket: string, key: string): StoredObject & { key: string };
  deleteObject(bucket: string, key: string): void;
  deleteBucket(name: string): void;
  completeMultipartUpload(uploadId: string, parts: unknown[]): { key: string };
}
type S3StoreClass = new () => S3StoreLike;

/**
 * Starts fauxqs (SQS and S3 on one endpoint, in this process) on 127.0.0.1 only. With `dataDir`, S3
 * objects are also written to disk and loaded again on the next start.
 */
export async function startSqsS3Local(options: SqsS3LocalOptions = {}): Promise<RunningEmulator> {
  const fauxqsDir = findFauxqsDist();
  const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(join(fauxqsDir, file)).href)) as T;
  const { buildApp } = await load<{ buildApp: (options: object) => FastifyLike }>('app.js');
  const { SqsStore } = await load<{ SqsStore: new () => object }>('sqs/sqsStore.js');
  const { SnsStore } = await load<{ SnsStore: new () => object }>('sns/snsStore.js');
  const { S3Store } = await load<{ S3Store: S3StoreClass }>('s3/s3Store.js');
  const s3Store = options.dataDir ? diskBacked(S3Store, options.dataDir) : new S3Store();
  const app = buildApp({ logger: false, stores: { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store } });
  const address = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const port = Number(new URL(address).port);
  return { endpoint: `http://127.0.0.1:${port}`, port, stop: () => app.close() };
}

/** fauxqs's dist folder; its package exports only an `import` condition, so look for the files. */
function findFauxqsDist(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', 'fauxqs', 'dist');
    if (existsSync(join(candidate, 'app.js'))) return candidate;
    if (dirname(dir) === dir) throw new Error('fauxqs is not installed: run npm ci.');
  }
}

interface FastifyLike {
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}

/** An S3 store that mirrors every bucket and object to `dir`, and loads them back on construction. */
function diskBacked(S3Store: S3StoreClass, dir: string): S3StoreLike {
  const bucketDir = (bucket: string) => join(dir, encodeURIComponent(bucket));
  const objectFile = (bucket: string, key: string) => join(bucketDir(bucket), encodeURIComponent(key));
  const persist = (bucket: string, key: string, object: StoredObject) => {
    writeFileSync(objectFile(bucket, key), object.body);
    writeFileSync(`${objectFile(bucket, key)}.meta.json`, JSON.stringify({ contentType: object.contentType, metadata: object.metadata }));
  };

  class DiskS3Store extends S3Store {
    private loading = false;

    override createBucket(name: string): void {
      super.createBucket(name);
      mkdirSync(bucketDir(name), { recursive: true });
    }

    override putObject(bucket: string, key: string, body: Buffer, contentType?: string, metadata?: Record<string, string>): unknown {
      const result = super.putObject(bucket, key, body, contentType, metadata);
      if (!this.loading) persist(bucket, key, this.getObject(bucket, key));
      return result;
    }

    override completeMultipartUpload(uploadId: string, parts: unknown[]): { key: string } {
      const bucket = (this as unknown as { multipartUploads: Map<string, { bucket: string }> }).multipartUploads.get(uploadId)?.bucket;
      const object = super.completeMultipartUpload(uploadId, parts);
      if (bucket) persist(bucket, object.key, this.getObject(bucket, object.key));
      return object;
    }

    override deleteObject(bucket: string, key: string): void {
      super.deleteObject(bucket, key);
      rmSync(objectFile(bucket, key), { force: true });
      rmSync(`${objectFile(bucket, key)}.meta.json`, { force: true });
    }

    override deleteBucket(name: string): void {
      super.deleteBucket(name);
      rmSync(bucketDir(name), { recursive: true, force: true });
    }

    load(): this {
      mkdirSync(dir, { recursive: true });
      this.loading = true;
      for (const bucketName of readdirSync(dir)) {
        const bucket = decodeURIComponent(bucketName);
        super.createBucket(bucket);
        for (const file of readdirSync(bucketDir(bucket))) {
          if (file.endsWith('.meta.json')) continue;
          const key = decodeURIComponent(file);
          const metaFile = `${objectFile(bucket, key)}.meta.json`;
          const meta = existsSync(metaFile) ? (JSON.parse(readFileSync(metaFile, 'utf8')) as { contentType: string; metadata: Record<string, string> }) : { contentType: 'application/octet-stream', metadata: {} };
          this.putObject(bucket, key, readFileSync(objectFile(bucket, key)), meta.contentType, meta.metadata);
        }
      }
      this.loading = false;
      return this;
    }
  }
  return new DiskS3Store().load();
}
