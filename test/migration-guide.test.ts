import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// docs/migrating-from-aws-durable-functions.md maps every public name of the AWS durable execution SDK
// (the version in devDependencies) to Perdure's. Upgrading that package makes this test list what is new.

const guideUrl = new URL('../docs/migrating-from-aws-durable-functions.md', import.meta.url);

/** Every identifier that appears inside a `code span` or a fenced block of the guide. */
async function namesInCode(): Promise<Set<string>> {
  const text = await readFile(guideUrl, 'utf8');
  const code = [...text.matchAll(/```[\s\S]*?```|`[^`\n]+`/g)].map((match) => match[0]).join('\n');
  return new Set(code.match(/[A-Za-z_$][\w$]*/g));
}

/** The AWS SDK's exports, and the members of its DurableContext, read from its type declarations. */
function peerSurface(): { version: string; exports: string[]; contextMembers: string[] } {
  // The package's exports do not include package.json: read it from where npm installs it.
  const root = fileURLToPath(new URL('../node_modules/@aws/durable-execution-sdk-js/', import.meta.url));
  const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string };
  const file = `${root}dist-types/index.d.ts`;
  const program = ts.createProgram([file], { skipLibCheck: true });
  const checker = program.getTypeChecker();
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file)!)!);
  const context = exports.find((symbol) => symbol.name === 'DurableContext')!;
  const contextType = checker.getDeclaredTypeOfSymbol(checker.getAliasedSymbol(context));
  return { version, exports: exports.map((symbol) => symbol.name).sort(), contextMembers: contextType.getProperties().map((member) => member.name) };
}

describe('the migration guide', () => {
  const peer = peerSurface();

  it('names the AWS SDK version it was written against', async () => {
    expect(await readFile(guideUrl, 'utf8')).toContain(`version **${peer.version}**`);
  });

  it('maps every exported name of the AWS SDK', async () => {
    const mentioned = await namesInCode();
    expect(peer.exports.length).toBeGreaterThan(100);
    expect(peer.exports.filter((name) => !mentioned.has(name))).toEqual([]);
  });

  it('maps every member of DurableContext, as context.<member>', async () => {
    const text = await readFile(guideUrl, 'utf8');
    expect(peer.contextMembers.length).toBeGreaterThan(10);
    expect(peer.contextMembers.filter((member) => !text.includes(`context.${member}`))).toEqual([]);
  });

  it('is linked from the README', async () => {
    expect(await readFile(new URL('../README.md', import.meta.url), 'utf8')).toContain('(docs/migrating-from-aws-durable-functions.md)');
  });
});
