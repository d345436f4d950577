import { Supervisor } from '../supervisor/supervisor';
import { resolveSupervisorOptions } from '../supervisor/options';
import { logicalCwd } from '../internal/start-command';
import type { LogFormat, LogLevel } from '../logger';

export interface RunCommandOptions {
  workers?: number;
  readyTimeout?: number;
  drainTimeout?: number;
  settle?: number;
  shutdownDelay?: number;
  health?: string;
  logFormat?: LogFormat;
  pidFile?: string;
  control?: string;
  listen?: string[];
  log?: LogLevel;
}

/**
 * `baton run`: resolves with the supervisor's exit code once it has shut down. A bad BATON_*
 * variable throws ERR_BATON_INVALID_OPTION before anything starts (the CLI exits 2).
 */
export async function runCommand(command: string[], options: RunCommandOptions): Promise<number> {
  const resolved = resolveSupervisorOptions(
    command,
    {
      workers: options.workers,
      readyTimeoutMs: options.readyTimeout,
      drainTimeoutMs: options.drainTimeout,
      settleMs: options.settle,
      shutdownDelayMs: options.shutdownDelay,
      health: options.health,
      logFormat: options.logFormat,
      pidFile: options.pidFile,
      control: options.control,
      listen: options.listen,
      logLevel: options.log,
    },
    process.env,
    // As the operator named it: workers of a switched `current` symlink start in the new release.
    logicalCwd(process.env, process.cwd()),
  );
  const supervisor = new Supervisor(resolved);
  await supervisor.start();
  return supervisor.done;
}
