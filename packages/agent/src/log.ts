import winston from 'winston';

/** The logging surface library code depends on; a winston Logger satisfies it. */
export interface Logger {
  error(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
  child(meta: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: string;
  json?: boolean;
  /** Colour only when asked: winston's colorize ignores TTY and NO_COLOR. */
  color?: boolean;
}

/** A root logger writing to stderr, so stdout stays clean for command output. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { format } = winston;
  const line = format.printf((info) => {
    const { level, message, timestamp, component, ...fields } = info as Record<string, unknown>;
    const extra = Object.entries(fields)
      .filter(([k]) => typeof k === 'string' && !k.startsWith('Symbol'))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${timestamp} ${level} ${component ? `[${component}] ` : ''}${message}${extra ? ' ' + extra : ''}`;
  });
  const formats = [format.timestamp(), errorsToFields()];
  if (options.json) formats.push(format.json());
  else {
    if (options.color) formats.push(format.colorize());
    formats.push(line);
  }
  return winston.createLogger({
    level: options.level ?? 'info',
    format: format.combine(...formats),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  }) as unknown as Logger;
}

/** A logger that drops everything: the default for library parts and tests. */
export function silentLogger(): Logger {
  const logger: Logger = {
    error() {},
    warn() {},
    info() {},
    debug() {},
    child: () => logger,
  };
  return logger;
}

// An Error nested in metadata serializes to {} in JSON: log its message instead.
function errorsToFields() {
  return winston.format((info) => {
    for (const [key, value] of Object.entries(info)) {
      if (value instanceof Error) (info as Record<string, unknown>)[key] = value.message;
    }
    return info;
  })();
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
