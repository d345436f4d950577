import { DEFAULTS } from '../options';
import type { LogLevel } from '../logger';

export interface SupervisorOptions {
  /** The worker command, as given after `--`. */
  command: string[];
  /** How many workers serve at once (default 1). */
  workers: number;
  readyTimeoutMs: number;
  drainTimeoutMs: number;
  /** Written atomically with the supervisor's pid, which never changes. */
  pidFile?: string;
  /** Unix control socket for `baton reload` / `baton status`. */
  control?: string;
  /** Addresses to bind before the first worker starts (`127.0.0.1:8080`, `:8080`, `unix:/run/app.sock`). */
  listen: string[];
  cwd: string;
  logLevel: LogLevel;
}

export const SUPERVISOR_DEFAULTS = Object.freeze({
  workers: 1,
  readyTimeoutMs: DEFAULTS.readyTimeoutMs,
  drainTimeoutMs: DEFAULTS.drainTimeoutMs,
});

/**
 * Without --control, a supervisor with a pid file also listens at `<pid file>.sock`, so
 * `baton reload --pid-file F` gets the real outcome instead of watching signals.
 */
export function defaultControlPath(pidFile: string | undefined): string | undefined {
  return pidFile === undefined ? undefined : `${pidFile}.sock`;
}
