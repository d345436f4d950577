// The report: every number the README may quote, with how it was measured.
import { MIX } from '../load/mix.mjs';
import { fmt, KIND_TITLES, ms, table } from './format.mjs';
import { migrationSection, migrationTargets } from './migration.mjs';
import { AFTER_RELOAD_MS, LATENCY_KINDS } from '../sections/reload-analysis.mjs';

const KINDS = Object.keys(KIND_TITLES);

const signed = (v) => (v < 0 ? `−${ms(-v)}` : `+${ms(v)}`);
const pct = (share) => `${fmt(share * 100, 1)}%`;

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
    [
      'strategy',
      'steady p50 / p99 ms',
      `≤ ${AFTER_RELOAD_MS / 1000} s after a reload p50 / p99 ms`,
      'p99 ratio',
      'signal → successor ready ms (p50 / max)',
      'signal → predecessor gone ms (p50 / max)',
      'req/s steady → while reloading',
      'peak processes',
      'max RSS per process MB',
      'peak total RSS MB',
    ],
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
    [
      'strategy',
      'old process, successor starting',
      'old process, successor ready',
      'new process, first 300 ms',
      'new process, later',
    ],
    runs
      .filter((r) => r.latency?.afterReloadByServer)
      .map((r) => {
        const b = r.latency.afterReloadByServer;
        return [
          r.label,
          cell(b.oldWhileSuccessorStarts),
          cell(b.oldAfterSuccessorReady),
          cell(b.newFirst300ms),
          cell(b.newLater),
        ];
      }),
  );
}

const SERVER_TITLES = { express: 'Express 5', koa: 'Koa 3', http: 'bare http.createServer' };
const VERDICT_TEXT = {
  'within noise': 'within noise',
  'costs more': '**costs more** than the noise',
  'costs less': 'costs less than the noise',
};

const ratioCell = (r, bold = true) =>
  r ? `${bold ? '**' : ''}${fmt(r.median, 3)}${bold ? '**' : ''} [${fmt(r.min, 3)} – ${fmt(r.max, 3)}]` : '–';
const bandCell = (b) => (b ? `[${fmt(b.low, 3)} – ${fmt(b.high, 3)}]` : '–');

export function overheadTable(overhead) {
  const control = overhead.control;
  const rows = Object.entries(overhead.results).map(([fw, r]) => [
    SERVER_TITLES[fw] ?? fw,
    `${fmt(r.cpuPerRequest.plainUs, 1)} / ${fmt(r.cpuPerRequest.batonUs, 1)}`,
    ratioCell(r.cpuRatio),
    bandCell(control?.cpuBand),
    r.cpuVerdict ? VERDICT_TEXT[r.cpuVerdict] : '– (no control in this run)',
    `${fmt(r.plain.rps, 0)} / ${fmt(r.baton.rps, 0)}`,
    `${ratioCell(r.throughputRatio, false)}${r.throughputRatio.sd !== undefined ? ` (sd ${fmt(r.throughputRatio.sd, 3)})` : ''}`,
    bandCell(control?.throughputBand),
    `${fmt(r.plain.p99, 2)} / ${fmt(r.baton.p99, 2)}`,
    `${fmt(r.p99Ratio.median, 2)} [${fmt(r.p99Ratio.min, 2)} – ${fmt(r.p99Ratio.max, 2)}]`,
  ]);
  if (control) {
    rows.push([
      '_A/A control: bare http.createServer, a / b_',
      `${fmt(control.a.cpuUs, 1)} / ${fmt(control.b.cpuUs, 1)}`,
      `${ratioCell(control.cpuRatio, false)} (a ÷ b)`,
      bandCell(control.cpuBand),
      '(the noise)',
      `${fmt(control.a.rps, 0)} / ${fmt(control.b.rps, 0)}`,
      `${ratioCell(control.throughputRatio, false)} (b ÷ a)`,
      bandCell(control.throughputBand),
      `${fmt(control.a.p99, 2)} / ${fmt(control.b.p99, 2)}`,
      '–',
    ]);
  }
  return table(
    [
      'server',
      'server CPU µs/request app.listen / baton (median)',
      'CPU ratio app.listen ÷ baton: median [min – max]',
      'A/A control spread (CPU)',
      'verdict (CPU)',
      'req/s app.listen / baton (median)',
      'throughput ratio baton ÷ app.listen: median [min – max]',
      'A/A control spread (throughput)',
      'p99 ms app.listen / baton',
      'p99 ratio: median [min – max]',
    ],
    rows,
  );
}

