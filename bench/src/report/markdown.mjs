// The report: every number the README may quote, with how it was measured.
import { MIX } from '../load/mix.mjs';
import { AFTER_RELOAD_MS, LATENCY_KINDS } from '../sections/reload-analysis.mjs';

const KIND_TITLES = { undici: 'undici Pool', agent: 'http.Agent keep-alive', autocannon: 'autocannon', idle: 'idle keep-alive clients' };
const KINDS = Object.keys(KIND_TITLES);

const fmt = (v, digits = 1) => (v === undefined || v === null || Number.isNaN(v) ? '–' : Number(v).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 }));
const signed = (v) => (v < 0 ? `−${ms(-v)}` : `+${ms(v)}`);
const pct = (share) => `${fmt(share * 100, 1)}%`;
const ms = (v) => (v === undefined || v === null ? '–' : `${fmt(v, v < 10 ? 2 : v < 100 ? 1 : 0)}`);

function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function failureCell(codes) {
  if (!codes) return '0';
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  const detail = Object.entries(codes)
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${code} ${fmt(n, 0)}`)
    .join(', ');
  return `**${fmt(total, 0)}** (${detail})`;
}

export function failuresTable(runs) {
  return table(
    ['strategy', 'reloads', 'requests', 'failed', ...KINDS.map((k) => `failed: ${KIND_TITLES[k]}`)],
    runs
      .filter((r) => r.requests)
      .map((r) => [
        r.label,
        r.reloadsDone === r.reloadsAsked ? `${r.reloadsDone}` : `${r.reloadsDone} of ${r.reloadsAsked}`,
        fmt(r.requests.total, 0),
        r.failed.total === 0 ? '**0**' : `**${fmt(r.failed.total, 0)}**`,
        ...KINDS.map((k) => `${failureCell(r.failed.byKind[k])} / ${fmt(r.requests.byKind[k], 0)}`),
      ]),
  );
}

export function latencyTable(runs) {
  return table(
    ['strategy', 'steady p50 / p99 ms', `≤ ${AFTER_RELOAD_MS / 1000} s after a reload p50 / p99 ms`, 'p99 ratio', 'signal → successor ready ms (p50 / max)', 'signal → predecessor gone ms (p50 / max)', 'req/s steady → while reloading', 'peak processes', 'max RSS per process MB', 'peak total RSS MB'],
    runs
      .filter((r) => r.requests)
      .map((r) => {
        const rl = r.reloadLatency;
        const rss = Object.entries(r.processes.maxRssMBByRole)
          .map(([role, s]) => `${role} ${fmt(s.max, 0)}${s.n > 1 ? ` (p50 ${fmt(s.p50, 0)}, n=${s.n})` : ''}`)
          .join('; ');
        const notGone = rl.predecessorsNotGone > 0 ? ` (${rl.predecessorsNotGone} never left)` : '';
        return [
          r.label,
          `${ms(r.latency.steady.p50)} / ${ms(r.latency.steady.p99)}`,
          `${ms(r.latency.afterReload.p50)} / ${ms(r.latency.afterReload.p99)}`,
          `${fmt(r.latency.p99Ratio, 2)}×`,
          `${ms(rl.signalToReady.p50)} / ${ms(rl.signalToReady.max)}`,
          `${ms(rl.signalToPredecessorGone.p50)} / ${ms(rl.signalToPredecessorGone.max)}${notGone}`,
          `${fmt(r.throughput.steady, 0)} → ${fmt(r.throughput.reloadPhase, 0)}`,
          `${r.processes.peak}`,
          rss,
          fmt(r.processes.peakTotalRssMB, 0),
        ];
      }),
  );
}

export function byServerTable(runs) {
  const cell = (s) => (s && s.n > 0 ? `${ms(s.p50)} / ${ms(s.p99)} (n=${fmt(s.n, 0)})` : '–');
  return table(
    ['strategy', 'old process, successor starting', 'old process, successor ready', 'new process, first 300 ms', 'new process, later'],
    runs
      .filter((r) => r.latency?.afterReloadByServer)
      .map((r) => {
        const b = r.latency.afterReloadByServer;
        return [r.label, cell(b.oldWhileSuccessorStarts), cell(b.oldAfterSuccessorReady), cell(b.newFirst300ms), cell(b.newLater)];
      }),
  );
}

export function overheadTable(overhead) {
  return table(
    ['server', 'app.listen req/s (median)', 'baton listen req/s (median)', 'throughput ratio: median [min – max] (sd)', 'server CPU µs/request app.listen / baton', 'CPU-bound throughput ratio: median [min – max]', 'p99 ms app.listen / baton', 'p99 ratio: median [min – max]'],
    Object.entries(overhead.results).map(([fw, r]) => [
      { express: 'Express 5', koa: 'Koa 3', http: 'bare http.createServer' }[fw] ?? fw,
      fmt(r.plain.rps, 0),
      fmt(r.baton.rps, 0),
      `**${fmt(r.throughputRatio.median, 3)}** [${fmt(r.throughputRatio.min, 3)} – ${fmt(r.throughputRatio.max, 3)}] (${fmt(r.throughputRatio.sd, 3)})`,
      `${fmt(r.cpuPerRequest.plainUs, 1)} / ${fmt(r.cpuPerRequest.batonUs, 1)}`,
      `**${fmt(r.cpuRatio.median, 3)}** [${fmt(r.cpuRatio.min, 3)} – ${fmt(r.cpuRatio.max, 3)}]`,
      `${fmt(r.plain.p99, 2)} / ${fmt(r.baton.p99, 2)}`,
      `${fmt(r.p99Ratio.median, 2)} [${fmt(r.p99Ratio.min, 2)} – ${fmt(r.p99Ratio.max, 2)}]`,
    ]),
  );
}

export function startupTable(startup) {
  const row = (what, s) => [what, ms(s.p50), ms(s.p95), ms(s.min), ms(s.max), `${s.n}`];
  return table(
    ['ms', 'p50', 'p95', 'min', 'max', 'n'],
    [
      row('bare `node app.js` (app.listen): spawn → listening', startup.bare.spawnToReady),
      row('baton first generation: spawn → ready', startup.batonFirst.spawnToReady),
      row('**baton successor: SIGHUP → successor ready**', startup.batonSuccessor.signalToReady),
      row('baton successor, as baton itself times it: spawn → ready message', startup.batonSuccessor.spawnToReadyAsBatonSees),
      row('baton successor: SIGHUP → predecessor gone (idle service)', startup.batonSuccessor.signalToPredecessorGone),
      row('node boot (spawn → first line of the app), bare', startup.bare.nodeBoot),
      row('node boot (SIGHUP → first line of the successor)', startup.batonSuccessor.signalToNodeStart),
      row('app start-up, bare (first line → listening)', startup.bare.init),
      row('app start-up, baton successor (first line → ready)', startup.batonSuccessor.init),
    ],
  );
}

/** Each target of the issue, its number, and whether it was met. */
export function targets(results) {
  const out = [];
  for (const baton of results.reload?.filter((r) => (r.name === 'baton' || r.name === 'baton-run') && r.requests) ?? []) {
    const who = baton.name === 'baton' ? 'baton' : 'baton run';
    const perKind = KINDS.map((k) => `${KIND_TITLES[k]} ${fmt(Object.values(baton.failed.byKind[k] ?? {}).reduce((a, b) => a + b, 0), 0)}`).join(', ');
    out.push({
      target: `${who}: 0 failed requests in every client kind over ${results.options.reloads} reloads`,
      value: `${fmt(baton.failed.total, 0)} failed of ${fmt(baton.requests.total, 0)} over ${baton.reloadsDone} reloads (${perKind})`,
      met: baton.failed.total === 0 && baton.reloadsDone === results.options.reloads,
    });
    out.push({
      target: `${who}: p99 in the ${AFTER_RELOAD_MS / 1000} s after a reload ≤ 1.5 × steady p99`,
      value: `${ms(baton.latency.afterReload.p99)} ms vs ${ms(baton.latency.steady.p99)} ms = ${fmt(baton.latency.p99Ratio, 2)}×`,
      met: baton.latency.p99Ratio <= 1.5,
    });
    const naive = results.reload.find((r) => r.name === 'naive' && r.requests);
    if (naive) {
      const a = baton.reloadLatency.signalToReady.p50;
      const b = naive.reloadLatency.signalToReady.p50;
      out.push({
        target: `${who}: reload latency ≤ bare start-up + 50 ms, under the same load (kill -9 + start = bare start-up under load)`,
        value: `SIGHUP → ready p50 ${ms(a)} ms vs kill -9 → new process listening p50 ${ms(b)} ms (${signed(a - b)} ms)`,
        met: a <= b + 50,
      });
    }
  }
  if (results.startup) {
    const s = results.startup;
    out.push({
      target: 'baton: reload latency ≤ bare start-up + 50 ms, idle machine (section 3)',
      value: `successor SIGHUP → ready p50 ${ms(s.batonSuccessor.signalToReady.p50)} ms vs bare spawn → listening p50 ${ms(s.bare.spawnToReady.p50)} ms (${signed(s.handoffCostMs)} ms)`,
      met: s.handoffCostMs <= 50,
    });
  }
  if (results.overhead) {
    for (const [fw, r] of Object.entries(results.overhead.results)) {
      out.push({
        target: `throughput of listen(app) ≥ 0.98 × app.listen: ${fw}`,
        value: `measured ratio ${fmt(r.throughputRatio.median, 3)} [${fmt(r.throughputRatio.min, 3)} – ${fmt(r.throughputRatio.max, 3)}]; from server CPU per request ${fmt(r.cpuRatio.median, 3)} [${fmt(r.cpuRatio.min, 3)} – ${fmt(r.cpuRatio.max, 3)}]`,
        met: r.throughputRatio.median >= 0.98,
      });
    }
  }
  return out;
}

/** Plain sentences on the targets that were missed, from the numbers that explain them. */
export function missedTargetNotes(results) {
  const notes = [];
  for (const r of results.reload?.filter((x) => (x.name === 'baton' || x.name === 'baton-run') && x.latency) ?? []) {
    if (r.latency.p99Ratio <= 1.5) continue;
    const b = r.latency.afterReloadByServer ?? {};
    const part = (s, what) => (s && s.n > 0 ? `${what} p99 ${ms(s.p99)} ms (n=${fmt(s.n, 0)})` : undefined);
    const parts = [
      part(b.oldWhileSuccessorStarts, 'old process while its successor starts'),
      part(b.oldAfterSuccessorReady, 'old process after the successor is ready'),
      part(b.newFirst300ms, 'new process in its first 300 ms'),
      part(b.newLater, 'new process later'),
    ].filter(Boolean);
    notes.push(
      `- **${r.label}: p99 after a reload is ${fmt(r.latency.p99Ratio, 2)}× steady** (${ms(r.latency.afterReload.p99)} vs ${ms(r.latency.steady.p99)} ms), and no request failed. Split by who answered: ${parts.join('; ')}. The successor's start-up (${ms(r.reloadLatency.newProcessStartToReady?.p50)} ms p50 from its first line to ready, mostly loading the app) competes for the same cores as the serving process and the load generator, and with a reload every ${options(results).intervalMs / 1000} s the serving process is never older than that interval. Compare the other strategies in the same table, and a run with reloads further apart (\`--interval 5000\`).`,
    );
  }
  const o = results.overhead?.results;
  if (o) {
    const missed = Object.entries(o).filter(([, r]) => r.throughputRatio.median < 0.98);
    if (missed.length) {
      const extra = Object.entries(o)
        .map(([fw, r]) => `${fw} ${signed(r.cpuPerRequest.batonUs - r.cpuPerRequest.plainUs)} µs (${fmt(r.cpuPerRequest.plainUs, 1)} → ${fmt(r.cpuPerRequest.batonUs, 1)})`)
        .join(', ');
      notes.push(
        `- **Overhead: throughput below 0.98 of app.listen** for ${missed.map(([fw]) => fw).join(', ')}. Server CPU per request with baton, against app.listen: ${extra}. A roughly constant cost per request weighs most on the cheapest handlers.`,
      );
    }
  }
  return notes;
}

