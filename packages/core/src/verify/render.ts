// The report as text: tables a person reads top to bottom, the verdict on the last line.
import type { Reason, VerifyReport } from './report';

const KIND_LABELS: Record<string, string> = {
  undici: 'undici Pool (keep-alive)',
  agent: 'http.Agent (keep-alive)',
  'new-connection': 'new connection each',
  idle: 'idle keep-alive',
};

const n = (value: number): string => value.toLocaleString('en-US');
const ms = (value: number | undefined): string =>
  value === undefined ? '-' : value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;

function table(rows: string[][], alignRight: number[] = []): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, i) =>
        alignRight.includes(i) ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number),
      )
      .join('  ')
      .trimEnd(),
  );
}

/** The last line: OK, or the first reason with its hint. */
export function verdictLine(report: VerifyReport): string {
  if (report.ok) {
    const reloads = `${report.reloads.length} reload${report.reloads.length === 1 ? '' : 's'}`;
    const stop =
      report.stop.exitCode === undefined
        ? 'exited on SIGTERM (code unknown)'
        : `exit ${report.stop.exitCode} on SIGTERM`;
    return `OK: ${n(report.requests.total)} requests over ${reloads}, none failed; every reload succeeded; ${stop}; nothing left behind`;
  }
  const first = report.reasons[0] as Reason;
  return `FAILED: ${first.message}${first.hint ? `. Hint: ${first.hint}` : ''}`;
}

export function renderReport(report: VerifyReport): string[] {
  const lines: string[] = [];
  const mode =
    report.mode === 'supervised' ? `baton run, ${report.workers} worker${report.workers === 1 ? '' : 's'}` : 'in place';
  lines.push(
    `baton verify: ${report.command.join(' ')} (${mode}; reloads by ${report.trigger === 'SIGHUP' ? 'SIGHUP' : 'the control socket'}; ${ms(report.durationMs)})`,
  );
  if (report.target)
    lines.push(`load: ${report.target.address} from ${report.target.from}; GET ${report.paths.join(', ')}`);
  const others = report.listeners.filter((l) => l.address !== report.target?.address);
  if (others.length > 0)
    lines.push(
      `other listeners (not loaded): ${others.map((l) => `${l.key}${l.note ? ` (${l.note})` : ''}`).join(', ')}`,
    );

  if (report.requests.total > 0) {
    lines.push('', 'Requests');
    const rows = [['client', 'requests', 'failed', 'errors']];
    for (const [kind, k] of Object.entries(report.requests.byKind)) {
      const errors = Object.entries(k.byCode)
        .sort((a, b) => b[1] - a[1])
        .map(([code, c]) => `${code} ${n(c)}`)
        .join(', ');
      rows.push([`  ${KIND_LABELS[kind] ?? kind}`, n(k.requests), n(k.failed), errors]);
    }
    rows.push(['  all', n(report.requests.total), n(report.requests.failed), '']);
    lines.push(...table(rows, [1, 2]));
    if (report.failures.length > 0) {
      lines.push('', 'Failed requests by client, error and path (ms after the last reload signal)');
      for (const f of report.failures.slice(0, 10)) {
        const since = f.sinceSignalMs.n
          ? `, ${f.sinceSignalMs.min}-${f.sinceSignalMs.max} ms after a reload`
          : ', before any reload';
        lines.push(`  ${f.count} × ${f.code} (${KIND_LABELS[f.kind] ?? f.kind}, GET ${f.route}${since})`);
      }
    }
    const { steady, afterReload } = report.latency;
    lines.push('', `Latency of ${report.latency.kinds.join(', ')} (ms)`);
    lines.push(
      ...table(
        [
          ['', 'requests', 'p50', 'p99', 'max'],
          [
            '  steady (before the first reload)',
            n(steady.n),
            String(steady.p50 ?? '-'),
            String(steady.p99 ?? '-'),
            String(steady.max ?? '-'),
          ],
          [
            `  within ${report.latency.afterReloadWindowMs / 1000} s after a reload`,
            n(afterReload.n),
            String(afterReload.p50 ?? '-'),
            String(afterReload.p99 ?? '-'),
            String(afterReload.max ?? '-'),
          ],
        ],
        [1, 2, 3, 4],
      ),
    );
  }

  if (report.reloads.length > 0) {
    lines.push('', `Reloads (${report.reloads.length} of ${report.reloadsAsked})`);
    const rows = [['', 'pids', 'signal → ready', 'drained', 'old gone', 'failed requests', '']];
    for (const r of report.reloads) {
      const drained = r.drained.map((d) => (d.forced ? `FORCED ${d.forced}` : ms(d.durationMs))).join(', ') || '-';
      const gone = Object.values(r.goneMs);
      const note = !r.ok ? `FAILED (${r.code}): ${r.message}` : r.rolledBack ? `ROLLED BACK: ${r.rolledBack}` : '';
      rows.push([
        `  ${r.index}`,
        `${r.oldPids.join(',') || '?'} → ${r.newPids.join(',') || '-'}`,
        ms(r.readyMs),
        drained,
        gone.length ? ms(Math.max(...gone)) : '-',
        n(r.failedRequests),
        note,
      ]);
    }
    lines.push(...table(rows, [2, 3, 4, 5]));
    if (
      report.mode === 'in-place' &&
      report.settings.settleMs > 0 &&
      report.reloads.some((r) => r.drained.length > 0)
    ) {
      lines.push(
        `  drained: as baton logged it, from the handover: it includes the ${ms(report.settings.settleMs)} the old generation stands by (settle time) to take its sockets back if the new one dies`,
      );
    }
  }

  lines.push('', 'Warnings baton raised');
  if (report.warnings.length === 0) lines.push('  none');
  for (const w of report.warnings) lines.push(`  ${w.event}${w.count > 1 ? ` (×${w.count})` : ''}: ${w.message}`);

  const left = report.leftBehind;
  lines.push('', 'Left behind');
  if (left.processes.length + left.listeners.length + left.descriptors.length === 0)
    lines.push('  nothing: every process of the app exited, no listener still accepts, no descriptor leaked');
  for (const p of left.processes) lines.push(`  pid ${p.pid} (${p.what})${p.command ? `: ${p.command}` : ''}; killed`);
  for (const l of [...left.listeners, ...left.descriptors]) lines.push(`  ${l}`);

  const stop = report.stop;
  lines.push('', 'Stop');
  if (stop.pid === undefined) lines.push(`  ${stop.note ?? 'not stopped'}`);
  else if (!stop.exited) lines.push(`  SIGTERM to pid ${stop.pid}: ${stop.note ?? 'still running'}`);
  else {
    const how = stop.signal
      ? `killed by ${stop.signal}`
      : stop.exitCode === undefined
        ? 'exited (code unknown)'
        : `exit code ${stop.exitCode}`;
    lines.push(
      `  SIGTERM to pid ${stop.pid}: ${how}${stop.ms !== undefined ? ` after ${ms(stop.ms)}` : ''}${stop.note && stop.exitCode === undefined ? ` (${stop.note})` : ''}`,
    );
  }

  if (report.appOutput?.length) {
    lines.push('', "The app's last lines");
    for (const l of report.appOutput.slice(-15)) lines.push(`  ${l}`);
  }
  if (report.reasons.length > 1) {
    lines.push('', 'Reasons');
    for (const r of report.reasons) lines.push(`  ${r.message}${r.hint ? `\n    hint: ${r.hint}` : ''}`);
  }
  lines.push('', verdictLine(report));
  return lines;
}
