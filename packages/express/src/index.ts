import http from 'node:http';
import type net from 'node:net';
import { listen as listenServer } from '@baton/core';

/** The overloads are for callers; the arguments are passed on as they came, checked by @baton/core. */
const listenAny = listenServer as (server: http.Server, ...args: unknown[]) => http.Server;

/** Anything `http.createServer` accepts as a handler: an Express app (4 or 5) is one. */
export type ExpressLikeApp = http.RequestListener;

/** A socket inherited by file descriptor, as `app.listen({ fd })` takes it. */
export interface ListenHandle {
  fd: number;
  backlog?: number;
}

/** Express 5 hands a listen error (EADDRINUSE) to a callback that takes an argument; see below. */
export type ExpressListenCallback = (error?: Error) => void;

/**
 * Drop-in for `app.listen(...)`: same arguments, same return value (the http.Server), plus
 * zero-downtime reload on SIGHUP or reload() and a polite drain on SIGTERM/SIGINT.
 * Like Express's own listen, it builds the server with `http.createServer(app)`.
 */
export function listen(
  app: ExpressLikeApp,
  port?: number | string,
  hostname?: string,
  backlog?: number,
  callback?: ExpressListenCallback,
): http.Server;
export function listen(
  app: ExpressLikeApp,
  port?: number | string,
  hostname?: string,
  callback?: ExpressListenCallback,
): http.Server;
export function listen(
  app: ExpressLikeApp,
  port?: number | string,
  backlog?: number,
  callback?: ExpressListenCallback,
): http.Server;
export function listen(app: ExpressLikeApp, port?: number | string, callback?: ExpressListenCallback): http.Server;
export function listen(app: ExpressLikeApp, callback?: ExpressListenCallback): http.Server;
export function listen(
  app: ExpressLikeApp,
  path: string,
  backlog?: number,
  callback?: ExpressListenCallback,
): http.Server;
export function listen(app: ExpressLikeApp, path: string, callback?: ExpressListenCallback): http.Server;
export function listen(app: ExpressLikeApp, options: net.ListenOptions, callback?: ExpressListenCallback): http.Server;
export function listen(
  app: ExpressLikeApp,
  handle: ListenHandle,
  backlog?: number,
  callback?: ExpressListenCallback,
): http.Server;
export function listen(app: ExpressLikeApp, handle: ListenHandle, callback?: ExpressListenCallback): http.Server;
export function listen(app: ExpressLikeApp, ...args: unknown[]): http.Server {
  const server = http.createServer(app);
  const callback = args[args.length - 1];
  // Express 5 hands a listen error (EADDRINUSE) to the callback; Express 4 leaves it to the 'error'
  // event, which crashes. A callback that takes an argument can see the error, so it gets it, as in
  // Express 5; one that takes none could only mistake it for success, so the error stays an event.
  if (typeof callback === 'function' && callback.length >= 1) {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      callback(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      callback();
    };
    server.once('error', onError);
    args[args.length - 1] = onListening;
  }
  return listenAny(server, ...args);
}

export * from '@baton/core';
export { listen as listenServer } from '@baton/core';
