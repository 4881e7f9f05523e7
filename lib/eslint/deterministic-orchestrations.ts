import type { Rule } from 'eslint';
import type * as ESTree from 'estree';
import { OrchestrationScope, propertyName } from './orchestration-scope.js';

const MESSAGES = {
  dateNow: 'Date.now() in an orchestration: use ctx.now(), which is the same on every replay.',
  newDate: 'new Date() in an orchestration: use ctx.now(), which is the same on every replay.',
  mathRandom: 'Math.random() in an orchestration: use ctx.random(), which is the same on every replay.',
  randomUuid: 'randomUUID() in an orchestration: use ctx.uuid(), which is the same on every replay.',
  timer: '{{name}}() in an orchestration: use `await ctx.sleep(duration)`, a durable timer.',
  io: '{{name}}() in an orchestration: do I/O in a step (ctx.step) or an activity (ctx.callActivity).',
  env: 'process.env in an orchestration: its value can change between replays; pass it in the input or read it in an activity.',
  nonDurableAwait: 'This awaits a promise that is not a durable call: await ctx.* calls (or Promise.all of them), or pass ctx to the helper that makes them.',
} as const;

const TIMERS = new Set(['setTimeout', 'setInterval', 'setImmediate']);
const IO = new Set(['fetch', 'readFile', 'readFileSync', 'writeFile', 'writeFileSync', 'request', 'get']);

/**
 * Reports, inside functions registered with `app.orchestration(name, fn)` (and functions whose first
 * parameter is typed `OrchestrationContext`), the calls that make replay diverge, each with what to use.
 * Step bodies (`ctx.step`, a `waitForCallback` submitter, a `waitForCondition` check) are not orchestration
 * code: they run at least once and are recorded, so they may do I/O.
 */
export const deterministicOrchestrations: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'Orchestration code must be deterministic: no real time, randomness, timers, I/O or non-durable awaits.' },
    messages: MESSAGES,
    schema: [],
  },
  create(context) {
    const scope = new OrchestrationScope();
    const enterFunction = (fn: Rule.Node) => scope.enter(fn);

    return {
      FunctionExpression: enterFunction,
      ArrowFunctionExpression: enterFunction,
      FunctionDeclaration: enterFunction,

      CallExpression(node: ESTree.CallExpression & Rule.NodeParentExtension) {
        scope.enterCall(node);
        if (!scope.isOrchestrationCode(node)) return;
        const callee = node.callee;
        if (callee.type === 'MemberExpression') {
          const object = callee.object.type === 'Identifier' ? callee.object.name : undefined;
          const property = propertyName(callee);
          if (object === 'Date' && property === 'now') context.report({ node, messageId: 'dateNow' });
          else if (object === 'Math' && property === 'random') context.report({ node, messageId: 'mathRandom' });
          else if (property === 'randomUUID') context.report({ node, messageId: 'randomUuid' });
          else if (property && TIMERS.has(property) && (object === 'globalThis' || object === 'window')) context.report({ node, messageId: 'timer', data: { name: property } });
          else if (property && IO.has(property) && (object === 'fs' || object === 'http' || object === 'https' || object === 'axios' || object === 'globalThis')) context.report({ node, messageId: 'io', data: { name: `${object}.${property}` } });
        } else if (callee.type === 'Identifier') {
          if (TIMERS.has(callee.name)) context.report({ node, messageId: 'timer', data: { name: callee.name } });
          else if (callee.name === 'fetch') context.report({ node, messageId: 'io', data: { name: 'fetch' } });
          else if (callee.name === 'randomUUID') context.report({ node, messageId: 'randomUuid' });
        }
      },

      NewExpression(node: ESTree.NewExpression & Rule.NodeParentExtension) {
        if (scope.isOrchestrationCode(node) && node.callee.type === 'Identifier' && node.callee.name === 'Date' && node.arguments.length === 0) context.report({ node, messageId: 'newDate' });
      },

      MemberExpression(node: ESTree.MemberExpression & Rule.NodeParentExtension) {
        if (scope.isOrchestrationCode(node) && node.object.type === 'Identifier' && node.object.name === 'process' && propertyName(node) === 'env') context.report({ node, messageId: 'env' });
      },

      AwaitExpression(node: ESTree.AwaitExpression & Rule.NodeParentExtension) {
        if (!scope.isOrchestrationCode(node) || node.argument.type !== 'CallExpression') return;
        if (isDurable(node.argument, scope.contextNames(node))) return;
        context.report({ node, messageId: 'nonDurableAwait' });
      },
    };
  },
};

/** A call Perdure can replay: `ctx.x(...)`, `Promise.all([...])` and the like, or a helper given `ctx`. */
function isDurable(call: ESTree.CallExpression, contexts: ReadonlySet<string>): boolean {
  const callee = call.callee;
  if (callee.type === 'MemberExpression') {
    let root: ESTree.Node = callee;
    while (root.type === 'MemberExpression' || root.type === 'CallExpression') root = root.type === 'MemberExpression' ? root.object : root.callee;
    if (root.type === 'Identifier' && (contexts.has(root.name) || root.name === 'Promise')) return true;
  }
  return call.arguments.some((argument) => argument.type === 'Identifier' && contexts.has(argument.name));
}
