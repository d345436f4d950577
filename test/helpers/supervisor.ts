import { execFile } from 'node:child_process';
import path from 'node:path';
import { FIXTURES, rememberPid, ROOT, spawnCollecting, waitFor, type Server } from './processes';
import { DEPLOYED_ENV, MARKER_VARIABLE, newMarker } from './service';

/** The built CLI, run with this node, as `npx baton` would. */
export const CLI = path.join(ROOT, 'packages', 'core', 'dist', 'cli', 'main.js');
export const APP = path.join(FIXTURES, 'app.js');

export interface Supervised extends Server {
  /** Every process of this service carries it (supervisor and workers): see servicePids(). */
  marker: string;
}

/**
 * `baton run [runArgs] -- node app.js`, with stdout/stderr of the supervisor and every worker
 * collected (the workers inherit the pipes). The supervisor's pid is remembered for teardown; the
 * workers are remembered as the log names them (`workerPids`).
 */
export function startSupervisor(
  runArgs: string[],
  env: Record<string, string> = {},
  command: string[] = [process.execPath, APP],
): Supervised {
  const marker = newMarker();
  const server = spawnCollecting(process.execPath, [CLI, 'run', ...runArgs, '--', ...command], {
    ...process.env,
    BATON_LOG: 'debug',
    ...DEPLOYED_ENV,
    [MARKER_VARIABLE]: marker,
    ...env,
  });
  return { ...server, marker };
}

/** Pids the supervisor logged as ready workers, in order (each remembered for teardown). */
export function workerPids(output: string): number[] {
  const pids = [...output.matchAll(/worker (\d+)(?: \(app pid \d+\))? ready in/g)].map((m) => Number(m[1]));
  for (const pid of pids) rememberPid(pid);
  return pids;
}

/** Waits until `count` workers have been ready in total, and returns their pids. */
export async function waitForWorkers(server: Server, count: number, timeoutMs?: number): Promise<number[]> {
  return waitFor(
    () => `${count} ready workers under supervisor pid ${server.pid}; output so far:\n${server.output()}`,
    () => {
      const pids = workerPids(server.output());
      return pids.length >= count ? pids : undefined;
    },
    timeoutMs,
  );
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `baton <args>` to completion (bounded). */
export function baton(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 90_000,
  uid?: { run: string[] },
): Promise<CliResult> {
  const [file, ...pre] = uid ? [...uid.run, process.execPath] : [process.execPath];
  return new Promise((resolve) => {
    const child = execFile(
      file as string,
      [...pre, CLI, ...args],
      { env: { ...process.env, ...DEPLOYED_ENV, ...env }, timeout: timeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error
          ? typeof (error as { code?: unknown }).code === 'number'
            ? (error as { code: number }).code
            : null
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
    rememberPid(child.pid);
  });
}
