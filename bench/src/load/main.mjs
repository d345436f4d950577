// The load process: runs every client kind against one port until told to stop (or its own
// deadline), then writes every request it made to a JSON file. Runs apart from the bench's main
// process so that the timing of reloads never waits behind the clients.
import fs from 'node:fs';
import { now, sleep } from '../lib/clock.mjs';
import { startAutocannon } from './autocannon.mjs';
import { startAgent, startIdle, startUndici } from './clients.mjs';
import { Recorder } from './recorder.mjs';

export const KINDS = ['undici', 'agent', 'autocannon', 'idle'];

let stopping = false;
let stops = [];
let recorder;
let config;

async function start(cfg) {
  config = cfg;
  recorder = new Recorder(KINDS);
  const isStopping = () => stopping;
  const { port, seed } = cfg;
  stops = [
    startUndici({ port, seed, ...cfg.undici }, recorder, isStopping),
    startAgent({ port, seed, ...cfg.agent }, recorder, isStopping),
    startAutocannon({ port, ...cfg.autocannon, maxSeconds: Math.ceil(cfg.maxMs / 1000) }, recorder),
    startIdle({ port, seed, ...cfg.idle }, recorder, isStopping),
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
    fs.writeFileSync(config.out, JSON.stringify({ stoppedAt, ...recorder.toJSON() }));
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
