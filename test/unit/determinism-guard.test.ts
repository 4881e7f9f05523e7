import { beforeAll, describe, expect, it, vi } from 'vitest';
import { runGuarded, type GuardedExecution } from '../../lib/core/determinism-guard.js';
import { DeterminismViolationError } from '../../lib/core/errors.js';

// Made before the guard is installed (it installs on the first runGuarded call).
const dateBeforeInstall = new Date();

const FAKE_NOW = 1_000_000_000_000; // 2001-09-09
const FAKE_UUID = '00000000-0000-4000-8000-000000000000';

function fakeExecution(now = FAKE_NOW, random = 0.25) {
  const forbidden = vi.fn((api: string, advice: string) => new DeterminismViolationError(`${api} is not allowed: ${advice}`));
  const execution: GuardedExecution = { now: () => now, random: () => random, uuid: () => FAKE_UUID, forbidden };
  return { execution, forbidden };
}

/** The wall clock, read without Date. */
function realNow(): number {
  return performance.timeOrigin + performance.now();
}

function readClockAndRandom() {
  return { now: Date.now(), date: new Date().getTime(), random: Math.random(), uuid: crypto.randomUUID() };
}

const fakeValues = { now: FAKE_NOW, date: FAKE_NOW, random: 0.25, uuid: FAKE_UUID };

describe('runGuarded', () => {
  beforeAll(() => {
    runGuarded(fakeExecution().execution, () => undefined);
  });

  it("returns the execution's time, random number and uuid from Date.now, new Date, Math.random and crypto.randomUUID", () => {
    expect(runGuarded(fakeExecution().execution, readClockAndRandom)).toEqual(fakeValues);
  });

  it("keeps returning the execution's values after awaited continuations", async () => {
    const seen = await runGuarded(fakeExecution().execution, async () => {
      await Promise.resolve();
      const first = readClockAndRandom();
      await new Promise<void>((resolve) => setImmediate(resolve));
      return [first, readClockAndRandom()];
    });
    expect(seen).toEqual([fakeValues, fakeValues]);
  });

  it('returns its own values to each of two interleaved executions', async () => {
    const run = (now: number) =>
      runGuarded(fakeExecution(now).execution, async () => {
        const times = [Date.now()];
        for (let i = 0; i < 3; i++) {
          await Promise.resolve();
          times.push(new Date().getTime());
        }
        return times;
      });
    expect(await Promise.all([run(1), run(2)])).toEqual([
      [1, 1, 1, 1],
      [2, 2, 2, 2],
    ]);
  });

  it("gives Date() called without new the execution's time as a string", () => {
    expect(runGuarded(fakeExecution().execution, () => Date())).toBe(new Date(FAKE_NOW).toString());
  });

  it('leaves new Date with arguments, Date.UTC and Date.parse unaffected', () => {
    const seen = runGuarded(fakeExecution().execution, () => [
      new Date(0).getTime(),
      new Date('2020-01-01T00:00:00Z').getTime(),
      new Date(2020, 0, 1).getFullYear(),
      Date.UTC(2020, 0, 1),
      Date.parse('2020-01-01T00:00:00Z'),
    ]);
    expect(seen).toEqual([0, 1_577_836_800_000, 2020, 1_577_836_800_000, 1_577_836_800_000]);
  });

  it('keeps dates made outside instances of Date inside, and dates made inside instances of Date outside', () => {
    const outside = new Date();
    const { insideChecks, inside } = runGuarded(fakeExecution().execution, () => ({
      insideChecks: [outside instanceof Date, dateBeforeInstall instanceof Date],
      inside: new Date(),
    }));
    expect(insideChecks).toEqual([true, true]);
    expect(inside).toBeInstanceOf(Date);
    expect(inside.toISOString()).toBe('2001-09-09T01:46:40.000Z');
  });

  it.each([
    ['setTimeout', () => setTimeout(() => undefined, 1), /ctx\.sleep/],
    ['setInterval', () => setInterval(() => undefined, 1), /ctx\.sleep/],
    ['fetch', () => fetch('http://127.0.0.1:9/'), /ctx\.callActivity/],
  ])('throws the error returned by forbidden when %s is called', (api, call, advice) => {
    const { execution, forbidden } = fakeExecution();
    let thrown: unknown;
    runGuarded(execution, () => {
      try {
        void call();
      } catch (error) {
        thrown = error;
      }
    });
    expect(forbidden).toHaveBeenCalledTimes(1);
    expect(forbidden).toHaveBeenCalledWith(api, expect.stringMatching(advice));
    expect(thrown).toBe(forbidden.mock.results[0]!.value);
  });

  it('throws the forbidden error for setTimeout after an awaited continuation too', async () => {
    const { execution, forbidden } = fakeExecution();
    const attempt = runGuarded(execution, async () => {
      await Promise.resolve();
      setTimeout(() => undefined, 1);
    });
    await expect(attempt).rejects.toThrow(DeterminismViolationError);
    expect(forbidden).toHaveBeenCalledWith('setTimeout', expect.any(String));
  });

  it('returns the real time, randomness and uuids outside, after a guarded run', () => {
    runGuarded(fakeExecution().execution, () => Date.now());
    const seen = readClockAndRandom();
    expect(Math.abs(seen.now - realNow())).toBeLessThan(1_000);
    expect(Math.abs(seen.date - realNow())).toBeLessThan(1_000);
    expect(seen.uuid).not.toBe(FAKE_UUID);
    expect(new Set([Math.random(), Math.random(), Math.random()]).size).toBe(3);
  });

  it('returns real values to code started before a guarded run that continues while it runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const outside = (async () => {
      await gate;
      return readClockAndRandom();
    })();
    const guarded = runGuarded(fakeExecution().execution, async () => {
      release();
      await Promise.resolve();
      await Promise.resolve();
      return Date.now();
    });
    const [seen, guardedNow] = await Promise.all([outside, guarded]);
    expect(guardedNow).toBe(FAKE_NOW);
    expect(Math.abs(seen.now - realNow())).toBeLessThan(1_000);
    expect(Math.abs(seen.date - realNow())).toBeLessThan(1_000);
    expect(seen.random).not.toBe(0.25);
    expect(seen.uuid).not.toBe(FAKE_UUID);
  });

  it('lets setTimeout work outside a guarded run, even while one is in progress', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const guarded = runGuarded(fakeExecution().execution, async () => {
      await gate;
      return Date.now();
    });
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
    release();
    expect(await guarded).toBe(FAKE_NOW);
  });

  it('keeps Date looking like Date', () => {
    runGuarded(fakeExecution().execution, () => undefined);
    expect([Date.name, Date.length, typeof Date.now, Object.prototype.toString.call(new Date())]).toEqual(['Date', 7, 'function', '[object Date]']);
  });
});
