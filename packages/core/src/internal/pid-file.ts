import fs from 'node:fs';
import path from 'node:path';
import { BatonError } from '../errors';

/** Fails at start-up, not at reload time, when the pid file's directory is missing or not writable. */
export function assertPidFileWritable(file: string): void {
  const dir = path.dirname(path.resolve(file));
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    // A writable regular file passes access(): without this, stat(file) below fails with a bare ENOTDIR.
    if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
  } catch (cause) {
    throw new BatonError('ERR_BATON_PID_FILE', `pid file ${file}: directory ${dir} is missing or not writable`, { cause });
  }
  try {
    if (fs.statSync(file).isDirectory()) throw new BatonError('ERR_BATON_PID_FILE', `pid file ${file} is a directory`);
  } catch (error) {
    if (error instanceof BatonError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new BatonError('ERR_BATON_PID_FILE', `pid file ${file}: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** Atomic: readers see the old pid or the new one, never an empty or half-written file. */
export function writePidFile(file: string, pid: number): void {
  const temp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${pid}.tmp`);
  try {
    fs.writeFileSync(temp, `${pid}\n`, { mode: 0o644 });
    fs.renameSync(temp, file);
  } catch (cause) {
    fs.rmSync(temp, { force: true });
    throw new BatonError('ERR_BATON_PID_FILE', `pid file ${file}: cannot write pid ${pid}`, { cause });
  }
}

export function readPidFile(file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** On final shutdown: remove the file only if it still names this process (a successor may own it). */
export function removePidFileIfOurs(file: string, pid: number): boolean {
  if (readPidFile(file) !== pid) return false;
  fs.rmSync(file, { force: true });
  return true;
}
