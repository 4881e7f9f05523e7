/**
 * Structured logging: a message and one object of fields (JSON data), merged into the line. Perdure passes
 * at most one fields object; the rest parameter is what lets a Powertools for AWS Lambda `Logger` be passed
 * as it is. Payload contents are never logged by Perdure itself.
 */
export interface Logger {
  debug(message: string, ...fields: Record<string, unknown>[]): void;
  info(message: string, ...fields: Record<string, unknown>[]): void;
  warn(message: string, ...fields: Record<string, unknown>[]): void;
  error(message: string, ...fields: Record<string, unknown>[]): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

// Captured before the determinism guard replaces Date: log lines carry real time, even from orchestration code.
const RealDate = Date;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface JsonLoggerOptions {
  /** Lines below this level are dropped. @defaultValue the `PERDURE_LOG_LEVEL` environment variable, else `'info'` */
  level?: LogLevel;
  /**
   * Field names whose values are replaced by `"[redacted]"`, at any depth (case-insensitive), for the
   * fields your code logs with `ctx.log` or `actx.log`: e.g. `['email', 'cardNumber']`.
   * @defaultValue the comma-separated `PERDURE_LOG_REDACT` environment variable
   */
  redact?: string[];
  /** @defaultValue a line on stderr */
  write?: (line: string) => void;
}

/** A logger that writes one JSON object a line, drops lines below its level, and redacts the named fields. */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const min = RANK[options.level ?? defaultLevel()] ?? RANK.info;
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const redacted = new Set((options.redact ?? defaultRedact()).map((name) => name.toLowerCase()));
  const at =
    (name: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (RANK[name] < min) return;
      const shown = redacted.size && fields ? (redact(fields, redacted) as Record<string, unknown>) : fields;
      write(JSON.stringify({ level: name, time: new RealDate().toISOString(), message, ...shown }));
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function redact(value: unknown, names: Set<string>, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > 8) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, names, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, names.has(key.toLowerCase()) ? '[redacted]' : redact(item, names, depth + 1)]));
}

/** The field names `PERDURE_LOG_REDACT` lists (comma-separated). */
export function defaultRedact(): string[] {
  return (process.env.PERDURE_LOG_REDACT ?? '').split(',').map((name) => name.trim()).filter(Boolean);
}

/**
 * Wraps any logger (a Powertools for AWS Lambda `Logger`, your own) so that the named fields of each line
 * are replaced by `"[redacted]"`, at any depth (case-insensitive). `createApp({ logger, redact })` does this for you.
 * @example const logger = redactingLogger(new Logger({ serviceName: 'orders' }), ['email', 'cardNumber']);
 */
export function redactingLogger(logger: Logger, fields: string[]): Logger {
  const names = new Set(fields.map((name) => name.toLowerCase()));
  if (names.size === 0) return logger;
  const at =
    (level: Exclude<LogLevel, 'silent'>) =>
    (message: string, ...more: Record<string, unknown>[]): void =>
      logger[level](message, ...more.map((item) => redact(item, names) as Record<string, unknown>));
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A logger that adds `fields` to every line. */
export function childLogger(parent: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (message, more) => parent.debug(message, { ...fields, ...more }),
    info: (message, more) => parent.info(message, { ...fields, ...more }),
    warn: (message, more) => parent.warn(message, { ...fields, ...more }),
    error: (message, more) => parent.error(message, { ...fields, ...more }),
  };
}

function defaultLevel(): LogLevel {
  const level = process.env.PERDURE_LOG_LEVEL as LogLevel | undefined;
  return level && level in RANK ? level : 'info';
}
