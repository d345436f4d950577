import type { BatonErrorCode } from '../errors';

/**
 * Everything a generation, the supervisor, the control socket and the CLI tell each other about the
 * state of a service. These shapes cross process boundaries (IPC, the control socket, `--json`
 * output), so they live here, apart from the state machines, and change only on purpose.
 */

/** What a server holds at one moment. `idle` includes sockets that never sent a request. */
export interface ConnectionCounts {
  sockets: number;
  activeRequests: number;
  idle: number;
  upgraded: number;
}

/** Totals of several servers' (or processes') counts. */
export function sumCounts(counts: ConnectionCounts[]): ConnectionCounts {
  return counts.reduce(
    (total, c) => ({
      sockets: total.sockets + c.sockets,
      activeRequests: total.activeRequests + c.activeRequests,
      idle: total.idle + c.idle,
      upgraded: total.upgraded + c.upgraded,
    }),
    { sockets: 0, activeRequests: 0, idle: 0, upgraded: 0 },
  );
}

/**
 * starting: listen() called, not ready yet; serving: ready; reloading: serving while a successor starts;
 * stopping: asked to stop, still serving during the shutdown delay but reporting not ready;
 * standby: handed over, no longer accepting, draining, and ready to take the sockets back if the
 * successor dies within the settle time; retiring: draining, about to exit.
 */
export type Phase = 'idle' | 'starting' | 'serving' | 'reloading' | 'stopping' | 'standby' | 'retiring';

/** What a readiness or liveness probe needs to know. */
export interface Health {
  /** Serving and not on its way out: a load balancer should send new connections here. */
  ready: boolean;
  /** The process answers: its event loop runs. */
  live: boolean;
  phase: Phase;
}

/** How this process came to serve: started plainly, as a reload's successor, by systemd, or by `baton run`. */
export type GenerationMode = 'plain' | 'successor' | 'socket-activated' | 'supervised';

export interface ReloadResult {
  /** pid of the new generation, now serving. */
  pid: number;
  previousPid: number;
  /** From spawn to the successor's ready message. */
  readyMs: number;
  /** Under `baton run`: every new worker, and every worker it replaced. */
  pids?: number[];
  previousPids?: number[];
}

export interface ListenerStatus {
  key: string;
  fd: number | undefined;
  listening: boolean;
  connections: ConnectionCounts;
}

export interface LastReload {
  ok: boolean;
  at: string;
  pid?: number;
  readyMs?: number;
  code?: BatonErrorCode;
  message?: string;
}

export interface Status {
  pid: number;
  phase: Phase;
  mode: GenerationMode;
  predecessorPid?: number;
  /** Under `baton run`: the supervisor's pid, which stays the same across reloads. */
  supervisorPid?: number;
  successorPid?: number;
  uptimeMs: number;
  readyMs?: number;
  listeners: ListenerStatus[];
  connections: ConnectionCounts;
  /**
   * Client connections handed over at reloads (migrateConnections): `in` from the previous generation,
   * `out` to the next one. Absent from a worker of an older baton.
   */
  connectionsMoved?: { in: number; out: number };
  lastReload?: LastReload;
}

/** A coded error as it travels over IPC or the control socket: errors.ts encodes and decodes it. */
export type { WireError } from '../errors';
