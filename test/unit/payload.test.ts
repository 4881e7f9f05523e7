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

  it('gives exactly what a JSON round trip gives, for plain data and for what is not', () => {
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 2, a: 1 });
    class Point {
      constructor(readonly x: number, readonly y: number) {}
    }
    const values: unknown[] = [
      { z: 1, a: [1, 2, { b: null }], 10: 'ten', 2: 'two', nested: { deep: { deeper: ['x'] } } },
      { negativeZero: -0, nan: Number.NaN, infinite: -Infinity, list: [-0, Number.NaN, undefined, () => 1, Symbol('s')] },
      { dropped: undefined, fn: () => 1, symbol: Symbol('s'), kept: false },
      JSON.parse('{"__proto__": {"polluted": true}, "after": 1}'),
      sparse,
      bare,
      { lone: 'a\ud800b', emoji: '😀', quote: '"\\' },
      { at: new Date(0), inside: [new Date(1)] },
      { point: new Point(1, 2), map: new Map([[1, 2]]), typed: new Uint8Array([1, 2]) },
      { custom: { toJSON: () => 'custom' } },
      [[[[[]]]]],
      '',
      0,
    ];
    for (const value of values) {
      const copy = toJsonPayload(value, 'input');
      const roundTrip = JSON.parse(JSON.stringify(value)) as unknown;
      expect(copy).toStrictEqual(roundTrip);
      expect(JSON.stringify(copy)).toBe(JSON.stringify(roundTrip)); // the same keys in the same order
    }
    const fromProto = toJsonPayload(JSON.parse('{"__proto__": {"polluted": true}}'), 'input') as Record<string, unknown>;
    expect(Object.getPrototypeOf(fromProto)).toBe(Object.prototype);
    expect(Object.keys(fromProto)).toEqual(['__proto__']);
    expect(Object.is((toJsonPayload({ n: -0 }, 'input') as { n: number }).n, 0)).toBe(true);
  });

  it('copies plain data nested deeper than its own limit through JSON, and reports a getter that throws as JSON would', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 2_000; i++) deep = [deep];
    expect(JSON.stringify(toJsonPayload(deep, 'input'))).toBe(JSON.stringify(deep));
    const trap = { get broken(): never { throw new Error('no access'); } };
    expect(() => toJsonPayload(trap, 'input')).toThrow(/^The input is not JSON-serializable \(no access\)/);
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
