import { inspect } from 'node:util';
import { BatonError } from './errors';
import type { LogFormat, Logger, LogLevel } from './logger';
import { LOG_FORMATS, LOG_LEVELS } from './logger';

/**
 * Every default in one place. The README's options table and the tests read this object,
 * so the documentation cannot drift from the code.
 */
export const DEFAULTS = Object.freeze({
  /** How long the next generation has to become ready before it is killed and the reload fails. */
  readyTimeoutMs: 30_000,
  /** How long a retiring generation waits for its connections before closing what is left. */
  drainTimeoutMs: 30_000,
  /**
   * In place: how long the old generation stands by after its successor is ready, not accepting but
   * holding the sockets, to take them back if the successor dies (a build that crashes on its first
   * requests). 0 turns the rollback window off.
   */
  settleMs: 5_000,
  /**
   * In place: the next generation gets the environment this service was started with ('initial':
   * a changed .env applies, nothing accumulates) or this process's current process.env ('current').
   */
  successorEnv: 'initial' as SuccessorEnv,
  /**
   * At a reload, hand each idle plain-HTTP/1 keep-alive connection to the next generation instead of
   * closing it: clients keep their connections. TLS, HTTP/2 and upgraded connections drain politely.
   */
  migrateConnections: true,
  /**
   * After SIGTERM/SIGINT, keep accepting and serving this long (reporting not ready) before the drain,
   * so a load balancer or Kubernetes endpoints stop sending new connections first. Not for reloads.
   */
  shutdownDelayMs: 0,
  /** text | json (one JSON object a line) for the built-in stderr logger. */
  logFormat: 'text' as LogFormat,
  /** silent | error | warn | info | debug */
  logLevel: 'info' as LogLevel,
  /** auto: ready once every listen() is listening; manual: ready when the app calls ready(). */
  readiness: 'auto' as Readiness,
  /** Install SIGHUP (reload) and SIGTERM/SIGINT (drain and exit) handlers on the first listen(). */
  handleSignals: true,
  /** No pid file unless asked for. */
  pidFile: undefined as string | undefined,
  /** No control socket unless asked for. */
  control: undefined as string | undefined,
});

export type Readiness = 'auto' | 'manual';
export type SuccessorEnv = 'initial' | 'current';

export interface BatonOptions {
  /** Path of the pid file, written atomically by each generation when it is ready. Env: BATON_PID_FILE. */
  pidFile?: string;
  /** Env: BATON_READY_TIMEOUT_MS. */
  readyTimeoutMs?: number;
  /** Env: BATON_DRAIN_TIMEOUT_MS. */
  drainTimeoutMs?: number;
  /** Rollback window after a reload, in place (0: none). Env: BATON_SETTLE_MS. */
  settleMs?: number;
  /** 'current' passes this process's process.env on to the next generation instead of the initial one. */
  successorEnv?: SuccessorEnv;
  /** Move idle keep-alive connections to the next generation at a reload. Env: BATON_MIGRATE_CONNECTIONS. */
  migrateConnections?: boolean;
  /** Keep serving (not ready) this long after SIGTERM/SIGINT before draining. Env: BATON_SHUTDOWN_DELAY_MS. */
  shutdownDelayMs?: number;
  /** Format of the built-in stderr logger. Env: BATON_LOG_FORMAT. */
  logFormat?: LogFormat;
  /** Level of the built-in stderr logger. Env: BATON_LOG. */
  logLevel?: LogLevel;
  /** A pino-compatible logger (error/warn/info/debug taking (object, message)); replaces the built-in one. */
  logger?: Logger;
  /** 'manual' when the app calls ready() itself after its own async start-up. */
  readiness?: Readiness;
  handleSignals?: boolean;
  /** Path of a unix control socket for `baton reload` / `baton status`. Env: BATON_CONTROL. */
  control?: string;
}

export type ResolvedOptions = Required<Omit<BatonOptions, 'pidFile' | 'logger' | 'control'>> &
  Pick<BatonOptions, 'pidFile' | 'logger' | 'control'>;

/** The environment variables operators may set, and the option each one feeds. */
export const ENV_VARIABLES = {
  BATON_PID_FILE: 'pidFile',
  BATON_READY_TIMEOUT_MS: 'readyTimeoutMs',
  BATON_DRAIN_TIMEOUT_MS: 'drainTimeoutMs',
  BATON_SETTLE_MS: 'settleMs',
  BATON_SHUTDOWN_DELAY_MS: 'shutdownDelayMs',
  BATON_MIGRATE_CONNECTIONS: 'migrateConnections',
  BATON_LOG_FORMAT: 'logFormat',
  BATON_LOG: 'logLevel',
  BATON_CONTROL: 'control',
} as const satisfies Record<string, keyof BatonOptions>;

const OPTION_NAMES = new Set<string>([
  'pidFile',
  'readyTimeoutMs',
  'drainTimeoutMs',
  'settleMs',
  'successorEnv',
  'migrateConnections',
  'shutdownDelayMs',
  'logFormat',
  'logLevel',
  'logger',
  'readiness',
  'handleSignals',
  'control',
]);

function invalid(name: string, value: unknown, expected: string): BatonError {
  // inspect, not String(): String() throws on an object without a prototype, hiding the real error.
  const shown = typeof value === 'string' ? JSON.stringify(value) : inspect(value, { depth: 0, breakLength: Infinity });
  return new BatonError('ERR_BATON_INVALID_OPTION', `${name}=${shown} is invalid: expected ${expected}`);
}

/**
 * The longest a Node timer can wait: setTimeout() turns anything longer into 1 ms. Every timeout,
 * from code, from a BATON_* variable or from a CLI flag, is checked against it.
 */
export const MAX_TIMEOUT_MS = 2_147_483_647;
const TIMEOUT_EXPECTED = `a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`;

