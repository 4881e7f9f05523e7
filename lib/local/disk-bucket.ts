import type { BuildAppOptions } from 'fauxqs';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ByteLru } from './byte-lru.js';
import { objectKeyProblem } from './s3-names.js';

export type S3Store = NonNullable<BuildAppOptions['stores']>['s3Store'];
export type S3Object = ReturnType<S3Store['getObject']>;
/** Makes the error fauxqs answers in S3's XML shape (its `S3Error`). */
export type S3Failure = (code: string, message: string, status: number) => Error;

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  maxKeys?: number;
  startAfter?: string;
  marker?: string;
}

interface StoredMeta {
  key: string;
  contentType: string;
  metadata: Record<string, string>;
  etag: string;
  lastModified: string;
  /** Absent in files written before bodies were read on demand; then the file's size. */
  size?: number;
}

// O_NOFOLLOW: a link in the bucket's folder is never followed out of it (0 where the platform has none).
const READ_OWN_FILE = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);
const HASHED = /^[0-9a-f]{64}$/;

/**
 * One bucket of the local S3 store: its objects in a folder, `<sha256(key)>` holding the bytes and
 * `<sha256(key)>.json` the key and its metadata (a key may be longer than a file name may be). Each file
 * is written to a temporary name and renamed, the metadata last, so a crash never leaves half an object.
 *
 * It is the `Map` fauxqs's S3 store keeps per bucket, so fauxqs's S3 semantics (errors, ETags, multipart
 * uploads, copies) stay fauxqs's; but the map holds only each object's metadata, read from the folder the
 * first time the bucket is used (never at start), and `body` reads the bytes from disk when fauxqs sends
 * them, through a cache bounded in bytes that all buckets share.
 *
 * It reads only plain files in a plain folder: a link (to a file or a folder outside the data folder) is
 * refused, not followed, and writes replace a link rather than write through it.
 */
export class DiskBucket extends Map<string, S3Object> {
  private loaded = false;

  constructor(
    private readonly folder: string,
    private readonly name: string,
    private readonly cache: ByteLru,
    private readonly fail: S3Failure,
  ) {
    super();
  }

  override get size(): number {
    this.load();
    return super.size;
  }

  override has(key: string): boolean {
    this.load();
    return super.has(key);
  }

  override get(key: string): S3Object | undefined {
    this.load();
    return super.get(key);
  }

  override set(key: string, object: S3Object): this {
    const problem = objectKeyProblem(key);
    if (problem) throw this.fail(problem.code, problem.message, 400);
    this.load();
    this.assertPlainFolder();
    const meta: StoredMeta = { key, contentType: object.contentType, metadata: object.metadata, etag: object.etag, lastModified: object.lastModified.toISOString(), size: object.body.length };
    const file = this.fileOf(key);
    this.writeAtomically(file, object.body);
    this.writeAtomically(`${file}.json`, JSON.stringify(meta));
    this.cache.set(this.cacheKey(key), object.body);
    return super.set(key, this.entry(meta, object.body.length));
  }

  override delete(key: string): boolean {
    this.load();
    if (!super.has(key)) return false;
    const file = this.fileOf(key);
    rmSync(`${file}.json`, { force: true });
    rmSync(file, { force: true });
    this.cache.delete(this.cacheKey(key));
    return super.delete(key);
  }

  override clear(): void {
    for (const key of [...this.keys()]) this.delete(key);
  }

  override keys(): MapIterator<string> {
    this.load();
    return super.keys();
  }

  override values(): MapIterator<S3Object> {
    this.load();
    return super.values();
  }

  override entries(): MapIterator<[string, S3Object]> {
    this.load();
    return super.entries();
  }

  override [Symbol.iterator](): MapIterator<[string, S3Object]> {
    return this.entries();
  }

  override forEach(callback: (value: S3Object, key: string, map: Map<string, S3Object>) => void, thisArg?: unknown): void {
    this.load();
    super.forEach(callback, thisArg);
  }

  /**
   * A page of the listing in S3's order (UTF-8 bytes), as ListObjects(V2) returns it: keys under
   * `prefix` after `startAfter`, with the keys that share a part up to `delimiter` rolled up into prefixes.
   */
  list(options: ListOptions = {}): { objects: S3Object[]; commonPrefixes: string[]; isTruncated: boolean } {
    const prefix = options.prefix ?? '';
    const maxKeys = Number.isInteger(options.maxKeys) ? Math.min(Math.max(options.maxKeys!, 0), 1000) : 1000;
    const after = Buffer.from(options.startAfter || options.marker || '');
    const keys = [...this.keys()]
      .filter((key) => key.startsWith(prefix))
      .map((key) => ({ key, bytes: Buffer.from(key) }))
      .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
    const objects: S3Object[] = [];
    const commonPrefixes: string[] = [];
    for (const { key, bytes } of keys) {
      if (after.length && Buffer.compare(bytes, after) <= 0) continue;
      const cut = options.delimiter ? key.indexOf(options.delimiter, prefix.length) : -1;
      const rolledUp = cut >= 0 ? key.slice(0, cut + options.delimiter!.length) : undefined;
      if (rolledUp !== undefined && (commonPrefixes.at(-1) === rolledUp || (after.length && Buffer.compare(Buffer.from(rolledUp), after) <= 0))) continue;
      if (objects.length + commonPrefixes.length >= maxKeys) return { objects, commonPrefixes, isTruncated: true };
      if (rolledUp !== undefined) commonPrefixes.push(rolledUp);
      else objects.push(super.get(key)!);
    }
    return { objects, commonPrefixes, isTruncated: false };
  }

