// The app as it is without baton: app.listen(...), and the usual graceful stop on SIGINT/SIGTERM
// (pm2 sends SIGINT on reload; Node's cluster disconnects the worker). Used by the naive, pm2 and
// cluster strategies and as the bare start-up reference.
const { record } = require('./events.cjs');
const { createApp } = require('./routes.cjs');
const build = require('./build.cjs');

const port = Number(process.env.PORT);
const server = createApp().listen(port, '127.0.0.1', () => {
  record('listening');
  build.ready();
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    record('stopping', { signal });
    server.close(() => process.exit(0));
  });
}
