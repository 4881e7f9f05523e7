import { createHash } from 'node:crypto';
import { PerdureError } from '../core/errors.js';
import type { BlobStore } from '../ports.js';
import { compress, decompress, estimateCompression, isGzip, mayFitCompressed } from './compression.js';

/**
 * How a payload is kept: inline JSON, inline gzip (base64), the value itself inside an item that is
 * compressed as a whole, or a reference to an object in the blob store. Stores and queues keep these;
 * `decode` turns them back into values.
 */
export type StoredPayload =
  | { j: string }
  | { z: string }
  | { v: unknown }
  | { ref: BlobRef };

/**
 * A blob is kept gzipped only when gzip takes at least this share off it. Data that does not compress (base64 of
 * a PDF or an image: gzip takes about a quarter off it, by Huffman coding alone) is kept as its JSON: S3 bills
 * requests, not the bytes moved in its region, and gzip's time would be spent on every write and every read.
 */
const MIN_BLOB_SAVING = 0.3;

/** Where an offloaded payload is, and how to check it. */
export interface BlobRef {
  key: string;
  size: number;
  sha256: string;
}

export interface PayloadCodecOptions {
  /** JSON larger than this is gzipped. @defaultValue 4096 bytes */
  compressAboveBytes?: number;
  /**
   * A payload still larger than this after gzip goes to the blob store (base64 counted in a message; in a
   * packed item, the item's compressed body). Beyond ~8 KiB a payload costs more as DynamoDB write units,
   * written into two or three items, than as one S3 PUT, and ten times more to keep. @defaultValue 16384 bytes
   */
  inlineLimitBytes?: number;
  /** Decoded blob payloads kept in memory, least recently used out first. @defaultValue 32 MiB */
  cacheBytes?: number;
  /** Told of each payload put in the blob store, with its size in bytes (JSON, before gzip). */
  onOffload?: (bytes: number) => void;
}

/**
 * A payload as read from storage, not yet decoded. Replay decodes it only when the code receives it;
 * writing it again (e.g. an inbox message appended to history) keeps the stored form as it is.
 */
export class EncodedPayload {
  constructor(readonly stored: StoredPayload) {}
}

/** A stored payload could not be read back: its object is missing or does not match its checksum. */
export class PayloadIntegrityError extends PerdureError {
  constructor(message: string) {
    super('PAYLOAD_INTEGRITY', message);
  }
}

/**
 * The payload codec: JSON, then gzip above a threshold, then the blob store above the inline limit
 * (keys `payloads/<instanceId>/<sha256>`, so a payload written twice is stored once). Every input,
 * output, activity result and event passes through it, both ways, without the user writing a line.
 */
export class PayloadCodec {
  readonly compressAboveBytes: number;
  readonly inlineLimitBytes: number;
  private readonly cacheBytes: number;
  private readonly cache = new Map<string, { value: string; size: number }>();
  private cachedBytes = 0;
  private readonly onOffload: ((bytes: number) => void) | undefined;

  constructor(
    private readonly blobs: BlobStore,
    options: PayloadCodecOptions = {},
  ) {
    this.compressAboveBytes = options.compressAboveBytes ?? 4_096;
    this.inlineLimitBytes = options.inlineLimitBytes ?? 16_384;
    this.cacheBytes = options.cacheBytes ?? 32 * 1024 * 1024;
    this.onOffload = options.onOffload;
  }

  /** Encodes a JSON value; `undefined` stays `undefined`. `inlineLimitBytes` overrides the codec's limit. */
  async encode(value: unknown, instanceId: string, inlineLimitBytes = this.inlineLimitBytes): Promise<StoredPayload | undefined> {
    if (value === undefined) return undefined;
    const json = JSON.stringify(value);
    if (json === undefined) return undefined;
    const size = Buffer.byteLength(json);
    if (size <= this.compressAboveBytes) return { j: json };
    const sha256 = createHash('sha256').update(json).digest('hex');
    const key = `${PayloadCodec.prefix(instanceId)}${sha256}`;
    // The same payload is often stored twice in a row (an input in the record and in its start message,
    // an output in the record and its event): when this codec already holds its object, skip gzip and PUT.
    if (this.cache.has(key)) return { ref: { key, size, sha256 } };
    const bytes = Buffer.from(json);
    const estimate = estimateCompression(bytes);
    // Gzipped to be kept inline, unless its sample says that cannot fit.
    const zipped = mayFitCompressed(size, estimate, inlineLimitBytes) ? compress(bytes, estimate) : undefined;
    if (zipped && Math.ceil(zipped.length / 3) * 4 <= inlineLimitBytes) return { z: zipped.toString('base64') };
    await this.blobs.put(key, blobBody(bytes, estimate, zipped));
    this.onOffload?.(size);
    this.remember(key, json, size);
    return { ref: { key, size, sha256 } };
  }

  /**
   * Puts a JSON value in the blob store (once per content) and returns its reference; `json` is its JSON text
   * and `bytes` that text's UTF-8, when the caller has them.
   */
  async offload(value: unknown, instanceId: string, json = JSON.stringify(value), bytes = Buffer.from(json)): Promise<{ ref: BlobRef }> {
    const size = bytes.length;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const key = `${PayloadCodec.prefix(instanceId)}${sha256}`;
    if (!this.cache.has(key)) {
      await this.blobs.put(key, blobBody(bytes));
      this.onOffload?.(size);
      this.remember(key, json, size);
    }
    return { ref: { key, size, sha256 } };
  }

