import { Linter, RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import plugin from '../../lib/eslint/index.js';
import { noUnawaitedDurableCalls } from '../../lib/eslint/no-unawaited-durable-calls.js';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const tester = new RuleTester({ languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' } });
const inOrchestration = (body: string) => `app.orchestration('order', async (ctx, input) => {\n${body}\n});`;

tester.run('no-unawaited-durable-calls', noUnawaitedDurableCalls, {
  valid: [
    // Awaited, returned, assigned, passed on.
    inOrchestration("await ctx.callActivity('charge', input); await ctx.sleep('1h');"),
    inOrchestration("return ctx.callActivity('ship', input);"),
    inOrchestration("const receipt = ctx.callActivity('receipt', input); await ctx.sleep('1m'); return await receipt;"),
    inOrchestration("await Promise.all([ctx.callActivity('a'), ctx.callActivity('b')]);"),
    inOrchestration("await Promise.all(input.items.map((item) => ctx.callActivity('pack', item)));"),
    inOrchestration("pending.push(ctx.waitForEvent('cancel'));"),
    inOrchestration("track(ctx.step('audit', () => log(input)));"),
    // Left running on purpose, with its failure handled.
    inOrchestration("ctx.callActivity('sendReceipt', input).catch((error) => ctx.log.warn('no receipt', { error: String(error) }));"),
    inOrchestration("ctx.callActivity('sendReceipt', input).then(() => undefined, () => undefined);"),
    // Calls that are not durable, or not on a context.
    inOrchestration("ctx.log.info('started'); ctx.patched('v2'); const id = ctx.uuid(); ctx.createCallback({ name: 'x' });"),
    inOrchestration("if (done) ctx.continueAsNew(input);"),
    inOrchestration("await ctx.callActivity('a'); queue.step('x'); list.map((x) => x);"),
    // A step body is not orchestration code: what it does with promises is its own business.
    inOrchestration("await ctx.step('notify', async () => { void client.sleep(10); });"),
    // Outside orchestrations, nothing is reported.
    "async function helper(ctx) { ctx.callActivity('a'); void ctx.sleep('1h'); }",
  ],
  invalid: [
    { code: inOrchestration("ctx.callActivity('sendReceipt', input);"), errors: [{ messageId: 'unawaited', data: { call: 'ctx.callActivity' } }] },
    { code: inOrchestration("void ctx.callActivity('sendReceipt', input); return 'done';"), errors: [{ messageId: 'voided', data: { call: 'ctx.callActivity' } }] },
    { code: inOrchestration("ctx.sleep('1h');"), errors: [{ messageId: 'unawaited', data: { call: 'ctx.sleep' } }] },
    { code: inOrchestration("void ctx.step('audit', () => 1);"), errors: [{ messageId: 'voided', data: { call: 'ctx.step' } }] },
    {
      code: inOrchestration("ctx.callSubOrchestration('ship', input); ctx.waitForEvent('go'); ctx.sleepUntil(0); ctx.waitForCallback('x', () => {}); ctx.waitForCondition((s) => s, o);"),
      errors: ['callSubOrchestration', 'waitForEvent', 'sleepUntil', 'waitForCallback', 'waitForCondition'].map((method) => ({ messageId: 'unawaited', data: { call: `ctx.${method}` } })),
    },
    {
      code: inOrchestration("ctx.child('c', async (child) => child.sleep('1s')); ctx.map(items, (i) => ctx.callActivity('a', i)); ctx.parallel([]);"),
      errors: ['child', 'map', 'parallel'].map((method) => ({ messageId: 'unawaited', data: { call: `ctx.${method}` } })),
    },
    // A chain that drops the failure is as good as no chain.
    { code: inOrchestration("ctx.callActivity('a').then((r) => use(r));"), errors: [{ messageId: 'unawaited', data: { call: 'ctx.callActivity' } }] },
    { code: inOrchestration("ctx.callActivity('a').finally(() => done());"), errors: [{ messageId: 'unawaited', data: { call: 'ctx.callActivity' } }] },
    // Conditional and logical statements, and TypeScript casts.
    { code: inOrchestration("input.vip && ctx.callActivity('upgrade', input);"), errors: [{ messageId: 'unawaited' }] },
    { code: inOrchestration("input.vip ? ctx.callActivity('upgrade') : ctx.callActivity('standard');"), errors: [{ messageId: 'unawaited' }, { messageId: 'unawaited' }] },
    { code: inOrchestration("void (ctx.callActivity('a') as Promise<void>);"), errors: [{ messageId: 'voided' }] },
    // Inside callbacks of orchestration code, and in child contexts under their own name.
    { code: inOrchestration("input.items.forEach((item) => { ctx.callActivity('pack', item); });"), errors: [{ messageId: 'unawaited', data: { call: 'ctx.callActivity' } }] },
    { code: inOrchestration("await ctx.child('c', async (child) => { child.callActivity('x'); });"), errors: [{ messageId: 'unawaited', data: { call: 'child.callActivity' } }] },
    { code: inOrchestration("await ctx.parallel([async (branch) => { void branch.sleep('1m'); }]);"), errors: [{ messageId: 'voided', data: { call: 'branch.sleep' } }] },
    {
      code: "async function order(context: OrchestrationContext) { context.sleep('1s'); }",
      errors: [{ messageId: 'unawaited', data: { call: 'context.sleep' } }],
    },
  ],
});

describe('the recommended config', () => {
  it('enables both rules, and reports a void durable call with a message that says it still runs', () => {
    expect(plugin.configs.recommended.rules).toEqual({ 'perdure/deterministic-orchestrations': 'error', 'perdure/no-unawaited-durable-calls': 'error' });
    const linter = new Linter({ configType: 'flat' });
    const config = [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser }, ...plugin.configs.recommended }];
    const messages = linter.verify(inOrchestration("void ctx.callActivity('sendReceipt', input);\nreturn 'done';"), config, 'order.ts');
    expect(messages).toMatchObject([{ ruleId: 'perdure/no-unawaited-durable-calls', line: 2 }]);
    expect(messages[0]!.message).toBe(
      "void ctx.callActivity(...) still records and runs the call, but nothing waits for it and its failure goes unnoticed. Await it, or, to leave it running on purpose, handle its failure: ctx.callActivity(...).catch(...).",
    );
  });
});
