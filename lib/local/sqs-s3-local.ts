import { buildApp, type BuildAppOptions } from 'fauxqs';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { RunningEmulator } from './dynamodb-local.js';

export interface SqsS3LocalOptions {
  /** 0 or omitted: a free port. */
  port?: number;
  /**
   * Keep S3 buckets and objects in this folder, so they survive a restart. SQS queues and messages never
   * do: fauxqs keeps them in memory only (the local stack recreates its queues and recovers from the table).
   */
  dataDir?: string;
}

type S3Store = NonNullable<BuildAppOptions['stores']>['s3Store'];
type S3Object = ReturnType<S3Store['getObject']>;

/**
 * Starts fauxqs (SQS and S3 on one endpoint, in this process) on 127.0.0.1 only. S3 clients need
 * `forcePathStyle: true`.
 */
export async function startSqsS3Local(options: SqsS3LocalOptions = {}): Promise<RunningEmulator> {
  // buildApp falls back to a fresh in-memory store for each store it is not given.
  const stores = options.dataDir ? ({ s3Store: await diskBackedS3Store(options.dataDir) } as BuildAppOptions['stores']) : undefined;
  const app = buildApp({ logger: false, ...(stores ? { stores } : {}) });
  try {
    await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  } catch (error) {
    await app.close();
    throw error;
  }
  const { port } = app.server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop: () => (closed ??= app.close().then(() => undefined)),
  };
}

interface StoredMeta {
  key: string;
  contentType: string;
  metadata: Record<string, string>;
  etag: string;
  lastModified: string;
}

/**
 * fauxqs 1.9.2 keeps everything in memory and has no persistence option, but `buildApp` takes its stores
 * as options. This S3 store is fauxqs's own, subclassed to mirror buckets and objects to `dir` and to load
 * them back when it is built. The class is not exported by the package, so it is loaded from the file
 * next to fauxqs's entry point (fauxqs is pinned to an exact version for that reason).
 *
 * Layout: `<dir>/<bucket>/<sha256(key)>` holds the bytes and `<sha256(key)>.json` the key and its
 * metadata (the key itself may be longer than a file name may be). Each file is written to a temporary
 * name and renamed, the metadata last, so a crash never leaves half an object.
 */
async function diskBackedS3Store(dir: string): Promise<S3Store> {
  const url = new URL('./s3/s3Store.js', import.meta.resolve('fauxqs'));
  const { S3Store } = (await import(url.href)) as { S3Store: new () => S3Store };

  const bucketDir = (bucket: string) => join(dir, encodeURIComponent(bucket));
  const objectFile = (bucket: string, key: string) => join(bucketDir(bucket), createHash('sha256').update(key).digest('hex'));
  const writeAtomically = (file: string, data: Buffer | string) => {
    const scratch = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    writeFileSync(scratch, data);
    renameSync(scratch, file);
  };
  const persist = (bucket: string, object: S3Object) => {
    const file = objectFile(bucket, object.key);
    const meta: StoredMeta = { key: object.key, contentType: object.contentType, metadata: object.metadata, etag: object.etag, lastModified: object.lastModified.toISOString() };
    writeAtomically(file, object.body);
    writeAtomically(`${file}.json`, JSON.stringify(meta));
  };
  const forget = (bucket: string, key: string) => {
    const file = objectFile(bucket, key);
    rmSync(`${file}.json`, { force: true });
    rmSync(file, { force: true });
  };

  class DiskS3Store extends S3Store {
    private loading = false;
    private readonly uploadBuckets = new Map<string, string>();

    override createBucket(name: string): void {
      super.createBucket(name);
      mkdirSync(bucketDir(name), { recursive: true });
    }

    override deleteBucket(name: string): void {
      super.deleteBucket(name);
      rmSync(bucketDir(name), { recursive: true, force: true });
    }

    override putObject(bucket: string, key: string, body: Buffer, contentType?: string, metadata?: Record<string, string>): S3Object {
      const object = super.putObject(bucket, key, body, contentType, metadata);
      if (!this.loading) persist(bucket, object);
      return object;
    }

    override createMultipartUpload(bucket: string, key: string, contentType?: string, metadata?: Record<string, string>): string {
      const uploadId = super.createMultipartUpload(bucket, key, contentType, metadata);
      this.uploadBuckets.set(uploadId, bucket);
      return uploadId;
    }

    override completeMultipartUpload(uploadId: string, partSpecs: { partNumber: number; etag: string }[]): S3Object {
      const object = super.completeMultipartUpload(uploadId, partSpecs);
      persist(this.uploadBuckets.get(uploadId)!, object);
      this.uploadBuckets.delete(uploadId);
      return object;
    }

    override abortMultipartUpload(uploadId: string): void {
      super.abortMultipartUpload(uploadId);
      this.uploadBuckets.delete(uploadId);
    }

    override deleteObject(bucket: string, key: string): void {
      super.deleteObject(bucket, key);
      forget(bucket, key);
    }

    load(): this {
      mkdirSync(dir, { recursive: true });
      this.loading = true;
      try {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          if (!entry.isDirectory()) continue;
          const bucket = decodeURIComponent(entry.name);
          super.createBucket(bucket);
          for (const name of readdirSync(bucketDir(bucket))) {
            const file = join(bucketDir(bucket), name);
            if (/\.tmp-[0-9a-f]+$/.test(name)) rmSync(file, { force: true });
            else if (name.endsWith('.meta.json')) this.migrate(bucket, name);
            else if (/^[0-9a-f]{64}\.json$/.test(name)) this.restore(bucket, file.slice(0, -'.json'.length));
          }
        }
      } finally {
        this.loading = false;
      }
      return this;
    }

    private restore(bucket: string, file: string): void {
      if (!existsSync(file)) return;
      const meta = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as StoredMeta;
      const object = this.putObject(bucket, meta.key, readFileSync(file), meta.contentType, meta.metadata);
      object.etag = meta.etag;
      object.lastModified = new Date(meta.lastModified);
    }

    /** Objects written by earlier versions of this file: `<encoded key>` and `<encoded key>.meta.json`. */
    private migrate(bucket: string, metaName: string): void {
      const name = metaName.slice(0, -'.meta.json'.length);
      const file = join(bucketDir(bucket), name);
      if (existsSync(file)) {
        const meta = JSON.parse(readFileSync(`${file}.meta.json`, 'utf8')) as Pick<StoredMeta, 'contentType' | 'metadata'>;
        persist(bucket, this.putObject(bucket, decodeURIComponent(name), readFileSync(file), meta.contentType, meta.metadata));
        rmSync(file, { force: true });
      }
      rmSync(`${file}.meta.json`, { force: true });
    }
  }

  return new DiskS3Store().load();
}