  /**
   * A field's form inside an item that is stored (and compressed) as a whole: the value itself, or its
   * reference when it is already offloaded under this instance.
   */
  async inline(value: unknown, instanceId: string): Promise<{ v: unknown } | { ref: BlobRef }> {
    if (!(value instanceof EncodedPayload)) return { v: value };
    const stored = value.stored;
    if ('ref' in stored && stored.ref.key.startsWith(PayloadCodec.prefix(instanceId))) return { ref: stored.ref };
    if ('v' in stored) return { v: stored.v };
    return { v: await this.decode(stored) };
  }

  /** Decodes what `encode` returned (`undefined` stays `undefined`). */
  async decode(stored: unknown): Promise<unknown> {
    if (stored === undefined) return undefined;
    if (!isStoredPayload(stored)) throw new PayloadIntegrityError(`Not an encoded payload: ${JSON.stringify(stored)?.slice(0, 80)}`);
    if ('v' in stored) return stored.v;
    if ('j' in stored) return JSON.parse(stored.j) as unknown;
    if ('z' in stored) return JSON.parse(decompress(Buffer.from(stored.z, 'base64')).toString()) as unknown;
    return JSON.parse(await this.fetch(stored.ref)) as unknown;
  }

  /**
   * The stored form of a field value: an `EncodedPayload` keeps its stored form unless it is offloaded
   * under another instance's prefix (a child's output delivered to its parent), which is copied so that
   * purging one instance never breaks another's history.
   */
  async store(value: unknown, instanceId: string): Promise<StoredPayload | undefined> {
    if (!(value instanceof EncodedPayload)) return this.encode(value, instanceId);
    const stored = value.stored;
    // A value kept inside a compressed item is encoded on its own when it leaves it.
    if ('v' in stored) return this.encode(stored.v, instanceId);
    if ('ref' in stored && !stored.ref.key.startsWith(PayloadCodec.prefix(instanceId))) return this.encode(await this.decode(stored), instanceId);
    return stored;
  }

  /** The value of a field: decodes an `EncodedPayload`, passes anything else through. */
  async load(value: unknown): Promise<unknown> {
    return value instanceof EncodedPayload ? this.decode(value.stored) : value;
  }

  /**
   * Like `load`, but an offloaded payload stays a reference, `{ $ref: { key, size, sha256 } }`, and is not
   * fetched: for listings and exports that should not pull megabytes from the blob store.
   */
  async loadInline(value: unknown): Promise<unknown> {
    if (value instanceof EncodedPayload && 'ref' in value.stored) return { $ref: { ...value.stored.ref } };
    return this.load(value);
  }

  /** Deletes every blob of an instance (purge). */
  async deleteInstance(instanceId: string): Promise<void> {
    const prefix = PayloadCodec.prefix(instanceId);
    for (const key of [...this.cache.keys()]) if (key.startsWith(prefix)) this.forget(key);
    await this.blobs.deletePrefix(prefix);
  }

  static prefix(instanceId: string): string {
    return `payloads/${instanceId}/`;
  }

  private async fetch(ref: BlobRef): Promise<string> {
    const cached = this.cache.get(ref.key);
    if (cached) {
      this.cache.delete(ref.key);
      this.cache.set(ref.key, cached);
      return cached.value;
    }
    let body: Uint8Array;
    try {
      body = await this.blobs.get(ref.key);
    } catch (error) {
      throw new PayloadIntegrityError(`Payload object '${ref.key}' could not be read (${(error as Error).message}); it may have expired under the bucket's lifecycle rule or been deleted.`);
    }
    // Older blobs are all gzip; a newer one is its JSON when gzip would not have saved enough (`blobBody`).
    const json = isGzip(body) ? decompress(body, ref.size).toString() : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString();
    if (createHash('sha256').update(json).digest('hex') !== ref.sha256) {
      throw new PayloadIntegrityError(`Payload object '${ref.key}' does not match its sha256; it was changed after it was written.`);
    }
    this.remember(ref.key, json, ref.size);
    return json;
  }

  private remember(key: string, value: string, size: number): void {
    if (size > this.cacheBytes) return;
    this.forget(key);
    this.cache.set(key, { value, size });
    this.cachedBytes += size;
    while (this.cachedBytes > this.cacheBytes) this.forget(this.cache.keys().next().value!);
  }

  private forget(key: string): void {
    const entry = this.cache.get(key);
    if (!entry) return;
    this.cache.delete(key);
    this.cachedBytes -= entry.size;
  }
}

/**
 * What a blob stores of a payload's JSON bytes: gzip when it saves enough (`MIN_BLOB_SAVING`), else the bytes
 * themselves. `zipped`: the bytes gzipped already, when the caller has them.
 */
function blobBody(bytes: Buffer, estimate = estimateCompression(bytes), zipped?: Buffer): Buffer {
  if (!zipped && estimate.ratio !== undefined && estimate.ratio > 1 - MIN_BLOB_SAVING) return bytes;
  const gz = zipped ?? compress(bytes, estimate);
  return gz.length <= bytes.length * (1 - MIN_BLOB_SAVING) ? gz : bytes;
}

export function isStoredPayload(value: unknown): value is StoredPayload {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (typeof (value as { j?: unknown }).j === 'string' || typeof (value as { z?: unknown }).z === 'string' || keys[0] === 'v' || typeof (value as { ref?: unknown }).ref === 'object');
}
