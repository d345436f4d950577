import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BatonError } from '../errors';

/** This process's effective uid and gid; undefined where there are none (Windows). */
function ourIds(): { uid: number; gid: number } | undefined {
  return typeof process.geteuid === 'function' && typeof process.getegid === 'function'
    ? { uid: process.geteuid(), gid: process.getegid() }
    : undefined;
}

/** `uid 1001 (mallory)`: the name from /etc/passwd when it has one. */
export function describeUid(uid: number, passwd = '/etc/passwd'): string {
  try {
    for (const line of fs.readFileSync(passwd, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id !== undefined && Number(id) === uid && /^\d+$/.test(id)) return `uid ${uid} (${name})`;
    }
  } catch {
    // No passwd file: the number alone.
  }
  return `uid ${uid}`;
}

/**
 * Why another user than `uid` (or root) could replace a file in the directory `dir` describes, or
 * undefined when nobody else can: its owner can (chmod), and so can whoever its write bits let in
 * (others; a group other than our own). A sticky directory (like /tmp) stops them from renaming or
 * removing files they do not own, so `sticky` is reported separately for the caller to weigh.
 */
export function otherWriters(dir: fs.Stats, uid: number, gid: number): { why: string; sticky: boolean } | undefined {
  const sticky = (dir.mode & 0o1000) !== 0;
  const mode = `mode ${(dir.mode & 0o7777).toString(8).padStart(4, '0')}`;
  if (dir.uid !== uid && dir.uid !== 0) return { why: `belongs to ${describeUid(dir.uid)}`, sticky: false };
  const notSticky = sticky ? '' : ' and not sticky';
  if ((dir.mode & 0o002) !== 0) return { why: `is writable by every user (${mode})${notSticky}`, sticky };
  if ((dir.mode & 0o020) !== 0 && dir.gid !== gid)
    return { why: `is writable by group ${dir.gid} (${mode})${notSticky}`, sticky };
  return undefined;
}

/** Whose files a reader acting as `uid` trusts, in words: `root`, or `uid 1000 (deploy) or root`. */
export function trustedOwners(uid: number): string {
  return uid === 0 ? 'root' : `${describeUid(uid)} or root`;
}

const KEEP_IT_PRIVATE = 'keep the pid file in a directory only the service user can write, such as /run/app';

/**
 * Fails at start-up, not at reload time, when the pid file's directory is missing or not writable, or
 * when another user could replace the pid file (and so choose which process `kill -HUP $(cat ...)`
 * and `baton reload` signal): a directory they can write to is refused unless it is sticky and the
 * pid file, if there is one already, is ours.
 */
export function assertPidFileWritable(file: string, ids: { uid: number; gid: number } | undefined = ourIds()): void {
  const dir = path.dirname(path.resolve(file));
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    // A writable regular file passes access(): without this, stat(file) below fails with a bare ENOTDIR.
    if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
  } catch (cause) {
    throw new BatonError('ERR_BATON_PID_FILE', `pid file ${file}: directory ${dir} is missing or not writable`, {
      cause,
    });
  }
  try {
    if (fs.statSync(file).isDirectory()) throw new BatonError('ERR_BATON_PID_FILE', `pid file ${file} is a directory`);
  } catch (error) {
    if (error instanceof BatonError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new BatonError('ERR_BATON_PID_FILE', `pid file ${file}: ${(error as Error).message}`, { cause: error });
    }
  }
  if (ids === undefined) return;
  const writers = otherWriters(fs.statSync(dir), ids.uid, ids.gid);
  if (writers === undefined) return;
  if (!writers.sticky) {
    throw new BatonError(
      'ERR_BATON_PID_FILE',
      `pid file ${file}: directory ${dir} ${writers.why}: another user could replace the pid file; ${KEEP_IT_PRIVATE}`,
    );
  }
  let existing: fs.Stats;
  try {
    existing = fs.lstatSync(file);
  } catch {
    return; // None yet: the one we rename into place is ours, and the sticky bit keeps it so.
  }
  if (existing.uid !== ids.uid) {
    throw new BatonError(
      'ERR_BATON_PID_FILE',
      `pid file ${file} belongs to ${describeUid(existing.uid)}, not to this process's ${describeUid(ids.uid)}, in directory ${dir}, which ${writers.why}: someone else may have planted it; ${KEEP_IT_PRIVATE}`,
    );
  }
}

