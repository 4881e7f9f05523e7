import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * DynamoDB capacity, by DynamoDB's rules, from the requests a client sends (SDK middleware):
 * - a write is 1 WRU per started KB of the item (the larger of the old and the new item); inside
 *   TransactWriteItems every action (Put, Delete, ConditionCheck) is 2 WRU per started KB, and a
 *   conditional write that fails still consumes its units;
 * - a strongly consistent read is 1 RRU per started 4 KB, summed over the items a Query returns;
 * - the byStatus index (keys status, createdAt; projects name) is written only when a write of META
 *   changes one of those: a new status deletes the old entry and puts the new one (two small writes,
 *   doubled inside a transaction as DynamoDB Local reports it).
 */

type Item = Record<string, AttributeValue>;
const KB = 1024;

/** An item's size as DynamoDB counts it: each attribute's name (UTF-8) plus its value. */
export function itemBytes(item: Item): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + valueBytes(value), 0);
}

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  if (value.NS) return value.NS.reduce((sum, n) => sum + numberBytes(n), 0);
  if (value.BS) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  if (value.L) return 3 + value.L.reduce((sum, v) => sum + 1 + valueBytes(v), 0);
  if (value.M) return 3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + 1 + valueBytes(v), 0);
  return 0;
}

/** Numbers: about one byte per two significant digits, plus one. */
function numberBytes(n: string): number {
  const digits = n.replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
  return Math.ceil(Math.max(1, digits) / 2) + 1;
}

const kb = (bytes: number) => Math.max(1, Math.ceil(bytes / KB));

/** What a client's requests consumed, estimated from the items they carried. */
export interface CapacityMeter {
  /** Write units of the table and of the byStatus index. */
  wru: { table: number; index: number };
  rru: number;
  /** The largest item written, by kind of sort key. */
  largest: { meta: number; history: number; inbox: number; other: number };
  reset(): void;
}

/** Estimates the capacity every request of `client` consumes. */
export function meterCapacity(client: DynamoDBClient): CapacityMeter {
  const known = new Map<string, Item>();
  const keyOf = (item: Item) => `${item.PK?.S}|${item.SK?.S}`;
  const meter: CapacityMeter = {
    wru: { table: 0, index: 0 },
    rru: 0,
    largest: { meta: 0, history: 0, inbox: 0, other: 0 },
    reset() {
      this.wru = { table: 0, index: 0 };
      this.rru = 0;
      this.largest = { meta: 0, history: 0, inbox: 0, other: 0 };
    },
  };
  const write = (item: Item, factor: number, written = true) => {
    const old = known.get(keyOf(item));
    const size = itemBytes(item);
    meter.wru.table += factor * kb(Math.max(size, old ? itemBytes(old) : 0));
    const sk = item.SK?.S ?? '';
    const kind = sk === 'META' ? 'meta' : sk.startsWith('H#') ? 'history' : sk.startsWith('M#') ? 'inbox' : 'other';
    meter.largest[kind] = Math.max(meter.largest[kind], size);
    if (kind === 'meta') {
      const entry = (of: Item): Item => ({ PK: of.PK!, SK: of.SK!, status: of.status!, createdAt: of.createdAt!, name: of.name! });
      const moved = old && (old.status?.S !== item.status?.S || old.createdAt?.N !== item.createdAt?.N);
      if (!old || moved || old.name?.S !== item.name?.S) meter.wru.index += factor * (moved ? kb(itemBytes(entry(old))) + kb(itemBytes(entry(item))) : kb(itemBytes(entry(item))));
    }
    if (written) known.set(keyOf(item), item);
  };
  const touch = (key: Item, factor: number, remove: boolean) => {
    meter.wru.table += factor * kb(itemBytes(known.get(keyOf(key)) ?? {}));
    if (remove) known.delete(keyOf(key));
  };
  /**
   * UpdateItem: the new item is the old one with the SET attributes (a `list_append` adds to the list) and
   * without the REMOVE ones (enough for the records and markers this store updates).
   */
  const updated = (input: { Key: Item; ExpressionAttributeValues?: Item; ExpressionAttributeNames?: Record<string, string>; UpdateExpression?: string }): Item => {
    const next: Item = { ...(known.get(keyOf(input.Key)) ?? input.Key) };
    const nameOf = (token: string) => (token.startsWith('#') ? (input.ExpressionAttributeNames?.[token] ?? token) : token);
    const [sets = '', removals = ''] = (input.UpdateExpression ?? '').split(/\bREMOVE\b/);
    for (const [, name, append, value] of sets.matchAll(/(#?\w+) = (?:(list_append)\(#?\w+, )?(:\w+)/g)) {
      const attribute = nameOf(name!);
      const assigned = input.ExpressionAttributeValues?.[value!];
      if (assigned) next[attribute] = append ? { L: [...(next[attribute]?.L ?? []), ...(assigned.L ?? [])] } : assigned;
    }
    for (const token of removals.split(',').map((part) => part.trim()).filter(Boolean)) delete next[nameOf(token)];
    return next;
  };
  (client.middlewareStack as { add: (mw: unknown, options: unknown) => void }).add(
    (next: (args: { input: any }) => Promise<{ output: any }>, context: { commandName?: string }) => async (args: { input: any }) => {
      const op = (context.commandName ?? '').replace(/Command$/, '');
      const input = args.input;
      let result: { output: any } | undefined;
      try {
        result = await next(args);
        return result;
      } finally {
        // A conditional write that fails still consumes its capacity.
        const ok = result !== undefined;
        if (op === 'TransactWriteItems') {
          for (const action of input.TransactItems as any[]) {
            if (action.Put) write(action.Put.Item, 2, ok);
            else if (action.Update) write(updated(action.Update), 2, ok);
            else if (action.Delete) touch(action.Delete.Key, 2, ok);
            else if (action.ConditionCheck) touch(action.ConditionCheck.Key, 2, false);
          }
        } else if (op === 'PutItem') write(input.Item, 1, ok);
        else if (op === 'UpdateItem') write(updated(input), 1, ok);
        else if (op === 'DeleteItem') touch(input.Key, 1, true);
        else if (op === 'BatchWriteItem') {
          for (const requests of Object.values<any[]>(input.RequestItems)) {
            for (const r of requests) {
              if (r.PutRequest) write(r.PutRequest.Item, 1);
              else touch(r.DeleteRequest.Key, 1, true);
            }
          }
        } else if (result && (op === 'Query' || op === 'GetItem')) {
          const items: Item[] = op === 'Query' ? (result.output.Items ?? []) : result.output.Item ? [result.output.Item] : [];
          const bytes = items.reduce((sum, item) => sum + itemBytes(item), 0);
          meter.rru += (input.ConsistentRead ? 1 : 0.5) * Math.max(1, Math.ceil(bytes / (4 * KB)));
        }
      }
    },
    { step: 'initialize', name: 'perdureCapacityMeter' },
  );
  return meter;
}
