// Section 2: what listen(app, ...) costs against app.listen(...) for Express, Koa and a bare
// http.createServer, judged by the server's own CPU time per request against an A/A control: two
// identical bare servers measured the same way in the same run, whose ratio shows what "no difference"
// looks like on this machine. Throughput and p99 are reported too. Every run starts a fresh server,
// warms it up, then measures; the pairs are interleaved (every server's pair 1, then every pair 2, …) and
// alternate their order (A/B, then B/A), so drift of the machine's load falls on every server alike.
import autocannon from 'autocannon';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventLog } from '../lib/event-log.mjs';
import { cpuMs, freePort, killPids, startNode } from '../lib/procs.mjs';
import { round, summary } from '@baton/core/verify';
import { app, READY_TIMEOUT_MS } from '../strategies/common.mjs';

export const FRAMEWORKS = ['express', 'koa', 'http'];
const MODES = ['plain', 'baton'];
/** The A/A control: two bare http.createServer + server.listen, called a and b. */
export const CONTROL = 'control';

function fire(url, connections, seconds) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections, duration: seconds, timeout: 10 }, (error, result) =>
      error ? reject(error) : resolve(result),
    );
  });
}

async function measure(framework, mode, options, dir, tag) {
  const port = await freePort();
  const events = new EventLog(path.join(dir, `events-${tag}.jsonl`));
  const { pid } = startNode(app('overhead-server.cjs'), {
    env: { FRAMEWORK: framework, MODE: mode, PORT: String(port), BENCH_EVENTS: events.file, BATON_LOG: 'warn' },
    log: path.join(dir, 'servers.log'),
  });
  try {
    await events.waitFor(`${tag} listening`, (e) => e.ev === 'listening' && e.pid === pid, READY_TIMEOUT_MS);
    const url = `http://127.0.0.1:${port}/`;
    await fire(url, options.connections, options.warmupS);
    // utime + stime of the server process (/proc/<pid>/stat) around the measured interval only.
    const cpuBefore = cpuMs(pid);
    const r = await fire(url, options.connections, options.durationS);
    const cpu = cpuMs(pid) - cpuBefore;
    return {
      rps: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      requests: r.requests.total,
      cpuMs: round(cpu, 1),
      // The server's own CPU per request: what throughput would be if the server had a core to itself.
      cpuUsPerRequest: (cpu * 1000) / Math.max(1, r.requests.total),
      errors: r.errors + r.timeouts + r.non2xx,
    };
  } finally {
    await killPids([pid]);
    events.close();
  }
}

/** The middle value, or the mean of the two middle ones (an even number of pairs is the usual case). */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function ratioStats(values) {
  const s = summary(values);
  return { median: round(median(values), 3), min: round(s.min, 3), max: round(s.max, 3), sd: round(s.sd, 3), n: s.n };
}

/**
 * Where a ratio of 1.0 ± noise lies: the A/A pairs' ratios and their reciprocals (an A/A pair has no
 * direction, so a/b = 0.97 says as much as b/a = 1.03), min to max.
 */
function noiseBand(ratios) {
  const both = ratios.flatMap((r) => [r, 1 / r]);
  return { low: round(Math.min(...both), 3), high: round(Math.max(...both), 3), n: ratios.length };
}

/** Where baton's median ratio lies against the control's band: 'within noise', 'costs more' or 'costs less'. */
export function verdict(median, band) {
  if (!band || median === undefined) return undefined;
  if (median >= band.low && median <= band.high) return 'within noise';
  return median < band.low ? 'costs more' : 'costs less';
}

export async function runOverhead(options, log = () => {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-bench-overhead-'));
  const runs = Object.fromEntries([...FRAMEWORKS, CONTROL].map((k) => [k, []]));
  try {
    for (let pair = 0; pair < options.pairs; pair += 1) {
      for (const server of [...FRAMEWORKS, CONTROL]) {
        const modes = server === CONTROL ? ['a', 'b'] : MODES;
        for (const mode of pair % 2 === 0 ? modes : [...modes].reverse()) {
          const run =
            server === CONTROL
              ? await measure('http', 'plain', options, dir, `control-${mode}`)
              : await measure(server, mode, options, dir, `${server}-${mode}`);
          runs[server].push({ pair, mode, ...run });
          log(
            `overhead ${server} pair ${pair + 1}/${options.pairs} ${mode}: ${Math.round(run.rps)} req/s, p99 ${run.p99} ms, ${run.cpuUsPerRequest.toFixed(1)} µs CPU/request`,
          );
        }
      }
    }
    const pairs = [...Array(options.pairs).keys()];
    const of = (server, mode, pair) => runs[server].find((r) => r.mode === mode && r.pair === pair);
    const middle = (server, mode, key, digits) =>
      round(median(runs[server].filter((r) => r.mode === mode).map((r) => r[key])), digits);

    // The control first: its ratios say how far two identical servers drift apart here.
    const controlCpu = pairs.map((p) => of(CONTROL, 'a', p).cpuUsPerRequest / of(CONTROL, 'b', p).cpuUsPerRequest);
    const controlRps = pairs.map((p) => of(CONTROL, 'b', p).rps / of(CONTROL, 'a', p).rps);
    const control = {
      runs: runs[CONTROL],
      a: {
        rps: middle(CONTROL, 'a', 'rps', 0),
        p99: middle(CONTROL, 'a', 'p99', 2),
        cpuUs: middle(CONTROL, 'a', 'cpuUsPerRequest', 1),
      },
      b: {
        rps: middle(CONTROL, 'b', 'rps', 0),
        p99: middle(CONTROL, 'b', 'p99', 2),
        cpuUs: middle(CONTROL, 'b', 'cpuUsPerRequest', 1),
      },
      cpuRatio: ratioStats(controlCpu),
      throughputRatio: ratioStats(controlRps),
      cpuBand: noiseBand(controlCpu),
      throughputBand: noiseBand(controlRps),
      errors: runs[CONTROL].reduce((n, r) => n + r.errors, 0),
    };

    const results = {};
    for (const framework of FRAMEWORKS) {
      // app.listen CPU per request ÷ baton CPU per request: the throughput ratio of a CPU-bound server.
      const cpuRatio = ratioStats(
        pairs.map((p) => of(framework, 'plain', p).cpuUsPerRequest / of(framework, 'baton', p).cpuUsPerRequest),
      );
      const throughputRatio = ratioStats(
        pairs.map((p) => of(framework, 'baton', p).rps / of(framework, 'plain', p).rps),
      );
      results[framework] = {
        runs: runs[framework],
        plain: { rps: middle(framework, 'plain', 'rps', 0), p99: middle(framework, 'plain', 'p99', 2) },
        baton: { rps: middle(framework, 'baton', 'rps', 0), p99: middle(framework, 'baton', 'p99', 2) },
        throughputRatio,
        throughputVerdict: verdict(throughputRatio.median, control.throughputBand),
        cpuPerRequest: {
          plainUs: middle(framework, 'plain', 'cpuUsPerRequest', 1),
          batonUs: middle(framework, 'baton', 'cpuUsPerRequest', 1),
        },
        cpuRatio,
        cpuVerdict: verdict(cpuRatio.median, control.cpuBand),
        p99Ratio: ratioStats(
          pairs.map((p) => of(framework, 'baton', p).p99 / Math.max(of(framework, 'plain', p).p99, 0.01)),
        ),
        errors: runs[framework].reduce((n, r) => n + r.errors, 0),
      };
    }
    return { options, results, control };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