function codesByKindCell(byKind) {
  const parts = Object.entries(byKind ?? {})
    .map(([kind, codes]) => {
      const detail = Object.entries(codes)
        .sort((a, b) => b[1] - a[1])
        .map(([code, n]) => `${code} ${fmt(n, 0)}`)
        .join(', ');
      return `${KIND_TITLES[kind] ?? kind}: ${detail}`;
    })
    .filter(Boolean);
  return parts.length ? ` (${parts.join('; ')})` : '';
}

/** "yes: 200 from v1 (pid 123)" or "**no**: ECONNREFUSED", for the probe 10 s after the new build died. */
export function upCell(d) {
  const p = d.probe;
  if (!p) return '–';
  const when =
    p.afterDeathMs !== undefined
      ? `${fmt(p.afterDeathMs / 1000, 1)} s after the new build died`
      : `${fmt(p.afterSignalMs / 1000, 1)} s after the reload (the new build never died)`;
  const dying = p.build !== undefined && p.build.endsWith('-dies') ? ', a process of the dying build (restarted?)' : '';
  if (p.answered && p.status === 200) return `yes, ${when}: 200 from ${p.build ?? '?'} (pid ${p.pid ?? '?'}${dying})`;
  if (p.answered) return `**no**, ${when}: HTTP ${p.status} from ${p.build ?? '?'}`;
  return `**no**, ${when}: ${p.error}`;
}

function toolCell(d) {
  const t = d.tool ?? {};
  if (t.error) return `(could not ask: ${t.error})`;
  if (d.name === 'baton') {
    const log = d.rolledBack.logLines.length
      ? `log: \`${d.rolledBack.logLines[0].replace(/`/g, "'")}\``
      : 'no `rolled back` in the log';
    const pidFile = t.pidFile !== undefined ? `; pid file names ${t.pidFileBuild ?? '?'} (pid ${t.pidFile})` : '';
    return `${log}${pidFile}`;
  }
  if (d.name === 'baton-run')
    return `\`baton status\`: ${t.health ?? '?'} (phase ${t.phase ?? '?'}), ${t.ready ?? '?'} of ${t.wanted ?? '?'} workers ready, ${t.restarts ?? 0} restarts`;
  if (d.name === 'pm2')
    return `\`pm2 jlist\`: ${(t.processes ?? []).map((p) => `${p.status}, ${p.restarts} restarts`).join('; ') || 'no process'}`;
  return '–';
}

