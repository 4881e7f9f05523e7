/**
 * `npm run bench`: every benchmark, one after another (each in its own process, so one's memory does not
 * weigh on the next), each printing its own tables, then one summary table against the targets.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { SummaryRow } from './summary.js';

const scripts = ['core.ts', 'tracing.ts', 'aws-durable-comparison.ts', 'cost.ts', 'payloads.ts', 'fan-out.ts'];
const dir = mkdtempSync(join(tmpdir(), 'perdure-bench-'));
const file = join(dir, 'summary.jsonl');
const began = performance.now();
for (const script of scripts) {
  console.log(`\n=== bench/${script} ===`);
  execFileSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(import.meta.dirname, script)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_SUMMARY: file, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
}
const rows = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as SummaryRow);
rmSync(dir, { recursive: true, force: true });

const cells = rows.map((row) => [row.area, row.metric, row.result, row.target ?? '', row.met === undefined ? '' : row.met ? 'met' : 'MISSED']);
const headers = ['area', 'metric', 'result', 'target', ''];
const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((cell) => cell[i]!.length)));
const line = (cell: string[]) => `| ${cell.map((text, i) => text.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\n=== summary: ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${((performance.now() - began) / 60_000).toFixed(1)} min ===\n`);
console.log(line(headers));
console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
for (const cell of cells) console.log(line(cell));
