// Type-level test, compiled by `tsc -p tsconfig.json --noEmit` (pnpm typecheck) and never run: listen()
// has the overloads of net.Server#listen / app.listen. Each `@ts-expect-error` line must be an error,
// or tsc fails ("Unused '@ts-expect-error' directive").
import http from 'node:http';
import net from 'node:net';
import https from 'node:https';
import { listen } from '@baton/core';
import { listen as listenExpress } from '@baton/express';
import { listen as listenKoa } from '@baton/koa';
import express from 'express';
import Koa from 'koa';

const done = (): void => undefined;

export function core(): void {
  // The server's own type comes back.
  const plain: http.Server = listen(http.createServer(), 9527);
  const secure: https.Server = listen(https.createServer({}), 443, '0.0.0.0');
  const tcp: net.Server = listen(net.createServer(), { port: 0, host: '::' }, done);
  void [plain, secure, tcp];

  listen(http.createServer());
  listen(http.createServer(), done);
  listen(http.createServer(), 9527, done);
  listen(http.createServer(), 9527, '127.0.0.1', done);
  listen(http.createServer(), 9527, '127.0.0.1', 511, done);
  listen(http.createServer(), 9527, 511, done);
  listen(http.createServer(), undefined, '127.0.0.1');
  listen(http.createServer(), process.env.PORT || 3000, done);
  listen(http.createServer(), process.env.PORT);
  listen(http.createServer(), '/run/app.sock');
  listen(http.createServer(), '/run/app.sock', 511, done);
  listen(http.createServer(), {});
  listen(http.createServer(), { path: '/run/app.sock', readableAll: true });
  listen(http.createServer(), { fd: 3 });
  listen(http.createServer(), { fd: 3 }, 511, done);

  // @ts-expect-error: a boolean is not a port, path, options object or handle
  listen(http.createServer(), true);
  // @ts-expect-error: a host is a string, and comes before the backlog
  listen(http.createServer(), 9527, 511, '127.0.0.1');
  // @ts-expect-error: no such listen option
  listen(http.createServer(), { port: 0, hots: '127.0.0.1' });
  // @ts-expect-error: the callback is last
  listen(http.createServer(), done, 9527);
  // @ts-expect-error: in an options object, a port is a number
  listen(http.createServer(), { port: '9527' });
  // @ts-expect-error: not a server
  listen({}, 9527);
  // @ts-expect-error: too many arguments
  listen(http.createServer(), 9527, '127.0.0.1', 511, done, done);
}

export function expressAdapter(): void {
  const app = express();
  const server: http.Server = listenExpress(app, 9527, '127.0.0.1', () => undefined);
  void server;
  listenExpress(app);
  listenExpress(app, {});
  listenExpress(app, 9527);
  listenExpress(app, 9527, '127.0.0.1', 511);
  listenExpress(app, process.env.PORT || 3000, () => console.log('listening'));
  listenExpress(app, '/run/app.sock', done);
  listenExpress(app, { port: 0 }, done);
  listenExpress(app, { fd: 3 });
  // As in Express 5, a callback may take the listen error.
  listenExpress(app, 9527, (error?: Error) => {
    if (error) throw error;
  });

  // @ts-expect-error: a boolean is not a port, path, options object or handle
  listenExpress(app, true);
  // @ts-expect-error: a backlog is a number
  listenExpress(app, 9527, '127.0.0.1', '511');
  // @ts-expect-error: a callback gets an Error, not a string
  listenExpress(app, 9527, (error: string) => void error);
  // @ts-expect-error: not a request handler
  listenExpress({}, 9527);
  // @ts-expect-error: listen returns an http.Server, not an https.Server
  const wrong: https.Server = listenExpress(app, 443);
  void wrong;
}

export function koaAdapter(): void {
  const app = new Koa();
  const server: http.Server = listenKoa(app, 9527, '127.0.0.1', done);
  void server;
  listenKoa(app);
  listenKoa(app, {});
  listenKoa(app, 9527, done);
  listenKoa(app, process.env.PORT ?? 3000);
  listenKoa(app, '/run/app.sock', 511);
  listenKoa(app, { host: '127.0.0.1', port: 0, backlog: 511 });

  // @ts-expect-error: a boolean is not a port, path, options object or handle
  listenKoa(app, true);
  // @ts-expect-error: a backlog is a number
  listenKoa(app, 9527, '127.0.0.1', '511');
  // @ts-expect-error: not a Koa app
  listenKoa({ use() {} }, 9527);
}
