// Node's cluster with worker replacement, the do-it-yourself answer: on SIGHUP fork a new worker, and
// once it listens disconnect the old one (which closes its server and exits when its connections are
// done), killing it if it is still there after KILL_AFTER_MS.
process.env.BENCH_ROLE = 'primary';
require('./events.cjs'); // start and exit events of the primary
const cluster = require('node:cluster');
const path = require('node:path');

const KILL_AFTER_MS = 10_000;
cluster.setupPrimary({ exec: path.join(__dirname, 'plain.cjs') });
const workerEnv = { BENCH_ROLE: 'worker' };

let current = cluster.fork(workerEnv);
let next;

process.on('SIGHUP', () => {
  if (next) return; // one replacement at a time
  next = cluster.fork(workerEnv);
  next.once('listening', () => {
    const old = current;
    current = next;
    next = undefined;
    const timer = setTimeout(() => old.process.kill('SIGKILL'), KILL_AFTER_MS);
    old.once('exit', () => clearTimeout(timer));
    old.disconnect();
  });
});

process.once('SIGTERM', () => {
  for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGKILL');
  process.exit(0);
});
