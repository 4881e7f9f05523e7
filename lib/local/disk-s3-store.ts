import { lstatSync, mkdirSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ByteLru } from './byte-lru.js';
import { DiskBucket, type ListOptions, type S3Failure, type S3Object, type S3Store } from './disk-bucket.js';
import { bucketNameProblem, objectKeyProblem } from './s3-names.js';

export interface DiskS3StoreOptions {
  /** Object bytes kept in memory, least recently used out first. @defaultValue 64 MiB */
  cacheBytes?: number;
}

/**
 * An S3 store for fauxqs 1.9.2 that keeps buckets and objects in `dir`, so they survive a restart, and
 * holds only their metadata and a bounded cache of their bytes in memory.
 *
 * fauxqs has no persistence option, but `buildApp` takes its stores as options. This is fauxqs's own S3
 * store, subclassed: each bucket's map of objects is a `DiskBucket` (a folder of `dir`), and every bucket
 * name is checked against S3's rules before it is used, so that no name (`..`, however it was encoded in
 * the URL) resolves outside `dir`. The class is not exported by the package, so it is loaded from the file
 * next to fauxqs's entry point (fauxqs is pinned to an exact version for that reason). At start it lists
 * the bucket folders and reads nothing else.
 */
export async function createDiskS3Store(dir: string, options: DiskS3StoreOptions = {}): Promise<S3Store> {
  const fauxqsFile = (path: string) => new URL(path, import.meta.resolve('fauxqs')).href;
  const { S3Store } = (await import(fauxqsFile('./s3/s3Store.js'))) as { S3Store: new () => S3Store };
  const { S3Error } = (await import(fauxqsFile('./common/errors.js'))) as { S3Error: new (code: string, message: string, status: number) => Error };
  const fail: S3Failure = (code, message, status) => new S3Error(code, message, status);
  mkdirSync(dir, { recursive: true });
  const root = realpathSync(dir);
  const cache = new ByteLru(options.cacheBytes ?? 64 * 1024 * 1024);

  const checkBucket = (name: string) => {
    const problem = bucketNameProblem(name);
    if (problem) throw fail('InvalidBucketName', problem, 400);
  };
  /** The bucket's folder: a direct child of the root, which a valid name always is (checked again all the same). */
  const folderOf = (name: string) => {
    checkBucket(name);
    const folder = join(root, name);
    if (dirname(folder) !== root) throw fail('InvalidBucketName', `The bucket name ${JSON.stringify(name)} is not valid.`, 400);
    return folder;
  };

  class DiskS3Store extends S3Store {
    /** fauxqs's map of buckets, which its own methods read (private in its types). */
    private get bucketMap(): Map<string, Map<string, S3Object>> {
      return (this as unknown as { buckets: Map<string, Map<string, S3Object>> }).buckets;
    }

    override createBucket(name: string): void {
      const folder = folderOf(name);
      if (super.hasBucket(name)) return;
      const stats = lstatSync(folder, { throwIfNoEntry: false });
      if (stats && !stats.isDirectory()) {
        throw fail('InternalError', `The folder of bucket ${name} in the local data folder is a link or a file: remove it to create the bucket.`, 500);
      }
      if (!stats) mkdirSync(folder);
      this.adopt(name, folder);
    }

    override deleteBucket(name: string): void {
      checkBucket(name);
      const bucket = this.bucketMap.get(name);
      super.deleteBucket(name); // refuses a missing or non-empty bucket
      if (bucket instanceof DiskBucket) bucket.remove();
    }

    override hasBucket(name: string): boolean {
      return bucketNameProblem(name) === undefined && super.hasBucket(name);
    }

    override putObject(bucket: string, key: string, body: Buffer, contentType?: string, metadata?: Record<string, string>): S3Object {
      checkBucket(bucket);
      return super.putObject(bucket, key, body, contentType, metadata);
    }

    override getObject(bucket: string, key: string): S3Object {
      checkBucket(bucket);
      return super.getObject(bucket, key);
    }

    override deleteObject(bucket: string, key: string): void {
      checkBucket(bucket);
      super.deleteObject(bucket, key);
    }

    override createMultipartUpload(bucket: string, key: string, contentType?: string, metadata?: Record<string, string>): string {
      checkBucket(bucket);
      const problem = objectKeyProblem(key);
      if (problem) throw fail(problem.code, problem.message, 400);
      return super.createMultipartUpload(bucket, key, contentType, metadata);
    }

    /** Listed from the bucket's metadata in S3's order (UTF-8 bytes; fauxqs sorts by locale). */
    override listObjects(bucket: string, listOptions?: ListOptions): ReturnType<S3Store['listObjects']> {
      checkBucket(bucket);
      const objects = this.bucketMap.get(bucket);
      return objects instanceof DiskBucket ? objects.list(listOptions) : super.listObjects(bucket, listOptions);
    }

    /** Takes in the bucket folders of `dir`: plain folders with valid names (a link is skipped, not followed). */
    load(): this {
      for (const entry of readdirSync(root, { withFileTypes: true })) {
        if (entry.isDirectory() && !bucketNameProblem(entry.name)) this.adopt(entry.name, join(root, entry.name));
      }
      return this;
    }

    private adopt(name: string, folder: string): void {
      super.createBucket(name);
      this.bucketMap.set(name, new DiskBucket(folder, name, cache, fail));
    }
  }

  return new DiskS3Store().load();
}