export function dyingTable(list, laterMs = 10_000) {
  const trials = new Set(list.map((d) => d.trial)).size > 1 || list.some((d) => d.trial > 1);
  return table(
    [
      'strategy',
      'reload, as its tool reported it',
      'the new build',
      'failed requests / requests',
      'of them after the new build died',
      'answered after it died, by build',
      `up ${fmt(laterMs / 1000, 1)} s later? (one plain GET, new connection)`,
      'what the tool said then',
    ],
    list
      .filter((d) => d.requests)
      .map((d) => {
        const r = d.reload;
        const exits = Object.entries(d.newBuild.exitCodes.reduce((m, c) => ({ ...m, [c]: (m[c] ?? 0) + 1 }), {}))
          .map(([code, n]) => `${code} ×${n}`)
          .join(', ');
        const answered = Object.entries(d.answeredAfterDeath)
          .sort((a, b) => b[1] - a[1])
          .map(([build, n]) => `${build} ${fmt(n, 0)}`)
          .join(', ');
        const last = d.lastSecondBeforeProbe;
        return [
          `${d.label}${d.workers ? `, --workers ${d.workers}` : ''}${trials ? ` (trial ${d.trial})` : ''}`,
          `${r.tool}${r.exitCode !== undefined ? ` exited ${r.exitCode}` : r.failed ? ' failed' : ''} after ${ms(r.ms)} ms: ${r.said.replace(/`/g, "'")}`,
          d.newBuild.diedAfterSignalMs === undefined
            ? 'never died (?)'
            : `first process died ${ms(d.newBuild.diedAfterSignalMs)} ms after the reload began; ${d.newBuild.processesStarted} process(es) of it started by the probe${exits ? ` (exit codes ${exits})` : ''}`,
          `**${fmt(d.failed.total, 0)}**${codesByKindCell(d.failed.byKind)} / ${fmt(d.requests.total, 0)}`,
          `${fmt(d.failed.afterDeath, 0)}${codesByKindCell(d.failed.afterDeathByKind)}`,
          `${answered || 'nothing'}; last 1 s before the probe: ${fmt(last.ok, 0)} answered, ${fmt(last.failed, 0)} failed`,
          upCell(d),
          toolCell(d),
        ];
      }),
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
      row(
        'baton successor, as baton itself times it: spawn → ready message',
        startup.batonSuccessor.spawnToReadyAsBatonSees,
      ),
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
  for (const baton of results.reload?.filter((r) => (r.name === 'baton' || r.name === 'baton-run') && r.requests) ??
    []) {
    const who = baton.name === 'baton' ? 'baton' : 'baton run';
    const perKind = KINDS.map(
      (k) =>
        `${KIND_TITLES[k]} ${fmt(
          Object.values(baton.failed.byKind[k] ?? {}).reduce((a, b) => a + b, 0),
          0,
        )}`,
    ).join(', ');
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
    const band = results.overhead.control?.cpuBand;
    for (const [fw, r] of Object.entries(results.overhead.results)) {
      const throughput = `throughput ratio ${fmt(r.throughputRatio.median, 3)} [${fmt(r.throughputRatio.min, 3)} – ${fmt(r.throughputRatio.max, 3)}]`;
      if (band) {
        out.push({
          target: `overhead of listen(app), ${fw}: server CPU per request within the A/A control's noise, or ≥ 0.98 × app.listen's`,
          value: `CPU ratio ${fmt(r.cpuRatio.median, 3)} [${fmt(r.cpuRatio.min, 3)} – ${fmt(r.cpuRatio.max, 3)}], A/A control ${bandCell(band)}: ${r.cpuVerdict}; ${throughput}`,
          met: r.cpuVerdict === 'within noise' || r.cpuRatio.median >= 0.98,
        });
      } else {
        // A results.json from before the control pair: judged by throughput, as it was then.
        out.push({
          target: `throughput of listen(app) ≥ 0.98 × app.listen: ${fw}`,
          value: `measured ${throughput}; from server CPU per request ${fmt(r.cpuRatio.median, 3)} [${fmt(r.cpuRatio.min, 3)} – ${fmt(r.cpuRatio.max, 3)}]`,
          met: r.throughputRatio.median >= 0.98,
        });
      }
    }
  }
  out.push(...migrationTargets(results));
  for (const d of results.dying ?? []) {
    if (d.name !== 'baton' && d.name !== 'baton-run') continue;
    if (!d.probe) continue;
    out.push({
      target: `${d.name === 'baton' ? 'baton' : 'baton run'}: a build that dies ${fmt((results.options.dying?.diesAfterMs ?? 1000) / 1000, 1)} s after ready leaves the service up ${fmt((results.options.dying?.laterMs ?? 10_000) / 1000, 1)} s later (trial ${d.trial})`,
      value: `${upCell(d)}; ${fmt(d.failed.total, 0)} failed requests`,
      met: d.upLater,
    });
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
      `- **${r.label}: p99 after a reload is ${fmt(r.latency.p99Ratio, 2)}× steady** (${ms(r.latency.afterReload.p99)} vs ${ms(r.latency.steady.p99)} ms), and no request failed. Split by who answered: ${parts.join('; ')}. The successor's start-up (${ms(r.reloadLatency.newProcessStartToReady?.p50)} ms p50 from its first line to ready, mostly loading the app) competes for the same cores as the serving process and the load generator, and with a reload every ${fmt(reloadEvery(r, options(results).intervalMs), 2)} s the serving process is never older than that interval. Compare the other strategies in the same table, and a run with reloads further apart (\`--interval 5000\`).`,
    );
  }
  const o = results.overhead?.results;
  if (o) {
    const judgedByCpu = results.overhead.control !== undefined;
    const missed = Object.entries(o).filter(([, r]) =>
      judgedByCpu ? r.cpuVerdict !== 'within noise' && r.cpuRatio.median < 0.98 : r.throughputRatio.median < 0.98,
    );
    if (missed.length) {
      const extra = Object.entries(o)
        .map(
          ([fw, r]) =>
            `${fw} ${signed(r.cpuPerRequest.batonUs - r.cpuPerRequest.plainUs)} µs (${fmt(r.cpuPerRequest.plainUs, 1)} → ${fmt(r.cpuPerRequest.batonUs, 1)})`,
        )
        .join(', ');
      notes.push(
        `- **Overhead: ${judgedByCpu ? "server CPU per request beyond the A/A control's noise and below 0.98 of app.listen's" : 'throughput below 0.98 of app.listen'}** for ${missed.map(([fw]) => fw).join(', ')}. Server CPU per request with baton, against app.listen: ${extra}. A roughly constant cost per request weighs most on the cheapest handlers.`,
      );
    }
  }
  return notes;
}

const options = (results) => results.options;

