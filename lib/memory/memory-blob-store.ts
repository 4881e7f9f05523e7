import type { BlobStore } from '../ports.js';

/** Blobs in memory. Counts reads, so tests can check that a payload is fetched only when needed. */
export class MemoryBlobStore implements BlobStore {
  private readonly objects = new Map<string, Uint8Array>();
  reads = 0;

  async put(key: string, body: Uint8Array): Promise<void> {
    this.objects.set(key, Uint8Array.from(body));
  }

  async get(key: string): Promise<Uint8Array> {
    const body = this.objects.get(key);
    if (!body) throw new Error(`No blob '${key}'.`);
    this.reads++;
    return Uint8Array.from(body);
  }

  async deletePrefix(prefix: string): Promise<void> {
    for (const key of [...this.objects.keys()]) if (key.startsWith(prefix)) this.objects.delete(key);
  }

  keys(): string[] {
    return [...this.objects.keys()];
  }
}
