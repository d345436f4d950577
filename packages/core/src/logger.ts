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

/** One line per step on stderr, prefixed with the pid like endless's logs: `baton[4312] ...`. */
export function createStderrLogger(level: LogLevel): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const method =
    (name: Exclude<LogLevel, 'silent'>): LogMethod =>
    (_fields, message) => {
      if (LOG_LEVELS.indexOf(name) > threshold || threshold === 0) return;
      const tag = name === 'info' ? '' : ` ${name}:`;
      process.stderr.write(`baton[${process.pid}]${tag} ${message}\n`);
    };
  return { error: method('error'), warn: method('warn'), info: method('info'), debug: method('debug') };
}

/** Logs through the configured logger and publishes the same step on the lifecycle channel. */
export class LifecycleLog {
  constructor(private logger: Logger) {}

  use(logger: Logger): void {
    this.logger = logger;
  }

  emit(level: Exclude<LogLevel, 'silent'>, event: string, message: string, fields: Record<string, unknown> = {}): void {
    const record = { event, pid: process.pid, ...fields };
    this.logger[level](record, message);
    if (lifecycleChannel.hasSubscribers) {
      lifecycleChannel.publish({ ...record, level, message } satisfies LifecycleMessage);
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
