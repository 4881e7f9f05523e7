import type { AttributeValue, TransactWriteItem } from '@aws-sdk/client-dynamodb';

type Item = Record<string, AttributeValue>;

/**
 * Keeps one instance's writes under a rate its DynamoDB partition can take (1,000 write units a second).
 * An instance's steps never overlap (the FIFO queue delivers one batch of its doorbells at a time), and a
 * step reads before it commits, in the same process: so a commit of W units that waits until W/rate
 * seconds after its step's read keeps the instance at `rate` or below, whichever function ran each step.
 * A step small enough (most are: a few units) never waits, because its own read and replay take longer.
 */
export class WritePacer {
  private readonly readAt = new Map<string, number>();

  constructor(
    private readonly unitsPerSecond: number,
    private readonly clock: { now(): number; sleep(ms: number): Promise<void> } = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) },
  ) {}

  /** A step of the instance read its state now: its writes are paced from here. */
  read(key: string): void {
    // Steps that read and never commit (nothing to do) leave entries behind: forget them all now and then.
    if (this.readAt.size >= 10_000) this.readAt.clear();
    this.readAt.set(key, this.clock.now());
  }

  /**
   * Waits until `units` fit the rate since the step's read, or since the invocation's previous commit (inline
   * steps commit several times after one read); at once when neither happened in this process.
   */
  async beforeWrite(key: string, units: number): Promise<void> {
    const since = this.readAt.get(key);
    if (since === undefined) return;
    const wait = (units / this.unitsPerSecond) * 1000 - (this.clock.now() - since);
    if (wait > 0) await this.clock.sleep(Math.ceil(wait));
    this.readAt.set(key, Math.max(this.clock.now(), since + (units / this.unitsPerSecond) * 1000));
  }
}

/** An item's size as DynamoDB counts it: each attribute's name (UTF-8) and value. */
export function itemBytes(item: Item): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) bytes += Buffer.byteLength(name) + valueBytes(value);
  return bytes;
}

/** An attribute value's size as DynamoDB counts it. */
export function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return Math.ceil(value.N.replace(/^-/, '').replace('.', '').replace(/^0+/, '').length / 2) + 1;
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L) return 3 + value.L.reduce((sum, entry) => sum + 1 + valueBytes(entry), 0);
  if (value.M) return 3 + Object.entries(value.M).reduce((sum, [key, entry]) => sum + Buffer.byteLength(key) + 1 + valueBytes(entry), 0);
  return 0;
}

/** Write units of a put: one per started KB. */
export function putUnits(item: Item): number {
  return Math.max(1, Math.ceil(itemBytes(item) / 1024));
}

/** Write units of a transaction: twice each item's (deletes and condition checks count as one item of up to 1 KB). */
export function transactionUnits(items: TransactWriteItem[]): number {
  return items.reduce((sum, entry) => sum + 2 * (entry.Put ? putUnits(entry.Put.Item!) : 1), 0);
}
