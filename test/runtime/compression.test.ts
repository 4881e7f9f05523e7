import { randomBytes } from 'node:crypto';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { packBody, unpackBody, type PayloadSlot } from '../../lib/aws/item-packing.js';
import { MemoryBlobStore } from '../../lib/memory/memory-blob-store.js';
import { compress, decompress, estimateCompression } from '../../lib/runtime/compression.js';
import { PayloadCodec } from '../../lib/runtime/payload-codec.js';

/** Base64 of random bytes: a PDF or an image as JSON carries it. */
const base64Json = (bytes: number) => JSON.stringify({ pdfBase64: randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64') });
/** Records that repeat themselves, as most JSON does. */
const recordsJson = (count: number) => JSON.stringify(Array.from({ length: count }, (_, i) => ({ id: i, sku: `SKU-${(i * 7919) % 1000}`, quantity: i % 13, tags: ['gift', 'fragile'] })));

describe('compression fitted to the data', () => {
  it('judges base64 of random bytes as not worth the search for repeats, and JSON records as worth it', () => {
    const random = estimateCompression(Buffer.from(base64Json(300_000)));
    expect(random.repeats).toBe(false);
    expect(random.ratio).toBeGreaterThan(0.7);
    const records = estimateCompression(Buffer.from(recordsJson(5_000)));
    expect(records.repeats).toBe(true);
    expect(records.ratio).toBeLessThan(0.3);
  });

  it('does not sample small data: gzip as usual', () => {
    expect(estimateCompression(Buffer.from(recordsJson(10)))).toEqual({ repeats: true });
  });

  it('makes plain gzip that gunzips to the data, no larger than default gzip on base64 and the same on JSON', () => {
    for (const json of [base64Json(300_000), recordsJson(5_000), '{"small":true}']) {
      const zipped = compress(json);
      expect(gunzipSync(zipped).toString()).toBe(json);
      const usual = gzipSync(json);
      expect(zipped.length).toBeLessThanOrEqual(usual.length * 1.01);
    }
    // Huffman coding only is what the base64 got: the same bytes as asking zlib for it.
    const random = base64Json(100_000);
    expect(compress(random).equals(gzipSync(random, { strategy: constants.Z_HUFFMAN_ONLY }))).toBe(true);
  });

  it('gunzips whatever size it expects: too small a guess takes more chunks, too large one wastes nothing but memory', () => {
    for (const json of [base64Json(300_000), recordsJson(5_000), '{"small":true}']) {
      const zipped = gzipSync(json);
      for (const expected of [undefined, 1, json.length, json.length * 10]) expect(decompress(zipped, expected).toString()).toBe(json);
    }
  });
});

describe('packing an item body', () => {
  const slotOf = (holder: Record<string, unknown>, field: string): PayloadSlot => {
    holder[field] = { v: holder[field] };
    return { holder, field };
  };

  it('moves a large payload that does not compress to the blob store, keeps the rest in the item, and reads it back', async () => {
    const blobs = new MemoryBlobStore();
    const codec = new PayloadCodec(blobs, { cacheBytes: 0 });
    const invoice = JSON.parse(base64Json(300_000)) as unknown;
    const event = { type: 'ActivityCompleted', taskId: 4, result: invoice };
    const body = [{ type: 'StepStarted' }, event];
    const item = await packBody('ev', body, [slotOf(event, 'result')], codec, 'order-1');
    expect(blobs.keys()).toHaveLength(1);
    expect(item.ev?.S).toBeDefined(); // what is left is small JSON
    expect(item.ev!.S!.length).toBeLessThan(500);
    const read = (await unpackBody(item, 'ev', codec)) as Array<{ result?: unknown }>;
    expect(await codec.decode(read[1]!.result)).toEqual(invoice);
  });

  it('keeps a large payload that compresses well in the item, gzipped with its neighbours', async () => {
    const blobs = new MemoryBlobStore();
    const codec = new PayloadCodec(blobs);
    const records = JSON.parse(recordsJson(2_000)) as unknown; // 133 KB of JSON, about 13 KB gzipped
    const event = { type: 'ActivityCompleted', taskId: 1, result: records };
    const item = await packBody('ev', [event], [slotOf(event, 'result')], codec, 'order-2');
    expect(blobs.keys()).toEqual([]);
    expect(item.evz?.B).toBeDefined();
    expect(item.evz!.B!.length).toBeLessThanOrEqual(codec.inlineLimitBytes);
    expect(((await unpackBody(item, 'ev', codec)) as Array<{ result: { v: unknown } }>)[0]!.result).toEqual({ v: records });
  });

  it('offloads a whole body with no payload large enough to move', async () => {
    const blobs = new MemoryBlobStore();
    const codec = new PayloadCodec(blobs, { inlineLimitBytes: 1_024 });
    const body = Array.from({ length: 400 }, (_, i) => ({ type: 'TimerFired', taskId: i, note: randomBytes(24).toString('base64') }));
    const item = await packBody('ev', body, [], codec, 'order-3');
    expect(item.evref?.S).toBeDefined();
    expect(await unpackBody(item, 'ev', codec)).toEqual(body);
  });
});
