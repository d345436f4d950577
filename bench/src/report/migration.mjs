// The report's section 6: connection migration on against off (sections/migration.mjs), side by side.
import { AFTER_RELOAD_SHORT_MS } from '../sections/migration-analysis.mjs';
import { LATENCY_KINDS } from '../sections/reload-analysis.mjs';
import { fmt, KIND_TITLES, ms, table } from './format.mjs';

/** The target of issue 13 for the time the old generation keeps client connections. */
export const EMPTIED_TARGET_MS = 100;

const done = (r) => r.requests !== undefined;

function failedCell(r) {
  const parts = Object.entries(r.failed.byKind)
    .map(([kind, codes]) => {
      const detail = Object.entries(codes)
        .sort((a, b) => b[1] - a[1])
        .map(([code, n]) => `${code} ${fmt(n, 0)}`)
        .join(', ');
      return `${KIND_TITLES[kind] ?? kind}: ${detail}`;
    })
    .filter(Boolean);
  return `**${fmt(r.failed.total, 0)}**${parts.length ? ` (${parts.join('; ')})` : ''} / ${fmt(r.requests.total, 0)}`;
}

function connectionsCell(c) {
  if (!c) return '–';
  const kinds = Object.entries(c.byKind)
    .filter(([, k]) => k.duringReloads > 0)
    .map(([kind, k]) => `${KIND_TITLES[kind] ?? kind} ${fmt(k.perReload, 2)}`)
    .join(', ');
  return `**${fmt(c.perReload, 2)}**${kinds ? ` (${kinds})` : ''}; ${fmt(c.duringReloads, 0)} in all, ${fmt(c.beforeFirstReload, 0)} before the first reload`;
}

function emptiedCell(e) {
  if (!e) return '–';
  const s = e.readyToEmptiedMs;
  const of = e.emptiedLogged === e.reloads ? '' : ` (logged for ${e.emptiedLogged} of ${e.reloads} reloads)`;
  return s.n > 0 ? `**${ms(s.p50)}** / ${ms(s.max)}${of}` : `never logged in the rollback window (0 of ${e.reloads})`;
}

const summaryCell = (s) => (s && s.n > 0 ? `${ms(s.p50)} / ${ms(s.max)}` : '–');
const latencyCell = (l) => `${ms(l.p50)} / ${ms(l.p99)}`;

/** Direct runs: load generator → app. */
export function migrationTable(runs) {
  return table(
    [
      'variant',
      'reloads',
      'failed / requests',
      'new client connections per reload (by kind); in all, before the first reload',
      'steady-state connections opened per s',
      'ready → old generation holds no client connection ms (p50 / max)',
      'last response of the old generation → no client connection ms (p50 / max)',
      'connections moved / closed by old generations',
      'signal → old generation gone ms (p50 / max)',
      `2 ms requests p50 / p99 ms: overall → ≤ ${AFTER_RELOAD_SHORT_MS / 1000} s after a reload (ratio of p99s)`,
      'peak RSS of all service processes MB (peak processes)',
    ],
    runs
      .filter(done)
      .map((r) => [
        r.label,
        r.reloadsDone === r.reloadsAsked ? `${r.reloadsDone}` : `${r.reloadsDone} of ${r.reloadsAsked}`,
        failedCell(r),
        connectionsCell(r.connections),
        fmt(r.connections?.steadyChurnPerS, 2),
        emptiedCell(r.emptying),
        summaryCell(r.emptying?.lastResponseToEmptiedMs),
        `${fmt(r.emptying?.moved, 0)} / ${fmt(r.emptying?.closed, 0)}${r.emptying?.forced ? ` (${fmt(r.emptying.forced, 0)} forced)` : ''}`,
        summaryCell(r.reloadLatency?.signalToPredecessorGone),
        `${latencyCell(r.shortLatency.overall)} → ${latencyCell(r.shortLatency.afterReload)} (${fmt(r.shortLatency.p99Ratio, 2)}×)`,
        `${fmt(r.processes.peakTotalRssMB, 0)} (${r.processes.peak})`,
      ]),
  );
}

