import diagnosticsChannel from 'node:diagnostics_channel';

export const LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type LogMethod = (fields: Record<string, unknown>, message: string) => void;

/** The subset of pino's API baton calls: `logger.info({ pid }, 'message')`. A pino instance fits as is. */
export interface Logger {
  error: LogMethod;
  warn: LogMethod;
  info: LogMethod;
  debug: LogMethod;
}

/**
 * Every lifecycle step is also published here, whatever the log level, so tools can observe
 * baton without parsing logs: `diagnostics_channel.subscribe('baton:lifecycle', ...)`.
 */
export const lifecycleChannel = diagnosticsChannel.channel('baton:lifecycle');

export interface LifecycleMessage {
  event: string;
  level: Exclude<LogLevel, 'silent'>;
  message: string;
  pid: number;
  [field: string]: unknown;
}

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * One line per step on stderr. `text`, prefixed with the pid like endless's logs: `baton[4312] ...`;
 * `json`, one object a line for log shippers (journald, Kubernetes): time, level, pid, event, msg and
 * the step's fields.
 */
export function createStderrLogger(level: LogLevel, format: LogFormat = 'text'): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const method =
    (name: Exclude<LogLevel, 'silent'>): LogMethod =>
    (fields, message) => {
      if (LOG_LEVELS.indexOf(name) > threshold || threshold === 0) return;
      if (format === 'json') {
        const line = { time: new Date().toISOString(), level: name, pid: process.pid, ...fields, msg: message };
        process.stderr.write(`${JSON.stringify(line, jsonSafe)}\n`);
        return;
      }
      const tag = name === 'info' ? '' : ` ${name}:`;
      process.stderr.write(`baton[${process.pid}]${tag} ${message}\n`);
    };
  return { error: method('error'), warn: method('warn'), info: method('info'), debug: method('debug') };
}

/** BigInts (MONOTONIC_USEC) as strings: JSON.stringify throws on them. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** Logs through the configured logger and publishes the same step on the lifecycle channel. */
export class LifecycleLog {
  constructor(private logger: Logger) {}

  use(logger: Logger): void {
    this.logger = logger;
  }

  emit(level: Exclude<LogLevel, 'silent'>, event: string, message: string, fields: Record<string, unknown> = {}): void {
    // No pid for the logger: pino (and the built-in logger) add their own, and a field must not appear twice.
    this.logger[level]({ event, ...fields }, message);
    if (lifecycleChannel.hasSubscribers) {
      lifecycleChannel.publish({ event, pid: process.pid, ...fields, level, message } satisfies LifecycleMessage);
    }
  }

  error(event: string, message: string, fields?: Record<string, unknown>): void {
    this.emit('error', event, message, fields);
  }
  warn(event: string, message: string, fields?: Record<string, unknown>): void {
    this.emit('warn', event, message, fields);
  }
  info(event: string, message: string, fields?: Record<string, unknown>): void {
    this.emit('info', event, message, fields);
  }
  debug(event: string, message: string, fields?: Record<string, unknown>): void {
    this.emit('debug', event, message, fields);
  }
}
