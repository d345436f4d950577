import { inspect } from 'node:util';

/**
 * Every error baton raises, and every error code it sends over a wire (IPC, the control socket,
 * `baton reload --json`), is a BatonError with a stable `code` from this closed set; the README's
 * error table documents each one (a test checks both ways). Callers branch on `code`; messages are
 * for humans and may change.
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
  /**
   * The new generation died within the settle time after it was ready (a build that crashes on its
   * first requests): in place the old generation took its sockets back; under `baton run` the reload
   * was aborted and the old workers kept serving.
   */
  ERR_BATON_ROLLED_BACK: 'new generation died after ready; rolled back',
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
  /** The control socket refused a request: not a JSON line, too long, or an unknown command. */
  ERR_BATON_CONTROL_REQUEST: 'control request refused',
  /**
   * `baton reload` / `baton status` got no answer: the control socket is missing, refused or denied
   * the connection, or closed it before the result.
   */
  ERR_BATON_NO_ANSWER: 'no answer from the process',
  /** `baton reload` saw no outcome within --timeout; the reload may have failed or may still be running. */
  ERR_BATON_NO_OUTCOME: 'no reload outcome in time',
  /**
   * An error this version of baton has no code for: a code from another version received over a
   * wire, or an error that is not baton's. The message keeps the original code.
   */
  ERR_BATON_UNKNOWN: 'unknown error',
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

/**
 * Marks a BatonError from any copy of this package: Symbol.for() gives every copy the same symbol,
 * where `instanceof` only knows the class of its own copy (as nodejs/undici brands its errors).
 */
const BRAND = Symbol.for('baton.error');

function isKnownCode(code: unknown): code is BatonErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(BATON_ERROR_CODES, code);
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

  /** `error instanceof BatonError` holds for a BatonError from another copy of the package too. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // A subclass (none today) keeps the ordinary prototype check.
    return this === BatonError ? isBatonError(value) : Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

// The brand sits on the prototype, not on each error: it stays out of logs, inspect() and JSON.
Object.defineProperty(BatonError.prototype, BRAND, { value: true });

/**
 * True for a BatonError from any copy of @baton/core (checked by its Symbol.for brand, not by
 * `instanceof`) whose code this version knows; with `code`, only for that code.
 */
export function isBatonError(value: unknown, code?: BatonErrorCode): value is BatonError {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { [BRAND]?: unknown; code?: unknown };
  return candidate[BRAND] === true && isKnownCode(candidate.code) && (code === undefined || candidate.code === code);
}

/** An error as it crosses a process boundary: a code from the table and a message. */
export interface WireError {
  code: BatonErrorCode;
  message: string;
  pid?: number;
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
  timeoutMs?: number;
}

/** `message (code X)`, unless the message already names the code. */
function keepingCode(message: string, code: string): string {
  return message.includes(code) ? message : `${message} (code ${code})`;
}

function isWholeNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function isSignalName(value: unknown): value is NodeJS.Signals {
  return typeof value === 'string' && /^SIG[A-Z0-9]+$/.test(value);
}

function describeValue(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === 'string') return value;
  // inspect, not String(): String() throws on an object without a prototype.
  return inspect(value, { depth: 1, breakLength: Infinity });
}

/**
 * Encodes an error for a wire (IPC, the control socket, `--json`). A BatonError keeps its code and
 * details; anything else becomes ERR_BATON_UNKNOWN, its own code (an errno, say) kept in the message.
 * The result is plain JSON.
 */
export function errorToWire(error: unknown): WireError {
  if (isBatonError(error)) {
    const wire: WireError = { code: error.code, message: error.message };
    if (error.pid !== undefined) wire.pid = error.pid;
    if (error.exitCode !== undefined) wire.exitCode = error.exitCode;
    if (error.signal !== undefined) wire.signal = error.signal;
    if (error.timeoutMs !== undefined) wire.timeoutMs = error.timeoutMs;
    return wire;
  }
  const message = describeValue(error);
  const code = (error as { code?: unknown } | null)?.code;
  return {
    code: 'ERR_BATON_UNKNOWN',
    message: typeof code === 'string' && code !== '' ? keepingCode(message, code) : message,
  };
}

/**
 * Decodes an error received from a wire, whoever sent it (another version of baton, a hand-written
 * client). A code this version does not know is not disguised as another: it becomes
 * ERR_BATON_UNKNOWN, and the message keeps the original code.
 */
export function errorFromWire(wire: { code?: unknown; message?: unknown } | null | undefined): BatonError {
  const raw = wire ?? {};
  const message =
    typeof raw.message === 'string'
      ? raw.message
      : raw.message === undefined
        ? 'no message'
        : describeValue(raw.message);
  const extra = raw as Partial<Record<'pid' | 'exitCode' | 'signal' | 'timeoutMs', unknown>>;
  // Details of the wrong type (a hand-written client, a bug) are dropped rather than trusted.
  const details: BatonErrorDetails = {};
  if (isWholeNumber(extra.pid)) details.pid = extra.pid;
  if (isWholeNumber(extra.exitCode) || extra.exitCode === null) details.exitCode = extra.exitCode;
  if (isSignalName(extra.signal) || extra.signal === null) details.signal = extra.signal;
  if (isWholeNumber(extra.timeoutMs)) details.timeoutMs = extra.timeoutMs;
  if (isKnownCode(raw.code)) return new BatonError(raw.code, message, details);
  const original =
    typeof raw.code === 'string' ? raw.code : raw.code === undefined ? undefined : describeValue(raw.code);
  return new BatonError(
    'ERR_BATON_UNKNOWN',
    original === undefined || original === '' ? message : keepingCode(message, original),
    details,
  );
}
