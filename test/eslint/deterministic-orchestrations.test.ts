import { Linter, RuleTester } from 'eslint';
import { readFile } from 'node:fs/promises';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import plugin from '../../lib/eslint/index.js';
import { deterministicOrchestrations } from '../../lib/eslint/deterministic-orchestrations.js';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const tester = new RuleTester({ languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' } });
const inOrchestration = (body: string) => `app.orchestration('order', async (ctx, input) => {\n${body}\n});`;

tester.run('deterministic-orchestrations', deterministicOrchestrations, {
  valid: [
    inOrchestration('const now = ctx.now(); const r = ctx.random(); const id = ctx.uuid();'),
    inOrchestration("await ctx.callActivity('charge', input); await ctx.sleep('1h');"),
    inOrchestration("await Promise.all(input.items.map((item) => ctx.callActivity('pack', item)));"),
    inOrchestration('const d = new Date(input.createdAt);'),
    inOrchestration('await shipOrder(ctx, input);'),
    inOrchestration("const result = await ctx.waitForEvent('approval', { timeout: '3d' }).catch(() => null);"),
    // A child context's calls, under the name its function gives the context, are durable.
    inOrchestration("const q = await ctx.child('pricing', async (child) => { const s = await child.callActivity('stock'); return child.callActivity('price', s); });"),
    inOrchestration("await ctx.parallel([async (c) => { await c.sleep('1h'); }, { name: 'b', fn: async (other) => { await other.waitForEvent('go'); } }]);"),
    // Step bodies run as activities do: I/O and real time belong there.
    inOrchestration("const quote = await ctx.step('quote', async (actx) => { const res = await fetch('https://prices'); return { at: Date.now(), body: await res.json() }; });"),
    inOrchestration("await ctx.waitForCallback('approval', async (token) => { await mail.send(token); });"),
    inOrchestration("await ctx.waitForCondition(async (state) => { const job = await jobs.get(state.id); return job; }, { initialState: input, waitStrategy: (s) => ({ shouldContinue: false }) });"),
    // Outside orchestrations, anything goes.
    "app.activity('charge', async () => { await fetch('https://payments'); return Date.now() + Math.random(); });",
    'async function helper() { setTimeout(() => {}, 10); return new Date(); }',
    // Named orchestration functions typed with the context are checked too, and this one is clean.
    "async function order(ctx: OrchestrationContext, input: unknown) { await ctx.callActivity('a'); }",
  ],
  invalid: [
    { code: inOrchestration('const t = Date.now();'), errors: [{ messageId: 'dateNow' }] },
    { code: inOrchestration('const t = new Date();'), errors: [{ messageId: 'newDate' }] },
    { code: inOrchestration('if (Math.random() > 0.5) {}'), errors: [{ messageId: 'mathRandom' }] },
    { code: inOrchestration('const id = crypto.randomUUID();'), errors: [{ messageId: 'randomUuid' }] },
    { code: inOrchestration('setTimeout(() => {}, 1000);'), errors: [{ messageId: 'timer', data: { name: 'setTimeout' } }] },
    { code: inOrchestration('setInterval(() => {}, 1000);'), errors: [{ messageId: 'timer', data: { name: 'setInterval' } }] },
    {
      code: inOrchestration("const res = await fetch('https://api');"),
      errors: [{ messageId: 'nonDurableAwait' }, { messageId: 'io', data: { name: 'fetch' } }],
    },
    { code: inOrchestration('const region = process.env.REGION;'), errors: [{ messageId: 'env' }] },
    { code: inOrchestration('const rows = await db.query(input);'), errors: [{ messageId: 'nonDurableAwait' }] },
    { code: inOrchestration("input.items.forEach((item) => { const stamp = Date.now(); });"), errors: [{ messageId: 'dateNow' }] },
    {
      code: "async function order(ctx: OrchestrationContext) { const t = Date.now(); await ctx.sleep('1s'); }",
      errors: [{ messageId: 'dateNow' }],
    },
    {
      code: "app.orchestration('order', async function (context) { await context.sleep('1s'); await other(); });",
      errors: [{ messageId: 'nonDurableAwait' }],
    },
    // A child context's body is orchestration code; only a step body is not.
    { code: inOrchestration("await ctx.child('c', async (child) => { const t = Date.now(); await child.sleep('1s'); });"), errors: [{ messageId: 'dateNow' }] },
    { code: inOrchestration("await ctx.child('c', async (child) => { await db.query(); });"), errors: [{ messageId: 'nonDurableAwait' }] },
    // The waitStrategy of waitForCondition runs in orchestration code.
    {
      code: inOrchestration("await ctx.waitForCondition(async (s) => s, { initialState: 0, waitStrategy: (s) => ({ shouldContinue: Math.random() > 0.5, delay: '1s' }) });"),
      errors: [{ messageId: 'mathRandom' }],
    },
    // A step of another object than the context is not a step body.
    { code: inOrchestration("await ctx.callActivity('a'); helpers.step('x', () => Date.now());"), errors: [{ messageId: 'dateNow' }] },
  ],
});

describe('the perdure ESLint plugin', () => {
  it('finds nothing to report in the example app, and reports a planted Date.now() in it', async () => {
    const source = await readFile(new URL('../../functions/example-app.ts', import.meta.url), 'utf8');
    const linter = new Linter({ configType: 'flat' });
    const config = [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser }, ...plugin.configs.recommended }];
    expect(linter.verify(source, config, 'example-app.ts')).toEqual([]);
    const planted = source.replace("app.orchestration('order', async (ctx, order: Order): Promise<OrderResult> => {", "$&\n    const startedAt = Date.now();");
    expect(planted).not.toBe(source);
    expect(linter.verify(planted, config, 'example-app.ts').map((message) => message.ruleId)).toEqual(['perdure/deterministic-orchestrations']);
  });
});
