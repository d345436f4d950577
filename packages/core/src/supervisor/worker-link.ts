import type net from 'node:net';
import type { ConnectionCounts } from '../drain-tracker';
import { BatonError, BATON_ERROR_CODES, type BatonErrorCode } from '../errors';
import type { ReloadResult, Status } from '../internal/generation';
import { isBatonMessage, type SupervisorMessage, type WorkerMessage } from './protocol';

export interface WorkerHandlers {
  /** The supervisor asks this worker to drain and exit. */
  retire: (reason: 'reload' | 'shutdown') => void;
  status: () => Status;
  /** The IPC channel closed without a retire message: the supervisor is gone. */
  orphaned: () => void;
}

type Send = (message: WorkerMessage, handle?: unknown) => void;

/**
 * The worker's end of the `baton run` conversation (see protocol.ts). Only exists in a process
 * started by the supervisor; the generation state machine calls it at a handful of points.
 */
export class SupervisorLink {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: ReloadResult) => void; reject: (e: Error) => void }>();
  private retiring = false;

  constructor(
    readonly supervisorPid: number,
    private readonly send: Send,
  ) {}

  /** The link for this process, or undefined when it is not a worker (no IPC channel, no supervisor). */
  static forProcess(supervisorPid: number | undefined): SupervisorLink | undefined {
    if (supervisorPid === undefined || typeof process.send !== 'function') return undefined;
    const link = new SupervisorLink(supervisorPid, (message, handle) => {
      if (!process.connected) return;
      // The callback swallows EPIPE when the supervisor is already gone; 'disconnect' tells us that.
      process.send?.(message, handle as net.Server | undefined, {}, () => undefined);
    });
    link.send({ baton: 'hello', pid: process.pid });
    return link;
  }

  /** Starts listening to the supervisor. Called once, at the first listen(). */
  attach(handlers: WorkerHandlers): void {
    process.on('message', (message: unknown) => {
      if (!isBatonMessage(message)) return;
      const m = message as SupervisorMessage;
      switch (m.baton) {
        case 'retire':
          this.retiring = true;
          handlers.retire(m.reason);
          break;
        case 'status-request':
          this.send({ baton: 'status', id: m.id, status: handlers.status() });
          break;
        case 'reload-result': {
          const waiter = this.pending.get(m.id);
          if (!waiter) break;
          this.pending.delete(m.id);
          if (m.ok) waiter.resolve(m.result);
          else waiter.reject(toBatonError(m.error.code, m.error.message));
          break;
        }
      }
    });
    process.on('disconnect', () => {
      for (const [id, waiter] of this.pending) {
        this.pending.delete(id);
        waiter.reject(new BatonError('ERR_BATON_RETIRING', `supervisor pid ${this.supervisorPid} went away before the reload finished`));
      }
      if (!this.retiring) handlers.orphaned();
    });
  }

  /** A socket this worker bound itself: the supervisor keeps a copy (without accepting on it). */
  listener(key: string, server: net.Server): void {
    const handle = (server as unknown as { _handle?: unknown })._handle;
    if (handle) this.send({ baton: 'listener', key }, handle);
  }

  /** `keys`: the listeners this worker serves, so the supervisor can let go of sockets no build uses. */
  ready(keys: string[]): void {
    this.send({ baton: 'ready', pid: process.pid, keys });
  }

  /** reload() inside a worker: the supervisor runs the rolling reload and tells us the outcome. */
  requestReload(): Promise<ReloadResult> {
    const id = this.nextId++;
    return new Promise<ReloadResult>((resolve, reject) => {
      if (!process.connected) {
        reject(new BatonError('ERR_BATON_RETIRING', `supervisor pid ${this.supervisorPid} is gone; cannot reload`));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.send({ baton: 'reload', id });
    });
  }

  draining(connections: ConnectionCounts): void {
    this.send({ baton: 'draining', connections });
  }

  drained(durationMs: number, forced: number): void {
    this.send({ baton: 'drained', durationMs, forced });
  }
}

function toBatonError(code: string, message: string): BatonError {
  const known = Object.prototype.hasOwnProperty.call(BATON_ERROR_CODES, code);
  return new BatonError((known ? code : 'ERR_BATON_CHILD_EXITED') as BatonErrorCode, message);
}
