// The load process: runs every client kind against one port until told to stop (or its own
// deadline), then writes every request it made to a JSON file. Runs apart from the bench's main
// process so that the timing of reloads never waits behind the clients. The undici, http.Agent and
// idle clients and the Recorder are @baton/core's (`@baton/core/verify`, shared with `baton verify`);
// autocannon is the bench's own.
import fs from 'node:fs';
import { now, Recorder, sleep, startAgent, startIdle, startUndici } from '@baton/core/verify';
import { startAutocannon } from './autocannon.mjs';
import { countConnections } from './connections.mjs';
import { pickRoute, ROUTE_INDEX, ROUTES } from './mix.mjs';

export const KINDS = ['undici', 'agent', 'autocannon', 'idle'];
/** apps/routes.cjs names the process that answered in this header. */
const PID_HEADER = 'x-pid';

let stopping = false;
let stops = [];
let recorder;
let config;
/** Every TCP connection the clients open (load/connections.mjs), from before the first one. */
const connections = countConnections();

async function start(cfg) {
  config = cfg;
  recorder = new Recorder(KINDS);
  const { port, seed } = cfg;
  const ctx = {
    target: { host: '127.0.0.1', port },
    recorder,
    isStopping: () => stopping,
    routes: ROUTES,
    // workOnly (migration section): every request the 2 ms one, so nothing long is in flight at a reload.
    pick: cfg.workOnly ? () => ROUTE_INDEX.work : pickRoute,
    seed,
    pidHeader: PID_HEADER,
  };
  stops = [
    startUndici(ctx, cfg.undici),
    startAgent(ctx, cfg.agent),
    startAutocannon({ port, ...cfg.autocannon, maxSeconds: Math.ceil(cfg.maxMs / 1000) }, recorder),
    startIdle(ctx, { ...cfg.idle, route: ROUTE_INDEX.work }),
  ];
  // Bounded even if the bench never says stop.
  setTimeout(() => void finish(), cfg.maxMs).unref();
}

let finishing;
function finish() {
  finishing ??= (async () => {
    const stoppedAt = now();
    stopping = true;
    // In-flight requests end on their own (at most the request timeout); this bounds it anyway.
    await Promise.race([Promise.all(stops.map((stop) => stop())), sleep(20_000)]);
    fs.writeFileSync(config.out, JSON.stringify({ stoppedAt, ...recorder.toJSON(), connections: connections() }));
    process.send?.({ type: 'done' });
    setTimeout(() => process.exit(0), 100);
  })();
  return finishing;
}

process.on('message', (message) => {
  if (message.type === 'start') {
    start(message.config).then(() => process.send({ type: 'started', at: now() }));
  } else if (message.type === 'stop') {
    void finish();
  }
});
process.on('disconnect', () => void finish());
