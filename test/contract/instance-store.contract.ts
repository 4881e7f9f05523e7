import { describe, expect, it } from 'vitest';
import { emptyLedger } from '../../lib/core/cost-ledger.js';
import { InstanceExistsError } from '../../lib/core/errors.js';
import { numberEvents, type NewHistoryEvent } from '../../lib/core/history-events.js';
import type { InboxMessage, InstanceRecord, InstanceStore } from '../../lib/ports.js';

/**
 * The behaviour every InstanceStore must have. Run against each adapter: the runtime relies on exactly
 * this, so an adapter that passes can replace another.
 */
export function describeInstanceStoreContract(
  adapter: string,
  createStoreAs: () => Promise<InstanceStore> | InstanceStore,
  /** Turns a payload field as the store returns it into its value (adapters may return encoded payloads). */
  loadPayload: (value: unknown) => unknown = (value) => value,
): void {
  // Every read goes through `plain`, so the assertions see values whatever the adapter's lazy payload form.
  const createStore = async (): Promise<InstanceStore> => {
    const store = await createStoreAs();
    return new Proxy(store, {
      get(target, property, receiver) {
        const member = Reflect.get(target, property, receiver) as unknown;
        if (typeof member !== 'function') return member;
        return async (...args: unknown[]) => plain(await (member as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      },
    });
  };
  const plain = async (value: unknown): Promise<unknown> => {
    if (Array.isArray(value)) return Promise.all(value.map(plain));
    if (value === null || typeof value !== 'object') return value;
    if (Object.getPrototypeOf(value) !== Object.prototype) return loadPayload(value);
    // Incarnations are the store's own business (tested by each adapter where it has them).
    const entries = await Promise.all(Object.entries(value).filter(([k]) => k !== 'incarnation').map(async ([k, v]) => [k, await plain(v)] as const));
    return Object.fromEntries(entries);
  };
  let counter = 0;
  const uniqueId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${counter++}`;

  const record = (instanceId: string, overrides: Partial<InstanceRecord> = {}): InstanceRecord => ({
    instanceId,
    name: 'order',
    version: '1',
    status: 'Pending',
    generation: 0,
    input: { orderId: 'o-1', items: [1, 2, 3] },
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    lastEventId: 0,
    revision: 0,
    ...overrides,
  });
  const startMessage = (input: unknown = { orderId: 'o-1' }): InboxMessage => ({
    messageId: 'start#0',
    generation: 0,
    receivedAt: 1_700_000_000_000,
    event: { type: 'ExecutionStarted', name: 'order', version: '1', input },
  });
  const eventMessage = (messageId: string, data: unknown, receivedAt = 1_700_000_000_001): InboxMessage => ({
    messageId,
    receivedAt,
    event: { type: 'EventRaised', name: 'approval', data },
  });
  const events = (count: number, from: number, payload = 'x'): ReturnType<typeof numberEvents> =>
    numberEvents(
      Array.from({ length: count }, (_, i): NewHistoryEvent => ({ type: 'ActivityScheduled', taskId: from + i + 1, name: 'work', input: payload, attempt: 1, idempotencyKey: `k${i}` })),
      from,
      1_700_000_000_100,
    );

  describe(`InstanceStore contract: ${adapter}`, () => {
    it("keeps the ledger of the newest commit, whether or not the commit wrote the record; an instance without one has none", async () => {
      const store = await createStore();
      const id = uniqueId('ledger');
      await store.createInstance(record(id), startMessage());
      expect((await store.getInstance(id))!.cost).toBeUndefined();
      const ledger = (steps: number) => ({ ...emptyLedger(), steps, attempts: steps * 2 });
      // The first commit writes the record, the second only appends history.
      expect(await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 0, append: events(2, 0), consumed: ['start#0'], enqueue: [], instance: record(id, { status: 'Running', lastEventId: 2, revision: 1, cost: ledger(1) }), cost: ledger(1), statusChanged: true })).toBe('committed');
      expect(await store.commitStep(id, { expectedRevision: 1, generation: 0, afterEventId: 2, append: events(1, 2), consumed: [], enqueue: [], cost: ledger(2) })).toBe('committed');
      expect((await store.getInstance(id))!.cost).toMatchObject({ steps: 2, attempts: 4 });
      expect((await store.loadStep(id))!.instance.cost).toMatchObject({ steps: 2, attempts: 4 });
      // A listing reads records: the ledger as of the record's last write.
      const listed = (await store.listInstances({ status: 'Running', name: 'order', limit: 1000 })).instances.find((instance) => instance.instanceId === id);
      expect(listed!.cost).toMatchObject({ steps: 1, attempts: 2 });
    });

    it('creates an instance with its start message, and rejects a second create of the same id without changing it', async () => {
      const store = await createStore();
      const id = uniqueId('create');
      await store.createInstance(record(id), startMessage());
      await expect(store.createInstance(record(id, { name: 'other' }), startMessage({ other: true }))).rejects.toThrow(InstanceExistsError);
      expect(await store.getInstance(id)).toEqual(record(id));
      const state = await store.loadStep(id);
      expect(state?.inbox).toEqual([startMessage()]);
      expect(state?.history).toEqual([]);
    });

    it('keeps the headers stored with an instance at its start (its trace context) through every later write', async () => {
      const store = await createStore();
      const id = uniqueId('headers');
      const headers = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tenant: 'acme' };
      await store.createInstance(record(id, { headers }), startMessage());
      expect((await store.getInstance(id))?.headers).toEqual(headers);
      const state = (await store.loadStep(id))!;
      expect(await store.commitStep(id, { generation: 0, afterEventId: 0, append: numberEvents([{ type: 'StepStarted' }], 0, 1), consumed: ['start#0'], enqueue: [], expectedRevision: state.instance.revision, instance: { ...state.instance, status: 'Running', lastEventId: 1, revision: state.instance.revision + 1 } })).toBe('committed');
      expect((await store.loadStep(id))?.instance.headers).toEqual(headers);
    });

    it('returns undefined for an unknown instance and refuses deliveries to it', async () => {
      const store = await createStore();
      expect(await store.getInstance('nobody-here')).toBeUndefined();
      expect(await store.loadStep('nobody-here')).toBeUndefined();
      expect(await store.deliver('nobody-here', eventMessage('E#1', 1))).toBe('not-found');
    });

    it('records a delivered message once: a second delivery with the same id keeps the first', async () => {
      const store = await createStore();
      const id = uniqueId('deliver');
      await store.createInstance(record(id), startMessage());
      expect(await store.deliver(id, eventMessage('A#0#1', 'first'))).toBe('delivered');
      expect(await store.deliver(id, eventMessage('A#0#1', 'second'))).toBe('duplicate');
      const inbox = (await store.loadStep(id))!.inbox;
      expect(inbox.filter((m) => m.messageId === 'A#0#1')).toEqual([eventMessage('A#0#1', 'first')]);
    });

    it('remembers a keyed event after it is consumed: a later delivery with the same id is a duplicate', async () => {
      const store = await createStore();
      const id = uniqueId('keyed');
      await store.createInstance(record(id), startMessage());
      expect(await store.deliver(id, eventMessage('K#approval-1', 'yes'))).toBe('delivered');
      const consumed = ['start#0', 'K#approval-1', 'E#plain'];
      expect(await store.deliver(id, eventMessage('E#plain', 'once'))).toBe('delivered');
      expect(await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 0, append: events(2, 0), consumed, enqueue: [], instance: record(id, { status: 'Running', lastEventId: 2, revision: 1 }) })).toBe('committed');
      expect((await store.loadStep(id))!.inbox).toEqual([]);
      expect(await store.deliver(id, eventMessage('K#approval-1', 'retried'))).toBe('duplicate');
      expect(await store.deliver(id, eventMessage('E#plain', 'again'))).toBe('delivered'); // unkeyed ids are not remembered
      expect((await store.loadStep(id))!.inbox.map((m) => m.messageId)).toEqual(['E#plain']);
      await store.purgeInstance(id);
      await store.createInstance(record(id), startMessage());
      expect(await store.deliver(id, eventMessage('K#approval-1', 'new instance'))).toBe('delivered');
    });

    it('returns the inbox in arrival order', async () => {
      const store = await createStore();
      const id = uniqueId('order');
      await store.createInstance(record(id), startMessage());
      await store.deliver(id, eventMessage('Z-last-id', 1, 1_700_000_000_010));
      await store.deliver(id, eventMessage('A-first-id', 2, 1_700_000_000_020));
      const inbox = (await store.loadStep(id))!.inbox;
      expect(inbox.map((m) => m.messageId)).toEqual(['start#0', 'Z-last-id', 'A-first-id']);
    });

    it('commits history, inbox deletions, new messages and the record together', async () => {
      const store = await createStore();
      const id = uniqueId('commit');
      await store.createInstance(record(id), startMessage());
      await store.deliver(id, eventMessage('E#keep', 'later'));
      const append = events(3, 0);
      const next = record(id, { status: 'Running', lastEventId: 3, revision: 1, updatedAt: 1_700_000_000_200 });
      const result = await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 0, append, consumed: ['start#0'], enqueue: [eventMessage('E#new', 'n')], instance: next });
      expect(result).toBe('committed');
      expect(await store.getInstance(id)).toEqual(next);
      const state = (await store.loadStep(id))!;
      expect(state.history).toEqual(append);
      expect(state.inbox.map((m) => m.messageId).sort()).toEqual(['E#keep', 'E#new']);
      expect(await store.loadStep(id, { generation: 0, eventId: 2 })).toMatchObject({ afterEventId: 2, history: append.slice(2) });
    });

    it('commits a fan-out step: 150 task results consumed and 1,000 events appended', async () => {
      const store = await createStore();
      const id = uniqueId('fan-out');
      await store.createInstance(record(id), startMessage());
      const results = Array.from({ length: 150 }, (_, i): InboxMessage => ({
        messageId: `A#0#${i + 1}`,
        generation: 0,
        receivedAt: 1_700_000_000_001 + i,
        event: { type: 'ActivityCompleted', taskId: i + 1, result: { i, text: 'r'.repeat(500) } },
      }));
      for (const message of results) expect(await store.deliver(id, message)).toBe('delivered');
      await store.deliver(id, eventMessage('E#approval', { approved: true }));
      const append = events(1_000, 0, 'i'.repeat(400));
      const next = record(id, { status: 'Running', lastEventId: 1_000, revision: 1 });
      const consumed = ['start#0', 'E#approval', ...results.map((m) => m.messageId)];
      expect(await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 0, append, consumed, enqueue: [], instance: next })).toBe('committed');
      const state = (await store.loadStep(id))!;
      expect(state.inbox).toEqual([]);
      expect(state.history).toEqual(append);
      expect(state.instance).toEqual(next);
    });

    it('keeps large payloads intact through history, inbox and record', async () => {
      const store = await createStore();
      const id = uniqueId('large');
      const input = { blob: 'L'.repeat(300_000), n: 1 };
      await store.createInstance(record(id, { input }), startMessage(input));
      const append = events(2, 0, 'M'.repeat(200_000));
      const next = record(id, { input, output: { out: 'O'.repeat(250_000) }, status: 'Completed', lastEventId: 2, revision: 1 });
      await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 0, append, consumed: ['start#0'], enqueue: [], instance: next });
      const state = (await store.loadStep(id))!;
      expect(state.instance).toEqual(next);
      expect(state.history).toEqual(append);
      expect(await store.readHistory(id, 0)).toEqual(append);
    });

    it('rejects a commit from a stale revision and changes nothing', async () => {
      const store = await createStore();
      const id = uniqueId('conflict');
      await store.createInstance(record(id), startMessage());
      const first = record(id, { status: 'Running', lastEventId: 1, revision: 1 });
      expect(await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 0, append: events(1, 0), consumed: ['start#0'], enqueue: [], instance: first })).toBe('committed');
      const stale = record(id, { status: 'Completed', lastEventId: 2, revision: 1 });
      expect(await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 1, append: events(1, 1), consumed: [], enqueue: [eventMessage('E#x', 1)], instance: stale })).toBe('conflict');
      expect(await store.getInstance(id)).toEqual(first);
      const state = (await store.loadStep(id))!;
      expect(state.history).toHaveLength(1);
      expect(state.inbox).toEqual([]);
    });

    it('appends history as a chain: of two steps that read the same history, only the first appends', async () => {
      const store = await createStore();
      const id = uniqueId('chain');
      await store.createInstance(record(id), startMessage());
      const running = record(id, { status: 'Running', lastEventId: 2, revision: 1 });
      expect(await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 0, append: events(2, 0), consumed: ['start#0'], enqueue: [], instance: running })).toBe('committed');
      const mine = events(3, 2, 'mine');
      expect(await store.commitStep(id, { expectedRevision: 1, generation: 0, afterEventId: 2, append: mine, consumed: [], enqueue: [] })).toBe('committed');
      expect(await store.commitStep(id, { expectedRevision: 1, generation: 0, afterEventId: 2, append: events(1, 2, 'theirs'), consumed: [], enqueue: [] })).toBe('conflict');
      const state = (await store.loadStep(id))!;
      expect(state.history.slice(2)).toEqual(mine);
      // A step that only appends leaves the record as it was, and the history says where it ends.
      expect(state.instance).toEqual({ ...running, lastEventId: 5 });
      expect(await store.getInstance(id)).toEqual({ ...running, lastEventId: 5 });
      expect(await store.loadStep(id, { generation: 0, eventId: 2, incarnation: state.instance.incarnation })).toMatchObject({ afterEventId: 2, history: mine });
    });

    it('counts crashes from attempt markers: an attempt that did not end before its deadline, at the same position', async () => {
      const store = await createStore();
      const id = uniqueId('crashes');
      await store.createInstance(record(id), startMessage());
      expect(await store.beginAttempt(id, 'step', { position: 4, now: 1_000, deadline: 2_000 })).toBe(0);
      // The next attempt comes while the first may still run: not counted.
      expect(await store.beginAttempt(id, 'step', { position: 4, now: 1_500, deadline: 3_000 })).toBe(0);
      expect(await store.beginAttempt(id, 'step', { position: 4, now: 3_000, deadline: 4_000 })).toBe(1);
      await store.endAttempt(id, 'step');
      expect(await store.beginAttempt(id, 'step', { position: 4, now: 9_000, deadline: 10_000 })).toBe(1);
      expect(await store.beginAttempt(id, 'step', { position: 4, now: 11_000, deadline: 12_000 })).toBe(2);
      // Progress past the position starts the count afresh; other keys count on their own.
      expect(await store.beginAttempt(id, 'step', { position: 5, now: 13_000, deadline: 14_000 })).toBe(0);
      expect(await store.beginAttempt(id, 'A#0#1#1', { position: 0, now: 13_000, deadline: 14_000 })).toBe(0);
      await store.endAttempt(id, 'step', { forget: true });
      expect(await store.beginAttempt(id, 'step', { position: 5, now: 20_000, deadline: 21_000 })).toBe(0);
    });

    it('takes a crash back when the attempt counted as dead ends after all (slow, not dead), and only that one', async () => {
      const store = await createStore();
      const id = uniqueId('slow');
      await store.createInstance(record(id), startMessage());
      const at = (owner: string, now: number) => ({ position: 7, now, deadline: now + 1_000, owner });
      expect(await store.beginAttempt(id, 'step', at('a', 1_000))).toBe(0);
      // a outlives its deadline; b and c each find the one before past its deadline and not ended.
      expect(await store.beginAttempt(id, 'step', at('b', 2_500))).toBe(1);
      expect(await store.beginAttempt(id, 'step', at('c', 4_000))).toBe(2);
      // a was only slow: it ends, and its crash is taken back; b's stays (it never ended: it died). c may still
      // run (its deadline has not passed) and stays unended: the next attempt after c's deadline counts it.
      await store.endAttempt(id, 'step', { owner: 'a' });
      expect(await store.beginAttempt(id, 'step', at('d', 4_500))).toBe(1); // b's only
      expect(await store.beginAttempt(id, 'step', at('d2', 5_500))).toBe(2); // and d's, past its deadline
      await store.endAttempt(id, 'step', { owner: 'c' }); // never counted: nothing to take back
      expect(await store.beginAttempt(id, 'step', at('d3', 6_400))).toBe(2); // d2 may still run
      // Ending twice, or ending an attempt never counted, takes nothing more back.
      await store.endAttempt(id, 'step', { owner: 'a' });
      await store.endAttempt(id, 'step', { owner: 'x' });
      expect(await store.beginAttempt(id, 'step', at('e', 7_500))).toBe(3); // d3's
      // e ends on its own marker: the next attempt counts no crash of it.
      await store.endAttempt(id, 'step', { owner: 'e' });
      expect(await store.beginAttempt(id, 'step', at('f', 9_000))).toBe(3);
      // A marker an older version wrote (no owner) is ended by whoever ends, as before.
      expect(await store.beginAttempt(id, 'A#0#1#1', { position: 0, now: 1_000, deadline: 2_000 })).toBe(0);
      await store.endAttempt(id, 'A#0#1#1', { owner: 'g' });
      expect(await store.beginAttempt(id, 'A#0#1#1', { position: 0, now: 3_000, deadline: 4_000, owner: 'h' })).toBe(0);
    });

    it("keeps the last heartbeat details of each call, never replaced by an earlier attempt's, and purges them with the instance", async () => {
      const store = await createStore();
      const id = uniqueId('beats');
      await store.createInstance(record(id), startMessage());
      const call = `${id}:0:3`;
      expect(await store.readHeartbeat(id, call)).toBeUndefined();
      await store.recordHeartbeat(id, call, { attempt: 1, at: 1_000, details: { cursor: 'a' } });
      await store.recordHeartbeat(id, call, { attempt: 2, at: 2_000, details: { cursor: 'b', rows: [1, 2] } });
      // Attempt 1, timed out but still running, reports late: attempt 2's details stay.
      await store.recordHeartbeat(id, call, { attempt: 1, at: 3_000, details: { cursor: 'stale' } });
      expect(await store.readHeartbeat(id, call)).toEqual({ attempt: 2, at: 2_000, details: { cursor: 'b', rows: [1, 2] } });
      await store.recordHeartbeat(id, call, { attempt: 2, at: 4_000, details: null });
      expect(await store.readHeartbeat(id, call)).toEqual({ attempt: 2, at: 4_000, details: null });
      expect(await store.readHeartbeat(id, `${id}:0:4`)).toBeUndefined();
      await store.purgeInstance(id);
      expect(await store.readHeartbeat(id, call)).toBeUndefined();
    });

    it('updates a record only from the revision it read', async () => {
      const store = await createStore();
      const id = uniqueId('update');
      await store.createInstance(record(id), startMessage());
      expect(await store.updateInstance(record(id, { status: 'Quarantined', revision: 1 }), 0)).toBe(true);
      expect(await store.updateInstance(record(id, { status: 'Running', revision: 1 }), 0)).toBe(false);
      expect((await store.getInstance(id))?.status).toBe('Quarantined');
    });

    it('keeps each generation’s history apart after continue-as-new', async () => {
      const store = await createStore();
      const id = uniqueId('generations');
      await store.createInstance(record(id), startMessage());
      const gen0 = events(2, 0);
      await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 0, append: gen0, consumed: ['start#0'], enqueue: [], instance: record(id, { generation: 1, lastEventId: 0, revision: 1 }) });
      const gen1 = events(1, 0, 'second generation');
      await store.commitStep(id, { expectedRevision: 1, generation: 1, afterEventId: 0, append: gen1, consumed: [], enqueue: [], instance: record(id, { generation: 1, lastEventId: 1, revision: 2 }) });
      expect(await store.readHistory(id, 0)).toEqual(gen0);
      expect(await store.readHistory(id, 1)).toEqual(gen1);
      expect((await store.loadStep(id))!.history).toEqual(gen1);
      // A position in an earlier generation gets the whole current one.
      expect(await store.loadStep(id, { generation: 0, eventId: 2 })).toMatchObject({ afterEventId: 0, history: gen1 });
      expect(await store.loadStep(id, { generation: 1, eventId: 1 })).toMatchObject({ afterEventId: 1, history: [] });
    });

    it('reads a history longer than one storage page, in order', async () => {
      const store = await createStore();
      const id = uniqueId('long');
      await store.createInstance(record(id), startMessage());
      let revision = 0;
      let last = 0;
      const big = 'p'.repeat(2_000);
      for (let step = 0; step < 12; step++) {
        const append = events(50, last, big);
        // Every other step changes only the history, as most steps do.
        const instance = step % 2 === 0 ? { instance: record(id, { lastEventId: last + 50, revision: revision + 1 }) } : {};
        await store.commitStep(id, { expectedRevision: revision, generation: 0, afterEventId: last, append, consumed: [], enqueue: [], ...instance });
        last += 50;
        if (step % 2 === 0) revision++;
      }
      const history = (await store.loadStep(id))!.history;
      expect(history).toHaveLength(600);
      expect(history.map((e) => e.eventId)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
      expect((await store.loadStep(id, { generation: 0, eventId: 550 }))!.history.map((e) => e.eventId)).toEqual(Array.from({ length: 50 }, (_, i) => i + 551));
    });

    it('lists instances by status and name, in pages that cover each once', async () => {
      const store = await createStore();
      const name = `list${counter++}`;
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const id = uniqueId('list');
        ids.push(id);
        await store.createInstance(record(id, { name, status: i < 5 ? 'Completed' : 'Running', updatedAt: 1_700_000_000_000 + i }), startMessage());
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listInstances({ name, status: 'Completed', limit: 2, cursor });
        expect(page.instances.length).toBeLessThanOrEqual(2);
        seen.push(...page.instances.map((i) => i.instanceId));
        cursor = page.cursor;
      } while (cursor);
      expect(seen.sort()).toEqual(ids.slice(0, 5).sort());
      const running = await store.listInstances({ name, status: 'Running' });
      expect(running.instances.map((i) => i.instanceId).sort()).toEqual(ids.slice(5).sort());
    });

    it('lists instances of every status newest first without a status filter, in pages that cover each once', async () => {
      const store = await createStore();
      const name = `merge${counter++}`;
      const statuses = ['Completed', 'Running', 'Pending', 'Failed', 'Completed', 'Suspended', 'Running', 'Quarantined', 'Terminated', 'Completed', 'Pending'] as const;
      const ids = statuses.map(() => uniqueId('merge'));
      // Created out of order, so that neither the ids nor the order of writes match the order of creation.
      for (const i of [3, 9, 0, 5, 10, 1, 7, 2, 8, 4, 6]) {
        await store.createInstance(record(ids[i]!, { name, status: statuses[i]!, createdAt: 1_700_000_000_000 + i * 1_000 }), startMessage());
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listInstances({ name, limit: 3, cursor });
        expect(page.instances.length).toBeLessThanOrEqual(3);
        seen.push(...page.instances.map((instance) => instance.instanceId));
        cursor = page.cursor;
      } while (cursor);
      expect(seen).toEqual([...ids].reverse());
      expect((await store.listInstances({ name, limit: 100 })).instances.map((instance) => instance.instanceId)).toEqual([...ids].reverse());
    });

    it('purges an instance with every generation of its history and its inbox', async () => {
      const store = await createStore();
      const id = uniqueId('purge');
      await store.createInstance(record(id), startMessage());
      await store.commitStep(id, { expectedRevision: 0, generation: 0, afterEventId: 0, append: events(2, 0), consumed: [], enqueue: [], instance: record(id, { status: 'Completed', lastEventId: 2, revision: 1 }) });
      await store.purgeInstance(id);
      expect(await store.getInstance(id)).toBeUndefined();
      expect(await store.readHistory(id, 0)).toEqual([]);
      expect(await store.deliver(id, eventMessage('E#late', 1))).toBe('not-found');
      await store.createInstance(record(id), startMessage());
      expect((await store.loadStep(id))!.history).toEqual([]);
    });
  });
}
