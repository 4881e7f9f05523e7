import type { HistoryEventType } from '../core/history-events.js';
import { EncodedPayload, type PayloadCodec, type StoredPayload } from '../runtime/payload-codec.js';

/** The fields of each event type that hold user payloads: they pass through the codec. */
const EVENT_PAYLOAD_FIELDS: Partial<Record<HistoryEventType, readonly string[]>> = {
  ExecutionStarted: ['input'],
  ActivityScheduled: ['input'],
  ActivityCompleted: ['result'],
  SubOrchestrationScheduled: ['input'],
  SubOrchestrationCompleted: ['output'],
  ChildCompleted: ['result'],
  CallbackCompleted: ['result'],
  EventRaised: ['data'],
  ContinuedAsNew: ['input'],
  ExecutionCompleted: ['output'],
};

export const RECORD_PAYLOAD_FIELDS = ['input', 'output'] as const;

/** The payload fields of an event of this type. */
export function eventPayloadFields(type: string): readonly string[] {
  return EVENT_PAYLOAD_FIELDS[type as HistoryEventType] ?? [];
}

type Fields = Record<string, unknown>;

async function storeFields<T extends object>(value: T, fields: readonly string[], codec: PayloadCodec, instanceId: string): Promise<T> {
  const copy = { ...value } as Fields;
  for (const field of fields) {
    if (copy[field] === undefined) continue;
    copy[field] = await codec.store(copy[field], instanceId);
  }
  return copy as T;
}

function wrapFields<T extends object>(value: T, fields: readonly string[]): T {
  const copy = value as Fields;
  for (const field of fields) if (copy[field] !== undefined) copy[field] = new EncodedPayload(copy[field] as StoredPayload);
  return value;
}

/** An event ready to be written: its payload fields encoded (offloaded when large). */
export function storeEvent<T extends { type: string }>(event: T, codec: PayloadCodec, instanceId: string): Promise<T> {
  return storeFields(event, EVENT_PAYLOAD_FIELDS[event.type as HistoryEventType] ?? [], codec, instanceId);
}

/** An event as read: its payload fields wrapped as `EncodedPayload`, decoded only when needed. */
export function readEvent<T extends { type: string }>(event: T): T {
  return wrapFields(event, EVENT_PAYLOAD_FIELDS[event.type as HistoryEventType] ?? []);
}

/** A record as read: its input and output wrapped as `EncodedPayload`. */
export function readRecordPayloads<T extends object>(record: T): T {
  return wrapFields(record, RECORD_PAYLOAD_FIELDS);
}
