// What every strategy shares: where its app lives and how it waits for its processes.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const APPS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'apps');
export const app = (name) => path.join(APPS, name);

/** How long a new process may take to be ready before the bench calls the reload failed. */
export const READY_TIMEOUT_MS = 30_000;

/** Waits for the first `listening` from a pid that is not one of `oldPids`, after event index `from`. */
export function waitNewListener(ctx, oldPids, from, role) {
  return ctx.events.waitFor(
    `a new process listening (not ${oldPids.join(', ')})`,
    (e) => e.ev === 'listening' && !oldPids.includes(e.pid) && (role === undefined || e.role === role),
    READY_TIMEOUT_MS,
    from,
  );
}

export function readPidFile(file) {
  const pid = Number(fs.readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`pid file ${file} holds no pid`);
  return pid;
}
