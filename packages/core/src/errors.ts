/**
 * Every error baton raises is a BatonError with a stable `code` from this closed set.
 * Callers branch on `code`; messages are for humans and may change.
 */
export const BATON_ERROR_CODES = {
  /** An option passed to configure() or a BATON_* variable has a value baton cannot use. */
  ERR_BATON_INVALID_OPTION: 'invalid option',
  /** The listen() arguments are not a form net.Server.listen accepts. */
  ERR_BATON_INVALID_LISTEN_ARGS: 'invalid listen arguments',
  /** LISTEN_FDS / LISTEN_FDNAMES / BATON_PREDECESSOR_PID are malformed, or an inherited fd is not a socket. */
  ERR_BATON_BAD_HANDOFF: 'bad handoff',
  /** The pid file cannot be written. */
  ERR_BATON_PID_FILE: 'pid file not writable',
  /** The next generation exited (or crashed) before it was ready. */
  ERR_BATON_CHILD_EXITED: 'next generation exited before ready',
  /** The next generation was not ready within readyTimeoutMs. */
  ERR_BATON_READY_TIMEOUT: 'next generation not ready in time',
  /** The next generation could not be started at all. */
  ERR_BATON_SPAWN_FAILED: 'next generation could not be started',
  /** This generation has already handed over or is shutting down; it cannot reload. */
  ERR_BATON_RETIRING: 'this generation is retiring',
  /** Nothing to reload yet: listen() was never called, or not every listener is up. */
  ERR_BATON_NOT_LISTENING: 'not listening',
  /** Reload is not possible here (Windows, `node -e`, a server without a file descriptor). */
  ERR_BATON_UNSUPPORTED: 'unsupported',
} as const;

export type BatonErrorCode = keyof typeof BATON_ERROR_CODES;

export interface BatonErrorDetails {
  /** pid of the process the error is about (usually the next generation). */
  pid?: number;
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
  timeoutMs?: number;
  cause?: unknown;
}

export class BatonError extends Error {
  override readonly name = 'BatonError';
  readonly code: BatonErrorCode;
  readonly pid?: number;
  readonly exitCode?: number | null;
  readonly signal?: NodeJS.Signals | null;
  readonly timeoutMs?: number;

  constructor(code: BatonErrorCode, message: string, details: BatonErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.pid !== undefined) this.pid = details.pid;
    if (details.exitCode !== undefined) this.exitCode = details.exitCode;
    if (details.signal !== undefined) this.signal = details.signal;
    if (details.timeoutMs !== undefined) this.timeoutMs = details.timeoutMs;
  }
}

export function isBatonError(value: unknown, code?: BatonErrorCode): value is BatonError {
  return value instanceof BatonError && (code === undefined || value.code === code);
}
