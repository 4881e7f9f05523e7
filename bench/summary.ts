import { appendFileSync } from 'node:fs';

/** One line of the table `npm run bench` prints at the end. */
export interface SummaryRow {
  area: string;
  metric: string;
  result: string;
  /** What we promised, e.g. '≤ 8'. */
  target?: string;
  /** Whether the result meets the target; omitted when there is no target. */
  met?: boolean;
}

/** Hands rows to `bench/all.ts` (through BENCH_SUMMARY); a script run on its own just prints its own tables. */
export function summarize(...rows: SummaryRow[]): void {
  const file = process.env.BENCH_SUMMARY;
  if (file) for (const row of rows) appendFileSync(file, `${JSON.stringify(row)}\n`);
}
