import http from 'node:http';
import { listen as listenServer } from '@baton/core';

/** The part of a Koa app (2 or 3) the adapter uses. */
export interface KoaLikeApp {
  callback(): http.RequestListener;
}

/**
 * Drop-in for `app.listen(...)`: same arguments, same return value (the http.Server), plus
 * zero-downtime reload on SIGHUP or reload() and a polite drain on SIGTERM/SIGINT.
 * Like Koa's own listen, it builds the server with `http.createServer(app.callback())`.
 */
export function listen(app: KoaLikeApp, ...args: unknown[]): http.Server {
  return listenServer(http.createServer(app.callback()), ...args);
}

export * from '@baton/core';
export { listen as listenServer } from '@baton/core';