  /** Removes the bucket's folder; fauxqs has checked that the bucket is empty. */
  remove(): void {
    this.assertPlainFolder();
    rmSync(this.folder, { recursive: true, force: true });
  }

  /** Reads the folder's metadata files once: each object's key, type, ETag and size, not its bytes. */
  private load(): void {
    if (this.loaded) return;
    this.assertPlainFolder();
    this.loaded = true;
    for (const entry of readdirSync(this.folder, { withFileTypes: true })) {
      const name = entry.name;
      if (/\.tmp-[0-9a-f]+$/.test(name)) rmSync(join(this.folder, name), { force: true });
      else if (name.endsWith('.meta.json')) this.migrate(name);
      else if (entry.isFile() && HASHED.test(name.slice(0, -'.json'.length)) && name.endsWith('.json')) this.restore(name.slice(0, -'.json'.length));
    }
  }

  private restore(hash: string): void {
    const meta = JSON.parse(this.readOwnFile(join(this.folder, `${hash}.json`)).toString('utf8')) as StoredMeta;
    // A metadata file whose key is not valid or not its own name is not one this store wrote.
    if (objectKeyProblem(meta.key) || this.hashOf(meta.key) !== hash) return;
    let size = meta.size;
    try {
      const stats = lstatSync(join(this.folder, hash));
      if (!stats.isFile()) return;
      size ??= stats.size;
    } catch {
      return; // the bytes are gone: the object was deleted halfway
    }
    super.set(meta.key, this.entry(meta, size));
  }

  /** An object written by the first version of this store (`<encoded key>` and `<encoded key>.meta.json`) is moved to the current layout. */
  private migrate(metaName: string): void {
    const name = metaName.slice(0, -'.meta.json'.length);
    const file = join(this.folder, name);
    let key: string | undefined;
    try {
      key = decodeURIComponent(name);
    } catch {
      key = undefined;
    }
    if (key !== undefined && !objectKeyProblem(key) && lstatSync(file, { throwIfNoEntry: false })?.isFile()) {
      const meta = JSON.parse(this.readOwnFile(`${file}.meta.json`).toString('utf8')) as Pick<StoredMeta, 'contentType' | 'metadata'>;
      const body = this.readOwnFile(file);
      const etag = `"${createHash('md5').update(body).digest('hex')}"`;
      this.set(key, { key, body, contentType: meta.contentType, metadata: meta.metadata, etag, lastModified: new Date(), contentLength: body.length });
      rmSync(file, { force: true });
    }
    rmSync(`${file}.meta.json`, { force: true });
  }

  /** What the map holds: the object without its bytes, which `body` reads on demand. */
  private entry(meta: StoredMeta, size: number): S3Object {
    const object = { key: meta.key, contentType: meta.contentType, contentLength: size, etag: meta.etag, lastModified: new Date(meta.lastModified), metadata: meta.metadata } as S3Object;
    const read = () => this.readBody(meta.key);
    Object.defineProperty(object, 'body', { enumerable: true, get: read });
    return object;
  }

  private readBody(key: string): Buffer {
    const cached = this.cache.get(this.cacheKey(key));
    if (cached) return cached;
    let body: Buffer;
    try {
      this.assertPlainFolder();
      body = this.readOwnFile(this.fileOf(key));
    } catch (error) {
      if (!(error instanceof Error && 'errno' in error)) throw error;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw this.fail('NoSuchKey', 'The specified key does not exist.', 404);
      // Say nothing of the data folder's paths to the caller.
      console.error(`perdure local S3: cannot read an object of bucket ${this.name}`, error);
      throw this.fail('InternalError', 'The local S3 store could not read the object; see its log.', 500);
    }
    this.cache.set(this.cacheKey(key), body);
    return body;
  }

  /** The bytes of a plain file of this folder: a link is refused (ELOOP), not followed. */
  private readOwnFile(file: string): Buffer {
    let fd: number;
    try {
      fd = openSync(file, READ_OWN_FILE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw this.notOwn('is a link');
      throw error;
    }
    try {
      if (!fstatSync(fd).isFile()) throw this.notOwn('is not a plain file');
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** The bucket's folder must be a folder, not a link to one elsewhere. */
  private assertPlainFolder(): void {
    const stats = lstatSync(this.folder, { throwIfNoEntry: false });
    if (!stats?.isDirectory()) throw this.notOwn(stats ? 'is a link or a file, not a folder' : 'is missing');
  }

  private notOwn(what: string): Error {
    console.error(`perdure local S3: a file of bucket ${this.name} ${what}; the store reads and writes only its own plain files (remove it from the data folder).`);
    return this.fail('InternalError', `A file of bucket ${this.name} in the local data folder ${what}: the local S3 store only reads its own plain files.`, 500);
  }

  private writeAtomically(file: string, data: Buffer | string): void {
    const scratch = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    // 'wx' creates a new file and fails on anything already there, a link included; the rename then replaces a link, never its target.
    try {
      writeFileSync(scratch, data, { flag: 'wx' });
      renameSync(scratch, file);
    } catch (error) {
      rmSync(scratch, { force: true });
      throw error;
    }
  }

  private fileOf(key: string): string {
    return join(this.folder, this.hashOf(key));
  }

  private hashOf(key: string): string {
    return createHash('sha256').update(key).digest('hex');
  }

  private cacheKey(key: string): string {
    return `${this.name}/${this.hashOf(key)}`;
  }
}
