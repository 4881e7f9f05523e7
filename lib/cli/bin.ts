#!/usr/bin/env node
// The `perdure` program. It always runs the CLI: a check of "is this module the entry point" fails for
// npm's bin links (a symlink or a .cmd shim) and for the built .js file, so it lives in its own module.
import type { CliIo } from './commands.js';
import { runCli } from './main.js';

const progress = process.stderr.isTTY ? (text: string) => process.stderr.write(`\r${text}`) : undefined;
const io: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${progress ? '\n' : ''}${text}\n`),
  ...(progress ? { progress } : {}),
};
runCli(process.argv.slice(2), io).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`perdure: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
