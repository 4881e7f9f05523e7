/**
 * What `npm i perdure` gives a user: the tarball `npm pack` makes (built by prepack), installed into a
 * fresh app with the optional peers, used through its public entry points and its bin only.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  exports: Record<string, { types: string; default: string }>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};
/** The peers a user of every entry point installs, plus @types/node, at the versions this repo tests with. */
const APP_DEPENDENCIES = ['aws-cdk-lib', 'constructs', 'esbuild', 'eslint', '@types/node'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function succeed(command: string, args: string[], cwd: string): Promise<string> {
  const result = await run(command, args, cwd);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code}:\n${result.stderr.slice(-4000)}\n${result.stdout.slice(-4000)}`);
  return result.stdout;
}

const node = (app: string, script: string, ...args: string[]) => succeed(process.execPath, [script, ...args], app);
const versionInRepo = (name: string) => (JSON.parse(readFileSync(join(repo, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

describe('the packed package, installed into a fresh app', () => {
  let work: string;
  let app: string;
  let packedFiles: string[];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'perdure-package-'));
    const packed = await succeed('npm', ['pack', '--json', '--pack-destination', work], repo);
    const [tarball] = JSON.parse(packed.slice(packed.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    packedFiles = tarball!.files.map((file) => file.path);

    app = join(work, 'app');
    cpSync(fileURLToPath(new URL('consumer', import.meta.url)), app, { recursive: true });
    const dependencies = Object.fromEntries([['perdure', `file:${join(work, tarball!.filename)}`], ...APP_DEPENDENCIES.map((name) => [name, versionInRepo(name)])]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'perdure-consumer', private: true, type: 'module', dependencies }, null, 2));
    // The repo's `npm ci` has filled the npm cache with every one of these packages.
    await succeed('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], app);
    // Type-checks the app against the installed declarations and compiles it to build/.
    await succeed(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], app);
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the built entry points, their declarations and the bin, and no sources, tests or benchmarks', () => {
    const targets = [...Object.values(manifest.exports).flatMap((entry) => [entry.types, entry.default]), ...Object.values(manifest.bin)];
    for (const target of targets) expect(packedFiles).toContain(target.replace(/^\.\//, ''));
    const outsideDist = packedFiles.filter((path) => !path.startsWith('dist/'));
    expect(outsideDist.sort()).toEqual(['README.md', 'SECURITY.md', 'package.json']);
    expect(packedFiles.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
  });

  it('declares every package its type declarations import, as a dependency or a peer', () => {
    const declared = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)]);
    const packageName = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
    const imported = new Set(
      packedFiles
        .filter((path) => path.endsWith('.d.ts'))
        .flatMap((path) => [...readFileSync(join(app, 'node_modules', 'perdure', path), 'utf8').matchAll(/(?:from |import\()['"]([^'".][^'"]*)['"]/g)].map((match) => match[1]!))
        .filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier))
        .map(packageName),
    );
    expect([...imported].filter((name) => !declared.has(name))).toEqual([]);
    expect([...imported]).toContain('aws-cdk-lib');
  });

  it('runs an orchestration in the TestEnvironment, importing only perdure', async () => {
    const result = JSON.parse(await node(app, 'build/run.js')) as { status: string; output: unknown; events: string[] };
    expect(result.status).toBe('Completed');
    expect(result.output).toEqual({ approved: true, total: 90 });
    expect(result.events.filter((type) => type !== 'StepStarted')).toEqual([
      'ExecutionStarted',
      'EventRaised',
      'ActivityScheduled',
      'ActivityScheduled',
      'ActivityCompleted',
      'ActivityCompleted',
      'TimerCreated',
      'TimerFired',
      'ExecutionCompleted',
    ]);
  });

  it('synthesizes a stack with perdure/cdk offline, whose bundled handlers answer the API', async () => {
    await node(app, 'build/synth.js', 'cdk.out');
    const template = JSON.parse(readFileSync(join(app, 'cdk.out', 'Orders.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
    // The app's functions; the replay gate's custom resource provider is a function of the CDK's own.
    const functions = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function' && resource.Properties.Handler.startsWith('index.'));
    expect(functions.map((fn) => fn.Properties.Handler).sort()).toEqual(['index.activity', 'index.activityDeadLetters', 'index.api', 'index.orchestrator', 'index.orchestratorDeadLetters', 'index.replayGate', 'index.scheduleFired', 'index.shadowReplay', 'index.timer']);
    for (const fn of functions) expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Environment: { Variables: { PERDURE_RETENTION_DAYS: '7' } } });
    // The app's schedule, passed as schedules: app.schedules().
    const morning = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Scheduler::Schedule' && (JSON.parse(resource.Properties.Target.Input) as { schedule?: string }).schedule === 'morning');
    expect(morning.map((resource) => [resource.Properties.ScheduleExpression, resource.Properties.ScheduleExpressionTimezone])).toEqual([['cron(0 8 ? * MON-FRI *)', 'America/New_York']]);

    // Every function runs the same bundle (same entry, same options): esbuild's output from the app's code.
    const [asset, ...others] = readdirSync(join(app, 'cdk.out')).filter((name) => name.startsWith('asset.') && readdirSync(join(app, 'cdk.out', name)).includes('index.mjs'));
    expect(others).toEqual([]);
    const resources = { PERDURE_TABLE: 'orders', PERDURE_BUCKET: 'payloads', PERDURE_ORCHESTRATOR_QUEUE_URL: 'http://127.0.0.1:9/o', PERDURE_ACTIVITY_QUEUE_URL: 'http://127.0.0.1:9/a', PERDURE_TIMER_QUEUE_URL: 'http://127.0.0.1:9/t' };
    const called = await run(process.execPath, ['build/call-bundle.js', join(app, 'cdk.out', asset!, 'index.mjs')], app, { ...process.env, ...resources, AWS_REGION: 'eu-west-1' });
    expect(called.stderr).not.toMatch(/Error/);
    const { exports, response } = JSON.parse(called.stdout) as { exports: string[]; response: { statusCode: number; body: string } };
    expect(exports).toEqual(['activity', 'activityDeadLetters', 'api', 'orchestrator', 'orchestratorDeadLetters', 'replayGate', 'scheduleFired', 'shadowReplay', 'timer']);
    expect(response.statusCode).toBe(404);
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'ROUTE_NOT_FOUND' } });
  }, 180_000);

  it('installs the perdure bin: help, a misused command line, and a command that reaches for the API', async () => {
    const bin = join(app, 'node_modules', '.bin', 'perdure');
    const help = await run(bin, ['--help'], app);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: perdure <command> \[options\]/);
    expect(help.stdout).toMatch(/^ {2}raise-event /m);

    const unknown = await run(bin, ['frobnicate'], app);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/^Unknown command "frobnicate"\. Commands: start, status/);

    const unreachable = await run(bin, ['status', 'order-1', '--endpoint', 'http://127.0.0.1:9'], app);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/Cannot reach the Perdure API/);
  });

  it('lints orchestration code with perdure/eslint: Date.now() in the orchestration, not in the activity, and a dropped durable call', async () => {
    expect(JSON.parse(await node(app, 'build/eslint-plugin.js'))).toEqual({
      rules: ['deterministic-orchestrations', 'no-unawaited-durable-calls'],
      recommended: { 'perdure/deterministic-orchestrations': 'error', 'perdure/no-unawaited-durable-calls': 'error' },
    });
    const eslint = join(app, 'node_modules', '.bin', 'eslint');
    const linted = await run(eslint, ['--format', 'json', 'orchestrations.js'], app);
    expect(linted.code).toBe(1);
    const [file] = JSON.parse(linted.stdout) as { messages: { ruleId: string; line: number; message: string }[] }[];
    expect(file!.messages).toEqual([
      expect.objectContaining({ ruleId: 'perdure/deterministic-orchestrations', line: 6, message: expect.stringMatching(/^Date\.now\(\) in an orchestration: use ctx\.now\(\)/) }),
      expect.objectContaining({ ruleId: 'perdure/no-unawaited-durable-calls', line: 8, message: expect.stringMatching(/^void ctx\.callActivity\(\.\.\.\) still records and runs the call/) }),
    ]);
  });
});
