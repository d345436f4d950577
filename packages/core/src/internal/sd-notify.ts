import { spawn } from 'node:child_process';

/** The notification fields baton sends (sd_notify(3)): READY, RELOADING with MONOTONIC_USEC, MAINPID, STATUS. */
export type NotifyFields = Partial<Record<'READY' | 'RELOADING' | 'MAINPID' | 'STATUS' | 'MONOTONIC_USEC' | 'STOPPING', string | number | bigint>>;

/** Found on these machines; systemd ships it wherever NOTIFY_SOCKET can be set. */
export const SYSTEMD_NOTIFY = 'systemd-notify';

/**
 * Tells systemd (Type=notify / notify-reload) what changed, without a native addon: Node's dgram has
 * no unix datagram sockets, so this runs `systemd-notify VAR=VALUE ...`, which sends the datagram to
 * $NOTIFY_SOCKET. A no-op outside systemd. The sender is systemd-notify's own pid, so the unit needs
 * NotifyAccess=all (examples/systemd). Fire and forget; the child is reaped by Node like any other.
 */
export function notifySystemd(fields: NotifyFields, env: NodeJS.ProcessEnv = process.env): void {
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return;
  const args = Object.entries(fields).map(([name, value]) => `${name}=${String(value)}`);
  try {
    const child = spawn(SYSTEMD_NOTIFY, args, { stdio: 'ignore', env: { PATH: env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket } });
    child.on('error', () => {
      // No systemd-notify on this machine: nothing to tell, and nothing we can do about it.
    });
    child.unref();
  } catch {
    // spawn itself failed (EAGAIN, ...): a status update is not worth failing a reload over.
  }
}
