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
  /** Where lines go; stderr by default (tests capture them here). */
  stream?: NodeJS.WritableStream;
}

/** A root logger writing to stderr, so stdout stays clean for command output. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { format } = winston;
  // Messages and field values may hold what a peer or a request sent: escaped, one line each.
  const line = format.printf((info) => {
    const { level, message, timestamp, component, ...fields } = info as Record<string, unknown>;
    const extra = Object.entries(fields)
      .filter(([k]) => typeof k === 'string' && !k.startsWith('Symbol'))
      .map(([k, v]) => `${escapeControls(k)}=${formatValue(v)}`)
      .join(' ');
    const name = component === undefined ? '' : `[${escapeControls(String(component))}] `;
    return `${timestamp} ${level} ${name}${escapeControls(String(message))}${extra ? ' ' + extra : ''}`;
  });
  const formats = [format.timestamp(), errorsToFields()];
  if (options.json) formats.push(format.json());
  else {
    if (options.color) formats.push(format.colorize());
    formats.push(line);
  }
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] });
  return winston.createLogger({
    level: options.level ?? 'info',
    format: format.combine(...formats),
    transports: [transport],
  }) as unknown as Logger;
}

// C0, DEL, C1, and the Unicode line and paragraph separators: anything that can end or rewrite a line.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const SHORT_ESCAPES = new Map([['\n', '\\n'], ['\r', '\\r'], ['\t', '\\t']]);
/** A string field value that needs no quotes: no space, '=', '"', backslash or control character. */
const BARE = /^[^\s="\\\u0000-\u001f\u007f-\u009f]+$/;

/** Control characters as escapes (\n, \u001b), so a value can neither break nor forge a log line. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => SHORT_ESCAPES.get(c) ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A field value, logfmt style: a string bare when it is one plain token, otherwise JSON-quoted;
 * anything else as JSON, quoted only if it holds a space (a string inside an object).
 */
function formatValue(value: unknown): string {
  if (typeof value === 'string') return BARE.test(value) ? value : escapeControls(JSON.stringify(value));
  const text = escapeControls(JSON.stringify(value) ?? String(value));
  return /\s/.test(text) ? JSON.stringify(text) : text;
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
