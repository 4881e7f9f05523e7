/**
 * The local stack (`npm start`, functions/local.ts) as a child process of a benchmark: started with a data
 * folder of its own, driven over HTTP, measured (peak RSS of the Node process and of DynamoDB Local's
 * Java process), stopped, or killed with SIGKILL as a crashed machine would be.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const READY = /is up in [\d.]+ s: (http:\/\/\S+)/;

export interface StackProcessOptions {
  dataDir: string;
  /** The Node binary the stack runs on. @defaultValue this process's */
  node?: string;
  /** Extra flags for the stack's Node process, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** @defaultValue 120 s */
  startTimeoutMs?: number;
}

/** A measure of each of the stack's processes (peak RSS in MiB, CPU time in ms). */
export interface ByProcess {
  node: number;
  java: number;
}

export class StackProcess {
  private readonly output: string[] = [];
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    exited: Promise<number | null>,
    output: string[],
  ) {
    this.exited = exited;
    this.output = output;
  }

  static async start(options: StackProcessOptions): Promise<StackProcess> {
    // detached: the stack leads a process group of its own (with DynamoDB Local's JVM), so that a kill reaches both.
    const child = spawn(options.node ?? process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', 'functions/local.ts'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORT: '0', PERDURE_DATA_DIR: options.dataDir, PERDURE_LOG_LEVEL: 'error', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...options.env },
    });
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 200) output.splice(0, output.length - 200);
    };
    child.stderr.on('data', keep);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`the local stack did not start within ${(options.startTimeoutMs ?? 120_000) / 1000} s:\n${output.join('')}`)), options.startTimeoutMs ?? 120_000);
      child.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const match = READY.exec(seen);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the local stack exited (code ${code}) before it was up:\n${output.join('')}`));
      });
    });
    child.stdout.resume();
    return new StackProcess(child, url, exited, output);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The last lines the stack wrote to stderr (its error log). */
  tail(): string {
    return this.output.join('').split('\n').slice(-20).join('\n');
  }

  /** Peak RSS so far (the kernel's high-water mark) of the Node process and of its JVM. */
  peakRss(): ByProcess {
    const java = childrenOf(this.pid).find((pid) => commandOf(pid) === 'java');
    return { node: highWaterMiB(this.pid), java: java === undefined ? 0 : highWaterMiB(java) };
  }

  /**
   * CPU time used so far (user + system) by the Node process and by its JVM, in ms: what a workload costs
   * whatever else the machine runs, where steps per second depend on it.
   */
  cpuMs(): ByProcess {
    const java = childrenOf(this.pid).find((pid) => commandOf(pid) === 'java');
    return { node: cpuMsOf(this.pid), java: java === undefined ? 0 : cpuMsOf(java) };
  }

  /** Stops the stack as Ctrl+C would, and waits for it to exit. */
  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => void this.kill(), 60_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills the stack and its JVM at once with SIGKILL, mid-flight, and waits for it to be gone. */
  async kill(): Promise<void> {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.exited;
  }
}

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command may hold spaces and parentheses: the fields after its closing parenthesis are fixed.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function highWaterMiB(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

/** Linux reports CPU time in clock ticks of 1/100 s (USER_HZ). */
const TICK_MS = 10;

function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command's closing parenthesis: state is field 3, utime field 14 and stime field 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}
