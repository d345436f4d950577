import fs from 'node:fs';
import { isBatonError } from '../errors';
import { readTrustedPidFile } from '../internal/pid-file';
import { untrustedControlSocket } from '../control/socket-path';
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
 * A socket another user than ours (or root) owns, or could swap in, is refused, naming its owner:
 * whoever bound it would answer in the process's place (see docs/security.md). The pid file is
 * checked the same way when it is read (pidFromFile).
 */
export function resolveTarget(options: TargetOptions): Target {
  const control = options.control ?? nonEmpty(process.env.BATON_CONTROL);
  const pidFile = options.pidFile ?? nonEmpty(process.env.BATON_PID_FILE);
  if (control !== undefined)
    return { kind: 'control', socket: trustedSocket(control), ...(pidFile ? { pidFile } : {}) };
  if (pidFile !== undefined) {
    const beside = defaultControlPath(pidFile) as string;
    if (isSocket(beside)) return { kind: 'control', socket: trustedSocket(beside), pidFile };
    return { kind: 'pid-file', pidFile };
  }
  throw new UsageError(
    'say which process: --control SOCKET or --pid-file FILE (or set BATON_CONTROL or BATON_PID_FILE)',
  );
}

/** `file`, unless another user could answer on it in the process's place. */
function trustedSocket(file: string): string {
  const why = untrustedControlSocket(file);
  if (why !== undefined) {
    throw new UsageError(
      `${why}: refusing to trust it, since whoever bound it would answer in the service's place; run baton as the user that runs the service (root's baton trusts only its own and root's sockets)`,
    );
  }
  return file;
}

/**
 * The pid a pid file names, checked to be running, and checked to be trusted: a pid file another user
 * owns or could replace, or one naming another user's process, is refused (readTrustedPidFile).
 */
export function pidFromFile(file: string): number {
  let pid: number | undefined;
  try {
    pid = readTrustedPidFile(file);
  } catch (error) {
    if (isBatonError(error, 'ERR_BATON_PID_FILE')) throw new UsageError(error.message);
    throw error;
  }
  if (pid === undefined) throw new UsageError(`pid file ${file} is missing or does not hold a pid`);
  if (!isAlive(pid)) throw new UsageError(`pid ${pid} from ${file} is not running`);
  return pid;
}

/**
 * True while `pid` runs. A zombie (exited, not yet reaped by its parent: state Z in /proc/<pid>/stat)
 * still answers kill(pid, 0) but has exited, so it counts as gone. Without /proc, kill() decides.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may itself hold ') '.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
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
