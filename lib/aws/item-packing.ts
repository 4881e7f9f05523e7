import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { compress, decompress, deflateWithDictionary, estimateCompression, inflateWithDictionary, mayFitCompressed } from '../runtime/compression.js';
import type { PayloadCodec } from '../runtime/payload-codec.js';

/**
 * Items whose body (a step's events, an instance record) is stored as one unit: JSON as a string while it
 * is small (or, when the caller names a preset dictionary, deflated with it, if that is smaller), gzipped
 * bytes (a DynamoDB binary) above the codec's compression threshold, and, when even the
 * compressed body would pass the codec's inline limit, with its largest payloads moved to S3 one by one
 * (the whole body last). So the bytes stored, not the JSON's size, decide what leaves the item, and a
 * payload is compressed once, with its neighbours, instead of base64-encoded inside JSON.
 */

type Item = Record<string, AttributeValue>;

/** A payload field of the body, `{ v: value }`, that may be moved to the blob store. */
export interface PayloadSlot {
  holder: Record<string, unknown>;
  field: string;
}

/** Replaces each payload field by its form inside a packed item (the value, or its reference) and returns the slots. */
export async function inlineFields(holder: Record<string, unknown>, fields: readonly string[], codec: PayloadCodec, instanceId: string): Promise<PayloadSlot[]> {
  const slots: PayloadSlot[] = [];
  for (const field of fields) {
    if (holder[field] === undefined) continue;
    holder[field] = await codec.inline(holder[field], instanceId);
    if ('v' in (holder[field] as object)) slots.push({ holder, field });
  }
  return slots;
}

/**
 * The attributes that hold `body` under `name`: `<name>` (JSON), `<name>d` (deflated with the preset
 * `dictionary`: small bodies only), `<name>z` (gzip) or `<name>ref` (a reference to the body in the blob store).
 */
export async function packBody(name: string, body: unknown, slots: PayloadSlot[], codec: PayloadCodec, instanceId: string, dictionary?: number): Promise<Item> {
  const pending = [...slots];
  // Each payload's JSON is made once, however many rounds it stays in the body.
  const texts = new Map<PayloadSlot, string>();
  const textOf = (slot: PayloadSlot) => {
    let text = texts.get(slot);
    if (text === undefined) texts.set(slot, (text = JSON.stringify((slot.holder[slot.field] as { v: unknown }).v) ?? ''));
    return text;
  };
  // A payload that cannot fit even compressed (its sample says so) leaves first: the body is then not turned
  // into JSON with it inside, only to find it too big (a 300 KB invoice: its JSON made, copied and sampled twice).
  for (let i = pending.length - 1; i >= 0; i--) {
    const slot = pending[i]!;
    if (jsonLengthAtLeast((slot.holder[slot.field] as { v: unknown }).v, codec.inlineLimitBytes * 4) <= codec.inlineLimitBytes * 4) continue;
    const bytes = Buffer.from(textOf(slot));
    if (mayFitCompressed(bytes.length, estimateCompression(bytes), codec.inlineLimitBytes)) continue;
    pending.splice(i, 1);
    slot.holder[slot.field] = await codec.offload((slot.holder[slot.field] as { v: unknown }).v, instanceId, textOf(slot), bytes);
  }
  for (;;) {
    const json = JSON.stringify(body);
    const bytes = Buffer.from(json);
    if (bytes.length <= codec.compressAboveBytes) {
      if (dictionary === undefined) return { [name]: { S: json } };
      const deflated = deflateWithDictionary(bytes, dictionary);
      return deflated.length < bytes.length ? { [`${name}d`]: { B: deflated } } : { [name]: { S: json } };
    }
    // A body that its sample says cannot fit even compressed (twice the limit leaves room for the sample's
    // error) is not gzipped in vain: a large payload's bytes are often most of it, and gzip's time with them.
    const estimate = estimateCompression(bytes);
    if (mayFitCompressed(bytes.length, estimate, codec.inlineLimitBytes)) {
      const zipped = compress(bytes, estimate);
      if (zipped.length <= codec.inlineLimitBytes) return { [`${name}z`]: { B: zipped } };
    }
    // Too big even compressed: move the largest payload still inline to the blob store, and try again.
    const sizes = pending.map((slot) => textOf(slot).length);
    const largest = sizes.indexOf(Math.max(...sizes));
    if (largest < 0 || sizes[largest]! < 1_024) {
      const { ref } = await codec.offload(body, instanceId, json);
      return { [`${name}ref`]: { S: JSON.stringify(ref) } };
    }
    const [slot] = pending.splice(largest, 1);
    slot!.holder[slot!.field] = await codec.offload((slot!.holder[slot!.field] as { v: unknown }).v, instanceId, textOf(slot!));
  }
}

/**
 * At least how long `value`'s JSON is, counted until it passes `limit`: its strings' lengths, a few characters
 * for anything else. Cheap (no JSON made): it tells a payload that may be large from one that cannot be.
 */
function jsonLengthAtLeast(value: unknown, limit: number): number {
  let length = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && length <= limit) {
    const next = stack.pop();
    if (typeof next === 'string') length += next.length + 2;
    else if (next !== null && typeof next === 'object') {
      const children = Array.isArray(next) ? next : Object.values(next);
      length += 2 + children.length;
      for (const child of children) stack.push(child);
    } else length += 4;
  }
  return length;
}

/** The body `packBody` stored under `name`, or undefined when the item has none. */
export async function unpackBody(item: Item, name: string, codec: PayloadCodec): Promise<unknown> {
  if (item[name]?.S !== undefined) return JSON.parse(item[name].S) as unknown;
  const deflated = item[`${name}d`]?.B;
  if (deflated !== undefined) return JSON.parse(inflateWithDictionary(deflated).toString()) as unknown;
  const zipped = item[`${name}z`]?.B;
  if (zipped !== undefined) return JSON.parse(decompress(zipped).toString()) as unknown;
  const ref = item[`${name}ref`]?.S;
  if (ref !== undefined) return codec.decode({ ref: JSON.parse(ref) as never });
  return undefined;
}

/** True when the item holds a body under `name` in any of its forms. */
export function hasBody(item: Item, name: string): boolean {
  return item[name] !== undefined || item[`${name}d`] !== undefined || item[`${name}z`] !== undefined || item[`${name}ref`] !== undefined;
}
