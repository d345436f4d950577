// Lifecycle events of a bench server process, appended as JSON lines to $BENCH_EVENTS.
// Every process (each baton generation, each pm2 or cluster worker) writes its own start, listening and
// exit moments, so the bench measures reload latency from the processes' own clocks, whoever spawned them.
const fs = require('node:fs');

const file = process.env.BENCH_EVENTS;
const role = process.env.BENCH_ROLE ?? 'server';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

function record(ev, fields = {}) {
  if (!file) return;
  // One short appended line per write: O_APPEND keeps lines from different processes whole.
  fs.appendFileSync(file, `${JSON.stringify({ ev, pid: process.pid, role, t: now(), ...fields })}\n`);
}

record('start', { ppid: process.ppid });
process.on('exit', (code) => record('exit', { code }));

module.exports = { record, now };
