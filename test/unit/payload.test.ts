import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/core/errors.js';
import { inlinePayloads, toJsonPayload } from '../../lib/core/payload.js';

describe('toJsonPayload', () => {
  it('returns an equal copy, so mutating the copy leaves the original unchanged', () => {
    const original = { order: { id: 'o-1', items: [{ sku: 'a', qty: 1 }] }, tags: ['x'] };
    const copy = toJsonPayload(original, 'input') as typeof original;
    expect(copy).toEqual(original);
    expect(copy).not.toBe(original);
    copy.order.items[0]!.qty = 99;
    copy.tags.push('y');
    expect(original).toEqual({ order: { id: 'o-1', items: [{ sku: 'a', qty: 1 }] }, tags: ['x'] });
  });

  it.each([['text'], [42], [true], [null], [[1, 'two', null]]])('passes the JSON value %j through', (value) => {
    expect(toJsonPayload(value, 'input')).toEqual(value);
  });

  it('keeps undefined as undefined', () => {
    expect(toJsonPayload(undefined, 'input')).toBeUndefined();
  });

  it('turns values into what a JSON round trip gives (dates to strings, undefined fields dropped)', () => {
    expect(toJsonPayload({ at: new Date(0), missing: undefined, nan: Number.NaN }, 'input')).toEqual({ at: '1970-01-01T00:00:00.000Z', nan: null });
  });

  it('rejects a BigInt with a ValidationError naming what was passed', () => {
    const convert = () => toJsonPayload({ amount: 10n }, "result of activity 'charge'");
    expect(convert).toThrow(ValidationError);
    expect(convert).toThrow(/^The result of activity 'charge' is not JSON-serializable \(.*BigInt.*\): pass plain data/);
  });

  it('rejects a circular value with a ValidationError naming what was passed', () => {
    const value: Record<string, unknown> = { name: 'loop' };
    value.self = value;
    const convert = () => toJsonPayload(value, 'input of orchestration');
    expect(convert).toThrow(ValidationError);
    expect(convert).toThrow(/^The input of orchestration is not JSON-serializable \(.*circular.*\): pass plain data/s);
  });
});

describe('inlinePayloads', () => {
  it('returns the stored value itself', () => {
    const stored = { a: 1 };
    expect(inlinePayloads(stored)).toBe(stored);
  });
});
