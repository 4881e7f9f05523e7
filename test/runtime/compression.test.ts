import { createHash, randomBytes } from 'node:crypto';
import { constants, deflateRawSync, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { packBody, unpackBody, type PayloadSlot } from '../../lib/aws/item-packing.js';
import { MemoryBlobStore } from '../../lib/memory/memory-blob-store.js';
import { compress, decompress, deflateWithDictionary, estimateCompression, EVENTS_DICTIONARY, inflateWithDictionary } from '../../lib/runtime/compression.js';
import { EVENTS_DICTIONARY_V1 } from '../../lib/runtime/event-dictionary.js';
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

/** A step's events as the store packs them: an activity's result, the next activity scheduled (the order saga's third step). */
const stepEvents = (orderId: string, timestamp = 1_795_901_198_151) =>
  JSON.stringify([
    { type: 'StepStarted', eventId: 7, timestamp },
    { type: 'ActivityCompleted', taskId: 2, result: { v: { paymentId: `pay-${orderId}`, idempotencyKey: `${orderId}:0:2` } }, eventId: 8, timestamp },
    { type: 'ActivityScheduled', taskId: 3, name: 'packItem', input: { v: { sku: 'book', quantity: 2 } }, attempt: 1, idempotencyKey: `${orderId}:0:3`, eventId: 9, timestamp },
    { type: 'ActivityScheduled', taskId: 4, name: 'packItem', input: { v: { sku: 'lamp', quantity: 25 } }, attempt: 1, idempotencyKey: `${orderId}:0:4`, eventId: 10, timestamp },
  ]);

describe("a step's events deflated with a preset dictionary", () => {
  it('leaves about a third of the JSON, where deflate alone leaves a half, and inflates to the same text', () => {
    const json = Buffer.from(stepEvents('order-7'));
    const deflated = deflateWithDictionary(json, EVENTS_DICTIONARY);
    expect(deflated[0]).toBe(EVENTS_DICTIONARY); // the dictionary's id comes first
    expect(deflated.length).toBeLessThan(json.length * 0.4);
    expect(deflated.length).toBeLessThan(deflateRawSync(json).length * 0.75);
    expect(inflateWithDictionary(deflated).toString()).toBe(json.toString());
    // A body far larger than the 8 KiB window (a codec that compresses only above 64 KiB) round-trips too.
    const large = Buffer.from(JSON.stringify(Array.from({ length: 120 }, (_, i) => JSON.parse(stepEvents(`order-${i}`, 1_795_901_198_151 + i * 977)) as unknown)));
    expect(large.length).toBeGreaterThan(40_000);
    expect(inflateWithDictionary(deflateWithDictionary(large, EVENTS_DICTIONARY)).equals(large)).toBe(true);
  });

  it('is frozen: a body deflated with dictionary 1 must inflate with exactly its bytes in every later Perdure', () => {
    // Changing the dictionary makes every chunk deflated with it unreadable. Add a new one instead (compression.ts).
    expect(createHash('sha256').update(EVENTS_DICTIONARY_V1).digest('hex')).toBe('8dc1735a6c026ee3c291e0633c9a3bcdb27be3fa5fca94699460a5c739f21e6b');
    expect(inflateWithDictionary(Buffer.from('ASOowBDNREtTSwNDQ0sLQ1PDWh388WKMZIwRHmNiAQ==', 'base64')).toString()).toBe(
      '[{"type":"StepStarted","eventId":1,"timestamp":1795901198151},{"type":"TimerFired","taskId":3,"eventId":2,"timestamp":1795901198151}]',
    );
  });

  it("refuses a body deflated with a dictionary it does not know, and says a newer Perdure wrote it", () => {
    const unknown = Buffer.concat([Buffer.of(200), deflateRawSync(Buffer.from('[]'))]);
    expect(() => inflateWithDictionary(unknown)).toThrow(/preset dictionary 200, which this Perdure does not know: a newer Perdure wrote it/);
    expect(() => deflateWithDictionary(Buffer.from('[]'), 200)).toThrow(/No preset dictionary 200/);
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

  it("deflates a small body with the dictionary it is given when that is smaller, and keeps JSON otherwise", async () => {
    const codec = new PayloadCodec(new MemoryBlobStore());
    const events = JSON.parse(stepEvents('order-9')) as unknown;
    const item = await packBody('ev', events, [], codec, 'order-9', EVENTS_DICTIONARY);
    expect(Object.keys(item)).toEqual(['evd']);
    expect(item.evd!.B!.length).toBeLessThan(JSON.stringify(events).length / 2);
    expect(await unpackBody(item, 'ev', codec)).toEqual(events);
    // Too small to gain (the dictionary's id and deflate's end cost more than they save), or no dictionary named.
    expect(await packBody('ev', [], [], codec, 'order-9', EVENTS_DICTIONARY)).toEqual({ ev: { S: '[]' } });
    expect(Object.keys(await packBody('ev', events, [], codec, 'order-9'))).toEqual(['ev']);
    // Above the codec's compression threshold, gzip as before.
    const large = JSON.parse(recordsJson(200)) as unknown;
    expect(Object.keys(await packBody('ev', large, [], codec, 'order-9', EVENTS_DICTIONARY))).toEqual(['evz']);
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
