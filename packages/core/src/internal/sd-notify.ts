import { spawn } from 'node:child_process';

/** The notification fields baton sends (sd_notify(3)): READY, RELOADING with MONOTONIC_USEC, MAINPID, STATUS. */
export type NotifyFields = Partial<
  Record<'READY' | 'RELOADING' | 'MAINPID' | 'STATUS' | 'MONOTONIC_USEC' | 'STOPPING', string | number | bigint>
>;

/** Found on these machines; systemd ships it wherever NOTIFY_SOCKET can be set. */
export const SYSTEMD_NOTIFY = 'systemd-notify';

/**
 * Tells systemd (Type=notify / notify-reload) what changed, without a native addon: Node's dgram has
 * no unix datagram sockets, so this runs `systemd-notify VAR=VALUE ...`, which sends the datagram to
 * $NOTIFY_SOCKET. A no-op outside systemd. The sender is systemd-notify's own pid, so the unit needs
 * NotifyAccess=all (examples/systemd). Resolves once systemd-notify has exited (the datagram is
 * sent), so a caller can make sure systemd heard it before the next step; it never rejects.
 */
export function notifySystemd(fields: NotifyFields, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return Promise.resolve();
  const args = Object.entries(fields).map(([name, value]) => `${name}=${String(value)}`);
  return new Promise<void>((resolve) => {
    try {
      const child = spawn(SYSTEMD_NOTIFY, args, {
        stdio: 'ignore',
        env: { PATH: env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket },
      });
      // No systemd-notify on this machine: nothing to tell, and nothing we can do about it.
      child.once('error', () => resolve());
      child.once('exit', () => resolve());
      child.unref();
    } catch {
      // spawn itself failed (EAGAIN, ...): a status update is not worth failing a reload over.
      resolve();
    }
  });
}
