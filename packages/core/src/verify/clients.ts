// The load clients, shared by `baton verify` and the bench: an undici Pool and Node's http.Agent with
// keep-alive (request loops back to back with a short pause), a client that opens a new connection for
// every request, and idle clients that wait between requests on their kept-alive socket, the pattern
// that meets a server closing idle sockets. A request fails on any status outside 2xx/3xx, a reset, a
// refusal, a timeout, a cut-off body or a body the route does not expect.
import http from 'node:http';
import { Pool } from 'undici';
import { now, sleep } from './clock';
import { errorCode, OK, type Recorder } from './recorder';
import { random, type LoadRoute, type RoutePicker } from './routes';
import { requestAddress, targetOrigin, type HttpTarget } from './target';

/** Default for ClientContext.requestTimeoutMs. */
export const REQUEST_TIMEOUT_MS = 15_000;

/** What every client kind shares. */
export interface ClientContext {
  target: HttpTarget;
  recorder: Recorder;
  /** The clients stop starting requests once this says true. */
  isStopping: () => boolean;
  /** Route index i is recorded as i. */
  routes: LoadRoute[];
  pick: RoutePicker;
  seed: number;
  /** A request not answered (headers and whole body) within this fails with TIMEOUT. */
  requestTimeoutMs?: number;
  /** A response header naming the pid of the server process that answered (the bench's apps set `x-pid`). */
  pidHeader?: string;
}

/** Stops the clients: resolves once every loop has finished its request in flight. */
export type StopClients = () => Promise<void>;

interface Outcome {
  code: string;
  pid: number;
}

/** Any status outside 2xx/3xx is a failure. */
export function okStatus(status: number): boolean {
  return status >= 200 && status < 400;
}

function check(
  ctx: ClientContext,
  route: LoadRoute,
  status: number,
  headers: http.IncomingHttpHeaders,
  body: string,
  bytes: number,
): Outcome {
  const pid = ctx.pidHeader ? Number(headers[ctx.pidHeader]) || 0 : 0;
  if (!okStatus(status)) return { code: `HTTP_${status}`, pid };
  return { code: route.expect && !route.expect(body, bytes) ? 'BAD_BODY' : OK, pid };
}

function timeoutError(): Error {
  return Object.assign(new Error('timed out'), { code: 'TIMEOUT' });
}

async function undiciRequest(ctx: ClientContext, pool: Pool, route: LoadRoute): Promise<Outcome> {
  const timeout = ctx.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const { statusCode, headers, body } = await pool.request({
    path: route.path,
    method: route.method as 'GET',
    body: route.body,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  let bytes = 0;
  let text = '';
  for await (const data of body) {
    bytes += (data as Buffer).length;
    if (!route.countOnly) text += data;
  }
  return check(ctx, route, statusCode, headers as http.IncomingHttpHeaders, text, bytes);
}

/** One request through http.request with `agent` (`false`: a new connection, closed after it). */
function nodeRequest(ctx: ClientContext, agent: http.Agent | false, route: LoadRoute): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        ...requestAddress(ctx.target),
        path: route.path,
        method: route.method,
        agent,
        headers: route.body ? { 'content-length': route.body.length } : {},
      },
      (res) => {
        let bytes = 0;
        let text = '';
        res.on('data', (data: Buffer) => {
          bytes += data.length;
          if (!route.countOnly) text += data;
        });
        res.on('error', reject);
        res.on('end', () => resolve(check(ctx, route, res.statusCode ?? 0, res.headers, text, bytes)));
        res.on('close', () => {
          if (!res.complete) reject(Object.assign(new Error('response cut short'), { code: 'ABORTED' }));
        });
      },
    );
    req.setTimeout(ctx.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, () => req.destroy(timeoutError()));
    req.on('error', reject);
    req.end(route.body);
  });
}

async function timed(
  ctx: ClientContext,
  kind: string,
  routeIndex: number,
  send: () => Promise<Outcome>,
): Promise<void> {
  const started = now();
  let outcome: Outcome;
  try {
    outcome = await send();
  } catch (error) {
    outcome = { code: errorCode(error), pid: 0 };
  }
  ctx.recorder.add(kind, routeIndex, started, now() - started, outcome.code, outcome.pid);
}

