import { Supervisor } from '../supervisor/supervisor';
import { SUPERVISOR_DEFAULTS } from '../supervisor/options';
import type { LogLevel } from '../logger';
import { msFromEnv } from './parse';

export interface RunCommandOptions {
  workers?: number;
  readyTimeout?: number;
  drainTimeout?: number;
  pidFile?: string;
  control?: string;
  listen?: string[];
  log?: LogLevel;
}

/** `baton run`: resolves with the supervisor's exit code once it has shut down. */
export async function runCommand(command: string[], options: RunCommandOptions): Promise<number> {
  const env = process.env;
  const supervisor = new Supervisor({
    command,
    workers: options.workers ?? SUPERVISOR_DEFAULTS.workers,
    readyTimeoutMs: options.readyTimeout ?? msFromEnv('BATON_READY_TIMEOUT_MS') ?? SUPERVISOR_DEFAULTS.readyTimeoutMs,
    drainTimeoutMs: options.drainTimeout ?? msFromEnv('BATON_DRAIN_TIMEOUT_MS') ?? SUPERVISOR_DEFAULTS.drainTimeoutMs,
    ...(options.pidFile ?? env.BATON_PID_FILE ? { pidFile: (options.pidFile ?? env.BATON_PID_FILE) as string } : {}),
    ...(options.control ?? env.BATON_CONTROL ? { control: (options.control ?? env.BATON_CONTROL) as string } : {}),
    listen: options.listen ?? [],
    cwd: process.cwd(),
    logLevel: options.log ?? ((env.BATON_LOG as LogLevel | undefined) || 'info'),
  });
  await supervisor.start();
  return supervisor.done;
}
