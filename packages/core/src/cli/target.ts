import fs from 'node:fs';
import { readPidFile } from '../internal/pid-file';
import { defaultControlPath } from '../supervisor/options';

export interface TargetOptions {
  pidFile?: string;
  control?: string;
}

export type Target = { kind: 'control'; socket: string; pidFile?: string } | { kind: 'pid-file'; pidFile: string };

export class UsageError extends Error {}

/**
 * Which process a command talks to: --control (or BATON_CONTROL) first; otherwise the pid file, and
 * through `<pid file>.sock` when that exists (`baton run` opens it), so the answer is the real outcome.
 */
export function resolveTarget(options: TargetOptions): Target {
  const control = options.control ?? nonEmpty(process.env.BATON_CONTROL);
  const pidFile = options.pidFile ?? nonEmpty(process.env.BATON_PID_FILE);
  if (control !== undefined) return { kind: 'control', socket: control, ...(pidFile ? { pidFile } : {}) };
  if (pidFile !== undefined) {
    const beside = defaultControlPath(pidFile) as string;
    if (isSocket(beside)) return { kind: 'control', socket: beside, pidFile };
    return { kind: 'pid-file', pidFile };
  }
  throw new UsageError('say which process: --control SOCKET or --pid-file FILE (or set BATON_CONTROL or BATON_PID_FILE)');
}

/** The pid a pid file names, checked to be running. */
export function pidFromFile(file: string): number {
  const pid = readPidFile(file);
  if (pid === undefined) throw new UsageError(`pid file ${file} is missing or does not hold a pid`);
  if (!isAlive(pid)) throw new UsageError(`pid ${pid} from ${file} is not running`);
  return pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isSocket(file: string): boolean {
  try {
    return fs.statSync(file).isSocket();
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * The processes `baton run` pid `supervisorPid` started, found by the BATON_SUPERVISOR_PID in their
 * initial environment (/proc, Linux; empty elsewhere or for other users' processes).
 */
export function supervisedBy(supervisorPid: number): number[] {
  const needle = `BATON_SUPERVISOR_PID=${supervisorPid}`;
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(needle)) pids.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}
