// Records, once per connection and process, the remote port of each connection that carries a request
// (event `peer`). Behind a proxy the remote port names the proxy's upstream connection; a connection
// moved to the next generation keeps its port, so the distinct ports over a run, across every
// generation, are the upstream connections the proxy opened. Loaded by apps/baton.cjs when
// $BENCH_PEERS is set.
const diagnosticsChannel = require('node:diagnostics_channel');
const { record } = require('./events.cjs');

/** Sockets this process already recorded (a kept-alive connection carries many requests). */
const seen = new WeakSet();

diagnosticsChannel.subscribe('http.server.request.start', ({ socket }) => {
  if (seen.has(socket)) return;
  seen.add(socket);
  record('peer', { port: socket.remotePort });
});
