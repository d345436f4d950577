import http from 'node:http';
import { listen as listenServer } from '@baton/core';

/** Anything `http.createServer` accepts as a handler: an Express app (4 or 5) is one. */
export type ExpressLikeApp = http.RequestListener;

/**
 * Drop-in for `app.listen(...)`: same arguments, same return value (the http.Server), plus
 * zero-downtime reload on SIGHUP or reload() and a polite drain on SIGTERM/SIGINT.
 * Like Express's own listen, it builds the server with `http.createServer(app)`.
 */
export function listen(app: ExpressLikeApp, ...args: unknown[]): http.Server {
  return listenServer(http.createServer(app), ...args);
}

export * from '@baton/core';
export { listen as listenServer } from '@baton/core';