const options = (results) => results.options;

export function targetsTable(list) {
  return table(
    ['target', 'measured', 'met?'],
    list.map((t) => [t.target, t.value, t.met ? 'yes' : '**no**']),
  );
}

function forensics(runs) {
  const parts = [];
  for (const r of runs) {
    if (!r.failureDigest || r.failureDigest.length === 0) continue;
    const of = r.failureDigestOf && r.failureDigestOf !== 'every failed request' ? `; from ${r.failureDigestOf}` : '';
    parts.push(`**${r.label}** (top groups; "since signal" = when the failed request started, after the latest reload signal${of})\n`);
    parts.push(
      table(
        ['client', 'code', 'request', 'count', 'since signal ms: p50 [min – max]'],
        r.failureDigest.slice(0, 12).map((g) => [KIND_TITLES[g.kind] ?? g.kind, g.code, g.route, fmt(g.count, 0), `${ms(g.sinceSignalMs.p50)} [${ms(g.sinceSignalMs.min)} – ${ms(g.sinceSignalMs.max)}]`]),
      ),
    );
    parts.push('');
  }
  return parts.length ? parts.join('\n') : '_No strategy lost a request._';
}

export function renderReport(results) {
  const { options, meta } = results;
  const runs = results.reload ?? [];
  const lines = [];
  lines.push('# baton reload-under-load benchmark', '');
  lines.push(`Generated ${meta.finishedAt} by \`${meta.command}\` (${meta.preset} preset, ${Math.round(meta.durationS)} s).`, '');
  lines.push(
    `Machine: ${meta.cpus} × ${meta.cpuModel}, ${meta.memGB} GB, ${meta.platform}; Node ${meta.node}. Load average before ${meta.loadBefore.join(' / ')}, after ${meta.loadAfter.join(' / ')} (1/5/15 min; other work on the machine shows here).`,
    '',
    `baton: ${meta.batonSource}. Alternatives: ${Object.entries(meta.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
  );
  lines.push('Rerun: `pnpm bench` (quick), `pnpm bench --full` (100 reloads per strategy), `pnpm bench --help` for every knob.', '');

  const t = targets(results);
  if (t.length) lines.push('## Targets (reported, not asserted)', '', targetsTable(t), '');
  const notes = missedTargetNotes(results);
  if (notes.length) lines.push('Where a target was missed:', '', ...notes, '');

  if (runs.length) {
    const l = options.load;
    lines.push('## 1. Reload under load', '');
    lines.push(
      `One app for every strategy: Express 5, \`GET /work\` answers after an awaited 2 ms; the pooled clients also send ${pct(MIX.slow300)} \`/slow?ms=300\`, ${pct(MIX.slow2500)} \`/slow?ms=2500\`, ${pct(MIX.upload)} 256 KB uploads and ${pct(MIX.stream)} streamed responses (8 × 8 KB, 10 ms apart).`,
      `Load, the same for every strategy and running all at once from a separate process: an undici Pool (${l.undici.connections} connections, ${l.undici.loops} request loops with ${l.undici.thinkMs} ms pauses); Node's http.Agent with keep-alive (${l.agent.maxSockets} sockets, ${l.agent.loops} loops, ${l.agent.thinkMs} ms pauses); autocannon (${l.autocannon.connections} connections, ${l.autocannon.rate} req/s of \`/work\`); ${l.idle.clients} idle clients, one kept-alive socket each, ${l.idle.minIdleMs / 1000}–${l.idle.maxIdleMs / 1000} s between requests.`,
      `Each strategy: ${options.warmupMs / 1000} s warm-up, ${options.steadyMs / 1000} s steady state, then ${options.reloads} reloads, one every ${options.intervalMs / 1000} s (or as soon as the previous one finished, if it took longer), then ${options.tailMs / 1000} s more.`,
      '',
    );
    const skipped = results.skipped ?? [];
    if (skipped.length) lines.push(...skipped.map((s) => `- Not run: **${s.label}**: ${s.reason}.`), '');
    lines.push('### Failed requests', '', 'Per client kind: failed (by error code) / requests made. Every failure counts: connection refused, reset, a cut-off body, a non-200 status, a timeout (15 s).', '');
    lines.push(failuresTable(runs), '');
    lines.push('### Latency, reload time, processes', '');
    lines.push(
      `Latency: 2 ms requests of ${LATENCY_KINDS.join(', ')} that succeeded; "after a reload" = started within ${AFTER_RELOAD_MS / 1000} s after a reload signal (with one reload a second that is the whole reload phase). autocannon's latencies are left out: it ignores \`Connection: close\`, and after the server closes a socket it times the next response from a request it wrote into the closing socket.`,
      'Reload latency: from the signal (kill -HUP, kill -9, SIGTERM, `pm2 reload` started) to the moment the successor process said it was ready/listening (its own clock), and to the moment the old process was gone. Processes and RSS are sampled every 100 ms.',
      '',
    );
    lines.push(latencyTable(runs), '');
    lines.push(
      `Who answered the 2 ms requests of the ${AFTER_RELOAD_MS / 1000} s after a reload (p50 / p99 ms, from the \`x-pid\` of each response): the old process while its successor is starting (they share 2 cores with the load generator), the old process after the successor is ready, the new process in its first 300 ms, and later.`,
      '',
      byServerTable(runs),
      '',
    );
    const pm2 = runs.find((r) => r.name === 'pm2' && r.reloadLatency?.commandMs);
    if (pm2) lines.push(`\`pm2 reload\` itself took ${ms(pm2.reloadLatency.commandMs.p50)} ms (p50) per reload; the next reload waits for it, so pm2 reloaded once every ${fmt(pm2.reloadPhaseSeconds / Math.max(1, pm2.reloadsDone), 2)} s.`, '');
    const errs = runs.filter((r) => r.errors?.length);
    if (errs.length) lines.push('### Errors of the harness', '', ...errs.flatMap((r) => r.errors.map((e) => `- ${r.label}: \`${e.split('\n')[0]}\``)), '');
    lines.push('### Where the failures came from', '', forensics(runs), '');
  }

  if (results.overhead) {
    const o = results.overhead.options;
    lines.push('## 2. Overhead of listen(app, ...)', '');
    lines.push(
      `Hello-world handler, autocannon with ${o.connections} connections from the bench process; each run starts a fresh server, warms up ${o.warmupS} s, measures ${o.durationS} s; runs alternate app.listen / baton ${o.pairs} times (A/B/A/B). Ratio = baton ÷ app.listen of each adjacent pair; autocannon reports latency in whole milliseconds. Throughput on a shared 2-core machine swings with whatever else runs, so the server's own CPU time per request (from /proc, utime + stime) is reported too: its ratio (app.listen ÷ baton) is the throughput ratio a CPU-bound server would see.`,
      '',
      overheadTable(results.overhead),
      '',
    );
  }

  if (results.startup) {
    const s = results.startup;
    lines.push('## 3. Start-up cost', '');
    lines.push(
      `The bench app (Express 5) with no load, ${s.samples} samples of each, interleaved. A baton successor is spawned by its predecessor and is ready once it listens on the inherited socket and has told its predecessor; a bare process is ready when \`app.listen\` calls back.`,
      '',
      startupTable(s),
      '',
      `Handoff cost (successor p50 − bare p50): **${signed(s.handoffCostMs)} ms**. Loading baton in a first generation (baton first p50 − bare p50): ${signed(s.batonLoadCostMs)} ms.`,
      '',
    );
  }

  if (results.chart) {
    lines.push('## 4. Latency over time', '', `![latency over time, reloads marked](${results.chart})`, '');
    if (results.chartZoom) lines.push(`![the first reloads, closer](${results.chartZoom})`, '');
  }

  lines.push('## How each strategy reloads', '');
  lines.push(
    '- **baton in place**: `listen(app, port)`; the bench reads the pid file and sends `kill -HUP`. The successor inherits the listening socket, says ready, the old generation stops accepting and drains politely.',
    '- **baton supervised**: the same app under `baton run -- node app.js`; `kill -HUP` to the supervisor (one stable pid) starts a new worker on the socket the supervisor holds, waits until it is ready, then retires the old worker, which drains the same way.',
    '- **naive**: the seed\'s first script: `kill -9 $(cat app.pid)`, then `node app.js`.',
    '- **http-terminator 3.2**: `app.listen`, and on SIGTERM `createHttpTerminator({ server }).terminate()` (its defaults: 1 s grace) then exit; the bench starts the next process once the old one has exited.',
    '- **pm2 reload (cluster mode)**: `pm2 start app.js -i 1`, then `pm2 reload`; the app closes its server on SIGINT (pm2\'s documented graceful stop); pm2\'s defaults (kill_timeout 1.6 s). pm2 runs with its own PM2_HOME and is stopped with `pm2 kill`.',
    "- **Node's cluster**: a primary forks a new worker on SIGHUP and, once it listens, `disconnect()`s the old one (killed after 10 s if still there).",
    '',
    'Raw data (every request, every process event, server logs) is written to `bench/results/raw/` (not committed).',
    '',
  );
  return lines.join('\n');
}
