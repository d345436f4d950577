// A hello-world server for the overhead comparison: FRAMEWORK = express | koa | http,
// MODE = plain (app.listen / server.listen) | baton (listen(app, ...) / listen(server, ...)).
const { record } = require('./events.cjs');
const http = require('node:http');

const framework = process.env.FRAMEWORK;
const mode = process.env.MODE;
const port = Number(process.env.PORT);
const onListening = () => record('listening');

if (framework === 'express') {
  const app = require('express')();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/', (req, res) => res.send('hello world\n'));
  if (mode === 'baton') require('@baton/express').listen(app, port, '127.0.0.1', onListening);
  else app.listen(port, '127.0.0.1', onListening);
} else if (framework === 'koa') {
  const Koa = require('koa');
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = 'hello world\n';
  });
  if (mode === 'baton') require('@baton/koa').listen(app, port, '127.0.0.1', onListening);
  else app.listen(port, '127.0.0.1', onListening);
} else if (framework === 'http') {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end('hello world\n');
  });
  if (mode === 'baton') require('@baton/express').listenServer(server, port, '127.0.0.1', onListening);
  else server.listen(port, '127.0.0.1', onListening);
} else {
  throw new Error(`FRAMEWORK=${framework}: expected express | koa | http`);
}