function routeAt(ctx: ClientContext, index: number): LoadRoute {
  return ctx.routes[index] as LoadRoute;
}

export interface PooledOptions {
  /** Request loops running at once. */
  loops: number;
  /** Pause after each request. */
  thinkMs: number;
  kind?: string;
}

/** `loops` request loops sharing one undici Pool of `connections` kept-alive connections. */
export function startUndici(ctx: ClientContext, options: PooledOptions & { connections: number }): StopClients {
  const kind = options.kind ?? 'undici';
  const pool = new Pool(targetOrigin(ctx.target), {
    connections: options.connections,
    pipelining: 1,
    ...('socketPath' in ctx.target ? { connect: { socketPath: ctx.target.socketPath } } : {}),
  });
  const runs = Array.from({ length: options.loops }, async (_, i) => {
    const rand = random(ctx.seed + i);
    while (!ctx.isStopping()) {
      const index = ctx.pick(rand);
      await timed(ctx, kind, index, () => undiciRequest(ctx, pool, routeAt(ctx, index)));
      await sleep(options.thinkMs);
    }
  });
  return async () => {
    await Promise.all(runs);
    await pool.close();
  };
}

/** `loops` request loops sharing one keep-alive http.Agent of at most `maxSockets` connections. */
export function startAgent(ctx: ClientContext, options: PooledOptions & { maxSockets: number }): StopClients {
  const kind = options.kind ?? 'agent';
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const runs = Array.from({ length: options.loops }, async (_, i) => {
    const rand = random(ctx.seed + 1000 + i);
    while (!ctx.isStopping()) {
      const index = ctx.pick(rand);
      await timed(ctx, kind, index, () => nodeRequest(ctx, agent, routeAt(ctx, index)));
      await sleep(options.thinkMs);
    }
  });
  return async () => {
    await Promise.all(runs);
    agent.destroy();
  };
}

/** `loops` request loops that open a new connection for every request (no keep-alive). */
export function startNewConnection(ctx: ClientContext, options: PooledOptions): StopClients {
  const kind = options.kind ?? 'new-connection';
  const runs = Array.from({ length: options.loops }, async (_, i) => {
    const rand = random(ctx.seed + 3000 + i);
    while (!ctx.isStopping()) {
      const index = ctx.pick(rand);
      await timed(ctx, kind, index, () => nodeRequest(ctx, false, routeAt(ctx, index)));
      await sleep(options.thinkMs);
    }
  });
  return async () => {
    await Promise.all(runs);
  };
}

export interface IdleOptions {
  clients: number;
  minIdleMs: number;
  maxIdleMs: number;
  /** Every request asks for this route (index); by default each is drawn like the other clients'. */
  route?: number;
  kind?: string;
}

/** Clients with one kept-alive socket each, idle for minIdleMs-maxIdleMs between requests. */
export function startIdle(ctx: ClientContext, options: IdleOptions): StopClients {
  const kind = options.kind ?? 'idle';
  const runs = Array.from({ length: options.clients }, async (_, i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const rand = random(ctx.seed + 2000 + i);
    const wait = (): number => options.minIdleMs + rand() * (options.maxIdleMs - options.minIdleMs);
    // Stagger the first requests so the clients do not move in step.
    await sleepWhileRunning(ctx, wait());
    while (!ctx.isStopping()) {
      const index = options.route ?? ctx.pick(rand);
      await timed(ctx, kind, index, () => nodeRequest(ctx, agent, routeAt(ctx, index)));
      await sleepWhileRunning(ctx, wait());
    }
    agent.destroy();
  });
  return async () => {
    await Promise.all(runs);
  };
}

/** Sleeps `ms`, in steps of at most 100 ms, waking early once the clients are told to stop. */
async function sleepWhileRunning(ctx: ClientContext, ms: number): Promise<void> {
  const until = now() + ms;
  while (!ctx.isStopping() && now() < until) await sleep(Math.min(100, until - now()));
}
