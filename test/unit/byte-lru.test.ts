import { describe, expect, it } from 'vitest';
import { ByteLru } from '../../lib/local/byte-lru.js';

const bytes = (size: number, fill = 1) => Buffer.alloc(size, fill);

describe('ByteLru (the local S3 store cache)', () => {
  it('never holds more bytes than its budget: the least recently used go first', () => {
    const cache = new ByteLru(100);
    cache.set('a', bytes(25));
    cache.set('b', bytes(25));
    cache.set('c', bytes(25));
    cache.get('a'); // used: b is now the oldest
    cache.set('d', bytes(25));
    cache.set('e', bytes(25));
    expect(cache.bytes).toBe(100);
    expect(['a', 'b', 'c', 'd', 'e'].map((key) => cache.get(key) !== undefined)).toEqual([true, false, true, true, true]);
  });

  it('does not keep a buffer over a quarter of its budget, so one large object cannot empty it', () => {
    const cache = new ByteLru(100);
    cache.set('small', bytes(10));
    cache.set('large', bytes(26));
    expect(cache.get('large')).toBeUndefined();
    expect(cache.get('small')).toEqual(bytes(10));
  });

  it('replaces a key and forgets a deleted one, counting bytes exactly', () => {
    const cache = new ByteLru(100);
    cache.set('a', bytes(20, 1));
    cache.set('a', bytes(10, 2));
    expect(cache.get('a')).toEqual(bytes(10, 2));
    expect(cache.bytes).toBe(10);
    cache.delete('a');
    cache.delete('missing');
    expect(cache.bytes).toBe(0);
    expect(cache.get('a')).toBeUndefined();
  });

  it('keeps nothing with a budget of 0', () => {
    const cache = new ByteLru(0);
    cache.set('a', bytes(1));
    expect(cache.get('a')).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });
});
