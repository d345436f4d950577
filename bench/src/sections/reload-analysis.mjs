// Turns one strategy's run (every request, every reload, the process samples) into its numbers. The
// failure accounting and statistics are @baton/core's (`@baton/core/verify`), shared with `baton verify`.
import {
  AFTER_RELOAD_MS,
  digestFailures,
  FAILURE_SLICE_MS,
  lastSignalBefore,
  latencyStats,
  round,
  roundSummary,
  summary,
} from '@baton/core/verify';
import { ROUTE_INDEX, ROUTES } from '../load/mix.mjs';

/** "In the 2 s after a reload" */
export { AFTER_RELOAD_MS };
/**
 * Latency is measured on the 2 ms requests of these clients. autocannon is left out: it ignores
 * `Connection: close`, writes its next request on a socket the server is closing, and after
 * reconnecting attributes the next response to that lost request, so its latencies after any
 * server-initiated close are inflated by its own rate-limit pause (up to a second).
 */
export const LATENCY_KINDS = ['undici', 'agent', 'idle'];
/** A new process's first moments after it is ready, reported apart (cold code, reconnecting clients). */
const NEW_PROCESS_WARM_MS = 300;
/** Width of one point of the latency-over-time chart. */
export const BUCKET_MS = 250;

export function analyzeRun({ strategy, options, data, reloads, gone, phases, sampler, events, errors }) {
  const signals = reloads.map((r) => r.signalAt);
  const firstSignal = signals[0] ?? phases.loadStop;
  const lastSignal = signals.at(-1) ?? phases.loadStop;
  const workRoute = ROUTE_INDEX.work;
  const ok = data.codes.indexOf('ok');

  const latencyKinds = new Set(LATENCY_KINDS.map((k) => data.kinds.indexOf(k)));
  const steady = [];
  const afterReload = [];
  const byKind = Object.fromEntries(data.kinds.map((k) => [k, { steady: [], afterReload: [] }]));
  const failures = [];
  const buckets = new Map();
  // After-reload latency by who answered: the old process while its successor starts, the old one
  // after the successor is ready, the new one in its first 300 ms, the new one later.
  const phaseOf = (sinceSignal, reloadIndex, pid) => {
    const r = reloads[reloadIndex];
    const readyMs = r.readyAt - r.signalAt;
    if (pid === r.newPid) return sinceSignal < readyMs + NEW_PROCESS_WARM_MS ? 'newFirst300ms' : 'newLater';
    return sinceSignal < readyMs ? 'oldWhileSuccessorStarts' : 'oldAfterSuccessorReady';
  };
  const breakdown = { oldWhileSuccessorStarts: [], oldAfterSuccessorReady: [], newFirst300ms: [], newLater: [] };
  let okSteady = 0;
  let okReloadPhase = 0;
  for (let i = 0; i < data.t.length; i += 1) {
    const t = data.t[i];
    if (t < phases.steadyStart) continue; // warm-up
    const code = data.codes[data.code[i]];
    const s = lastSignalBefore(signals, t);
    const sinceSignal = s >= 0 ? t - signals[s] : undefined;
    const bucket = Math.floor((t - firstSignal) / BUCKET_MS);
    let b = buckets.get(bucket);
    if (!b) buckets.set(bucket, (b = { work: [], failed: 0 }));
    if (data.code[i] !== ok) {
      failures.push({
        kind: data.kinds[data.kind[i]],
        code,
        route: ROUTES[data.route[i]].name,
        sinceSignalMs: sinceSignal === undefined ? undefined : round(sinceSignal, 1),
        reload: s >= 0 ? s + 1 : undefined,
        latencyMs: data.lat[i] < 0 ? undefined : data.lat[i],
      });
      continue;
    }
    if (t < firstSignal) okSteady += 1;
    else if (t <= lastSignal + options.intervalMs) okReloadPhase += 1;
    if (data.route[i] !== workRoute) continue;
    const latency = data.lat[i];
    const kind = byKind[data.kinds[data.kind[i]]];
    const counted = latencyKinds.has(data.kind[i]);
    if (counted) b.work.push(latency);
    if (t < firstSignal) {
      kind.steady.push(latency);
      if (counted) steady.push(latency);
    } else if (sinceSignal !== undefined && sinceSignal < AFTER_RELOAD_MS) {
      kind.afterReload.push(latency);
      if (counted) {
        afterReload.push(latency);
        if (data.pid?.[i]) breakdown[phaseOf(sinceSignal, s, data.pid[i])].push(latency);
      }
    }
  }

  // Failed requests per chart slice from the exact per-10 ms counts (records may have been capped).
  for (const [slice, count] of Object.entries(data.failureSlices ?? {})) {
    const t = Number(slice) * FAILURE_SLICE_MS;
    if (t < phases.steadyStart) continue;
    const bucket = Math.floor((t - firstSignal) / BUCKET_MS);
    let b = buckets.get(bucket);
    if (!b) buckets.set(bucket, (b = { work: [], failed: 0 }));
    b.failed += count;
  }

  const readyMs = reloads.map((r) => r.readyAt - r.signalAt);
  // Where a reload's time goes: signal → the new process runs its first line, → it is ready.
  const starts = new Map(events.filter((e) => e.ev === 'start').map((e) => [e.pid, e.t]));
  const perReload = reloads.map((r, i) => {
    const startAt = starts.get(r.newPid);
    return {
      t: round((r.signalAt - firstSignal) / 1000, 3),
      newPid: r.newPid,
      readyMs: round(r.readyAt - r.signalAt),
      goneMs: gone[i] === undefined ? undefined : round(gone[i] - r.signalAt),
      signalToStartMs: startAt === undefined ? undefined : round(startAt - r.signalAt),
      startToReadyMs: startAt === undefined ? undefined : round(r.readyAt - startAt),
      commandMs: r.commandMs === undefined ? undefined : round(r.commandMs),
    };
  });
  const goneMs = reloads
    .map((r, i) => (gone[i] === undefined ? undefined : gone[i] - r.signalAt))
    .filter((v) => v !== undefined);
  const steadyLatency = latencyStats(steady);
  const afterLatency = latencyStats(afterReload);
  const steadySeconds = (firstSignal - phases.steadyStart) / 1000;
  const reloadSeconds = (lastSignal + options.intervalMs - firstSignal) / 1000;
  const totalRequests = Object.values(data.requests).reduce((a, b) => a + b, 0);
  const failedTotal = Object.values(data.failures).reduce(
    (sum, codes) => sum + Object.values(codes).reduce((a, b) => a + b, 0),
    0,
  );

  const byRole = {};
  for (const p of sampler.processes) (byRole[p.role] ??= []).push(p.maxRss);

  return {
    name: strategy.name,
    label: strategy.label,
    reloadsAsked: options.reloads,
    reloadsDone: reloads.length,
    reloadPhaseSeconds: round(reloadSeconds, 1),
    requests: { total: totalRequests, byKind: data.requests },
    failed: { total: failedTotal, byKind: data.failures },
    throughput: { steady: round(okSteady / steadySeconds, 0), reloadPhase: round(okReloadPhase / reloadSeconds, 0) },
    latency: {
      steady: steadyLatency,
      afterReload: afterLatency,
      p99Ratio: round(afterLatency.p99 / steadyLatency.p99, 2),
      afterReloadByServer: Object.fromEntries(Object.entries(breakdown).map(([k, v]) => [k, latencyStats(v)])),
      byKind: Object.fromEntries(
        Object.entries(byKind).map(([k, v]) => [
          k,
          { steady: latencyStats(v.steady), afterReload: latencyStats(v.afterReload) },
        ]),
      ),
    },
    reloadLatency: {
      signalToReady: roundSummary(summary(readyMs)),
      signalToPredecessorGone: roundSummary(summary(goneMs)),
      predecessorsNotGone: reloads.length - goneMs.length,
      signalToNewProcessStart: roundSummary(
        summary(perReload.map((r) => r.signalToStartMs).filter((v) => v !== undefined)),
      ),
      newProcessStartToReady: roundSummary(
        summary(perReload.map((r) => r.startToReadyMs).filter((v) => v !== undefined)),
      ),
      commandMs: reloads.some((r) => r.commandMs !== undefined)
        ? roundSummary(summary(reloads.map((r) => r.commandMs)))
        : undefined,
    },
    processes: {
      peak: sampler.peakProcesses,
      peakTotalRssMB: round(sampler.peakTotalRss / 2 ** 20, 1),
      maxRssMBByRole: Object.fromEntries(
        Object.entries(byRole).map(([role, values]) => [role, roundSummary(summary(values.map((v) => v / 2 ** 20)))]),
      ),
      seen: sampler.processes.length,
    },
    reloads: perReload,
    failures: failures.slice(0, 2000),
    failureDigest: digestFailures(failures),
    failureDigestOf: data.failuresCapped ? `the first ${failures.length} failed requests kept` : 'every failed request',
    timeline: [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([bucket, b]) => {
        const s = summary(b.work);
        return {
          t: round((bucket * BUCKET_MS) / 1000, 2),
          p50: round(s.p50, 2),
          p99: round(s.p99, 2),
          n: s.n,
          failed: b.failed,
        };
      }),
    reloadMarks: signals.map((t) => round((t - firstSignal) / 1000, 3)),
    processTimeline: sampler.timeline.map((p) => ({
      t: round((p.t - firstSignal) / 1000, 2),
      count: p.count,
      rssMB: round(p.rss / 2 ** 20, 1),
    })),
    batonDrains: events
      .filter((e) => e.ev === 'baton:drained' || e.ev === 'baton:handed-over')
      .map(({ ev, pid, t, durationMs, forced, readyMs, sockets, activeRequests }) => ({
        ev,
        pid,
        t: round((t - firstSignal) / 1000, 3),
        durationMs,
        forced,
        readyMs,
        sockets,
        activeRequests,
      })),
    errors,
  };
}
