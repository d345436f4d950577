import type { ConnectionCounts } from '../drain-tracker';
import type { ReloadResult, Status } from '../internal/generation';

/**
 * The IPC conversation between `baton run` and its workers. A worker is spawned like an in-place
 * successor (listening sockets at fds 3.., LISTEN_FDS/LISTEN_FDNAMES keyed by listener, 'ipc' after
 * them) plus BATON_SUPERVISOR_PID; unlike a successor it keeps the channel for its whole life.
 */
export const SUPERVISOR_PID_VARIABLE = 'BATON_SUPERVISOR_PID';

/** Worker to supervisor. */
export type WorkerMessage =
  /** @baton/core is loaded: the command is a baton app (a wrapper may sit in between: pid tells). */
  | { baton: 'hello'; pid: number }
  /** A socket the worker bound itself, sent with its listening handle so later workers inherit it. */
  | { baton: 'listener'; key: string }
  /** Every listener is up and the app's own start-up is done (a successor's message, plus the keys). */
  | { baton: 'ready'; pid: number; keys?: string[] }
  /** reload() or SIGHUP inside the worker: the supervisor runs a rolling reload and answers. */
  | { baton: 'reload'; id: number }
  | { baton: 'status'; id: number; status: Status }
  | { baton: 'draining'; connections: ConnectionCounts }
  | { baton: 'drained'; durationMs: number; forced: number };

export interface WireError {
  code: string;
  message: string;
}

/** Supervisor to worker. */
export type SupervisorMessage =
  /** Stop accepting, drain politely, exit 0. The sockets live on in the supervisor either way. */
  | { baton: 'retire'; reason: 'reload' | 'shutdown' }
  | { baton: 'reload-result'; id: number; ok: true; result: ReloadResult }
  | { baton: 'reload-result'; id: number; ok: false; error: WireError }
  | { baton: 'status-request'; id: number };

export function isBatonMessage(message: unknown): message is { baton: string } {
  return typeof message === 'object' && message !== null && typeof (message as { baton?: unknown }).baton === 'string';
}