/** Runs behind nginx: load generator → nginx → app. */
export function nginxTable(runs) {
  return table(
    [
      'variant',
      'reloads',
      'failed / requests',
      'upstream connections nginx opened per reload (distinct peer ports the app saw); in all, before the first reload',
      'upstream connections opened per s, steady state',
      'client → nginx connections per reload',
      'ready → old generation holds no client connection ms (p50 / max)',
      'connections moved / closed by old generations',
      `2 ms requests p50 / p99 ms: overall → ≤ ${AFTER_RELOAD_SHORT_MS / 1000} s after a reload`,
      'peak RSS MB, nginx included (peak processes)',
    ],
    runs
      .filter(done)
      .map((r) => [
        r.label,
        r.reloadsDone === r.reloadsAsked ? `${r.reloadsDone}` : `${r.reloadsDone} of ${r.reloadsAsked}`,
        failedCell(r),
        r.upstream
          ? `**${fmt(r.upstream.perReload, 2)}**; ${fmt(r.upstream.duringReloads, 0)} in all, ${fmt(r.upstream.beforeFirstReload, 0)} before the first reload`
          : '–',
        fmt(r.upstream?.steadyChurnPerS, 2),
        fmt(r.connections?.perReload, 2),
        emptiedCell(r.emptying),
        `${fmt(r.emptying?.moved, 0)} / ${fmt(r.emptying?.closed, 0)}`,
        `${latencyCell(r.shortLatency.overall)} → ${latencyCell(r.shortLatency.afterReload)}`,
        `${fmt(r.processes.peakTotalRssMB, 0)} (${r.processes.peak})`,
      ]),
  );
}

/** Every failed request of the runs with migration on, one by one, placed relative to its reload. */
function failureDetailsTable(runs) {
  const rows = runs
    .filter((r) => done(r) && r.migrate && r.failureDetails?.length)
    .flatMap((r) =>
      r.failureDetails.map((f) => [
        r.label,
        KIND_TITLES[f.kind] ?? f.kind,
        f.code,
        f.route,
        f.reload ?? 'before the first',
        ms(f.startedAfterSignalMs),
        ms(f.endedAfterSignalMs),
        ms(f.readyAfterSignalMs),
      ]),
    );
  if (rows.length === 0) return undefined;
  return table(
    [
      'variant',
      'client',
      'code',
      'request',
      'reload',
      'started ms after its signal',
      'ended ms after its signal',
      'successor ready ms after the signal',
    ],
    rows,
  );
}

/** Targets of issue 13, for the report's targets table. */
export function migrationTargets(results) {
  const out = [];
  for (const r of (results.migration?.runs ?? []).filter((x) => done(x) && x.migrate)) {
    out.push({
      target: `${r.label}: 0 failed requests (migration on by default)`,
      value: `${fmt(r.failed.total, 0)} failed of ${fmt(r.requests.total, 0)} over ${r.reloadsDone} reloads`,
      met: r.failed.total === 0 && r.reloadsDone === r.reloadsAsked,
    });
    if (r.behindNginx) continue;
    const s = r.emptying?.readyToEmptiedMs;
    out.push({
      target: `${r.label}: ready → old generation holds no client connection, p50 < ${EMPTIED_TARGET_MS} ms`,
      value: s?.n ? `p50 ${ms(s.p50)} ms (max ${ms(s.max)}, n=${s.n})` : 'never logged',
      met: s?.n > 0 && s.p50 < EMPTIED_TARGET_MS,
    });
  }
  return out;
}

