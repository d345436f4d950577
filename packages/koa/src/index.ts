import http from 'node:http';
import type net from 'node:net';
import { HEALTH_DEFAULTS, healthAnswer, listen as listenServer, type HealthOptions } from '@baton/core';

/** The overloads are for callers; the arguments are passed on as they came, checked by @baton/core. */
const listenAny = listenServer as (server: http.Server, ...args: unknown[]) => http.Server;

/** The part of a Koa app (2 or 3) the adapter uses. */
export interface KoaLikeApp {
  callback(): http.RequestListener;
}

/** A socket inherited by file descriptor, as `app.listen({ fd })` takes it. */
export interface ListenHandle {
  fd: number;
  backlog?: number;
}

/**
 * Drop-in for `app.listen(...)`: same arguments, same return value (the http.Server), plus
 * zero-downtime reload on SIGHUP or reload() and a polite drain on SIGTERM/SIGINT.
 * Like Koa's own listen, it builds the server with `http.createServer(app.callback())`.
 */
export function listen(
  app: KoaLikeApp,
  port?: number | string,
  hostname?: string,
  backlog?: number,
  listeningListener?: () => void,
): http.Server;
export function listen(
  app: KoaLikeApp,
  port?: number | string,
  hostname?: string,
  listeningListener?: () => void,
): http.Server;
export function listen(
  app: KoaLikeApp,
  port?: number | string,
  backlog?: number,
  listeningListener?: () => void,
): http.Server;
export function listen(app: KoaLikeApp, port?: number | string, listeningListener?: () => void): http.Server;
export function listen(app: KoaLikeApp, listeningListener?: () => void): http.Server;
export function listen(app: KoaLikeApp, path: string, backlog?: number, listeningListener?: () => void): http.Server;
export function listen(app: KoaLikeApp, path: string, listeningListener?: () => void): http.Server;
export function listen(app: KoaLikeApp, options: net.ListenOptions, listeningListener?: () => void): http.Server;
export function listen(
  app: KoaLikeApp,
  handle: ListenHandle,
  backlog?: number,
  listeningListener?: () => void,
): http.Server;
export function listen(app: KoaLikeApp, handle: ListenHandle, listeningListener?: () => void): http.Server;
export function listen(app: KoaLikeApp, ...args: unknown[]): http.Server {
  return listenAny(http.createServer(app.callback()), ...args);
}

/** The part of a Koa context the health middleware uses. */
interface KoaLikeContext {
  method: string;
  url: string;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}

/**
 * Readiness and liveness probes as Koa middleware: `app.use(health())` answers GET /ready (200 while
 * serving, 503 while starting, stopping or draining) and GET /live, and passes everything else on.
 */
export function health(
  options: HealthOptions = {},
): (ctx: KoaLikeContext, next: () => Promise<unknown>) => Promise<unknown> {
  const paths = { ...HEALTH_DEFAULTS, ...options };
  return async (ctx, next) => {
    const answer = healthAnswer(ctx.method, ctx.url, paths);
    if (answer === undefined) return next();
    ctx.status = answer.status;
    ctx.set('cache-control', 'no-store');
    ctx.body = answer.body;
    return undefined;
  };
}

export * from '@baton/core';
export { listen as listenServer } from '@baton/core';
