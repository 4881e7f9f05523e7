import { describe, expect, it } from 'vitest';
import { itemBytes, putUnits, transactionUnits, WritePacer } from '../../lib/aws/write-pacing.js';

/** A clock that moves only when told, and records the waits asked of it. */
function handClock() {
  const clock = { time: 0, waits: [] as number[], now: () => clock.time, sleep: async (ms: number) => void clock.waits.push(ms) };
  return clock;
}

describe('write pacing (one instance, one DynamoDB partition)', () => {
  it('holds back a commit that writes more than the rate allows since its step read', async () => {
    const clock = handClock();
    const pacer = new WritePacer(500, clock);
    pacer.read('i-1');
    clock.time = 40;
    await pacer.beforeWrite('i-1', 100); // 100 units at 500 a second: 200 ms, of which 40 have passed
    expect(clock.waits).toEqual([160]);
  });

  it('paces the commits an invocation makes after one read (inline steps) from one another', async () => {
    const clock = handClock();
    const pacer = new WritePacer(500, clock);
    pacer.read('i-1');
    await pacer.beforeWrite('i-1', 50); // 100 ms' worth: wait for it (the hand clock does not move)
    await pacer.beforeWrite('i-1', 50); // the next 100 ms' worth, after the first
    expect(clock.waits).toEqual([100, 200]);
  });

  it('lets a step that writes little commit at once, and a write without a read (not a step) too', async () => {
    const clock = handClock();
    const pacer = new WritePacer(500, clock);
    pacer.read('i-1');
    clock.time = 20;
    await pacer.beforeWrite('i-1', 5); // 10 ms' worth, and 20 ms have passed
    await pacer.beforeWrite('i-2', 400);
    expect(clock.waits).toEqual([]);
  });

  it('counts write units as DynamoDB does: a unit per started KB, twice in a transaction', () => {
    const item = { PK: { S: 'I#order-1' }, SK: { S: 'H#r0#000000#0000000001' }, ev: { S: 'x'.repeat(2_000) }, last: { N: '12' } };
    expect(itemBytes(item)).toBe(2 + 9 + 2 + 22 + 2 + 2_000 + 4 + 2);
    expect(putUnits(item)).toBe(2);
    expect(transactionUnits([{ Put: { TableName: 't', Item: item } }, { Delete: { TableName: 't', Key: { PK: { S: 'I#order-1' }, SK: { S: 'M#A#0#1' } } } }])).toBe(2 * 2 + 2 * 1);
  });
});
