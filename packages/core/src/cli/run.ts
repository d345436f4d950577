import { Supervisor } from '../supervisor/supervisor';
import { resolveSupervisorOptions } from '../supervisor/options';
import type { LogLevel } from '../logger';

export interface RunCommandOptions {
  workers?: number;
  readyTimeout?: number;
  drainTimeout?: number;
  settle?: number;
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
      pidFile: options.pidFile,
      control: options.control,
      listen: options.listen,
      logLevel: options.log,
    },
    process.env,
    process.cwd(),
  );
  const supervisor = new Supervisor(resolved);
  await supervisor.start();
  return supervisor.done;
}
