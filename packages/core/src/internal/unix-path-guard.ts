import fs from 'node:fs';
import type net from 'node:net';

/**
 * libuv unlinks a unix socket's path when the process that bound it closes the listening handle,
 * even though the successor still listens on the same socket (adopted through its fd). So before the
 * retiring generation closes such a handle, keep a second name for the socket and put it back right
 * after. Between libuv's unlink and the rename lie two system calls in one synchronous step; a client
 * that connects in exactly that window gets ENOENT (documented in the README's limits).
 */
export function closeKeepingUnixPath(close: () => void, server: net.Server): void {
  const address = server.address();
  const socketPath = typeof address === 'string' && address !== '' && !address.startsWith('\0') ? address : undefined;
  if (socketPath === undefined) return close();
  const keep = `${socketPath}.baton-${process.pid}`;
  let kept = false;
  try {
    fs.linkSync(socketPath, keep);
    kept = true;
  } catch {
    // Cannot keep a second name (read-only dir, or the path is already gone): close as usual.
  }
  close();
  if (!kept) return;
  // A handle adopted from an fd has no path of its own, so libuv left the name alone.
  if (fs.existsSync(socketPath)) fs.unlinkSync(keep);
  else fs.renameSync(keep, socketPath);
}

/** Removes `file` if it is a socket file (never a regular file someone put there); gone already is fine. */
export function removeSocketFile(file: string): void {
  try {
    if (fs.lstatSync(file).isSocket()) fs.rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
