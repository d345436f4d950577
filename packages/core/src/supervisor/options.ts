import { DEFAULTS, optionsFromEnv } from '../options';
import type { LogFormat, LogLevel } from '../logger';

export interface SupervisorOptions {
  /** The worker command, as given after `--`. */
  command: string[];
  /** How many workers serve at once (default 1). */
  workers: number;
  readyTimeoutMs: number;
  drainTimeoutMs: number;
  /**
   * How long every new worker of a rolling reload must stay up after it is ready before any old
   * worker is retired (0: retire as soon as all are ready). The in-place rollback window's option
   * (BATON_SETTLE_MS); DEFAULTS.settleMs when not given.
   */
  settleMs?: number;
  /** Written atomically with the supervisor's pid, which never changes. */
  pidFile?: string;
  /** Unix control socket for `baton reload` / `baton status`. */
  control?: string;
  /** Addresses to bind before the first worker starts (`127.0.0.1:8080`, `:8080`, `unix:/run/app.sock`). */
  listen: string[];
  /**
   * After SIGTERM/SIGINT, the workers keep serving this long while the health endpoint says not
   * ready; then they drain (BATON_SHUTDOWN_DELAY_MS, --shutdown-delay; default 0).
   */
  shutdownDelayMs?: number;
  /** Serve /ready and /live on this address (`--health 127.0.0.1:9000`), from the supervisor itself. */
  health?: string;
  cwd: string;
  logLevel: LogLevel;
  logFormat?: LogFormat;
}

export const SUPERVISOR_DEFAULTS = Object.freeze({
  workers: 1,
  readyTimeoutMs: DEFAULTS.readyTimeoutMs,
  drainTimeoutMs: DEFAULTS.drainTimeoutMs,
  settleMs: DEFAULTS.settleMs,
  logLevel: DEFAULTS.logLevel,
});

/** What `baton run`'s command line gave; undefined means the flag was not given. */
export type SupervisorFlags = Partial<Omit<SupervisorOptions, 'command' | 'cwd'>>;

/**
 * Defaults, then the BATON_* variables, then the command line: a flag given wins. The variables are
 * read by optionsFromEnv, the library's own reader, so `baton run` accepts exactly what its workers
 * will. A bad one throws ERR_BATON_INVALID_OPTION naming it and its value even when a flag overrides
 * it: a bad value stops start-up wherever it is read (workers inherit BATON_READY_TIMEOUT_MS and BATON_LOG).
 */
export function resolveSupervisorOptions(
  command: string[],
  flags: SupervisorFlags,
  env: NodeJS.ProcessEnv,
  cwd: string,
): SupervisorOptions {
  const fromEnv = optionsFromEnv(env);
  const pidFile = flags.pidFile ?? fromEnv.pidFile;
  const control = flags.control ?? fromEnv.control;
  // Left out when neither gives it (the supervisor then uses SUPERVISOR_DEFAULTS.settleMs).
  const settleMs = flags.settleMs ?? fromEnv.settleMs;
  const shutdownDelayMs = flags.shutdownDelayMs ?? fromEnv.shutdownDelayMs;
  const logFormat = flags.logFormat ?? fromEnv.logFormat;
  return {
    command,
    workers: flags.workers ?? SUPERVISOR_DEFAULTS.workers,
    readyTimeoutMs: flags.readyTimeoutMs ?? fromEnv.readyTimeoutMs ?? SUPERVISOR_DEFAULTS.readyTimeoutMs,
    drainTimeoutMs: flags.drainTimeoutMs ?? fromEnv.drainTimeoutMs ?? SUPERVISOR_DEFAULTS.drainTimeoutMs,
    ...(settleMs !== undefined ? { settleMs } : {}),
    ...(shutdownDelayMs !== undefined ? { shutdownDelayMs } : {}),
    ...(logFormat !== undefined ? { logFormat } : {}),
    ...(flags.health !== undefined ? { health: flags.health } : {}),
    ...(pidFile !== undefined ? { pidFile } : {}),
    ...(control !== undefined ? { control } : {}),
    listen: flags.listen ?? [],
    cwd,
    logLevel: flags.logLevel ?? fromEnv.logLevel ?? SUPERVISOR_DEFAULTS.logLevel,
  };
}

/**
 * Without --control, a supervisor with a pid file also listens at `<pid file>.sock`, so
 * `baton reload --pid-file F` gets the real outcome instead of watching signals.
 */
export function defaultControlPath(pidFile: string | undefined): string | undefined {
  return pidFile === undefined ? undefined : `${pidFile}.sock`;
}