/** Exclusive create that never follows a symlink at the name (O_NOFOLLOW is 0 where the platform lacks it). */
const CREATE_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW ?? 0);

/**
 * Atomic: readers see the old pid or the new one, never an empty or half-written file. The temp file
 * has an unpredictable name and is created exclusively, never through a symlink: another user who can
 * write the directory can neither make us write through a link they planted nor hand us a file they own.
 */
export function writePidFile(file: string, pid: number): void {
  const dir = path.dirname(path.resolve(file));
  let temp: string | undefined;
  try {
    let fd: number | undefined;
    for (let attempt = 0; fd === undefined; attempt++) {
      temp = path.join(dir, `.${path.basename(file)}.${crypto.randomBytes(12).toString('hex')}.tmp`);
      try {
        fd = fs.openSync(temp, CREATE_NEW, 0o644);
      } catch (error) {
        // EEXIST: the name is taken (by chance or by someone guessing); try another. Anything else is final.
        temp = undefined;
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw error;
      }
    }
    try {
      fs.writeSync(fd, `${pid}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp as string, file);
  } catch (cause) {
    if (temp !== undefined) fs.rmSync(temp, { force: true });
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

/** The real and effective uid of a running process, from /proc/<pid>/status (Linux); undefined elsewhere. */
export function processUids(pid: number, proc = '/proc'): { real: number; effective: number } | undefined {
  try {
    const line = /^Uid:\s+(\d+)\s+(\d+)/m.exec(fs.readFileSync(`${proc}/${pid}/status`, 'utf8'));
    return line ? { real: Number(line[1]), effective: Number(line[2]) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * For a reader that acts on the pid (`baton reload`, `baton status`): readPidFile, but it refuses
 * (ERR_BATON_PID_FILE, saying why) a pid file that belongs to another user than `uid` or root, or sits
 * in a directory another user could replace it in (one not sticky), and a pid whose process runs as
 * another user than the pid file's owner (a planted file, or a stale one whose pid was reused). The
 * file is opened once, without following a symlink at its name unless the link is trusted too, and
 * checked by fstat: what is read is what was checked. Missing or not a pid: undefined, as readPidFile.
 */
export function readTrustedPidFile(
  file: string,
  ids: { uid: number; gid: number } | undefined = ourIds(),
  proc = '/proc',
): number | undefined {
  if (ids === undefined) return readPidFile(file);
  const refuse = (why: string): BatonError =>
    new BatonError('ERR_BATON_PID_FILE', `pid file ${file} ${why}; refusing to act on it`);
  const trusted = (owner: number): boolean => owner === ids.uid || owner === 0;
  const READ = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
  let fd: number;
  try {
    fd = fs.openSync(file, READ | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOOP') return undefined;
    // A symlink: its owner chose the target, so it must be trusted like the file.
    try {
      const link = fs.lstatSync(file);
      if (!trusted(link.uid))
        throw refuse(`is a symlink that belongs to ${describeUid(link.uid)}, not to ${trustedOwners(ids.uid)}`);
      fd = fs.openSync(file, READ);
    } catch (inner) {
      if (inner instanceof BatonError) throw inner;
      return undefined;
    }
  }
  let text: string;
  let owner: number;
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw refuse('is not a regular file');
    owner = stat.uid;
    if (!trusted(owner)) throw refuse(`belongs to ${describeUid(owner)}, not to ${trustedOwners(ids.uid)}`);
    const dir = path.dirname(path.resolve(file));
    const writers = otherWriters(fs.statSync(dir), ids.uid, ids.gid);
    if (writers !== undefined && !writers.sticky)
      throw refuse(`is in directory ${dir}, which ${writers.why}: another user could replace it`);
    text = fs.readFileSync(fd, 'utf8').trim();
  } finally {
    fs.closeSync(fd);
  }
  if (!/^\d+$/.test(text)) return undefined;
  const pid = Number(text);
  const runsAs = processUids(pid, proc);
  if (runsAs !== undefined && runsAs.real !== owner && runsAs.effective !== owner) {
    throw refuse(
      `names pid ${pid}, which runs as ${describeUid(runsAs.effective)}, but the file belongs to ${describeUid(owner)}: a stale file whose pid was reused, or a planted one`,
    );
  }
  return pid;
}

/** On final shutdown: remove the file only if it still names this process (a successor may own it). */
export function removePidFileIfOurs(file: string, pid: number): boolean {
  if (readPidFile(file) !== pid) return false;
  fs.rmSync(file, { force: true });
  return true;
}
