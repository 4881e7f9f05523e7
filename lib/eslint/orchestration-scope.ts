import type { Rule } from 'eslint';
import type * as ESTree from 'estree';

// The exported signatures use eslint's node type: eslint is a peer of the package, estree is not.
type FunctionNode = ESTree.FunctionExpression | ESTree.ArrowFunctionExpression | ESTree.FunctionDeclaration;

/** Calls whose function argument runs as a step (at least once, outside replay): I/O belongs there. */
const STEP_BODIES: Readonly<Record<string, number>> = { step: 1, waitForCallback: 1, waitForCondition: 0 };

/**
 * Which code is orchestration code, and what its orchestration contexts are called. Orchestration code is a
 * function registered with `app.orchestration(name, fn)` or whose first parameter is typed
 * `OrchestrationContext`, and what it nests, except the bodies of steps (`ctx.step`, the submitter of
 * `ctx.waitForCallback`, the check of `ctx.waitForCondition`), which run as activities do. A child context's
 * function (`ctx.child(name, fn)`, a branch of `ctx.parallel`) is orchestration code whose first parameter is
 * another context. Call `enter` for every function and `enterCall` for every call as the traversal reaches them.
 */
export class OrchestrationScope {
  /** Functions that receive a context, with the name of that parameter. */
  private readonly contexts = new Map<ESTree.Node, string>();
  private readonly stepBodies = new Set<ESTree.Node>();

  enter(node: Rule.Node): void {
    if (!isFunction(node) && node.type !== 'FunctionDeclaration') return;
    const fn: FunctionNode = node;
    if (isRegisteredOrchestration(fn)) {
      this.contexts.set(fn, parameterName(fn) ?? 'ctx');
      return;
    }
    const call = parentOf(fn);
    if (call?.type !== 'CallExpression' || call.callee.type !== 'MemberExpression') return;
    const target = call.callee.object;
    if (target.type !== 'Identifier' || !this.namesAt(call).has(target.name)) return;
    const method = propertyName(call.callee);
    if (method !== undefined && method in STEP_BODIES && call.arguments[STEP_BODIES[method]!] === fn) this.stepBodies.add(fn);
    else if (method === 'child' && call.arguments[1] === fn) this.addChildContext(fn);
  }

  /** Notes the branches of `ctx.parallel([...])`, functions or `{ name, fn }`, as child contexts. */
  enterCall(node: Rule.Node): void {
    if (node.type !== 'CallExpression') return;
    const call: ESTree.CallExpression = node;
    if (call.callee.type !== 'MemberExpression' || propertyName(call.callee) !== 'parallel') return;
    const target = call.callee.object;
    const branches = call.arguments[0];
    if (target.type !== 'Identifier' || branches?.type !== 'ArrayExpression' || !this.namesAt(call).has(target.name)) return;
    for (const branch of branches.elements) {
      if (isFunction(branch)) this.addChildContext(branch);
      else if (branch?.type === 'ObjectExpression') {
        for (const property of branch.properties) {
          if (property.type === 'Property' && !property.computed && property.key.type === 'Identifier' && property.key.name === 'fn' && isFunction(property.value)) this.addChildContext(property.value);
        }
      }
    }
  }

  /** True when `node` runs as orchestration code (not in a step body, nor outside every orchestration). */
  isOrchestrationCode(node: Rule.Node): boolean {
    for (let current = parentOf(node); current; current = parentOf(current)) {
      if (this.stepBodies.has(current)) return false;
      if (this.contexts.has(current)) return true;
    }
    return false;
  }

  /** The names the orchestration contexts in scope at `node` go by (the orchestration's and its children's). */
  contextNames(node: Rule.Node): Set<string> {
    return this.namesAt(node);
  }

  private namesAt(node: ESTree.Node): Set<string> {
    const names = new Set<string>();
    for (let current = parentOf(node); current; current = parentOf(current)) {
      if (this.stepBodies.has(current)) break;
      const name = this.contexts.get(current);
      if (name !== undefined) names.add(name);
    }
    return names;
  }

  private addChildContext(fn: FunctionNode): void {
    const name = parameterName(fn);
    if (name !== undefined) this.contexts.set(fn, name);
  }
}

function isRegisteredOrchestration(fn: FunctionNode): boolean {
  const parent = parentOf(fn);
  if (parent?.type === 'CallExpression' && parent.arguments[1] === fn && parent.callee.type === 'MemberExpression' && propertyName(parent.callee) === 'orchestration') return true;
  const first = fn.params[0] as (ESTree.Identifier & { typeAnnotation?: { typeAnnotation?: { typeName?: { name?: string } } } }) | undefined;
  return first?.type === 'Identifier' && first.typeAnnotation?.typeAnnotation?.typeName?.name === 'OrchestrationContext';
}

function parameterName(fn: FunctionNode): string | undefined {
  const first = fn.params[0];
  return first?.type === 'Identifier' ? first.name : undefined;
}

function isFunction(node: ESTree.Node | null | undefined): node is ESTree.ArrowFunctionExpression | ESTree.FunctionExpression {
  return node?.type === 'ArrowFunctionExpression' || node?.type === 'FunctionExpression';
}

function parentOf(node: ESTree.Node): ESTree.Node | null {
  return (node as { parent?: ESTree.Node | null }).parent ?? null;
}

/** The name of `object.name` or `object['name']`. */
export function propertyName(member: { computed: boolean; property: { type: string; name?: string; value?: unknown } }): string | undefined {
  if (member.property.type === 'Identifier' && !member.computed) return member.property.name;
  if (member.property.type === 'Literal' && typeof member.property.value === 'string') return member.property.value;
  return undefined;
}
