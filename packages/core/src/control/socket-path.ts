import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BatonError } from '../errors';
import { describeUid, otherWriters, trustedOwners } from '../internal/pid-file';

/**
 * Who may use the control socket. Node has no SO_PEERCRED, so the peer's uid cannot be read; instead
 * the kernel checks it at connect(): the socket file is created with mode 0600 (the umask is set
 * around bind, so there is no window with a wider mode), and connecting needs write permission on
 * it, which only its owner (and root) has. That holds on Linux; some BSDs ignore socket file modes,
 * so there the directory must protect it: we refuse a directory that any user can write to unless
 * it is sticky (like /tmp), where nobody else can remove or replace our file.
 */
export const CONTROL_SOCKET_MODE = 0o600;

/** Checks the path before anything is bound; returns it absolute. Throws ERR_BATON_INVALID_OPTION. */
export function checkControlPath(given: string): string {
  const file = path.resolve(given);
  const dir = path.dirname(file);
  const bad = (why: string): BatonError =>
    new BatonError('ERR_BATON_INVALID_OPTION', `control socket ${given}: ${why}`);
  let dirStat: fs.Stats;
  try {
    dirStat = fs.statSync(dir);
  } catch {
    throw bad(`directory ${dir} does not exist`);
  }
  if (!dirStat.isDirectory()) throw bad(`${dir} is not a directory`);
  if ((dirStat.mode & 0o002) !== 0 && (dirStat.mode & 0o1000) === 0) {
    throw bad(
      `directory ${dir} is writable by every user and not sticky: anyone could replace the socket; use a directory only you can write to`,
    );
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw bad(`directory ${dir} is not writable`);
  }
  // Unix socket paths are limited to 107 bytes on Linux (104 on macOS).
  if (Buffer.byteLength(file) > 100)
    throw bad(`path is ${Buffer.byteLength(file)} bytes long; unix sockets allow about 100`);
  try {
    const stat = fs.lstatSync(file);
    if (!stat.isSocket()) throw bad('exists and is not a socket; refusing to replace it');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return file;
}

/**
 * For a client about to believe what a control socket says: why it must not, or undefined when it may
 * (also when there is nothing at `file`: connecting then fails on its own). The server's mode 0600
 * keeps others from connecting to *our* socket, but nothing stops another user from binding the path
 * first, in a directory they can write to, and answering "reload ok". So the socket (and a symlink at
 * its name) must belong to `uid` or root, in a directory nobody else could swap it in.
 */
export function untrustedControlSocket(
  file: string,
  ids: { uid: number; gid: number } | undefined = currentIds(),
): string | undefined {
  if (ids === undefined) return undefined;
  const owner = (uid: number, what: string): string | undefined =>
    uid === ids.uid || uid === 0
      ? undefined
      : `control socket ${file}${what} belongs to ${describeUid(uid)}, not to ${trustedOwners(ids.uid)}`;
  let stat: fs.Stats;
  try {
    const link = fs.lstatSync(file);
    if (link.isSymbolicLink()) {
      const why = owner(link.uid, ' (a symlink)');
      if (why !== undefined) return why;
    }
    stat = fs.statSync(file);
  } catch {
    return undefined;
  }
  const why = owner(stat.uid, '');
  if (why !== undefined) return why;
  const dir = path.dirname(path.resolve(file));
  try {
    const writers = otherWriters(fs.statSync(dir), ids.uid, ids.gid);
    if (writers !== undefined && !writers.sticky)
      return `control socket ${file} is in directory ${dir}, which ${writers.why}: another user could replace it`;
  } catch {
    // The directory went away: connecting will say so.
  }
  return undefined;
}

function currentIds(): { uid: number; gid: number } | undefined {
  return typeof process.geteuid === 'function' && typeof process.getegid === 'function'
    ? { uid: process.geteuid(), gid: process.getegid() }
    : undefined;
}

/** A socket file left by a process that died: remove it. One that still answers belongs to a live process. */
export async function removeIfStale(file: string): Promise<void> {
  if (!fs.existsSync(file)) return;
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live)
    throw new BatonError('ERR_BATON_INVALID_OPTION', `control socket ${file} is in use by another running process`);
  fs.rmSync(file, { force: true });
}

/** Binds `file` with mode 0600 from the first instant: the umask is narrowed around the synchronous bind. */
export function listenPrivately(server: net.Server, file: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    const previous = process.umask(0o177);
    try {
      server.listen(file, () => {
        server.off('error', onError);
        try {
          fs.chmodSync(file, CONTROL_SOCKET_MODE);
        } catch {
          // The umask already gave 0600; chmod only guards against odd filesystems.
        }
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
}
