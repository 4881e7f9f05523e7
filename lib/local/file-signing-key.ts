import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallbackSigningKeys } from '../ports.js';

/** The file in the data folder that holds the local stack's callback signing key. */
export const SIGNING_KEY_FILE = 'callback-signing.key';

/**
 * The local stack's callback signing key: 32 random bytes made on the first start and kept in
 * `<dataDir>/callback-signing.key` (readable by this user only), so signed URLs outlive a restart. Delete
 * the file to make a new key, which invalidates every URL signed before. Without a data folder the key
 * lives in memory.
 */
export function fileSigningKeys(dataDir?: string): CallbackSigningKeys {
  const key = dataDir === undefined ? randomBytes(32) : readOrCreate(join(dataDir, SIGNING_KEY_FILE));
  return { current: async () => key, all: async () => [key] };
}

function readOrCreate(file: string): Buffer {
  try {
    // 'wx': only the first start writes it, and never over a key another start just wrote.
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
  if (key.length < 32) throw new Error(`${file} holds no valid callback signing key (expected 32 random bytes, base64url): delete it and start again to make a new one.`);
  return key;
}