/** Section 6 of the report. */
export function migrationSection(results) {
  const m = results.migration;
  const o = results.options.migration;
  const runs = m.runs ?? [];
  const direct = runs.filter((r) => !r.behindNginx);
  const behind = runs.filter((r) => r.behindNginx);
  const lines = ['## 6. Connection migration on against off', ''];
  lines.push(
    `baton in place (\`kill -HUP\`), the app and the four clients of section 1, ${o.reloads} reloads, one every ${o.intervalMs / 1000} s, after ${o.warmupMs / 1000} s warm-up and ${o.steadyMs / 1000} s steady state, then ${o.tailMs / 1000} s more; \`BATON_MIGRATE_CONNECTIONS=1\` against \`=0\`, nothing else changed, the two back to back in this run. Settle time (rollback window): ${results.meta.batonSettle ?? '?'}.`,
    '',
    `- New client connections: every TCP connection the load process opened (Node's \`net.client.socket\` diagnostics channel; the kind from the http.Agent or the call stack), from the first reload signal until the load stopped, divided by the reloads. The steady-state rate (after the warm-up, before the first reload) is what the clients open anyway.`,
    `- Ready → no client connection: from the old generation's \`handed-over\` event (its successor is ready) to its \`emptied\` event (no client connection left: moved or closed), both on its own clock; \`emptied\` is only logged in the rollback window. "Last response → no client connection": from the end of the last response the old generation sent (clients' clock, \`x-pid\`) to \`emptied\`: in-flight requests (the 300 ms and 2.5 s ones, uploads, streams) keep a generation's connection until they end whatever happens to the idle ones.`,
    `- "2 ms requests only": the same pair with every undici and http.Agent request the 2 ms one. With the usual mix a 2.5 s request is nearly always in flight at a reload, and it keeps its connection on the old generation until it ends; without the long requests, the time the old generation keeps client connections is the migration's own.`,
    `- Latency: 2 ms requests of ${LATENCY_KINDS.join(', ')} that succeeded; overall = steady state and reload phase; "after a reload" = started within ${AFTER_RELOAD_SHORT_MS / 1000} s after a reload signal. RSS: VmRSS of every service process, summed, sampled every 100 ms (standing-by old generations included).`,
    '',
  );
  if (direct.length) lines.push(migrationTable(direct), '');
  for (const s of m.skipped ?? []) lines.push(`- Not run: **${s.label}**: skipped: ${s.reason}.`, '');
  if (behind.length) {
    lines.push(
      '### Behind nginx',
      '',
      'load generator → nginx (1 worker, `upstream { keepalive 32; }`, `proxy_http_version 1.1`, `proxy_set_header Connection ""`) → the app. The same clients, now talking to nginx; the app\'s clients are nginx\'s upstream connections. Upstream connections opened = distinct remote ports the app saw on requests, over every generation (a moved connection keeps its port), first seen after the first reload signal.',
      '',
      nginxTable(behind),
      '',
    );
  }
  const details = failureDetailsTable(runs);
  if (details)
    lines.push(
      '### Failed requests with migration on, one by one',
      '',
      `(At most 50 per run.) "started/ended after its signal": when the request began and when it failed, from the latest reload signal before it started.`,
      '',
      details,
      '',
    );
  const errs = runs.filter((r) => r.errors?.length);
  if (errs.length)
    lines.push(
      'Errors of the harness:',
      '',
      ...errs.flatMap((r) => r.errors.map((e) => `- ${r.label}: \`${e.split('\n')[0]}\``)),
      '',
    );
  return lines;
}

/** For the console: the section's tables with their titles. */
export function migrationTables(migration) {
  const runs = migration.runs ?? [];
  const out = ['Connection migration on against off', migrationTable(runs.filter((r) => !r.behindNginx))];
  const behind = runs.filter((r) => r.behindNginx);
  if (behind.length) out.push('', 'Connection migration behind nginx', nginxTable(behind));
  for (const s of migration.skipped ?? []) out.push('', `${s.label}: skipped: ${s.reason}`);
  return out;
}
