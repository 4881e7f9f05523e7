/**
 * `npm run api-report`: writes api/*.api.md from the current sources (and removes the report of an entry
 * point that is gone). Commit the result with the change that made it.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiReports } from './api-report.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const folder = join(root, 'api');
mkdirSync(folder, { recursive: true });
const reports = apiReports(root);
for (const name of readdirSync(folder).filter((file) => file.endsWith('.api.md') && !reports.has(file))) {
  rmSync(join(folder, name));
  console.log(`api/${name}: removed (no such entry point)`);
}
for (const [name, text] of reports) {
  const path = join(folder, name);
  let before: string | undefined;
  try {
    before = readFileSync(path, 'utf8');
  } catch {
    before = undefined;
  }
  if (before !== text) writeFileSync(path, text);
  console.log(`api/${name}: ${before === undefined ? 'written' : before === text ? 'unchanged' : 'updated'}`);
}
