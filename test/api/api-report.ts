/**
 * The API report: for each entry point in package.json "exports", every export with its declaration as
 * the package's .d.ts files declare it (doc comments and private members left out), then the declarations
 * that are not exported but that the exports' signatures reach. `api/<package>[-<subpath>].api.md` holds
 * them, so a change to the public surface shows as a diff in review. Deterministic: the same sources give
 * the same text, whatever the machine.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

export interface EntryPoint {
  /** The import path users write: `perdure`, `perdure/aws`. */
  specifier: string;
  /** The TypeScript source of the entry point, relative to the package root. */
  source: string;
  /** The report's file name in api/. */
  reportFile: string;
}

interface PackageJson {
  name: string;
  exports: Record<string, { types: string }>;
}

/** The package's entry points, from its "exports" (`./dist/lib/aws/index.d.ts` is built from `lib/aws/index.ts`). */
export function entryPoints(root: string): EntryPoint[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
  return Object.entries(pkg.exports).map(([subpath, { types }]) => {
    const name = subpath === '.' ? '' : subpath.replace(/^\.\//, '');
    return {
      specifier: name ? `${pkg.name}/${name}` : pkg.name,
      source: types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts'),
      reportFile: `${[pkg.name, ...(name ? [name.replace(/\//g, '-')] : [])].join('-')}.api.md`,
    };
  });
}

/** The report of every entry point, by file name. */
export function apiReports(root: string): Map<string, string> {
  const entries = entryPoints(root);
  const declarations = emitDeclarations(root, entries);
  const program = declarationProgram(root, declarations);
  const checker = program.getTypeChecker();
  const reports = new Map<string, string>();
  for (const entry of entries) {
    const file = program.getSourceFile(declarationPath(root, entry.source));
    const moduleSymbol = file && checker.getSymbolAtLocation(file);
    if (!moduleSymbol) throw new Error(`No declarations were emitted for ${entry.source} (package.json exports ${entry.specifier}).`);
    reports.set(entry.reportFile, report(root, entry, moduleSymbol, checker, declarations));
  }
  return reports;
}

/** Declarations are emitted in memory under this folder, which is never written. */
const VIRTUAL_OUT_DIR = '.api-report';

function declarationPath(root: string, source: string): string {
  return join(root, VIRTUAL_OUT_DIR, source.replace(/\.ts$/, '.d.ts'));
}

/** The .d.ts text of every file the entry points reach, as `tsc -p tsconfig.build.json` would emit it. */
function emitDeclarations(root: string, entries: EntryPoint[]): Map<string, string> {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.build.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (diagnostic) => { throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')); } });
  if (!config) throw new Error('Cannot read tsconfig.build.json.');
  const options: ts.CompilerOptions = { ...config.options, outDir: join(root, VIRTUAL_OUT_DIR), noEmit: false, declaration: true, emitDeclarationOnly: true, declarationMap: false, sourceMap: false, inlineSources: false };
  const program = ts.createProgram(entries.map((entry) => join(root, entry.source)), options);
  const emitted = new Map<string, string>();
  const result = program.emit(undefined, (fileName, text) => emitted.set(fileName, text));
  // Type errors are npm run typecheck's to report; only an error that stops the declarations is reported here.
  const errors = result.diagnostics.filter((diagnostic) => diagnostic.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) throw new Error(`The declarations cannot be emitted:\n${ts.formatDiagnostics(errors, { getCanonicalFileName: (name) => name, getCurrentDirectory: () => root, getNewLine: () => '\n' })}`);
  return emitted;
}

/**
 * A program over the emitted declarations only (in memory). Names from other packages and the standard
 * library stay unresolved: the report names them as the declarations import them, and loading them (the
 * AWS CDK's declarations above all) would only cost time.
 */
function declarationProgram(root: string, declarations: Map<string, string>): ts.Program {
  const options: ts.CompilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noResolve: true, noLib: true, types: [], noEmit: true };
  const real = ts.createCompilerHost(options);
  const folders = new Set([...declarations.keys()].flatMap((file) => ancestors(dirname(file), root)));
  const host: ts.CompilerHost = {
    ...real,
    fileExists: (file) => declarations.has(file) || real.fileExists(file),
    readFile: (file) => declarations.get(file) ?? real.readFile(file),
    directoryExists: (folder) => folders.has(folder) || ts.sys.directoryExists(folder),
    getSourceFile: (file, language, ...rest) => {
      const text = declarations.get(file);
      return text === undefined ? real.getSourceFile(file, language, ...rest) : ts.createSourceFile(file, text, language, true);
    },
  };
  return ts.createProgram([...declarations.keys()], options, host);
}

function ancestors(folder: string, root: string): string[] {
  const found: string[] = [];
  for (let current = folder; current.startsWith(root) && current !== root; current = dirname(current)) found.push(current);
  return found;
}

function report(root: string, entry: EntryPoint, moduleSymbol: ts.Symbol, checker: ts.TypeChecker, declarations: Map<string, string>): string {
  const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed });
  const isOwn = (node: ts.Node) => declarations.has(node.getSourceFile().fileName);
  const resolve = (symbol: ts.Symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);

  const exports = checker.getExportsOfModule(moduleSymbol).sort((a, b) => compare(a.name, b.name));
  const exported = new Set(exports.map(resolve));
  const imports = new Map<string, Set<string>>();
  const reachable = new Map<ts.Symbol, ts.Declaration[]>();
  const queue: ts.Declaration[] = [];

  // Records what a declaration's signature refers to: external types as imports, own types that are
  // not exported as reachable declarations to print too.
  const collectReferences = (declaration: ts.Node) => {
    const visit = (node: ts.Node): void => {
      const name = ts.isTypeReferenceNode(node)
        ? node.typeName
        : ts.isExpressionWithTypeArguments(node)
          ? node.expression
          : ts.isTypeQueryNode(node)
            ? node.exprName
            : ts.isImportTypeNode(node)
              ? node.qualifier
              : undefined;
      if (name) {
        const leftmost = leftmostIdentifier(name);
        const symbol = leftmost && checker.getSymbolAtLocation(leftmost);
        const imported = symbol?.declarations?.[0];
        const from = imported && externalImport(imported);
        if (from) (imports.get(from.module) ?? imports.set(from.module, new Set()).get(from.module)!).add(from.clause);
        const target = checker.getSymbolAtLocation(name);
        const resolved = target && resolve(target);
        const own = resolved?.declarations?.filter((d) => isOwn(d) && !ts.isTypeParameterDeclaration(d));
        if (resolved && own?.length && !exported.has(resolved) && !reachable.has(resolved)) {
          reachable.set(resolved, own);
          queue.push(...own);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(declaration);
  };

  const exportBlocks = exports.map((symbol) => {
    const target = resolve(symbol);
    const own = (target.declarations ?? []).filter(isOwn);
    own.forEach(collectReferences);
    const typeOnly = Boolean(target.flags & ts.SymbolFlags.Value) && (symbol.declarations ?? []).some((d) => ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly));
    if (own.length === 0) return `export { ${symbol.name} }; // declared by another package`;
    const lines = own.map((declaration) => printDeclaration(declaration, printer, symbol.name === target.name));
    if (symbol.name !== target.name) lines.push(symbol.name === 'default' ? `export default ${target.name};` : `export { ${target.name} as ${symbol.name} };`);
    return [...(typeOnly ? ['// exported with `export type`: a type only'] : []), ...lines].join('\n');
  });

  while (queue.length > 0) collectReferences(queue.shift()!);
  const reachableBlocks = [...reachable.values()]
    .map((own) => ({ name: (own[0] as ts.NamedDeclaration).name?.getText() ?? '', file: relativeSource(root, own[0]!), text: own.map((d) => printDeclaration(d, printer, false)).join('\n') }))
    .sort((a, b) => compare(a.name, b.name) || compare(a.file, b.file))
    .map(({ file, text }) => `// ${file}\n${text}`);

  const importLines = [...imports.entries()].sort(([a], [b]) => compare(a, b)).flatMap(([module, clauses]) => importStatements(module, clauses));
  return [
    `# API report: ${entry.specifier}`,
    '',
    `The public surface of \`${entry.specifier}\` (${entry.source}), as its type declarations declare it. Generated by`,
    '`npm run api-report`; do not edit. A diff here is a change to what users import: review it as one.',
    '',
    '```ts',
    ...(importLines.length ? [...importLines, ''] : []),
    exportBlocks.join('\n\n'),
    ...(reachableBlocks.length ? ['', '// Not exported, but reachable through the signatures above:', '', reachableBlocks.join('\n\n')] : []),
    '```',
    '',
  ].join('\n');
}

/** One declaration as the .d.ts has it, with `export` when it is exported under its own name. */
function printDeclaration(declaration: ts.Declaration, printer: ts.Printer, exported: boolean): string {
  const file = declaration.getSourceFile();
  const node = ts.isVariableDeclaration(declaration) ? ts.factory.createVariableStatement(undefined, ts.factory.createVariableDeclarationList([declaration], declaration.parent.flags & ts.NodeFlags.BlockScoped)) : declaration;
  const withoutPrivate = ts.transform(node, [dropPrivateMembers]).transformed[0]!;
  const text = printer.printNode(ts.EmitHint.Unspecified, withoutPrivate, file);
  const bare = text.replace(/^(export )?(default )?(declare )?/, '');
  return `${exported ? 'export ' : ''}declare ${bare}`.replace(/^(export )?declare (interface|type) /, '$1$2 ');
}

/** Private members are not part of the surface users program against (a private constructor is). */
const dropPrivateMembers: ts.TransformerFactory<ts.Node> = (context) => {
  const isPrivate = (node: ts.ClassElement) => (node.name !== undefined && ts.isPrivateIdentifier(node.name)) || (ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Private) !== 0;
  const visit = (node: ts.Node): ts.Node | undefined => {
    if (ts.isClassElement(node) && !ts.isConstructorDeclaration(node) && isPrivate(node)) return undefined;
    return ts.visitEachChild(node, visit, context);
  };
  return (node) => visit(node)!;
};

function leftmostIdentifier(name: ts.Node): ts.Identifier | undefined {
  if (ts.isIdentifier(name)) return name;
  if (ts.isQualifiedName(name)) return leftmostIdentifier(name.left);
  if (ts.isPropertyAccessExpression(name)) return leftmostIdentifier(name.expression);
  return undefined;
}

/** For a name imported from another package (a bare specifier), the module and the import clause. */
function externalImport(declaration: ts.Declaration): { module: string; clause: string } | undefined {
  const clause = ts.isImportSpecifier(declaration) ? `{ ${declaration.propertyName ? `${declaration.propertyName.text} as ` : ''}${declaration.name.text} }` : ts.isNamespaceImport(declaration) ? `* as ${declaration.name.text}` : ts.isImportClause(declaration) && declaration.name ? declaration.name.text : undefined;
  let importDeclaration: ts.Node = declaration;
  while (!ts.isImportDeclaration(importDeclaration)) {
    if (!importDeclaration.parent) return undefined;
    importDeclaration = importDeclaration.parent;
  }
  const module = (importDeclaration.moduleSpecifier as ts.StringLiteral).text;
  return clause && !module.startsWith('.') ? { module, clause } : undefined;
}

/** `import type { A, B } from 'm';`, with namespace and default imports on lines of their own. */
function importStatements(module: string, clauses: Set<string>): string[] {
  const named = [...clauses].filter((clause) => clause.startsWith('{')).map((clause) => clause.slice(2, -2));
  const others = [...clauses].filter((clause) => !clause.startsWith('{'));
  return [...others, ...(named.length ? [`{ ${named.sort(compare).join(', ')} }`] : [])].sort(compare).map((clause) => `import type ${clause} from '${module}';`);
}

function relativeSource(root: string, declaration: ts.Node): string {
  return relative(join(root, VIRTUAL_OUT_DIR), declaration.getSourceFile().fileName).replace(/\.d\.ts$/, '.ts');
}

/** Code-unit order: the same on every machine and locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
