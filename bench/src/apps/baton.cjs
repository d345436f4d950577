// The app with baton: `listen(app, ...)` instead of `app.listen(...)`. SIGHUP reloads in place.
const { record } = require('./events.cjs');
const diagnosticsChannel = require('node:diagnostics_channel');
const { listen } = require('@baton/express');
const { createApp } = require('./routes.cjs');
const build = require('./build.cjs');

// baton publishes every lifecycle step; the bench keeps the ones that time a reload, and those of the
// rollback window (settled, rolled-back).
const KEPT = new Set(['ready', 'handed-over', 'drained', 'reload-failed', 'reload-ignored', 'settled', 'rolled-back']);
diagnosticsChannel.subscribe('baton:lifecycle', (message) => {
  if (!KEPT.has(message.event)) return;
  const { event, readyMs, durationMs, forced, successorPid, sockets, activeRequests } = message;
  record(`baton:${event}`, { readyMs, durationMs, forced, successorPid, sockets, activeRequests });
  if (event === 'ready') build.ready();
});

const port = Number(process.env.PORT);
listen(createApp(), port, '127.0.0.1', () => record('listening'));
