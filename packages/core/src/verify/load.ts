// Mixed load in this process: every client kind of clients.ts at once, against one target, until stopped.
import {
  startAgent,
  startIdle,
  startNewConnection,
  startUndici,
  type ClientContext,
  type StopClients,
} from './clients';
import { Recorder } from './recorder';
import type { LoadRoute } from './routes';
import { routePicker } from './routes';
import type { HttpTarget } from './target';

/** The client kinds of a mixed load, in report order. */
export const LOAD_KINDS = ['undici', 'agent', 'new-connection', 'idle'] as const;
export type LoadKind = (typeof LOAD_KINDS)[number];

/** How many of each client; a kind with 0 loops (or clients) is left out. */
export interface LoadShape {
  undici: { loops: number; connections: number; thinkMs: number };
  agent: { loops: number; maxSockets: number; thinkMs: number };
  newConnection: { loops: number; thinkMs: number };
  idle: { clients: number; minIdleMs: number; maxIdleMs: number };
}

/**
 * `clients` request loops of each pooled kind (undici, http.Agent), half as many new-connection loops
 * and twice as many idle clients (pausing 0.5-3 s). `baton verify`'s default of 4 leaves room on two
 * cores for the app and its successor.
 */
export function loadShapeFor(clients: number): LoadShape {
  return {
    undici: { loops: clients, connections: clients, thinkMs: 10 },
    agent: { loops: clients, maxSockets: clients, thinkMs: 10 },
    newConnection: { loops: Math.max(1, Math.round(clients / 2)), thinkMs: 20 },
    idle: { clients: clients * 2, minIdleMs: 500, maxIdleMs: 3000 },
  };
}

export interface MixedLoad {
  recorder: Recorder;
  /** Stops every client and resolves once their requests in flight have ended. */
  stop(): Promise<void>;
}

export interface MixedLoadOptions {
  target: HttpTarget;
  routes: LoadRoute[];
  shape?: LoadShape;
  seed?: number;
  requestTimeoutMs?: number;
}

/** Starts every client kind against `target`, drawing routes evenly. */
export function startMixedLoad(options: MixedLoadOptions): MixedLoad {
  const shape = options.shape ?? loadShapeFor(4);
  const recorder = new Recorder([...LOAD_KINDS]);
  let stopping = false;
  const ctx: ClientContext = {
    target: options.target,
    recorder,
    isStopping: () => stopping,
    routes: options.routes,
    pick: routePicker(options.routes),
    seed: options.seed ?? 1,
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
  };
  const stops: StopClients[] = [];
  if (shape.undici.loops > 0) stops.push(startUndici(ctx, shape.undici));
  if (shape.agent.loops > 0) stops.push(startAgent(ctx, shape.agent));
  if (shape.newConnection.loops > 0) stops.push(startNewConnection(ctx, shape.newConnection));
  if (shape.idle.clients > 0) stops.push(startIdle(ctx, shape.idle));
  let stopped: Promise<void> | undefined;
  return {
    recorder,
    stop: () => {
      stopping = true;
      stopped ??= Promise.all(stops.map((stop) => stop())).then(() => undefined);
      return stopped;
    },
  };
}
