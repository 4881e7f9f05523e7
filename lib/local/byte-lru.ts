/**
 * Buffers by key, least recently used out first, within a budget of bytes. A buffer larger than a
 * quarter of the budget is not kept: one large object must not push out everything else.
 */
export class ByteLru {
  private readonly entries = new Map<string, Buffer>();
  private used = 0;

  constructor(private readonly maxBytes: number) {}

  /** The bytes held now (never more than the budget). */
  get bytes(): number {
    return this.used;
  }

  get(key: string): Buffer | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: string, value: Buffer): void {
    this.delete(key);
    if (value.length > this.maxBytes / 4) return;
    this.entries.set(key, value);
    this.used += value.length;
    while (this.used > this.maxBytes) this.delete(this.entries.keys().next().value!);
  }

  delete(key: string): void {
    const value = this.entries.get(key);
    if (value === undefined) return;
    this.entries.delete(key);
    this.used -= value.length;
  }
}
