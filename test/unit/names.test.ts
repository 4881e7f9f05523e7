import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/core/errors.js';
import { validateEventName, validateInstanceId, validateName } from '../../lib/core/names.js';

// Samples every validator must refuse: storage keys and URL segments must not carry them.
const UNSAFE: [string, unknown][] = [
  ['empty', ''],
  ['a slash', 'a/b'],
  ['a backslash', 'a\\b'],
  ['a newline', 'a\nb'],
  ['a trailing newline', 'ab\n'],
  ['a NUL character', 'a\u0000b'],
  ['a Cherokee lookalike of A', 'Ꭺbc'],
  ['a Cyrillic lookalike of a', 'аbc'],
  ['a zero-width space', 'ab\u200bc'],
  ['a space', 'a b'],
  ['a leading dash', '-abc'],
  ['a number', 42],
  ['null', null],
];

describe('validateInstanceId', () => {
  it.each(['order-1', '1', 'A.b:c@d_e-f', '0rder'])('accepts the instance id %j and returns it', (id) => {
    expect(validateInstanceId(id)).toBe(id);
  });

  it.each([...UNSAFE, ['201 characters', 'x'.repeat(201)], ['a leading dot', '.abc']])('rejects an instance id with %s', (_label, id) => {
    expect(() => validateInstanceId(id)).toThrow(ValidationError);
    expect(() => validateInstanceId(id)).toThrow(/^Invalid instance id .*: use 1–200 characters of letters, digits and _ \. : @ -, starting with a letter or digit\.$/s);
  });

  it('accepts an instance id of exactly 200 characters', () => {
    expect(validateInstanceId('x'.repeat(200))).toHaveLength(200);
  });

  it('shows a 10 KB id cut to 60 characters, followed by its length', () => {
    expect(() => validateInstanceId('x'.repeat(10_240))).toThrow(`Invalid instance id "${'x'.repeat(60)}"... (10240 characters): use`);
  });

  it('shows a short rejected id in full, as JSON', () => {
    expect(() => validateInstanceId('a/b')).toThrow('Invalid instance id "a/b": use');
  });

  it('rejects a BigInt with a ValidationError instead of crashing while describing it', () => {
    expect(() => validateInstanceId(1n)).toThrow(ValidationError);
  });
});

describe('validateName', () => {
  it.each(['chargeCard', 'a', 'Order.v2_final-1'])('accepts the name %j', (name) => {
    expect(validateName(name, 'activity name')).toBe(name);
  });

  it.each([...UNSAFE, ['a leading digit', '1st'], ['a colon', 'a:b'], ['an at sign', 'a@b'], ['101 characters', 'x'.repeat(101)]])('rejects a name with %s', (_label, name) => {
    expect(() => validateName(name, 'orchestration name')).toThrow(ValidationError);
    expect(() => validateName(name, 'orchestration name')).toThrow(/^Invalid orchestration name .*: use a letter followed by up to 99 letters, digits and _ \. -$/s);
  });

  it('accepts a name of exactly 100 characters', () => {
    expect(validateName('x'.repeat(100), 'orchestration name')).toHaveLength(100);
  });

  it('says which kind of name was rejected', () => {
    expect(() => validateName('1st', 'activity name')).toThrow('Invalid activity name "1st"');
  });
});

describe('validateEventName', () => {
  it.each(['approved', '1st-reminder', 'approval:step-2', 'a.b_c'])('accepts the event name %j', (name) => {
    expect(validateEventName(name)).toBe(name);
  });

  it('accepts an event name of exactly 100 characters', () => {
    expect(validateEventName('x'.repeat(100))).toHaveLength(100);
  });

  it.each([...UNSAFE, ['an at sign', 'a@b'], ['101 characters', 'x'.repeat(101)]])('rejects an event name with %s', (_label, name) => {
    expect(() => validateEventName(name)).toThrow(ValidationError);
    expect(() => validateEventName(name)).toThrow(/^Invalid event name .*: use 1–100 characters of letters, digits and _ \. : -, starting with a letter or digit\.$/s);
  });
});
