import { constants, deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import { EVENTS_DICTIONARY_V1 } from './event-dictionary.js';

/**
 * gzip with its effort fitted to the data. Payloads that repeat themselves (JSON, text) get gzip's default
 * level. Payloads that do not (base64 of a PDF, an image, random ids) gain nothing from gzip's search for
 * repeats, which is where its time goes on them (about four times the time for the same size): they get
 * Huffman coding only. The output is plain gzip either way, so readers need not know which it was.
 */

/** Payloads up to this size are gzipped as they are: a sample would cost more than it saves. */
const SAMPLE_ABOVE_BYTES = 32 * 1024;
const SAMPLE_BYTES = 8 * 1024;
/**
 * zlib's sync calls grow their output a chunk at a time (16 KiB by default), and each chunk is another pass
 * through its loop and another copy: sized to the output expected, a large payload takes one or two.
 */
const MIN_CHUNK_BYTES = 16 * 1024;
const MAX_CHUNK_BYTES = 8 * 1024 * 1024;
const chunkFor = (expectedBytes: number) => Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, Math.ceil(expectedBytes)));

/** When the search for repeats shrinks the sample less than this much more than Huffman coding alone does, it is skipped. */
const REPEATS_MIN_GAIN = 0.9;

export interface CompressionEstimate {
  /** Compressed size over size, as the sample showed (none for data too small to sample). */
  ratio?: number;
  /** The search for repeats pays (gzip's default level); otherwise Huffman coding only. */
  repeats: boolean;
}

/** What gzip would make of `data`, judged from a sample in its middle (cheap: a few percent of gzipping it). */
export function estimateCompression(data: Buffer): CompressionEstimate {
  if (data.length <= SAMPLE_ABOVE_BYTES) return { repeats: true };
  const start = Math.floor((data.length - SAMPLE_BYTES) / 2);
  const sample = data.subarray(start, start + SAMPLE_BYTES);
  const searched = gzipSync(sample, { level: 1 }).length;
  const huffman = gzipSync(sample, { strategy: constants.Z_HUFFMAN_ONLY }).length;
  const repeats = searched < huffman * REPEATS_MIN_GAIN;
  return { ratio: Math.min(searched, huffman) / sample.length, repeats };
}

/**
 * False when the sample says `bytes` bytes cannot fit in `limit` even gzipped (twice the limit leaves room for
 * the sample's error): gzipping them to find out would be in vain.
 */
export function mayFitCompressed(bytes: number, estimate: CompressionEstimate, limit: number): boolean {
  return estimate.ratio === undefined || bytes * estimate.ratio <= limit * 2;
}

/** gzips `data` (a JSON text, or its bytes), with the effort its estimate calls for (see above). */
export function compress(data: string | Buffer, estimate?: CompressionEstimate): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const { repeats, ratio } = estimate ?? estimateCompression(bytes);
  return gzipSync(bytes, { ...(repeats ? {} : { strategy: constants.Z_HUFFMAN_ONLY }), chunkSize: chunkFor(bytes.length * (ratio ?? 1) * 1.05) });
}

/** True when `data` starts as gzip does (its magic bytes: no JSON text starts with them). */
export function isGzip(data: Uint8Array): boolean {
  return data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
}

/** gunzips `zipped`; `expectedBytes` (the size before gzip, when known) sizes zlib's output chunks. */
export function decompress(zipped: Uint8Array, expectedBytes = zipped.length * 4): Buffer {
  return gunzipSync(zipped, { chunkSize: chunkFor(expectedBytes) });
}

/** The dictionary that `deflateWithDictionary` primes deflate with for a step's events. */
export const EVENTS_DICTIONARY = 1;

/**
 * Preset dictionaries by the id a deflated body starts with. An id, once written, is read for good: a new
 * dictionary takes a new id, and none is ever changed or removed.
 */
const PRESET_DICTIONARIES: ReadonlyMap<number, Buffer> = new Map([[EVENTS_DICTIONARY, Buffer.from(EVENTS_DICTIONARY_V1)]]);
/**
 * The window of these deflate streams: 8 KiB, past the dictionary and the small bodies it is for, and every
 * reader's too (raw deflate does not record it). zlib's default of 32 KiB costs an inflate three times the
 * time (its window allocated and cleared for a few hundred bytes).
 */
const PRESET_WINDOW_BITS = 13;

/**
 * Raw deflate of `data`, primed with a preset dictionary: what small JSON that shares its vocabulary with the
 * dictionary compresses best with (a step's events: a third of their size, where gzip leaves a half). The
 * dictionary's id comes first, so a reader knows which one to inflate with.
 */
export function deflateWithDictionary(data: Buffer, dictionary: number): Buffer {
  const preset = PRESET_DICTIONARIES.get(dictionary);
  if (!preset) throw new Error(`No preset dictionary ${dictionary}.`);
  return Buffer.concat([Buffer.of(dictionary), deflateRawSync(data, { dictionary: preset, windowBits: PRESET_WINDOW_BITS })]);
}

/** The data `deflateWithDictionary` deflated. */
export function inflateWithDictionary(deflated: Uint8Array): Buffer {
  const preset = PRESET_DICTIONARIES.get(deflated[0] ?? -1);
  if (!preset) {
    throw new Error(`This body was deflated with preset dictionary ${deflated[0]}, which this Perdure does not know: a newer Perdure wrote it. Deploy that version (or newer) to read it.`);
  }
  return inflateRawSync(deflated.subarray(1), { dictionary: preset, windowBits: PRESET_WINDOW_BITS });
}
