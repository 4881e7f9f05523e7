import type { Rule } from 'eslint';
import type * as ESTree from 'estree';
import { OrchestrationScope, propertyName } from './orchestration-scope.js';

/** The context's methods that return the promise of a durable call. */
const DURABLE_CALLS = new Set([
  'callActivity',
  'step',
  'sleep',
  'sleepUntil',
  'waitForEvent',
  'callSubOrchestration',
  'child',
  'waitForCallback',
  'waitForCondition',
  'map',
  'parallel',
]);

const MESSAGES = {
  unawaited:
    '{{call}}(...) is not awaited: Perdure still records and runs it, but the orchestration goes on without its result and its failure goes unnoticed. Await or return it (Promise.all for several at once), or, to leave it running on purpose, handle its failure: {{call}}(...).catch(...).',
  voided:
    'void {{call}}(...) still records and runs the call, but nothing waits for it and its failure goes unnoticed. Await it, or, to leave it running on purpose, handle its failure: {{call}}(...).catch(...).',
} as const;

/**
 * Reports a durable call in orchestration code whose promise is dropped: a statement that neither awaits,
 * returns, assigns nor passes on `ctx.callActivity(...)`, `ctx.sleep(...)` and the other durable calls,
 * `void` included, or that chains only `.then(onFulfilled)` / `.finally(...)` on it. A chain with `.catch(...)`
 * or `.then(onFulfilled, onRejected)` handles the failure and is not reported.
 */
export const noUnawaitedDurableCalls: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'A durable call in an orchestration must be awaited, returned or passed on, or its failure handled.' },
    messages: MESSAGES,
    schema: [],
  },
  create(context) {
    const scope = new OrchestrationScope();
    const enterFunction = (fn: Rule.Node) => scope.enter(fn);

    const check = (expression: ESTree.Expression, statement: Rule.Node, voided: boolean): void => {
      const node = unwrapTypeScript(expression);
      switch (node.type) {
        case 'UnaryExpression':
          if (node.operator === 'void') check(node.argument, statement, true);
          return;
        case 'ChainExpression':
          return check(node.expression, statement, voided);
        case 'LogicalExpression':
          check(node.left, statement, voided);
          return check(node.right, statement, voided);
        case 'ConditionalExpression':
          check(node.consequent, statement, voided);
          return check(node.alternate, statement, voided);
        case 'SequenceExpression':
          return node.expressions.forEach((part) => check(part, statement, voided));
        case 'CallExpression': {
          const call = durableCallOf(node, scope.contextNames(statement));
          if (call) context.report({ node, messageId: voided ? 'voided' : 'unawaited', data: { call } });
          return;
        }
        default:
          return;
      }
    };

    return {
      FunctionExpression: enterFunction,
      ArrowFunctionExpression: enterFunction,
      FunctionDeclaration: enterFunction,
      CallExpression: (node: ESTree.CallExpression & Rule.NodeParentExtension) => scope.enterCall(node),
      ExpressionStatement(node: ESTree.ExpressionStatement & Rule.NodeParentExtension) {
        if (scope.isOrchestrationCode(node)) check(node.expression, node, false);
      },
    };
  },
};

/**
 * `ctx.method` when `call` is a durable call on a context, or a chain on one that drops its failure
 * (`.then(onFulfilled)`, `.finally(...)`); undefined otherwise.
 */
function durableCallOf(call: ESTree.CallExpression, contexts: ReadonlySet<string>): string | undefined {
  const callee = unwrapTypeScript(call.callee as ESTree.Expression);
  if (callee.type !== 'MemberExpression') return undefined;
  const method = propertyName(callee);
  const target = unwrapTypeScript(callee.object as ESTree.Expression);
  if (target.type === 'Identifier' && method !== undefined && contexts.has(target.name) && DURABLE_CALLS.has(method)) return `${target.name}.${method}`;
  const dropsFailure = method === 'finally' || (method === 'then' && call.arguments.length < 2);
  return dropsFailure && target.type === 'CallExpression' ? durableCallOf(target, contexts) : undefined;
}

/** The expression inside TypeScript's `x as T`, `x!` and `<T>x`, which change nothing at run time. */
function unwrapTypeScript(expression: ESTree.Expression): ESTree.Expression {
  let node = expression as ESTree.Expression | { type: string; expression: ESTree.Expression };
  while (node.type === 'TSAsExpression' || node.type === 'TSNonNullExpression' || node.type === 'TSTypeAssertion' || node.type === 'TSSatisfiesExpression') {
    node = (node as { expression: ESTree.Expression }).expression;
  }
  return node as ESTree.Expression;
}
