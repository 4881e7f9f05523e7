import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../lib/memory/memory-blob-store.js';
import { PayloadCodec, PayloadIntegrityError } from '../../lib/runtime/payload-codec.js';

const bigText = (bytes: number) => Array.from({ length: Math.ceil(bytes / 36) }, (_, i) => `${i.toString(36).padStart(6, '0')}-${Math.sin(i).toFixed(20)}`).join('').slice(0, bytes);

describe('payload codec', () => {
  it('keeps small payloads inline as JSON and leaves undefined alone', async () => {
    const codec = new PayloadCodec(new MemoryBlobStore());
    const stored = await codec.encode({ orderId: 'o-1', n: [1, 2] }, 'i-1');
    expect(stored).toEqual({ j: '{"orderId":"o-1","n":[1,2]}' });
    expect(await codec.decode(stored)).toEqual({ orderId: 'o-1', n: [1, 2] });
    expect(await codec.encode(undefined, 'i-1')).toBeUndefined();
    expect(await codec.decode(undefined)).toBeUndefined();
  });

  it('writes a payload stored twice in a row once: the second encode finds its object in the cache', async () => {
    const blobs = new MemoryBlobStore();
    const puts: string[] = [];
    const put = blobs.put.bind(blobs);
    blobs.put = async (key, body) => (puts.push(key), put(key, body));
    const codec = new PayloadCodec(blobs);
    const value = { pdf: bigText(300_000) };
    const first = await codec.encode(value, 'order-1');
    expect(await codec.encode(value, 'order-1')).toEqual(first);
    expect(puts).toHaveLength(1);
    await codec.deleteInstance('order-1');
    await codec.encode(value, 'order-1');
    expect(puts).toHaveLength(2); // after a purge it is written again
  });

  it('gzips payloads above the threshold that still fit inline', async () => {
    const blobs = new MemoryBlobStore();
    const codec = new PayloadCodec(blobs);
    const value = { text: 'abc'.repeat(10_000) };
    const stored = await codec.encode(value, 'i-1');
    expect(Object.keys(stored!)).toEqual(['z']);
    expect((stored as { z: string }).z.length).toBeLessThan(1_000);
    expect(await codec.decode(stored)).toEqual(value);
    expect(blobs.keys()).toEqual([]);
  });

  it('offloads payloads above the inline limit under payloads/<instanceId>/<sha256>, once per content', async () => {
    const blobs = new MemoryBlobStore();
    const codec = new PayloadCodec(blobs, { cacheBytes: 0 });
    const value = { pdf: bigText(300_000) };
    const first = await codec.encode(value, 'order-1');
    const second = await codec.encode(value, 'order-1');
    expect(first).toEqual(second);
    const ref = (first as { ref: { key: string; size: number; sha256: string } }).ref;
    expect(ref.key).toBe(`payloads/order-1/${ref.sha256}`);
    expect(ref.size).toBe(JSON.stringify(value).length);
    expect(blobs.keys()).toEqual([ref.key]);
    expect(JSON.stringify(first).length).toBeLessThan(200);
    expect(await codec.decode(first)).toEqual(value);
  });

  it('keeps a blob gzipped when gzip saves enough, and as its JSON when it does not (base64 of random bytes); reads both, and older gzip blobs', async () => {
    const blobs = new MemoryBlobStore();
    const codec = new PayloadCodec(blobs, { cacheBytes: 0 });
    const text = { pdf: bigText(300_000) };
    const random = { pdf: randomBytes(225_000).toString('base64') };
    const storedText = (await codec.encode(text, 'order-1')) as { ref: { key: string } };
    const storedRandom = (await codec.offload(random, 'order-1')) as { ref: { key: string } };
    const textBlob = await blobs.get(storedText.ref.key);
    const randomBlob = await blobs.get(storedRandom.ref.key);
    expect([textBlob[0], textBlob[1]]).toEqual([0x1f, 0x8b]);
    expect(textBlob.length).toBeLessThan(150_000);
    expect(Buffer.from(randomBlob).toString()).toBe(JSON.stringify(random));
    expect(await codec.decode(storedText)).toEqual(text);
    expect(await codec.decode(storedRandom)).toEqual(random);
    // Written by an earlier version, which gzipped every blob.
    await blobs.put(storedRandom.ref.key, gzipSync(JSON.stringify(random)));
    expect(await new PayloadCodec(blobs, { cacheBytes: 0 }).decode(storedRandom)).toEqual(random);
  });

  it('round-trips a 5 MB payload intact', async () => {
    const codec = new PayloadCodec(new MemoryBlobStore());
    const value = { data: bigText(5 * 1024 * 1024) };
    expect(await codec.decode(await codec.encode(value, 'i-5mb'))).toEqual(value);
  });

  it('reads an offloaded payload from the blob store once while it stays in the bounded cache', async () => {
    const blobs = new MemoryBlobStore();
    const writer = new PayloadCodec(blobs);
    const stored = await writer.encode({ a: bigText(200_000) }, 'i-1');
    const reader = new PayloadCodec(blobs, { cacheBytes: 300_000 });
    await reader.decode(stored);
    await reader.decode(stored);
    expect(blobs.reads).toBe(1);
    const other = await writer.encode({ b: bigText(250_000) }, 'i-1');
    await reader.decode(other);
    await reader.decode(stored);
    expect(blobs.reads).toBe(3);
  });

  it('refuses an object that was changed or is gone, saying why', async () => {
    const blobs = new MemoryBlobStore();
    const codec = new PayloadCodec(blobs, { cacheBytes: 0 });
    const stored = (await codec.encode({ a: bigText(200_000) }, 'i-1')) as { ref: { key: string; size: number; sha256: string } };
    const tampered = { ref: { ...stored.ref, sha256: '0'.repeat(64) } };
    await expect(codec.decode(tampered)).rejects.toThrow(PayloadIntegrityError);
    await codec.deleteInstance('i-1');
    await expect(codec.decode(stored)).rejects.toThrow(/could not be read .*lifecycle rule/);
    await expect(codec.decode({ not: 'a payload' })).rejects.toThrow(/Not an encoded payload/);
  });

  it('deletes only the blobs of the purged instance', async () => {
    const blobs = new MemoryBlobStore();
    const codec = new PayloadCodec(blobs);
    await codec.encode({ a: bigText(200_000) }, 'keep');
    await codec.encode({ a: bigText(200_000) }, 'purge-me');
    await codec.deleteInstance('purge-me');
    expect(blobs.keys().every((key) => key.startsWith('payloads/keep/'))).toBe(true);
    expect(blobs.keys()).toHaveLength(1);
  });
});
