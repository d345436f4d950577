import type { ConnectionCounts, ReloadResult, Status, WireError } from './types';

/**
 * The IPC conversation between a generation and the process that started it: an in-place
 * predecessor (which only waits for `ready`) or the `baton run` supervisor (which keeps the channel
 * for the worker's whole life). The channel sits right after the inherited sockets (fds 3..).
 */

/** A generation (successor or worker) to whoever started it. */
export type GenerationMessage =
  /** @baton/core is loaded: the command is a baton app (a wrapper may sit in between: pid tells). */
  | { baton: 'hello'; pid: number }
  /** A socket the worker bound itself, sent with its listening handle so later workers inherit it. */
  | { baton: 'listener'; key: string }
  /** Every listener is up and the app's own start-up is done. `keys`: the listeners it serves. */
  | ReadyMessage
  /** reload() or SIGHUP inside a worker: the supervisor runs a rolling reload and answers. */
  | { baton: 'reload'; id: number }
  | { baton: 'status'; id: number; status: Status }
  | { baton: 'draining'; connections: ConnectionCounts }
  /** `moved`: connections the drain handed to the supervisor for a newer worker (absent from older cores). */
  | { baton: 'drained'; durationMs: number; forced: number; moved?: number }
  /**
   * A worker draining for a reload, sent with an idle client connection's socket: the supervisor
   * passes it on to a ready worker of the newest generation that serves `key` (issue 13).
   */
  | ConnectionMessage;

export interface ReadyMessage {
  baton: 'ready';
  pid: number;
  keys?: string[];
}

/** An in-place predecessor to its successor. */
export type PredecessorMessage =
  /**
   * It stopped accepting: the sockets are the successor's alone now, so it may write the pid file
   * (whoever reads it reaches the new code).
   */
  | { baton: 'handed-over' }
  /** Sent with an idle client connection's socket: serve it on the listener with this key (issue 13). */
  | ConnectionMessage;

export interface ConnectionMessage {
  baton: 'connection';
  key: string;
}

/** The supervisor to a worker. */
export type SupervisorMessage =
  /**
   * Stop accepting, drain politely, exit 0. The sockets live on in the supervisor either way.
   * `moveConnections`: a reload's drain may hand idle client connections to the supervisor (issue 13),
   * which passes them on to another worker; absent (an older supervisor), they drain here.
   */
  | { baton: 'retire'; reason: RetireReason; moveConnections?: boolean }
  | { baton: 'reload-result'; id: number; ok: true; result: ReloadResult }
  | { baton: 'reload-result'; id: number; ok: false; error: WireError }
  | { baton: 'status-request'; id: number }
  /** Sent with a client connection a retiring worker handed over: serve it on the listener with this key. */
  | ConnectionMessage
  /**
   * The supervisor has a connection the worker handed over (one per `connection` message, in order).
   * Node's own acknowledgement of the descriptor came before it on the channel, so a message the
   * worker sends from now on is no longer queued behind the descriptor (and lost if it exits).
   */
  | { baton: 'connection-received' };

/** Why a generation drains: it was replaced (its sockets live on), or the service stops. */
export type RetireReason = 'reload' | 'shutdown';

export function isBatonMessage(message: unknown): message is { baton: string } {
  return typeof message === 'object' && message !== null && typeof (message as { baton?: unknown }).baton === 'string';
}

export function isReadyMessage(message: unknown): message is ReadyMessage {
  return isBatonMessage(message) && message.baton === 'ready';
}