/** Seconds between a run's reload signals (a reload that waits for the previous one spaces them out). */
function reloadEvery(run, intervalMs) {
  const t = (run.reloads ?? []).map((r) => r.t);
  return t.length > 1 ? (t.at(-1) - t[0]) / (t.length - 1) : intervalMs / 1000;
}

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
    parts.push(
      `**${r.label}** (top groups; "since signal" = when the failed request started, after the latest reload signal${of})\n`,
    );
    parts.push(
      table(
        ['client', 'code', 'request', 'count', 'since signal ms: p50 [min – max]'],
        r.failureDigest
          .slice(0, 12)
          .map((g) => [
            KIND_TITLES[g.kind] ?? g.kind,
            g.code,
            g.route,
            fmt(g.count, 0),
            `${ms(g.sinceSignalMs.p50)} [${ms(g.sinceSignalMs.min)} – ${ms(g.sinceSignalMs.max)}]`,
          ]),
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
  lines.push(
    `Generated ${meta.finishedAt} by \`${meta.command}\` (${meta.preset} preset, ${Math.round(meta.durationS)} s).`,
    '',
  );
  lines.push(
    `Machine: ${meta.cpus} × ${meta.cpuModel}, ${meta.memGB} GB, ${meta.platform}; Node ${meta.node}. Load average before ${meta.loadBefore.join(' / ')}, after ${meta.loadAfter.join(' / ')} (1/5/15 min; other work on the machine shows here).`,
    '',
    `baton: ${meta.batonSource}. Alternatives: ${Object.entries(meta.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
  );
  lines.push(
    `Reproduce this report: \`${meta.command}\` from the repository root (\`pnpm bench\` builds the packages, then runs \`node src/run.mjs\` in \`bench/\`: a relative \`--out\` is relative to \`bench/\`).`,
    '',
    'Rerun: `pnpm bench` (quick, written to `bench/results/quick/`), `pnpm bench --full` (100 reloads per strategy; the committed report), `pnpm bench --help` for every knob.',
    '',
  );

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
    lines.push(
      '### Failed requests',
      '',
      'Per client kind: failed (by error code) / requests made. Every failure counts: connection refused, reset, a cut-off body, a non-200 status, a timeout (15 s).',
      '',
    );
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
    if (pm2)
      lines.push(
        `\`pm2 reload\` itself took ${ms(pm2.reloadLatency.commandMs.p50)} ms (p50) per reload; the next reload waits for it, so pm2 reloaded once every ${fmt(reloadEvery(pm2, options.intervalMs), 2)} s.`,
        '',
      );
    const run = runs.find((r) => r.name === 'baton-run' && r.reloadLatency?.commandMs);
    if (run) {
      lines.push(
        `A \`baton run\` reload took ${ms(run.reloadLatency.commandMs.p50)} ms (p50) from the request to its outcome (the new worker ready, then the settle time${meta.batonSettle ? `, ${meta.batonSettle}` : ''}, then the old worker retired); the next reload waits for it, so \`baton run\` reloaded once every ${fmt(reloadEvery(run, options.intervalMs), 2)} s.`,
        '',
      );
    }
    const errs = runs.filter((r) => r.errors?.length);
    if (errs.length)
      lines.push(
        '### Errors of the harness',
        '',
        ...errs.flatMap((r) => r.errors.map((e) => `- ${r.label}: \`${e.split('\n')[0]}\``)),
        '',
      );
    lines.push('### Where the failures came from', '', forensics(runs), '');
  }

  if (results.overhead) {
    const o = results.overhead.options;
    lines.push('## 2. Overhead of listen(app, ...)', '');
    lines.push(
      results.overhead.control
        ? `Hello-world handler, autocannon with ${o.connections} connections from the bench process; each run starts a fresh server, warms up ${o.warmupS} s, measures ${o.durationS} s. ${o.pairs} pairs per server, interleaved (every server's first pair, then every second pair, …), each pair's order alternating (A/B, then B/A). Overhead is judged by the server's own CPU time per request (utime + stime from /proc/<pid>/stat, read before and after the measured interval): its ratio app.listen ÷ baton is the throughput ratio a CPU-bound server would see. The A/A control, two identical bare \`http.createServer\` servers measured the same way in the same run, shows what no difference looks like here: its spread is the min–max of its pairs' ratios and their reciprocals (an A/A pair has no direction). "Within noise" = baton's median ratio (of an even number of pairs: the mean of the middle two) lies inside that spread. Throughput swings with whatever else runs on a shared machine; it is shown with its own control spread. autocannon reports latency in whole milliseconds.`
        : `Hello-world handler, autocannon with ${o.connections} connections from the bench process; each run starts a fresh server, warms up ${o.warmupS} s, measures ${o.durationS} s; runs alternate app.listen / baton ${o.pairs} times (A/B/A/B). Ratio = baton ÷ app.listen of each adjacent pair; autocannon reports latency in whole milliseconds. (This run predates the A/A control pair.)`,
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

  if (results.dying?.length || results.dyingSkipped?.length) {
    const o = results.options.dying;
    const l = o.load;
    lines.push('## 5. A build that dies 1 s after it is ready', '');
    lines.push(
      `The same app and the same kinds of client as section 1 (${l.undici.connections} undici connections, ${l.agent.maxSockets} http.Agent sockets, autocannon ${l.autocannon.rate} req/s, ${l.idle.clients} idle clients). Build v1 serves for ${o.warmupMs / 1000} s + ${o.steadyMs / 1000} s under load; then the deploy puts build \`v2-dies\` on disk (a file every process reads when it starts; \`src/apps/build.cjs\`), a build that exits with code 1 ${o.diesAfterMs / 1000} s after it is ready, and the operator's reload runs once: \`kill -HUP\` for baton in place, \`baton reload\` for \`baton run --workers ${o.workers}\`, \`pm2 reload\` for pm2 in cluster mode. The load goes on until ${o.laterMs / 1000} s after the first process of the new build died; then one plain GET on a new connection says whether the service is up, and the \`x-build\` header which build answered. ${o.trials} trial(s) per strategy. baton's settle time (rollback window in place, per rolling step under \`baton run\`): ${meta.batonSettle ?? '?'}.`,
      '',
      'Requests in flight on a process when it dies are lost whatever the tool; what differs is what serves afterwards. "answered after it died, by build": successful requests that started after the death, by the `x-pid` of the response (autocannon does not say who answered: "not told").',
      '',
    );
    if (results.dyingSkipped?.length)
      lines.push(...results.dyingSkipped.map((s) => `- Not run: **${s.label}**: ${s.reason}.`), '');
    if (results.dying?.length) lines.push(dyingTable(results.dying, o.laterMs), '');
    const errs = (results.dying ?? []).filter((d) => d.errors?.length);
    if (errs.length)
      lines.push(
        'Errors of the harness:',
        '',
        ...errs.flatMap((d) => d.errors.map((e) => `- ${d.label} (trial ${d.trial}): \`${e.split('\n')[0]}\``)),
        '',
      );
    const run = (results.dying ?? []).find((d) => d.name === 'baton-run' && d.reload?.output);
    if (run)
      lines.push(
        `What \`baton reload\` printed (${run.label}, trial ${run.trial}):`,
        '',
        '```',
        run.reload.output.trim(),
        '```',
        '',
      );
  }

  if (results.migration) lines.push(...migrationSection(results), '');

  lines.push('## How each strategy reloads', '');
  lines.push(
    '- **baton in place**: `listen(app, port)`; the bench reads the pid file and sends `kill -HUP`. The successor inherits the listening socket, says ready, the old generation stops accepting, hands its idle keep-alive connections to the successor (connection migration, on by default) and drains the rest politely.',
    '- **baton supervised**: the same app under `baton run -- node app.js`; the bench asks the supervisor (one stable pid) to reload over its control socket, as `baton reload` does, and waits for the outcome: the supervisor starts a new worker on the socket it holds, waits until it is ready and has stayed up the settle time, then retires the old worker, which hands its idle connections to the new worker through the supervisor and drains the rest the same way. A reload that arrives meanwhile would be ignored, so the next one starts when this one is over (as with pm2).',
    "- **naive**: the seed's first script: `kill -9 $(cat app.pid)`, then `node app.js`.",
    '- **http-terminator 3.2**: `app.listen`, and on SIGTERM `createHttpTerminator({ server }).terminate()` (its defaults: 1 s grace) then exit; the bench starts the next process once the old one has exited.',
    "- **pm2 reload (cluster mode)**: `pm2 start app.js -i 1`, then `pm2 reload`; the app closes its server on SIGINT (pm2's documented graceful stop); pm2's defaults (kill_timeout 1.6 s). pm2 runs with its own PM2_HOME and is stopped with `pm2 kill`.",
    "- **Node's cluster**: a primary forks a new worker on SIGHUP and, once it listens, `disconnect()`s the old one (killed after 10 s if still there).",
    '',
    'Raw data (every request, every process event, server logs) is written to `bench/results/raw/` (not committed).',
    '',
  );
  return lines.join('\n');
}
