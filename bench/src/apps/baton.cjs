// The app with baton: `listen(app, ...)` instead of `app.listen(...)`. SIGHUP reloads in place.
const { record } = require('./events.cjs');
const diagnosticsChannel = require('node:diagnostics_channel');
const { listen } = require('@baton/express');
const { createApp } = require('./routes.cjs');
const build = require('./build.cjs');
// The migration section behind nginx counts the upstream connections the app sees (apps/peers.cjs).
if (process.env.BENCH_PEERS) require('./peers.cjs');

// baton publishes every lifecycle step; the bench keeps the ones that time a reload, those of the
// rollback window (settled, rolled-back), and `emptied`: the old generation holds no client connection
// any more (moved to the next generation or closed here), the moment connection migration is about.
const KEPT = new Set([
  'ready',
  'handed-over',
  'emptied',
  'drained',
  'reload-failed',
  'reload-ignored',
  'settled',
  'rolled-back',
]);
diagnosticsChannel.subscribe('baton:lifecycle', (message) => {
  if (!KEPT.has(message.event)) return;
  const { event, readyMs, durationMs, forced, successorPid, sockets, activeRequests, moved, closed } = message;
  record(`baton:${event}`, { readyMs, durationMs, forced, successorPid, sockets, activeRequests, moved, closed });
  if (event === 'ready') build.ready();
});

const port = Number(process.env.PORT);
listen(createApp(), port, '127.0.0.1', () => record('listening'));
