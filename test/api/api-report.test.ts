import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiReports } from './api-report.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const STALE = 'the public API changed: run npm run api-report and commit the diff';

describe('the API report (api/*.api.md)', () => {
  let reports: Map<string, string>;

  beforeAll(() => {
    reports = apiReports(root);
  }, 180_000);

  it('is up to date with every entry point in package.json "exports"', () => {
    const checkedIn = readdirSync(join(root, 'api')).filter((file) => file.endsWith('.api.md'));
    expect(checkedIn.sort(), STALE).toEqual([...reports.keys()].sort());
    for (const [file, text] of reports) expect(readFileSync(join(root, 'api', file), 'utf8'), `${STALE} (api/${file})`).toBe(text);
  });

  it('shows each export with its signature, and the unexported declarations its signatures reach', () => {
    const main = reports.get('perdure.api.md')!;
    expect(main).toContain('\nexport declare function createApp(options?: AppOptions): App;\n');
    expect(main).toMatch(/\nexport declare class TestEnvironment \{\n(?: {4}.*\n)* {4}readonly clock: VirtualClock;\n/);
    expect(main).toMatch(/\n\/\/ lib\/memory\/virtual-clock\.ts\ndeclare class VirtualClock implements Clock \{\n/);
    // Private members (a private constructor is kept: it says the class cannot be constructed) and doc comments are not part of the surface.
    expect(main).not.toMatch(/^\s*private (?!constructor)|#private|\/\*\*/m);
    expect(main).toContain('    private constructor();');
    expect(reports.get('perdure-eslint.api.md')).toContain("import type { ESLint, Linter } from 'eslint';\n\ndeclare const plugin:");
    expect(reports.get('perdure-cdk.api.md')).toContain('\nexport declare class DurableFunctions extends Construct {\n');
  });
});