function isTimeout(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= MAX_TIMEOUT_MS;
}

const DURATION_EXPECTED = `a whole number of milliseconds from 0 to ${MAX_TIMEOUT_MS}`;

/** Like a timeout, but 0 is allowed: it turns the wait off. */
function isDuration(value: unknown): value is number {
  return value === 0 || isTimeout(value);
}

function checkTimeout(name: string, value: unknown): number {
  if (!isTimeout(value)) throw invalid(name, value, TIMEOUT_EXPECTED);
  return value;
}

function checkPath(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value.includes('\0')) {
    throw invalid(name, value, 'a non-empty file path');
  }
  return value;
}

function checkLogLevel(name: string, value: unknown): LogLevel {
  if (typeof value !== 'string' || !(LOG_LEVELS as readonly string[]).includes(value)) {
    throw invalid(name, value, LOG_LEVELS.join(' | '));
  }
  return value as LogLevel;
}

/** Validates options given in code. Throws ERR_BATON_INVALID_OPTION naming the option and its value. */
export function validateOptions(options: BatonOptions): BatonOptions {
  if (options === null || typeof options !== 'object') throw invalid('options', options, 'an object');
  const out: BatonOptions = {};
  for (const [name, value] of Object.entries(options)) {
    if (!OPTION_NAMES.has(name)) {
      throw invalid(name, value, `one of the known options (${[...OPTION_NAMES].join(', ')})`);
    }
    if (value === undefined) continue;
    switch (name) {
      case 'pidFile':
      case 'control':
        out[name] = checkPath(name, value);
        break;
      case 'readyTimeoutMs':
      case 'drainTimeoutMs':
        out[name] = checkTimeout(name, value);
        break;
      case 'settleMs':
      case 'shutdownDelayMs':
        if (!isDuration(value)) throw invalid(name, value, DURATION_EXPECTED);
        out[name] = value;
        break;
      case 'logFormat':
        if (typeof value !== 'string' || !(LOG_FORMATS as readonly string[]).includes(value))
          throw invalid(name, value, LOG_FORMATS.join(' | '));
        out.logFormat = value as LogFormat;
        break;
      case 'logLevel':
        out.logLevel = checkLogLevel(name, value);
        break;
      case 'readiness':
        if (value !== 'auto' && value !== 'manual') throw invalid(name, value, "'auto' | 'manual'");
        out.readiness = value;
        break;
      case 'successorEnv':
        if (value !== 'initial' && value !== 'current') throw invalid(name, value, "'initial' | 'current'");
        out.successorEnv = value;
        break;
      case 'handleSignals':
      case 'migrateConnections':
        if (typeof value !== 'boolean') throw invalid(name, value, 'true | false');
        out[name] = value;
        break;
      case 'logger': {
        const logger = value as Partial<Logger>;
        const methods = ['error', 'warn', 'info', 'debug'] as const;
        if (typeof value !== 'object' || value === null || methods.some((m) => typeof logger[m] !== 'function')) {
          throw invalid(name, value, 'an object with error, warn, info and debug methods (pino-compatible)');
        }
        out.logger = value as Logger;
        break;
      }
    }
  }
  return out;
}

/** What a BATON_* on/off variable accepts. */
const BOOLEAN_WORDS = new Map([
  ['true', true],
  ['1', true],
  ['false', false],
  ['0', false],
]);

/** The options the BATON_* variables can set (see ENV_VARIABLES). */
export type EnvOptions = Pick<BatonOptions, (typeof ENV_VARIABLES)[keyof typeof ENV_VARIABLES]>;

/**
 * Reads the BATON_* variables: the one reader and validator of them, for the library (the first
 * listen()) and for `baton run` alike. An empty variable counts as unset; anything else must be
 * valid, or start-up stops with ERR_BATON_INVALID_OPTION naming the variable and its value.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): EnvOptions {
  const out: EnvOptions = {};
  for (const [variable, option] of Object.entries(ENV_VARIABLES)) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    switch (option) {
      case 'readyTimeoutMs':
      case 'drainTimeoutMs': {
        // The message shows the variable's text as set, not what Number() made of it.
        const ms = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
        if (!isTimeout(ms)) throw invalid(variable, raw, TIMEOUT_EXPECTED);
        out[option] = ms;
        break;
      }
      case 'settleMs':
      case 'shutdownDelayMs': {
        const ms = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
        if (!isDuration(ms)) throw invalid(variable, raw, DURATION_EXPECTED);
        out[option] = ms;
        break;
      }
      case 'logFormat':
        if (!(LOG_FORMATS as readonly string[]).includes(raw.trim()))
          throw invalid(variable, raw, LOG_FORMATS.join(' | '));
        out.logFormat = raw.trim() as LogFormat;
        break;
      case 'logLevel':
        if (!(LOG_LEVELS as readonly string[]).includes(raw.trim()))
          throw invalid(variable, raw, LOG_LEVELS.join(' | '));
        out.logLevel = raw.trim() as LogLevel;
        break;
      case 'pidFile':
      case 'control':
        out[option] = checkPath(variable, raw);
        break;
      case 'migrateConnections': {
        const flag = BOOLEAN_WORDS.get(raw.trim().toLowerCase());
        if (flag === undefined) throw invalid(variable, raw, 'true | false (or 1 | 0)');
        out[option] = flag;
        break;
      }
    }
  }
  return out;
}

/**
 * Defaults, then options given in code, then the environment: an operator's BATON_* variable
 * overrides what the application's code chose, the way a unit file or a container spec expects.
 */
export function resolveOptions(fromCode: BatonOptions, fromEnv: BatonOptions): ResolvedOptions {
  return { ...DEFAULTS, ...fromCode, ...fromEnv };
}
