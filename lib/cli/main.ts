/**
 * `perdure`: the operator's command line. It talks to the HTTP API: `npm start`'s local stack by default,
 * a deployed stack with --endpoint (requests signed with your AWS credentials, or a --token).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ApiClient, CliError, type AuthMode } from './api-client.js';
import { COMMANDS, type CliIo, type CliOption, type Command } from './commands.js';

const GLOBAL_OPTIONS = {
  endpoint: { type: 'string', description: 'the API base URL (env PERDURE_ENDPOINT; default http://127.0.0.1:3000, npm start)' },
  auth: { type: 'string', description: 'none, iam (SigV4 with your AWS credentials) or token (default: iam for *.amazonaws.com)' },
  token: { type: 'string', description: 'a bearer token for a JWT-authorized API (env PERDURE_TOKEN)' },
  region: { type: 'string', description: "the API's AWS region (default: from the endpoint, else AWS_REGION)" },
  help: { type: 'boolean', short: 'h', description: 'show help' },
} as const satisfies Record<string, CliOption>;

function optionLines(options: Record<string, CliOption> = {}): string[] {
  return Object.entries(options).map(([name, option]) => {
    const flag = `--${name}${option.type === 'string' ? ' <value>' : ''}`;
    return `  ${flag.padEnd(26)}${option.description}`;
  });
}

function commandHelp(command: Command): string {
  return [
    `Usage: perdure ${command.name}${command.args ? ` ${command.args}` : ''} [options]`,
    '',
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    ...(command.options ? ['', 'Options:', ...optionLines(command.options)] : []),
    '',
    'Connection:',
    ...optionLines(GLOBAL_OPTIONS),
    ...(command.notes ? ['', 'Examples:', ...command.notes.map((note) => `  ${note}`)] : []),
  ].join('\n');
}

function overallHelp(): string {
  return [
    'Usage: perdure <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(20)}${command.summary}`),
    '',
    'Connection:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Run `perdure <command> --help` for the options of a command.',
  ].join('\n');
}

function parserOptions(options: Record<string, CliOption>): ParseArgsConfig['options'] {
  // parseArgs rejects keys it does not know, such as `description`.
  return Object.fromEntries(Object.entries(options).map(([name, { type, short }]) => [name, short ? { type, short } : { type }]));
}

/** Runs one command line and returns the exit code: 0 done, 1 failed, 2 misused. */
export async function runCli(argv: string[], io: CliIo, env: Record<string, string | undefined> = process.env): Promise<number> {
  const words = argv.filter((arg) => !arg.startsWith('-'));
  const command = COMMANDS.find((c) => c.name === words.slice(0, 2).join(' ')) ?? COMMANDS.find((c) => c.name === words[0]);
  if (!command) {
    if (argv.length === 0 || argv.includes('--help') || argv.includes('-h') || words[0] === 'help') {
      io.out(overallHelp());
      return argv.length === 0 ? 2 : 0;
    }
    const group = COMMANDS.filter((c) => c.name.startsWith(`${words[0]} `));
    io.err(group.length ? `perdure ${words[0]} needs a subcommand: ${group.map((c) => c.name.split(' ')[1]).join(', ')}.` : `Unknown command ${JSON.stringify(words[0])}. Commands: ${COMMANDS.map((c) => c.name).join(', ')}.`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: parserOptions({ ...GLOBAL_OPTIONS, ...command.options }), allowPositionals: true, strict: true });
  } catch (error) {
    io.err(`${(error as Error).message}\nRun \`perdure ${command.name} --help\`.`);
    return 2;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    io.out(commandHelp(command));
    return 0;
  }
  const positionals = parsed.positionals.slice(command.name.split(' ').length);
  const [min, max] = command.arity;
  if (positionals.length < min || positionals.length > max) {
    io.err(`Usage: perdure ${command.name} ${command.args}\n${positionals.length < min ? 'Missing arguments.' : `Unexpected argument ${JSON.stringify(positionals[max])}.`} Run \`perdure ${command.name} --help\`.`);
    return 2;
  }
  let api: ApiClient | undefined;
  try {
    const code = await command.run({
      values,
      positionals,
      io,
      api: () =>
        (api ??= new ApiClient({
          endpoint: (values.endpoint as string | undefined) ?? env.PERDURE_ENDPOINT ?? 'http://127.0.0.1:3000',
          auth: checkAuth((values.auth as string | undefined) ?? env.PERDURE_AUTH),
          token: (values.token as string | undefined) ?? env.PERDURE_TOKEN,
          region: values.region as string | undefined,
        })),
    });
    return code ?? 0;
  } catch (error) {
    if (error instanceof CliError || (error as { name?: string }).name === 'ValidationError') {
      io.err(`Error: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  }
}

function checkAuth(auth: string | undefined): AuthMode | undefined {
  if (auth === undefined || auth === 'none' || auth === 'iam' || auth === 'token') return auth;
  throw new CliError(`--auth must be none, iam or token, got ${JSON.stringify(auth)}.`);
}
