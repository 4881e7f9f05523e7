import type { Rule } from 'eslint';
import type * as ESTree from 'estree';

type Node = ESTree.Node & Rule.NodeParentExtension;
type FunctionNode = ESTree.FunctionExpression | ESTree.ArrowFunctionExpression | ESTree.FunctionDeclaration;

const MESSAGES = {
  dateNow: 'Date.now() in an orchestration: use ctx.now(), which is the same on every replay.',
  newDate: 'new Date() in an orchestration: use ctx.now(), which is the same on every replay.',
  mathRandom: 'Math.random() in an orchestration: use ctx.random(), which is the same on every replay.',
  randomUuid: 'randomUUID() in an orchestration: use ctx.uuid(), which is the same on every replay.',
  timer: '{{name}}() in an orchestration: use `await ctx.sleep(duration)`, a durable timer.',
  io: '{{name}}() in an orchestration: do I/O in an activity and call it with ctx.callActivity.',
  env: 'process.env in an orchestration: its value can change between replays; pass it in the input or read it in an activity.',
  nonDurableAwait: 'This awaits a promise that is not a durable call: await ctx.* calls (or Promise.all of them), or pass ctx to the helper that makes them.',
} as const;

const TIMERS = new Set(['setTimeout', 'setInterval', 'setImmediate']);
const IO = new Set(['fetch', 'readFile', 'readFileSync', 'writeFile', 'writeFileSync', 'request', 'get']);

/**
 * Reports, inside functions registered with `app.orchestration(name, fn)` (and functions whose first
 * parameter is typed `OrchestrationContext`), the calls that make replay diverge, each with what to use.
 */
export const deterministicOrchestrations: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'Orchestration code must be deterministic: no real time, randomness, timers, I/O or non-durable awaits.' },
    messages: MESSAGES,
    schema: [],
  },
  create(context) {
    const orchestrations = new Set<FunctionNode>();
    const contextNames = new Map<FunctionNode, string>();

    const isOrchestration = (fn: FunctionNode): boolean => {
      const parent = (fn as Node).parent;
      if (parent?.type === 'CallExpression' && parent.arguments[1] === fn && parent.callee.type === 'MemberExpression' && propertyName(parent.callee) === 'orchestration') return true;
      const first = fn.params[0] as (ESTree.Identifier & { typeAnnotation?: { typeAnnotation?: { typeName?: { name?: string } } } }) | undefined;
      return first?.type === 'Identifier' && first.typeAnnotation?.typeAnnotation?.typeName?.name === 'OrchestrationContext';
    };

    /** The orchestration function this node runs in, if any (nested callbacks included). */
    const enclosing = (node: ESTree.Node): FunctionNode | undefined => {
      for (let current = parentOf(node); current; current = parentOf(current)) {
        if (orchestrations.has(current as FunctionNode)) return current as FunctionNode;
      }
      return undefined;
    };

    const enterFunction = (fn: FunctionNode) => {
      if (!isOrchestration(fn)) return;
      orchestrations.add(fn);
      const first = fn.params[0];
      if (first?.type === 'Identifier') contextNames.set(fn, first.name);
    };

    return {
      FunctionExpression: enterFunction,
      ArrowFunctionExpression: enterFunction,
      FunctionDeclaration: enterFunction,

      CallExpression(node: ESTree.CallExpression & Rule.NodeParentExtension) {
        if (!enclosing(node)) return;
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
        if (enclosing(node) && node.callee.type === 'Identifier' && node.callee.name === 'Date' && node.arguments.length === 0) context.report({ node, messageId: 'newDate' });
      },

      MemberExpression(node: ESTree.MemberExpression & Rule.NodeParentExtension) {
        if (enclosing(node) && node.object.type === 'Identifier' && node.object.name === 'process' && propertyName(node) === 'env') context.report({ node, messageId: 'env' });
      },

      AwaitExpression(node: ESTree.AwaitExpression & Rule.NodeParentExtension) {
        const fn = enclosing(node);
        if (!fn || node.argument.type !== 'CallExpression') return;
        const ctx = contextNames.get(fn) ?? 'ctx';
        if (isDurable(node.argument, ctx)) return;
        context.report({ node, messageId: 'nonDurableAwait' });
      },
    };
  },
};

/** A call Perdure can replay: `ctx.x(...)`, `Promise.all([...])` and the like, or a helper given `ctx`. */
function isDurable(call: ESTree.CallExpression, ctx: string): boolean {
  const callee = call.callee;
  if (callee.type === 'MemberExpression') {
    let root: ESTree.Node = callee;
    while (root.type === 'MemberExpression' || root.type === 'CallExpression') root = root.type === 'MemberExpression' ? root.object : root.callee;
    if (root.type === 'Identifier' && (root.name === ctx || root.name === 'Promise')) return true;
  }
  return call.arguments.some((argument) => argument.type === 'Identifier' && argument.name === ctx);
}

function parentOf(node: ESTree.Node): ESTree.Node | null {
  return (node as { parent?: ESTree.Node | null }).parent ?? null;
}

function propertyName(member: ESTree.MemberExpression): string | undefined {
  if (member.property.type === 'Identifier' && !member.computed) return member.property.name;
  if (member.property.type === 'Literal' && typeof member.property.value === 'string') return member.property.value;
  return undefined;
}
