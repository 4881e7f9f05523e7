/** Structured logging. Fields are JSON data; payload contents are never logged by Perdure itself. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

// Captured before the determinism guard replaces Date: log lines carry real time, even from orchestration code.
const RealDate = Date;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * A logger that writes one JSON object a line to stderr, dropping lines below `level`.
 * @defaultValue level: the `PERDURE_LOG_LEVEL` environment variable, else `'info'`
 */
export function createJsonLogger(level: LogLevel = defaultLevel(), write: (line: string) => void = (line) => process.stderr.write(line + '\n')): Logger {
  const min = RANK[level] ?? RANK.info;
  const at =
    (name: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (RANK[name] < min) return;
      write(JSON.stringify({ level: name, time: new RealDate().toISOString(), message, ...fields }));
    };
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
