// Section 2: what listen(app, ...) costs against app.listen(...) in throughput and p99, for Express,
// Koa and a bare http.createServer. Runs alternate A/B/A/B, each on a fresh server after a warm-up.
import autocannon from 'autocannon';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventLog } from '../lib/event-log.mjs';
import { cpuMs, freePort, killPids, startNode } from '../lib/procs.mjs';
import { round, summary } from '../lib/stats.mjs';
import { app, READY_TIMEOUT_MS } from '../strategies/common.mjs';

export const FRAMEWORKS = ['express', 'koa', 'http'];
const MODES = ['plain', 'baton'];

function fire(url, connections, seconds) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections, duration: seconds, timeout: 10 }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

async function measure(framework, mode, options, dir) {
  const port = await freePort();
  const events = new EventLog(path.join(dir, `events-${framework}-${mode}.jsonl`));
  const { pid } = startNode(app('overhead-server.cjs'), {
    env: { FRAMEWORK: framework, MODE: mode, PORT: String(port), BENCH_EVENTS: events.file, BATON_LOG: 'warn' },
    log: path.join(dir, 'servers.log'),
  });
  try {
    await events.waitFor(`${framework}/${mode} listening`, (e) => e.ev === 'listening' && e.pid === pid, READY_TIMEOUT_MS);
    const url = `http://127.0.0.1:${port}/`;
    await fire(url, options.connections, options.warmupS);
    const cpuBefore = cpuMs(pid);
    const r = await fire(url, options.connections, options.durationS);
    const cpu = cpuMs(pid) - cpuBefore;
    return {
      rps: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      // The server's own CPU per request: what throughput would be if the server had a core to itself.
      cpuUsPerRequest: (cpu * 1000) / Math.max(1, r.requests.total),
      errors: r.errors + r.timeouts + r.non2xx,
    };
  } finally {
    await killPids([pid]);
    events.close();
  }
}

function ratioStats(values) {
  const s = summary(values);
  return { median: round(s.p50, 3), min: round(s.min, 3), max: round(s.max, 3), sd: round(s.sd, 3), n: s.n };
}

export async function runOverhead(options, log = () => {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-bench-overhead-'));
  const results = {};
  try {
    for (const framework of FRAMEWORKS) {
      const runs = [];
      for (let pair = 0; pair < options.pairs; pair += 1) {
        for (const mode of MODES) {
          const run = await measure(framework, mode, options, dir);
          runs.push({ pair, mode, ...run });
          log(`overhead ${framework} pair ${pair + 1}/${options.pairs} ${mode}: ${Math.round(run.rps)} req/s, p99 ${run.p99} ms, ${run.cpuUsPerRequest.toFixed(1)} µs CPU/request`);
        }
      }
      const of = (mode, pair) => runs.find((r) => r.mode === mode && r.pair === pair);
      const pairs = [...Array(options.pairs).keys()];
      results[framework] = {
        runs,
        plain: { rps: round(summary(runs.filter((r) => r.mode === 'plain').map((r) => r.rps)).p50, 0), p99: summary(runs.filter((r) => r.mode === 'plain').map((r) => r.p99)).p50 },
        baton: { rps: round(summary(runs.filter((r) => r.mode === 'baton').map((r) => r.rps)).p50, 0), p99: summary(runs.filter((r) => r.mode === 'baton').map((r) => r.p99)).p50 },
        throughputRatio: ratioStats(pairs.map((p) => of('baton', p).rps / of('plain', p).rps)),
        cpuPerRequest: {
          plainUs: round(summary(runs.filter((r) => r.mode === 'plain').map((r) => r.cpuUsPerRequest)).p50, 1),
          batonUs: round(summary(runs.filter((r) => r.mode === 'baton').map((r) => r.cpuUsPerRequest)).p50, 1),
        },
        // plain CPU per request ÷ baton CPU per request: the throughput ratio of a CPU-bound server.
        cpuRatio: ratioStats(pairs.map((p) => of('plain', p).cpuUsPerRequest / of('baton', p).cpuUsPerRequest)),
        p99Ratio: ratioStats(pairs.map((p) => of('baton', p).p99 / Math.max(of('plain', p).p99, 0.01))),
        errors: runs.reduce((n, r) => n + r.errors, 0),
      };
    }
    return { options, results };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
